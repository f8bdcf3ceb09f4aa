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
    token           text NOT NULL,
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
REVOKE ALL ON FUNCTION gcalsync.worker_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION gcalsync.boundary_selftest(text) FROM PUBLIC;

-- ALTER DEFAULT PRIVILEGES of the role running this script applies to what
-- it creates: a role given SELECT on every new table, or EXECUTE on every new
-- function, would get the tables of tokens and secrets, gcal_set_client and
-- gcal_rotate_key. Nothing of gcalsync is granted until an administrator
-- grants it (README: Privileges), so every privilege that is not the
-- owner's is taken back here. (Keep this the last change of privileges in
-- this script, after every CREATE.)
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
            SELECT 'FUNCTION',
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
