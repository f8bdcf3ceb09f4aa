// fuzz_items_layout.cpp — items_layout (the scanner that cuts each item's text out
// of a page) on arbitrary bodies: never reads outside the body, and on a body
// jansson accepts it either gives up or finds exactly jansson's items.
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view body = fuzz::as_text(data, size);
    auto layout = gcal::core::items_layout(body);
    auto texts = layout ? std::optional<std::vector<std::string_view>>(layout->items) : std::nullopt;
    if (layout && !layout->array.empty())
        fuzz::require(layout->array.data() >= body.data() &&
                          layout->array.data() + layout->array.size() <= body.data() + body.size() &&
                          layout->array.front() == '[' && layout->array.back() == ']',
                      "the array lies inside the body");
    if (texts)
        for (std::string_view t : *texts)
            fuzz::require(!t.empty() && t.data() >= body.data() && t.data() + t.size() <= body.data() + body.size(),
                          "an item's text lies inside the body");
    json_error_t err;
    json_t *doc = json_loadb(body.data(), body.size(), JSON_REJECT_DUPLICATES, &err);
    if (doc && json_is_object(doc) && texts) {
        json_t *items = json_object_get(doc, "items");
        if (json_is_array(items)) {
            fuzz::require(texts->size() == json_array_size(items), "one text per item");
            for (size_t i = 0; i < texts->size(); i++) {
                std::string_view t = (*texts)[i];
                json_t *v = json_loadb(t.data(), t.size(), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
                fuzz::require(v && json_equal(v, json_array_get(items, i)), "the text is the item");
                json_decref(v);
            }
        } else if (!items) {
            fuzz::require(texts->empty(), "no items, no texts");
        }
    }
    json_decref(doc);
    return 0;
}
