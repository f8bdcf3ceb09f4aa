// outbox.cpp — see outbox.hpp: the write's request and the verdict on its answer.
#include "core/outbox.hpp"

#include "core/json.hpp"

#include <cstring>

namespace gcal::core {

const char *to_string(WriteOp op)
{
    switch (op) {
    case WriteOp::Insert:
        return "insert";
    case WriteOp::Update:
        return "update";
    case WriteOp::Delete:
        return "delete";
    case WriteOp::Respond:
        return "respond";
    }
    return "insert";
}

const char *to_string(WriteState s)
{
    switch (s) {
    case WriteState::Queued:
        return "queued";
    case WriteState::Done:
        return "done";
    case WriteState::Conflict:
        return "conflict";
    case WriteState::Failed:
        return "failed";
    }
    return "queued";
}

std::optional<WriteOp> write_op_from(std::string_view s)
{
    for (WriteOp op : {WriteOp::Insert, WriteOp::Update, WriteOp::Delete, WriteOp::Respond})
        if (s == to_string(op))
            return op;
    return std::nullopt;
}

std::string event_get_url(std::string_view api_base, const OutboxWrite &w)
{
    return calendar_url(api_base, w.calendar_id) + "/events/" + percent_encode(w.event_id);
}

WriteRequest write_request(std::string_view api_base, const OutboxWrite &w)
{
    WriteRequest r;
    std::string query = "?sendUpdates=" + percent_encode(w.send_updates);
    if (w.op == WriteOp::Insert) {
        r.method = "POST";
        r.url = calendar_url(api_base, w.calendar_id) + "/events" + query;
        r.body = w.payload;
    } else {
        r.method = w.op == WriteOp::Delete ? "DELETE" : "PATCH";
        r.url = event_get_url(api_base, w) + query;
        if (w.op != WriteOp::Delete)
            r.body = w.payload;
        if (w.etag)
            r.headers.push_back("If-Match: " + *w.etag);
    }
    if (!r.body.empty())
        r.headers.push_back("Content-Type: application/json");
    return r;
}

WriteVerdict judge_write(const OutboxWrite &w, long status, const ApiError *e, const std::string &transport_error)
{
    WriteVerdict v;
    if (status == 0) {
        v.error = transport_error.empty() ? "request failed: no response" : "request failed: " + transport_error;
        return v;  // queued: retried
    }
    if (status >= 200 && status < 300) {
        v.state = WriteState::Done;
        if (w.op == WriteOp::Delete) {
            // 204 has no body: the mirror gets Google's cancelled event. A 2xx
            // from something else (a proxy's page, a broken answer) proves
            // nothing: done only once events.get shows the event cancelled.
            v.fetch = true;
            v.verify = true;
        }
        else
            v.store_answer = true;
        return v;
    }
    std::string google = "Google answered HTTP " + std::to_string(status);
    if (e && !e->reason.empty())
        google += " " + e->reason;
    if (e && !e->message.empty())
        google += ": " + e->message;
    if (status == 409 && w.op == WriteOp::Insert) {
        v.state = WriteState::Done;  // our client id: an earlier attempt got through
        v.fetch = true;
        return v;
    }
    if (status == 410 && w.op == WriteOp::Delete) {
        v.state = WriteState::Done;
        v.fetch = true;
        return v;
    }
    if (status == 412) {
        v.state = WriteState::Conflict;
        v.fetch = true;
        v.check_applied = w.op != WriteOp::Delete;
        v.error = "the event was changed at Google since gcalsync mirrored it (" + google + ")";
        return v;
    }
    if (e && (e->retryable || e->rate_limited) && !e->daily_limit) {
        v.error = google;
        return v;  // queued: retried with backoff
    }
    if (e && e->daily_limit) {
        v.error = google;
        return v;
    }
    v.state = WriteState::Failed;
    v.error = google;
    return v;
}

namespace {

// shows: `have` (Google's) shows what `want` (the write's) asked for. Google
// normalises what it stores: a date-time comes back in another offset
// ("2025-01-01T10:00:00+01:00" as "2025-01-01T09:00:00Z"), so dateTime
// members compare as instants and date members as dates; nested objects are
// merged by a patch (Google adds members: a timeZone next to a dateTime, an
// attendee's responseStatus), so only the members asked for are compared,
// null meaning absent; arrays are replaced, so they compare element by
// element, same length, and an object element must have no member the write
// did not give but those Google adds to attendees (someone else's `comment`
// or `optional` on an attendee the patch replaced is a change, not ours);
// an empty string, array or object is shown by an absent member (Google
// omits empty values); everything else exactly.
bool google_adds_to_element(const char *member)
{
    static const char *const added[] = {"responseStatus", "self", "organizer", "displayName", "id"};
    for (const char *a : added)
        if (std::strcmp(member, a) == 0)
            return true;
    return false;
}

bool empty_value(json_t *v)
{
    return (json_is_string(v) && json_string_length(v) == 0) || (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0);
}

bool shows(json_t *want, json_t *have, std::string_view key, bool element = false)
{
    if (!have || json_is_null(have))
        return empty_value(want);
    if (json_is_string(want) && json_is_string(have) && (key == "dateTime" || key == "date")) {
        std::string_view a(json_string_value(want), json_string_length(want));
        std::string_view b(json_string_value(have), json_string_length(have));
        if (key == "dateTime") {
            auto x = parse_rfc3339(a), y = parse_rfc3339(b);
            if (x && y)
                return *x == *y;
        } else {
            auto x = parse_date(a), y = parse_date(b);
            if (x && y)
                return *x == *y;
        }
        return a == b;
    }
    if (json_is_object(want)) {
        if (!json_is_object(have))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
            json_t *h = json_object_get(have, k);
            if (json_is_null(v)) {
                if (h && !json_is_null(h))
                    return false;
            } else if (!shows(v, h, k)) {
                return false;
            }
        }
        if (element) {
            json_object_foreach(have, k, v)
            {
                if (!json_object_get(want, k) && !json_is_null(v) && !google_adds_to_element(k))
                    return false;
            }
        }
        return true;
    }
    if (json_is_array(want)) {
        if (!json_is_array(have) || json_array_size(want) != json_array_size(have))
            return false;
        for (std::size_t i = 0; i < json_array_size(want); i++)
            if (!shows(json_array_get(want, i), json_array_get(have, i), {}, true))
                return false;
        return true;
    }
    return json_equal(want, have) != 0;
}

}  // namespace

bool patch_applied(std::string_view patch, std::string_view event)
{
    Json p = parse_json(patch);
    Json ev = parse_json(event);
    if (!p || !ev || !json_is_object(p.get()) || !json_is_object(ev.get()))
        return false;
    return shows(p.get(), ev.get(), {});
}

WriteVerdict judge_resent(WriteVerdict v)
{
    if (v.state != WriteState::Failed)
        return v;
    v.fetch = true;
    v.check_applied = true;
    v.earlier_copy = true;
    return v;
}

bool write_shown(const OutboxWrite &w, std::string_view event)
{
    if (w.op != WriteOp::Delete)
        return patch_applied(w.payload, event);
    Json ev = parse_json(event);
    if (!ev || !json_is_object(ev.get()))
        return false;
    json_t *status = json_object_get(ev.get(), "status");
    return json_is_string(status) && std::strcmp(json_string_value(status), "cancelled") == 0;
}

std::optional<EventsPage> single_event_page(std::string_view event, std::string *error)
{
    // The answer must be one JSON object: pasted into a listing as it is, a body
    // such as `{...},{...}` or `{...}],"nextPageToken":"x","y":[1` would parse
    // as several items (or none, for `[1]`), and an answer that is not the event
    // must never be mirrored as if it were.
    std::string why;
    Json doc = parse_json(event, &why);
    if (!doc || !json_is_object(doc.get())) {
        if (error)
            *error = doc ? "answer is not a JSON object" : "answer is not JSON: " + why;
        return std::nullopt;
    }
    doc = Json();
    std::string page = "{\"items\":[";
    page.append(event);
    page += "]}";
    return parse_events_page(page, error);
}

}  // namespace gcal::core
