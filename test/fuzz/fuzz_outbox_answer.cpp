// fuzz_outbox_answer.cpp — what the worker reads of Google's answers to the
// outbox's writes: single_event_page (an events.insert/patch/get answer) and
// patch_applied (a merge patch against an event, after a 412). The input is
// "patch\nanswer"; without a newline, the whole input is the answer.
#include "core/outbox.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    using namespace gcal::core;
    std::string_view text = fuzz::as_text(data, size);
    std::string_view patch, answer = text;
    if (auto nl = text.find('\n'); nl != std::string_view::npos) {
        patch = text.substr(0, nl);
        answer = text.substr(nl + 1);
    }
    std::string error;
    auto page = single_event_page(answer, &error);
    if (!page) {
        fuzz::require(!error.empty(), "a refused answer says why");
    } else {
        // One answer is one event, never several and never none.
        fuzz::require(page->items.size() == 1, "an answer is exactly one event");
        fuzz::require(!page->next_page_token && !page->next_sync_token, "an answer carries no page tokens");
        const auto &e = page->items[0];
        fuzz::require(!e.event_id.empty(), "event_id is not empty");
        for (const auto &t : {e.start_at, e.end_at, e.original_start_at, e.created, e.updated})
            fuzz::check_instant(t);
        for (const auto &d : {e.start_date, e.end_date, e.original_start_date})
            fuzz::check_date(d);
        fuzz::check_object_json(e.data);
    }
    bool applied = patch_applied(patch, answer);
    // An empty patch object is applied to any event; nothing is applied to a non-event.
    if (applied)
        fuzz::require(page.has_value() || !single_event_page(answer, &error), "consistent");
    if (patch == "{}" && page)
        fuzz::require(applied, "an empty patch is always applied");
    return 0;
}
