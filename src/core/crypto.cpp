#include "core/crypto.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <memory>
#include <stdexcept>

namespace gcal::core {

namespace {

constexpr unsigned char kVersion = 1;
constexpr std::size_t kNonce = 12, kTag = 16, kHeader = 1 + 8 + kNonce;

struct CtxFree {
    void operator()(EVP_CIPHER_CTX *c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

Ctx new_ctx()
{
    Ctx c(EVP_CIPHER_CTX_new());
    if (!c)
        throw std::bad_alloc();
    return c;
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

}  // namespace

std::string hex(const unsigned char *p, std::size_t n)
{
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * n);
    for (std::size_t i = 0; i < n; i++) {
        out.push_back(digits[p[i] >> 4]);
        out.push_back(digits[p[i] & 15]);
    }
    return out;
}

KeyId key_id_of(const KeyBytes &key)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(key.data(), key.size(), digest);
    KeyId id;
    std::copy(digest, digest + id.size(), id.begin());
    return id;
}

std::optional<Keyring> Keyring::parse(std::string_view text, std::string *error)
{
    Keyring ring;
    int line_no = 0;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        line_no++;
        if (line.empty() || line.front() == '#')
            continue;
        SecretKey k;
        bool ok = line.size() == 64;
        for (std::size_t i = 0; ok && i < 32; i++) {
            int hi = hex_value(line[2 * i]), lo = hex_value(line[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            if (ok)
                k.bytes[i] = static_cast<unsigned char>(hi << 4 | lo);
        }
        if (!ok) {
            if (error)
                *error = "line " + std::to_string(line_no) + " is not a key of 64 hexadecimal digits";
            return std::nullopt;
        }
        k.id = key_id_of(k.bytes);
        ring.keys_.push_back(k);
    }
    if (ring.keys_.empty()) {
        if (error)
            *error = "the key file holds no key";
        return std::nullopt;
    }
    return ring;
}

const SecretKey *Keyring::find(const KeyId &id) const
{
    for (const auto &k : keys_)
        if (k.id == id)
            return &k;
    return nullptr;
}

std::string new_key_line()
{
    KeyBytes k;
    if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1)
        throw std::runtime_error("could not draw random bytes for a key");
    return hex(k.data(), k.size());
}

std::string seal(const SecretKey &key, std::string_view plaintext, std::string_view aad)
{
    std::string out(kHeader + plaintext.size() + kTag, '\0');
    auto *p = reinterpret_cast<unsigned char *>(out.data());
    p[0] = kVersion;
    std::copy(key.id.begin(), key.id.end(), p + 1);
    unsigned char *nonce = p + 9;
    if (RAND_bytes(nonce, kNonce) != 1)
        throw std::runtime_error("could not draw a random nonce");
    Ctx ctx = new_ctx();
    int len = 0;
    if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.bytes.data(), nonce) != 1 ||
        EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char *>(aad.data()),
                          static_cast<int>(aad.size())) != 1 ||
        EVP_EncryptUpdate(ctx.get(), p + kHeader, &len, reinterpret_cast<const unsigned char *>(plaintext.data()),
                          static_cast<int>(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), p + kHeader + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, p + kHeader + plaintext.size()) != 1)
        throw std::runtime_error("AES-256-GCM encryption failed");
    return out;
}

std::optional<KeyId> sealed_key_id(std::string_view sealed)
{
    if (sealed.size() < kHeader + kTag || static_cast<unsigned char>(sealed[0]) != kVersion)
        return std::nullopt;
    KeyId id;
    std::copy(sealed.begin() + 1, sealed.begin() + 9, id.begin());
    return id;
}

std::optional<std::string> open(const Keyring &keys, std::string_view sealed, std::string_view aad,
                                std::string *error)
{
    auto fail = [error](const char *why) -> std::optional<std::string> {
        if (error)
            *error = why;
        return std::nullopt;
    };
    auto id = sealed_key_id(sealed);
    if (!id)
        return fail("the stored secret is not in gcalsync's sealed format");
    const SecretKey *key = keys.find(*id);
    if (!key)
        return fail("the stored secret was sealed with a key that is not in the key file");
    const auto *p = reinterpret_cast<const unsigned char *>(sealed.data());
    std::size_t n = sealed.size() - kHeader - kTag;
    std::string out(n, '\0');
    Ctx ctx = new_ctx();
    int len = 0;
    unsigned char tag[kTag];
    std::copy(p + kHeader + n, p + kHeader + n + kTag, tag);
    bool ok = EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key->bytes.data(), p + 9) == 1 &&
              EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char *>(aad.data()),
                                static_cast<int>(aad.size())) == 1 &&
              EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char *>(out.data()), &len, p + kHeader,
                                static_cast<int>(n)) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag) == 1 &&
              EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char *>(out.data()) + len, &len) == 1;
    if (!ok) {
        OPENSSL_cleanse(out.data(), out.size());
        return fail("the stored secret does not authenticate (tampered, or moved from another row)");
    }
    return out;
}

std::string refresh_token_aad(std::string_view owner)
{
    return std::string("gcalsync refresh token", 23) + std::string(owner);
}

std::string channel_stop_aad(std::string_view channel_id)
{
    return std::string("gcalsync channel stop", 22) + std::string(channel_id);
}

std::string client_secret_aad(std::string_view client_id)
{
    return std::string("gcalsync client secret", 23) + std::string(client_id);
}

}  // namespace gcal::core
