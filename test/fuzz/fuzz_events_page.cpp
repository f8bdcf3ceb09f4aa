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
    for (const auto &e : page->items) {
        fuzz::require(!e.event_id.empty(), "event_id is not empty");
        fuzz::require(!e.status.empty(), "status is never empty");
        for (const auto &t : {e.start_at, e.end_at, e.original_start_at, e.created, e.updated})
            fuzz::check_instant(t);
        for (const auto &d : {e.start_date, e.end_date, e.original_start_date})
            fuzz::check_date(d);
        fuzz::check_object_json(e.data);
    }
    fuzz::check_same_items(fuzz::as_text(data, size), page->items);
    return 0;
}
