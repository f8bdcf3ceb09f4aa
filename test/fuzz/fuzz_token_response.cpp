// fuzz_token_response.cpp — parse_token_response; the first byte picks the
// HTTP status, the rest is the body.
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    using gcal::core::TokenOutcome;
    if (size == 0)
        return 0;
    long status = fuzz::status_from_byte(data[0]);
    auto r = gcal::core::parse_token_response(status, fuzz::as_text(data + 1, size - 1));
    fuzz::require(r.expires_in >= 0, "expires_in >= 0");
    if (r.outcome == TokenOutcome::Granted) {
        fuzz::require(status >= 200 && status < 300, "granted only on 2xx");
        fuzz::require(!r.access_token.empty(), "granted token is not empty");
        for (unsigned char c : r.access_token)
            fuzz::require(c > 0x20 && c < 0x7F, "granted token is header-safe");
    } else {
        fuzz::require(r.access_token.empty(), "no token unless granted");
        fuzz::require(!r.description.empty(), "a failure says why");
    }
    if (status < 200 || status >= 300) {
        fuzz::check_log_text(r.description, 200);
        fuzz::check_log_text(r.error, 100);
    }
    return 0;
}
