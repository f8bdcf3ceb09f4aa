// fuzz_events_page.cpp — parse_events_page on arbitrary bodies.
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string error;
    auto page = gcal::core::parse_events_page(fuzz::as_text(data, size), &error);
    if (!page) {
        fuzz::require(!error.empty(), "a failure says why");
        return 0;
    }
    for (const auto &e : page->items)
        fuzz::check_event_row(e);
    fuzz::check_same_items(fuzz::as_text(data, size), page->items);
    return 0;
}
