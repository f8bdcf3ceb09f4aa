// outbox_test.cpp — the outbox's state machine (core/outbox.hpp): each answer
// to each kind of write, the requests, and how a resend is recognised.
#include "core/outbox.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace gcal::core;

namespace {

OutboxWrite write_of(WriteOp op, std::optional<std::string> etag = std::string("\"1\""))
{
    OutboxWrite w;
    w.id = 7;
    w.owner = "alice";
    w.calendar_id = "alice@example.com";
    w.event_id = "abc0123456";
    w.op = op;
    w.payload = op == WriteOp::Delete ? "" : R"({"summary":"x"})";
    w.etag = std::move(etag);
    w.send_updates = "externalOnly";
    return w;
}

ApiError error_of(long status, const std::string &body)
{
    return parse_api_error(status, body);
}

std::string google_error(int code, const std::string &reason)
{
    return R"({"error":{"errors":[{"domain":"global","reason":")" + reason + R"(","message":"m"}],"code":)" +
           std::to_string(code) + R"(,"message":"m"}})";
}

}  // namespace

TEST(Outbox, Requests)
{
    WriteRequest ins = write_request("http://h/calendar/v3", write_of(WriteOp::Insert, std::nullopt));
    EXPECT_EQ(ins.method, "POST");
    EXPECT_EQ(ins.url, "http://h/calendar/v3/calendars/alice%40example.com/events?sendUpdates=externalOnly");
    EXPECT_EQ(ins.body, R"({"summary":"x"})");
    WriteRequest upd = write_request("http://h/calendar/v3", write_of(WriteOp::Update));
    EXPECT_EQ(upd.method, "PATCH");
    EXPECT_EQ(upd.url, "http://h/calendar/v3/calendars/alice%40example.com/events/abc0123456?sendUpdates=externalOnly");
    EXPECT_NE(std::find(upd.headers.begin(), upd.headers.end(), "If-Match: \"1\""), upd.headers.end());
    WriteRequest del = write_request("http://h/calendar/v3", write_of(WriteOp::Delete));
    EXPECT_EQ(del.method, "DELETE");
    EXPECT_TRUE(del.body.empty());
    // No etag (an event only queued for insertion): no If-Match.
    WriteRequest plain = write_request("http://h/calendar/v3", write_of(WriteOp::Update, std::nullopt));
    for (const auto &h : plain.headers)
        EXPECT_EQ(h.rfind("If-Match", 0), std::string::npos);
}

TEST(Outbox, Verdicts)
{
    auto ins = write_of(WriteOp::Insert), upd = write_of(WriteOp::Update), del = write_of(WriteOp::Delete);
    WriteVerdict v = judge_write(ins, 200, nullptr);
    EXPECT_EQ(v.state, WriteState::Done);
    EXPECT_TRUE(v.store_answer);
    v = judge_write(del, 204, nullptr);
    EXPECT_EQ(v.state, WriteState::Done);
    EXPECT_TRUE(v.fetch);
    EXPECT_TRUE(v.verify);  // done only once events.get shows it cancelled (seed 302)
    // 409 to an insert: our client id, an earlier attempt got through.
    ApiError dup = error_of(409, google_error(409, "duplicate"));
    v = judge_write(ins, 409, &dup);
    EXPECT_EQ(v.state, WriteState::Done);
    EXPECT_TRUE(v.fetch);
    ApiError gone = error_of(410, google_error(410, "deleted"));
    EXPECT_EQ(judge_write(del, 410, &gone).state, WriteState::Done);
    EXPECT_EQ(judge_write(upd, 410, &gone).state, WriteState::Failed);
    ApiError pre = error_of(412, google_error(412, "conditionNotMet"));
    v = judge_write(upd, 412, &pre);
    EXPECT_EQ(v.state, WriteState::Conflict);
    EXPECT_TRUE(v.fetch);
    EXPECT_TRUE(v.check_applied);
    EXPECT_FALSE(judge_write(del, 412, &pre).check_applied);
    // Transient: stays queued.
    for (auto [status, reason] : {std::pair<long, const char *>{503, "backendError"}, {429, "rateLimitExceeded"},
                                  {403, "userRateLimitExceeded"}}) {
        ApiError e = error_of(status, google_error(int(status), reason));
        EXPECT_EQ(judge_write(upd, status, &e).state, WriteState::Queued) << reason;
    }
    EXPECT_EQ(judge_write(upd, 0, nullptr, "timeout").state, WriteState::Queued);
    // Permanent: failed, with Google's reason.
    for (auto [status, reason] : {std::pair<long, const char *>{403, "insufficientPermissions"},
                                  {403, "forbiddenForNonOrganizer"}, {400, "invalid"}, {404, "notFound"}}) {
        ApiError e = error_of(status, google_error(int(status), reason));
        v = judge_write(ins, status, &e);
        EXPECT_EQ(v.state, WriteState::Failed) << reason;
        EXPECT_NE(v.error.find(reason), std::string::npos) << v.error;
    }
}

// A permanent error to a copy sent after one whose answer was lost says
// nothing about that one: the event is read back, done if it shows the write
// (seed 301: an update applied, its answer dropped, the resend refused 403).
TEST(Outbox, ResentWriteRefused)
{
    auto ins = write_of(WriteOp::Insert), upd = write_of(WriteOp::Update), del = write_of(WriteOp::Delete);
    ApiError scope = error_of(403, google_error(403, "insufficientPermissions"));
    for (const auto &w : {ins, upd, del}) {
        WriteVerdict v = judge_resent(judge_write(w, 403, &scope));
        EXPECT_EQ(v.state, WriteState::Failed);
        EXPECT_TRUE(v.fetch);
        EXPECT_TRUE(v.check_applied);
        EXPECT_TRUE(v.earlier_copy);
        EXPECT_NE(v.error.find("insufficientPermissions"), std::string::npos) << v.error;
    }
    // Other verdicts are left as they are.
    ApiError busy = error_of(503, google_error(503, "backendError"));
    WriteVerdict q = judge_resent(judge_write(upd, 503, &busy));
    EXPECT_EQ(q.state, WriteState::Queued);
    EXPECT_FALSE(q.fetch || q.earlier_copy);
    ApiError pre = error_of(412, google_error(412, "conditionNotMet"));
    WriteVerdict c = judge_resent(judge_write(del, 412, &pre));
    EXPECT_EQ(c.state, WriteState::Conflict);
    EXPECT_FALSE(c.check_applied || c.earlier_copy);
    EXPECT_FALSE(judge_resent(judge_write(upd, 200, nullptr)).earlier_copy);
    // What the fetch then decides with.
    EXPECT_TRUE(write_shown(upd, R"({"id":"abc0123456","status":"confirmed","summary":"x"})"));
    EXPECT_FALSE(write_shown(upd, R"({"id":"abc0123456","status":"confirmed","summary":"y"})"));
    EXPECT_TRUE(write_shown(del, R"({"id":"abc0123456","status":"cancelled"})"));
    EXPECT_FALSE(write_shown(del, R"({"id":"abc0123456","status":"confirmed"})"));
    EXPECT_FALSE(write_shown(del, R"({"id":"abc0123456"})"));
    EXPECT_FALSE(write_shown(del, "not json"));
}

TEST(Outbox, PatchApplied)
{
    EXPECT_TRUE(patch_applied(R"({"summary":"a","location":null})", R"({"id":"x","summary":"a"})"));
    EXPECT_FALSE(patch_applied(R"({"summary":"a","location":null})", R"({"summary":"a","location":"b"})"));
    EXPECT_FALSE(patch_applied(R"({"summary":"a"})", R"({"summary":"b"})"));
    EXPECT_TRUE(patch_applied(R"({"attendees":[{"email":"a","responseStatus":"accepted"}]})",
                              R"({"attendees":[{"responseStatus":"accepted","email":"a"}]})"));
    EXPECT_FALSE(patch_applied("not json", "{}"));
}

// Google normalises what it stores: an applied update must not be taken for a
// conflict (or, verified after a 2xx that was not the event, sent again).
TEST(Outbox, PatchAppliedAsGoogleStoresIt)
{
    // a date-time in another offset, with the time zone Google adds
    EXPECT_TRUE(patch_applied(R"({"start":{"dateTime":"2025-01-01T10:00:00+01:00"},"end":{"dateTime":"2025-01-01T11:00:00+01:00"}})",
                              R"({"start":{"dateTime":"2025-01-01T09:00:00Z","timeZone":"Europe/Paris"},)"
                              R"("end":{"dateTime":"2025-01-01T05:00:00-05:00","timeZone":"America/New_York"}})"));
    EXPECT_TRUE(patch_applied(R"({"start":{"dateTime":"2025-01-01T09:00:00.000Z"}})",
                              R"({"start":{"dateTime":"2025-01-01t10:00:00+01:00"}})"));
    // another instant is another event
    EXPECT_FALSE(patch_applied(R"({"start":{"dateTime":"2025-01-01T10:00:00+01:00"}})",
                               R"({"start":{"dateTime":"2025-01-01T10:00:00Z","timeZone":"Europe/Paris"}})"));
    // a time zone the patch names must be the event's
    EXPECT_FALSE(patch_applied(R"({"start":{"dateTime":"2025-01-01T10:00:00+01:00","timeZone":"Europe/Paris"}})",
                               R"({"start":{"dateTime":"2025-01-01T09:00:00Z","timeZone":"Europe/Berlin"}})"));
    // dates as dates; a dateTime the patch removes (null) must be gone
    EXPECT_TRUE(patch_applied(R"({"start":{"date":"2025-01-01","dateTime":null}})", R"({"start":{"date":"2025-01-01"}})"));
    EXPECT_FALSE(patch_applied(R"({"start":{"date":"2025-01-01","dateTime":null}})",
                               R"({"start":{"date":"2025-01-01","dateTime":"2025-01-01T00:00:00Z"}})"));
    EXPECT_FALSE(patch_applied(R"({"start":{"date":"2025-01-01"}})", R"({"start":{"date":"2025-01-02"}})"));
    // not a date-time: exactly
    EXPECT_FALSE(patch_applied(R"({"start":{"dateTime":"soon"}})", R"({"start":{"dateTime":"Soon"}})"));
    EXPECT_TRUE(patch_applied(R"({"start":{"dateTime":"soon"}})", R"({"start":{"dateTime":"soon"}})"));
    EXPECT_FALSE(patch_applied(R"({"summary":"2025-01-01T10:00:00+01:00"})", R"({"summary":"2025-01-01T09:00:00Z"})"));
    // attendees: Google adds members to each; the list itself is replaced
    EXPECT_TRUE(patch_applied(R"({"attendees":[{"email":"a@x"},{"email":"b@x"}]})",
                              R"({"attendees":[{"email":"a@x","responseStatus":"needsAction"},)"
                              R"({"email":"b@x","responseStatus":"needsAction"}]})"));
    EXPECT_FALSE(patch_applied(R"({"attendees":[{"email":"a@x"}]})",
                               R"({"attendees":[{"email":"a@x"},{"email":"b@x"}]})"));
    // ... but only the members Google adds: someone else's comment or optional
    // flag on an attendee the patch replaced is a change of theirs
    EXPECT_FALSE(patch_applied(R"({"attendees":[{"email":"a@x"}]})",
                               R"({"attendees":[{"email":"a@x","responseStatus":"needsAction","optional":true}]})"));
    EXPECT_FALSE(patch_applied(R"({"attendees":[{"email":"a@x"}]})",
                               R"({"attendees":[{"email":"a@x","comment":"late"}]})"));
    EXPECT_TRUE(patch_applied(R"({"attendees":[{"email":"a@x"}]})",
                              R"({"attendees":[{"email":"a@x","self":true,"organizer":true,"displayName":"A"}]})"));
    // Google omits empty values: an emptied list or text is absent
    EXPECT_TRUE(patch_applied(R"({"attendees":[],"description":""})", R"({"summary":"s"})"));
    EXPECT_FALSE(patch_applied(R"({"attendees":[]})", R"({"attendees":[{"email":"a@x"}]})"));
    EXPECT_FALSE(patch_applied(R"({"recurrence":["RRULE:FREQ=DAILY"]})", R"({"recurrence":["RRULE:FREQ=WEEKLY"]})"));
    EXPECT_FALSE(patch_applied(R"({"start":{"dateTime":"2025-01-01T10:00:00Z"}})", R"({"start":"x"})"));
}

TEST(Outbox, SingleEventPage)
{
    std::string why;
    auto page = single_event_page(R"({"id":"abc0123456","etag":"\"2\"","status":"confirmed","summary":"s",
        "start":{"dateTime":"2030-01-01T10:00:00Z"},"end":{"dateTime":"2030-01-01T11:00:00Z"}})", &why);
    ASSERT_TRUE(page) << why;
    ASSERT_EQ(page->items.size(), 1u);
    EXPECT_EQ(page->items[0].event_id, "abc0123456");
    // Anything but one JSON object is refused, never read as several items or none.
    for (const char *bad : {"[1]", "", "null", R"({"id":"abc0123456"},{"id":"def0123456"})",
                            R"({"id":"abc0123456"}],"nextPageToken":"x","y":[1)",
                            R"({"id":"abc0123456","id":"def0123456"})"}) {
        why.clear();
        EXPECT_FALSE(single_event_page(bad, &why)) << bad;
        EXPECT_FALSE(why.empty()) << bad;
    }
}
