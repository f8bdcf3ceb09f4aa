// store.cpp — SpiStore: how synced data reaches the tables (README: Tables, How syncing works).
//
// Each page write runs in its own transaction and first locks the owner's row
// (FOR SHARE) and checks the link generation, so a page fetched before a
// gcal_unlink or gcal_link of that owner never resurrects or mixes rows: the
// unlink waits for the page's commit, or the page sees the new generation and
// is dropped. The schedule writes at the end of a round check the generation
// in their statements and move a calendar's schedule only if nobody else
// moved it meanwhile. Rows go in with one statement per page (unnest of column
// arrays), typed values built in C++ so PostgreSQL parses only the jsonb; the
// rows of a first full listing go in as COPY writes them (bulk_insert.cpp).
#include "pg/store.hpp"

#include "pg/bulk_insert.hpp"
#include "pg/changes.hpp"
#include "pg/module.hpp"
#include "pg/secrets.hpp"
#include "pg/statements.hpp"

#include <algorithm>
#include <map>

extern "C" {
#include "commands/extension.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "storage/condition_variable.h"
#include "utils/array.h"
#include "utils/date.h"
}

#include <tuple>
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

using Int8Column = std::vector<int64_t>;

Datum int8_array(const void *p)
{
    return make_array(*static_cast<const Int8Column *>(p), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
                      [](int64_t v, Datum *d) {
                          *d = Int64GetDatum(v);
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
    if (spi.run(sql::kLockLink, {link.owner}) == 0)
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

// tombstone_calendars marks the live events of calendars that left the list
// (or answer 404) cancelled, announced like any deletion, and forgets their
// events' sync tokens (if one comes back, it is listed in full). Returns
// how many events it marked.
uint64_t tombstone_calendars(Spi &spi, const std::string &owner, const std::vector<std::string> &calendar_ids)
{
    if (calendar_ids.empty())
        return 0;
    TextColumn ids;
    for (const auto &c : calendar_ids)
        ids.push_back(&c);
    uint64_t n = spi.run(sql::kTombstoneCalendarEvents, {owner, arg(ids)});
    std::map<std::string, std::vector<std::string>> by_calendar;
    for (uint64_t i = 0; i < n; i++)
        by_calendar[spi.get_text(i, 0).value_or("")].push_back(spi.get_text(i, 1).value_or(""));
    spi.run(sql::kForgetCalendarTokens, {owner, arg(ids)});
    for (auto &[calendar_id, events] : by_calendar)
        record_ids(owner, "event", calendar_id, "delete", std::move(events));
    return n;
}

// save_step records a page's progress: the next page token, or (on the last
// page) the new sync token. The first page of a full listing notes when it
// began, for the sweep of what it does not return.
void save_step(Spi &spi, const core::OwnerLink &link, core::Resource r, const std::string &calendar_id,
               const core::PageStep &step, bool schema_1_0)
{
    bool starts_full = step.first && step.next_sync_token.empty();
    spi.run(schema_1_0 ? sql::kSaveStepV10 : sql::kSaveStep, {link.owner, kind_of(r), calendar_id, params_of(r), step.next_sync_token,
                             step.next_page_token, starts_full});
}

// record_full_sync_progress counts a page of a full listing in the owner's
// full-sync progress (gcalsync.status: full_sync_*), committed with the page
// so another session sees it move. A page starts the counts anew when it
// begins a new full sync: the first page after gcal_link or gcal_resync, or
// the first page of a listing once the previous full sync had finished (a
// 410, a new calendar). The last page of the owner's last incomplete listing
// finishes it. Runs after save_step (this listing's token is in place).
// (A schema still at 1.0 has no such columns: callers skip it there.)
void record_full_sync_progress(Spi &spi, const core::OwnerLink &link, const core::PageStep &step, int64_t events)
{
    spi.run(sql::kFullSyncProgress, {link.owner, step.first, !step.next_sync_token.empty(), events});
}

// run_alone runs one statement in a transaction of its own; `schedule`:
// the statement only moves the worker's bookkeeping (Transaction::commit_schedule).
void run_alone(const char *activity, const Statement &stmt, const std::vector<SqlArg> &args, bool schedule = false)
{
    Transaction xact(activity);
    {
        Spi spi;
        spi.run(stmt, args);
    }
    if (schedule)
        xact.commit_schedule();
    else
        xact.commit();
}

// texts_alone runs one query in a transaction of its own and returns its
// first column.
std::vector<std::string> texts_alone(const char *activity, const Statement &stmt, const std::vector<SqlArg> &args)
{
    Transaction xact(activity);
    std::vector<std::string> out;
    {
        Spi spi;
        out = column_texts(spi, spi.run(stmt, args));
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
    if (calendars.empty())
        return;
    TextColumn ids;
    TimeColumn seen, next;
    for (const auto &c : calendars) {
        ids.push_back(&c.calendar_id);
        seen.push_back(c.seen);
        next.push_back(c.next_at);
    }
    spi.run(sql::kCalendarsSynced, {link.owner, arg(ids), arg(seen), arg(next), link.generation});
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

void wake_waiters(const std::string &owner)
{
    ConditionVariable *cv = owner_done_cv(owner);
    pg_guard([=]() { ConditionVariableBroadcast(cv); });
}

std::vector<core::OwnerLink> SpiStore::due_owners(std::size_t limit,
                                                  const std::function<bool(const std::string &)> &busy)
{
    Transaction xact("gcalsync: reading the schedule");
    std::vector<core::OwnerLink> out;
    std::vector<std::pair<core::OwnerLink, std::string>> unreadable;
    if (extension_installed()) {
        Spi spi;
        schema_1_0_ = spi.run(sql::kExtensionVersion) > 0 && spi.get_text(0, 0).value_or("") == "1.0";
        uint64_t n = spi.run(sql::kDueOwners, {static_cast<int64_t>(limit)});
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

// jsonb_events: the rows of a full listing go to insert_new_events, which
// copies the jsonb the helper thread made (core/jsonb.hpp) where INSERT runs
// jsonb_in on the writing thread. Only in a UTF8 database (encode_jsonb
// decodes \u escapes as UTF-8, as jsonb_in does only there), and not where
// those rows go through SQL anyway (a schema at 1.0, Citus, a listing that
// met an existing row): there the text would only be made again.
bool SpiStore::jsonb_events(const core::OwnerLink &link, const std::string &calendar_id)
{
    static const bool utf8 = pg_guard([]() { return GetDatabaseEncoding() == PG_UTF8; });
    return utf8 && !schema_1_0_ && !citus_loaded() && upsert_listings_.count(link.owner + '\x1f' + calendar_id) == 0;
}

// owner_free: the probe's NOWAIT lock either succeeds (the row is free, or
// gone) or fails at once with lock_not_available, which Spi::run throws as
// StoreBusy; the transaction is then rolled back by its destructor.
bool SpiStore::owner_free(const std::string &owner)
{
    Transaction xact("gcalsync: probing a paused owner's row");
    try {
        Spi spi;
        (void) spi.run(sql::kProbeOwnerRow, {owner});
    } catch (const core::StoreBusy &) {
        return false;
    }
    xact.commit();
    return true;
}

std::optional<core::Micros> SpiStore::next_due()
{
    Transaction xact("gcalsync: reading the schedule");
    std::optional<Micros> out;
    if (extension_installed()) {
        Spi spi;
        spi.run(sql::kNextDue);
        if (auto t = spi.get_int64(0, 0))
            out = from_timestamptz(*t);
        if (!schema_1_0_) {
            spi.run(sql::kNextWriteDue);  // the outbox's next retry
            if (auto t = spi.get_int64(0, 0))
                out = out ? std::min(*out, from_timestamptz(*t)) : from_timestamptz(*t);
        }
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
        if (spi.run(sql::kClient) > 0) {
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
    Transaction xact("gcalsync: reading the schedule");
    std::vector<core::DueCalendar> out;
    {
        Spi spi;
        uint64_t n = spi.run(sql::kDueCalendars, {link.owner, time_arg(due_by)});
        out.reserve(n);
        for (uint64_t i = 0; i < n; i++)
            out.push_back(core::DueCalendar{spi.get_text(i, 0).value_or(""),
                                            from_timestamptz(spi.get_int64(i, 1).value_or(0)),
                                            static_cast<int>(spi.get_int64(i, 2).value_or(0))});
    }
    xact.commit();
    return out;
}

std::vector<std::string> SpiStore::unfetched_calendars(const core::OwnerLink &link)
{
    return texts_alone("gcalsync: reading the schedule", sql::kUnfetchedCalendars, {link.owner});
}

core::Cursor SpiStore::cursor(const core::OwnerLink &link, core::Resource r, const std::string &calendar_id)
{
    Transaction xact("gcalsync: reading sync tokens");
    core::Cursor c;
    {
        Spi spi;
        if (spi.run(sql::kCursor, {link.owner, kind_of(r), calendar_id, params_of(r)}) > 0) {
            c.sync_token = spi.get_text(0, 0).value_or("");
            c.page_token = spi.get_text(0, 1).value_or("");
        }
    }
    xact.commit();
    return c;
}

void SpiStore::reset_cursor(const core::OwnerLink &link, core::Resource r, const std::string &calendar_id)
{
    run_alone("gcalsync: full sync required", sql::kResetCursor, {link.owner, kind_of(r), calendar_id, params_of(r)});
}

bool SpiStore::write_calendar_list(const core::OwnerLink &link, const core::CalendarListPage &page,
                                   const core::PageStep &step)
{
    Transaction xact("gcalsync: writing a calendar list page");
    std::size_t upserts = 0, tombstones = 0;
    {
        Spi spi;
        if (!lock_link(spi, link))
            return false;
        if (!schema_1_0_)
            spi.run(sql::kTickClock);  // the sweep's clock (kSweepEvents)
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
            spi.run(schema_1_0_ ? sql::kUpsertCalendarListV10 : sql::kUpsertCalendarList,
                    {link.owner, arg(id), arg(summary), arg(summary_override), arg(description), arg(location),
                     arg(time_zone), arg(access_role), arg(is_primary), arg(hidden), arg(selected), arg(deleted),
                     arg(color_id), arg(background_color), arg(foreground_color), arg(data)});
            spi.run(sql::kScheduleCalendars, {link.owner, arg(id), arg(deleted)});
        }
        if (step.full && !step.next_sync_token.empty()) {
            uint64_t swept =
                schema_1_0_ ? spi.run(sql::kSweepCalendarListV10, {link.owner, params_of(core::Resource::CalendarList)})
                            : spi.run(sql::kSweepCalendarList,
                                      {link.owner, params_of(core::Resource::CalendarList), step.first});
            auto gone = column_texts(spi, swept);
            removed.insert(removed.end(), gone.begin(), gone.end());
        }
        save_step(spi, link, core::Resource::CalendarList, "", step, schema_1_0_);
        if (metrics_ && step.full && !schema_1_0_)
            record_full_sync_progress(spi, link, step, 0);
        upserts = upserted.size();
        tombstones = removed.size() + tombstone_calendars(spi, link.owner, removed);
        record_ids(link.owner, "calendar_list", "", "upsert", std::move(upserted));
        record_ids(link.owner, "calendar_list", "", "delete", std::move(removed));
    }
    xact.commit();
    count_rows(upserts, tombstones);
    return true;
}

bool SpiStore::write_calendar(const core::OwnerLink &link, const core::CalendarResource &cal)
{
    Transaction xact("gcalsync: writing a calendar");
    {
        Spi spi;
        if (!lock_link(spi, link))
            return false;
        spi.run(sql::kUpsertCalendar, {link.owner, cal.calendar_id, cal.summary, cal.description, cal.location,
                                        cal.time_zone, cal.data});
        record_ids(link.owner, "calendar", "", "upsert", {cal.calendar_id});
    }
    xact.commit();
    count_rows(1, 0);
    return true;
}

bool SpiStore::write_events(const core::OwnerLink &link, const std::string &calendar_id,
                            const core::EventsPage &page, const core::PageStep &step)
{
    Transaction xact("gcalsync: writing an events page");
    std::size_t upserts = 0, tombstones = 0;
    {
        Spi spi;
        if (!lock_link(spi, link))
            return false;
        std::tie(upserts, tombstones) = store_event_rows(spi, link, calendar_id, page, &step);
    }
    xact.commit();
    count_rows(upserts, tombstones);
    return true;
}

// store_event_rows writes events of a page (step) or of an outbox write's
// answer (step null: no listing progress, no sweep) and records their
// announcements; returns the rows upserted and marked deleted. Ids of an
// incremental page whose mirrored row already has the same etag (written by
// an outbox write) are not announced again.
std::pair<std::size_t, std::size_t> SpiStore::store_event_rows(Spi &spi, const core::OwnerLink &link,
                                                               const std::string &calendar_id,
                                                               const core::EventsPage &page,
                                                               const core::PageStep *listing)
{
    static const core::PageStep kNoListing;
    const core::PageStep &step = listing ? *listing : kNoListing;
    std::size_t upserts = 0, tombstones = 0;
    if (!schema_1_0_)
        spi.run(sql::kTickClock);  // the sweep's clock (kSweepEvents)
    auto rows = last_of_each(page.items, [](const core::EventRow &e) -> std::string_view { return e.event_id; });
    const std::size_t n = rows.size();
    TextColumn id, status, summary, description, location, time_zone, recurrence, recurring_event_id, ical_uid,
        event_type, transparency, visibility, organizer_email, creator_email, html_link, data, self_response;
    TimeColumn start_at, end_at, original_start_at, created, updated;
    DateColumn start_date, end_date, original_start_date;
    IntColumn sequence;
    std::vector<std::string> recurrence_json;
    recurrence_json.reserve(n);
    for (auto *c : {&id, &status, &summary, &description, &location, &time_zone, &recurrence,
                    &recurring_event_id, &ical_uid, &event_type, &transparency, &visibility,
                    &organizer_email, &creator_email, &html_link, &data, &self_response})
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
        data.push_back(e->jsonb.empty() ? &e->data : nullptr);  // nullptr: see data_texts
        self_response.push_back(opt(e->self_response));
        (e->status == "cancelled" ? cancelled : upserted).push_back(e->event_id);
    }
    std::vector<SqlArg> args = {
        link.owner, calendar_id, arg(id), arg(status), arg(summary), arg(description), arg(location),
        arg(start_at), arg(end_at), date_arg(start_date), date_arg(end_date), arg(time_zone), arg(recurrence),
        arg(recurring_event_id), arg(original_start_at), date_arg(original_start_date), arg(ical_uid),
        arg(sequence), arg(event_type), arg(transparency), arg(visibility), arg(organizer_email),
        arg(creator_email), arg(html_link), arg(created), arg(updated), arg(data), arg(self_response)};
    if (schema_1_0_)
        args.pop_back();  // a schema still at 1.0 has no self_response
    // A row whose data the helper thread encoded as jsonb (jsonb_events) has
    // no text left: where a statement below needs it, it gets jsonb_out's
    // text of those bytes (the same jsonb value, the same bytes again when
    // the statement casts it back), made only then.
    std::vector<std::string> data_from_jsonb;
    auto data_texts = [&]() {
        data_from_jsonb.reserve(n);  // no reallocation: the column points into it
        for (std::size_t i = 0; i < n; i++)
            if (!data[i]) {
                data_from_jsonb.push_back(jsonb_text(rows[i]->jsonb));
                data[i] = &data_from_jsonb.back();
            }
    };
    // The worker's own outbox writes come back in the next incremental
    // listing with the etag it stored: not a change (read before the rows
    // are written over).
    std::unordered_set<std::string> unchanged;
    if (listing && !step.full && n > 0 && !schema_1_0_) {
        data_texts();
        uint64_t same = spi.run(sql::kUnchangedEvents, {link.owner, calendar_id, arg(id), arg(data)});
        for (auto &i : column_texts(spi, same))
            unchanged.insert(std::move(i));
    }
    // A full listing usually brings rows the table does not have yet (a
    // first sync, a relink): they are written as COPY writes them
    // (insert_new_events: the table AM's multi-insert in batches, index
    // entries per batch), or, where the table does not allow that (a
    // trigger, row-level security, a schema at 1.0), by a plain INSERT,
    // which saves ON CONFLICT's speculative insertion. If a row exists
    // after all (a resync, an event that moved between pages, an id
    // Google listed twice), the unique index says so, the savepoint undoes
    // the page and the upsert below runs. (After a conflict, the rest of
    // that listing goes straight to the upsert.)
    // With Citus the upsert always runs: a duplicate key on a shard comes
    // back as an internal error (XX000), not as a unique violation, and the
    // multi-insert would write into the coordinator's empty shell table.
    std::string listing_key = link.owner + '\x1f' + calendar_id;
    if (step.first)
        upsert_listings_.erase(listing_key);
    if (step.first && step.full && spi.run(sql::kCalendarBack, {link.owner, calendar_id}) > 0)
        record_ids(link.owner, "calendar_list", "", "upsert", {calendar_id});
    bool inserted = false;
    if (n > 0 && step.full && !upsert_listings_.count(listing_key) && !citus_loaded()) {
        try {
            Subtransaction sub;
            if (schema_1_0_ || !insert_new_events(link.owner, calendar_id, rows.data(), rows.size())) {
                data_texts();
                spi.run(schema_1_0_ ? sql::kInsertEventsV10 : sql::kInsertEvents, args);
            } else {
                // At DEBUG2 (tests): how many rows came with their jsonb made off this thread.
                std::size_t encoded = static_cast<std::size_t>(
                    std::count_if(rows.begin(), rows.end(), [](const core::EventRow *e) { return !e->jsonb.empty(); }));
                pg_guard([=]() {
                    elog(DEBUG2, "gcalsync: %zu events written as COPY writes them, %zu with their jsonb made by the helper thread",
                         n, encoded);
                });
            }
            sub.commit();
            inserted = true;
        } catch (const PgError &e) {
            if (e.sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
                throw;
            upsert_listings_.insert(listing_key);
        }
    }
    if (!step.next_sync_token.empty())
        upsert_listings_.erase(listing_key);
    if (n > 0 && !inserted) {
        data_texts();
        spi.run(schema_1_0_ ? sql::kUpsertEventsV10 : sql::kUpsertEvents, args);
    }
    if (step.full && !step.next_sync_token.empty()) {
        uint64_t swept =
            schema_1_0_ ? spi.run(sql::kSweepEventsV10, {link.owner, calendar_id, params_of(core::Resource::Events)})
                        : spi.run(sql::kSweepEvents,
                                  {link.owner, calendar_id, params_of(core::Resource::Events), step.first});
        auto gone = column_texts(spi, swept);
        cancelled.insert(cancelled.end(), gone.begin(), gone.end());
    }
    if (listing)
        save_step(spi, link, core::Resource::Events, calendar_id, step, schema_1_0_);
    if (listing && metrics_ && step.full && !schema_1_0_)
        record_full_sync_progress(spi, link, step, static_cast<int64_t>(n));
    upserts = upserted.size();
    tombstones = cancelled.size();
    if (!unchanged.empty()) {
        auto drop = [&](std::vector<std::string> &ids) {
            ids.erase(std::remove_if(ids.begin(), ids.end(), [&](const std::string &i) { return unchanged.count(i) > 0; }),
                      ids.end());
        };
        drop(upserted);
        drop(cancelled);
    }
    record_ids(link.owner, "event", calendar_id, "upsert", std::move(upserted));
    record_ids(link.owner, "event", calendar_id, "delete", std::move(cancelled));
    return {upserts, tombstones};
}

void SpiStore::calendars_synced(const core::OwnerLink &link, const std::vector<core::CalendarDone> &calendars)
{
    Transaction xact("gcalsync: scheduling calendars");
    {
        Spi spi;
        spi.run(sql::kLockLink, {link.owner});  // owner row first (kLockOwnerRow)
        write_calendars_synced(spi, link, calendars);
    }
    xact.commit_schedule();
}

void SpiStore::calendar_gone(const core::OwnerLink &link, const std::string &calendar_id, Micros retry_at)
{
    Transaction xact("gcalsync: marking a calendar deleted");
    uint64_t tombstones = 0;
    {
        Spi spi;
        if (!lock_link(spi, link))
            return;
        uint64_t changed = spi.run(sql::kCalendarGoneList, {link.owner, calendar_id});
        spi.run(sql::kCalendarGoneSchedule, {link.owner, calendar_id, time_arg(retry_at)});
        if (changed > 0)
            record_ids(link.owner, "calendar_list", "", "delete", {calendar_id});
        tombstones = changed + tombstone_calendars(spi, link.owner, {calendar_id});
    }
    xact.commit();
    count_rows(0, tombstones);
}

void SpiStore::calendar_failed(const core::OwnerLink &link, const std::string &calendar_id,
                               const std::string &error, Micros retry_at)
{
    run_alone("gcalsync: scheduling a calendar", sql::kCalendarFailed,
              {link.owner, calendar_id, core::log_safe(error), time_arg(retry_at)}, true);
}

bool SpiStore::calendar_metadata(const core::OwnerLink &link, const std::string &calendar_id,
                                 const core::OptText &summary, const core::OptText &time_zone)
{
    Transaction xact("gcalsync: refreshing a calendar's summary and time zone");
    uint64_t changed = 0;
    {
        Spi spi;
        if (!lock_link(spi, link))
            return false;
        if (spi.run(sql::kCalendarMetadata, {link.owner, calendar_id, summary, time_zone}) > 0) {
            record_ids(link.owner, "calendar", "", "upsert", {calendar_id});
            changed++;
        }
        if (spi.run(sql::kCalendarListMetadata, {link.owner, calendar_id, summary, time_zone}) > 0) {
            record_ids(link.owner, "calendar_list", "", "upsert", {calendar_id});
            changed++;
        }
    }
    xact.commit();
    count_rows(changed, 0);
    return true;
}

bool SpiStore::calendars_all_failing(const core::OwnerLink &link)
{
    Transaction xact("gcalsync: reading the calendars' state");
    bool out = false;
    {
        Spi spi;
        if (spi.run(sql::kCalendarsAllFailing, {link.owner}) > 0)
            out = spi.get_bool(0, 0).value_or(false);
    }
    xact.commit();
    return out;
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
    Transaction xact("gcalsync: recording a sync");
    {
        Spi spi;
        // The owner's row first, then its tokens and calendars: the order of
        // gcal_sync_now, gcal_resync and gcal_link (kLockOwnerRow).
        spi.run(sql::kLockOwnerRow, {link.owner});
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
            spi.run(sql::kMoveTokens,
                    {link.owner, link.generation, arg(kind), arg(calendar), arg(params), arg(from), arg(to)});
        }
        write_calendars_synced(spi, link, calendars);
        bool was_active = link.state == core::OwnerState::Active && link.failures == 0;
        bool again = false;  // work was requested during the round
        if (!list_synced && was_active) {
            // only the calendars' schedule moved
        } else if (list_synced && was_active &&
                   spi.run(sql::kOwnerScheduled,
                           {link.owner, link.generation, link.requested_seq, time_arg(next_at)}) > 0) {
            again = spi.get_bool(0, 0).value_or(false);
        } else if (spi.run(sql::kOwnerSynced,
                           {link.owner, link.generation, list_synced, time_arg(next_at), link.requested_seq}) > 0) {
            announce_state(link.owner, spi.get_text(0, 0).value_or(""), "active");
            again = spi.get_bool(0, 1).value_or(false);
        }
        if (again && list_synced)
            spi.run(sql::kCalendarsDue, {link.owner});
    }
    xact.commit_schedule();
    wake_waiters(link.owner);
}

void SpiStore::owner_failed(const core::OwnerLink &link, core::OwnerState state, const std::string &error,
                            Micros retry_at)
{
    const char *new_state = core::to_string(state);
    Transaction xact("gcalsync: recording a failure");
    {
        Spi spi;
        // last_error quotes outside text (calendar ids, Google's messages): no line breaks or control characters.
        if (spi.run(sql::kOwnerFailed, {link.owner, link.generation, new_state, core::log_safe(error), time_arg(retry_at)}) > 0)
            announce_state(link.owner, spi.get_text(0, 0).value_or(""), new_state);
    }
    xact.commit_schedule();
    wake_waiters(link.owner);
}

uint64_t SpiStore::prune_changes(int retention_s)
{
    Transaction xact("gcalsync: pruning the change feed");
    uint64_t pruned = 0;
    if (extension_installed()) {
        Spi spi;
        if (spi.run(sql::kPruneChanges, {static_cast<int64_t>(retention_s)}) > 0)
            pruned = static_cast<uint64_t>(spi.get_int64(0, 0).value_or(0));
        if (!schema_1_0_)
            spi.run(sql::kPruneOutbox, {static_cast<int64_t>(retention_s)});  // finished writes, as old
    }
    xact.commit();
    return pruned;
}

std::vector<core::Channel> SpiStore::channels(const core::OwnerLink &link)
{
    Transaction xact("gcalsync: reading watch channels");
    std::vector<core::Channel> out;
    {
        Spi spi;
        uint64_t n = spi.run(sql::kChannels, {link.owner});
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
    return texts_alone("gcalsync: reading watch channels", sql::kWatchableCalendars, {link.owner});
}

bool SpiStore::save_channel(const core::OwnerLink &link, const core::Channel &c, const std::string &token)
{
    Transaction xact("gcalsync: recording a watch channel");
    {
        lock_keys(false);  // it may seal a channel stop; before the row lock (see lock_keys)
        Spi spi;
        if (!lock_link(spi, link)) {
            // The owner went away meanwhile: Google still has the channel.
            std::string sealed = seal_secret(link.refresh_token, core::channel_stop_aad(c.channel_id));
            spi.run(sql::kQueueChannelStop, {c.channel_id, c.resource_id, bytea_arg(sealed)});
            spi.finish();
            xact.commit();
            return false;
        }
        // Only the token's hash is stored: gcal_push hashes what it is given.
        // A schema still at 1.0 (before ALTER EXTENSION UPDATE) stores it in
        // clear, as 1.0 did: the update hashes every stored token once, and
        // gcal_push compares in clear until then. The version is read after
        // lock_link: the update alters gcalsync.owner first, so either it
        // waits for this transaction (and hashes this row) or this statement
        // sees it committed.
        bool v10 = spi.run(sql::kExtensionVersion) > 0 && spi.get_text(0, 0).value_or("") == "1.0";
        spi.run(sql::kSaveChannel, {c.channel_id, link.owner, kind_of(c.kind), c.calendar_id, c.resource_id,
                                     v10 ? token : core::channel_token_hash(token), time_arg(c.expires_at)});
    }
    xact.commit();
    return true;
}

void SpiStore::retire_channel(const core::OwnerLink &link, const std::string &channel_id)
{
    Transaction xact("gcalsync: retiring a watch channel");
    {
        // Sealed in the transaction that stores it, under the key lock.
        std::string sealed = seal_secret(link.refresh_token, core::channel_stop_aad(channel_id));
        Spi spi;
        spi.run(sql::kLockLink, {link.owner});  // owner row first, then the channel (kLockOwnerRow)
        spi.run(sql::kRetireChannel, {channel_id, link.owner, bytea_arg(sealed)});
    }
    xact.commit();
}

void SpiStore::push_unsupported(const core::OwnerLink &link, const std::string &calendar_id)
{
    run_alone("gcalsync: recording a calendar without push", sql::kPushUnsupported, {link.owner, calendar_id});
}

std::vector<core::ChannelStop> SpiStore::channels_to_stop(std::size_t limit)
{
    Transaction xact("gcalsync: reading the channel stop queue");
    std::vector<core::ChannelStop> out;
    std::vector<std::string> unreadable;
    if (extension_installed()) {
        Spi spi;
        uint64_t n = spi.run(sql::kChannelsToStop, {static_cast<int64_t>(limit)});
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
    run_alone("gcalsync: channel stopped", sql::kChannelStopped, {channel_id});
}

// ---- the outbox (core/outbox.hpp) ------------------------------------------------------------

std::vector<core::OutboxWrite> SpiStore::due_writes(std::size_t limit,
                                                    const std::function<bool(const std::string &)> &busy)
{
    std::vector<core::OutboxWrite> out;
    if (schema_1_0_)
        return out;  // no outbox before ALTER EXTENSION UPDATE
    Transaction xact("gcalsync: reading the outbox");
    if (!extension_installed()) {
        xact.commit();  // before CREATE EXTENSION, or after DROP EXTENSION: nothing to send
        return out;
    }
    {
        Spi spi;
        spi.run(sql::kFailStrandedWrites);
        spi.run(sql::kHoldSentWrites);
        uint64_t n = spi.run(sql::kDueWrites, {static_cast<int64_t>(limit)});
        out.reserve(n);
        for (uint64_t i = 0; i < n; i++) {
            core::OutboxWrite w;
            w.owner = spi.get_text(i, 1).value_or("");
            if (busy && busy(w.owner))
                continue;
            w.id = spi.get_int64(i, 0).value_or(0);
            w.calendar_id = spi.get_text(i, 2).value_or("");
            w.event_id = spi.get_text(i, 3).value_or("");
            w.op = core::write_op_from(spi.get_text(i, 4).value_or("")).value_or(core::WriteOp::Update);
            w.payload = spi.get_text(i, 5).value_or("");
            w.etag = spi.get_text(i, 6);
            w.send_updates = spi.get_text(i, 7).value_or("none");
            w.attempts = static_cast<int>(spi.get_int64(i, 8).value_or(0));
            w.sent = spi.get_bool(i, 9).value_or(true);
            out.push_back(std::move(w));
        }
    }
    xact.commit();
    return out;
}

std::optional<core::OwnerLink> SpiStore::write_link(const std::string &owner)
{
    std::optional<core::OwnerLink> out;
    std::optional<std::string> unreadable;
    core::OwnerLink l;
    Transaction xact("gcalsync: reading a link for writes");
    {
        Spi spi;
        if (spi.run(sql::kOwnerLinkForWrites, {owner}) > 0) {
            l.owner = owner;
            l.generation = spi.get_int64(0, 1).value_or(0);
            std::string why;
            auto token = open_secret(spi.get_text(0, 2).value_or(""), core::refresh_token_aad(owner), &why);
            l.state = core::owner_state_from(spi.get_text(0, 3).value_or("")).value_or(core::OwnerState::Error);
            l.failures = static_cast<int>(spi.get_int64(0, 4).value_or(0));
            l.requested_seq = spi.get_int64(0, 5).value_or(0);
            l.resync_mark = spi.get_int64(0, 6).value_or(0);
            if (token) {
                l.refresh_token = std::move(*token);
                out = l;
            } else {
                unreadable = "cannot decrypt the refresh token: " + why;
            }
        }
    }
    xact.commit();
    if (unreadable)
        owner_failed(l, core::OwnerState::Error, *unreadable, now_micros());
    return out;
}

void SpiStore::write_finished(const core::OwnerLink &link, const core::OutboxWrite &w, core::WriteState state,
                              const std::string &error, const core::EventsPage *mirror)
{
    Transaction xact("gcalsync: finishing a write to Google");
    std::size_t upserts = 0, tombstones = 0;
    {
        Spi spi;
        // The owner's row first (lock order); a relinked or unlinked owner
        // gets no rows written (unlinking already failed its queued writes).
        if (lock_link(spi, link) && mirror)
            std::tie(upserts, tombstones) = store_event_rows(spi, link, w.calendar_id, *mirror, nullptr);
        std::optional<std::string> last_error;
        if (!error.empty())
            last_error = core::log_safe(error);
        spi.run(sql::kFinishWrite, {w.id, std::string(core::to_string(state)), last_error});
    }
    xact.commit();
    count_rows(upserts, tombstones);
}

std::vector<int64_t> SpiStore::writes_sent(const std::vector<int64_t> &ids, bool sent)
{
    // Committed durably (synchronous_commit as configured, not the schedule's
    // "off"): the mark must survive a crash right after the request left.
    std::vector<int64_t> marked;
    Transaction xact("gcalsync: marking writes sent to Google");
    {
        Spi spi;
        if (sent) {
            Int8Column col(ids.begin(), ids.end());
            const uint64_t n = spi.run(sql::kMarkWritesSent, {SqlArg(INT8ARRAYOID, int8_array, &col)});
            for (uint64_t i = 0; i < n; i++)
                if (auto id = spi.get_int64(i, 0))
                    marked.push_back(*id);
        } else {
            for (int64_t id : ids)
                spi.run(sql::kUnmarkWriteSent, {id});
        }
    }
    xact.commit();
    return marked;
}

void SpiStore::write_retry(const core::OutboxWrite &w, const std::string &error, Micros retry_at)
{
    Transaction xact("gcalsync: rescheduling a write to Google");
    {
        Spi spi;
        spi.run(sql::kRetryWrite, {w.id, core::log_safe(error), time_arg(retry_at)});
    }
    xact.commit_schedule();
}

}  // namespace gcal::pg
