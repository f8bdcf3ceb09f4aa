// fuzz_rfc3339.cpp — parse_rfc3339 and parse_date on arbitrary text, and
// format_rfc3339_utc on arbitrary instants (the first 8 bytes as an int64).
#include "fuzz_check.hpp"

#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    using namespace gcal::core;
    std::string_view text = fuzz::as_text(data, size);
    fuzz::check_instant(parse_rfc3339(text));
    auto day = parse_date(text);
    fuzz::check_date(day);
    if (day)
        fuzz::require(text.size() == 10, "a date is exactly YYYY-MM-DD");
    if (size >= 8) {
        int64_t t;
        std::memcpy(&t, data, sizeof t);
        std::string s = format_rfc3339_utc(t);
        fuzz::require(!s.empty() && s.back() == 'Z', "formatted instant ends in Z");
        if (t >= -62135596800LL * 1000000 && t <= 253402300799LL * 1000000 + 999999)
            fuzz::require(parse_rfc3339(s) == t, "formatted instant parses back");
    }
    return 0;
}
