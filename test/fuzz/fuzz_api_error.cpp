// fuzz_api_error.cpp — parse_api_error; the first byte picks the HTTP status,
// the rest is the body.
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    long status = fuzz::status_from_byte(data[0]);
    auto e = gcal::core::parse_api_error(status, fuzz::as_text(data + 1, size - 1));
    fuzz::require(e.status == status, "status kept");
    fuzz::require(!e.message.empty(), "message is never empty");
    fuzz::check_log_text(e.message, 200);
    fuzz::check_log_text(e.reason, 100);
    fuzz::require(e.full_sync_required == (status == 410), "every 410 and only 410 resyncs");
    fuzz::require(e.not_found == (status == 404), "not_found iff 404");
    fuzz::require(e.unauthorized == (status == 401), "unauthorized iff 401");
    fuzz::require(!e.rate_limited || status == 429 || status == 403, "rate limits are 403/429");
    fuzz::require(e.retryable == (e.rate_limited || (status >= 500 && status <= 599) || status == 408),
                  "retryable as documented");
    fuzz::require(!e.push_not_supported || status == 400, "push_not_supported only on 400");
    return 0;
}
