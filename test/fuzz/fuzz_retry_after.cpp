// fuzz_retry_after.cpp — parse_retry_after on arbitrary header values.
#include "fuzz_check.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    // A fixed "now" plus the extremes, so date arithmetic is exercised at both ends.
    for (int64_t now : {int64_t(1445412000), int64_t(0), int64_t(253402300799), INT64_MIN, INT64_MAX}) {
        auto wait = gcal::core::parse_retry_after(fuzz::as_text(data, size), now);
        if (wait)
            fuzz::require(*wait >= 0 && *wait <= 86400, "wait is within [0, 1 day]");
    }
    return 0;
}
