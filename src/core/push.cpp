#include "core/push.hpp"

#include "core/crypto.hpp"
#include "core/google.hpp"
#include "core/json_text.hpp"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <stdexcept>

namespace gcal::core {

namespace {

// random_hex draws n random hex digits (n even) from OpenSSL's CSPRNG, the
// one that makes the keys of the key file (core/crypto.cpp).
std::string random_hex(std::size_t n)
{
    unsigned char bytes[64];
    if (n % 2 != 0 || n / 2 > sizeof bytes || RAND_bytes(bytes, static_cast<int>(n / 2)) != 1)
        throw std::runtime_error("could not draw random bytes for a watch channel");
    return hex(bytes, n / 2);
}

}  // namespace

std::string new_channel_id() { return "gcalsync-" + random_hex(32); }

std::string new_channel_token() { return random_hex(64); }

std::string channel_token_hash(std::string_view token)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char *>(token.data()), token.size(), digest);
    return hex(digest, sizeof digest);
}

std::string calendar_list_watch_url(std::string_view base)
{
    return std::string(base) + "/users/me/calendarList/watch";
}

std::string events_watch_url(std::string_view base, std::string_view calendar_id)
{
    return std::string(base) + "/calendars/" + percent_encode(calendar_id) + "/events/watch";
}

std::string channels_stop_url(std::string_view base) { return std::string(base) + "/channels/stop"; }

std::string watch_request_body(std::string_view channel_id, std::string_view address, std::string_view token)
{
    std::string out = "{\"id\":";
    append_json_string(out, channel_id);
    out += ",\"type\":\"web_hook\",\"address\":";
    append_json_string(out, address);
    out += ",\"token\":";
    append_json_string(out, token);
    out += "}";
    return out;
}

std::string stop_request_body(std::string_view channel_id, std::string_view resource_id)
{
    std::string out = "{\"id\":";
    append_json_string(out, channel_id);
    out += ",\"resourceId\":";
    append_json_string(out, resource_id);
    out += "}";
    return out;
}

bool needs_renewal(Micros expires_at, Micros now, Micros poll_interval)
{
    return expires_at - now < 2 * poll_interval;
}

bool tokens_equal(std::string_view a, std::string_view b)
{
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    std::size_t n = std::max(a.size(), b.size());
    for (std::size_t i = 0; i < n; i++) {
        unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned char>(x ^ y);
    }
    return diff == 0;
}

}  // namespace gcal::core
