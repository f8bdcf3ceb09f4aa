#include "core/url.hpp"

#include <algorithm>
#include <cctype>

namespace gcal::core {

namespace {

std::string lower(std::string_view s)
{
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// parse_ipv4 accepts exactly four decimal octets, the only IPv4 form we
// recognise as loopback (no "127.1" shorthands, which resolvers disagree on).
bool parse_ipv4(std::string_view s, int octets[4])
{
    int n = 0;
    std::size_t i = 0;
    while (n < 4) {
        if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i])))
            return false;
        int v = 0, digits = 0;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
            v = v * 10 + (s[i] - '0');
            if (++digits > 3 || v > 255)
                return false;
            i++;
        }
        octets[n++] = v;
        if (n < 4) {
            if (i >= s.size() || s[i] != '.')
                return false;
            i++;
        }
    }
    return i == s.size();
}

}  // namespace

bool is_loopback_host(std::string_view host)
{
    std::string h = lower(host);
    if (h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1")
        return true;
    int o[4];
    return parse_ipv4(h, o) && o[0] == 127;
}

std::optional<EndpointUrl> parse_endpoint_url(std::string_view url, UrlError *why)
{
    auto fail = [why](std::string message, std::string hint) -> std::optional<EndpointUrl> {
        if (why)
            *why = UrlError{std::move(message), std::move(hint)};
        return std::nullopt;
    };
    const std::string_view hint_form = "Use a URL such as \"https://host/path\".";

    auto sep = url.find("://");
    if (sep == std::string_view::npos)
        return fail("URL has no scheme", std::string(hint_form));
    EndpointUrl out;
    out.scheme = lower(url.substr(0, sep));
    if (out.scheme != "http" && out.scheme != "https")
        return fail("URL scheme \"" + out.scheme + "\" is not supported",
                    "Only https (and http to a loopback host) can be used.");
    for (unsigned char c : url)
        if (c <= 0x20 || c >= 0x7F)
            return fail("URL contains spaces, control or non-ASCII characters",
                        "Percent-encode such characters.");
    std::string_view rest = url.substr(sep + 3);
    if (rest.find_first_of("?#") != std::string_view::npos)
        return fail("URL must not have a query or fragment",
                    "gcalsync appends paths and parameters to this URL itself.");
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    out.path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
    if (authority.find('@') != std::string_view::npos)
        return fail("URL must not contain credentials",
                    "Remove the \"user:password@\" part; credentials would end up in logs.");
    std::string_view host = authority, port;
    if (!authority.empty() && authority[0] == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos)
            return fail("URL has an unterminated IPv6 address", std::string(hint_form));
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':')
                return fail("URL has characters after its IPv6 address", std::string(hint_form));
            port = after.substr(1);
        }
    } else {
        auto colon = authority.find(':');
        if (colon != std::string_view::npos) {
            host = authority.substr(0, colon);
            port = authority.substr(colon + 1);
        }
    }
    if (host.empty())
        return fail("URL has no host", std::string(hint_form));
    if (!port.empty() || authority.find(':') != std::string_view::npos) {
        if (port.empty() || port.size() > 5 ||
            !std::all_of(port.begin(), port.end(),
                         [](unsigned char c) { return std::isdigit(c); }))
            return fail("URL has an invalid port", std::string(hint_form));
        out.port = std::stoi(std::string(port));
        if (out.port < 1 || out.port > 65535)
            return fail("URL has an invalid port", "A port is between 1 and 65535.");
    }
    out.host = std::string(host);
    out.loopback = is_loopback_host(out.host);
    return out;
}

std::optional<UrlError> check_endpoint_url(std::string_view url, bool allow_empty)
{
    if (url.empty()) {
        if (allow_empty)
            return std::nullopt;
        return UrlError{"URL must not be empty", "Use a URL such as \"https://host/path\"."};
    }
    UrlError why;
    auto parsed = parse_endpoint_url(url, &why);
    if (!parsed)
        return why;
    if (parsed->scheme == "http" && !parsed->loopback)
        return UrlError{"plain http is allowed only to a loopback host, not to \"" +
                            parsed->host + "\"",
                        "Use https:// for any other host; tokens must not cross a network in clear."};
    return std::nullopt;
}

}  // namespace gcal::core
