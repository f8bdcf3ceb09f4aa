// fuzz_calendar_list_page.cpp — parse_calendar_list_page on arbitrary bodies.
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string error;
    auto page = gcal::core::parse_calendar_list_page(fuzz::as_text(data, size), &error);
    if (!page) {
        fuzz::require(!error.empty(), "a failure says why");
        return 0;
    }
    for (const auto &c : page->items) {
        fuzz::require(!c.calendar_id.empty(), "calendar_id is not empty");
        fuzz::check_object_json(c.data);
    }
    fuzz::check_same_items(fuzz::as_text(data, size), page->items);
    return 0;
}
