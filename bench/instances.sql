-- bench/instances.sql — gcal_instances (issue 14) against the plain range query
-- over the stored rows, on the same data in the same run (bench/README.md,
-- "Recurring events").
--
--   psql -X -q -d <db with gcalsync> -f bench/instances.sql
--
-- Writes 1,000 owners into gcalsync.calendar_list and gcalsync.event (owners
-- 'bench-0001'...; removed at the end, and before, if a previous run left
-- them), as the worker stores them: per owner 3 calendars (primary in one of
-- five zones, work in Europe/Berlin, holidays all-day in America/Los_Angeles),
-- 250 single events over the year (a quarter all-day), 16 recurring masters
-- started one to three years before the window (weekday standup, weekly,
-- every two weeks with WKST, monthly on the 2nd Tuesday, monthly on the last
-- day, daily with COUNT, yearly all-day, weekly with EXDATEs, a split series
-- cut by UNTIL and its _R continuation, ...), and 24 exceptions (moved and
-- cancelled occurrences).
--
-- Prints, for each measure, the mean and the best of several repetitions:
--   owner-month   gcal_instances for one owner and one month (100 owners, each once)
--   1000 x week   1,000 owners x one week through a LATERAL join, one statement
-- and the baseline of each: the stored rows in the same window (the README's
-- range query of 1.0, which misses every occurrence of a series after its first).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET TimeZone = 'UTC';

DELETE FROM gcalsync.event WHERE owner LIKE 'bench-%';
DELETE FROM gcalsync.calendar_list WHERE owner LIKE 'bench-%';

CREATE TEMP TABLE bench_owner AS
SELECT pg_catalog.format('bench-%s', pg_catalog.lpad(i::text, 4, '0')) AS owner, i,
       (ARRAY['America/New_York', 'Europe/Berlin', 'Australia/Sydney', 'Asia/Tokyo', 'America/Los_Angeles'])[1 + i % 5] AS tz
  FROM pg_catalog.generate_series(1, 1000) i;

INSERT INTO gcalsync.calendar_list (owner, calendar_id, time_zone, is_primary, data)
SELECT o.owner, c.id, CASE c.id WHEN 'primary' THEN o.tz WHEN 'work' THEN 'Europe/Berlin' ELSE 'America/Los_Angeles' END,
       c.id = 'primary', '{"kind":"calendar#calendarListEntry"}'
  FROM bench_owner o, (VALUES ('primary'), ('work'), ('holidays')) c(id);

-- A realistic resource in data (about 600 bytes).
CREATE TEMP TABLE bench_data AS SELECT pg_catalog.jsonb_build_object(
    'kind', 'calendar#event', 'etag', '"3485815948352798"', 'status', 'confirmed',
    'htmlLink', 'https://www.google.com/calendar/event?eid=NWhuaTRzajNxbDE2NjlvdG1qZzdzbjFtb2sgYWxpY2VAZXhhbXBsZS5jb20',
    'created', '2024-01-10T10:00:00.000Z', 'updated', '2025-01-10T10:00:00.000Z',
    'description', pg_catalog.repeat('Agenda item. ', 12),
    'creator', pg_catalog.jsonb_build_object('email', 'alice@example.com', 'self', true),
    'organizer', pg_catalog.jsonb_build_object('email', 'alice@example.com', 'self', true),
    'attendees', pg_catalog.jsonb_build_array(
        pg_catalog.jsonb_build_object('email', 'alice@example.com', 'self', true, 'responseStatus', 'accepted'),
        pg_catalog.jsonb_build_object('email', 'bob@example.com', 'responseStatus', 'needsAction')),
    'reminders', pg_catalog.jsonb_build_object('useDefault', true)) AS data;

-- Singles: 250 per owner over 2026 (every ~35 hours), a quarter all-day.
INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, summary, start_at, end_at,
                            start_date, end_date, time_zone, transparency, event_type, self_response, data)
SELECT o.owner, CASE WHEN k % 3 = 0 THEN 'work' ELSE 'primary' END, pg_catalog.format('single%s', k), 'confirmed',
       pg_catalog.format('Meeting %s', k),
       CASE WHEN k % 4 <> 0 THEN t END, CASE WHEN k % 4 <> 0 THEN t + interval '45 min' END,
       CASE WHEN k % 4 = 0 THEN (t AT TIME ZONE o.tz)::date END,
       CASE WHEN k % 4 = 0 THEN (t AT TIME ZONE o.tz)::date + 1 END,
       o.tz, 'opaque', 'default', 'accepted', d.data
  FROM bench_owner o, bench_data d, pg_catalog.generate_series(1, 250) k,
       LATERAL (SELECT timestamptz '2026-01-01 08:00+00' + k * interval '35 hours' + o.i * interval '1 min' AS t) x
 ORDER BY o.i, k;  -- an owner's rows together, as the worker writes them

-- Masters: 16 per owner.
INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, summary, start_at, end_at,
                            start_date, end_date, time_zone, recurrence, transparency, event_type,
                            self_response, data)
SELECT o.owner, m.cal, m.id, 'confirmed', m.id,
       CASE WHEN m.all_day THEN NULL ELSE (m.local_start AT TIME ZONE m.zone) END,
       CASE WHEN m.all_day THEN NULL ELSE (m.local_start AT TIME ZONE m.zone) + m.len END,
       CASE WHEN m.all_day THEN m.local_start::date END,
       CASE WHEN m.all_day THEN m.local_start::date + 1 END,
       CASE WHEN m.all_day THEN NULL ELSE m.zone END, m.rules, 'opaque', 'default', 'accepted', d.data
  FROM bench_owner o, bench_data d,
       LATERAL (VALUES
         ('primary', 'standup', timestamp '2024-01-08 09:30', o.tz, interval '15 min', false, ARRAY['RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR']),
         ('primary', 'weekly', timestamp '2025-02-03 14:00', o.tz, interval '1 hour', false, ARRAY['RRULE:FREQ=WEEKLY;BYDAY=MO']),
         ('primary', 'oneonone', timestamp '2024-06-04 11:00', o.tz, interval '30 min', false, ARRAY['RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;WKST=SU']),
         ('primary', 'monthly', timestamp '2024-03-12 16:00', o.tz, interval '1 hour', false, ARRAY['RRULE:FREQ=MONTHLY;BYDAY=2TU']),
         ('primary', 'lastday', timestamp '2024-01-31 17:00', o.tz, interval '30 min', false, ARRAY['RRULE:FREQ=MONTHLY;BYMONTHDAY=-1']),
         ('primary', 'course', timestamp '2026-02-02 18:00', o.tz, interval '90 min', false, ARRAY['RRULE:FREQ=DAILY;COUNT=60']),
         ('primary', 'gym', timestamp '2025-01-06 07:00', o.tz, interval '1 hour', false, ARRAY['RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR', 'EXDATE;TZID=' || o.tz || ':20260302T070000,20260304T070000']),
         ('primary', 'sync', timestamp '2024-09-02 10:00', o.tz, interval '1 hour', false, ARRAY['RRULE:FREQ=WEEKLY;BYDAY=TH;UNTIL=20260301T000000Z']),
         ('primary', 'sync_R20260305T100000', timestamp '2026-03-05 11:00', o.tz, interval '1 hour', false, ARRAY['RRULE:FREQ=WEEKLY;BYDAY=TH']),
         ('work', 'review', timestamp '2023-05-05 15:00', 'Europe/Berlin', interval '1 hour', false, ARRAY['RRULE:FREQ=WEEKLY;BYDAY=FR']),
         ('work', 'planning', timestamp '2024-01-15 10:00', 'Europe/Berlin', interval '2 hours', false, ARRAY['RRULE:FREQ=WEEKLY;INTERVAL=3;BYDAY=MO']),
         ('work', 'quarterly', timestamp '2024-01-10 09:00', 'Europe/Berlin', interval '3 hours', false, ARRAY['RRULE:FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=10']),
         ('work', 'daily', timestamp '2025-09-01 08:45', 'Europe/Berlin', interval '10 min', false, ARRAY['RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR']),
         ('holidays', 'birthday', timestamp '2020-04-17 00:00', 'America/Los_Angeles', interval '0', true, ARRAY['RRULE:FREQ=YEARLY']),
         ('holidays', 'payday', timestamp '2023-01-15 00:00', 'America/Los_Angeles', interval '0', true, ARRAY['RRULE:FREQ=MONTHLY;BYMONTHDAY=15,-1']),
         ('holidays', 'trash', timestamp '2022-01-04 00:00', 'America/Los_Angeles', interval '0', true, ARRAY['RRULE:FREQ=WEEKLY;BYDAY=TU'])
       ) m(cal, id, local_start, zone, len, all_day, rules)
 ORDER BY o.i;

-- Exceptions: 24 per owner on the weekday standup (moved by an hour) and the
-- weekly meeting (cancelled), around the measured month.
INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, summary, start_at, end_at, time_zone,
                            recurring_event_id, original_start_at, transparency, event_type, self_response, data)
SELECT o.owner, 'primary', pg_catalog.format('%s_%s', e.master, pg_catalog.to_char(e.orig AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"')),
       e.status, e.master, CASE WHEN e.status = 'confirmed' THEN e.orig + interval '1 hour' END,
       CASE WHEN e.status = 'confirmed' THEN e.orig + interval '1 hour' + e.len END, o.tz,
       e.master, e.orig, 'opaque', 'default', 'accepted', d.data
  FROM bench_owner o, bench_data d,
       LATERAL (SELECT 'standup' AS master, 'confirmed' AS status, interval '15 min' AS len,
                       ((date '2026-02-02' + 7 * k)::timestamp + time '09:30') AT TIME ZONE o.tz AS orig
                  FROM pg_catalog.generate_series(0, 11) k
                UNION ALL
                SELECT 'weekly', 'cancelled', interval '1 hour',
                       ((date '2026-02-02' + 7 * k)::timestamp + time '14:00') AT TIME ZONE o.tz
                  FROM pg_catalog.generate_series(0, 11) k) e
 ORDER BY o.i;

ANALYZE gcalsync.event;
ANALYZE gcalsync.calendar_list;

SELECT pg_catalog.count(*) AS rows_per_owner FROM gcalsync.event WHERE owner = 'bench-0001';

CREATE TEMP TABLE bench_result (measure text, what text, reps int, mean_ms numeric, best_ms numeric, rows bigint);

DO $$
DECLARE
    t0 timestamptz;
    ms numeric;
    times numeric[];
    n bigint;
    r int;
    ow record;
BEGIN
    -- Warm up (plans, caches, zones).
    PERFORM pg_catalog.count(*) FROM bench_owner o,
        LATERAL public.gcal_instances(o.owner, '2026-03-02', '2026-03-09') i WHERE o.i <= 50;

    -- One owner-month: 100 owners, each once; mean and best per call.
    FOREACH r IN ARRAY ARRAY[1, 2] LOOP
        times := '{}';
        FOR ow IN SELECT owner FROM bench_owner WHERE i <= 100 LOOP
            t0 := pg_catalog.clock_timestamp();
            IF r = 1 THEN
                SELECT pg_catalog.count(*) INTO n FROM public.gcal_instances(ow.owner, '2026-03-01', '2026-04-01');
            ELSE
                SELECT pg_catalog.count(*) INTO n FROM gcalsync.event e
                 WHERE e.owner = ow.owner AND e.status <> 'cancelled'
                   AND e.start_at < '2026-04-01' AND e.end_at > '2026-03-01';
            END IF;
            times := times || (EXTRACT(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000)::numeric;
        END LOOP;
        INSERT INTO bench_result SELECT 'owner-month',
               CASE r WHEN 1 THEN 'gcal_instances' ELSE 'baseline: stored rows (range query)' END,
               100, (SELECT pg_catalog.avg(x) FROM pg_catalog.unnest(times) x),
               (SELECT pg_catalog.min(x) FROM pg_catalog.unnest(times) x), n;
    END LOOP;

    -- 1,000 owners x one week, one statement through LATERAL, 5 times.
    FOREACH r IN ARRAY ARRAY[1, 2] LOOP
        times := '{}';
        FOR k IN 1..5 LOOP
            t0 := pg_catalog.clock_timestamp();
            IF r = 1 THEN
                SELECT pg_catalog.count(*) INTO n FROM bench_owner o,
                       LATERAL public.gcal_instances(o.owner, '2026-03-09', '2026-03-16') i;
            ELSE
                SELECT pg_catalog.count(*) INTO n FROM bench_owner o,
                       LATERAL (SELECT 1 FROM gcalsync.event e
                                 WHERE e.owner = o.owner AND e.status <> 'cancelled'
                                   AND e.start_at < '2026-03-16' AND e.end_at > '2026-03-09') i;
            END IF;
            times := times || (EXTRACT(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000)::numeric;
        END LOOP;
        INSERT INTO bench_result SELECT '1000 owners x week',
               CASE r WHEN 1 THEN 'gcal_instances via LATERAL' ELSE 'baseline: stored rows via LATERAL' END,
               5, (SELECT pg_catalog.avg(x) FROM pg_catalog.unnest(times) x),
               (SELECT pg_catalog.min(x) FROM pg_catalog.unnest(times) x), n;
    END LOOP;
END
$$;

SELECT measure, what, reps, pg_catalog.round(mean_ms, 3) AS mean_ms, pg_catalog.round(best_ms, 3) AS best_ms,
       rows AS rows_last_call
  FROM bench_result ORDER BY measure DESC, what DESC;

-- (psql -v keep=1: leave the rows, to look at the plans)
\if :{?keep}
\else
DELETE FROM gcalsync.event WHERE owner LIKE 'bench-%';
DELETE FROM gcalsync.calendar_list WHERE owner LIKE 'bench-%';
\endif
