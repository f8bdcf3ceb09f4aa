// outbox.hpp — the life cycle of a write to Google (gcalsync.outbox), in one
// place: what each write sends, and what each answer makes of it.
//
//   queued --2xx--------------------------------------------> done (a delete's:
//                     fetch; done if the event is cancelled, else sent again)
//          --409 on insert (our client id exists: a retry) --> fetch, done
//          --410 on delete (already deleted) ---------------> fetch, done
//          --412 (If-Match: someone changed the event) -----> fetch; done if the
//                     event already shows our patch (a resend after a crash
//                     between send and commit), else conflict
//          --429, 403 rate/quota, 5xx, timeout, network ----> queued (attempts+1,
//                     retried after the same backoff as reads)
//          --403 insufficientPermissions, forbiddenForNonOrganizer,
//            requiredAccessLevel, 400, 404, other 4xx ------> failed (last_error);
//                     but if an earlier copy was sent and its answer lost
//                     (judge_resent): fetch; done if the event shows the
//                     write, else failed
//          --owner revoked, in error or unlinked -----------> failed (the reason),
//                     if the write was never sent (sent_at NULL); a write
//                     sent (Google may have applied it: answer lost, crash,
//                     libcurl's own resend) stays queued until the owner is
//                     linked again, then is sent again and recognised (409,
//                     410, 412 with the patch applied); unlinking fails it,
//                     saying it may have been applied
//
// sent_at is committed for each write right before its request is made, if
// the write is still queued (SyncEngine::mark_sent; otherwise it is not sent), and cleared only when a 401 answered the only
// copy ever sent (HttpResponse::sends == 1, not sent in an earlier round).
//
// "fetch" is events.get of the event: its answer is stored in gcalsync.event
// in the transaction that finishes the write, like a 2xx answer is, so the
// mirror shows Google's event when the write is done (and its etag, so the
// next incremental sync does not announce it again).
#pragma once
#include "core/pure.hpp"

#include "core/google.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace gcal::core {

enum class WriteOp { Insert, Update, Delete, Respond };
enum class WriteState { Queued, Done, Conflict, Failed };
const char *to_string(WriteOp op);
const char *to_string(WriteState s);
std::optional<WriteOp> write_op_from(std::string_view s);

// OutboxWrite is one queued row of gcalsync.outbox.
struct OutboxWrite {
    int64_t id = 0;
    std::string owner, calendar_id, event_id;
    WriteOp op = WriteOp::Insert;
    std::string payload;              // JSON: the event (insert), the patch (update, respond), "" (delete)
    std::optional<std::string> etag;  // If-Match (update, delete, respond), when the mirror had the event
    std::string send_updates = "none";
    int attempts = 0;
    bool sent = false;  // sent before this round (sent_at set): Google may have applied it
};

// WriteRequest is the HTTP request of a write (without the Authorization header).
struct WriteRequest {
    std::string method, url, body;
    std::vector<std::string> headers;
};
WriteRequest write_request(std::string_view api_base, const OutboxWrite &w);
// event_get_url is events.get of the write's event (the "fetch" above).
std::string event_get_url(std::string_view api_base, const OutboxWrite &w);

// WriteVerdict is what an answer makes of a write.
struct WriteVerdict {
    WriteState state = WriteState::Queued;
    bool store_answer = false;  // the answer's body is the event: store it
    bool fetch = false;         // events.get the event, store it, then `state`
    bool check_applied = false; // (412) after the fetch: done if the event already shows the patch
    bool verify = false;        // a 2xx answer whose body was not the event, or any 2xx to a
                                // delete: done only if events.get shows the write, else sent
                                // again (issue 20)
    bool earlier_copy = false;  // failed, but an earlier copy was sent and its answer lost:
                                // after the fetch, done if the event shows the write (judge_resent)
    std::string error;          // last_error (failed, or queued for a retry)
};
// judge_write: status 0 is a transport failure (`transport_error` says why);
// `e` is the parsed error of a non-2xx answer.
WriteVerdict judge_write(const OutboxWrite &w, long status, const ApiError *e,
                         const std::string &transport_error = {});

// judge_resent: the verdict of a write an earlier copy of which was sent and
// its answer lost (sent in an earlier round, or sent again by libcurl), from
// judge_write's verdict of this copy's answer. A permanent error to this copy
// says nothing about the earlier one (a 403 after the grant lost write scope,
// a fault of a proxy): a write so refused is read back (fetch) and is done if
// the event shows it (write_shown), failed otherwise (issue 20, seed 301).
// Other verdicts are returned as they are.
WriteVerdict judge_resent(WriteVerdict v);

// write_shown: Google's event (events.get's answer) shows the write: for a
// delete, the event is cancelled; otherwise patch_applied of its payload.
bool write_shown(const OutboxWrite &w, std::string_view event);

// patch_applied: every member of the merge patch `patch` already has that
// value in `event` (a null member: absent), as Google stores it: dateTime
// members compare as instants, date members as dates, nested objects by the
// members the patch gives, arrays element by element (outbox.cpp: shows).
// How a resend after a crash between send and commit (or after a lost
// answer) recognises its own update behind a 412, and how a 2xx answer that
// was not the event is verified with events.get.
bool patch_applied(std::string_view patch, std::string_view event);

// single_event_page wraps one event resource (events.get/insert/patch
// answer) as a page of one, parsed like a listing's items.
std::optional<EventsPage> single_event_page(std::string_view event, std::string *error);

}  // namespace gcal::core
