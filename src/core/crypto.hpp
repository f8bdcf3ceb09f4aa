// crypto.hpp — secrets at rest: AES-256-GCM (OpenSSL libcrypto) with keys
// from a key file outside the database.
//
// A sealed secret is  0x01 | key id (8) | nonce (12) | ciphertext | tag (16).
// The key id (first 8 bytes of SHA-256 of the key) says which key of the key
// file opens it, so a key file can hold the current key and older ones
// during a rotation. The associated data binds a ciphertext to its place
// (e.g. the owner it belongs to): moved to another owner's row, it no longer
// opens.
#pragma once
#include "core/pure.hpp"

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gcal::core {

using KeyBytes = std::array<unsigned char, 32>;
using KeyId = std::array<unsigned char, 8>;

struct SecretKey {
    KeyBytes bytes{};
    KeyId id{};
};

// Keyring is the parsed key file: one key per line as 64 hex digits; the
// first line is the current key (used to seal), the others only open.
// Blank lines and lines starting with '#' are ignored.
class Keyring {
public:
    static std::optional<Keyring> parse(std::string_view text, std::string *error);
    const SecretKey &current() const { return keys_.front(); }
    const SecretKey *find(const KeyId &id) const;
    const std::vector<SecretKey> &keys() const { return keys_; }

private:
    std::vector<SecretKey> keys_;
};

// key_id_of derives a key's id.
KeyId key_id_of(const KeyBytes &key);
std::string hex(const unsigned char *p, std::size_t n);

// new_key_line makes a fresh random key as a key-file line (64 hex digits).
std::string new_key_line();

// seal encrypts plaintext under the keyring's current key.
std::string seal(const SecretKey &key, std::string_view plaintext, std::string_view aad);
// open decrypts a sealed secret; nullopt with *error saying why (unknown key,
// tampered or moved ciphertext, malformed) — never any part of the secret.
std::optional<std::string> open(const Keyring &keys, std::string_view sealed, std::string_view aad,
                                std::string *error);
// sealed_key_id reads which key sealed a secret (nullopt if malformed).
std::optional<KeyId> sealed_key_id(std::string_view sealed);

// Associated data for each kind of secret.
std::string refresh_token_aad(std::string_view owner);
std::string channel_stop_aad(std::string_view channel_id);
std::string client_secret_aad(std::string_view client_id);

}  // namespace gcal::core
