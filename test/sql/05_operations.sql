-- Operations views (README: Operations): their columns, who may read them,
-- the live figures against the tables, each calendar state, counting by
-- sessions, and gcal_stats_reset. The worker of this instance serves another
-- database, so the rows below stay as written here; test/t/050_stats.pl shows
-- the figures moving during real syncs.
SET client_min_messages = error;

-- The views and their columns, in order: the exporter example and the alerts read these names.
SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
  FROM information_schema.columns
 WHERE table_schema = 'gcalsync' AND table_name IN ('stats', 'stats_requests', 'worker', 'calendar_status')
 GROUP BY table_name ORDER BY table_name;

-- No view shows a token or a secret: no such column (token_refreshes is a
-- count), and no definition reads a credential.
SELECT c.relname, a.attname
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.relnamespace = 'gcalsync'::regnamespace AND c.relkind = 'v' AND a.attnum > 0
   AND a.attname ~ 'token|secret' AND a.attname <> 'token_refreshes';
SELECT c.relname
  FROM pg_class c
 WHERE c.relnamespace = 'gcalsync'::regnamespace AND c.relkind = 'v'
   AND pg_get_viewdef(c.oid) ~ 'refresh_token|client_secret|\.token\M';

-- One row per Google API, in a fixed order; zero right after a reset.
SELECT gcal_stats_reset();
SELECT api, requests, ok, rate_limited, too_many_requests, other, bytes_received, request_time
  FROM gcalsync.stats_requests;
SELECT requests, requests_ok, bytes_received, rounds, pages, rows_written, tombstones_written,
       retries, backoffs, ceiling_waits, rate_limit_waits, notifications, feed_entries, writes_sent,
       stats_reset > now() - interval '1 minute' AS just_reset
  FROM gcalsync.stats;
SELECT stats_reset AS reset0 FROM gcalsync.stats \gset

-- A session's NOTIFYs and feed entries count when it commits (gcal_link
-- announces the owner's state), not when it rolls back.
SELECT gcal_link('ops-a', 'rt-ops-a');
SELECT notifications, feed_entries FROM gcalsync.stats;
BEGIN;
SELECT gcal_link('ops-b', 'rt-ops-b');
ROLLBACK;
SELECT notifications, feed_entries FROM gcalsync.stats;
BEGIN;
SELECT gcal_link('ops-b', 'rt-ops-b');
SELECT gcal_link('ops-c', 'rt-ops-c');
COMMIT;
SELECT notifications, feed_entries FROM gcalsync.stats;

-- The progress of a full sync starts empty.
SELECT owner, full_sync_started_at, full_sync_finished_at, full_sync_pages, full_sync_events
  FROM gcalsync.status WHERE owner LIKE 'ops-%' ORDER BY owner;

-- Each calendar state, as the worker would leave the tables.
UPDATE gcalsync.owner SET state = 'active', next_sync_at = now() - interval '5 min' WHERE owner = 'ops-a';
UPDATE gcalsync.owner SET state = 'revoked' WHERE owner = 'ops-b';
UPDATE gcalsync.owner SET state = 'error', next_sync_at = now() + interval '1 hour' WHERE owner = 'ops-c';
INSERT INTO gcalsync.calendar_sync (owner, calendar_id, enabled, failures, last_error, next_sync_at) VALUES
    ('ops-a', 'c-active', true, 0, NULL, now() - interval '10 min'),
    ('ops-a', 'c-backoff', true, 2, 'HTTP 403 forbidden: no', now() + interval '1 min'),
    ('ops-a', 'c-deleted', false, 0, 'calendar not found (404)', now()),
    ('ops-a', 'c-full', true, 0, NULL, now() + interval '1 min'),
    ('ops-a', 'c-pending', true, 0, NULL, now() - interval '1 min'),
    ('ops-b', 'c-of-revoked', true, 0, NULL, now() - interval '1 hour');
INSERT INTO gcalsync.sync_token (owner, kind, calendar_id, params, sync_token, page_token) VALUES
    ('ops-a', 'events', 'c-active', 'p', 'st', NULL),
    ('ops-a', 'events', 'c-backoff', 'p', 'st', NULL),
    ('ops-a', 'events', 'c-full', 'p', NULL, 'pt'),
    ('ops-b', 'events', 'c-of-revoked', 'p', 'st', NULL);
INSERT INTO gcalsync.calendar_list (owner, calendar_id, summary, summary_override, data) VALUES
    ('ops-a', 'c-active', 'Active', 'My active one', '{}'),
    ('ops-a', 'c-full', 'Full', NULL, '{}');
INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, data) VALUES
    ('ops-a', 'c-active', 'e1', 'confirmed', '{}'),
    ('ops-a', 'c-active', 'e2', 'tentative', '{}'),
    ('ops-a', 'c-active', 'e3', 'cancelled', '{}'),
    ('ops-a', 'c-full', 'e1', 'confirmed', '{}');
INSERT INTO gcalsync.channel (channel_id, owner, kind, calendar_id, resource_id, token, expires_at) VALUES
    ('ch-old', 'ops-a', 'events', 'c-active', 'r', 'channel-token-secret', '2030-01-01 00:00+00'),
    ('ch-new', 'ops-a', 'events', 'c-active', 'r', 'channel-token-secret', '2030-01-08 00:00+00');
SELECT owner, calendar_id, summary, enabled, state, owner_state, failures, last_error,
       push_supported, channel_id, channel_expires_at, events
  FROM gcalsync.calendar_status WHERE owner LIKE 'ops-%' ORDER BY owner, calendar_id;

-- The live figures are what the tables say.
SELECT w.owners = (SELECT count(*) FROM gcalsync.owner) AS owners,
       w.owners_pending = (SELECT count(*) FROM gcalsync.owner WHERE state = 'pending') AS pending,
       w.owners_active = (SELECT count(*) FROM gcalsync.owner WHERE state = 'active') AS active,
       w.owners_backoff = (SELECT count(*) FROM gcalsync.owner WHERE state = 'backoff') AS backoff,
       w.owners_revoked = (SELECT count(*) FROM gcalsync.owner WHERE state = 'revoked') AS revoked,
       w.owners_error = (SELECT count(*) FROM gcalsync.owner WHERE state = 'error') AS error,
       w.owners_due = (SELECT count(*) FROM gcalsync.owner
                        WHERE state IN ('pending', 'active', 'backoff') AND next_sync_at <= now()) AS owners_due,
       w.calendars = (SELECT count(*) FROM gcalsync.calendar_sync WHERE enabled) AS calendars,
       w.calendars_due = (SELECT count(*) FROM gcalsync.calendar_sync c JOIN gcalsync.owner o USING (owner)
                           WHERE c.enabled AND o.state = 'active' AND c.next_sync_at <= now()) AS calendars_due,
       w.feed_newest_seq = gcal_changes_cursor() AS feed_newest,
       w.feed_oldest_seq = (SELECT min(seq) FROM gcalsync.change) AS feed_oldest
  FROM gcalsync.worker w;
SELECT owners_revoked, owners_error, owners_due, calendars_due,
       schedule_lag >= interval '10 min' AND schedule_lag < interval '11 min' AS lag_is_the_oldest_due,
       requests_per_minute, poll_interval, change_retention, state <> 'syncing' AS not_syncing,
       owners_syncing, transfers_running, transfers_queued, requests_last_minute
  FROM gcalsync.worker;
-- Work a full sync is doing is not late: an owner whose full sync runs, a
-- calendar whose full listing runs (their schedules move when they end).
UPDATE gcalsync.owner SET next_sync_at = now() - interval '1 hour', full_sync_started_at = now() - interval '1 hour'
 WHERE owner = 'ops-a';
UPDATE gcalsync.calendar_sync SET next_sync_at = now() - interval '2 hours' WHERE owner = 'ops-a' AND calendar_id = 'c-full';
SELECT owners_due, calendars_due,
       schedule_lag >= interval '10 min' AND schedule_lag < interval '11 min' AS lag_is_the_oldest_waiting
  FROM gcalsync.worker;
UPDATE gcalsync.owner SET full_sync_finished_at = now() WHERE owner = 'ops-a';
SELECT schedule_lag >= interval '1 hour' AND schedule_lag < interval '61 min' AS finished_full_sync_counts_again
  FROM gcalsync.worker;
-- Nothing due: no lag.
UPDATE gcalsync.owner SET next_sync_at = now() + interval '1 hour' WHERE owner LIKE 'ops-%';
UPDATE gcalsync.calendar_sync SET next_sync_at = now() + interval '1 hour' WHERE owner LIKE 'ops-%';
SELECT owners_due, calendars_due, schedule_lag FROM gcalsync.worker;

-- What a hostile search_path puts first does not reach the views: their
-- functions and operators were bound when the extension was created.
CREATE SCHEMA evil;
CREATE FUNCTION evil.always(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.always);
CREATE FUNCTION evil.count() RETURNS bigint LANGUAGE sql AS 'SELECT 42::bigint';
SET search_path = evil, public;
SELECT calendar_id, events FROM gcalsync.calendar_status WHERE owner OPERATOR(pg_catalog.=) 'ops-a'
 ORDER BY calendar_id;
SELECT owners_revoked FROM gcalsync.worker;
RESET search_path;
DROP SCHEMA evil CASCADE;

-- Who may read: nobody but the extension owner, until granted. The grant README documents
-- for a monitoring role:
CREATE ROLE gcal_regress_monitor IN ROLE pg_monitor;
CREATE ROLE gcal_regress_plain;
SET ROLE gcal_regress_monitor;
SELECT try($$SELECT * FROM gcalsync.stats$$);
SELECT try($$SELECT * FROM gcalsync.stat_get_counters()$$);
RESET ROLE;
GRANT USAGE ON SCHEMA gcalsync TO pg_monitor;
GRANT SELECT ON gcalsync.stats, gcalsync.stats_requests, gcalsync.worker, gcalsync.calendar_status,
                gcalsync.status TO pg_monitor;
GRANT EXECUTE ON FUNCTION gcalsync.stat_get_requests(), gcalsync.stat_get_counters(),
                          gcalsync.stat_get_worker(), gcalsync.worker_status() TO pg_monitor;
SET ROLE gcal_regress_monitor;
SELECT count(*) AS stats FROM gcalsync.stats;
SELECT count(*) AS stats_requests FROM gcalsync.stats_requests;
SELECT owners_revoked FROM gcalsync.worker;
SELECT count(*) AS calendar_status FROM gcalsync.calendar_status WHERE owner LIKE 'ops-%';
SELECT count(*) AS status FROM gcalsync.status WHERE owner LIKE 'ops-%';
SELECT try($$SELECT token FROM gcalsync.channel$$);
SELECT try($$SELECT refresh_token FROM gcalsync.owner$$);
SELECT try($$SELECT gcal_stats_reset()$$);
RESET ROLE;
SET ROLE gcal_regress_plain;
SELECT try($$SELECT * FROM gcalsync.worker$$);
SELECT try($$SELECT gcal_stats_reset()$$);
RESET ROLE;
-- Resetting is for superusers and roles granted it.
GRANT EXECUTE ON FUNCTION gcal_stats_reset() TO gcal_regress_monitor;
SET ROLE gcal_regress_monitor;
SELECT gcal_stats_reset();
RESET ROLE;
SELECT notifications, feed_entries, stats_reset > :'reset0'::timestamptz AS reset_moved FROM gcalsync.stats;

REVOKE EXECUTE ON FUNCTION gcal_stats_reset() FROM gcal_regress_monitor;
REVOKE EXECUTE ON FUNCTION gcalsync.stat_get_requests(), gcalsync.stat_get_counters(),
                           gcalsync.stat_get_worker(), gcalsync.worker_status() FROM pg_monitor;
REVOKE SELECT ON gcalsync.stats, gcalsync.stats_requests, gcalsync.worker, gcalsync.calendar_status,
                 gcalsync.status FROM pg_monitor;
REVOKE USAGE ON SCHEMA gcalsync FROM pg_monitor;
DROP ROLE gcal_regress_monitor;
DROP ROLE gcal_regress_plain;
SELECT gcal_unlink(owner) FROM gcalsync.owner WHERE owner LIKE 'ops-%' ORDER BY owner;
