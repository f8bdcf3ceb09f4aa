// fuzz_gunzip.cpp — gunzip (the helper thread's decoder of gzip bodies) on
// arbitrary bytes: never more than the cap, and a failure says whether the cap
// was the reason.
#include "core/http.hpp"

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    constexpr size_t kCap = 1 << 20;
    bool too_large = true;
    auto out = gcal::core::gunzip(fuzz::as_text(data, size), kCap, &too_large);
    if (out)
        fuzz::require(out->size() <= kCap && !too_large, "decoded bytes stay under the cap");
    return 0;
}
