-- busy_agg_population.sql — the population of bench/README.md's "busy.agg with
-- busy.rows' bounds": two owners with five and a half years of timed singles, long
-- events, all-day events, weekly series with older exceptions and ten-day series.
-- psql -d DB -f bench/busy_agg_population.sql in an empty database, gcalsync preloaded.
\set ON_ERROR_STOP 1
CREATE EXTENSION gcalsync;
INSERT INTO gcalsync.owner (owner, refresh_token, state) VALUES ('big', '\x00', 'active'), ('big2', '\x00', 'active');
INSERT INTO gcalsync.calendar_list (owner, calendar_id, time_zone, is_primary, deleted, data)
VALUES ('big', 'big@x', 'UTC', true, false, '{}'), ('big2', 'big2@x', 'America/New_York', true, false, '{}');
-- 100,000 timed singles per owner, one every 30 min from 2021-01-01 (to 2026-09)
INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, start_at, end_at, time_zone, transparency, event_type, data)
SELECT o, o || '@x', 's' || i, 'confirmed', t, t + interval '25 min', 'UTC', 'opaque', 'default', '{}'
  FROM unnest(ARRAY['big', 'big2']) o, generate_series(1, 100000) i,
       LATERAL (SELECT timestamptz '2021-01-01 00:00Z' + i * interval '30 min' AS t) x;
-- 300 events of 3 days, one a week
INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, start_at, end_at, time_zone, transparency, event_type, data)
SELECT o, o || '@x', 'l' || i, 'confirmed', t, t + interval '3 days', 'UTC', 'opaque', 'default', '{}'
  FROM unnest(ARRAY['big', 'big2']) o, generate_series(1, 300) i,
       LATERAL (SELECT timestamptz '2021-01-01 10:00Z' + i * interval '7 days' AS t) x;
-- 1,000 all-day events, one every other day
INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, start_date, end_date, transparency, event_type, data)
SELECT o, o || '@x', 'd' || i, 'confirmed', d, d + 1, 'opaque', 'default', '{}'
  FROM unnest(ARRAY['big', 'big2']) o, generate_series(1, 1000) i, LATERAL (SELECT date '2021-01-01' + 2 * i AS d) x;
-- 200 weekly masters from 2021 with 30 exceptions each (moved by an hour, every 8th week)
INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, start_at, end_at, time_zone, recurrence, transparency, event_type, data)
SELECT o, o || '@x', 'm' || i, 'confirmed', t, t + interval '1 hour', 'UTC', ARRAY['RRULE:FREQ=WEEKLY'], 'opaque', 'default', '{}'
  FROM unnest(ARRAY['big', 'big2']) o, generate_series(1, 200) i,
       LATERAL (SELECT timestamptz '2021-01-04 08:00Z' + (i % 40) * interval '15 min' + (i / 40) * interval '1 day' AS t) x;
INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, start_at, end_at, time_zone, recurring_event_id, original_start_at, transparency, event_type, data)
SELECT m.owner, m.calendar_id, m.event_id || '_' || k, 'confirmed', os + interval '1 hour', os + interval '2 hours', 'UTC',
       m.event_id, os, 'opaque', 'default', '{}'
  FROM gcalsync.event m, generate_series(0, 29) k, LATERAL (SELECT m.start_at + k * interval '8 weeks' AS os) x
 WHERE m.recurrence IS NOT NULL;
-- 3 masters of 10 days, monthly, with one cancelled occurrence a year
INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, start_at, end_at, time_zone, recurrence, transparency, event_type, data)
SELECT o, o || '@x', 'lm' || i, 'confirmed', t, t + interval '10 days', 'UTC', ARRAY['RRULE:FREQ=MONTHLY'], 'opaque', 'default', '{}'
  FROM unnest(ARRAY['big', 'big2']) o, generate_series(1, 3) i, LATERAL (SELECT timestamptz '2021-01-05 09:00Z' + i * interval '1 day' AS t) x;
INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, recurring_event_id, original_start_at, data)
SELECT m.owner, m.calendar_id, m.event_id || '_' || k, 'cancelled', m.event_id, m.start_at + k * interval '1 year', '{}'
  FROM gcalsync.event m, generate_series(1, 5) k WHERE m.event_id LIKE 'lm%';
VACUUM ANALYZE gcalsync.event;
VACUUM ANALYZE gcalsync.calendar_list;
SELECT count(*) FROM gcalsync.event;
