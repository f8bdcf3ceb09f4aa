// changes.cpp — see changes.hpp. The callbacks are C entry points: they run
// the C++ work through call_cpp_callback, which turns any exception into an
// ERROR (aborting the committing transaction) after the C++ frames are gone.
#include "pg/changes.hpp"

#include "pg/module.hpp"

#include "pg/spi.hpp"
#include "pg/statements.hpp"
#include "pg/stats.hpp"

extern "C" {
#include "commands/async.h"
#include "utils/fmgrprotos.h"
#include "utils/snapmgr.h"
}

namespace gcal::pg {

namespace {

// The transaction-level advisory lock that orders feed entries by commit
// ('gcal' 'feed' as two int4 keys, so it cannot collide with an application's
// single-bigint advisory locks).
constexpr int32 kFeedLockKey1 = 0x6763616c;  // "gcal"
constexpr int32 kFeedLockKey2 = 0x66656564;  // "feed"

struct Pending {
    core::ChangeNotice notice;
    int nest_level;
    Oid user;  // who recorded it: the extension's owner, inside a SECURITY DEFINER function
    // The nest level of the gcal_unlink that dropped it (0: it stands). A
    // rolled-back unlink must not take the earlier changes with it.
    int forgotten_at = 0;
};

std::vector<Pending> pending;
bool callbacks_registered = false;
// Announcements published by the committing transaction (feed entries, and
// of those the ones also sent as NOTIFY): counted once it has committed.
uint64_t published = 0;
uint64_t notified = 0;

// any_standing: some pending change is to be published.
bool any_standing()
{
    return std::any_of(pending.begin(), pending.end(), [](const Pending &p) { return p.forgotten_at == 0; });
}

// optional_text is a text argument that is NULL when empty.
SqlArg optional_text(const std::string &s)
{
    return s.empty() ? SqlArg(std::nullopt) : SqlArg(s);
}

// notify_queue_has_room says whether this transaction may add its NOTIFYs:
// the server's NOTIFY queue is below gcalsync.notify_queue_limit. A LISTENer
// that stopped reading (a session idle in a transaction after LISTEN) holds
// the queue's tail; once the queue is full, every NOTIFY fails its
// transaction at commit ("too many notifications in the NOTIFY queue"), and
// with it every page the worker writes. Above the limit the changes go to
// the durable feed only (gcal_changes), and a WARNING says so, at most once
// a minute per process.
bool notify_queue_has_room()
{
    double usage = pg_guard([]() { return DatumGetFloat8(DirectFunctionCall1(pg_notification_queue_usage, 0)); });
    if (usage <= 0 || usage < notify_queue_limit)
        return true;
    pg_guard([=]() {
        static TimestampTz last_warned = 0;
        TimestampTz now = GetCurrentTimestamp();
        if (last_warned != 0 && !TimestampDifferenceExceeds(last_warned, now, 60 * 1000))
            return;
        last_warned = now;
        ereport(WARNING,
                (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                 errmsg("gcalsync sends no NOTIFY while the notification queue is %.0f%% full", usage * 100),
                 errdetail("Above gcalsync.notify_queue_limit (%.0f%%) changes are recorded in the change feed only; "
                           "a session that LISTENs but does not read its notifications keeps the queue full.",
                           notify_queue_limit * 100),
                 errhint("Find that session with pg_stat_activity (e.g. idle in transaction) and end it; "
                         "read missed changes with gcal_changes()."),
                 errhidestmt(true)));
    });
    return false;
}

// publish writes the pending changes to the feed and sends their NOTIFYs.
//
// It runs at pre-commit, after the SECURITY DEFINER function that recorded
// the changes has returned: the caller's role and settings are back. So it
// does what such a function's call does, for exactly its own work: it
// writes as the role that recorded the changes (the extension's owner),
// with search_path pinned to pg_catalog, pg_temp (the caller's path could
// otherwise resolve an operator or type to the caller's own), under
// SECURITY_RESTRICTED_OPERATION (nothing run here may change the role or
// create temporary objects), and restores all three before the commit goes
// on. An error aborts the transaction, which restores them too.
void publish()
{
    std::vector<Pending> work;
    for (auto &p : pending)
        if (p.forgotten_at == 0)
            work.push_back(std::move(p));
    pending.clear();
    Oid saved_user;
    int saved_context;
    int guc_level = 0;
    Oid writer = work.front().user;
    pg_guard([&]() {
        GetUserIdAndSecContext(&saved_user, &saved_context);
        SetUserIdAndSecContext(writer,
                               saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
        guc_level = pin_search_path();
        // At pre-commit no snapshot is active any more.
        PushActiveSnapshot(GetTransactionSnapshot());
    });
    Spi spi;
    spi.run(sql::kFeedLock, {kFeedLockKey1, kFeedLockKey2});
    const bool notify = notify_queue_has_room();
    for (const auto &p : work) {
        const core::ChangeNotice &n = p.notice;
        TextColumn ids;
        ids.reserve(n.ids.size());
        for (const auto &id : n.ids)
            ids.push_back(&id);
        spi.run(sql::kRecordChange,
                {n.owner, n.table, optional_text(n.calendar_id), n.op, optional_text(n.state), text_array_arg(ids)});
        if (!notify)
            continue;
        std::string payload = notify_payload == kNotifyMinimal
                                  ? core::minimal_notify_payload(n, spi.get_int64(0, 0).value_or(0))
                                  : core::notify_payload(n);
        pg_guard([&]() { Async_Notify("gcalsync", payload.c_str()); });
    }
    spi.finish();
    published += work.size();
    if (notify)
        notified += work.size();
    pg_guard([&]() {
        PopActiveSnapshot();
        restore_search_path(guc_level);
        SetUserIdAndSecContext(saved_user, saved_context);
    });
}

void publish_entry()
{
    publish();
}

void on_xact(XactEvent event, void *)
{
    switch (event) {
    case XACT_EVENT_PRE_COMMIT:
        if (any_standing())
            call_cpp_callback(publish_entry);
        else
            pending.clear();
        break;
    case XACT_EVENT_PRE_PREPARE:
        if (any_standing())
            ereport(ERROR,
                    (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                     errmsg("cannot PREPARE a transaction that has called gcalsync functions"),
                     errdetail("Its changes are announced, and the gcalsync worker woken, when it commits."),
                     errhidestmt(true)));
        break;
    case XACT_EVENT_COMMIT:
        if (notified > 0)
            count_shared(core::Counter::Notifications, notified);
        if (published > 0)
            count_shared(core::Counter::FeedEntries, published);
        if (published > notified)
            count_shared(core::Counter::NotificationsSkipped, published - notified);
        published = 0;
        notified = 0;
        pending.clear();
        break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
        published = 0;
        notified = 0;
        pending.clear();
        break;
    default:
        break;
    }
}

// on_subxact forgets what a rolled-back subtransaction recorded (and brings
// back what an unlink in it dropped), and hands what a committed one
// recorded or dropped to its parent.
void on_subxact(SubXactEvent event, SubTransactionId, SubTransactionId, void *)
{
    int level = GetCurrentTransactionNestLevel();
    if (event == SUBXACT_EVENT_ABORT_SUB) {
        pending.erase(std::remove_if(pending.begin(), pending.end(),
                                     [level](const Pending &p) { return p.nest_level >= level; }),
                      pending.end());
        for (auto &p : pending)
            if (p.forgotten_at >= level)
                p.forgotten_at = 0;
    } else if (event == SUBXACT_EVENT_COMMIT_SUB) {
        for (auto &p : pending) {
            if (p.nest_level >= level)
                p.nest_level = level - 1;
            if (p.forgotten_at >= level)
                p.forgotten_at = level - 1;
        }
    }
}

}  // namespace

void record_change(core::ChangeNotice notice)
{
    int level = pg_guard([]() {
        if (!callbacks_registered) {
            RegisterXactCallback(on_xact, nullptr);
            RegisterSubXactCallback(on_subxact, nullptr);
            callbacks_registered = true;
        }
        return GetCurrentTransactionNestLevel();
    });
    pending.push_back(Pending{std::move(notice), level, pg_guard([]() { return GetUserId(); })});
}

void forget_changes(const std::string &owner)
{
    int level = pg_guard([]() { return GetCurrentTransactionNestLevel(); });
    for (auto &p : pending)
        if (p.forgotten_at == 0 && p.notice.owner == owner)
            p.forgotten_at = level;
}

bool changes_pending()
{
    return any_standing();
}

}  // namespace gcal::pg
