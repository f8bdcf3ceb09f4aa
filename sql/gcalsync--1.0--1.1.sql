-- gcalsync 1.0 -> 1.1 — upgrade script (ALTER EXTENSION gcalsync UPDATE).
--
-- Every schema change of 1.1 appears twice: in gcalsync--1.1.sql (what a
-- fresh install runs) and here (what an installed 1.0 runs); the two must
-- leave the same schema behind.

\echo Use "ALTER EXTENSION gcalsync UPDATE TO '1.1'" to load this file. \quit

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
    OUT feed_pruned bigint, OUT writes_sent bigint, OUT stats_reset timestamptz)
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
       c.notifications, c.feed_entries, c.feed_pruned, c.writes_sent, c.stats_reset
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
       pg_catalog.current_setting('gcalsync.change_retention')::pg_catalog.interval AS change_retention
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
            WHEN t.page_token IS NOT NULL THEN 'full_sync'
            WHEN t.sync_token IS NULL THEN 'pending'
            WHEN c.failures OPERATOR(pg_catalog.>) 0 THEN 'backoff'
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
