// api.cpp — the SQL API (README: SQL API): gcal_set_client, gcal_link,
// gcal_refresh, gcal_unlink, gcal_resync. Every bad input is refused with an
// SQLSTATE before anything is changed; secrets never appear in messages.
#include "pg/module.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "commands/dbcommands.h"
#include "nodes/parsenodes.h"
#include "datatype/timestamp.h"
#include "storage/condition_variable.h"
#include "utils/elog.h"
#include "utils/syscache.h"
#include "utils/wait_event.h"
}

#include "pg/changes.hpp"
#include "pg/secrets.hpp"
#include "pg/statements.hpp"
#include "pg/store.hpp"

namespace gcal::pg {

namespace {

// to_sqlstate maps a refused value to the SQLSTATE PostgreSQL uses for it.
int to_sqlstate(core::InputProblem p)
{
    switch (p) {
    case core::InputProblem::TooLong:
        return ERRCODE_STRING_DATA_RIGHT_TRUNCATION;
    case core::InputProblem::InvalidEncoding:
        return ERRCODE_CHARACTER_NOT_IN_REPERTOIRE;
    default:
        return ERRCODE_INVALID_PARAMETER_VALUE;
    }
}

// text_arg reads argument n as a string; a NULL is refused as `name`.
std::string text_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
    if (PG_ARGISNULL(n))
        throw UserError(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(name) + " must not be NULL");
    const char *data = nullptr;
    int len = 0;
    pg_guard([&]() {
        text *t = PG_GETARG_TEXT_PP(n);
        data = VARDATA_ANY(t);
        len = VARSIZE_ANY_EXHDR(t);
    });
    return std::string(data, static_cast<std::size_t>(len));
}

std::string owner_arg(FunctionCallInfo fcinfo, int n)
{
    std::string owner = text_arg(fcinfo, n, "owner");
    if (auto bad = core::check_owner(owner))
        throw UserError(to_sqlstate(bad->problem), bad->message, bad->detail);
    return owner;
}

std::string secret_arg(FunctionCallInfo fcinfo, int n, const char *name, std::size_t max_bytes)
{
    std::string value = text_arg(fcinfo, n, name);
    if (auto bad = core::check_secret(name, value, max_bytes))
        throw UserError(to_sqlstate(bad->problem), bad->message, bad->detail);
    return value;
}

[[noreturn]] void throw_not_linked(const std::string &owner)
{
    throw UserError(ERRCODE_UNDEFINED_OBJECT, "owner \"" + owner + "\" is not linked",
                    {}, "Link it first with gcal_link(owner, refresh_token).");
}

// announce records an account-level change (NOTIFY and the change feed, at commit).
void announce(const std::string &owner, const char *op, const char *state)
{
    core::ChangeNotice notice;
    notice.owner = owner;
    notice.table = "account";
    notice.op = op;
    if (state)
        notice.state = state;
    record_change(std::move(notice));
}

// warn_if_other_database tells the caller that no worker serves this database.
void warn_if_other_database()
{
    pg_guard([]() {
        const char *here = get_database_name(MyDatabaseId);
        if (here && strcmp(here, database_name) != 0)
            ereport(WARNING,
                    (errmsg("the gcalsync worker serves database \"%s\", not \"%s\"", database_name, here),
                     errdetail("Owners linked here are not synced."), errhidestmt(true),
                     errhint("Set gcalsync.database_name = '%s' and restart the server, or link owners in database \"%s\".",
                             here, database_name)));
    });
}

// queue_channel_stops moves an owner's watch channels to the stop queue (the
// worker tells Google), because the owner goes away or its token changes.
// The queue keeps the link's refresh token, sealed anew for each channel. A
// token that cannot be opened (lost key) leaves the channel to expire.
void queue_channel_stops(Spi &spi, const std::string &owner)
{
    uint64_t n = spi.run(sql::kOwnerChannels, {owner});
    std::vector<std::array<std::string, 3>> stops;
    for (uint64_t i = 0; i < n; i++)
        stops.push_back({spi.get_text(i, 0).value_or(""), spi.get_text(i, 1).value_or(""),
                         spi.get_text(i, 2).value_or("")});
    for (auto &[channel_id, resource_id, sealed] : stops) {
        auto token = open_secret(sealed, core::refresh_token_aad(owner), nullptr);
        if (!token)
            continue;
        std::string resealed = seal_secret(*token, core::channel_stop_aad(channel_id));
        spi.run(sql::kStopChannel, {channel_id, resource_id, bytea_arg(resealed)});
    }
    spi.run(sql::kDeleteOwnerChannels, {owner});
}

}  // namespace

// gcal_set_client stores the OAuth client. Owners that failed permanently
// (e.g. invalid_client) get another chance with the new credentials.
GCAL_FUNCTION(gcal_set_client)
{
    std::string id = secret_arg(fcinfo, 0, "client id", core::kMaxClientFieldBytes);
    std::string secret = secret_arg(fcinfo, 1, "client secret", core::kMaxClientFieldBytes);
    lock_keys(false);  // before any row lock (see lock_keys)
    std::string sealed = seal_secret(secret, core::client_secret_aad(id));
    Spi spi;
    spi.run(sql::kSetClient, {id, bytea_arg(sealed)});
    spi.run(sql::kRetryFailedOwners);
    wake_worker_at_commit();
    PG_RETURN_VOID();
}

// gcal_link creates or replaces an owner's link: new token, new generation,
// state pending, sync tokens forgotten (a full sync follows; rows it does not
// return are marked deleted). Mirrored rows stay until then.
GCAL_FUNCTION(gcal_link)
{
    std::string owner = owner_arg(fcinfo, 0);
    std::string token = secret_arg(fcinfo, 1, "refresh token", core::kMaxTokenBytes);
    lock_keys(false);  // before any row lock (see lock_keys)
    Spi spi;
    if (spi.run(sql::kClientExists) == 0)
        throw UserError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "OAuth client is not configured", {},
                        "Call gcal_set_client(client_id, client_secret) first.");
    warn_if_other_database();
    std::string sealed = seal_secret(token, core::refresh_token_aad(owner));
    // The owner's row first (if it exists), then its channels: the order of
    // every transaction that writes an owner's rows (no deadlock with gcal_push).
    spi.run(sql::kLockOwner, {owner});
    queue_channel_stops(spi, owner);
    spi.run(sql::kLinkOwner, {owner, bytea_arg(sealed)});
    spi.run(sql::kForgetOwnerTokens, {owner});
    spi.run(sql::kResetOwnerCalendars, {owner});
    announce(owner, "state", "pending");
    wake_worker_at_commit();
    PG_RETURN_VOID();
}

// gcal_refresh replaces the refresh token of a linked owner and clears a
// revoked or error state; sync tokens are kept (the next sync is incremental).
GCAL_FUNCTION(gcal_refresh)
{
    std::string owner = owner_arg(fcinfo, 0);
    std::string token = secret_arg(fcinfo, 1, "refresh token", core::kMaxTokenBytes);
    lock_keys(false);  // before any row lock (see lock_keys)
    Spi spi;
    // Lock the row first: the channel stops must be queued with the old token.
    if (spi.run(sql::kLockOwner, {owner}) == 0)
        throw_not_linked(owner);
    queue_channel_stops(spi, owner);
    std::string sealed = seal_secret(token, core::refresh_token_aad(owner));
    // A new token is a new generation: work under way with the old one is
    // dropped instead of recording its outcome (say, invalid_grant) over this.
    spi.run(sql::kRefreshOwner, {owner, bytea_arg(sealed)});
    std::string state = spi.get_text(0, 0).value_or("pending");
    spi.run(sql::kResetOwnerCalendars, {owner});
    announce(owner, "state", state.c_str());
    wake_worker_at_commit();
    PG_RETURN_VOID();
}

// gcal_unlink deletes every row of the owner in every gcalsync table and
// queues its watch channels to be stopped. Unlinking an unknown owner is not
// an error (returns false), so it can be retried safely.
GCAL_FUNCTION(gcal_unlink)
{
    std::string owner = owner_arg(fcinfo, 0);
    lock_keys(false);  // it may seal channel stops; before any row lock (see lock_keys)
    Spi spi;
    bool linked = spi.run(sql::kLockOwner, {owner}) > 0;
    if (linked)
        queue_channel_stops(spi, owner);
    static const Statement *const kDeletes[] = {
        &sql::kUnlinkEvents,       &sql::kUnlinkCalendars,    &sql::kUnlinkCalendarList,   &sql::kUnlinkSyncTokens,
        &sql::kUnlinkCalendarSync, &sql::kDeleteOwnerChannels, &sql::kUnlinkOwner,
    };
    bool removed = linked;
    for (const Statement *stmt : kDeletes)
        removed |= spi.run(*stmt, {owner}) > 0;
    if (removed) {
        // The change feed keeps only the unlink itself of this owner.
        spi.run(sql::kUnlinkChanges, {owner});
        forget_changes(owner);
        announce(owner, "unlink", nullptr);
        wake_worker_at_commit();
    }
    PG_RETURN_BOOL(removed);
}

// gcal_resync forgets the sync tokens of one owner (NULL: every owner) so the
// next sync is full; rows it does not return are then marked deleted.
// Revoked or failed owners stay so until gcal_refresh.
GCAL_FUNCTION(gcal_resync)
{
    std::optional<std::string> owner;
    if (!PG_ARGISNULL(0))
        owner = owner_arg(fcinfo, 0);
    Spi spi;
    uint64_t owners = spi.run(sql::kResyncOwners, {owner});
    if (owner && owners == 0)
        throw_not_linked(*owner);
    spi.run(sql::kResyncTokens, {owner});
    spi.run(sql::kResyncCalendars, {owner});
    if (owners > 0)
        wake_worker_at_commit();
    PG_RETURN_INT32(static_cast<int32>(owners));
}

// gcal_sync_now asks for an incremental sync of all the owner's calendars now.
GCAL_FUNCTION(gcal_sync_now)
{
    std::string owner = owner_arg(fcinfo, 0);
    Spi spi;
    if (spi.run(sql::kSyncOwnerNow, {owner}) == 0)
        throw_not_linked(owner);
    spi.run(sql::kSyncCalendarsNow, {owner});
    wake_worker_at_commit();
    PG_RETURN_VOID();
}

namespace {

// timeout_arg reads an interval as milliseconds (NULL, negative or
// month-based intervals refused).
long timeout_ms_arg(FunctionCallInfo fcinfo, int n)
{
    if (PG_ARGISNULL(n))
        throw UserError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "timeout must not be NULL");
    Interval iv = *pg_guard([&]() { return PG_GETARG_INTERVAL_P(n); });
    if (iv.month != 0)
        throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "timeout must not be given in months or years",
                        "Use days, hours, minutes or seconds.");
    int64 us = iv.time + int64(iv.day) * USECS_PER_DAY;
    if (us < 0)
        throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "timeout must not be negative");
    return static_cast<long>(std::min<int64>(us / 1000, int64(24) * 3600 * 1000));
}

}  // namespace

namespace {

// look_at_owner is one look of gcal_wait / gcal_await at the owner's
// progress: the result once the work requested before the first look is done
// (true: the owner is healthy) or the owner is revoked, in error or unlinked
// (false); nullopt to wait on. The first look sets target, or refuses an
// owner that is not linked.
std::optional<bool> look_at_owner(Spi &spi, const std::string &owner, std::optional<int64_t> &target)
{
    // Each statement of a volatile function sees what committed before it.
    if (spi.run(sql::kOwnerProgress, {owner}) == 0) {
        if (!target)
            throw_not_linked(owner);
        return false;  // unlinked while waiting
    }
    std::string state = spi.get_text(0, 0).value_or("");
    int64_t requested = spi.get_int64(0, 1).value_or(0);
    int64_t completed = spi.get_int64(0, 2).value_or(0);
    if (!target)
        target = requested;
    // The result is copied out; free it now, or every wake-up of a
    // long wait would keep another one until the function returns.
    spi.free_result();
    if (completed >= *target)
        return state == "active";
    if (state == "revoked" || state == "error")
        return false;
    return std::nullopt;
}

TimestampTz deadline_after(long timeout_ms)
{
    return pg_guard([=]() { return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms); });
}

// sleep_for_round sleeps until an owner's round ends on cv (or a second
// passes, so a missed broadcast costs at most that); false if the deadline
// has passed instead.
bool sleep_for_round(ConditionVariable *cv, TimestampTz deadline)
{
    return pg_guard([=]() {
        long secs;
        int usecs;
        TimestampDifference(GetCurrentTimestamp(), deadline, &secs, &usecs);
        long left = secs * 1000 + usecs / 1000;
        if (left <= 0)
            return false;
        ConditionVariableTimedSleep(cv, std::min(left, 1000L), PG_WAIT_EXTENSION);
        return true;
    });
}

}  // namespace

// gcal_wait waits until the work requested for the owner before this call
// (link, refresh, resync, sync_now) is done. True if it is done and the owner
// is healthy; false on timeout, or once the owner is revoked or in error.
GCAL_FUNCTION(gcal_wait)
{
    std::string owner = owner_arg(fcinfo, 0);
    long timeout_ms = timeout_ms_arg(fcinfo, 1);
    if (wake_is_pending())
        throw UserError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                        "cannot wait for work requested in the same transaction",
                        "The worker sees the request only after this transaction commits.",
                        "Commit first, then call gcal_wait().");
    if (pg_guard([]() { return IsolationUsesXactSnapshot(); }))
        throw UserError(ERRCODE_ACTIVE_SQL_TRANSACTION, "gcal_wait requires the READ COMMITTED isolation level",
                        "At REPEATABLE READ or SERIALIZABLE the worker's progress would stay invisible.");
    const TimestampTz deadline = deadline_after(timeout_ms);

    Spi spi;
    std::optional<int64_t> target;
    std::optional<bool> result;
    ConditionVariable *cv = owner_done_cv(owner);
    pg_guard([=]() { ConditionVariablePrepareToSleep(cv); });
    try {
        while (!(result = look_at_owner(spi, owner, target)) && sleep_for_round(cv, deadline)) {
        }
    } catch (...) {
        pg_guard([]() { ConditionVariableCancelSleep(); });
        throw;
    }
    pg_guard([]() { ConditionVariableCancelSleep(); });
    PG_RETURN_BOOL(result.value_or(false));
}

// gcal_await is gcal_wait as a procedure that holds no snapshot while it
// sleeps (issue 13, item 6): each look at the owner's progress is a
// transaction of its own, committed before the next sleep, so a long wait
// neither pins the vacuum horizon (backend_xmin stays NULL) nor keeps memory
// per wake-up (each look's SPI connection, and its memory, ends with it).
// It commits, so it runs only in a non-atomic context: CALL outside a
// transaction block (or from a procedure so called); elsewhere it refuses.
// It is SECURITY INVOKER (a SECURITY DEFINER procedure, or one with a SET
// clause, may not commit): each look reads the owner's progress as the
// procedure's owner, as SECURITY DEFINER would, with Spi's pinned
// search_path; EXECUTE on it is what gates callers, as for gcal_wait.
GCAL_FUNCTION(gcal_await)
{
    auto *call = reinterpret_cast<CallContext *>(fcinfo->context);
    if (!call || !IsA(call, CallContext) || call->atomic)
        throw UserError(ERRCODE_INVALID_TRANSACTION_TERMINATION,
                        "gcal_await cannot run inside a transaction block or a function",
                        "It commits between looks at the owner, so that it holds no snapshot while it waits.",
                        "CALL it outside BEGIN ... COMMIT, or use gcal_wait() there.");
    std::string owner = owner_arg(fcinfo, 0);
    long timeout_ms = timeout_ms_arg(fcinfo, 1);
    const TimestampTz deadline = deadline_after(timeout_ms);
    const Oid definer = pg_guard([&]() {
        HeapTuple tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
        if (!HeapTupleIsValid(tuple))
            elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
        Oid proowner = reinterpret_cast<Form_pg_proc>(GETSTRUCT(tuple))->proowner;
        ReleaseSysCache(tuple);
        return proowner;
    });

    std::optional<int64_t> target;
    std::optional<bool> result;
    ConditionVariable *cv = owner_done_cv(owner);
    try {
        do {
            // Prepared before the look: a round that ends after it wakes the sleep.
            pg_guard([=]() { ConditionVariablePrepareToSleep(cv); });
            Oid caller;
            int context;
            pg_guard([&]() {
                GetUserIdAndSecContext(&caller, &context);
                SetUserIdAndSecContext(definer, context | SECURITY_LOCAL_USERID_CHANGE);
            });
            {
                Spi spi(Spi::kNonAtomic);
                result = look_at_owner(spi, owner, target);
                pg_guard([=]() { SetUserIdAndSecContext(caller, context); });
                // The look's snapshot is gone; commit ends the transaction
                // (and publishes whatever a calling procedure did before).
                if (!result)
                    spi.commit();
            }
        } while (!result && sleep_for_round(cv, deadline));
    } catch (...) {
        // (An ERROR's abort puts the caller's user id back.)
        pg_guard([]() { ConditionVariableCancelSleep(); });
        throw;
    }
    pg_guard([]() { ConditionVariableCancelSleep(); });

    // A procedure with an output argument returns a record of them.
    return pg_guard([&]() {
        TupleDesc desc;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            elog(ERROR, "gcal_await: return type must be a row type");
        desc = BlessTupleDesc(desc);
        Datum value = BoolGetDatum(result.value_or(false));
        bool isnull = false;
        return HeapTupleGetDatum(heap_form_tuple(desc, &value, &isnull));
    });
}

namespace {

// optional_text_arg reads a text argument that may be NULL.
std::optional<std::string> optional_text_arg(FunctionCallInfo fcinfo, int n)
{
    if (PG_ARGISNULL(n))
        return std::nullopt;
    return text_arg(fcinfo, n, "argument");
}

}  // namespace

// gcal_push takes a notification Google posted to the app's webhook (its
// X-Goog-* headers). A known channel with the right resource id and token
// schedules a sync of its resource and returns true; anything else returns
// false and changes nothing. The first message of a channel ("sync") and
// messages no newer than one already seen are acknowledged without work: the
// sync a newer message scheduled covers the older change too.
GCAL_FUNCTION(gcal_push)
{
    auto channel_id = optional_text_arg(fcinfo, 0);
    auto resource_id = optional_text_arg(fcinfo, 1);
    auto state = optional_text_arg(fcinfo, 2);
    auto token = optional_text_arg(fcinfo, 3);
    std::optional<int64_t> number;
    if (!PG_ARGISNULL(4))
        number = PG_GETARG_INT64(4);
    if (!channel_id || !resource_id || !state || channel_id->empty() || channel_id->size() > 256 ||
        (*state != "sync" && *state != "exists" && *state != "not_exists"))
        PG_RETURN_BOOL(false);

    Spi spi;
    // The owner's row is locked before the channel's (as gcal_refresh and
    // gcal_unlink do; the other order deadlocked with them), then the
    // channel is read again: it may have gone meanwhile.
    if (spi.run(sql::kPushChannelOwner, {*channel_id}) == 0)
        PG_RETURN_BOOL(false);
    std::string channel_owner = spi.get_text(0, 0).value_or("");
    spi.run(sql::kPushLockOwner, {channel_owner});
    if (spi.run(sql::kPushChannel, {*channel_id}) == 0)
        PG_RETURN_BOOL(false);
    std::string owner = spi.get_text(0, 0).value_or("");
    if (owner != channel_owner)
        PG_RETURN_BOOL(false);  // (channel ids are unique: cannot happen)
    std::string kind = spi.get_text(0, 1).value_or("");
    std::string calendar_id = spi.get_text(0, 2).value_or("");
    std::string known_resource = spi.get_text(0, 3).value_or("");
    std::string known = spi.get_text(0, 4).value_or("");  // SHA-256 of the token, hex (1.0: the token)
    std::optional<int64_t> last = spi.get_int64(0, 5);
    // A schema still at 1.0 (this library before ALTER EXTENSION UPDATE)
    // holds the token in clear: compared in clear, in constant time. Read
    // after the owner's row lock: an update in progress (it alters
    // gcalsync.owner) has committed by then, and hashed the row read above.
    bool v10 = spi.run(sql::kExtensionVersion) > 0 && spi.get_text(0, 0).value_or("") == "1.0";
    bool token_ok = token && !token->empty() &&
                    core::tokens_equal(v10 ? *token : core::channel_token_hash(*token), known);
    if (!core::tokens_equal(*resource_id, known_resource) || !token_ok)
        PG_RETURN_BOOL(false);

    bool stale = number && last && *number <= *last;
    if (number && !stale)
        spi.run(sql::kPushMessageNumber, {*channel_id, *number});
    if (*state == "sync" || stale)
        PG_RETURN_BOOL(true);

    // A change of the calendar list, or a calendar that no longer exists,
    // is found by listing the calendar list; a change of events by listing
    // that calendar's events.
    if (kind == "calendar_list" || *state == "not_exists")
        spi.run(sql::kPushOwner, {owner});
    if (kind == "events")
        spi.run(sql::kPushCalendar, {owner, calendar_id});
    wake_worker_at_commit();
    PG_RETURN_BOOL(true);
}

// gcal_rotate_key puts a new key in front of the key file and seals every
// stored secret again with it. The old keys stay in the file, so a failure
// half way leaves everything readable; once this has committed they may be
// deleted from the file. A secret that cannot be opened is reported and left.
GCAL_FUNCTION(gcal_rotate_key)
{
    std::string key_id = add_new_key();
    struct Kind {
        const Statement &select, &update;
        std::string (*aad)(std::string_view);
        const char *what;
    };
    static const Kind kinds[] = {
        {sql::kRefreshTokens, sql::kResealRefreshToken, core::refresh_token_aad, "refresh token of owner"},
        {sql::kClientSecrets, sql::kResealClientSecret, core::client_secret_aad, "client secret of client"},
        {sql::kStopTokens, sql::kResealStopToken, core::channel_stop_aad, "refresh token of channel"},
    };
    int64_t resealed = 0;
    Spi spi;
    for (const Kind &k : kinds) {
        uint64_t n = spi.run(k.select);
        std::vector<std::pair<std::string, std::string>> rows;
        for (uint64_t i = 0; i < n; i++)
            rows.emplace_back(spi.get_text(i, 0).value_or(""), spi.get_text(i, 1).value_or(""));
        for (auto &[key, sealed] : rows) {
            std::string why;
            auto plain = open_secret(sealed, k.aad(key), &why);
            if (!plain) {
                std::string msg = core::log_safe(std::string("could not re-encrypt the ") + k.what + " \"" + key + "\"");
                why = core::log_safe(why);
                pg_guard([&]() {
                    ereport(WARNING, (errmsg("%s", msg.c_str()), errdetail("%s", why.c_str()), errhidestmt(true)));
                });
                continue;
            }
            std::string fresh = seal_secret(*plain, k.aad(key));
            spi.run(k.update, {key, bytea_arg(fresh)});
            resealed++;
        }
    }
    pg_guard([&]() {
        ereport(NOTICE, (errmsg("gcalsync re-encrypted %lld secrets with new key %s", (long long) resealed,
                                key_id.c_str()),
                         errhint("After this transaction commits, older keys may be removed from %s "
                                 "(see gcal_key_usage()).",
                                 key_source().c_str()),
                         errhidestmt(true)));
    });
    PG_RETURN_INT64(resealed);
}

}  // namespace gcal::pg

// gcal_outbox_wake (gcalsync.outbox_wake()): the write functions of the
// outbox (gcal_insert_event, ...) wake the worker when their transaction
// commits, once however many writes it queued.
GCAL_FUNCTION(gcal_outbox_wake)
{
    gcal::pg::wake_worker_at_commit();
    PG_RETURN_VOID();
}
