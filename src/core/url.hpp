// url.hpp — which endpoint URLs gcalsync will talk to.
//
// Tokens travel to these URLs, so plain http is only allowed where nothing can
// listen in: loopback hosts (the bundled emulator, tests). Everything else must
// be https, and the HTTP layer keeps certificate verification on for it.
#pragma once
#include "core/pure.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace gcal::core {

// EndpointUrl is a parsed absolute http(s) URL without credentials, query or fragment.
struct EndpointUrl {
    std::string scheme;  // "http" or "https", lower case
    std::string host;    // as written, IPv6 without brackets
    int port = 0;        // 0 when absent
    std::string path;    // "" or starting with '/'
    bool loopback = false;
};

// UrlError explains a refused URL: message for errmsg/GUC_check_errdetail, hint
// for the fix.
struct UrlError {
    std::string message;
    std::string hint;
};

// parse_endpoint_url parses `url` or says why it cannot be used.
std::optional<EndpointUrl> parse_endpoint_url(std::string_view url, UrlError *why);

// check_endpoint_url validates a URL setting: https anywhere, http only to a
// loopback host. An empty string is accepted when allow_empty (optional
// settings such as the webhook URL).
std::optional<UrlError> check_endpoint_url(std::string_view url, bool allow_empty);

// is_loopback_host is true for localhost, 127.0.0.0/8 and ::1.
bool is_loopback_host(std::string_view host);

}  // namespace gcal::core
