#include "core/notify.hpp"

#include "core/json.hpp"

#include <stdexcept>

namespace gcal::core {

namespace {

void append_field(std::string &out, std::string_view key, std::string_view value)
{
    out.push_back(',');
    append_json_string(out, key);
    out.push_back(':');
    append_json_string(out, value);
}

}  // namespace

namespace {

// head_of renders the fixed fields up to the opening of the ids array.
std::string head_of(const ChangeNotice &n, bool with_calendar)
{
    std::string head = "{\"owner\":";
    append_json_string(head, n.owner);
    append_field(head, "table", n.table);
    if (with_calendar && !n.calendar_id.empty())
        append_field(head, "calendar_id", n.calendar_id);
    append_field(head, "op", n.op);
    if (!n.state.empty())
        append_field(head, "state", n.state);
    head += ",\"ids\":[";
    return head;
}

}  // namespace

std::string minimal_notify_payload(const ChangeNotice &n, long long seq)
{
    std::string out = "{\"table\":";
    append_json_string(out, n.table);
    append_field(out, "op", n.op);
    out += ",\"seq\":" + std::to_string(seq) + "}";
    return out;
}

std::string notify_payload(const ChangeNotice &n, std::size_t limit)
{
    static constexpr std::string_view kTruncatedTail = "],\"truncated\":true}";
    static constexpr std::string_view kTail = "]}";
    std::string head = head_of(n, true);
    if (head.size() + kTail.size() > limit) {
        // A calendar id too long to announce (ids are not bounded by Google):
        // say which owner and table changed, and that the rest was cut.
        head = head_of(n, false);
        if (head.size() + kTruncatedTail.size() > limit)
            throw std::length_error("notification payload does not fit even without ids");
        return head + std::string(kTruncatedTail);
    }

    // Count how many ids fit in full; only then decide which tail to use.
    std::size_t size = head.size();
    std::size_t fitting = 0;
    for (const auto &id : n.ids) {
        std::size_t add = json_string_size(id) + (fitting ? 1 : 0);
        if (size + add + kTail.size() > limit)
            break;
        size += add;
        fitting++;
    }
    bool truncated = fitting < n.ids.size();
    if (truncated) {
        if (head.size() + kTruncatedTail.size() > limit) {
            head = head_of(n, false);
            return head + std::string(kTruncatedTail);
        }
        // Make room for the longer tail, dropping ids from the end.
        while (fitting > 0 && size + kTruncatedTail.size() > limit) {
            fitting--;
            size -= json_string_size(n.ids[fitting]) + (fitting ? 1 : 0);
        }
    }
    std::string out = std::move(head);
    out.reserve(size + kTruncatedTail.size());
    for (std::size_t i = 0; i < fitting; i++) {
        if (i)
            out.push_back(',');
        append_json_string(out, n.ids[i]);
    }
    out += truncated ? kTruncatedTail : kTail;
    return out;
}

}  // namespace gcal::core
