#include "core/push.hpp"

#include "core/google.hpp"
#include "core/json_text.hpp"

#include <random>

namespace gcal::core {

namespace {

// random_hex draws n random hex digits from the system's entropy source
// (std::random_device reads the kernel's CSPRNG on Linux).
std::string random_hex(std::size_t n)
{
    static const char digits[] = "0123456789abcdef";
    std::random_device rd;
    std::string out;
    out.reserve(n);
    while (out.size() < n) {
        uint32_t r = rd();
        for (int i = 0; i < 8 && out.size() < n; i++, r >>= 4)
            out.push_back(digits[r & 15]);
    }
    return out;
}

}  // namespace

std::string new_channel_id() { return "gcalsync-" + random_hex(32); }

std::string new_channel_token() { return random_hex(64); }

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
