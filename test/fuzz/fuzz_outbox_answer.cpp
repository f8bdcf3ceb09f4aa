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
        fuzz::check_event_row(page->items[0]);
    }
    bool applied = patch_applied(patch, answer);
    // Only an object can show a patch applied; an empty patch is applied to any event.
    if (applied)
        fuzz::check_object_json(std::string(answer));
    if (patch == "{}" && page)
        fuzz::require(applied, "an empty patch is always applied");
    return 0;
}
