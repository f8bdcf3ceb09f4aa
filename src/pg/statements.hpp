// statements.hpp — every SQL statement the extension runs, one named constant
// each, grouped by the code that binds it (store.cpp, api.cpp, changes.cpp,
// selftest.cpp). Each is a Statement (pg/spi.hpp): a unique name, the SPI
// result it must produce, its parameter types in order, and its text. Spi::run
// prepares a statement once per process and keeps the plan under its name.
//
// Adding one: write the constant here, next to its group, and list it in
// kStatementTable (statements.cpp); a statement missing there fails loudly
// on first use. Parameters are passed typed from C++ (SqlArg), so the SQL
// needs no casts of them; pass a NULL rather than comparing in SQL.
//
// These statements run as a superuser (the worker, or a SECURITY DEFINER
// function's owner), and Spi runs each with search_path = pg_catalog,
// pg_temp. Functions and types are written pg_catalog-qualified all the
// same, and tables gcalsync-qualified; operators stay bare (under that path
// only pg_catalog's exist). CONTRIBUTING.md, "SQL that runs with elevated
// rights".
#pragma once

#include "pg/spi.hpp"

namespace gcal::pg {

// statement_count is the number of statements in the table; statement_slot
// is the position of `stmt` in it, found by name. A name not in the table,
// or listed twice, or a text that differs from the table's under that name,
// is an internal error (std::logic_error).
int statement_count();
int statement_slot(const Statement &stmt);
// statement_at is the table's statement at a position (0 <= i < statement_count()).
const Statement &statement_at(int i);

namespace sql {

// ---- store.cpp: the worker's reads and page writes ------------------------------------------

// $1 owner. The owner's row, locked against unlink/relink until commit, with
// what tells whether it still is the link the work was done for.
inline constexpr Statement kLockLink{"store.lock_link", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT generation, resync_requested_at
      FROM gcalsync.owner
     WHERE owner = $1
       FOR SHARE
)sql"};

// $1 owner. The owner's row, locked for the end of a round (which updates
// it): the first lock of the transaction, as in every other transaction that
// writes an owner's rows (owner row first, then calendar_sync, sync_token,
// channel: one order everywhere, so no two of them deadlock).
inline constexpr Statement kLockOwnerRow{"store.lock_owner_row", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT 1 FROM gcalsync.owner WHERE owner = $1 FOR NO KEY UPDATE
)sql"};

// $1 owner. Probes, without waiting, whether another session holds the
// owner's row (an application transaction left idle after gcal_sync_now):
// fails with lock_not_available (55P03) if it does. A share lock, released
// at once (the probe's transaction ends right after).
inline constexpr Statement kProbeOwnerRow{"store.probe_owner_row", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT 1 FROM gcalsync.owner WHERE owner = $1 FOR SHARE NOWAIT
)sql"};

// $1 owner, $2 kind, $3 calendar_id, $4 params, $5 next sync token ('' if
// none), $6 next page token ('' if none), $7 whether this page starts a full
// listing. A page's progress: the next page token, or on the last page the
// new sync token. The first page of a full listing also notes its tick of
// gcalsync.sync_clock (kTickClock): the sweep's clock (kSweepEvents).
inline constexpr Statement kSaveStep{
    "store.save_step", SPI_OK_INSERT, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID}, R"sql(
    INSERT INTO gcalsync.sync_token AS t
           (owner, kind, calendar_id, params, sync_token, page_token, full_sync_started_at, updated_at,
            full_sync_started_tick)
    VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''), CASE WHEN $7 THEN pg_catalog.now() END,
            pg_catalog.now(), CASE WHEN $7 THEN pg_catalog.currval('gcalsync.sync_clock'::pg_catalog.regclass) END)
    ON CONFLICT (owner, kind, calendar_id, params) DO UPDATE
       SET sync_token = CASE WHEN $5 <> '' THEN $5 ELSE t.sync_token END,
           page_token = NULLIF($6, ''),
           full_sync_started_at = CASE WHEN $5 <> '' THEN NULL
                                       WHEN $7 THEN pg_catalog.now()
                                       ELSE t.full_sync_started_at END,
           full_sync_started_tick = CASE WHEN $5 <> '' THEN NULL
                                         WHEN $7 THEN pg_catalog.currval('gcalsync.sync_clock'::pg_catalog.regclass)
                                         ELSE t.full_sync_started_tick END,
           updated_at = pg_catalog.now()
)sql"};

// $1 owner, $2 whether the page is the first of a full listing, $3 whether
// it is the last (carries the sync token), $4 the rows it wrote. A page of a
// full listing counted in the owner's full-sync progress (gcalsync.status);
// see record_full_sync_progress in store.cpp.
inline constexpr Statement kFullSyncProgress{
    "store.full_sync_progress", SPI_OK_UPDATE, {TEXTOID, BOOLOID, BOOLOID, INT8OID}, R"sql(
    WITH f AS (SELECT o.full_sync_started_at IS NULL
                      OR o.full_sync_started_at < greatest(o.linked_at, o.resync_requested_at)
                      OR ($2 AND o.full_sync_finished_at IS NOT NULL) AS fresh
                 FROM gcalsync.owner o
                WHERE o.owner = $1),
         d AS (SELECT $3 AND NOT EXISTS (SELECT 1 FROM gcalsync.calendar_sync c
                                          WHERE c.owner = $1 AND c.enabled
                                            AND NOT EXISTS (SELECT 1 FROM gcalsync.sync_token t
                                                             WHERE t.owner = $1 AND t.kind = 'events'
                                                               AND t.calendar_id = c.calendar_id
                                                               AND t.sync_token IS NOT NULL))
                      AND EXISTS (SELECT 1 FROM gcalsync.sync_token t
                                   WHERE t.owner = $1 AND t.kind = 'calendar_list'
                                     AND t.sync_token IS NOT NULL) AS complete)
    UPDATE gcalsync.owner o
       SET full_sync_started_at = CASE WHEN f.fresh THEN pg_catalog.now() ELSE o.full_sync_started_at END,
           full_sync_pages = CASE WHEN f.fresh THEN 0 ELSE o.full_sync_pages END + 1,
           full_sync_events = CASE WHEN f.fresh THEN 0 ELSE o.full_sync_events END + $4,
           full_sync_finished_at = CASE WHEN d.complete THEN pg_catalog.now()
                                        WHEN f.fresh THEN NULL
                                        ELSE o.full_sync_finished_at END
      FROM f, d
     WHERE o.owner = $1
)sql"};

// $1 owner, $2 calendar ids, $3 each one's next_sync_at as the round read
// it, $4 each one's next check, $5 the link's generation. Completed listings:
// the next check moves only where nobody moved the schedule meanwhile.
inline constexpr Statement kCalendarsSynced{
    "store.calendars_synced", SPI_OK_UPDATE,
    {TEXTOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, INT8OID}, R"sql(
    UPDATE gcalsync.calendar_sync c
       SET last_sync_at = pg_catalog.now(), failures = 0, last_error = NULL,
           next_sync_at = CASE WHEN c.next_sync_at = u.seen THEN u.next_at ELSE c.next_sync_at END
      FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4))
           AS u(id, seen, next_at)
     WHERE c.owner = $1 AND c.calendar_id = u.id
       AND EXISTS (SELECT 1 FROM gcalsync.owner o WHERE o.owner = $1 AND o.generation = $5)
)sql"};

// $1 how many. Owners with work requested (gcal_sync_now, gcal_link, ...),
// then the most overdue owners, then owners with a calendar due: each part
// walks a partial index on next_sync_at and stops after $1 rows (the
// calendars' after 4 x $1), so the cost does not grow with the number of
// owners or of what is due. (Calendars of owners that are not active, e.g.
// revoked, stay "due" and are read and discarded.)
inline constexpr Statement kDueOwners{"store.due_owners", SPI_OK_SELECT, {INT8OID}, R"sql(
    WITH due AS (
        (SELECT owner FROM gcalsync.owner
          WHERE state IN ('pending', 'active', 'backoff')
            AND requested_seq > completed_seq AND next_sync_at <= pg_catalog.now()
          ORDER BY next_sync_at LIMIT $1)
        UNION
        (SELECT owner FROM gcalsync.owner
          WHERE state IN ('pending', 'active', 'backoff') AND next_sync_at <= pg_catalog.now()
          ORDER BY next_sync_at LIMIT $1)
        UNION
        (SELECT owner
           FROM (SELECT c.owner, c.next_sync_at FROM gcalsync.calendar_sync c
                  WHERE c.enabled AND c.next_sync_at <= pg_catalog.now()
                    AND EXISTS (SELECT 1 FROM gcalsync.owner a WHERE a.owner = c.owner AND a.state = 'active')
                  ORDER BY c.next_sync_at LIMIT $1 * 4) AS cal
          GROUP BY owner ORDER BY pg_catalog.min(next_sync_at) LIMIT $1))
    SELECT o.owner, o.generation, o.refresh_token, o.state, o.failures, o.requested_seq,
           o.next_sync_at <= pg_catalog.now(), o.resync_requested_at
      FROM due JOIN gcalsync.owner o USING (owner)
     WHERE o.state IN ('pending', 'active', 'backoff')
       AND (o.next_sync_at <= pg_catalog.now() OR o.state = 'active')
     ORDER BY o.requested_seq > o.completed_seq DESC, o.next_sync_at
     LIMIT $1
)sql"};

// When anything is due next: an owner, or a calendar of an active owner.
inline constexpr Statement kNextDue{"store.next_due", SPI_OK_SELECT, {}, R"sql(
    SELECT least((SELECT pg_catalog.min(next_sync_at) FROM gcalsync.owner
                   WHERE state IN ('pending', 'active', 'backoff')),
                 (SELECT c.next_sync_at FROM gcalsync.calendar_sync c
                   WHERE c.enabled
                     AND EXISTS (SELECT 1 FROM gcalsync.owner o WHERE o.owner = c.owner AND o.state = 'active')
                   ORDER BY c.next_sync_at LIMIT 1))
)sql"};

// The installed version of the extension ('1.0' until ALTER EXTENSION UPDATE).
inline constexpr Statement kExtensionVersion{"store.extension_version", SPI_OK_SELECT, {}, R"sql(
    SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'gcalsync'
)sql"};

// The OAuth client (client_secret sealed).
inline constexpr Statement kClient{"store.client", SPI_OK_SELECT, {}, R"sql(
    SELECT client_id, client_secret FROM gcalsync.client
)sql"};

// $1 owner, $2 due by. The owner's calendars due by then.
inline constexpr Statement kDueCalendars{"store.due_calendars", SPI_OK_SELECT, {TEXTOID, TIMESTAMPTZOID}, R"sql(
    SELECT calendar_id, next_sync_at, pg_catalog.int8(failures)
      FROM gcalsync.calendar_sync
     WHERE owner = $1 AND enabled AND next_sync_at <= greatest(pg_catalog.now(), $2)
     ORDER BY calendar_id
)sql"};

// $1 owner. Live calendar-list entries without a stored calendar resource:
// their calendars.get was lost to a crash or restart after the list's page
// committed (the next, incremental list does not name them again).
inline constexpr Statement kUnfetchedCalendars{"store.unfetched_calendars", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT l.calendar_id
      FROM gcalsync.calendar_list l
     WHERE l.owner = $1 AND NOT l.deleted
       AND NOT EXISTS (SELECT FROM gcalsync.calendar c WHERE c.owner = l.owner AND c.calendar_id = l.calendar_id)
)sql"};

// $1 owner, $2 kind, $3 calendar_id, $4 params. Where a listing stands.
inline constexpr Statement kCursor{"store.cursor", SPI_OK_SELECT, {TEXTOID, TEXTOID, TEXTOID, TEXTOID}, R"sql(
    SELECT sync_token, page_token
      FROM gcalsync.sync_token
     WHERE owner = $1 AND kind = $2 AND calendar_id = $3 AND params = $4
)sql"};

// $1 owner, $2 kind, $3 calendar_id, $4 params. A full listing is required.
inline constexpr Statement kResetCursor{"store.reset_cursor", SPI_OK_UPDATE, {TEXTOID, TEXTOID, TEXTOID, TEXTOID},
                                        R"sql(
    UPDATE gcalsync.sync_token
       SET sync_token = NULL, page_token = NULL, full_sync_started_at = NULL, updated_at = pg_catalog.now()
     WHERE owner = $1 AND kind = $2 AND calendar_id = $3 AND params = $4
)sql"};

// $1 owner, $2 .. $16 one array per column (calendar_id first, data last).
// A calendar list page, one statement for all its entries.
inline constexpr Statement kUpsertCalendarList{
    "store.upsert_calendar_list", SPI_OK_INSERT,
    {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
     BOOLARRAYOID, BOOLARRAYOID, BOOLARRAYOID, BOOLARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
     TEXTARRAYOID},
    R"sql(
    INSERT INTO gcalsync.calendar_list AS l
           (owner, calendar_id, summary, summary_override, description, location, time_zone, access_role,
            is_primary, hidden, selected, deleted, color_id, background_color, foreground_color, data, synced_at,
            synced_tick)
    SELECT $1, u.id, u.summary, u.summary_override, u.description, u.location, u.time_zone, u.access_role,
           u.is_primary, u.hidden, u.selected, u.deleted, u.color_id, u.background_color, u.foreground_color,
           u.data::pg_catalog.jsonb, pg_catalog.now(), pg_catalog.currval('gcalsync.sync_clock'::pg_catalog.regclass)
      FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4),
                      pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7),
                      pg_catalog.unnest($8), pg_catalog.unnest($9), pg_catalog.unnest($10),
                      pg_catalog.unnest($11), pg_catalog.unnest($12), pg_catalog.unnest($13),
                      pg_catalog.unnest($14), pg_catalog.unnest($15), pg_catalog.unnest($16))
           AS u(id, summary, summary_override, description, location, time_zone, access_role,
                is_primary, hidden, selected, deleted, color_id, background_color, foreground_color, data)
    ON CONFLICT (owner, calendar_id) DO UPDATE
       SET summary = excluded.summary, summary_override = excluded.summary_override,
           description = excluded.description, location = excluded.location, time_zone = excluded.time_zone,
           access_role = excluded.access_role, is_primary = excluded.is_primary, hidden = excluded.hidden,
           selected = excluded.selected, deleted = excluded.deleted, color_id = excluded.color_id,
           background_color = excluded.background_color, foreground_color = excluded.foreground_color,
           data = excluded.data, synced_at = excluded.synced_at, synced_tick = excluded.synced_tick
)sql"};

// $1 owner, $2 calendar ids, $3 each one's deleted flag. New calendars are
// due at once; a calendar coming back from deletion too.
inline constexpr Statement kScheduleCalendars{
    "store.schedule_calendars", SPI_OK_INSERT, {TEXTOID, TEXTARRAYOID, BOOLARRAYOID}, R"sql(
    INSERT INTO gcalsync.calendar_sync AS c (owner, calendar_id, enabled, next_sync_at)
    SELECT $1, u.id, NOT u.deleted, pg_catalog.now()
      FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(id, deleted)
    ON CONFLICT (owner, calendar_id) DO UPDATE
       SET enabled = excluded.enabled,
           next_sync_at = CASE WHEN excluded.enabled AND NOT c.enabled THEN pg_catalog.now() ELSE c.next_sync_at END
)sql"};

// $1 owner, $2 params, $3 whether the listing's first page is this one. What
// a complete full listing of the calendar list did not return was deleted
// meanwhile; returns those calendar ids. "Not returned" is told by the
// ticks of gcalsync.sync_clock, not by the clock (see kSweepEvents).
inline constexpr Statement kSweepCalendarList{"store.sweep_calendar_list", SPI_OK_SELECT, {TEXTOID, TEXTOID, BOOLOID},
                                              R"sql(
    WITH listing AS (
        SELECT full_sync_started_tick AS started_tick, full_sync_started_at AS started_at
          FROM gcalsync.sync_token
         WHERE owner = $1 AND kind = 'calendar_list' AND calendar_id = '' AND params = $2),
    gone AS (
        UPDATE gcalsync.calendar_list
           SET deleted = true, data = data || '{"deleted": true}'::pg_catalog.jsonb, synced_at = pg_catalog.now()
         WHERE owner = $1 AND NOT deleted
           AND CASE WHEN $3
                    THEN synced_tick IS NULL
                         OR synced_tick < (SELECT pg_catalog.currval('gcalsync.sync_clock'::pg_catalog.regclass))
                    WHEN (SELECT started_tick IS NOT NULL AND started_at IS NOT NULL FROM listing)
                    THEN synced_tick IS NULL OR synced_tick < (SELECT started_tick FROM listing)
                    ELSE synced_at IS NULL
                         OR synced_at < coalesce((SELECT started_at FROM listing), pg_catalog.now())
               END
        RETURNING calendar_id),
    off AS (
        UPDATE gcalsync.calendar_sync c SET enabled = false
          FROM gone
         WHERE c.owner = $1 AND c.calendar_id = gone.calendar_id)
    SELECT calendar_id FROM gone
)sql"};

// $1 owner, $2 calendar_id, $3 summary, $4 description, $5 location,
// $6 time_zone, $7 data. One calendar (calendars.get).
inline constexpr Statement kUpsertCalendar{
    "store.upsert_calendar", SPI_OK_INSERT, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}, R"sql(
    INSERT INTO gcalsync.calendar (owner, calendar_id, summary, description, location, time_zone, data, synced_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7::pg_catalog.jsonb, pg_catalog.now())
    ON CONFLICT (owner, calendar_id) DO UPDATE
       SET summary = excluded.summary, description = excluded.description, location = excluded.location,
           time_zone = excluded.time_zone, data = excluded.data, synced_at = excluded.synced_at
)sql"};

// $1 owner, $2 calendar_id, $3 summary, $4 time zone (NULL: unknown). What
// an events envelope says of its calendar, where it differs from the row.
inline constexpr Statement kCalendarMetadata{
    "store.calendar_metadata", SPI_OK_UPDATE_RETURNING, {TEXTOID, TEXTOID, TEXTOID, TEXTOID}, R"sql(
    UPDATE gcalsync.calendar
       SET summary = COALESCE($3, summary), time_zone = COALESCE($4, time_zone),
           data = data || pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('summary', $3, 'timeZone', $4)),
           synced_at = pg_catalog.now()
     WHERE owner = $1 AND calendar_id = $2
       AND (summary IS DISTINCT FROM COALESCE($3, summary) OR time_zone IS DISTINCT FROM COALESCE($4, time_zone))
    RETURNING calendar_id
)sql"};

// The same for the owner's calendar list entry (its summary and timeZone are
// the calendar's; summaryOverride is the owner's own and stays).
inline constexpr Statement kCalendarListMetadata{
    "store.calendar_list_metadata", SPI_OK_UPDATE_RETURNING, {TEXTOID, TEXTOID, TEXTOID, TEXTOID}, R"sql(
    UPDATE gcalsync.calendar_list
       SET summary = COALESCE($3, summary), time_zone = COALESCE($4, time_zone),
           data = data || pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('summary', $3, 'timeZone', $4)),
           synced_at = pg_catalog.now()
     WHERE owner = $1 AND calendar_id = $2 AND NOT deleted
       AND (summary IS DISTINCT FROM COALESCE($3, summary) OR time_zone IS DISTINCT FROM COALESCE($4, time_zone))
    RETURNING calendar_id
)sql"};

// joined_sql is the text of two SQL string literals, one after the other, as
// a compile-time constant (for statements that share a part).
template <std::size_t N>
struct SqlText {
    char text[N];
};
template <std::size_t A, std::size_t B>
constexpr SqlText<A + B - 1> joined_sql(const char (&a)[A], const char (&b)[B])
{
    SqlText<A + B - 1> out{};
    for (std::size_t i = 0; i + 1 < A; i++)
        out.text[i] = a[i];
    for (std::size_t i = 0; i < B; i++)
        out.text[A - 1 + i] = b[i];
    return out;
}

// The events INSERT of a page: $1 owner, $2 calendar_id, $3 .. $27 one
// array per column (event_id first, data last, recurrence as JSON text),
// $28 self_response (added in 1.1).
// kInsertEvents is this text alone; kUpsertEvents adds ON CONFLICT.
inline constexpr char kEventsInsertSql[] = R"sql(
    INSERT INTO gcalsync.event AS e
           (owner, calendar_id, event_id, status, summary, description, location, start_at, end_at,
            start_date, end_date, time_zone, recurrence, recurring_event_id, original_start_at,
            original_start_date, ical_uid, sequence, event_type, transparency, visibility, organizer_email,
            creator_email, html_link, created, updated, data, synced_at, synced_tick, self_response)
    SELECT $1, $2, u.id, u.status, u.summary, u.description, u.location, u.start_at, u.end_at,
           u.start_date, u.end_date, u.time_zone,
           CASE WHEN u.recurrence IS NOT NULL
                THEN ARRAY(SELECT pg_catalog.jsonb_array_elements_text(u.recurrence::pg_catalog.jsonb)) END,
           u.recurring_event_id, u.original_start_at, u.original_start_date, u.ical_uid, u.sequence,
           u.event_type, u.transparency, u.visibility, u.organizer_email, u.creator_email, u.html_link,
           u.created, u.updated, u.data::pg_catalog.jsonb, pg_catalog.now(), pg_catalog.currval('gcalsync.sync_clock'::pg_catalog.regclass),
           u.self_response
      FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),
                      pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8),
                      pg_catalog.unnest($9), pg_catalog.unnest($10), pg_catalog.unnest($11),
                      pg_catalog.unnest($12), pg_catalog.unnest($13), pg_catalog.unnest($14),
                      pg_catalog.unnest($15), pg_catalog.unnest($16), pg_catalog.unnest($17),
                      pg_catalog.unnest($18), pg_catalog.unnest($19), pg_catalog.unnest($20),
                      pg_catalog.unnest($21), pg_catalog.unnest($22), pg_catalog.unnest($23),
                      pg_catalog.unnest($24), pg_catalog.unnest($25), pg_catalog.unnest($26),
                      pg_catalog.unnest($27), pg_catalog.unnest($28))
           AS u(id, status, summary, description, location, start_at, end_at, start_date, end_date,
                time_zone, recurrence, recurring_event_id, original_start_at, original_start_date, ical_uid,
                sequence, event_type, transparency, visibility, organizer_email, creator_email, html_link,
                created, updated, data, self_response)
)sql";
inline constexpr auto kEventsUpsertSql = joined_sql(kEventsInsertSql, R"sql(
    ON CONFLICT (owner, calendar_id, event_id) DO UPDATE
       SET status = excluded.status, summary = excluded.summary, description = excluded.description,
           location = excluded.location, start_at = excluded.start_at, end_at = excluded.end_at,
           start_date = excluded.start_date, end_date = excluded.end_date, time_zone = excluded.time_zone,
           recurrence = excluded.recurrence, recurring_event_id = excluded.recurring_event_id,
           original_start_at = excluded.original_start_at, original_start_date = excluded.original_start_date,
           ical_uid = excluded.ical_uid, sequence = excluded.sequence, event_type = excluded.event_type,
           transparency = excluded.transparency, visibility = excluded.visibility,
           organizer_email = excluded.organizer_email, creator_email = excluded.creator_email,
           html_link = excluded.html_link, created = excluded.created, updated = excluded.updated,
           data = excluded.data, synced_at = excluded.synced_at, synced_tick = excluded.synced_tick,
           self_response = excluded.self_response
)sql");
#define GCAL_EVENTS_PARAMS                                                                                        \
    {TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,                     \
     TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, DATEARRAYOID, DATEARRAYOID, TEXTARRAYOID, TEXTARRAYOID,          \
     TEXTARRAYOID, TIMESTAMPTZARRAYOID, DATEARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,  \
     TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,         \
     TEXTARRAYOID, TEXTARRAYOID}

// A page of a full listing, when none of its rows should exist yet.
inline constexpr Statement kInsertEvents{"store.insert_events", SPI_OK_INSERT, GCAL_EVENTS_PARAMS,
                                         kEventsInsertSql};

// Any page: its rows inserted or updated.
inline constexpr Statement kUpsertEvents{"store.upsert_events", SPI_OK_INSERT, GCAL_EVENTS_PARAMS,
                                         kEventsUpsertSql.text};

#undef GCAL_EVENTS_PARAMS

// $1 owner, $2 calendar_id, $3 params, $4 whether the listing's first page
// is this one. What a complete full listing of a calendar's events did not
// return was deleted meanwhile; returns those ids. Every transaction that
// writes a page first takes a tick of gcalsync.sync_clock (kTickClock) and
// stamps its rows with it; the listing's first page notes its tick. A row
// the listing returned carries a tick at least the listing's start, so older
// ticks are what it did not return (a one-page listing: older than this
// transaction's tick). Ticks only grow and pg_dump carries the sequence; the
// clock may be set back between two pages (NTP), which made rows written
// after the step look older than the listing's start and marked them
// cancelled. (A listing begun before the update to 1.1 has no tick: the
// clock decides, as it did; so it does when a reset of the listing,
// gcal_resync or a 410, cleared full_sync_started_at.) This transaction's
// tick is read in a scalar subquery: evaluated once, and Citus refuses a
// volatile function in the WHERE of an UPDATE of a distributed table.
inline constexpr Statement kSweepEvents{"store.sweep_events", SPI_OK_UPDATE_RETURNING,
                                        {TEXTOID, TEXTOID, TEXTOID, BOOLOID}, R"sql(
    WITH listing AS (
        SELECT full_sync_started_tick AS started_tick, full_sync_started_at AS started_at
          FROM gcalsync.sync_token
         WHERE owner = $1 AND kind = 'events' AND calendar_id = $2 AND params = $3)
    UPDATE gcalsync.event
       SET status = 'cancelled', data = data || '{"status": "cancelled"}'::pg_catalog.jsonb,
           synced_at = pg_catalog.now()
     WHERE owner = $1 AND calendar_id = $2 AND status <> 'cancelled'
       AND CASE WHEN $4
                THEN synced_tick IS NULL
                     OR synced_tick < (SELECT pg_catalog.currval('gcalsync.sync_clock'::pg_catalog.regclass))
                WHEN (SELECT started_tick IS NOT NULL AND started_at IS NOT NULL FROM listing)
                THEN synced_tick IS NULL OR synced_tick < (SELECT started_tick FROM listing)
                ELSE synced_at IS NULL
                     OR synced_at < coalesce((SELECT started_at FROM listing), pg_catalog.now())
           END
    RETURNING event_id
)sql"};

// A tick of the sweep's clock for this transaction (kSweepEvents); the
// page's statements read it back with currval.
inline constexpr Statement kTickClock{"store.tick_clock", SPI_OK_SELECT, {}, R"sql(
    SELECT pg_catalog.nextval('gcalsync.sync_clock'::pg_catalog.regclass)
)sql"};

// ---- the same page writes for a schema still at 1.0 -----------------------------------------
// The library of 1.1 may run before ALTER EXTENSION gcalsync UPDATE: then
// the tables lack the sweep's ticks (synced_tick,
// full_sync_started_tick) and these texts of 1.0 write the pages, the sweep
// going by the clock as it did (SpiStore::schema_1_0_).

inline constexpr Statement kSaveStepV10{
    "store.save_step.v1_0", SPI_OK_INSERT, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID}, R"sql(
    INSERT INTO gcalsync.sync_token AS t
           (owner, kind, calendar_id, params, sync_token, page_token, full_sync_started_at, updated_at)
    VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''), CASE WHEN $7 THEN pg_catalog.now() END,
            pg_catalog.now())
    ON CONFLICT (owner, kind, calendar_id, params) DO UPDATE
       SET sync_token = CASE WHEN $5 <> '' THEN $5 ELSE t.sync_token END,
           page_token = NULLIF($6, ''),
           full_sync_started_at = CASE WHEN $5 <> '' THEN NULL
                                       WHEN $7 THEN pg_catalog.now()
                                       ELSE t.full_sync_started_at END,
           updated_at = pg_catalog.now()
)sql"};

inline constexpr Statement kUpsertCalendarListV10{
    "store.upsert_calendar_list.v1_0", SPI_OK_INSERT,
    {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
     BOOLARRAYOID, BOOLARRAYOID, BOOLARRAYOID, BOOLARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
     TEXTARRAYOID},
    R"sql(
    INSERT INTO gcalsync.calendar_list AS l
           (owner, calendar_id, summary, summary_override, description, location, time_zone, access_role,
            is_primary, hidden, selected, deleted, color_id, background_color, foreground_color, data, synced_at)
    SELECT $1, u.id, u.summary, u.summary_override, u.description, u.location, u.time_zone, u.access_role,
           u.is_primary, u.hidden, u.selected, u.deleted, u.color_id, u.background_color, u.foreground_color,
           u.data::pg_catalog.jsonb, pg_catalog.now()
      FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4),
                      pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7),
                      pg_catalog.unnest($8), pg_catalog.unnest($9), pg_catalog.unnest($10),
                      pg_catalog.unnest($11), pg_catalog.unnest($12), pg_catalog.unnest($13),
                      pg_catalog.unnest($14), pg_catalog.unnest($15), pg_catalog.unnest($16))
           AS u(id, summary, summary_override, description, location, time_zone, access_role,
                is_primary, hidden, selected, deleted, color_id, background_color, foreground_color, data)
    ON CONFLICT (owner, calendar_id) DO UPDATE
       SET summary = excluded.summary, summary_override = excluded.summary_override,
           description = excluded.description, location = excluded.location, time_zone = excluded.time_zone,
           access_role = excluded.access_role, is_primary = excluded.is_primary, hidden = excluded.hidden,
           selected = excluded.selected, deleted = excluded.deleted, color_id = excluded.color_id,
           background_color = excluded.background_color, foreground_color = excluded.foreground_color,
           data = excluded.data, synced_at = excluded.synced_at
)sql"};

inline constexpr Statement kSweepCalendarListV10{"store.sweep_calendar_list.v1_0", SPI_OK_SELECT, {TEXTOID, TEXTOID}, R"sql(
    WITH gone AS (
        UPDATE gcalsync.calendar_list
           SET deleted = true, data = data || '{"deleted": true}'::pg_catalog.jsonb, synced_at = pg_catalog.now()
         WHERE owner = $1 AND NOT deleted
           AND (synced_at IS NULL
                OR synced_at < coalesce((SELECT full_sync_started_at FROM gcalsync.sync_token
                                          WHERE owner = $1 AND kind = 'calendar_list'
                                            AND calendar_id = '' AND params = $2), pg_catalog.now()))
        RETURNING calendar_id),
    off AS (
        UPDATE gcalsync.calendar_sync c SET enabled = false
          FROM gone
         WHERE c.owner = $1 AND c.calendar_id = gone.calendar_id)
    SELECT calendar_id FROM gone
)sql"};

inline constexpr char kEventsInsertSqlV10[] = R"sql(
    INSERT INTO gcalsync.event AS e
           (owner, calendar_id, event_id, status, summary, description, location, start_at, end_at,
            start_date, end_date, time_zone, recurrence, recurring_event_id, original_start_at,
            original_start_date, ical_uid, sequence, event_type, transparency, visibility, organizer_email,
            creator_email, html_link, created, updated, data, synced_at)
    SELECT $1, $2, u.id, u.status, u.summary, u.description, u.location, u.start_at, u.end_at,
           u.start_date, u.end_date, u.time_zone,
           CASE WHEN u.recurrence IS NOT NULL
                THEN ARRAY(SELECT pg_catalog.jsonb_array_elements_text(u.recurrence::pg_catalog.jsonb)) END,
           u.recurring_event_id, u.original_start_at, u.original_start_date, u.ical_uid, u.sequence,
           u.event_type, u.transparency, u.visibility, u.organizer_email, u.creator_email, u.html_link,
           u.created, u.updated, u.data::pg_catalog.jsonb, pg_catalog.now()
      FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),
                      pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8),
                      pg_catalog.unnest($9), pg_catalog.unnest($10), pg_catalog.unnest($11),
                      pg_catalog.unnest($12), pg_catalog.unnest($13), pg_catalog.unnest($14),
                      pg_catalog.unnest($15), pg_catalog.unnest($16), pg_catalog.unnest($17),
                      pg_catalog.unnest($18), pg_catalog.unnest($19), pg_catalog.unnest($20),
                      pg_catalog.unnest($21), pg_catalog.unnest($22), pg_catalog.unnest($23),
                      pg_catalog.unnest($24), pg_catalog.unnest($25), pg_catalog.unnest($26),
                      pg_catalog.unnest($27))
           AS u(id, status, summary, description, location, start_at, end_at, start_date, end_date,
                time_zone, recurrence, recurring_event_id, original_start_at, original_start_date, ical_uid,
                sequence, event_type, transparency, visibility, organizer_email, creator_email, html_link,
                created, updated, data)
)sql";
inline constexpr auto kEventsUpsertSqlV10 = joined_sql(kEventsInsertSqlV10, R"sql(
    ON CONFLICT (owner, calendar_id, event_id) DO UPDATE
       SET status = excluded.status, summary = excluded.summary, description = excluded.description,
           location = excluded.location, start_at = excluded.start_at, end_at = excluded.end_at,
           start_date = excluded.start_date, end_date = excluded.end_date, time_zone = excluded.time_zone,
           recurrence = excluded.recurrence, recurring_event_id = excluded.recurring_event_id,
           original_start_at = excluded.original_start_at, original_start_date = excluded.original_start_date,
           ical_uid = excluded.ical_uid, sequence = excluded.sequence, event_type = excluded.event_type,
           transparency = excluded.transparency, visibility = excluded.visibility,
           organizer_email = excluded.organizer_email, creator_email = excluded.creator_email,
           html_link = excluded.html_link, created = excluded.created, updated = excluded.updated,
           data = excluded.data, synced_at = excluded.synced_at
)sql");
#define GCAL_EVENTS_PARAMS                                                                                        \
    {TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,                     \
     TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, DATEARRAYOID, DATEARRAYOID, TEXTARRAYOID, TEXTARRAYOID,          \
     TEXTARRAYOID, TIMESTAMPTZARRAYOID, DATEARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,  \
     TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,         \
     TEXTARRAYOID}

// A page of a full listing, when none of its rows should exist yet.
inline constexpr Statement kInsertEventsV10{"store.insert_events.v1_0", SPI_OK_INSERT, GCAL_EVENTS_PARAMS,
                                         kEventsInsertSqlV10};

// Any page: its rows inserted or updated.
inline constexpr Statement kUpsertEventsV10{"store.upsert_events.v1_0", SPI_OK_INSERT, GCAL_EVENTS_PARAMS,
                                         kEventsUpsertSqlV10.text};

#undef GCAL_EVENTS_PARAMS

inline constexpr Statement kSweepEventsV10{"store.sweep_events.v1_0", SPI_OK_UPDATE_RETURNING, {TEXTOID, TEXTOID, TEXTOID},
                                        R"sql(
    UPDATE gcalsync.event
       SET status = 'cancelled', data = data || '{"status": "cancelled"}'::pg_catalog.jsonb,
           synced_at = pg_catalog.now()
     WHERE owner = $1 AND calendar_id = $2 AND status <> 'cancelled'
       AND (synced_at IS NULL
            OR synced_at < coalesce((SELECT full_sync_started_at FROM gcalsync.sync_token
                                      WHERE owner = $1 AND kind = 'events' AND calendar_id = $2
                                        AND params = $3), pg_catalog.now()))
    RETURNING event_id
)sql"};

// $1 owner, $2 calendar_id. A calendar answered 404: marked deleted in the list ...
inline constexpr Statement kCalendarGoneList{"store.calendar_gone_list", SPI_OK_UPDATE, {TEXTOID, TEXTOID}, R"sql(
    UPDATE gcalsync.calendar_list
       SET deleted = true, data = data || '{"deleted": true}'::pg_catalog.jsonb, synced_at = pg_catalog.now()
     WHERE owner = $1 AND calendar_id = $2 AND NOT deleted
)sql"};

// ... and checked again at $3 (while the calendar list still lists it: a
// calendar that answers again comes back, see kCalendarBack).
inline constexpr Statement kCalendarGoneSchedule{"store.calendar_gone_schedule", SPI_OK_UPDATE,
                                                 {TEXTOID, TEXTOID, TIMESTAMPTZOID}, R"sql(
    UPDATE gcalsync.calendar_sync
       SET failures = failures + 1, last_error = 'calendar not found (404)', next_sync_at = $3
     WHERE owner = $1 AND calendar_id = $2
)sql"};

// $1 owner, $2 calendar ids. Calendars that left the list or answer 404:
// their live events become tombstones; returns (calendar_id, event_id).
// data says so too, as with every tombstone (kSweepEvents): a row whose
// status and data disagree is a contradiction to every reader (the chaos
// run found such rows: issue 20, test/t/130_chaos_regressions.pl).
inline constexpr Statement kTombstoneCalendarEvents{
    "store.tombstone_calendar_events", SPI_OK_UPDATE_RETURNING, {TEXTOID, TEXTARRAYOID}, R"sql(
    UPDATE gcalsync.event
       SET status = 'cancelled', data = data || '{"status": "cancelled"}'::pg_catalog.jsonb,
           synced_at = pg_catalog.now()
     WHERE owner = $1 AND calendar_id = ANY ($2) AND status <> 'cancelled'
    RETURNING calendar_id, event_id
)sql"};

// $1 owner, $2 calendar ids. Their events' sync tokens are forgotten: if
// such a calendar comes back, its events are listed in full again.
inline constexpr Statement kForgetCalendarTokens{
    "store.forget_calendar_tokens", SPI_OK_DELETE, {TEXTOID, TEXTARRAYOID}, R"sql(
    DELETE FROM gcalsync.sync_token WHERE owner = $1 AND kind = 'events' AND calendar_id = ANY ($2)
)sql"};

// $1 owner, $2 calendar_id. A calendar that answered 404 while still listed
// answers again: its list entry is live again.
inline constexpr Statement kCalendarBack{"store.calendar_back", SPI_OK_UPDATE_RETURNING, {TEXTOID, TEXTOID}, R"sql(
    UPDATE gcalsync.calendar_list l
       SET deleted = false, data = l.data - 'deleted', synced_at = pg_catalog.now()
     WHERE l.owner = $1 AND l.calendar_id = $2 AND l.deleted
       AND EXISTS (SELECT 1 FROM gcalsync.calendar_sync c WHERE c.owner = $1 AND c.calendar_id = $2 AND c.enabled)
    RETURNING l.calendar_id
)sql"};

// $1 owner, $2 calendar_id, $3 error, $4 retry at. A calendar's listing failed.
inline constexpr Statement kCalendarFailed{
    "store.calendar_failed", SPI_OK_UPDATE, {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID}, R"sql(
    UPDATE gcalsync.calendar_sync
       SET failures = failures + 1, last_error = $3, next_sync_at = $4
     WHERE owner = $1 AND calendar_id = $2
)sql"};

// $1 owner. Whether it has enabled calendars and every one of them failed
// its last listing.
inline constexpr Statement kCalendarsAllFailing{"store.calendars_all_failing", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT pg_catalog.bool_and(failures OPERATOR(pg_catalog.>) 0) IS TRUE
      FROM gcalsync.calendar_sync
     WHERE owner = $1 AND enabled
)sql"};

// $1 owner, $2 generation, $3 whether the calendar list was synced, $4 next
// check, $5 the requested_seq the round served. The end of a successful
// round: state active, errors cleared, the schedule moved; returns the old
// state and whether work was requested during the round (then the owner is
// due again at once).
inline constexpr Statement kOwnerSynced{
    "store.owner_synced", SPI_OK_UPDATE_RETURNING, {TEXTOID, INT8OID, BOOLOID, TIMESTAMPTZOID, INT8OID}, R"sql(
    WITH old AS (SELECT state FROM gcalsync.owner WHERE owner = $1 AND generation = $2 FOR UPDATE)
    UPDATE gcalsync.owner o
       SET state = 'active', last_error = NULL, last_error_at = NULL, failures = 0,
           last_sync_at = CASE WHEN $3 THEN pg_catalog.now() ELSE o.last_sync_at END,
           next_sync_at = CASE WHEN NOT $3 THEN o.next_sync_at
                               WHEN o.requested_seq > $5 THEN pg_catalog.now()
                               ELSE $4 END,
           completed_seq = CASE WHEN $3 THEN greatest(o.completed_seq, $5) ELSE o.completed_seq END
      FROM old
     WHERE o.owner = $1 AND o.generation = $2
    RETURNING (SELECT state FROM old), o.requested_seq > $5
)sql"};

// $1 owner, $2 generation, $3 the requested_seq the round served, $4 next
// check. An owner that was active without failures stays so: only its
// schedule moves, and no old state needs reading (nothing to announce). A
// state change meanwhile comes with a new generation, or is not one this
// statement matches (then kOwnerSynced runs). Returns whether work was
// requested during the round.
inline constexpr Statement kOwnerScheduled{
    "store.owner_scheduled", SPI_OK_UPDATE_RETURNING, {TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID}, R"sql(
    UPDATE gcalsync.owner o
       SET last_sync_at = pg_catalog.now(),
           next_sync_at = CASE WHEN o.requested_seq > $3 THEN pg_catalog.now() ELSE $4 END,
           completed_seq = greatest(o.completed_seq, $3)
     WHERE o.owner = $1 AND o.generation = $2 AND o.state = 'active' AND o.failures = 0
    RETURNING o.requested_seq > $3
)sql"};

// $1 owner. All its calendars are due now.
inline constexpr Statement kCalendarsDue{"store.calendars_due", SPI_OK_UPDATE, {TEXTOID}, R"sql(
    UPDATE gcalsync.calendar_sync SET next_sync_at = pg_catalog.now() WHERE owner = $1 AND enabled
)sql"};

// $1 owner, $2 generation, $3 .. $7 per token: kind, calendar_id, params,
// the token the check was made with, the new token. A token moves only where
// it still is the one the check was made with (a gcal_resync, gcal_link or
// unlink meanwhile reset or removed it), and only for the round's link.
inline constexpr Statement kMoveTokens{
    "store.move_tokens", SPI_OK_UPDATE,
    {TEXTOID, INT8OID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID}, R"sql(
    UPDATE gcalsync.sync_token t
       SET sync_token = u.to_token, updated_at = pg_catalog.now()
      FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),
                      pg_catalog.unnest($6), pg_catalog.unnest($7))
           AS u(kind, calendar_id, params, from_token, to_token)
     WHERE t.owner = $1 AND t.kind = u.kind AND t.calendar_id = u.calendar_id AND t.params = u.params
       AND t.sync_token = u.from_token AND t.page_token IS NULL
       AND EXISTS (SELECT 1 FROM gcalsync.owner o WHERE o.owner = $1 AND o.generation = $2)
)sql"};

// $1 owner, $2 generation, $3 new state, $4 error, $5 retry at. A failed
// round; returns the old state.
inline constexpr Statement kOwnerFailed{
    "store.owner_failed", SPI_OK_UPDATE_RETURNING, {TEXTOID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID}, R"sql(
    WITH old AS (SELECT state FROM gcalsync.owner WHERE owner = $1 AND generation = $2 FOR UPDATE)
    UPDATE gcalsync.owner o
       SET state = $3, last_error = $4, last_error_at = pg_catalog.now(), failures = o.failures + 1,
           next_sync_at = $5
      FROM old
     WHERE o.owner = $1 AND o.generation = $2
    RETURNING (SELECT state FROM old)
)sql"};

// $1 retention in seconds. Feed entries older than that go; the highest
// sequence number pruned is kept; returns how many went. Pruning follows the
// feed's order (seq, the order of commits): it removes the entries before
// the first one still young, never an entry after one it keeps, so a
// reader's cursor never skips a kept entry, whatever recorded_at (the clock
// when each transaction began: a long transaction, or a clock set back,
// records an earlier time after a later one) says out of order.
inline constexpr Statement kPruneChanges{"store.prune_changes", SPI_OK_INSERT_RETURNING, {INT8OID}, R"sql(
    WITH gone AS (
        DELETE FROM gcalsync.change
         WHERE seq < coalesce((SELECT c.seq FROM gcalsync.change c
                                WHERE c.recorded_at >= pg_catalog.now() - pg_catalog.make_interval(secs => $1)
                                ORDER BY c.seq LIMIT 1),
                              9223372036854775807)
        RETURNING seq)
    INSERT INTO gcalsync.change_horizon AS h (singleton, pruned_through)
    SELECT true, pg_catalog.max(seq) FROM gone HAVING pg_catalog.count(*) > 0
    ON CONFLICT (singleton) DO UPDATE
       SET pruned_through = greatest(h.pruned_through, excluded.pruned_through)
    RETURNING (SELECT pg_catalog.count(*) FROM gone)
)sql"};

// $1 owner. Its watch channels, newest first.
inline constexpr Statement kChannels{"store.channels", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT channel_id, coalesce(resource_id, ''), kind, calendar_id, expires_at
      FROM gcalsync.channel
     WHERE owner = $1
     ORDER BY expires_at DESC NULLS LAST
)sql"};

// $1 owner. Its calendars that can be watched.
inline constexpr Statement kWatchableCalendars{"store.watchable_calendars", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT calendar_id
      FROM gcalsync.calendar_sync
     WHERE owner = $1 AND enabled AND push_supported
     ORDER BY calendar_id
)sql"};

// $1 channel_id, $2 owner, $3 kind, $4 calendar_id, $5 resource_id,
// $6 the SHA-256 of its token (hex, never the token), $7 expires_at. A
// channel Google opened.
inline constexpr Statement kSaveChannel{
    "store.save_channel", SPI_OK_INSERT,
    {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID}, R"sql(
    INSERT INTO gcalsync.channel (channel_id, owner, kind, calendar_id, resource_id, token, expires_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
)sql"};

// $1 channel_id, $2 resource_id, $3 refresh token (sealed for the channel).
// A channel to stop at Google, queued (the worker's own: the owner went away
// while the channel was being opened).
inline constexpr Statement kQueueChannelStop{"store.queue_channel_stop", SPI_OK_INSERT,
                                             {TEXTOID, TEXTOID, BYTEAOID}, R"sql(
    INSERT INTO gcalsync.channel_stop (channel_id, resource_id, refresh_token)
    VALUES ($1, $2, $3)
    ON CONFLICT DO NOTHING
)sql"};

// $1 channel_id, $2 owner, $3 refresh token (sealed for the channel). A
// renewed or unwanted channel moves to the stop queue.
inline constexpr Statement kRetireChannel{"store.retire_channel", SPI_OK_INSERT, {TEXTOID, TEXTOID, BYTEAOID},
                                          R"sql(
    WITH gone AS (
        DELETE FROM gcalsync.channel
         WHERE channel_id = $1 AND owner = $2
        RETURNING channel_id, resource_id)
    INSERT INTO gcalsync.channel_stop (channel_id, resource_id, refresh_token)
    SELECT channel_id, resource_id, $3 FROM gone WHERE resource_id IS NOT NULL
    ON CONFLICT (channel_id) DO NOTHING
)sql"};

// $1 owner, $2 calendar_id. Google cannot watch this calendar.
inline constexpr Statement kPushUnsupported{"store.push_unsupported", SPI_OK_UPDATE, {TEXTOID, TEXTOID}, R"sql(
    UPDATE gcalsync.calendar_sync SET push_supported = false WHERE owner = $1 AND calendar_id = $2
)sql"};

// $1 how many. The oldest channels to stop.
inline constexpr Statement kChannelsToStop{"store.channels_to_stop", SPI_OK_SELECT, {INT8OID}, R"sql(
    SELECT channel_id, resource_id, refresh_token
      FROM gcalsync.channel_stop
     ORDER BY queued_at
     LIMIT $1
)sql"};

// $1 channel_id. Stopped (or impossible to stop).
inline constexpr Statement kChannelStopped{"store.channel_stopped", SPI_OK_DELETE, {TEXTOID}, R"sql(
    DELETE FROM gcalsync.channel_stop WHERE channel_id = $1
)sql"};

// ---- api.cpp: the SQL API --------------------------------------------------------------------

// $1 owner. Its channels that Google knows (with the owner's sealed token).
inline constexpr Statement kOwnerChannels{"api.owner_channels", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT c.channel_id, c.resource_id, o.refresh_token
      FROM gcalsync.channel c JOIN gcalsync.owner o USING (owner)
     WHERE c.owner = $1 AND c.resource_id IS NOT NULL
)sql"};

// $1 channel_id, $2 resource_id, $3 refresh token (sealed for the channel).
inline constexpr Statement kStopChannel{"api.stop_channel", SPI_OK_INSERT, {TEXTOID, TEXTOID, BYTEAOID}, R"sql(
    INSERT INTO gcalsync.channel_stop (channel_id, resource_id, refresh_token)
    VALUES ($1, $2, $3)
    ON CONFLICT (channel_id) DO NOTHING
)sql"};

// $1 owner.
inline constexpr Statement kDeleteOwnerChannels{"api.delete_owner_channels", SPI_OK_DELETE, {TEXTOID}, R"sql(
    DELETE FROM gcalsync.channel WHERE owner = $1
)sql"};

// $1 client_id, $2 client secret (sealed).
inline constexpr Statement kSetClient{"api.set_client", SPI_OK_INSERT, {TEXTOID, BYTEAOID}, R"sql(
    INSERT INTO gcalsync.client (singleton, client_id, client_secret)
    VALUES (true, $1, $2)
    ON CONFLICT (singleton) DO UPDATE
       SET client_id = excluded.client_id, client_secret = excluded.client_secret, updated_at = pg_catalog.now()
)sql"};

// Owners in state error get another try (with a new client).
inline constexpr Statement kRetryFailedOwners{"api.retry_failed_owners", SPI_OK_UPDATE, {}, R"sql(
    UPDATE gcalsync.owner
       SET state = CASE WHEN last_sync_at IS NULL THEN 'pending' ELSE 'active' END,
           last_error = NULL, last_error_at = NULL, failures = 0, next_sync_at = pg_catalog.now()
     WHERE state = 'error'
)sql"};

// Whether an OAuth client is stored.
inline constexpr Statement kClientExists{"api.client_exists", SPI_OK_SELECT, {}, R"sql(
    SELECT 1 FROM gcalsync.client
)sql"};

// $1 owner, $2 refresh token (sealed). A new link, or a replaced one: new
// generation, state pending, a full sync requested.
inline constexpr Statement kLinkOwner{"api.link_owner", SPI_OK_INSERT, {TEXTOID, BYTEAOID}, R"sql(
    INSERT INTO gcalsync.owner AS o (owner, refresh_token)
    VALUES ($1, $2)
    ON CONFLICT (owner) DO UPDATE
       SET refresh_token = excluded.refresh_token,
           generation = pg_catalog.nextval('gcalsync.link_generation'::pg_catalog.regclass),
           state = 'pending', last_error = NULL, last_error_at = NULL, failures = 0, linked_at = pg_catalog.now(),
           last_sync_at = NULL, next_sync_at = pg_catalog.now(), resync_requested_at = pg_catalog.now(),
           requested_seq = o.requested_seq + 1
)sql"};

// $1 owner. Its sync tokens are forgotten (full listings follow).
inline constexpr Statement kForgetOwnerTokens{"api.forget_owner_tokens", SPI_OK_UPDATE, {TEXTOID}, R"sql(
    UPDATE gcalsync.sync_token
       SET sync_token = NULL, page_token = NULL, full_sync_started_at = NULL, updated_at = pg_catalog.now()
     WHERE owner = $1
)sql"};

// $1 owner. Its calendars are due now, their failures forgotten.
inline constexpr Statement kResetOwnerCalendars{"api.reset_owner_calendars", SPI_OK_UPDATE, {TEXTOID}, R"sql(
    UPDATE gcalsync.calendar_sync
       SET failures = 0, last_error = NULL, next_sync_at = pg_catalog.now()
     WHERE owner = $1
)sql"};

// $1 owner. The owner's row, locked for a change of its link.
inline constexpr Statement kLockOwner{"api.lock_owner", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT 1 FROM gcalsync.owner WHERE owner = $1 FOR UPDATE
)sql"};

// $1 owner, $2 refresh token (sealed). A new token: new generation,
// revoked/error cleared, a sync requested; returns the new state.
inline constexpr Statement kRefreshOwner{"api.refresh_owner", SPI_OK_UPDATE_RETURNING, {TEXTOID, BYTEAOID}, R"sql(
    UPDATE gcalsync.owner
       SET refresh_token = $2, generation = pg_catalog.nextval('gcalsync.link_generation'::pg_catalog.regclass),
           state = CASE WHEN last_sync_at IS NULL THEN 'pending' ELSE 'active' END,
           last_error = NULL, last_error_at = NULL, failures = 0, next_sync_at = pg_catalog.now(),
           requested_seq = requested_seq + 1
     WHERE owner = $1
    RETURNING state
)sql"};

// $1 owner: each of these removes the owner's rows of one table (gcal_unlink).
inline constexpr Statement kUnlinkEvents{"api.unlink_events", SPI_OK_DELETE, {TEXTOID}, R"sql(
    DELETE FROM gcalsync.event WHERE owner = $1
)sql"};
inline constexpr Statement kUnlinkCalendars{"api.unlink_calendars", SPI_OK_DELETE, {TEXTOID}, R"sql(
    DELETE FROM gcalsync.calendar WHERE owner = $1
)sql"};
inline constexpr Statement kUnlinkCalendarList{"api.unlink_calendar_list", SPI_OK_DELETE, {TEXTOID}, R"sql(
    DELETE FROM gcalsync.calendar_list WHERE owner = $1
)sql"};
inline constexpr Statement kUnlinkSyncTokens{"api.unlink_sync_tokens", SPI_OK_DELETE, {TEXTOID}, R"sql(
    DELETE FROM gcalsync.sync_token WHERE owner = $1
)sql"};
inline constexpr Statement kUnlinkCalendarSync{"api.unlink_calendar_sync", SPI_OK_DELETE, {TEXTOID}, R"sql(
    DELETE FROM gcalsync.calendar_sync WHERE owner = $1
)sql"};
inline constexpr Statement kUnlinkOwner{"api.unlink_owner", SPI_OK_DELETE, {TEXTOID}, R"sql(
    DELETE FROM gcalsync.owner WHERE owner = $1
)sql"};
// (The change feed keeps only the unlink itself of an owner.)
inline constexpr Statement kUnlinkChanges{"api.unlink_changes", SPI_OK_DELETE, {TEXTOID}, R"sql(
    DELETE FROM gcalsync.change WHERE owner = $1
)sql"};

// $1 owner, NULL for all. A resync: requested, and due now unless the owner
// is revoked or in error.
inline constexpr Statement kResyncOwners{"api.resync_owners", SPI_OK_UPDATE, {TEXTOID}, R"sql(
    UPDATE gcalsync.owner
       SET resync_requested_at = pg_catalog.now(), requested_seq = requested_seq + 1,
           next_sync_at = CASE WHEN state IN ('pending', 'active') THEN pg_catalog.now() ELSE next_sync_at END
     WHERE $1 IS NULL OR owner = $1
)sql"};

// $1 owner, NULL for all. Sync tokens forgotten.
inline constexpr Statement kResyncTokens{"api.resync_tokens", SPI_OK_UPDATE, {TEXTOID}, R"sql(
    UPDATE gcalsync.sync_token
       SET sync_token = NULL, page_token = NULL, full_sync_started_at = NULL, updated_at = pg_catalog.now()
     WHERE $1 IS NULL OR owner = $1
)sql"};

// $1 owner, NULL for all. Calendars due now.
inline constexpr Statement kResyncCalendars{"api.resync_calendars", SPI_OK_UPDATE, {TEXTOID}, R"sql(
    UPDATE gcalsync.calendar_sync SET next_sync_at = pg_catalog.now() WHERE $1 IS NULL OR owner = $1
)sql"};

// $1 owner. An incremental sync requested now.
inline constexpr Statement kSyncOwnerNow{"api.sync_owner_now", SPI_OK_UPDATE, {TEXTOID}, R"sql(
    UPDATE gcalsync.owner SET next_sync_at = pg_catalog.now(), requested_seq = requested_seq + 1 WHERE owner = $1
)sql"};

// $1 owner. Its enabled calendars due now.
inline constexpr Statement kSyncCalendarsNow{"api.sync_calendars_now", SPI_OK_UPDATE, {TEXTOID}, R"sql(
    UPDATE gcalsync.calendar_sync SET next_sync_at = pg_catalog.now() WHERE owner = $1 AND enabled
)sql"};

// $1 owner. What gcal_wait watches.
inline constexpr Statement kOwnerProgress{"api.owner_progress", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT state, requested_seq, completed_seq FROM gcalsync.owner WHERE owner = $1
)sql"};

// $1 channel_id. The owner of a channel a push names (not locked: the
// owner's row is locked first, then the channel, see kLockOwnerRow).
inline constexpr Statement kPushChannelOwner{"api.push_channel_owner", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT owner FROM gcalsync.channel WHERE channel_id = $1
)sql"};

// $1 owner. The owner's row, locked before its channel (kPushChannel).
inline constexpr Statement kPushLockOwner{"api.push_lock_owner", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT 1 FROM gcalsync.owner WHERE owner = $1 FOR NO KEY UPDATE
)sql"};

// $1 channel_id. A channel a push names, locked (token: the SHA-256 of the
// channel token, hex).
inline constexpr Statement kPushChannel{"api.push_channel", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT owner, kind, calendar_id, coalesce(resource_id, ''), token, last_message_number
      FROM gcalsync.channel
     WHERE channel_id = $1
       FOR UPDATE
)sql"};

// $1 channel_id, $2 message number.
inline constexpr Statement kPushMessageNumber{"api.push_message_number", SPI_OK_UPDATE, {TEXTOID, INT8OID}, R"sql(
    UPDATE gcalsync.channel SET last_message_number = $2 WHERE channel_id = $1
)sql"};

// $1 owner. A push about the calendar list: it is due now.
inline constexpr Statement kPushOwner{"api.push_owner", SPI_OK_UPDATE, {TEXTOID}, R"sql(
    UPDATE gcalsync.owner SET next_sync_at = pg_catalog.now() WHERE owner = $1
)sql"};

// $1 owner, $2 calendar_id. A push about a calendar's events: it is due now.
inline constexpr Statement kPushCalendar{"api.push_calendar", SPI_OK_UPDATE, {TEXTOID, TEXTOID}, R"sql(
    UPDATE gcalsync.calendar_sync
       SET next_sync_at = pg_catalog.now()
     WHERE owner = $1 AND calendar_id = $2 AND enabled
)sql"};

// Key rotation: every sealed secret, locked, then written back sealed anew
// ($1 its key: owner, client_id or channel_id; $2 the new ciphertext).
// Whether this database stores a sealed secret (then no new key file is made).
inline constexpr Statement kSealedSecretsExist{"secrets.sealed_secrets_exist", SPI_OK_SELECT, {}, R"sql(
    SELECT EXISTS (SELECT 1 FROM gcalsync.owner)
        OR EXISTS (SELECT 1 FROM gcalsync.client)
        OR EXISTS (SELECT 1 FROM gcalsync.channel_stop)
)sql"};

inline constexpr Statement kRefreshTokens{"api.rotate.refresh_tokens", SPI_OK_SELECT, {}, R"sql(
    SELECT owner, refresh_token FROM gcalsync.owner FOR UPDATE
)sql"};
inline constexpr Statement kResealRefreshToken{"api.rotate.reseal_refresh_token", SPI_OK_UPDATE,
                                               {TEXTOID, BYTEAOID}, R"sql(
    UPDATE gcalsync.owner SET refresh_token = $2 WHERE owner = $1
)sql"};
inline constexpr Statement kClientSecrets{"api.rotate.client_secrets", SPI_OK_SELECT, {}, R"sql(
    SELECT client_id, client_secret FROM gcalsync.client FOR UPDATE
)sql"};
inline constexpr Statement kResealClientSecret{"api.rotate.reseal_client_secret", SPI_OK_UPDATE,
                                               {TEXTOID, BYTEAOID}, R"sql(
    UPDATE gcalsync.client SET client_secret = $2 WHERE client_id = $1
)sql"};
inline constexpr Statement kStopTokens{"api.rotate.stop_tokens", SPI_OK_SELECT, {}, R"sql(
    SELECT channel_id, refresh_token FROM gcalsync.channel_stop FOR UPDATE
)sql"};
inline constexpr Statement kResealStopToken{"api.rotate.reseal_stop_token", SPI_OK_UPDATE, {TEXTOID, BYTEAOID},
                                            R"sql(
    UPDATE gcalsync.channel_stop SET refresh_token = $2 WHERE channel_id = $1
)sql"};

// ---- store.cpp: the outbox (writes to Google, core/outbox.hpp) ---------------------------------

// Queued writes of owners that can no longer send (revoked, in error) fail
// with the reason, when Google cannot have them (sent_at NULL). Returns the
// owners.
inline constexpr Statement kFailStrandedWrites{"store.outbox.fail_stranded", SPI_OK_UPDATE_RETURNING, {}, R"sql(
    UPDATE gcalsync.outbox x
       SET state = 'failed', done_at = pg_catalog.now(),
           last_error = pg_catalog.concat('owner is ', o.state, ': ', coalesce(o.last_error, 'no reason recorded'),
                                          ' (the write was not sent; gcal_refresh the owner and queue it again)')
      FROM gcalsync.owner o
     WHERE o.owner = x.owner AND x.state = 'queued' AND x.sent_at IS NULL AND o.state IN ('revoked', 'error')
    RETURNING x.owner
)sql"};

// Queued writes of such owners that were sent (Google may have applied them:
// the answer was lost, or libcurl sent the request again on a new connection
// and only the second answer came back) stay queued until the owner is linked
// again; last_error says why (written once: an idle look writes nothing).
inline constexpr Statement kHoldSentWrites{"store.outbox.hold_sent", SPI_OK_UPDATE, {}, R"sql(
    UPDATE gcalsync.outbox x
       SET last_error = m.msg
      FROM (SELECT o.owner,
                   pg_catalog.concat('owner is ', o.state, ': ', coalesce(o.last_error, 'no reason recorded'),
                                     ' (the write was sent and Google may have applied it: it stays queued,',
                                     ' and is finished once gcal_refresh links the owner again)') AS msg
              FROM gcalsync.owner o
             WHERE o.state IN ('revoked', 'error')) m
     WHERE m.owner = x.owner AND x.state = 'queued' AND x.sent_at IS NOT NULL
       AND x.last_error IS DISTINCT FROM m.msg
)sql"};

// $1 ids. The writes are about to be handed to Google (committed before the
// first byte leaves: a lost answer or a crash cannot hide that they may have
// been applied).
inline constexpr Statement kMarkWritesSent{"store.outbox.mark_sent", SPI_OK_UPDATE_RETURNING, {INT8ARRAYOID}, R"sql(
    UPDATE gcalsync.outbox
       SET sent_at = COALESCE(sent_at, pg_catalog.now())
     WHERE id = ANY ($1) AND state = 'queued'
    RETURNING id
)sql"};

// $1 id. Google's answer to the only request of a write never sent before
// proved that it was not applied (401: the access token was refused).
inline constexpr Statement kUnmarkWriteSent{"store.outbox.unmark_sent", SPI_OK_UPDATE, {INT8OID}, R"sql(
    UPDATE gcalsync.outbox
       SET sent_at = NULL
     WHERE id = $1 AND state = 'queued'
)sql"};

// $1 the most to return. The first queued write of each event (its turn:
// ids are taken under the event's lock, so they follow commit order), when
// its next attempt is due, for owners that can send.
inline constexpr Statement kDueWrites{"store.outbox.due_writes", SPI_OK_SELECT, {INT8OID}, R"sql(
    SELECT h.id, h.owner, h.calendar_id, h.event_id, h.op, h.payload::pg_catalog.text, h.etag, h.send_updates,
           h.attempts, h.sent_at IS NOT NULL
      FROM (SELECT DISTINCT ON (x.owner, x.calendar_id, x.event_id) x.*
              FROM gcalsync.outbox x
             WHERE x.state = 'queued'
             ORDER BY x.owner, x.calendar_id, x.event_id, x.id) h
      JOIN gcalsync.owner o ON o.owner = h.owner AND o.state IN ('pending', 'active', 'backoff')
     WHERE h.next_attempt_at <= pg_catalog.now()
     ORDER BY h.id
     LIMIT $1
)sql"};

// When the earliest write that can be sent falls due (NULL: none): the first
// queued write of each event (those behind it wait for it, however early their
// own next_attempt_at), of owners that can send, as kDueWrites picks them. A
// write waiting behind a head that backs off must not wake the worker.
inline constexpr Statement kNextWriteDue{"store.outbox.next_due", SPI_OK_SELECT, {}, R"sql(
    SELECT pg_catalog.min(h.next_attempt_at)
      FROM (SELECT DISTINCT ON (x.owner, x.calendar_id, x.event_id) x.owner, x.next_attempt_at
              FROM gcalsync.outbox x
             WHERE x.state = 'queued'
             ORDER BY x.owner, x.calendar_id, x.event_id, x.id) h
      JOIN gcalsync.owner o ON o.owner = h.owner AND o.state IN ('pending', 'active', 'backoff')
)sql"};

// $1 owner. The link a write is sent with (as kDueOwners reads it).
inline constexpr Statement kOwnerLinkForWrites{"store.outbox.owner_link", SPI_OK_SELECT, {TEXTOID}, R"sql(
    SELECT o.owner, o.generation, o.refresh_token, o.state, o.failures, o.requested_seq, o.resync_requested_at
      FROM gcalsync.owner o
     WHERE o.owner = $1 AND o.state IN ('pending', 'active', 'backoff')
)sql"};

// $1 id, $2 state (done, conflict, failed), $3 last_error (NULL: none). The
// write is finished (in the transaction that stores Google's answer).
inline constexpr Statement kFinishWrite{"store.outbox.finish", SPI_OK_UPDATE, {INT8OID, TEXTOID, TEXTOID}, R"sql(
    UPDATE gcalsync.outbox
       SET state = $2, last_error = $3, attempts = attempts + 1, done_at = pg_catalog.now()
     WHERE id = $1 AND state = 'queued'
)sql"};

// $1 id, $2 last_error, $3 next attempt. A transient failure: tried again.
inline constexpr Statement kRetryWrite{"store.outbox.retry", SPI_OK_UPDATE, {INT8OID, TEXTOID, TIMESTAMPTZOID}, R"sql(
    UPDATE gcalsync.outbox
       SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3
     WHERE id = $1 AND state = 'queued'
)sql"};

// $1 the retention in seconds (gcalsync.change_retention). Finished writes
// are kept as long as the change feed's entries that announced them.
inline constexpr Statement kPruneOutbox{"store.outbox.prune", SPI_OK_DELETE, {INT8OID}, R"sql(
    DELETE FROM gcalsync.outbox
     WHERE state <> 'queued' AND done_at < pg_catalog.now() - pg_catalog.make_interval(secs => $1)
)sql"};

// $1 owner, $2 calendar_id, $3 event ids, $4 their data (JSON text). The ids
// of an incremental page whose mirrored row already holds exactly that
// resource: the worker stored them itself (an outbox write), so they are not
// announced again. The whole resource, not only its etag: a row marked
// deleted since (a full listing's sweep keeps the etag) that comes back
// live is a change, and was written over unannounced when only the etag was
// compared (found by the chaos run, issue 20; test/t/130_chaos_regressions.pl).
inline constexpr Statement kUnchangedEvents{"store.unchanged_events", SPI_OK_SELECT,
                                            {TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID}, R"sql(
    SELECT u.id
      FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4)) AS u(id, data)
      JOIN gcalsync.event e ON e.owner = $1 AND e.calendar_id = $2 AND e.event_id = u.id
     WHERE e.data = u.data::pg_catalog.jsonb
)sql"};

// ---- instances.cpp: gcal_instances (run as the caller: SECURITY INVOKER) ----------------
// BEGIN issue 14 (recurrence)

// $1 owner, $2 calendar ids (NULL: every calendar of the owner's list that is
// not deleted), $3 time_min, $4 time_max, $5 show_deleted. The rows
// gcal_instances needs, each through an index, with the calendar's zone:
// live singles and exceptions whose own span may overlap the window (all-day
// dates with two days of margin for any zone), cancelled ones too with
// show_deleted, every recurring master starting before the window's end
// (event_master_idx), and the exceptions whose original start lies in the
// window or up to eight days (192 hours) before it (they remove or move an
// occurrence that may overlap it; a master longer than that has its
// exceptions read by instances.master_exceptions). Bounds before the window
// are in hours: a timestamptz minus '8 days' is eight calendar days in the
// session's time zone, an hour short of 192 hours across a DST change. A row
// may come twice (gcal_instances keeps one). Run as the caller: privileges and row-level security apply. One
// generic plan: a custom plan per call would cost more than the read.
inline constexpr Statement kInstanceRows{"instances.rows", SPI_OK_SELECT,
                                         {TEXTOID, TEXTARRAYOID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID}, R"sql(
    WITH cal AS MATERIALIZED (
        SELECT cl.calendar_id, cl.time_zone
          FROM gcalsync.calendar_list cl
         WHERE cl.owner = $1 AND NOT cl.deleted
           AND ($2 IS NULL OR cl.calendar_id = ANY ($2))
    ), days AS (
        SELECT ($3 AT TIME ZONE 'UTC')::pg_catalog.date - 2 AS lo, ($4 AT TIME ZONE 'UTC')::pg_catalog.date + 2 AS hi
    )
    -- live timed singles and exceptions (event_owner_start_at_idx)
    SELECT e.calendar_id, e.event_id, e.status, e.summary, e.start_at, e.end_at, e.start_date,
               e.end_date, e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at,
               e.original_start_date, e.transparency, e.event_type, e.self_response, e.data,
               cal.time_zone, e.owner
      FROM cal JOIN gcalsync.event e ON e.owner = $1 AND e.calendar_id = cal.calendar_id
     WHERE e.status <> 'cancelled' AND e.start_at < $4 AND e.end_at > $3 AND e.recurrence IS NULL
    UNION ALL
    -- live all-day ones (event_owner_start_date_idx)
    SELECT e.calendar_id, e.event_id, e.status, e.summary, e.start_at, e.end_at, e.start_date,
               e.end_date, e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at,
               e.original_start_date, e.transparency, e.event_type, e.self_response, e.data,
               cal.time_zone, e.owner
      FROM days, cal JOIN gcalsync.event e ON e.owner = $1 AND e.calendar_id = cal.calendar_id
     WHERE e.status <> 'cancelled' AND e.start_date IS NOT NULL
       AND e.start_date < days.hi AND e.end_date > days.lo AND e.recurrence IS NULL
    UNION ALL
    -- cancelled ones, with show_deleted only
    SELECT e.calendar_id, e.event_id, e.status, e.summary, e.start_at, e.end_at, e.start_date,
               e.end_date, e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at,
               e.original_start_date, e.transparency, e.event_type, e.self_response, e.data,
               cal.time_zone, e.owner
      FROM days, cal JOIN gcalsync.event e ON e.owner = $1 AND e.calendar_id = cal.calendar_id
     WHERE $5 AND e.status = 'cancelled' AND e.recurrence IS NULL
       AND ((e.start_at < $4 AND e.end_at > $3) OR (e.start_date < days.hi AND e.end_date > days.lo))
    UNION ALL
    -- recurring masters (event_master_idx)
    SELECT e.calendar_id, e.event_id, e.status, e.summary, e.start_at, e.end_at, e.start_date,
               e.end_date, e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at,
               e.original_start_date, e.transparency, e.event_type, e.self_response, e.data,
               cal.time_zone, e.owner
      FROM days, cal JOIN gcalsync.event e ON e.owner = $1 AND e.calendar_id = cal.calendar_id
     WHERE e.recurrence IS NOT NULL AND (e.start_at < $4 OR e.start_date < days.hi)
    UNION ALL
    -- exceptions by their original start (event_recurring_idx)
    SELECT e.calendar_id, e.event_id, e.status, e.summary, e.start_at, e.end_at, e.start_date,
               e.end_date, e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at,
               e.original_start_date, e.transparency, e.event_type, e.self_response, e.data,
               cal.time_zone, e.owner
      FROM days, cal JOIN gcalsync.event e ON e.owner = $1 AND e.calendar_id = cal.calendar_id
     WHERE e.recurring_event_id IS NOT NULL
       AND ((e.original_start_at < $4 AND e.original_start_at > $3 - '192 hours'::pg_catalog.interval)
            OR (e.original_start_date < days.hi AND e.original_start_date > days.lo - 8))
)sql", true};

// $1 owner, $2 calendar id, $3 master id, $4 time_max. The exceptions of a
// master longer than eight days whose original start is before the window's
// end (instances.rows reads only the last eight days' before the window).
inline constexpr Statement kInstanceMasterExceptions{"instances.master_exceptions", SPI_OK_SELECT,
                                                     {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID}, R"sql(
    SELECT e.calendar_id, e.event_id, e.status, e.summary, e.start_at, e.end_at, e.start_date,
           e.end_date, e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at,
           e.original_start_date, e.transparency, e.event_type, e.self_response, e.data,
           NULL::pg_catalog.text AS calendar_time_zone, e.owner
      FROM gcalsync.event e
     WHERE e.owner = $1 AND e.calendar_id = $2 AND e.recurring_event_id = $3
       AND (e.original_start_at < $4 OR e.original_start_date < ($4 AT TIME ZONE 'UTC')::pg_catalog.date + 2)
)sql"};

// END issue 14 (recurrence)
// ---- availability.cpp: gcal_free_slots (issue 15) --------------------------------------------

// $1 the owners (text[]), $2 calendar ids (NULL: each owner's primary
// calendar), $3 time_min, $4 time_max. The rows gcal_busy (and
// gcal_free_slots) need for all the owners at once, with the columns of
// instances.rows (so instances.hpp reads both) but never `data` or `summary`:
// live busy singles and exceptions whose own span may overlap the window
// (confirmed or tentative, opaque, not workingLocation, not declined by the
// owner: no other single can be busy), every exception whose original start
// lies in the window or up to eight days before it (it removes an occurrence;
// long masters: instances.master_exceptions), and busy recurring masters
// starting before the window's end (a master that is not busy has no busy
// occurrence, and its exceptions are placed by their own span either way).
// The first three are read by owner through the time and original-start
// indexes, then kept for the chosen calendars (a join by owner and calendar would walk every event
// of the calendar instead). The caller keeps the rows of linked owners
// (availability.owners). Run as the caller: privileges and row-level
// security apply. One generic plan.
inline constexpr Statement kBusyRows{"busy.rows", SPI_OK_SELECT,
                                     {TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZOID, TIMESTAMPTZOID}, R"sql(
    WITH cal AS MATERIALIZED (
        SELECT cl.owner, cl.calendar_id, cl.time_zone
          FROM gcalsync.calendar_list cl
         WHERE cl.owner = ANY ($1) AND NOT cl.deleted
           AND CASE WHEN $2 IS NULL THEN cl.is_primary ELSE cl.calendar_id = ANY ($2) END
    ), candidate AS (
        -- (OFFSET 0 below: planned apart, through the time indexes, as a
        -- MATERIALIZED CTE would be, without copying its rows into a
        -- tuplestore) busy singles and exceptions by their own span: timed
        -- ones that start at most a day before the window
        -- (event_owner_start_at_idx, from that day on instead of from the
        -- owner's first event; 24 hours, as instances.rows' bounds are in
        -- hours), timed ones longer than a day (the only ones
        -- that can start earlier and still overlap it: event_owner_long_idx;
        -- a row read by both comes twice, its range merges with itself),
        -- all-day ones with two days of
        -- margin for any zone (event_owner_start_date_idx)
        SELECT e.owner, e.calendar_id, e.event_id, e.status, e.start_at, e.end_at, e.start_date, e.end_date,
               e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at, e.original_start_date,
               e.transparency, e.event_type, e.self_response
          FROM gcalsync.event e
         WHERE e.owner = ANY ($1) AND e.status <> 'cancelled' AND e.start_at < $4 AND e.end_at > $3
           AND e.start_at >= $3 - '24 hours'::pg_catalog.interval
           AND e.recurrence IS NULL AND e.transparency = 'opaque' AND e.event_type <> 'workingLocation'
           AND e.self_response IS DISTINCT FROM 'declined'
        UNION ALL
        SELECT e.owner, e.calendar_id, e.event_id, e.status, e.start_at, e.end_at, e.start_date, e.end_date,
               e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at, e.original_start_date,
               e.transparency, e.event_type, e.self_response
          FROM gcalsync.event e
         WHERE e.owner = ANY ($1) AND e.status <> 'cancelled' AND e.end_at - e.start_at > '1 day'::pg_catalog.interval
           AND e.start_at < $4 AND e.end_at > $3
           AND e.recurrence IS NULL AND e.transparency = 'opaque' AND e.event_type <> 'workingLocation'
           AND e.self_response IS DISTINCT FROM 'declined'
        UNION ALL
        SELECT e.owner, e.calendar_id, e.event_id, e.status, e.start_at, e.end_at, e.start_date, e.end_date,
               e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at, e.original_start_date,
               e.transparency, e.event_type, e.self_response
          FROM gcalsync.event e
         WHERE e.owner = ANY ($1) AND e.status <> 'cancelled' AND e.start_date IS NOT NULL
           AND e.start_date < ($4 AT TIME ZONE 'UTC')::pg_catalog.date + 2
           AND e.end_date > ($3 AT TIME ZONE 'UTC')::pg_catalog.date - 2
           AND e.recurrence IS NULL AND e.transparency = 'opaque' AND e.event_type <> 'workingLocation'
           AND e.self_response IS DISTINCT FROM 'declined'
        UNION ALL
        -- every exception whose original start is in the window or up to
        -- eight days before it: timed (event_exception_start_at_idx), all-day
        -- (event_exception_start_date_idx)
        SELECT e.owner, e.calendar_id, e.event_id, e.status, e.start_at, e.end_at, e.start_date, e.end_date,
               e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at, e.original_start_date,
               e.transparency, e.event_type, e.self_response
          FROM gcalsync.event e
         WHERE e.owner = ANY ($1) AND e.recurring_event_id IS NOT NULL AND e.original_start_at IS NOT NULL
           AND e.original_start_at < $4 AND e.original_start_at > $3 - '192 hours'::pg_catalog.interval
        UNION ALL
        SELECT e.owner, e.calendar_id, e.event_id, e.status, e.start_at, e.end_at, e.start_date, e.end_date,
               e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at, e.original_start_date,
               e.transparency, e.event_type, e.self_response
          FROM gcalsync.event e
         WHERE e.owner = ANY ($1) AND e.recurring_event_id IS NOT NULL AND e.original_start_date IS NOT NULL
           AND e.original_start_date < ($4 AT TIME ZONE 'UTC')::pg_catalog.date + 2
           AND e.original_start_date > ($3 AT TIME ZONE 'UTC')::pg_catalog.date - 10
        OFFSET 0
    )
    SELECT e.calendar_id, e.event_id, e.status, NULL::pg_catalog.text, e.start_at, e.end_at, e.start_date,
           e.end_date, e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at,
           e.original_start_date, e.transparency, e.event_type, e.self_response, NULL::pg_catalog.jsonb,
           cal.time_zone, e.owner
      FROM candidate e JOIN cal ON cal.owner = e.owner AND cal.calendar_id = e.calendar_id
    UNION ALL
    -- busy recurring masters (event_master_idx)
    SELECT e.calendar_id, e.event_id, e.status, NULL::pg_catalog.text, e.start_at, e.end_at, e.start_date,
           e.end_date, e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at,
           e.original_start_date, e.transparency, e.event_type, e.self_response, NULL::pg_catalog.jsonb,
           cal.time_zone, e.owner
      FROM cal JOIN gcalsync.event e ON e.owner = cal.owner AND e.calendar_id = cal.calendar_id
     WHERE e.recurrence IS NOT NULL
       AND (e.start_at < $4 OR e.start_date < ($4 AT TIME ZONE 'UTC')::pg_catalog.date + 2)
       AND e.status <> 'cancelled' AND e.transparency = 'opaque' AND e.event_type <> 'workingLocation'
       AND e.self_response IS DISTINCT FROM 'declined'
)sql", true};

// $1 the owners (text[]), $2 calendar ids (NULL: each owner's primary
// calendar), $3 time_min, $4 time_max, $5 the calling function (named in a
// limit's error). With Citus (README: Scaling out with Citus): each owner's
// merged busy ranges (tstzrange[]), computed by gcalsync.busy_agg where the
// owner's rows are. The rows are those of busy.rows (the same conditions,
// with its bounds, as the arms of one OR: one scan of a co-located join on
// owner, which each shard plans as a BitmapOr of the same indexes, and each
// row comes once) and the older exceptions of long masters, and the GROUP BY
// on the distribution column lets Citus push the whole query, aggregate
// included, down to the shards (CONTRIBUTING: SQL that Citus must be able to
// route).
inline constexpr Statement kBusyAgg{"busy.agg", SPI_OK_SELECT,
                                    {TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID}, R"sql(
    SELECT e.owner,
           gcalsync.busy_agg(e.calendar_id, e.event_id, e.status, e.start_at, e.end_at, e.start_date, e.end_date,
                             e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at,
                             e.original_start_date, e.transparency, e.event_type, e.self_response, cl.time_zone,
                             e.owner, $3, $4, $5)
      FROM gcalsync.event e
      JOIN gcalsync.calendar_list cl ON cl.owner = e.owner AND cl.calendar_id = e.calendar_id
     WHERE e.owner = ANY ($1) AND NOT cl.deleted
       AND CASE WHEN $2 IS NULL THEN cl.is_primary ELSE cl.calendar_id = ANY ($2) END
       AND (
            -- busy singles and exceptions by their own span: timed ones that
            -- start at most a day before the window (event_owner_start_at_idx
            -- from that day on), timed ones longer than a day (the only ones
            -- that can start earlier and still overlap it:
            -- event_owner_long_idx), all-day ones with two days of margin for
            -- any zone (event_owner_start_date_idx)
            (e.status <> 'cancelled' AND e.start_at < $4 AND e.end_at > $3
             AND e.start_at >= $3 - '24 hours'::pg_catalog.interval
             AND e.recurrence IS NULL AND e.transparency = 'opaque' AND e.event_type <> 'workingLocation'
             AND e.self_response IS DISTINCT FROM 'declined')
            OR (e.status <> 'cancelled' AND e.end_at - e.start_at > '1 day'::pg_catalog.interval
                AND e.start_at < $4 AND e.end_at > $3
                AND e.recurrence IS NULL AND e.transparency = 'opaque' AND e.event_type <> 'workingLocation'
                AND e.self_response IS DISTINCT FROM 'declined')
            OR (e.status <> 'cancelled' AND e.start_date IS NOT NULL
                AND e.start_date < ($4 AT TIME ZONE 'UTC')::pg_catalog.date + 2
                AND e.end_date > ($3 AT TIME ZONE 'UTC')::pg_catalog.date - 2
                AND e.recurrence IS NULL AND e.transparency = 'opaque' AND e.event_type <> 'workingLocation'
                AND e.self_response IS DISTINCT FROM 'declined')
            -- every exception whose original start is in the window or up to
            -- eight days before it: timed (event_exception_start_at_idx),
            -- all-day (event_exception_start_date_idx)
            OR (e.recurring_event_id IS NOT NULL AND e.original_start_at IS NOT NULL
                AND e.original_start_at < $4 AND e.original_start_at > $3 - '192 hours'::pg_catalog.interval)
            OR (e.recurring_event_id IS NOT NULL AND e.original_start_date IS NOT NULL
                AND e.original_start_date < ($4 AT TIME ZONE 'UTC')::pg_catalog.date + 2
                AND e.original_start_date > ($3 AT TIME ZONE 'UTC')::pg_catalog.date - 10)
            -- busy recurring masters starting before the window's end
            OR (e.recurrence IS NOT NULL
                AND (e.start_at < $4 OR e.start_date < ($4 AT TIME ZONE 'UTC')::pg_catalog.date + 2)
                AND e.status <> 'cancelled' AND e.transparency = 'opaque' AND e.event_type <> 'workingLocation'
                AND e.self_response IS DISTINCT FROM 'declined')
            -- every exception before the window's end of such a master longer
            -- than eight days (what instances.master_exceptions reads on one
            -- server; a query on a shard cannot run another distributed query)
            OR (e.recurring_event_id IS NOT NULL
                AND (e.original_start_at < $4 OR e.original_start_date < ($4 AT TIME ZONE 'UTC')::pg_catalog.date + 2)
                AND EXISTS (
                    SELECT FROM gcalsync.event m
                     WHERE m.owner = e.owner AND m.calendar_id = e.calendar_id AND m.event_id = e.recurring_event_id
                       AND m.recurrence IS NOT NULL
                       AND (m.start_at < $4 OR m.start_date < ($4 AT TIME ZONE 'UTC')::pg_catalog.date + 2)
                       AND m.status <> 'cancelled' AND m.transparency = 'opaque'
                       AND m.event_type <> 'workingLocation' AND m.self_response IS DISTINCT FROM 'declined'
                       AND (m.end_at - m.start_at > '8 days'::pg_catalog.interval OR m.end_date - m.start_date > 8))))
     GROUP BY e.owner
)sql"};

// $1 the owners (text[]): each owner with its state (NULL: not linked),
// whether it has a primary calendar, and that calendar's time zone, read with
// the caller's rights; in the order of text (gcal_busy returns owners in it).
inline constexpr Statement kSlotOwners{"availability.owners", SPI_OK_SELECT, {TEXTARRAYOID}, R"sql(
    -- (the states in a CTE of their own, MATERIALIZED: with Citus the view
    -- would otherwise be read whole, each owner's counts a routed query)
    WITH s AS MATERIALIZED (
        SELECT s.owner, s.state FROM gcalsync.status s WHERE s.owner OPERATOR(pg_catalog.=) ANY ($1)
    )
    SELECT u.owner, s.state, p.calendar_id IS NOT NULL AS has_primary, p.time_zone
      FROM pg_catalog.unnest($1) AS u(owner)
      LEFT JOIN s ON s.owner OPERATOR(pg_catalog.=) u.owner
      LEFT JOIN (
          -- (owner = ANY, not LATERAL: Citus can plan it on distributed tables)
          SELECT DISTINCT ON (cl.owner) cl.owner, cl.calendar_id, cl.time_zone FROM gcalsync.calendar_list cl
           WHERE cl.owner OPERATOR(pg_catalog.=) ANY ($1) AND cl.is_primary AND NOT cl.deleted
           ORDER BY cl.owner, cl.calendar_id) AS p ON p.owner OPERATOR(pg_catalog.=) u.owner
     ORDER BY u.owner
)sql"};

// ---- changes.cpp: the change feed, written at commit ----------------------------------------

// $1, $2 the two keys of the feed's transaction-level advisory lock.
inline constexpr Statement kFeedLock{"changes.feed_lock", SPI_OK_SELECT, {INT4OID, INT4OID}, R"sql(
    SELECT pg_catalog.pg_advisory_xact_lock($1, $2)
)sql"};

// $1 owner, $2 table_name, $3 calendar_id (NULL if none), $4 op, $5 state
// (NULL if none), $6 ids. One feed entry.
inline constexpr Statement kRecordChange{
    "changes.record_change", SPI_OK_INSERT_RETURNING, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID}, R"sql(
    INSERT INTO gcalsync.change (owner, table_name, calendar_id, op, state, ids)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING seq
)sql"};

// ---- selftest.cpp ----------------------------------------------------------------------------

// $1 a value for the self-test's temporary table.
inline constexpr Statement kSelftestInsert{"selftest.insert", SPI_OK_INSERT, {INT8OID}, R"sql(
    INSERT INTO pg_temp.gcal_selftest_sub VALUES ($1)
)sql"};

}  // namespace sql
}  // namespace gcal::pg
