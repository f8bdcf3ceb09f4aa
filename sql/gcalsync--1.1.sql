-- gcalsync 1.1 — install script (a fresh CREATE EXTENSION at 1.1 runs only this
-- file; an installed 1.0 is brought here by gcalsync--1.0--1.1.sql, and both
-- must end in the same schema).
--
-- Data tables (calendar_list, calendar, event) and control tables live in
-- schema gcalsync; the gcal_* functions live in the extension's schema
-- (usually public). Nothing here is granted to anyone (not to PUBLIC, and not
-- what ALTER DEFAULT PRIVILEGES would grant): the README shows the GRANTs an
-- application role needs.
--
-- This script runs as a superuser with the extension's schema on the
-- search_path, where anyone with CREATE there may have planted functions or
-- operators named like the built-ins (a public.nextval(text) wins over
-- pg_catalog.nextval(regclass) for a string literal). So every function,
-- operator and type it names in an expression is pg_catalog-qualified: in
-- defaults, checks, index predicates, the view, function bodies and the DO
-- block. Column types are resolved with pg_catalog first and need no prefix.

\echo Use "CREATE EXTENSION gcalsync" to load this file. \quit

CREATE SCHEMA gcalsync;
REVOKE ALL ON SCHEMA gcalsync FROM PUBLIC;
COMMENT ON SCHEMA gcalsync IS 'gcalsync: mirrored Google Calendar data and sync state';

-------------------------------------------------------------------------------
-- Control tables
-------------------------------------------------------------------------------

-- The OAuth client every owner's refresh token belongs to (one row at most).
CREATE TABLE gcalsync.client (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    client_id     text NOT NULL,
    client_secret bytea NOT NULL,   -- sealed with gcalsync.key_file (AES-256-GCM)
    updated_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE gcalsync.client IS 'OAuth client credentials (gcal_set_client); readable by the extension owner only';

-- Each change of link or token (gcal_link, gcal_refresh) gets a new generation, so a page fetched
-- for an earlier link can be recognised and dropped instead of resurrecting rows.
CREATE SEQUENCE gcalsync.link_generation;

-- One row per linked owner: the refresh token, state and schedule.
CREATE TABLE gcalsync.owner (
    owner           text PRIMARY KEY,
    refresh_token   bytea NOT NULL,   -- sealed with gcalsync.key_file, bound to the owner
    generation      bigint NOT NULL
                    DEFAULT pg_catalog.nextval('gcalsync.link_generation'::pg_catalog.regclass),
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state OPERATOR(pg_catalog.=) ANY
                           (ARRAY['pending', 'active', 'backoff', 'revoked', 'error'])),
    last_error      text,
    last_error_at   timestamptz,
    failures        integer NOT NULL DEFAULT 0 CHECK (failures OPERATOR(pg_catalog.>=) 0),
    linked_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_sync_at    timestamptz,
    next_sync_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    resync_requested_at timestamptz,
    -- Work requested so far (each gcal_link, gcal_refresh, gcal_resync and
    -- gcal_sync_now adds one) and the part of it the worker completed:
    -- gcal_wait waits for completed_seq to reach what was requested.
    requested_seq   bigint NOT NULL DEFAULT 1,
    completed_seq   bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE gcalsync.owner IS 'linked owners: refresh token, state and schedule; readable by the extension owner only';
CREATE INDEX owner_next_sync_idx ON gcalsync.owner (next_sync_at)
    WHERE state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'active', 'backoff']);
-- Owners with requested work (gcal_link, gcal_sync_now, ...) are served first.
CREATE INDEX owner_requested_idx ON gcalsync.owner (next_sync_at)
    WHERE requested_seq OPERATOR(pg_catalog.>) completed_seq
      AND state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'active', 'backoff']);

-- Per (owner, calendar): whether and when the calendar's events are synced.
CREATE TABLE gcalsync.calendar_sync (
    owner           text NOT NULL REFERENCES gcalsync.owner ON DELETE CASCADE,
    calendar_id     text NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    push_supported  boolean NOT NULL DEFAULT true,  -- false after pushNotSupportedForRequestedResource
    failures        integer NOT NULL DEFAULT 0 CHECK (failures OPERATOR(pg_catalog.>=) 0),
    last_error      text,
    last_sync_at    timestamptz,
    next_sync_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (owner, calendar_id)
);
CREATE INDEX calendar_sync_next_idx ON gcalsync.calendar_sync (next_sync_at) WHERE enabled;

-- Sync progress per (owner, resource, request parameters): Google's sync
-- tokens are only valid for the exact query that produced them. kind is
-- 'calendar_list' (calendar_id '') or 'events'. While a full listing is under
-- way, page_token holds where it stands and full_sync_started_at when it began
-- (rows not seen since then are marked deleted when it completes).
CREATE TABLE gcalsync.sync_token (
    owner           text NOT NULL REFERENCES gcalsync.owner ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['calendar_list', 'events'])),
    calendar_id     text NOT NULL DEFAULT '',
    params          text NOT NULL,
    sync_token      text,
    page_token      text,
    full_sync_started_at timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (owner, kind, calendar_id, params)
);

-- Google watch channels (push). A channel is never renewed in place: a new
-- one is opened, then the old one stopped, so an owner may briefly have two.
CREATE TABLE gcalsync.channel (
    channel_id      text PRIMARY KEY,
    owner           text NOT NULL REFERENCES gcalsync.owner ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['calendar_list', 'events'])),
    calendar_id     text NOT NULL DEFAULT '',
    resource_id     text,
    token           text NOT NULL,    -- SHA-256 of the channel token (hex), never the token
    expires_at      timestamptz,
    last_message_number bigint,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX channel_owner_idx ON gcalsync.channel (owner, kind, calendar_id);

-- Channels to stop at Google (after unlink, calendar deletion or a replaced
-- refresh token). Holds no owner: unlink removes every row of the owner, and
-- the worker still has to tell Google to stop posting.
CREATE TABLE gcalsync.channel_stop (
    channel_id      text PRIMARY KEY,
    resource_id     text NOT NULL,
    refresh_token   bytea NOT NULL,   -- sealed with gcalsync.key_file, bound to the channel
    queued_at       timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-------------------------------------------------------------------------------
-- Data tables (README: Tables): the full Google resource in data, typed
-- columns lifted from it for querying.
-------------------------------------------------------------------------------

CREATE TABLE gcalsync.calendar_list (
    owner            text NOT NULL,
    calendar_id      text NOT NULL,
    summary          text,
    summary_override text,
    description      text,
    location         text,
    time_zone        text,
    access_role      text,
    is_primary       boolean NOT NULL DEFAULT false,
    hidden           boolean NOT NULL DEFAULT false,
    selected         boolean NOT NULL DEFAULT false,
    deleted          boolean NOT NULL DEFAULT false,
    color_id         text,
    background_color text,
    foreground_color text,
    data             jsonb NOT NULL,
    synced_at        timestamptz,
    PRIMARY KEY (owner, calendar_id)
);
COMMENT ON TABLE gcalsync.calendar_list IS 'each owner''s calendar list entries (deleted = true once Google deletes them)';

CREATE TABLE gcalsync.calendar (
    owner        text NOT NULL,
    calendar_id  text NOT NULL,
    summary      text,
    description  text,
    location     text,
    time_zone    text,
    data         jsonb NOT NULL,
    synced_at    timestamptz,
    PRIMARY KEY (owner, calendar_id)
);
COMMENT ON TABLE gcalsync.calendar IS 'calendars (calendars.get) of each owner''s calendar list';

CREATE TABLE gcalsync.event (
    owner               text NOT NULL,
    calendar_id         text NOT NULL,
    event_id            text NOT NULL,
    status              text NOT NULL DEFAULT 'confirmed',
    summary             text,
    description         text,
    location            text,
    start_at            timestamptz,
    end_at              timestamptz,
    start_date          date,
    end_date            date,
    time_zone           text,
    recurrence          text[],
    recurring_event_id  text,
    original_start_at   timestamptz,
    original_start_date date,
    ical_uid            text,
    sequence            integer,
    event_type          text,
    transparency        text,
    visibility          text,
    organizer_email     text,
    creator_email       text,
    html_link           text,
    created             timestamptz,
    updated             timestamptz,
    data                jsonb NOT NULL,
    synced_at           timestamptz,
    PRIMARY KEY (owner, calendar_id, event_id)
);
COMMENT ON TABLE gcalsync.event IS 'events as Google stores them: singles, recurring masters, exceptions; status cancelled = tombstone';
COMMENT ON COLUMN gcalsync.event.start_at IS 'start instant of a timed event (NULL for all-day events)';
COMMENT ON COLUMN gcalsync.event.start_date IS 'start date of an all-day event (NULL for timed events)';
COMMENT ON COLUMN gcalsync.event.end_date IS 'exclusive end date of an all-day event, exactly as Google sends it';
COMMENT ON COLUMN gcalsync.event.time_zone IS 'start.timeZone: the zone a recurrence expands in';

-- An owner's live timed events in a time range
-- (WHERE owner = $1 AND status <> 'cancelled' AND start_at < $to AND end_at > $from);
-- also serves counting an owner's live events.
CREATE INDEX event_owner_start_at_idx ON gcalsync.event (owner, start_at, end_at)
    WHERE status OPERATOR(pg_catalog.<>) 'cancelled';
-- The same for all-day events.
CREATE INDEX event_owner_start_date_idx ON gcalsync.event (owner, start_date, end_date)
    WHERE status OPERATOR(pg_catalog.<>) 'cancelled' AND start_date IS NOT NULL;
-- What changed lately (WHERE owner = $1 AND updated > $since).
CREATE INDEX event_owner_updated_idx ON gcalsync.event (owner, updated);
-- The exceptions of a recurring master.
CREATE INDEX event_recurring_idx ON gcalsync.event (owner, calendar_id, recurring_event_id)
    WHERE recurring_event_id IS NOT NULL;

-- An event's data is 1-2 kB of JSON, so most rows are compressed on the way
-- in: lz4 does that several times faster than the default pglz (a sixth of the
-- initial sync's time went into pglz; bench/README.md), and reads faster too.
-- Only where the server was built with lz4.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_settings
               WHERE name OPERATOR(pg_catalog.=) 'default_toast_compression'
                 AND 'lz4' OPERATOR(pg_catalog.=) ANY (enumvals)) THEN
        ALTER TABLE gcalsync.calendar_list ALTER COLUMN data SET COMPRESSION lz4;
        ALTER TABLE gcalsync.calendar ALTER COLUMN data SET COMPRESSION lz4;
        ALTER TABLE gcalsync.event ALTER COLUMN data SET COMPRESSION lz4,
                                   ALTER COLUMN description SET COMPRESSION lz4;
    END IF;
END
$$;

-------------------------------------------------------------------------------
-- The durable change feed: every upsert, deletion, state change and unlink,
-- numbered in commit order (see gcal_changes). One entry per page and kind of
-- change, with the affected ids.
-------------------------------------------------------------------------------

CREATE SEQUENCE gcalsync.change_seq;

CREATE TABLE gcalsync.change (
    seq          bigint PRIMARY KEY DEFAULT pg_catalog.nextval('gcalsync.change_seq'::pg_catalog.regclass),
    recorded_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    owner        text NOT NULL,
    table_name   text NOT NULL
                 CHECK (table_name OPERATOR(pg_catalog.=) ANY (ARRAY['calendar_list', 'calendar', 'event', 'account'])),
    calendar_id  text,
    op           text NOT NULL CHECK (op OPERATOR(pg_catalog.=) ANY (ARRAY['upsert', 'delete', 'unlink', 'state'])),
    state        text,
    ids          text[] NOT NULL
);
ALTER SEQUENCE gcalsync.change_seq OWNED BY gcalsync.change.seq;
CREATE INDEX change_owner_idx ON gcalsync.change (owner);
CREATE INDEX change_recorded_idx ON gcalsync.change (recorded_at);
COMMENT ON TABLE gcalsync.change IS 'durable change feed; read it with gcal_changes(cursor)';

-- The highest sequence number pruned by retention: a cursor below it has
-- missed entries. No row until the first pruning (so a restored dump never
-- collides with a row the install script made).
CREATE TABLE gcalsync.change_horizon (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    pruned_through  bigint NOT NULL DEFAULT 0
);

-------------------------------------------------------------------------------
-- Status
-------------------------------------------------------------------------------

-- One row per owner; never a token.
CREATE VIEW gcalsync.status AS
SELECT o.owner,
       o.state,
       o.last_error,
       o.last_sync_at,
       o.next_sync_at,
       (SELECT pg_catalog.count(*) FROM gcalsync.calendar_list l
         WHERE l.owner OPERATOR(pg_catalog.=) o.owner AND NOT l.deleted) AS calendars,
       (SELECT pg_catalog.count(*) FROM gcalsync.event e
         WHERE e.owner OPERATOR(pg_catalog.=) o.owner AND e.status OPERATOR(pg_catalog.<>) 'cancelled') AS events
  FROM gcalsync.owner o;
COMMENT ON VIEW gcalsync.status IS 'sync state of every linked owner (no tokens)';

-------------------------------------------------------------------------------
-- SQL API (README: SQL API). SECURITY DEFINER with a pinned search_path: callers
-- need EXECUTE on the function, never rights on the tables behind it.
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.gcal_set_client(client_id text, client_secret text)
RETURNS void
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gcal_set_client';
COMMENT ON FUNCTION @extschema@.gcal_set_client(text, text) IS 'store the OAuth client credentials';

CREATE FUNCTION @extschema@.gcal_link(owner text, refresh_token text)
RETURNS void
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gcal_link';
COMMENT ON FUNCTION @extschema@.gcal_link(text, text) IS 'create or replace an owner''s link; a full sync starts at commit';

CREATE FUNCTION @extschema@.gcal_refresh(owner text, refresh_token text)
RETURNS void
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gcal_refresh';
COMMENT ON FUNCTION @extschema@.gcal_refresh(text, text) IS 'replace a linked owner''s refresh token, clear revoked/error state, sync again';

CREATE FUNCTION @extschema@.gcal_unlink(owner text)
RETURNS boolean
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gcal_unlink';
COMMENT ON FUNCTION @extschema@.gcal_unlink(text) IS 'delete every row of an owner; true if it was linked';

CREATE FUNCTION @extschema@.gcal_resync(owner text DEFAULT NULL)
RETURNS integer
LANGUAGE c VOLATILE CALLED ON NULL INPUT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gcal_resync';
COMMENT ON FUNCTION @extschema@.gcal_resync(text) IS 'forget sync tokens of one owner (NULL: all) and run a full sync; returns the number of owners';

CREATE FUNCTION @extschema@.gcal_sync_now(owner text)
RETURNS void
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gcal_sync_now';
COMMENT ON FUNCTION @extschema@.gcal_sync_now(text) IS 'run an incremental sync of all the owner''s calendars now';

CREATE FUNCTION @extschema@.gcal_wait(owner text, timeout interval DEFAULT '30s')
RETURNS boolean
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gcal_wait';
COMMENT ON FUNCTION @extschema@.gcal_wait(text, interval) IS 'wait until the owner''s work requested before the call is done; true if done and healthy';

CREATE FUNCTION @extschema@.gcal_push(channel_id text, resource_id text, resource_state text,
                                      channel_token text DEFAULT NULL, message_number bigint DEFAULT NULL)
RETURNS boolean
LANGUAGE c VOLATILE CALLED ON NULL INPUT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gcal_push';
COMMENT ON FUNCTION @extschema@.gcal_push(text, text, text, text, bigint) IS 'a Google push notification (X-Goog-* headers): true and a sync scheduled for a genuine one, false otherwise';

-- gcal_status, gcal_changes and gcal_changes_cursor are SQL and PL/pgSQL:
-- their bodies name every function and operator pg_catalog-qualified, like
-- this script (gcalsync--1.0--1.1.sql replaces the bodies of 1.0 with these).
CREATE FUNCTION @extschema@.gcal_status(owner text)
RETURNS SETOF gcalsync.status
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF gcal_status.owner IS NULL THEN
        RAISE EXCEPTION 'owner must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF gcal_status.owner OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'owner must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY SELECT * FROM gcalsync.status s WHERE s.owner OPERATOR(pg_catalog.=) gcal_status.owner;
END
$$;
COMMENT ON FUNCTION @extschema@.gcal_status(text) IS 'the owner''s row of gcalsync.status (no row if not linked)';

CREATE FUNCTION @extschema@.gcal_changes(after bigint DEFAULT 0, max_entries integer DEFAULT 1000)
RETURNS TABLE (seq bigint, recorded_at timestamptz, owner text, table_name text, calendar_id text,
               op text, state text, ids text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF gcal_changes.after IS NULL THEN
        RAISE EXCEPTION 'cursor must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Start from 0, or from gcal_changes_cursor() after reading the tables.';
    END IF;
    IF gcal_changes.max_entries IS NULL OR gcal_changes.max_entries OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'max_entries must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF gcal_changes.after OPERATOR(pg_catalog.<)
       coalesce((SELECT h.pruned_through FROM gcalsync.change_horizon h), 0) THEN
        RAISE EXCEPTION 'change feed cursor % is older than the oldest change kept', gcal_changes.after
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Changes are kept for gcalsync.change_retention; older ones were pruned.',
                  HINT = 'Re-read the tables, then continue from gcal_changes_cursor().';
    END IF;
    RETURN QUERY
        SELECT c.seq, c.recorded_at, c.owner, c.table_name, c.calendar_id, c.op, c.state, c.ids
          FROM gcalsync.change c
         WHERE c.seq OPERATOR(pg_catalog.>) gcal_changes.after
         ORDER BY c.seq
         LIMIT gcal_changes.max_entries;
END
$$;
COMMENT ON FUNCTION @extschema@.gcal_changes(bigint, integer) IS 'durable change feed: entries after a cursor, in commit order';

CREATE FUNCTION @extschema@.gcal_changes_cursor()
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT greatest((SELECT pg_catalog.max(seq) FROM gcalsync.change),
                      (SELECT pruned_through FROM gcalsync.change_horizon), 0) $$;
COMMENT ON FUNCTION @extschema@.gcal_changes_cursor() IS 'the newest committed change: where a consumer that just read the tables starts';

-- Key rotation: a new key goes in front of the key file (older keys stay, so
-- nothing becomes unreadable if this transaction fails), and every sealed
-- secret is sealed again with it. Returns the number of secrets re-sealed.
CREATE FUNCTION @extschema@.gcal_rotate_key()
RETURNS bigint
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gcal_rotate_key';
COMMENT ON FUNCTION @extschema@.gcal_rotate_key() IS 'add a new key to gcalsync.key_file and re-encrypt every stored secret with it';

-- How many stored secrets each key sealed (the key id: the first 8 bytes of
-- the SHA-256 of the key, in hex, as gcal_rotate_key reports it). A key line
-- whose id has no secrets left may go from the key file.
CREATE FUNCTION @extschema@.gcal_key_usage(OUT key_id text, OUT secrets bigint)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
SELECT pg_catalog.encode(pg_catalog.substr(s.sealed, 2, 8), 'hex'), pg_catalog.count(*)
  FROM (SELECT refresh_token FROM gcalsync.owner
        UNION ALL SELECT client_secret FROM gcalsync.client
        UNION ALL SELECT refresh_token FROM gcalsync.channel_stop) AS s(sealed)
 GROUP BY 1
 ORDER BY 1
$$;
COMMENT ON FUNCTION @extschema@.gcal_key_usage() IS 'the number of stored secrets sealed with each key id (a key with none may leave the key file)';

-- Operations: what the worker is doing. For the extension owner and monitoring roles.
CREATE FUNCTION gcalsync.worker_status(
    OUT pid integer, OUT started_at timestamptz, OUT wake_requests bigint,
    OUT cycles bigint, OUT next_wake_at timestamptz)
RETURNS record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gcal_worker_status';
COMMENT ON FUNCTION gcalsync.worker_status() IS 'the background worker: pid (NULL if not running), start, wake-ups requested by commits, cycles run, next timed wake';

-- Proves the C++/PostgreSQL error boundary in both directions (tests only).
CREATE FUNCTION gcalsync.boundary_selftest(mode text)
RETURNS bigint
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'gcal_boundary_selftest';

REVOKE ALL ON FUNCTION @extschema@.gcal_set_client(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_link(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_refresh(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_unlink(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_resync(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_status(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_sync_now(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_wait(text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_push(text, text, text, text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_changes(bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_changes_cursor() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_rotate_key() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_key_usage() FROM PUBLIC;
REVOKE ALL ON FUNCTION gcalsync.worker_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION gcalsync.boundary_selftest(text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- pg_dump carries links, the client and the data, so a restore resumes
-- syncing without asking anyone to link again.
-------------------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('gcalsync.client', '');
SELECT pg_catalog.pg_extension_config_dump('gcalsync.owner', '');
SELECT pg_catalog.pg_extension_config_dump('gcalsync.link_generation', '');
SELECT pg_catalog.pg_extension_config_dump('gcalsync.calendar_sync', '');
SELECT pg_catalog.pg_extension_config_dump('gcalsync.sync_token', '');
SELECT pg_catalog.pg_extension_config_dump('gcalsync.channel', '');
SELECT pg_catalog.pg_extension_config_dump('gcalsync.channel_stop', '');
SELECT pg_catalog.pg_extension_config_dump('gcalsync.calendar_list', '');
SELECT pg_catalog.pg_extension_config_dump('gcalsync.calendar', '');
SELECT pg_catalog.pg_extension_config_dump('gcalsync.event', '');
SELECT pg_catalog.pg_extension_config_dump('gcalsync.change', '');
SELECT pg_catalog.pg_extension_config_dump('gcalsync.change_seq', '');
SELECT pg_catalog.pg_extension_config_dump('gcalsync.change_horizon', '');

-------------------------------------------------------------------------------
-- Operations (1.1): what the worker is doing, in views PostgreSQL people read
-- (README: Operations). gcalsync.stats and gcalsync.stats_requests are
-- cumulative counts kept in shared memory since stats_reset (like
-- pg_stat_bgwriter); gcalsync.worker holds the live figures;
-- gcalsync.calendar_status each calendar's state; gcalsync.status gains the
-- progress of each owner's full sync. Readable by the extension owner only:
-- README shows the GRANTs for a monitoring role. Every name below is
-- schema-qualified, and so is every function and operator: these views run
-- with their owner's rights whatever the reader's search_path.
-------------------------------------------------------------------------------

-- The progress of an owner's latest full sync (its first sync, gcal_link,
-- gcal_resync, a 410, a new calendar), written with each page it writes.
ALTER TABLE gcalsync.owner
    ADD COLUMN full_sync_started_at timestamptz,
    ADD COLUMN full_sync_finished_at timestamptz,
    ADD COLUMN full_sync_pages bigint NOT NULL DEFAULT 0,
    ADD COLUMN full_sync_events bigint NOT NULL DEFAULT 0;

-- The full-listing sweep's clock (issue 13, item 7): each transaction of
-- the worker that writes a page takes one tick of gcalsync.sync_clock and
-- stamps the rows it writes with it; the first page of a full listing notes
-- its tick. Rows a complete full listing did not return (synced_tick older
-- than the listing's start) are marked deleted. The ticks only grow, whatever
-- the wall clock does (NTP may set it back), and pg_dump carries the
-- sequence with the rows, so a restored database goes on counting from there.
CREATE SEQUENCE gcalsync.sync_clock AS bigint;
ALTER TABLE gcalsync.sync_token
    ADD COLUMN full_sync_started_tick bigint;
ALTER TABLE gcalsync.calendar_list
    ADD COLUMN synced_tick bigint;
ALTER TABLE gcalsync.event
    ADD COLUMN synced_tick bigint;
SELECT pg_catalog.pg_extension_config_dump('gcalsync.sync_clock', '');

CREATE OR REPLACE VIEW gcalsync.status AS
SELECT o.owner,
       o.state,
       o.last_error,
       o.last_sync_at,
       o.next_sync_at,
       (SELECT pg_catalog.count(*) FROM gcalsync.calendar_list l
         WHERE l.owner OPERATOR(pg_catalog.=) o.owner AND NOT l.deleted) AS calendars,
       (SELECT pg_catalog.count(*) FROM gcalsync.event e
         WHERE e.owner OPERATOR(pg_catalog.=) o.owner
           AND e.status OPERATOR(pg_catalog.<>) 'cancelled') AS events,
       o.full_sync_started_at,
       o.full_sync_finished_at,
       o.full_sync_pages,
       o.full_sync_events
  FROM gcalsync.owner o;
COMMENT ON VIEW gcalsync.status IS 'sync state of every linked owner, with the progress of its latest full sync (no tokens)';

-- Cumulative counts in shared memory (C, no SQL inside).
CREATE FUNCTION gcalsync.stat_get_requests(
    OUT api text, OUT requests bigint, OUT ok bigint, OUT not_modified bigint,
    OUT unauthorized bigint, OUT rate_limited bigint, OUT forbidden bigint, OUT not_found bigint,
    OUT gone bigint, OUT too_many_requests bigint, OUT server_error bigint, OUT timeout bigint,
    OUT connection_error bigint, OUT other bigint, OUT bytes_received bigint,
    OUT request_time double precision, OUT stats_reset timestamptz)
RETURNS SETOF record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gcal_stat_get_requests';
COMMENT ON FUNCTION gcalsync.stat_get_requests() IS 'requests to Google per API and outcome since stats_reset (read gcalsync.stats_requests)';

CREATE FUNCTION gcalsync.stat_get_counters(
    OUT rounds bigint, OUT token_refreshes bigint, OUT pages bigint, OUT idle_checks bigint,
    OUT full_listings bigint, OUT rows_written bigint, OUT tombstones_written bigint,
    OUT retries bigint, OUT backoffs bigint, OUT backoff_time double precision,
    OUT ceiling_waits bigint, OUT ceiling_wait_time double precision,
    OUT rate_limit_waits bigint, OUT rate_limit_wait_time double precision,
    OUT malformed_responses bigint, OUT notifications bigint, OUT feed_entries bigint,
    OUT feed_pruned bigint, OUT writes_sent bigint, OUT notifications_skipped bigint,
    OUT lock_timeouts bigint, OUT stats_reset timestamptz)
RETURNS record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gcal_stat_get_counters';
COMMENT ON FUNCTION gcalsync.stat_get_counters() IS 'what the worker did since stats_reset (read gcalsync.stats)';

CREATE FUNCTION gcalsync.stat_get_worker(
    OUT owners_syncing integer, OUT transfers_running integer, OUT transfers_queued integer,
    OUT requests_last_minute bigint)
RETURNS record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gcal_stat_get_worker';
COMMENT ON FUNCTION gcalsync.stat_get_worker() IS 'the worker''s live figures (read gcalsync.worker)';

CREATE FUNCTION @extschema@.gcal_stats_reset()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gcal_stats_reset';
COMMENT ON FUNCTION @extschema@.gcal_stats_reset() IS 'zero the counts of gcalsync.stats and gcalsync.stats_requests';

-- One row per Google API: requests by outcome, bytes received, time (ms).
CREATE VIEW gcalsync.stats_requests AS
SELECT r.api, r.requests, r.ok, r.not_modified, r.unauthorized, r.rate_limited, r.forbidden,
       r.not_found, r.gone, r.too_many_requests, r.server_error, r.timeout, r.connection_error,
       r.other, r.bytes_received, r.request_time, r.stats_reset
  FROM gcalsync.stat_get_requests() r;
COMMENT ON VIEW gcalsync.stats_requests IS 'requests to Google per API and outcome since stats_reset';

-- One row, like pg_stat_bgwriter: requests by outcome (all APIs), then the rest.
CREATE VIEW gcalsync.stats AS
SELECT r.requests, r.requests_ok, r.requests_not_modified, r.requests_unauthorized,
       r.requests_rate_limited, r.requests_forbidden, r.requests_not_found, r.requests_gone,
       r.requests_too_many, r.requests_server_error, r.requests_timeout,
       r.requests_connection_error, r.requests_other, r.bytes_received, r.request_time,
       c.rounds, c.token_refreshes, c.pages, c.idle_checks, c.full_listings, c.rows_written,
       c.tombstones_written, c.retries, c.backoffs, c.backoff_time, c.ceiling_waits,
       c.ceiling_wait_time, c.rate_limit_waits, c.rate_limit_wait_time, c.malformed_responses,
       c.notifications, c.feed_entries, c.feed_pruned, c.writes_sent, c.notifications_skipped,
       c.lock_timeouts, c.stats_reset
  FROM (SELECT pg_catalog.sum(q.requests)::pg_catalog.int8 AS requests,
               pg_catalog.sum(q.ok)::pg_catalog.int8 AS requests_ok,
               pg_catalog.sum(q.not_modified)::pg_catalog.int8 AS requests_not_modified,
               pg_catalog.sum(q.unauthorized)::pg_catalog.int8 AS requests_unauthorized,
               pg_catalog.sum(q.rate_limited)::pg_catalog.int8 AS requests_rate_limited,
               pg_catalog.sum(q.forbidden)::pg_catalog.int8 AS requests_forbidden,
               pg_catalog.sum(q.not_found)::pg_catalog.int8 AS requests_not_found,
               pg_catalog.sum(q.gone)::pg_catalog.int8 AS requests_gone,
               pg_catalog.sum(q.too_many_requests)::pg_catalog.int8 AS requests_too_many,
               pg_catalog.sum(q.server_error)::pg_catalog.int8 AS requests_server_error,
               pg_catalog.sum(q.timeout)::pg_catalog.int8 AS requests_timeout,
               pg_catalog.sum(q.connection_error)::pg_catalog.int8 AS requests_connection_error,
               pg_catalog.sum(q.other)::pg_catalog.int8 AS requests_other,
               pg_catalog.sum(q.bytes_received)::pg_catalog.int8 AS bytes_received,
               pg_catalog.sum(q.request_time) AS request_time
          FROM gcalsync.stat_get_requests() q) r,
       gcalsync.stat_get_counters() c;
COMMENT ON VIEW gcalsync.stats IS 'what the worker did since stats_reset: requests by outcome, waits, pages and rows written, notifications';

-- One row: the worker now, and what the tables say is due.
CREATE VIEW gcalsync.worker AS
SELECT w.pid,
       w.started_at,
       CASE WHEN w.pid IS NULL THEN 'stopped'
            WHEN g.owners_syncing OPERATOR(pg_catalog.>) 0 OR g.transfers_running OPERATOR(pg_catalog.>) 0
              OR g.transfers_queued OPERATOR(pg_catalog.>) 0 THEN 'syncing'
            ELSE 'idle' END AS state,
       g.owners_syncing,
       g.transfers_running,
       g.transfers_queued,
       g.requests_last_minute,
       pg_catalog.current_setting('gcalsync.requests_per_minute')::pg_catalog.int4 AS requests_per_minute,
       o.owners, o.owners_pending, o.owners_active, o.owners_backoff, o.owners_revoked, o.owners_error,
       o.owners_due,
       k.calendars,
       k.calendars_due,
       pg_catalog.now() OPERATOR(pg_catalog.-) LEAST(o.oldest_due, k.oldest_due) AS schedule_lag,
       pg_catalog.current_setting('gcalsync.poll_interval')::pg_catalog.interval AS poll_interval,
       w.next_wake_at,
       w.wake_requests,
       w.cycles,
       (SELECT c.seq FROM gcalsync.change c ORDER BY c.seq LIMIT 1) AS feed_oldest_seq,
       (SELECT c.recorded_at FROM gcalsync.change c ORDER BY c.seq LIMIT 1) AS feed_oldest_at,
       (SELECT c.seq FROM gcalsync.change c ORDER BY c.seq DESC LIMIT 1) AS feed_newest_seq,
       pg_catalog.current_setting('gcalsync.change_retention')::pg_catalog.interval AS change_retention,
       pg_catalog.pg_notification_queue_usage() AS notify_queue_usage,
       -- as the worker decides at each commit (changes.cpp, notify_queue_has_room)
       (pg_catalog.pg_notification_queue_usage() OPERATOR(pg_catalog.>) 0
        AND pg_catalog.pg_notification_queue_usage() OPERATOR(pg_catalog.>=)
            pg_catalog.current_setting('gcalsync.notify_queue_limit')::pg_catalog.float8) AS notify_paused
  FROM gcalsync.worker_status() w,
       gcalsync.stat_get_worker() g,
       (SELECT pg_catalog.count(*) AS owners,
               pg_catalog.count(*) FILTER (WHERE a.state OPERATOR(pg_catalog.=) 'pending') AS owners_pending,
               pg_catalog.count(*) FILTER (WHERE a.state OPERATOR(pg_catalog.=) 'active') AS owners_active,
               pg_catalog.count(*) FILTER (WHERE a.state OPERATOR(pg_catalog.=) 'backoff') AS owners_backoff,
               pg_catalog.count(*) FILTER (WHERE a.state OPERATOR(pg_catalog.=) 'revoked') AS owners_revoked,
               pg_catalog.count(*) FILTER (WHERE a.state OPERATOR(pg_catalog.=) 'error') AS owners_error,
               pg_catalog.count(*) FILTER (WHERE a.state OPERATOR(pg_catalog.=) ANY ('{pending,active,backoff}')
                                             AND a.next_sync_at OPERATOR(pg_catalog.<=) pg_catalog.now()) AS owners_due,
               -- (not an owner whose full sync is under way: its schedule moves when it ends)
               pg_catalog.min(a.next_sync_at) FILTER (WHERE a.state OPERATOR(pg_catalog.=) ANY ('{pending,active,backoff}')
                                             AND a.next_sync_at OPERATOR(pg_catalog.<=) pg_catalog.now()
                                             AND NOT (a.state OPERATOR(pg_catalog.<>) 'backoff'
                                                      AND a.full_sync_started_at IS NOT NULL
                                                      AND a.full_sync_finished_at IS NULL)) AS oldest_due
          FROM gcalsync.owner a) o,
       (SELECT pg_catalog.count(*) FILTER (WHERE c.enabled) AS calendars,
               pg_catalog.count(*) FILTER (WHERE c.enabled AND a.state OPERATOR(pg_catalog.=) 'active'
                                             AND c.next_sync_at OPERATOR(pg_catalog.<=) pg_catalog.now()) AS calendars_due,
               -- (nor a calendar whose full listing is under way)
               pg_catalog.min(c.next_sync_at) FILTER (WHERE c.enabled AND a.state OPERATOR(pg_catalog.=) 'active'
                                             AND c.next_sync_at OPERATOR(pg_catalog.<=) pg_catalog.now()
                                             AND NOT EXISTS (
                                                   SELECT FROM gcalsync.sync_token s
                                                    WHERE s.owner OPERATOR(pg_catalog.=) c.owner
                                                      AND s.kind OPERATOR(pg_catalog.=) 'events'
                                                      AND s.calendar_id OPERATOR(pg_catalog.=) c.calendar_id
                                                      AND s.page_token IS NOT NULL)) AS oldest_due
          FROM gcalsync.calendar_sync c JOIN gcalsync.owner a ON a.owner OPERATOR(pg_catalog.=) c.owner) k;
COMMENT ON VIEW gcalsync.worker IS 'the gcalsync worker now: what runs, owners by state, what is due and how late, the change feed';

-- One row per (owner, calendar) of the calendar lists. No token, ever.
CREATE VIEW gcalsync.calendar_status AS
SELECT c.owner,
       c.calendar_id,
       COALESCE(l.summary_override, l.summary) AS summary,
       c.enabled,
       CASE WHEN NOT c.enabled THEN 'deleted'
            WHEN c.failures OPERATOR(pg_catalog.>) 0 THEN 'backoff'
            WHEN t.page_token IS NOT NULL THEN 'full_sync'
            WHEN t.sync_token IS NULL THEN 'pending'
            ELSE 'active' END AS state,
       o.state AS owner_state,
       c.failures,
       c.last_error,
       c.last_sync_at,
       c.next_sync_at,
       c.push_supported,
       h.channel_id,
       h.expires_at AS channel_expires_at,
       (SELECT pg_catalog.count(*) FROM gcalsync.event e
         WHERE e.owner OPERATOR(pg_catalog.=) c.owner AND e.calendar_id OPERATOR(pg_catalog.=) c.calendar_id
           AND e.status OPERATOR(pg_catalog.<>) 'cancelled') AS events
  FROM gcalsync.calendar_sync c
  JOIN gcalsync.owner o ON o.owner OPERATOR(pg_catalog.=) c.owner
  LEFT JOIN gcalsync.calendar_list l
         ON l.owner OPERATOR(pg_catalog.=) c.owner AND l.calendar_id OPERATOR(pg_catalog.=) c.calendar_id
  LEFT JOIN LATERAL (
        SELECT s.sync_token, s.page_token FROM gcalsync.sync_token s
         WHERE s.owner OPERATOR(pg_catalog.=) c.owner AND s.kind OPERATOR(pg_catalog.=) 'events'
           AND s.calendar_id OPERATOR(pg_catalog.=) c.calendar_id
         ORDER BY s.updated_at DESC LIMIT 1) t ON true
  LEFT JOIN LATERAL (
        SELECT ch.channel_id, ch.expires_at FROM gcalsync.channel ch
         WHERE ch.owner OPERATOR(pg_catalog.=) c.owner AND ch.kind OPERATOR(pg_catalog.=) 'events'
           AND ch.calendar_id OPERATOR(pg_catalog.=) c.calendar_id
         ORDER BY ch.expires_at DESC NULLS LAST LIMIT 1) h ON true;
COMMENT ON VIEW gcalsync.calendar_status IS 'each calendar of each owner: state, last error, schedule, push channel, events mirrored (no tokens)';

REVOKE ALL ON FUNCTION gcalsync.stat_get_requests() FROM PUBLIC;
REVOKE ALL ON FUNCTION gcalsync.stat_get_counters() FROM PUBLIC;
REVOKE ALL ON FUNCTION gcalsync.stat_get_worker() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_stats_reset() FROM PUBLIC;

-------------------------------------------------------------------------------
-- Events (issue 13, item 12): Google's defaults stored where Google omits
-- them, and the owner's own answer to an invitation.
-------------------------------------------------------------------------------
ALTER TABLE gcalsync.event ADD COLUMN self_response text;
COMMENT ON COLUMN gcalsync.event.self_response IS 'the owner''s own attendees[self].responseStatus (NULL when not invited)';
COMMENT ON COLUMN gcalsync.event.transparency IS 'opaque (Google''s default when it omits the field) or transparent';
COMMENT ON COLUMN gcalsync.event.visibility IS 'default (Google''s default when it omits the field), public, private or confidential';
COMMENT ON COLUMN gcalsync.event.event_type IS 'default (Google''s default when it omits the field), birthday, focusTime, outOfOffice, ...';

-------------------------------------------------------------------------------
-- Waiting without a snapshot (issue 13, item 6): gcal_await is gcal_wait as
-- a procedure that commits between its looks at the owner, so a long wait
-- holds no snapshot and does not hold back VACUUM (README: Waiting for a
-- sync). Not SECURITY DEFINER and no SET clause: PostgreSQL runs such a
-- procedure atomically, and then it could not commit. The C code reads the
-- owner's progress as the procedure's owner, with search_path pinned to
-- pg_catalog, pg_temp, as SECURITY DEFINER would; EXECUTE is granted as for
-- gcal_wait (README: Privileges).
-------------------------------------------------------------------------------
CREATE PROCEDURE @extschema@.gcal_await(owner text, timeout interval DEFAULT '30s',
                                        INOUT done boolean DEFAULT NULL)
LANGUAGE c
AS 'MODULE_PATHNAME', 'gcal_await';
COMMENT ON PROCEDURE @extschema@.gcal_await(text, interval, boolean) IS 'gcal_wait as a procedure that holds no snapshot while it waits (CALL outside a transaction block); done: true if done and healthy';
REVOKE ALL ON PROCEDURE @extschema@.gcal_await(text, interval, boolean) FROM PUBLIC;
-- Writes back to Google (issue 16, DESIGN §9): gcal_insert_event,
-- gcal_update_event, gcal_delete_event and gcal_respond queue a row in
-- gcalsync.outbox in the caller's transaction; the worker sends it after
-- commit and records Google's answer (README: Writing to Google). Values
-- from the caller appear in messages JSON-quoted (to_json): a control
-- character in an owner or calendar id cannot end a log line and forge the
-- next one (SECURITY.md, log forgery).
-------------------------------------------------------------------------------
CREATE SEQUENCE gcalsync.outbox_id_seq AS bigint;
CREATE TABLE gcalsync.outbox (
    id              bigint PRIMARY KEY
                    DEFAULT pg_catalog.nextval('gcalsync.outbox_id_seq'::pg_catalog.regclass),
    owner           text NOT NULL,
    calendar_id     text NOT NULL,
    event_id        text NOT NULL,   -- for an insert, the client id gcalsync chose (base32hex)
    op              text NOT NULL
                    CHECK (op OPERATOR(pg_catalog.=) ANY (ARRAY['insert', 'update', 'delete', 'respond'])),
    state           text NOT NULL DEFAULT 'queued'
                    CHECK (state OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'done', 'conflict', 'failed'])),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts OPERATOR(pg_catalog.>=) 0),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    done_at         timestamptz,
    -- What is sent: the event (insert), the merge patch (update, respond),
    -- nothing (delete); cleared once the write is finished.
    payload         jsonb,
    -- The etag of the mirrored row when the write was queued: sent as
    -- If-Match, so a change made at Google since then is a conflict.
    etag            text,
    send_updates    text NOT NULL DEFAULT 'none'
                    CHECK (send_updates OPERATOR(pg_catalog.=) ANY (ARRAY['all', 'externalOnly', 'none'])),
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- Set (committed) before the write is handed to Google, so it is known
    -- even if the answer is lost or the server crashes: from then on Google
    -- may have applied it. NULL: Google cannot have it (never sent, or the
    -- only answer to it proved it was not applied). A queued write with it
    -- is never failed for its owner's revoked or error state: it waits for
    -- the owner to be linked again, is sent again and recognised (README:
    -- Exactly once).
    sent_at         timestamptz
);
COMMENT ON TABLE gcalsync.outbox IS 'writes to Google queued by gcal_insert_event, gcal_update_event, gcal_delete_event and gcal_respond';
-- The worker's queue: queued writes in commit order.
CREATE INDEX outbox_queued_idx ON gcalsync.outbox (owner, id)
    WHERE state OPERATOR(pg_catalog.=) 'queued';
SELECT pg_catalog.pg_extension_config_dump('gcalsync.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('gcalsync.outbox_id_seq', '');

-- Wakes the worker when the calling transaction commits (once per transaction).
CREATE FUNCTION gcalsync.outbox_wake()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gcal_outbox_wake';
COMMENT ON FUNCTION gcalsync.outbox_wake() IS 'wake the worker when this transaction commits (gcal_insert_event and friends)';

-- outbox_queue checks what all writes need and queues one: the owner is
-- linked (its row is locked against a concurrent gcal_unlink), the calendar
-- is in its calendar list ('primary' names its primary calendar), and
-- send_updates is one of Google's values. Writes to one event are queued
-- under a transaction-level lock of that event, so their ids follow their
-- commit order. Returns the calendar id the write is queued for.
CREATE FUNCTION gcalsync.outbox_check(owner text, calendar_id text, event_id text, send_updates text)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cal text;
BEGIN
    IF outbox_check.owner IS NULL THEN
        RAISE EXCEPTION 'owner must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF outbox_check.owner OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'owner must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF outbox_check.calendar_id IS NULL THEN
        RAISE EXCEPTION 'calendar_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF outbox_check.send_updates IS NULL
       OR NOT outbox_check.send_updates OPERATOR(pg_catalog.=) ANY (ARRAY['all', 'externalOnly', 'none']) THEN
        RAISE EXCEPTION 'invalid send_updates value: %', pg_catalog.to_json(outbox_check.send_updates)::text
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''all'', ''externalOnly'' or ''none''.';
    END IF;
    PERFORM 1 FROM gcalsync.owner o WHERE o.owner OPERATOR(pg_catalog.=) outbox_check.owner FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'owner % is not linked', pg_catalog.to_json(outbox_check.owner)::text
            USING ERRCODE = 'undefined_object', HINT = 'Link it first with gcal_link(owner, refresh_token).';
    END IF;
    SELECT l.calendar_id INTO cal
      FROM gcalsync.calendar_list l
     WHERE l.owner OPERATOR(pg_catalog.=) outbox_check.owner
       AND NOT l.deleted
       AND (l.calendar_id OPERATOR(pg_catalog.=) outbox_check.calendar_id
            OR (outbox_check.calendar_id OPERATOR(pg_catalog.=) 'primary' AND l.is_primary))
     ORDER BY l.calendar_id OPERATOR(pg_catalog.=) outbox_check.calendar_id DESC
     LIMIT 1;
    IF cal IS NULL THEN
        RAISE EXCEPTION 'calendar % is not in the calendar list of owner %',
                        pg_catalog.to_json(outbox_check.calendar_id)::text, pg_catalog.to_json(outbox_check.owner)::text
            USING ERRCODE = 'undefined_object',
                  HINT = 'Wait for the owner''s first sync (gcal_wait), or check the calendar id.';
    END IF;
    IF outbox_check.event_id IS NULL THEN
        RAISE EXCEPTION 'event_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(1734566754,  -- 'gcob'
               pg_catalog.hashtext(pg_catalog.concat_ws(pg_catalog.chr(31), outbox_check.owner, cal,
                                                        outbox_check.event_id)));
    RETURN cal;
END
$$;
COMMENT ON FUNCTION gcalsync.outbox_check(text, text, text, text) IS 'what every write to Google checks before it is queued (internal)';

-- outbox_known_event: the mirrored row of an event (NULL when the mirror
-- does not have it and no insert of it is queued: then the write is refused).
CREATE FUNCTION gcalsync.outbox_known_event(owner text, calendar_id text, event_id text)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d jsonb;
BEGIN
    SELECT e.data INTO d FROM gcalsync.event e
     WHERE e.owner OPERATOR(pg_catalog.=) outbox_known_event.owner
       AND e.calendar_id OPERATOR(pg_catalog.=) outbox_known_event.calendar_id
       AND e.event_id OPERATOR(pg_catalog.=) outbox_known_event.event_id;
    IF d IS NOT NULL THEN
        RETURN d;
    END IF;
    -- Written by a queued insert the worker has not sent yet: no etag to match.
    PERFORM 1 FROM gcalsync.outbox x
     WHERE x.owner OPERATOR(pg_catalog.=) outbox_known_event.owner
       AND x.calendar_id OPERATOR(pg_catalog.=) outbox_known_event.calendar_id
       AND x.event_id OPERATOR(pg_catalog.=) outbox_known_event.event_id
       AND x.op OPERATOR(pg_catalog.=) 'insert'
       AND x.state OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'done']);
    IF FOUND THEN
        RETURN '{}'::jsonb;
    END IF;
    RAISE EXCEPTION 'event % of calendar % is not known', pg_catalog.to_json(outbox_known_event.event_id)::text,
                    pg_catalog.to_json(outbox_known_event.calendar_id)::text
        USING ERRCODE = 'undefined_object',
              DETAIL = 'Only events in gcalsync.event, or queued with gcal_insert_event, can be written.';
END
$$;
COMMENT ON FUNCTION gcalsync.outbox_known_event(text, text, text) IS 'the mirrored resource of an event a write names (internal)';

-- outbox_queue queues one checked write and wakes the worker at commit;
-- returns the write's id.
CREATE FUNCTION gcalsync.outbox_queue(owner text, calendar_id text, event_id text, op text, payload jsonb,
                                      etag text, send_updates text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
BEGIN
    INSERT INTO gcalsync.outbox (owner, calendar_id, event_id, op, payload, etag, send_updates)
    VALUES (outbox_queue.owner, outbox_queue.calendar_id, outbox_queue.event_id, outbox_queue.op,
            outbox_queue.payload, outbox_queue.etag, outbox_queue.send_updates)
    RETURNING id INTO new_id;
    PERFORM gcalsync.outbox_wake();
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION gcalsync.outbox_queue(text, text, text, text, jsonb, text, text) IS 'queue a checked write to Google (internal)';

CREATE FUNCTION @extschema@.gcal_insert_event(owner text, calendar_id text, event jsonb,
                                              send_updates text DEFAULT 'none')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    eid text;
    cal text;
BEGIN
    IF gcal_insert_event.event IS NULL THEN
        RAISE EXCEPTION 'event must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF pg_catalog.jsonb_typeof(gcal_insert_event.event) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION 'event must be a JSON object, not %', pg_catalog.jsonb_typeof(gcal_insert_event.event)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass a Google Calendar event resource, e.g. {"summary": ..., "start": ..., "end": ...}.';
    END IF;
    IF gcal_insert_event.event OPERATOR(pg_catalog.?) 'id' THEN
        -- Google's rules for client ids: base32hex (a-v, 0-9), 5 to 1024 characters.
        IF pg_catalog.jsonb_typeof(gcal_insert_event.event OPERATOR(pg_catalog.->) 'id') OPERATOR(pg_catalog.<>) 'string'
           OR NOT (gcal_insert_event.event OPERATOR(pg_catalog.->>) 'id') OPERATOR(pg_catalog.~) '^[a-v0-9]+$'
           OR pg_catalog.length(gcal_insert_event.event OPERATOR(pg_catalog.->>) 'id')
              NOT BETWEEN 5 AND 1024 THEN
            RAISE EXCEPTION 'invalid event id: %', gcal_insert_event.event OPERATOR(pg_catalog.->) 'id'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Google accepts ids of 5 to 1024 characters a-v and 0-9 (base32hex).',
                      HINT = 'Leave "id" out and gcalsync chooses one.';
        END IF;
        eid := gcal_insert_event.event OPERATOR(pg_catalog.->>) 'id';
    ELSE
        -- 128 random bits in hex: every hex digit is a base32hex digit.
        eid := pg_catalog.replace(pg_catalog.gen_random_uuid()::pg_catalog.text, '-', '');
    END IF;
    cal := gcalsync.outbox_check(gcal_insert_event.owner, gcal_insert_event.calendar_id, eid,
                                 gcal_insert_event.send_updates);
    PERFORM 1 FROM gcalsync.event e
     WHERE e.owner OPERATOR(pg_catalog.=) gcal_insert_event.owner
       AND e.calendar_id OPERATOR(pg_catalog.=) cal AND e.event_id OPERATOR(pg_catalog.=) eid;
    IF NOT FOUND THEN
        PERFORM 1 FROM gcalsync.outbox x
         WHERE x.owner OPERATOR(pg_catalog.=) gcal_insert_event.owner
           AND x.calendar_id OPERATOR(pg_catalog.=) cal AND x.event_id OPERATOR(pg_catalog.=) eid
           AND x.op OPERATOR(pg_catalog.=) 'insert';
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'event % already exists in calendar %', pg_catalog.to_json(eid)::text, pg_catalog.to_json(cal)::text
            USING ERRCODE = 'unique_violation', HINT = 'Update it with gcal_update_event.';
    END IF;
    RETURN gcalsync.outbox_queue(gcal_insert_event.owner, cal, eid, 'insert',
               gcal_insert_event.event OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('id', eid),
               NULL, gcal_insert_event.send_updates);
END
$$;
COMMENT ON FUNCTION @extschema@.gcal_insert_event(text, text, jsonb, text) IS 'queue the creation of an event at Google (sent after commit); returns the outbox id';

CREATE FUNCTION @extschema@.gcal_update_event(owner text, calendar_id text, event_id text, patch jsonb,
                                              send_updates text DEFAULT 'none')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cal text;
    cur jsonb;
BEGIN
    IF gcal_update_event.patch IS NULL THEN
        RAISE EXCEPTION 'patch must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF pg_catalog.jsonb_typeof(gcal_update_event.patch) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION 'patch must be a JSON object, not %', pg_catalog.jsonb_typeof(gcal_update_event.patch)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass a JSON merge patch of the event resource, e.g. {"summary": "New title"}.';
    END IF;
    IF gcal_update_event.patch OPERATOR(pg_catalog.?) 'id' THEN
        RAISE EXCEPTION 'patch must not change the event id'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'The patch has an "id" member.';
    END IF;
    cal := gcalsync.outbox_check(gcal_update_event.owner, gcal_update_event.calendar_id,
                                 gcal_update_event.event_id, gcal_update_event.send_updates);
    cur := gcalsync.outbox_known_event(gcal_update_event.owner, cal, gcal_update_event.event_id);
    RETURN gcalsync.outbox_queue(gcal_update_event.owner, cal, gcal_update_event.event_id, 'update',
               gcal_update_event.patch, cur OPERATOR(pg_catalog.->>) 'etag', gcal_update_event.send_updates);
END
$$;
COMMENT ON FUNCTION @extschema@.gcal_update_event(text, text, text, jsonb, text) IS 'queue a JSON merge patch of an event at Google, conditional on the mirrored etag; returns the outbox id';

CREATE FUNCTION @extschema@.gcal_delete_event(owner text, calendar_id text, event_id text,
                                              send_updates text DEFAULT 'none')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cal text;
    cur jsonb;
BEGIN
    cal := gcalsync.outbox_check(gcal_delete_event.owner, gcal_delete_event.calendar_id,
                                 gcal_delete_event.event_id, gcal_delete_event.send_updates);
    cur := gcalsync.outbox_known_event(gcal_delete_event.owner, cal, gcal_delete_event.event_id);
    RETURN gcalsync.outbox_queue(gcal_delete_event.owner, cal, gcal_delete_event.event_id, 'delete', NULL,
               cur OPERATOR(pg_catalog.->>) 'etag', gcal_delete_event.send_updates);
END
$$;
COMMENT ON FUNCTION @extschema@.gcal_delete_event(text, text, text, text) IS 'queue the deletion of an event at Google, conditional on the mirrored etag; returns the outbox id';

CREATE FUNCTION @extschema@.gcal_respond(owner text, calendar_id text, event_id text, response text,
                                         send_updates text DEFAULT 'none')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cal text;
    cur jsonb;
BEGIN
    IF gcal_respond.response IS NULL
       OR NOT gcal_respond.response OPERATOR(pg_catalog.=) ANY (ARRAY['accepted', 'declined', 'tentative']) THEN
        RAISE EXCEPTION 'invalid response: %', pg_catalog.to_json(gcal_respond.response)::text
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''accepted'', ''declined'' or ''tentative''.';
    END IF;
    cal := gcalsync.outbox_check(gcal_respond.owner, gcal_respond.calendar_id, gcal_respond.event_id,
                                 gcal_respond.send_updates);
    cur := gcalsync.outbox_known_event(gcal_respond.owner, cal, gcal_respond.event_id);
    IF NOT pg_catalog.jsonb_path_exists(cur, '$.attendees[*] ? (@.self == true)') THEN
        RAISE EXCEPTION 'owner % is not an attendee of event %', pg_catalog.to_json(gcal_respond.owner)::text,
                        pg_catalog.to_json(gcal_respond.event_id)::text
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Only an invited owner can answer; the mirrored event has no attendee entry of its own.';
    END IF;
    -- A patch replaces the whole attendees list: send the mirrored one with
    -- the owner's own entry answered (If-Match keeps it from overwriting a
    -- list changed at Google meanwhile).
    RETURN gcalsync.outbox_queue(gcal_respond.owner, cal, gcal_respond.event_id, 'respond',
            pg_catalog.jsonb_build_object('attendees',
                (SELECT pg_catalog.jsonb_agg(CASE WHEN (a.value OPERATOR(pg_catalog.->>) 'self') OPERATOR(pg_catalog.=) 'true'
                                                  THEN a.value OPERATOR(pg_catalog.||)
                                                       pg_catalog.jsonb_build_object('responseStatus', gcal_respond.response)
                                                  ELSE a.value END ORDER BY a.ordinality)
                   FROM pg_catalog.jsonb_array_elements(cur OPERATOR(pg_catalog.->) 'attendees') WITH ORDINALITY a)),
            cur OPERATOR(pg_catalog.->>) 'etag', gcal_respond.send_updates);
END
$$;
COMMENT ON FUNCTION @extschema@.gcal_respond(text, text, text, text, text) IS 'queue the owner''s answer (accepted, declined, tentative) to an invitation; returns the outbox id';

-- gcal_wait_write reads the write's row as its caller (SECURITY INVOKER): the
-- caller needs SELECT on gcalsync.outbox, and row-level security on it
-- applies, so a tenant cannot learn the state of another tenant's writes.
CREATE FUNCTION @extschema@.gcal_wait_write(id bigint, timeout interval DEFAULT '30s')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deadline timestamptz;
    st text;
    xmin_of xid;
BEGIN
    IF gcal_wait_write.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF gcal_wait_write.timeout IS NULL THEN
        RAISE EXCEPTION 'timeout must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF gcal_wait_write.timeout OPERATOR(pg_catalog.<) '0'::interval THEN
        RAISE EXCEPTION 'timeout must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
        RAISE EXCEPTION 'gcal_wait_write requires the READ COMMITTED isolation level'
            USING ERRCODE = 'active_sql_transaction',
                  DETAIL = 'At REPEATABLE READ or SERIALIZABLE the worker''s progress would stay invisible.';
    END IF;
    deadline := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) gcal_wait_write.timeout;
    SELECT x.state, x.xmin INTO st, xmin_of FROM gcalsync.outbox x WHERE x.id OPERATOR(pg_catalog.=) gcal_wait_write.id;
    IF st IS NULL THEN
        RAISE EXCEPTION 'write % does not exist', gcal_wait_write.id USING ERRCODE = 'undefined_object';
    END IF;
    IF st OPERATOR(pg_catalog.=) 'queued'
       AND xmin_of OPERATOR(pg_catalog.=) pg_catalog.xid(pg_catalog.pg_current_xact_id_if_assigned()) THEN
        RAISE EXCEPTION 'cannot wait for a write queued in the same transaction'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The worker sees the write only after this transaction commits.',
                  HINT = 'Commit first, then call gcal_wait_write().';
    END IF;
    LOOP
        IF st IS NULL THEN
            RETURN NULL;  -- deleted meanwhile (its owner was unlinked and the row pruned)
        END IF;
        IF st OPERATOR(pg_catalog.<>) 'queued' THEN
            RETURN st;
        END IF;
        IF pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) deadline THEN
            RETURN NULL;
        END IF;
        PERFORM pg_catalog.pg_sleep(0.005);
        SELECT x.state INTO st FROM gcalsync.outbox x WHERE x.id OPERATOR(pg_catalog.=) gcal_wait_write.id;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.gcal_wait_write(bigint, interval) IS 'wait until a queued write is finished; its final state (done, conflict, failed), or NULL on timeout';

-- gcal_unlink deletes the owner: its queued writes fail (nothing of them is
-- sent any more; one already sent may have been applied, and says so), and
-- no payload of the owner is kept.
CREATE FUNCTION gcalsync.outbox_owner_gone()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE gcalsync.outbox x
       SET state = CASE WHEN x.state OPERATOR(pg_catalog.=) 'queued' THEN 'failed' ELSE x.state END,
           last_error = CASE WHEN x.state OPERATOR(pg_catalog.=) 'queued'
                             THEN CASE WHEN x.sent_at IS NULL THEN 'owner was unlinked before the write was sent'
                                       ELSE 'owner was unlinked before Google''s answer to the write arrived'
                                            ' (it was sent: Google may have applied it)' END
                             ELSE x.last_error END,
           done_at = COALESCE(x.done_at, pg_catalog.now()),
           payload = NULL
     WHERE x.owner OPERATOR(pg_catalog.=) OLD.owner
       AND (x.state OPERATOR(pg_catalog.=) 'queued' OR x.payload IS NOT NULL);
    RETURN OLD;
END
$$;
CREATE TRIGGER outbox_owner_gone AFTER DELETE ON gcalsync.owner
    FOR EACH ROW EXECUTE FUNCTION gcalsync.outbox_owner_gone();

REVOKE ALL ON FUNCTION gcalsync.outbox_wake() FROM PUBLIC;
REVOKE ALL ON FUNCTION gcalsync.outbox_check(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gcalsync.outbox_known_event(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gcalsync.outbox_queue(text, text, text, text, jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gcalsync.outbox_owner_gone() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_insert_event(text, text, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_update_event(text, text, text, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_delete_event(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_respond(text, text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gcal_wait_write(bigint, interval) FROM PUBLIC;
-- Recurring events, expanded (issue 14): gcal_instances answers what Google's
-- events.list with singleEvents=true would, from the mirror (README:
-- Recurring events). SECURITY INVOKER, unlike the functions that write: it
-- only reads gcalsync.calendar_list and gcalsync.event, with the caller's
-- privileges, so row-level security on them applies to it as to a SELECT
-- (README: Row-level security); the caller needs SELECT on both.
-------------------------------------------------------------------------------
-- The recurring masters of an owner's calendars (gcal_instances reads them all).
CREATE INDEX event_master_idx ON gcalsync.event (owner, calendar_id) WHERE recurrence IS NOT NULL;
-- The exceptions of an owner's series by original start (gcal_busy reads the
-- exceptions of the window's occurrences, not every exception of the owner's
-- years of series): timed ones, and all-day ones.
CREATE INDEX event_exception_start_at_idx ON gcalsync.event (owner, original_start_at)
    WHERE recurring_event_id IS NOT NULL AND original_start_at IS NOT NULL;
CREATE INDEX event_exception_start_date_idx ON gcalsync.event (owner, original_start_date)
    WHERE recurring_event_id IS NOT NULL AND original_start_date IS NOT NULL;
-- Live timed events longer than a day: gcal_busy finds the others that can
-- overlap a window by a start at most a day before it (event_owner_start_at_idx
-- from there), not by walking an owner's every earlier event.
CREATE INDEX event_owner_long_idx ON gcalsync.event (owner, start_at, end_at)
    WHERE status OPERATOR(pg_catalog.<>) 'cancelled'
      AND (end_at OPERATOR(pg_catalog.-) start_at) OPERATOR(pg_catalog.>) '1 day'::pg_catalog.interval;

CREATE FUNCTION @extschema@.gcal_instances(owner text, time_min timestamptz, time_max timestamptz,
    calendar_ids text[] DEFAULT NULL, show_deleted boolean DEFAULT false)
RETURNS TABLE (calendar_id text, event_id text, recurring_event_id text, status text,
    summary text, start_at timestamptz, end_at timestamptz, start_date date, end_date date,
    time_zone text, original_start_at timestamptz, original_start_date date,
    transparency text, event_type text, self_response text, data jsonb)
LANGUAGE c STABLE CALLED ON NULL INPUT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gcal_instances';
COMMENT ON FUNCTION @extschema@.gcal_instances(text, timestamptz, timestamptz, text[], boolean) IS 'the owner''s event instances in [time_min, time_max), recurring events expanded, as Google''s events.list with singleEvents=true';
REVOKE ALL ON FUNCTION @extschema@.gcal_instances(text, timestamptz, timestamptz, text[], boolean) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Busy time and meeting slots (issue 15, README: Scheduling). SECURITY INVOKER
-- like gcal_instances, whose expansion they share: the caller needs SELECT on
-- gcalsync.calendar_list, gcalsync.event and gcalsync.status (the owners'
-- states), and row-level security on them applies.
-------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.gcal_busy(owners text[], time_min timestamptz, time_max timestamptz,
    calendar_ids text[] DEFAULT NULL)
RETURNS TABLE (owner text, busy tstzrange)
LANGUAGE c STABLE CALLED ON NULL INPUT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gcal_busy';
COMMENT ON FUNCTION @extschema@.gcal_busy(text[], timestamptz, timestamptz, text[]) IS 'merged busy ranges per owner in [time_min, time_max), by Google''s free/busy rules, like freebusy.query';
REVOKE ALL ON FUNCTION @extschema@.gcal_busy(text[], timestamptz, timestamptz, text[]) FROM PUBLIC;

CREATE FUNCTION @extschema@.gcal_free_slots(owners text[], time_min timestamptz, time_max timestamptz,
    duration interval, step interval DEFAULT '15 min', min_owners integer DEFAULT NULL,
    buffer_before interval DEFAULT '0', buffer_after interval DEFAULT '0',
    open_hours jsonb DEFAULT NULL, calendar_ids text[] DEFAULT NULL)
RETURNS TABLE (slot tstzrange, free_owners text[])
LANGUAGE c STABLE CALLED ON NULL INPUT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gcal_free_slots';
COMMENT ON FUNCTION @extschema@.gcal_free_slots(text[], timestamptz, timestamptz, interval, interval, integer, interval, interval, jsonb, text[]) IS 'meeting slots in [time_min, time_max) where at least min_owners (default all) owners are free, with buffers and open hours';
REVOKE ALL ON FUNCTION @extschema@.gcal_free_slots(text[], timestamptz, timestamptz, interval, interval, integer, interval, interval, jsonb, text[]) FROM PUBLIC;

-- gcalsync.busy_agg: one owner's merged busy ranges (tstzrange[]) from its
-- candidate rows, expanded and merged exactly as gcal_busy does (the same
-- C++ code). gcal_busy and gcal_free_slots use it, grouped by owner, when
-- Citus is in the database: Citus then runs it on the nodes that hold each
-- owner's rows, in parallel, and only the ranges come back (README: Scaling
-- out with Citus). It reads nothing but its input (the statement that calls
-- it hands over the older exceptions of a master longer than eight days
-- too), so it is executable by PUBLIC (the caller of gcal_busy needs it on
-- every node; see the grant at the end of this script) and gives no one
-- more than a SELECT of the rows would. Its window is capped as gcal_busy's.
-- SECURITY INVOKER.
CREATE FUNCTION gcalsync.busy_agg_step(state internal, calendar_id text, event_id text, status text,
    start_at timestamptz, end_at timestamptz, start_date date, end_date date, time_zone text,
    recurrence text[], recurring_event_id text, original_start_at timestamptz, original_start_date date,
    transparency text, event_type text, self_response text, calendar_time_zone text, owner text,
    time_min timestamptz, time_max timestamptz, caller text)
RETURNS internal
LANGUAGE c CALLED ON NULL INPUT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gcal_busy_agg_step';
REVOKE ALL ON FUNCTION gcalsync.busy_agg_step(internal, text, text, text, timestamptz, timestamptz, date, date, text, text[], text, timestamptz, date, text, text, text, text, text, timestamptz, timestamptz, text) FROM PUBLIC;
CREATE FUNCTION gcalsync.busy_agg_final(state internal) RETURNS tstzrange[]
LANGUAGE c CALLED ON NULL INPUT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gcal_busy_agg_final';
REVOKE ALL ON FUNCTION gcalsync.busy_agg_final(internal) FROM PUBLIC;
CREATE AGGREGATE gcalsync.busy_agg(calendar_id text, event_id text, status text,
    start_at timestamptz, end_at timestamptz, start_date date, end_date date, time_zone text,
    recurrence text[], recurring_event_id text, original_start_at timestamptz, original_start_date date,
    transparency text, event_type text, self_response text, calendar_time_zone text, owner text,
    time_min timestamptz, time_max timestamptz, caller text) (
    SFUNC = gcalsync.busy_agg_step,
    STYPE = internal,
    FINALFUNC = gcalsync.busy_agg_final
);
COMMENT ON AGGREGATE gcalsync.busy_agg(text, text, text, timestamptz, timestamptz, date, date, text, text[], text, timestamptz, date, text, text, text, text, text, timestamptz, timestamptz, text) IS 'one owner''s merged busy ranges from its candidate rows (gcal_busy''s read on Citus, grouped by owner)';
REVOKE ALL ON FUNCTION gcalsync.busy_agg(text, text, text, timestamptz, timestamptz, date, date, text, text[], text, timestamptz, date, text, text, text, text, text, timestamptz, timestamptz, text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Scaling out with Citus (issue 19, README: Scaling out with Citus).
-- gcal_distribute turns the mirror tables into co-located Citus tables
-- distributed by owner: every row of one owner lives on one shard group, so
-- each statement the worker runs for one owner is routed to one node. The
-- control tables stay local on the coordinator, where the worker runs. For
-- the extension owner or a superuser (SECURITY INVOKER: Citus needs the
-- caller to own the tables); rows already there move to the shards.
-------------------------------------------------------------------------------
-- gcalsync.status counts each owner's rows with correlated subqueries, which
-- Citus cannot plan beside the local table of owners; gcal_distribute makes
-- the view count through these instead (one single-shard query per owner).
-- SECURITY INVOKER: the caller's rights and row-level security apply, as to
-- a SELECT of the tables (EXECUTE is granted when the view starts using them).
CREATE FUNCTION gcalsync.owner_calendar_count(owner text) RETURNS bigint
LANGUAGE sql STABLE STRICT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.count(*) FROM gcalsync.calendar_list l
     WHERE l.owner OPERATOR(pg_catalog.=) $1 AND NOT l.deleted
$$;
REVOKE ALL ON FUNCTION gcalsync.owner_calendar_count(text) FROM PUBLIC;
CREATE FUNCTION gcalsync.owner_event_count(owner text) RETURNS bigint
LANGUAGE sql STABLE STRICT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.count(*) FROM gcalsync.event e
     WHERE e.owner OPERATOR(pg_catalog.=) $1 AND e.status OPERATOR(pg_catalog.<>) 'cancelled'
$$;
REVOKE ALL ON FUNCTION gcalsync.owner_event_count(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.gcal_distribute(shard_count integer DEFAULT NULL)
RETURNS TABLE (table_name regclass, shards bigint)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t regclass;
    method "char";
    column_name text;
    first boolean := true;
    view_options text[];
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'citus') THEN
        RAISE EXCEPTION 'Citus is not installed in this database'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Put citus first in shared_preload_libraries, run CREATE EXTENSION citus and add the worker nodes, then call gcal_distribute() again.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r, pg_catalog.pg_extension e
                    WHERE e.extname OPERATOR(pg_catalog.=) 'gcalsync'
                      AND r.rolname OPERATOR(pg_catalog.=) CURRENT_USER
                      AND (r.rolsuper OR r.oid OPERATOR(pg_catalog.=) e.extowner)) THEN
        RAISE EXCEPTION 'only the owner of extension gcalsync or a superuser may distribute its tables'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF shard_count IS NOT NULL AND (shard_count OPERATOR(pg_catalog.<) 1 OR shard_count OPERATOR(pg_catalog.>) 64000) THEN
        RAISE EXCEPTION 'shard_count must be between 1 and 64000'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH t IN ARRAY ARRAY['gcalsync.calendar_list'::pg_catalog.regclass, 'gcalsync.calendar'::pg_catalog.regclass,
                             'gcalsync.event'::pg_catalog.regclass] LOOP
        -- pg_dist_partition is Citus's catalog: named in EXECUTE only, so
        -- that this function is created where Citus is not installed.
        EXECUTE 'SELECT p.partmethod, pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)
                   FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1'
           INTO method, column_name USING t;
        IF method IS NULL THEN
            IF first THEN
                -- a colocation group of its own (not the one of some other table)
                PERFORM pg_catalog.create_distributed_table(t, 'owner', colocate_with => 'none',
                                                            shard_count => shard_count);
            ELSE
                PERFORM pg_catalog.create_distributed_table(t, 'owner', colocate_with => 'gcalsync.calendar_list');
            END IF;
            -- create_distributed_table copied the rows to the shards; the
            -- local copy is now hidden and only takes space
            PERFORM pg_catalog.truncate_local_data_after_distributing_table(t);
        ELSIF method OPERATOR(pg_catalog.<>) 'h' OR column_name IS DISTINCT FROM 'owner' THEN
            RAISE EXCEPTION 'table % is already a Citus table, but not hash-distributed by owner', t
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Undo it with undistribute_table(), then call gcal_distribute() again.';
        END IF;
        first := false;
    END LOOP;
    -- the status view, as Citus can plan it (same columns, same values),
    -- keeping the options an administrator set on it (README: row-level
    -- security sets security_invoker; CREATE OR REPLACE VIEW would drop it)
    SELECT c.reloptions INTO view_options FROM pg_catalog.pg_class c
     WHERE c.oid OPERATOR(pg_catalog.=) 'gcalsync.status'::pg_catalog.regclass;
    CREATE OR REPLACE VIEW gcalsync.status AS
    SELECT o.owner, o.state, o.last_error, o.last_sync_at, o.next_sync_at,
           gcalsync.owner_calendar_count(o.owner) AS calendars,
           gcalsync.owner_event_count(o.owner) AS events,
           o.full_sync_started_at, o.full_sync_finished_at, o.full_sync_pages, o.full_sync_events
      FROM gcalsync.owner o;
    IF view_options IS NOT NULL THEN
        EXECUTE pg_catalog.format('ALTER VIEW gcalsync.status SET (%s)', pg_catalog.array_to_string(view_options, ', '));
    END IF;
    GRANT EXECUTE ON FUNCTION gcalsync.owner_calendar_count(text), gcalsync.owner_event_count(text) TO PUBLIC;
    RETURN QUERY EXECUTE
        'SELECT s.logicalrelid::pg_catalog.regclass, pg_catalog.count(*)
           FROM pg_catalog.pg_dist_shard s
          WHERE s.logicalrelid OPERATOR(pg_catalog.=) ANY ($1)
          GROUP BY s.logicalrelid ORDER BY s.logicalrelid::pg_catalog.regclass::pg_catalog.text'
        USING ARRAY['gcalsync.calendar_list'::pg_catalog.regclass, 'gcalsync.calendar'::pg_catalog.regclass,
                    'gcalsync.event'::pg_catalog.regclass];
END
$$;
COMMENT ON FUNCTION @extschema@.gcal_distribute(integer) IS 'with Citus: make calendar_list, calendar and event co-located tables distributed by owner (returns each one''s shard count)';
REVOKE ALL ON FUNCTION @extschema@.gcal_distribute(integer) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Privileges, last part (keep it last: after every CREATE of this script).
-------------------------------------------------------------------------------
-- ALTER DEFAULT PRIVILEGES of the role running this script applies to what
-- it creates: a role given SELECT on every new table, or EXECUTE on every new
-- function, would get the tables of tokens and secrets, gcal_set_client and
-- gcal_rotate_key. Nothing of gcalsync is granted until an administrator
-- grants it (README: Privileges), so every privilege that is not the
-- owner's is taken back here.
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN
        WITH member AS (
            SELECT d.classid, d.objid
              FROM pg_catalog.pg_depend d
              JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
             WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
               AND d.deptype OPERATOR(pg_catalog.=) 'e'
               AND e.extname OPERATOR(pg_catalog.=) 'gcalsync'),
        object AS (
            SELECT CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind,
                   pg_catalog.format('%I.%I', n.nspname, c.relname) AS name, c.relowner AS owner, c.relacl AS acl
              FROM member m
              JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) m.objid
              JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
             WHERE m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
            UNION ALL
            SELECT 'ROUTINE',  -- (ROUTINE: functions and procedures)
                   pg_catalog.format('%I.%I(%s)', n.nspname, p.proname,
                                     pg_catalog.pg_get_function_identity_arguments(p.oid)),
                   p.proowner, COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))
              FROM member m
              JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) m.objid
              JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
             WHERE m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
            UNION ALL
            SELECT 'SCHEMA', pg_catalog.quote_ident(n.nspname), n.nspowner, n.nspacl
              FROM member m
              JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) m.objid
             WHERE m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass)
        SELECT DISTINCT o.kind, o.name,
               CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                    ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END AS grantee
          FROM object o, pg_catalog.aclexplode(o.acl) a
         WHERE a.grantee OPERATOR(pg_catalog.<>) o.owner
         ORDER BY o.name, grantee
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s', g.kind, g.name, g.grantee);
    END LOOP;
END
$$;

-------------------------------------------------------------------------------
-- The one grant of the extension, after the privileges section (which takes
-- every grant back): gcalsync.busy_agg to PUBLIC. The caller of gcal_busy
-- and gcal_free_slots runs it, on every Citus node, with the caller's own
-- rights over rows the caller reads (see its definition).
-------------------------------------------------------------------------------
GRANT EXECUTE ON FUNCTION gcalsync.busy_agg(text, text, text, timestamptz, timestamptz, date, date, text, text[], text, timestamptz, date, text, text, text, text, text, timestamptz, timestamptz, text) TO PUBLIC;
