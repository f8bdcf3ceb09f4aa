// fuzz_calendar.cpp — parse_calendar on arbitrary bodies.
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string error;
    auto cal = gcal::core::parse_calendar(fuzz::as_text(data, size), &error);
    if (!cal) {
        fuzz::require(!error.empty(), "a failure says why");
        return 0;
    }
    fuzz::require(!cal->calendar_id.empty(), "calendar_id is not empty");
    fuzz::check_object_json(cal->data);
    return 0;
}
