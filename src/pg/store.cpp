// store.cpp — SpiStore: how synced data reaches the tables (README: Tables, How syncing works).
//
// Each page write runs in its own transaction and first locks the owner's row
// (FOR SHARE) and checks the link generation, so a page fetched before a
// gcal_unlink or gcal_link of that owner never resurrects or mixes rows: the
// unlink waits for the page's commit, or the page sees the new generation and
// is dropped. The schedule writes at the end of a round check the generation
// in their statements and move a calendar's schedule only if nobody else
// moved it meanwhile. Rows go in with one statement per page (unnest of column
// arrays), typed values built in C++ so PostgreSQL parses only the jsonb.
#include "pg/store.hpp"

#include "pg/changes.hpp"
#include "pg/module.hpp"
#include "pg/secrets.hpp"

extern "C" {
#include "commands/extension.h"
#include "datatype/timestamp.h"
#include "storage/condition_variable.h"
#include "utils/array.h"
#include "utils/date.h"
}

#include <unordered_set>

namespace gcal::pg {

using core::Micros;

namespace {

constexpr int64 kUnixToPostgresMicros =
    int64(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
constexpr int32 kUnixToPostgresDays = POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE;

// ---- column arrays --------------------------------------------------------------

using TimeColumn = std::vector<std::optional<Micros>>;
using DateColumn = std::vector<std::optional<core::Days>>;
using IntColumn = std::vector<std::optional<int32_t>>;
using BoolColumn = std::vector<char>;

Datum timestamptz_array(const void *p)
{
    return make_array(*static_cast<const TimeColumn *>(p), TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL,
                      TYPALIGN_DOUBLE, [](const std::optional<Micros> &t, Datum *d) {
                          if (!t)
                              return false;
                          *d = TimestampTzGetDatum(to_timestamptz(*t));
                          return true;
                      });
}

Datum date_array(const void *p)
{
    return make_array(*static_cast<const DateColumn *>(p), DATEOID, 4, true, TYPALIGN_INT,
                      [](const std::optional<core::Days> &v, Datum *d) {
                          if (!v)
                              return false;
                          *d = DateADTGetDatum(*v - kUnixToPostgresDays);
                          return true;
                      });
}

Datum int4_array(const void *p)
{
    return make_array(*static_cast<const IntColumn *>(p), INT4OID, 4, true, TYPALIGN_INT,
                      [](const std::optional<int32_t> &v, Datum *d) {
                          if (!v)
                              return false;
                          *d = Int32GetDatum(*v);
                          return true;
                      });
}

Datum bool_array(const void *p)
{
    return make_array(*static_cast<const BoolColumn *>(p), BOOLOID, 1, true, TYPALIGN_CHAR,
                      [](char v, Datum *d) {
                          *d = BoolGetDatum(v != 0);
                          return true;
                      });
}

Datum timestamptz_value(const void *p)
{
    return TimestampTzGetDatum(to_timestamptz(*static_cast<const Micros *>(p)));
}

SqlArg arg(const TextColumn &c) { return text_array_arg(c); }
SqlArg arg(const TimeColumn &c) { return SqlArg(TIMESTAMPTZARRAYOID, timestamptz_array, &c); }
SqlArg date_arg(const DateColumn &c) { return SqlArg(DATEARRAYOID, date_array, &c); }
SqlArg arg(const IntColumn &c) { return SqlArg(INT4ARRAYOID, int4_array, &c); }
SqlArg arg(const BoolColumn &c) { return SqlArg(BOOLARRAYOID, bool_array, &c); }
SqlArg time_arg(const Micros &t) { return SqlArg(TIMESTAMPTZOID, timestamptz_value, &t); }

const std::string *opt(const core::OptText &v) { return v ? &*v : nullptr; }

// last_of_each keeps, for items sharing a key, only the last one: a page
// naming an id twice must not fail the upsert ("cannot affect row a second time").
template <typename Item, typename Key>
std::vector<const Item *> last_of_each(const std::vector<Item> &items, Key key)
{
    std::vector<const Item *> out;
    out.reserve(items.size());
    std::unordered_set<std::string_view> seen;
    for (auto it = items.rbegin(); it != items.rend(); ++it)
        if (seen.insert(key(*it)).second)
            out.push_back(&*it);
    std::reverse(out.begin(), out.end());
    return out;
}

// extension_installed is false between DROP EXTENSION and CREATE EXTENSION:
// the worker then has nothing to serve (call inside a transaction).
bool extension_installed()
{
    return pg_guard([]() { return OidIsValid(get_extension_oid("gcalsync", true)); });
}

const char *kind_of(core::Resource r) { return r == core::Resource::CalendarList ? "calendar_list" : "events"; }

const std::string &params_of(core::Resource r)
{
    static const std::string list = core::params_key(core::calendar_list_params());
    static const std::string events = core::params_key(core::events_params());
    return r == core::Resource::CalendarList ? list : events;
}

void record_ids(const std::string &owner, const char *table, const std::string &calendar_id,
                const char *op, std::vector<std::string> ids)
{
    if (ids.empty())
        return;
    core::ChangeNotice n;
    n.owner = owner;
    n.table = table;
    n.calendar_id = calendar_id;
    n.op = op;
    n.ids = std::move(ids);
    record_change(std::move(n));
}

// lock_link locks the owner's row against unlink/relink until commit and
// says whether it still is the link the work was done for: same generation
// (no gcal_link or gcal_refresh since), and no gcal_resync since — a page of
// the listing that a resync replaced must not put its old token back.
bool lock_link(Spi &spi, const core::OwnerLink &link)
{
    static const char *const kSql =
        "SELECT generation, resync_requested_at FROM gcalsync.owner WHERE owner = $1 FOR SHARE";
    if (spi.exec_prepared(kSql, {link.owner}, SPI_OK_SELECT) == 0)
        return false;
    return spi.get_int64(0, 0) == link.generation && spi.get_int64(0, 1).value_or(0) == link.resync_mark;
}

std::vector<std::string> column_texts(Spi &spi, uint64_t rows)
{
    std::vector<std::string> out;
    out.reserve(rows);
    for (uint64_t i = 0; i < rows; i++)
        out.push_back(spi.get_text(i, 0).value_or(""));
    return out;
}

// save_step records a page's progress: the next page token, or (on the last
// page) the new sync token. The first page of a full listing notes when it
// began, for the sweep of what it does not return.
void save_step(Spi &spi, const core::OwnerLink &link, core::Resource r, const std::string &calendar_id,
               const core::PageStep &step)
{
    static const char *const kSql =
        "INSERT INTO gcalsync.sync_token AS t (owner, kind, calendar_id, params, sync_token, page_token, "
        "full_sync_started_at, updated_at) "
        "VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''), CASE WHEN $7 THEN now() END, now()) "
        "ON CONFLICT (owner, kind, calendar_id, params) DO UPDATE SET "
        "sync_token = CASE WHEN $5 <> '' THEN $5 ELSE t.sync_token END, "
        "page_token = NULLIF($6, ''), "
        "full_sync_started_at = CASE WHEN $5 <> '' THEN NULL WHEN $7 THEN now() ELSE t.full_sync_started_at END, "
        "updated_at = now()";
    bool starts_full = step.first && step.next_sync_token.empty();
    spi.exec_prepared(kSql,
                      {link.owner, kind_of(r), calendar_id, params_of(r), step.next_sync_token,
                       step.next_page_token, starts_full},
                      SPI_OK_INSERT);
}

// record_full_sync_progress counts a page of a full listing in the owner's
// full-sync progress (gcalsync.status: full_sync_*), committed with the page
// so another session sees it move. A page starts the counts anew when it
// begins a new full sync: the first page after gcal_link or gcal_resync, or
// the first page of a listing once the previous full sync had finished (a
// 410, a new calendar). The last page of the owner's last incomplete listing
// finishes it. Runs after save_step (this listing's token is in place).
void record_full_sync_progress(Spi &spi, const core::OwnerLink &link, const core::PageStep &step, int64_t events)
{
    static const char *const kSql =
        "WITH f AS (SELECT o.full_sync_started_at IS NULL "
        "    OR o.full_sync_started_at < greatest(o.linked_at, o.resync_requested_at) "
        "    OR ($2 AND o.full_sync_finished_at IS NOT NULL) AS fresh "
        "  FROM gcalsync.owner o WHERE o.owner = $1), "
        "d AS (SELECT $3 AND NOT EXISTS (SELECT 1 FROM gcalsync.calendar_sync c "
        "    WHERE c.owner = $1 AND c.enabled AND NOT EXISTS (SELECT 1 FROM gcalsync.sync_token t "
        "      WHERE t.owner = $1 AND t.kind = 'events' AND t.calendar_id = c.calendar_id "
        "      AND t.sync_token IS NOT NULL)) "
        "  AND EXISTS (SELECT 1 FROM gcalsync.sync_token t WHERE t.owner = $1 AND t.kind = 'calendar_list' "
        "    AND t.sync_token IS NOT NULL) AS complete) "
        "UPDATE gcalsync.owner o SET "
        "full_sync_started_at = CASE WHEN f.fresh THEN now() ELSE o.full_sync_started_at END, "
        "full_sync_pages = CASE WHEN f.fresh THEN 0 ELSE o.full_sync_pages END + 1, "
        "full_sync_events = CASE WHEN f.fresh THEN 0 ELSE o.full_sync_events END + $4, "
        "full_sync_finished_at = CASE WHEN d.complete THEN now() WHEN f.fresh THEN NULL "
        "  ELSE o.full_sync_finished_at END "
        "FROM f, d WHERE o.owner = $1";
    spi.exec_prepared(kSql, {link.owner, step.first, !step.next_sync_token.empty(), events}, SPI_OK_UPDATE);
}

// run_alone runs one statement in a transaction of its own; `schedule`:
// the statement only moves the worker's bookkeeping (Transaction::commit_schedule).
void run_alone(const char *activity, const char *sql, const std::vector<SqlArg> &args, int expected,
               bool schedule = false)
{
    Transaction xact(activity);
    {
        Spi spi;
        spi.exec_prepared(sql, args, expected);
    }
    if (schedule)
        xact.commit_schedule();
    else
        xact.commit();
}

// texts_alone runs one query in a transaction of its own and returns its
// first column.
std::vector<std::string> texts_alone(const char *activity, const char *sql, const std::vector<SqlArg> &args)
{
    Transaction xact(activity);
    std::vector<std::string> out;
    {
        Spi spi;
        out = column_texts(spi, spi.exec_prepared(sql, args, SPI_OK_SELECT));
    }
    xact.commit();
    return out;
}

// write_calendars_synced records completed calendar listings: their next
// check moves to next_at where the schedule still holds what the round read
// (a push, gcal_sync_now or gcal_resync meanwhile keeps it due), for the
// link the round was made for only.
void write_calendars_synced(Spi &spi, const core::OwnerLink &link, const std::vector<core::CalendarDone> &calendars)
{
    static const char *const kSql =
        "UPDATE gcalsync.calendar_sync c SET last_sync_at = now(), failures = 0, last_error = NULL, "
        "next_sync_at = CASE WHEN c.next_sync_at = u.seen THEN u.next_at ELSE c.next_sync_at END "
        "FROM unnest($2::text[], $3::timestamptz[], $4::timestamptz[]) AS u(id, seen, next_at) "
        "WHERE c.owner = $1 AND c.calendar_id = u.id "
        "AND EXISTS (SELECT 1 FROM gcalsync.owner o WHERE o.owner = $1 AND o.generation = $5)";
    if (calendars.empty())
        return;
    TextColumn ids;
    TimeColumn seen, next;
    for (const auto &c : calendars) {
        ids.push_back(&c.calendar_id);
        seen.push_back(c.seen);
        next.push_back(c.next_at);
    }
    spi.exec_prepared(kSql, {link.owner, arg(ids), arg(seen), arg(next), link.generation}, SPI_OK_UPDATE);
}

}  // namespace

core::Micros now_micros()
{
    return from_timestamptz(GetCurrentTimestamp());
}

TimestampTz to_timestamptz(core::Micros t)
{
    return t - kUnixToPostgresMicros;
}

core::Micros from_timestamptz(TimestampTz t)
{
    return t + kUnixToPostgresMicros;
}

void wake_waiters()
{
    pg_guard([]() { ConditionVariableBroadcast(&shared->owner_done); });
}

std::vector<core::OwnerLink> SpiStore::due_owners(std::size_t limit,
                                                  const std::function<bool(const std::string &)> &busy)
{
    static const char *const kSql =
        // Owners with work requested (gcal_sync_now, gcal_link, ...), then the
        // most overdue owners, then owners with a calendar due: each part walks
        // a partial index on next_sync_at and stops after $1 rows (the
        // calendars' after 4 x $1), so the cost does not grow with the number
        // of owners or of what is due. (Calendars of owners that are not
        // active, e.g. revoked, stay "due" and are read and discarded.)
        "WITH due AS ("
        "  (SELECT owner FROM gcalsync.owner WHERE state IN ('pending', 'active', 'backoff') "
        "   AND requested_seq > completed_seq AND next_sync_at <= now() ORDER BY next_sync_at LIMIT $1) "
        "  UNION "
        "  (SELECT owner FROM gcalsync.owner WHERE state IN ('pending', 'active', 'backoff') "
        "   AND next_sync_at <= now() ORDER BY next_sync_at LIMIT $1) "
        "  UNION "
        "  (SELECT owner FROM (SELECT c.owner, c.next_sync_at FROM gcalsync.calendar_sync c "
        "     WHERE c.enabled AND c.next_sync_at <= now() "
        "     AND EXISTS (SELECT 1 FROM gcalsync.owner a WHERE a.owner = c.owner AND a.state = 'active') "
        "     ORDER BY c.next_sync_at LIMIT $1 * 4) AS cal "
        "   GROUP BY owner ORDER BY min(next_sync_at) LIMIT $1)) "
        "SELECT o.owner, o.generation, o.refresh_token, o.state, o.failures, o.requested_seq, "
        "       o.next_sync_at <= now(), o.resync_requested_at "
        "FROM due JOIN gcalsync.owner o USING (owner) "
        "WHERE o.state IN ('pending', 'active', 'backoff') AND (o.next_sync_at <= now() OR o.state = 'active') "
        "ORDER BY o.requested_seq > o.completed_seq DESC, o.next_sync_at LIMIT $1";
    Transaction xact("gcalsync: reading the schedule");
    std::vector<core::OwnerLink> out;
    std::vector<std::pair<core::OwnerLink, std::string>> unreadable;
    if (extension_installed()) {
        Spi spi;
        uint64_t n = spi.exec_prepared(kSql, {static_cast<int64_t>(limit)}, SPI_OK_SELECT);
        out.reserve(n);
        for (uint64_t i = 0; i < n; i++) {
            core::OwnerLink l;
            l.owner = spi.get_text(i, 0).value_or("");
            if (busy && busy(l.owner))
                continue;  // its round is running: no need to open its token
            l.generation = spi.get_int64(i, 1).value_or(0);
            std::string why;
            auto token = open_secret(spi.get_text(i, 2).value_or(""), core::refresh_token_aad(l.owner), &why);
            if (!token) {
                unreadable.emplace_back(std::move(l), "cannot decrypt the refresh token: " + why);
                continue;
            }
            l.refresh_token = std::move(*token);
            l.state = core::owner_state_from(spi.get_text(i, 3).value_or("")).value_or(core::OwnerState::Error);
            l.failures = static_cast<int>(spi.get_int64(i, 4).value_or(0));
            l.requested_seq = spi.get_int64(i, 5).value_or(0);
            l.list_due = spi.get_bool(i, 6).value_or(true);
            l.resync_mark = spi.get_int64(i, 7).value_or(0);
            out.push_back(std::move(l));
        }
    }
    xact.commit();
    // An owner whose token cannot be opened (missing or wrong key) is in
    // error until the key is back (then gcal_refresh) — never retried blindly.
    for (auto &[link, why] : unreadable)
        owner_failed(link, core::OwnerState::Error, why, now_micros());
    return out;
}

std::optional<core::Micros> SpiStore::next_due()
{
    static const char *const kSql =
        "SELECT least((SELECT min(next_sync_at) FROM gcalsync.owner "
        "              WHERE state IN ('pending', 'active', 'backoff')), "
        "             (SELECT c.next_sync_at FROM gcalsync.calendar_sync c WHERE c.enabled "
        "              AND EXISTS (SELECT 1 FROM gcalsync.owner o WHERE o.owner = c.owner AND o.state = 'active') "
        "              ORDER BY c.next_sync_at LIMIT 1))";
    Transaction xact("gcalsync: reading the schedule");
    std::optional<Micros> out;
    if (extension_installed()) {
        Spi spi;
        spi.exec_prepared(kSql, {}, SPI_OK_SELECT);
        if (auto t = spi.get_int64(0, 0))
            out = from_timestamptz(*t);
    }
    xact.commit();
    return out;
}

std::optional<core::Credentials> SpiStore::credentials()
{
    Transaction xact("gcalsync: reading the OAuth client");
    std::optional<core::Credentials> out;
    {
        Spi spi;
        if (spi.exec_prepared("SELECT client_id, client_secret FROM gcalsync.client", {}, SPI_OK_SELECT) > 0) {
            core::Credentials c;
            c.client_id = spi.get_text(0, 0).value_or("");
            std::string why;
            auto secret = open_secret(spi.get_text(0, 1).value_or(""), core::client_secret_aad(c.client_id), &why);
            if (secret)
                c.client_secret = std::move(*secret);
            else
                c.error = "cannot decrypt the OAuth client secret: " + why;
            out = std::move(c);
        }
    }
    xact.commit();
    return out;
}

std::vector<core::DueCalendar> SpiStore::due_calendars(const core::OwnerLink &link, Micros due_by)
{
    static const char *const kSql =
        "SELECT calendar_id, next_sync_at FROM gcalsync.calendar_sync "
        "WHERE owner = $1 AND enabled AND next_sync_at <= greatest(now(), $2) ORDER BY calendar_id";
    Transaction xact("gcalsync: reading the schedule");
    std::vector<core::DueCalendar> out;
    {
        Spi spi;
        uint64_t n = spi.exec_prepared(kSql, {link.owner, time_arg(due_by)}, SPI_OK_SELECT);
        out.reserve(n);
        for (uint64_t i = 0; i < n; i++)
            out.push_back(core::DueCalendar{spi.get_text(i, 0).value_or(""),
                                            from_timestamptz(spi.get_int64(i, 1).value_or(0))});
    }
    xact.commit();
    return out;
}

core::Cursor SpiStore::cursor(const core::OwnerLink &link, core::Resource r, const std::string &calendar_id)
{
    static const char *const kSql =
        "SELECT sync_token, page_token FROM gcalsync.sync_token "
        "WHERE owner = $1 AND kind = $2 AND calendar_id = $3 AND params = $4";
    Transaction xact("gcalsync: reading sync tokens");
    core::Cursor c;
    {
        Spi spi;
        if (spi.exec_prepared(kSql, {link.owner, kind_of(r), calendar_id, params_of(r)}, SPI_OK_SELECT) > 0) {
            c.sync_token = spi.get_text(0, 0).value_or("");
            c.page_token = spi.get_text(0, 1).value_or("");
        }
    }
    xact.commit();
    return c;
}

void SpiStore::reset_cursor(const core::OwnerLink &link, core::Resource r, const std::string &calendar_id)
{
    static const char *const kSql =
        "UPDATE gcalsync.sync_token SET sync_token = NULL, page_token = NULL, "
        "full_sync_started_at = NULL, updated_at = now() "
        "WHERE owner = $1 AND kind = $2 AND calendar_id = $3 AND params = $4";
    run_alone("gcalsync: full sync required", kSql, {link.owner, kind_of(r), calendar_id, params_of(r)},
              SPI_OK_UPDATE);
}

bool SpiStore::write_calendar_list(const core::OwnerLink &link, const core::CalendarListPage &page,
                                   const core::PageStep &step)
{
    static const char *const kUpsert =
        "INSERT INTO gcalsync.calendar_list AS l (owner, calendar_id, summary, summary_override, description, "
        "location, time_zone, access_role, is_primary, hidden, selected, deleted, color_id, background_color, "
        "foreground_color, data, synced_at) "
        "SELECT $1, u.id, u.summary, u.summary_override, u.description, u.location, u.time_zone, u.access_role, "
        "u.is_primary, u.hidden, u.selected, u.deleted, u.color_id, u.background_color, u.foreground_color, "
        "u.data::jsonb, now() "
        "FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], "
        "$9::bool[], $10::bool[], $11::bool[], $12::bool[], $13::text[], $14::text[], $15::text[], $16::text[]) "
        "AS u(id, summary, summary_override, description, location, time_zone, access_role, is_primary, hidden, "
        "selected, deleted, color_id, background_color, foreground_color, data) "
        "ON CONFLICT (owner, calendar_id) DO UPDATE SET summary = excluded.summary, "
        "summary_override = excluded.summary_override, description = excluded.description, "
        "location = excluded.location, time_zone = excluded.time_zone, access_role = excluded.access_role, "
        "is_primary = excluded.is_primary, hidden = excluded.hidden, selected = excluded.selected, "
        "deleted = excluded.deleted, color_id = excluded.color_id, background_color = excluded.background_color, "
        "foreground_color = excluded.foreground_color, data = excluded.data, synced_at = excluded.synced_at";
    // New calendars are due at once; a calendar coming back from deletion too.
    static const char *const kSchedule =
        "INSERT INTO gcalsync.calendar_sync AS c (owner, calendar_id, enabled, next_sync_at) "
        "SELECT $1, u.id, NOT u.deleted, now() FROM unnest($2::text[], $3::bool[]) AS u(id, deleted) "
        "ON CONFLICT (owner, calendar_id) DO UPDATE SET enabled = excluded.enabled, "
        "next_sync_at = CASE WHEN excluded.enabled AND NOT c.enabled THEN now() ELSE c.next_sync_at END";
    // What a complete full listing did not return was deleted meanwhile.
    static const char *const kSweep =
        "WITH gone AS (UPDATE gcalsync.calendar_list SET deleted = true, "
        "  data = data || '{\"deleted\": true}'::jsonb, synced_at = now() "
        "  WHERE owner = $1 AND NOT deleted AND (synced_at IS NULL OR synced_at < coalesce("
        "    (SELECT full_sync_started_at FROM gcalsync.sync_token "
        "     WHERE owner = $1 AND kind = 'calendar_list' AND calendar_id = '' AND params = $2), now())) "
        "  RETURNING calendar_id), "
        "off AS (UPDATE gcalsync.calendar_sync c SET enabled = false FROM gone "
        "  WHERE c.owner = $1 AND c.calendar_id = gone.calendar_id) "
        "SELECT calendar_id FROM gone";

    Transaction xact("gcalsync: writing a calendar list page");
    std::size_t upserts = 0, tombstones = 0;
    {
        Spi spi;
        if (!lock_link(spi, link))
            return false;
        auto rows = last_of_each(page.items, [](const core::CalendarListEntry &e) -> std::string_view {
            return e.calendar_id;
        });
        const std::size_t n = rows.size();
        TextColumn id, summary, summary_override, description, location, time_zone, access_role, color_id,
            background_color, foreground_color, data;
        BoolColumn is_primary, hidden, selected, deleted;
        for (auto *c : {&id, &summary, &summary_override, &description, &location, &time_zone, &access_role,
                        &color_id, &background_color, &foreground_color, &data})
            c->reserve(n);
        std::vector<std::string> upserted, removed;
        for (const auto *e : rows) {
            id.push_back(&e->calendar_id);
            summary.push_back(opt(e->summary));
            summary_override.push_back(opt(e->summary_override));
            description.push_back(opt(e->description));
            location.push_back(opt(e->location));
            time_zone.push_back(opt(e->time_zone));
            access_role.push_back(opt(e->access_role));
            is_primary.push_back(e->is_primary);
            hidden.push_back(e->hidden);
            selected.push_back(e->selected);
            deleted.push_back(e->deleted);
            color_id.push_back(opt(e->color_id));
            background_color.push_back(opt(e->background_color));
            foreground_color.push_back(opt(e->foreground_color));
            data.push_back(&e->data);
            (e->deleted ? removed : upserted).push_back(e->calendar_id);
        }
        if (n > 0) {
            spi.exec_prepared(kUpsert,
                              {link.owner, arg(id), arg(summary), arg(summary_override), arg(description),
                               arg(location), arg(time_zone), arg(access_role), arg(is_primary), arg(hidden),
                               arg(selected), arg(deleted), arg(color_id), arg(background_color),
                               arg(foreground_color), arg(data)},
                              SPI_OK_INSERT);
            spi.exec_prepared(kSchedule, {link.owner, arg(id), arg(deleted)}, SPI_OK_INSERT);
        }
        if (step.full && !step.next_sync_token.empty()) {
            uint64_t swept = spi.exec_prepared(kSweep, {link.owner, params_of(core::Resource::CalendarList)},
                                               SPI_OK_SELECT);
            auto gone = column_texts(spi, swept);
            removed.insert(removed.end(), gone.begin(), gone.end());
        }
        save_step(spi, link, core::Resource::CalendarList, "", step);
        if (metrics_ && step.full)
            record_full_sync_progress(spi, link, step, 0);
        upserts = upserted.size();
        tombstones = removed.size();
        record_ids(link.owner, "calendar_list", "", "upsert", std::move(upserted));
        record_ids(link.owner, "calendar_list", "", "delete", std::move(removed));
    }
    xact.commit();
    count_rows(upserts, tombstones);
    return true;
}

bool SpiStore::write_calendar(const core::OwnerLink &link, const core::CalendarResource &cal)
{
    static const char *const kSql =
        "INSERT INTO gcalsync.calendar (owner, calendar_id, summary, description, location, time_zone, data, "
        "synced_at) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, now()) "
        "ON CONFLICT (owner, calendar_id) DO UPDATE SET summary = excluded.summary, "
        "description = excluded.description, location = excluded.location, time_zone = excluded.time_zone, "
        "data = excluded.data, synced_at = excluded.synced_at";
    Transaction xact("gcalsync: writing a calendar");
    {
        Spi spi;
        if (!lock_link(spi, link))
            return false;
        spi.exec_prepared(kSql,
                          {link.owner, cal.calendar_id, cal.summary, cal.description, cal.location, cal.time_zone,
                           cal.data},
                          SPI_OK_INSERT);
        record_ids(link.owner, "calendar", "", "upsert", {cal.calendar_id});
    }
    xact.commit();
    count_rows(1, 0);
    return true;
}

// The events INSERT of a page, without and (kUpsert) with ON CONFLICT (one
// text: a string literal macro, because exec_prepared keys plans by address).
#define GCAL_EVENTS_INSERT \
    "INSERT INTO gcalsync.event AS e (owner, calendar_id, event_id, status, summary, description, location, " \
    "start_at, end_at, start_date, end_date, time_zone, recurrence, recurring_event_id, original_start_at, " \
    "original_start_date, ical_uid, sequence, event_type, transparency, visibility, organizer_email, " \
    "creator_email, html_link, created, updated, data, synced_at) " \
    "SELECT $1, $2, u.id, u.status, u.summary, u.description, u.location, u.start_at, u.end_at, u.start_date, " \
    "u.end_date, u.time_zone, " \
    "CASE WHEN u.recurrence IS NOT NULL THEN " \
    "  ARRAY(SELECT jsonb_array_elements_text(u.recurrence::jsonb)) END, " \
    "u.recurring_event_id, u.original_start_at, u.original_start_date, u.ical_uid, u.sequence, u.event_type, " \
    "u.transparency, u.visibility, u.organizer_email, u.creator_email, u.html_link, u.created, u.updated, " \
    "u.data::jsonb, now() " \
    "FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], " \
    "$9::timestamptz[], $10::date[], $11::date[], $12::text[], $13::text[], $14::text[], $15::timestamptz[], " \
    "$16::date[], $17::text[], $18::int4[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], " \
    "$24::text[], $25::timestamptz[], $26::timestamptz[], $27::text[]) " \
    "AS u(id, status, summary, description, location, start_at, end_at, start_date, end_date, time_zone, " \
    "recurrence, recurring_event_id, original_start_at, original_start_date, ical_uid, sequence, event_type, " \
    "transparency, visibility, organizer_email, creator_email, html_link, created, updated, data) "

bool SpiStore::write_events(const core::OwnerLink &link, const std::string &calendar_id,
                            const core::EventsPage &page, const core::PageStep &step)
{
    // kInsert is kUpsert without ON CONFLICT (see below).
    static const char *const kInsert = GCAL_EVENTS_INSERT;
    static const char *const kUpsert =
        GCAL_EVENTS_INSERT
        "ON CONFLICT (owner, calendar_id, event_id) DO UPDATE SET status = excluded.status, "
        "summary = excluded.summary, description = excluded.description, location = excluded.location, "
        "start_at = excluded.start_at, end_at = excluded.end_at, start_date = excluded.start_date, "
        "end_date = excluded.end_date, time_zone = excluded.time_zone, recurrence = excluded.recurrence, "
        "recurring_event_id = excluded.recurring_event_id, original_start_at = excluded.original_start_at, "
        "original_start_date = excluded.original_start_date, ical_uid = excluded.ical_uid, "
        "sequence = excluded.sequence, event_type = excluded.event_type, transparency = excluded.transparency, "
        "visibility = excluded.visibility, organizer_email = excluded.organizer_email, "
        "creator_email = excluded.creator_email, html_link = excluded.html_link, created = excluded.created, "
        "updated = excluded.updated, data = excluded.data, synced_at = excluded.synced_at";
    // What a complete full listing did not return was deleted meanwhile.
    static const char *const kSweep =
        "UPDATE gcalsync.event SET status = 'cancelled', data = data || '{\"status\": \"cancelled\"}'::jsonb, "
        "synced_at = now() "
        "WHERE owner = $1 AND calendar_id = $2 AND status <> 'cancelled' "
        "AND (synced_at IS NULL OR synced_at < coalesce((SELECT full_sync_started_at FROM gcalsync.sync_token "
        "  WHERE owner = $1 AND kind = 'events' AND calendar_id = $2 AND params = $3), now())) "
        "RETURNING event_id";

    Transaction xact("gcalsync: writing an events page");
    std::size_t upserts = 0, tombstones = 0;
    {
        Spi spi;
        if (!lock_link(spi, link))
            return false;
        auto rows = last_of_each(page.items, [](const core::EventRow &e) -> std::string_view { return e.event_id; });
        const std::size_t n = rows.size();
        TextColumn id, status, summary, description, location, time_zone, recurrence, recurring_event_id, ical_uid,
            event_type, transparency, visibility, organizer_email, creator_email, html_link, data;
        TimeColumn start_at, end_at, original_start_at, created, updated;
        DateColumn start_date, end_date, original_start_date;
        IntColumn sequence;
        std::vector<std::string> recurrence_json;
        recurrence_json.reserve(n);
        for (auto *c : {&id, &status, &summary, &description, &location, &time_zone, &recurrence,
                        &recurring_event_id, &ical_uid, &event_type, &transparency, &visibility,
                        &organizer_email, &creator_email, &html_link, &data})
            c->reserve(n);
        std::vector<std::string> upserted, cancelled;
        for (const auto *e : rows) {
            id.push_back(&e->event_id);
            status.push_back(&e->status);
            summary.push_back(opt(e->summary));
            description.push_back(opt(e->description));
            location.push_back(opt(e->location));
            start_at.push_back(e->start_at);
            end_at.push_back(e->end_at);
            start_date.push_back(e->start_date);
            end_date.push_back(e->end_date);
            time_zone.push_back(opt(e->time_zone));
            if (e->recurrence) {
                std::string json = "[";
                for (std::size_t i = 0; i < e->recurrence->size(); i++) {
                    if (i)
                        json.push_back(',');
                    core::append_json_string(json, (*e->recurrence)[i]);
                }
                json.push_back(']');
                recurrence_json.push_back(std::move(json));
                recurrence.push_back(&recurrence_json.back());
            } else {
                recurrence.push_back(nullptr);
            }
            recurring_event_id.push_back(opt(e->recurring_event_id));
            original_start_at.push_back(e->original_start_at);
            original_start_date.push_back(e->original_start_date);
            ical_uid.push_back(opt(e->ical_uid));
            sequence.push_back(e->sequence);
            event_type.push_back(opt(e->event_type));
            transparency.push_back(opt(e->transparency));
            visibility.push_back(opt(e->visibility));
            organizer_email.push_back(opt(e->organizer_email));
            creator_email.push_back(opt(e->creator_email));
            html_link.push_back(opt(e->html_link));
            created.push_back(e->created);
            updated.push_back(e->updated);
            data.push_back(&e->data);
            (e->status == "cancelled" ? cancelled : upserted).push_back(e->event_id);
        }
        const std::vector<SqlArg> args = {
            link.owner, calendar_id, arg(id), arg(status), arg(summary), arg(description), arg(location),
            arg(start_at), arg(end_at), date_arg(start_date), date_arg(end_date), arg(time_zone), arg(recurrence),
            arg(recurring_event_id), arg(original_start_at), date_arg(original_start_date), arg(ical_uid),
            arg(sequence), arg(event_type), arg(transparency), arg(visibility), arg(organizer_email),
            arg(creator_email), arg(html_link), arg(created), arg(updated), arg(data)};
        // A full listing usually brings rows the table does not have yet (a
        // first sync): a plain INSERT saves ON CONFLICT's speculative
        // insertion (a unique-index probe and an extra WAL record per row).
        // If a row exists after all (a resync, an event that moved between
        // pages), the savepoint undoes it and the upsert below runs.
        // (After a conflict, the rest of that listing goes straight to the upsert.)
        std::string listing = link.owner + '\x1f' + calendar_id;
        if (step.first)
            upsert_listings_.erase(listing);
        bool inserted = false;
        if (n > 0 && step.full && !upsert_listings_.count(listing)) {
            try {
                Subtransaction sub;
                spi.exec_prepared(kInsert, args, SPI_OK_INSERT);
                sub.commit();
                inserted = true;
            } catch (const PgError &e) {
                if (e.sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
                    throw;
                upsert_listings_.insert(listing);
            }
        }
        if (!step.next_sync_token.empty())
            upsert_listings_.erase(listing);
        if (n > 0 && !inserted)
            spi.exec_prepared(kUpsert, args, SPI_OK_INSERT);
        if (step.full && !step.next_sync_token.empty()) {
            uint64_t swept = spi.exec_prepared(
                kSweep, {link.owner, calendar_id, params_of(core::Resource::Events)}, SPI_OK_UPDATE_RETURNING);
            auto gone = column_texts(spi, swept);
            cancelled.insert(cancelled.end(), gone.begin(), gone.end());
        }
        save_step(spi, link, core::Resource::Events, calendar_id, step);
        if (metrics_ && step.full)
            record_full_sync_progress(spi, link, step, static_cast<int64_t>(n));
        upserts = upserted.size();
        tombstones = cancelled.size();
        record_ids(link.owner, "event", calendar_id, "upsert", std::move(upserted));
        record_ids(link.owner, "event", calendar_id, "delete", std::move(cancelled));
    }
    xact.commit();
    count_rows(upserts, tombstones);
    return true;
}

#undef GCAL_EVENTS_INSERT

void SpiStore::calendars_synced(const core::OwnerLink &link, const std::vector<core::CalendarDone> &calendars)
{
    Transaction xact("gcalsync: scheduling calendars");
    {
        Spi spi;
        write_calendars_synced(spi, link, calendars);
    }
    xact.commit_schedule();
}

void SpiStore::calendar_gone(const core::OwnerLink &link, const std::string &calendar_id)
{
    static const char *const kList =
        "UPDATE gcalsync.calendar_list SET deleted = true, data = data || '{\"deleted\": true}'::jsonb, "
        "synced_at = now() WHERE owner = $1 AND calendar_id = $2 AND NOT deleted";
    static const char *const kSchedule =
        "UPDATE gcalsync.calendar_sync SET enabled = false, last_error = 'calendar not found (404)' "
        "WHERE owner = $1 AND calendar_id = $2";
    Transaction xact("gcalsync: marking a calendar deleted");
    uint64_t tombstones = 0;
    {
        Spi spi;
        if (!lock_link(spi, link))
            return;
        uint64_t changed = spi.exec_prepared(kList, {link.owner, calendar_id}, SPI_OK_UPDATE);
        spi.exec_prepared(kSchedule, {link.owner, calendar_id}, SPI_OK_UPDATE);
        if (changed > 0)
            record_ids(link.owner, "calendar_list", "", "delete", {calendar_id});
        tombstones = changed;
    }
    xact.commit();
    count_rows(0, tombstones);
}

void SpiStore::calendar_failed(const core::OwnerLink &link, const std::string &calendar_id,
                               const std::string &error, Micros retry_at)
{
    static const char *const kSql =
        "UPDATE gcalsync.calendar_sync SET failures = failures + 1, last_error = $3, next_sync_at = $4 "
        "WHERE owner = $1 AND calendar_id = $2";
    run_alone("gcalsync: scheduling a calendar", kSql, {link.owner, calendar_id, error, time_arg(retry_at)},
              SPI_OK_UPDATE, true);
}

namespace {

// announce_state records a change of an owner's state (NOTIFY and feed, at commit).
void announce_state(const std::string &owner, const std::string &old_state, const char *new_state)
{
    if (old_state == new_state)
        return;
    core::ChangeNotice n;
    n.owner = owner;
    n.table = "account";
    n.op = "state";
    n.state = new_state;
    record_change(std::move(n));
}

}  // namespace

void SpiStore::owner_synced(const core::OwnerLink &link, bool list_synced, Micros next_at,
                            const std::vector<core::CalendarDone> &calendars,
                            const std::vector<core::TokenMove> &tokens)
{
    // When work was requested during the round (gcal_sync_now, gcal_resync),
    // the owner and its calendars are due again at once instead.
    static const char *const kSql =
        "WITH old AS (SELECT state FROM gcalsync.owner WHERE owner = $1 AND generation = $2 FOR UPDATE) "
        "UPDATE gcalsync.owner o SET state = 'active', last_error = NULL, last_error_at = NULL, failures = 0, "
        "last_sync_at = CASE WHEN $3 THEN now() ELSE o.last_sync_at END, "
        "next_sync_at = CASE WHEN NOT $3 THEN o.next_sync_at WHEN o.requested_seq > $5 THEN now() ELSE $4 END, "
        "completed_seq = CASE WHEN $3 THEN greatest(o.completed_seq, $5) ELSE o.completed_seq END "
        "FROM old WHERE o.owner = $1 AND o.generation = $2 "
        "RETURNING (SELECT state FROM old), o.requested_seq > $5";
    // An owner that was active without failures stays so: only its schedule
    // moves, and no old state needs reading (nothing to announce). A state
    // change meanwhile comes with a new generation, or is not one this
    // statement matches (then the statement above runs).
    static const char *const kSchedule =
        "UPDATE gcalsync.owner o SET last_sync_at = now(), "
        "next_sync_at = CASE WHEN o.requested_seq > $3 THEN now() ELSE $4 END, "
        "completed_seq = greatest(o.completed_seq, $3) "
        "WHERE o.owner = $1 AND o.generation = $2 AND o.state = 'active' AND o.failures = 0 "
        "RETURNING o.requested_seq > $3";
    static const char *const kCalendarsDue =
        "UPDATE gcalsync.calendar_sync SET next_sync_at = now() WHERE owner = $1 AND enabled";
    // A token moves only where it still is the one the check was made with
    // (a gcal_resync, gcal_link or unlink meanwhile reset or removed it), and
    // only for the link the round was made for.
    static const char *const kTokens =
        "UPDATE gcalsync.sync_token t SET sync_token = u.to_token, updated_at = now() "
        "FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) "
        "  AS u(kind, calendar_id, params, from_token, to_token) "
        "WHERE t.owner = $1 AND t.kind = u.kind AND t.calendar_id = u.calendar_id AND t.params = u.params "
        "AND t.sync_token = u.from_token AND t.page_token IS NULL "
        "AND EXISTS (SELECT 1 FROM gcalsync.owner o WHERE o.owner = $1 AND o.generation = $2)";
    Transaction xact("gcalsync: recording a sync");
    {
        Spi spi;
        if (!tokens.empty()) {
            std::vector<std::string> kinds;
            kinds.reserve(tokens.size());  // no reallocation: `kind` points into it
            TextColumn kind, calendar, params, from, to;
            for (const auto &t : tokens) {
                kinds.push_back(kind_of(t.kind));
                kind.push_back(&kinds.back());
                calendar.push_back(&t.calendar_id);
                params.push_back(&params_of(t.kind));
                from.push_back(&t.from);
                to.push_back(&t.to);
            }
            spi.exec_prepared(kTokens, {link.owner, link.generation, arg(kind), arg(calendar), arg(params),
                                        arg(from), arg(to)},
                              SPI_OK_UPDATE);
        }
        write_calendars_synced(spi, link, calendars);
        bool was_active = link.state == core::OwnerState::Active && link.failures == 0;
        bool again = false;  // work was requested during the round
        if (!list_synced && was_active) {
            // only the calendars' schedule moved
        } else if (list_synced && was_active &&
                   spi.exec_prepared(kSchedule, {link.owner, link.generation, link.requested_seq, time_arg(next_at)},
                                     SPI_OK_UPDATE_RETURNING) > 0) {
            again = spi.get_bool(0, 0).value_or(false);
        } else if (spi.exec_prepared(kSql,
                                     {link.owner, link.generation, list_synced, time_arg(next_at), link.requested_seq},
                                     SPI_OK_UPDATE_RETURNING) > 0) {
            announce_state(link.owner, spi.get_text(0, 0).value_or(""), "active");
            again = spi.get_bool(0, 1).value_or(false);
        }
        if (again && list_synced)
            spi.exec_prepared(kCalendarsDue, {link.owner}, SPI_OK_UPDATE);
    }
    xact.commit_schedule();
    wake_waiters();
}

void SpiStore::owner_failed(const core::OwnerLink &link, core::OwnerState state, const std::string &error,
                            Micros retry_at)
{
    static const char *const kSql =
        "WITH old AS (SELECT state FROM gcalsync.owner WHERE owner = $1 AND generation = $2 FOR UPDATE) "
        "UPDATE gcalsync.owner o SET state = $3, last_error = $4, last_error_at = now(), "
        "failures = o.failures + 1, next_sync_at = $5 "
        "FROM old WHERE o.owner = $1 AND o.generation = $2 RETURNING (SELECT state FROM old)";
    const char *new_state = core::to_string(state);
    Transaction xact("gcalsync: recording a failure");
    {
        Spi spi;
        if (spi.exec_prepared(kSql, {link.owner, link.generation, new_state, error, time_arg(retry_at)},
                              SPI_OK_UPDATE_RETURNING) > 0)
            announce_state(link.owner, spi.get_text(0, 0).value_or(""), new_state);
    }
    xact.commit_schedule();
    wake_waiters();
}

uint64_t SpiStore::prune_changes(int retention_s)
{
    static const char *const kSql =
        "WITH gone AS (DELETE FROM gcalsync.change "
        "  WHERE recorded_at < now() - make_interval(secs => $1) RETURNING seq) "
        "INSERT INTO gcalsync.change_horizon AS h (singleton, pruned_through) "
        "SELECT true, max(seq) FROM gone HAVING count(*) > 0 "
        "ON CONFLICT (singleton) DO UPDATE SET pruned_through = greatest(h.pruned_through, excluded.pruned_through) "
        "RETURNING (SELECT count(*) FROM gone)";
    Transaction xact("gcalsync: pruning the change feed");
    uint64_t pruned = 0;
    if (extension_installed()) {
        Spi spi;
        if (spi.exec_prepared(kSql, {static_cast<int64_t>(retention_s)}, SPI_OK_INSERT_RETURNING) > 0)
            pruned = static_cast<uint64_t>(spi.get_int64(0, 0).value_or(0));
    }
    xact.commit();
    return pruned;
}

std::vector<core::Channel> SpiStore::channels(const core::OwnerLink &link)
{
    static const char *const kSql =
        "SELECT channel_id, coalesce(resource_id, ''), kind, calendar_id, expires_at "
        "FROM gcalsync.channel WHERE owner = $1 ORDER BY expires_at DESC NULLS LAST";
    Transaction xact("gcalsync: reading watch channels");
    std::vector<core::Channel> out;
    {
        Spi spi;
        uint64_t n = spi.exec_prepared(kSql, {link.owner}, SPI_OK_SELECT);
        for (uint64_t i = 0; i < n; i++) {
            core::Channel c;
            c.channel_id = spi.get_text(i, 0).value_or("");
            c.resource_id = spi.get_text(i, 1).value_or("");
            c.kind = spi.get_text(i, 2).value_or("") == "calendar_list" ? core::Resource::CalendarList
                                                                         : core::Resource::Events;
            c.calendar_id = spi.get_text(i, 3).value_or("");
            c.expires_at = from_timestamptz(spi.get_int64(i, 4).value_or(0));
            out.push_back(std::move(c));
        }
    }
    xact.commit();
    return out;
}

std::vector<std::string> SpiStore::watchable_calendars(const core::OwnerLink &link)
{
    static const char *const kSql =
        "SELECT calendar_id FROM gcalsync.calendar_sync WHERE owner = $1 AND enabled AND push_supported "
        "ORDER BY calendar_id";
    return texts_alone("gcalsync: reading watch channels", kSql, {link.owner});
}

bool SpiStore::save_channel(const core::OwnerLink &link, const core::Channel &c, const std::string &token)
{
    static const char *const kSql =
        "INSERT INTO gcalsync.channel (channel_id, owner, kind, calendar_id, resource_id, token, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)";
    Transaction xact("gcalsync: recording a watch channel");
    {
        Spi spi;
        if (!lock_link(spi, link)) {
            // The owner went away meanwhile: Google still has the channel.
            std::string sealed = seal_secret(link.refresh_token, core::channel_stop_aad(c.channel_id));
            spi.exec_prepared("INSERT INTO gcalsync.channel_stop (channel_id, resource_id, refresh_token) "
                              "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                              {c.channel_id, c.resource_id, bytea_arg(sealed)}, SPI_OK_INSERT);
            spi.finish();
            xact.commit();
            return false;
        }
        spi.exec_prepared(kSql,
                          {c.channel_id, link.owner, kind_of(c.kind),
                           c.calendar_id, c.resource_id, token, time_arg(c.expires_at)},
                          SPI_OK_INSERT);
    }
    xact.commit();
    return true;
}

void SpiStore::retire_channel(const core::OwnerLink &link, const std::string &channel_id)
{
    static const char *const kSql =
        "WITH gone AS (DELETE FROM gcalsync.channel WHERE channel_id = $1 AND owner = $2 "
        "  RETURNING channel_id, resource_id) "
        "INSERT INTO gcalsync.channel_stop (channel_id, resource_id, refresh_token) "
        "SELECT channel_id, resource_id, $3 FROM gone WHERE resource_id IS NOT NULL "
        "ON CONFLICT (channel_id) DO NOTHING";
    std::string sealed = seal_secret(link.refresh_token, core::channel_stop_aad(channel_id));
    Transaction xact("gcalsync: retiring a watch channel");
    {
        Spi spi;
        spi.exec_prepared(kSql, {channel_id, link.owner, bytea_arg(sealed)}, SPI_OK_INSERT);
    }
    xact.commit();
}

void SpiStore::push_unsupported(const core::OwnerLink &link, const std::string &calendar_id)
{
    static const char *const kSql =
        "UPDATE gcalsync.calendar_sync SET push_supported = false WHERE owner = $1 AND calendar_id = $2";
    run_alone("gcalsync: recording a calendar without push", kSql, {link.owner, calendar_id}, SPI_OK_UPDATE);
}

std::vector<core::ChannelStop> SpiStore::channels_to_stop(std::size_t limit)
{
    static const char *const kSql =
        "SELECT channel_id, resource_id, refresh_token FROM gcalsync.channel_stop ORDER BY queued_at LIMIT $1";
    Transaction xact("gcalsync: reading the channel stop queue");
    std::vector<core::ChannelStop> out;
    std::vector<std::string> unreadable;
    if (extension_installed()) {
        Spi spi;
        uint64_t n = spi.exec_prepared(kSql, {static_cast<int64_t>(limit)}, SPI_OK_SELECT);
        for (uint64_t i = 0; i < n; i++) {
            core::ChannelStop stop{spi.get_text(i, 0).value_or(""), spi.get_text(i, 1).value_or(""), ""};
            auto token = open_secret(spi.get_text(i, 2).value_or(""), core::channel_stop_aad(stop.channel_id), nullptr);
            if (!token) {
                unreadable.push_back(stop.channel_id);  // cannot be stopped: it expires by itself
                continue;
            }
            stop.refresh_token = std::move(*token);
            out.push_back(std::move(stop));
        }
    }
    xact.commit();
    for (const auto &id : unreadable)
        channel_stopped(id);
    return out;
}

void SpiStore::channel_stopped(const std::string &channel_id)
{
    run_alone("gcalsync: channel stopped", "DELETE FROM gcalsync.channel_stop WHERE channel_id = $1", {channel_id},
              SPI_OK_DELETE);
}

}  // namespace gcal::pg
