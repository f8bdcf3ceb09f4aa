-- gcal_busy and gcal_free_slots (README: Scheduling): Google's busy rules over
-- gcal_instances, merged per owner; meeting slots with buffers, min_owners and
-- open hours; owners whose data is not current are reported and never free.
-- Rows are written into the mirror tables as the worker writes them (the
-- worker of this instance serves another database).
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO';

-- ann (New York) and ben (Berlin) are synced; cat's token was revoked, dan's
-- first sync has not finished; ghost is not linked at all.
INSERT INTO gcalsync.owner (owner, refresh_token, state) VALUES
    ('ann', '\x00', 'active'), ('ben', '\x00', 'backoff'), ('cat', '\x00', 'revoked'), ('dan', '\x00', 'pending');
INSERT INTO gcalsync.calendar_list (owner, calendar_id, time_zone, is_primary, deleted, data) VALUES
    ('ann', 'ann@example.com', 'America/New_York', true, false, '{}'),
    ('ann', 'ann-team', 'Europe/London', false, false, '{}'),
    ('ben', 'ben@example.com', 'Europe/Berlin', true, false, '{}'),
    ('ben', 'ben-side', 'Europe/Berlin', false, false, '{}'),
    ('ben', 'ben-gone', 'Europe/Berlin', false, true, '{}'),
    ('cat', 'cat@example.com', 'UTC', true, false, '{}'),
    ('dan', 'dan@example.com', 'UTC', true, false, '{}');

CREATE FUNCTION pg_temp.ev(own text, cal text, j jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, summary, start_at, end_at,
                                start_date, end_date, time_zone, recurrence, recurring_event_id,
                                original_start_at, original_start_date, transparency, event_type,
                                self_response, data)
    SELECT own, cal, j->>'id', coalesce(j->>'status', 'confirmed'), j->>'summary',
           (j->'start'->>'dateTime')::timestamptz, (j->'end'->>'dateTime')::timestamptz,
           (j->'start'->>'date')::date, (j->'end'->>'date')::date, j->'start'->>'timeZone',
           (SELECT array_agg(x) FROM jsonb_array_elements_text(j->'recurrence') x),
           j->>'recurringEventId', (j->'originalStartTime'->>'dateTime')::timestamptz,
           (j->'originalStartTime'->>'date')::date, coalesce(j->>'transparency', 'opaque'),
           coalesce(j->>'eventType', 'default'),
           (SELECT a->>'responseStatus' FROM jsonb_array_elements(j->'attendees') a
             WHERE (a->>'self')::boolean LIMIT 1),
           j
$$;

-- ann, week of 2026-03-02 .. 2026-03-13 (New York changes to DST on 03-08):
-- a weekly Monday 09:00-10:00 series, one occurrence cancelled (03-09 is
-- kept, 03-16 cancelled); an invitation she declined; a transparent event;
-- a working location; an all-day opaque day (Friday 03-13); a tentative
-- meeting touching another one (merged); a zero-length reminder; a deleted
-- event; and an event on another calendar of hers.
SELECT pg_temp.ev('ann', 'ann@example.com', '{"id":"weekly","start":{"dateTime":"2026-03-02T09:00:00-05:00","timeZone":"America/New_York"},"end":{"dateTime":"2026-03-02T10:00:00-05:00","timeZone":"America/New_York"},"recurrence":["RRULE:FREQ=WEEKLY;BYDAY=MO"]}');
SELECT pg_temp.ev('ann', 'ann@example.com', '{"id":"weekly_20260316T130000Z","status":"cancelled","recurringEventId":"weekly","originalStartTime":{"dateTime":"2026-03-16T09:00:00-04:00","timeZone":"America/New_York"}}');
SELECT pg_temp.ev('ann', 'ann@example.com', '{"id":"declined","start":{"dateTime":"2026-03-03T11:00:00-05:00"},"end":{"dateTime":"2026-03-03T12:00:00-05:00"},"attendees":[{"email":"ann@example.com","self":true,"responseStatus":"declined"}]}');
SELECT pg_temp.ev('ann', 'ann@example.com', '{"id":"accepted","start":{"dateTime":"2026-03-03T13:00:00-05:00"},"end":{"dateTime":"2026-03-03T13:30:00-05:00"},"attendees":[{"email":"ann@example.com","self":true,"responseStatus":"accepted"}]}');
SELECT pg_temp.ev('ann', 'ann@example.com', '{"id":"free","transparency":"transparent","start":{"dateTime":"2026-03-04T09:00:00-05:00"},"end":{"dateTime":"2026-03-04T17:00:00-05:00"}}');
SELECT pg_temp.ev('ann', 'ann@example.com', '{"id":"home","eventType":"workingLocation","start":{"date":"2026-03-04"},"end":{"date":"2026-03-05"}}');
SELECT pg_temp.ev('ann', 'ann@example.com', '{"id":"offsite","start":{"date":"2026-03-13"},"end":{"date":"2026-03-14"}}');
SELECT pg_temp.ev('ann', 'ann@example.com', '{"id":"maybe","status":"tentative","start":{"dateTime":"2026-03-05T14:00:00-05:00"},"end":{"dateTime":"2026-03-05T15:00:00-05:00"}}');
SELECT pg_temp.ev('ann', 'ann@example.com', '{"id":"next","start":{"dateTime":"2026-03-05T15:00:00-05:00"},"end":{"dateTime":"2026-03-05T15:45:00-05:00"}}');
SELECT pg_temp.ev('ann', 'ann@example.com', '{"id":"reminder","start":{"dateTime":"2026-03-05T16:00:00-05:00"},"end":{"dateTime":"2026-03-05T16:00:00-05:00"}}');
SELECT pg_temp.ev('ann', 'ann@example.com', '{"id":"deleted","status":"cancelled","start":{"dateTime":"2026-03-06T09:00:00-05:00"},"end":{"dateTime":"2026-03-06T10:00:00-05:00"}}');
SELECT pg_temp.ev('ann', 'ann-team', '{"id":"team","start":{"dateTime":"2026-03-06T15:00:00+00:00"},"end":{"dateTime":"2026-03-06T16:00:00+00:00"}}');
-- An event crossing the window's start and one crossing its end.
SELECT pg_temp.ev('ann', 'ann@example.com', '{"id":"early","start":{"dateTime":"2026-03-01T23:00:00-05:00"},"end":{"dateTime":"2026-03-02T01:00:00-05:00"}}');
SELECT pg_temp.ev('ann', 'ann@example.com', '{"id":"late","start":{"dateTime":"2026-03-13T23:00:00-04:00"},"end":{"dateTime":"2026-03-14T01:00:00-04:00"}}');
-- ben (Berlin): a daily 10:00-11:00 series on his primary calendar, ending
-- after three days; one event on a second calendar, one on a deleted one.
SELECT pg_temp.ev('ben', 'ben@example.com', '{"id":"daily","start":{"dateTime":"2026-03-03T10:00:00+01:00","timeZone":"Europe/Berlin"},"end":{"dateTime":"2026-03-03T11:00:00+01:00","timeZone":"Europe/Berlin"},"recurrence":["RRULE:FREQ=DAILY;COUNT=3"]}');
SELECT pg_temp.ev('ben', 'ben-side', '{"id":"side","start":{"dateTime":"2026-03-03T16:00:00+01:00"},"end":{"dateTime":"2026-03-03T17:00:00+01:00"}}');
SELECT pg_temp.ev('ben', 'ben-gone', '{"id":"gone","start":{"dateTime":"2026-03-03T18:00:00+01:00"},"end":{"dateTime":"2026-03-03T19:00:00+01:00"}}');
SELECT pg_temp.ev('cat', 'cat@example.com', '{"id":"c1","start":{"dateTime":"2026-03-03T09:00:00Z"},"end":{"dateTime":"2026-03-03T10:00:00Z"}}');

-- ann's busy time in New York's local time: the primary calendar only (not
-- ann-team), the series at 09:00 on both sides of the DST change, the
-- declined, transparent, working-location, deleted and zero-length events
-- left out, 14:00-15:45 merged, the all-day Friday in New York, the edges
-- clipped.
SELECT owner, lower(busy) AT TIME ZONE 'America/New_York' AS from_ny, upper(busy) AT TIME ZONE 'America/New_York' AS to_ny
  FROM gcal_busy(ARRAY['ann'], '2026-03-02 00:00-05', '2026-03-14 00:00-04');
-- Several owners, ordered by owner; ghost (not linked) has no rows; a
-- duplicate owner counts once.
SELECT owner, busy FROM gcal_busy(ARRAY['ben', 'ghost', 'ann', 'ben'], '2026-03-03 00:00Z', '2026-03-04 00:00Z');
-- Named calendars: only those the owner has (ben-gone is deleted, ann-team is not ben's).
SELECT owner, busy FROM gcal_busy(ARRAY['ben'], '2026-03-03 00:00Z', '2026-03-04 00:00Z',
                                  ARRAY['ben-side', 'ben-gone', 'ann-team']);
SELECT owner, busy FROM gcal_busy(ARRAY['ann', 'ben'], '2026-03-03 00:00Z', '2026-03-04 00:00Z',
                                  ARRAY['ann@example.com', 'ann-team', 'ben-side']);
-- Owners whose data is not current: a WARNING names them with their state;
-- what the mirror holds is still returned.
SELECT owner, busy FROM gcal_busy(ARRAY['cat', 'dan', 'ann'], '2026-03-03 00:00Z', '2026-03-03 12:00Z');
-- An owner id with a line break cannot forge a log line: it is JSON-quoted.
INSERT INTO gcalsync.owner (owner, refresh_token, state) VALUES (E'mal\nLOG:  forged', '\x00', 'error');
SELECT owner, busy FROM gcal_busy(ARRAY[E'mal\nLOG:  forged'], '2026-03-03 00:00Z', '2026-03-03 12:00Z');
DELETE FROM gcalsync.owner WHERE owner = E'mal\nLOG:  forged';
-- Refused input.
SELECT * FROM gcal_busy(NULL, '2026-03-03', '2026-03-04');
SELECT * FROM gcal_busy(ARRAY['ann', NULL], '2026-03-03', '2026-03-04');
SELECT * FROM gcal_busy(ARRAY['ann'], '2026-03-04', '2026-03-03');
SELECT * FROM gcal_busy(ARRAY['ann'], '-infinity', '2026-03-03');
-- The window is capped at 3660 days, as gcal_free_slots' (Google's
-- freebusy.query stops at about three months): one microsecond more is
-- refused with SQLSTATE 54000, exactly 3660 days is answered.
SELECT * FROM gcal_busy(ARRAY['ann'], '2026-03-03 00:00Z', '2036-03-10 00:00:00.000001Z');
\set VERBOSITY sqlstate
SELECT * FROM gcal_busy(ARRAY['ann'], '2026-03-03 00:00Z', '2036-03-10 00:00:00.000001Z');
\set VERBOSITY default
SELECT count(*) > 0 AS answered FROM gcal_busy(ARRAY['ann'], '2026-03-03 00:00Z', '2036-03-10 00:00Z');

-- Slots of an hour for ann and ben on Tuesday 2026-03-03, 08:00-18:00 UTC, on
-- the hour: ben's daily 09:00-10:00 UTC blocks one; ann's 13:00 New York
-- meeting is at 18:00 UTC, just after the window.
SELECT lower(slot) AS start, upper(slot) AS "end", free_owners
  FROM gcal_free_slots(ARRAY['ann', 'ben'], '2026-03-03 08:00Z', '2026-03-03 18:00Z', '1 hour', '1 hour');
-- Ten minutes of buffer on each side, half-hour steps: 10:00 meets ben's
-- meeting, 17:00-18:00 ann's at 18:00 (busy time after the window counts).
SELECT lower(slot) AS start, free_owners
  FROM gcal_free_slots(ARRAY['ann', 'ben'], '2026-03-03 08:00Z', '2026-03-03 18:00Z', '1 hour', '30 min',
                       buffer_before => '10 min', buffer_after => '10 min');
-- Any one of them (min_owners), with ben's second calendar counted.
SELECT lower(slot) AS start, free_owners
  FROM gcal_free_slots(ARRAY['ann', 'ben'], '2026-03-03 08:00Z', '2026-03-03 18:00Z', '2 hours', '2 hours',
                       min_owners => 1, calendar_ids => ARRAY['ann@example.com', 'ben@example.com', 'ben-side']);
-- Open hours in each owner's own zone (no "timezone": the primary calendar's):
-- 09:00-17:00 New York and Berlin overlap 14:00-16:00 UTC before New York's
-- DST change (Friday 03-06) and 13:00-16:00 UTC after it (Monday 03-09),
-- where ann's weekly 09:00 meeting takes 13:00-14:00 UTC.
SELECT lower(slot) AS start, free_owners
  FROM gcal_free_slots(ARRAY['ann', 'ben'], '2026-03-06 00:00Z', '2026-03-10 00:00Z', '1 hour', '1 hour',
                       open_hours => '[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]');
-- Per-owner hours, an exception date, and a night shift crossing midnight.
SELECT lower(slot) AS start, free_owners
  FROM gcal_free_slots(ARRAY['ann', 'ben'], '2026-03-09 00:00Z', '2026-03-11 00:00Z', '2 hours', '2 hours', 1,
                       open_hours => '{"default": [{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00", "exdates": ["2026-03-10"]}],
                                       "owners": {"ben": [{"days": [1], "start": "22:00", "end": "04:00", "timezone": "UTC"}]}}');
-- cat (revoked) and dan (pending) are never free: a WARNING from gcal_busy;
-- ghost (not linked) is never free: a WARNING of its own.
SELECT lower(slot) AS start, free_owners
  FROM gcal_free_slots(ARRAY['cat', 'dan', 'ghost', 'ann'], '2026-03-03 14:00Z', '2026-03-03 16:00Z', '1 hour', '1 hour',
                       min_owners => 1);
-- Open hours over a DST change: 01:00-04:00 New York on the night of
-- 2026-03-08 is two hours long (02:00-03:00 does not exist that night).
SELECT lower(slot) AS start, upper(slot) AS "end"
  FROM gcal_free_slots(ARRAY['ann'], '2026-03-08 00:00Z', '2026-03-09 00:00Z', '1 hour', '1 hour',
                       open_hours => '[{"days": ["sun"], "start": "01:00", "end": "04:00", "timezone": "America/New_York"}]');
-- An owner with no primary calendar (eve: linked, one secondary calendar):
-- gcal_busy's default calendars are none, so no rows; with named calendars
-- her events count. gcal_free_slots never counts her free by default (a
-- WARNING says why); with her calendar named she is free but at 09:00, and
-- open hours in "her" zone cannot be placed (never free, a WARNING).
INSERT INTO gcalsync.owner (owner, refresh_token, state) VALUES ('eve', '\x00', 'active');
INSERT INTO gcalsync.calendar_list (owner, calendar_id, time_zone, is_primary, deleted, data) VALUES
    ('eve', 'eve-team', 'UTC', false, false, '{}');
SELECT pg_temp.ev('eve', 'eve-team', '{"id":"e1","start":{"dateTime":"2026-03-03T09:00:00Z"},"end":{"dateTime":"2026-03-03T10:00:00Z"}}');
SELECT owner, busy FROM gcal_busy(ARRAY['eve'], '2026-03-03 00:00Z', '2026-03-04 00:00Z');
SELECT owner, busy FROM gcal_busy(ARRAY['eve'], '2026-03-03 00:00Z', '2026-03-04 00:00Z', ARRAY['eve-team']);
SELECT lower(slot) AS start, free_owners
  FROM gcal_free_slots(ARRAY['eve'], '2026-03-03 08:00Z', '2026-03-03 11:00Z', '1 hour', '1 hour');
SELECT lower(slot) AS start, free_owners
  FROM gcal_free_slots(ARRAY['eve'], '2026-03-03 08:00Z', '2026-03-03 11:00Z', '1 hour', '1 hour',
                       calendar_ids => ARRAY['eve-team']);
SELECT lower(slot) AS start, free_owners
  FROM gcal_free_slots(ARRAY['eve'], '2026-03-03 08:00Z', '2026-03-03 11:00Z', '1 hour', '1 hour',
                       open_hours => '[{"days": [2], "start": "08:00", "end": "18:00"}]', calendar_ids => ARRAY['eve-team']);
-- A calendar whose zone PostgreSQL does not know (fay's): gcal_busy places
-- her all-day event as gcal_instances does, in UTC, instead of failing; her
-- timed series is unaffected.
INSERT INTO gcalsync.owner (owner, refresh_token, state) VALUES ('fay', '\x00', 'active');
INSERT INTO gcalsync.calendar_list (owner, calendar_id, time_zone, is_primary, deleted, data) VALUES
    ('fay', 'fay@example.com', 'Mars/Olympus_Mons', true, false, '{}');
SELECT pg_temp.ev('fay', 'fay@example.com', '{"id":"away","start":{"date":"2026-03-03"},"end":{"date":"2026-03-04"}}');
SELECT pg_temp.ev('fay', 'fay@example.com', '{"id":"daily","start":{"dateTime":"2026-03-01T09:00:00Z"},"end":{"dateTime":"2026-03-01T09:30:00Z"},"recurrence":["RRULE:FREQ=DAILY"]}');
SELECT start_date, end_date, start_at, end_at
  FROM gcal_instances('fay', '2026-03-02 12:00Z', '2026-03-04 00:00Z') ORDER BY event_id, start_at;
SELECT owner, busy FROM gcal_busy(ARRAY['fay'], '2026-03-02 12:00Z', '2026-03-05 00:00Z');

-- The bounds of the reads before the window are in hours, whatever the
-- session's time zone: in New York, 2026-03-09 00:30 minus '1 day' is 23
-- hours earlier (DST began on 03-08) and minus '8 days' 191 hours earlier.
-- gus: an event of 23 h 36 min that started 23.5 hours before the window
-- (busy for its first 6 minutes), and a series of occurrences of 191 h 45 min
-- whose first one, 191.5 hours before the window, is cancelled (it would be
-- busy for its first 15 minutes).
INSERT INTO gcalsync.owner (owner, refresh_token, state) VALUES ('gus', '\x00', 'active');
INSERT INTO gcalsync.calendar_list (owner, calendar_id, time_zone, is_primary, deleted, data) VALUES
    ('gus', 'gus@example.com', 'UTC', true, false, '{}');
SELECT pg_temp.ev('gus', 'gus@example.com', '{"id":"almostaday","start":{"dateTime":"2026-03-08T05:00:00Z"},"end":{"dateTime":"2026-03-09T04:36:00Z"}}');
SELECT pg_temp.ev('gus', 'gus@example.com', '{"id":"almosteight","start":{"dateTime":"2026-03-01T05:00:00Z","timeZone":"UTC"},"end":{"dateTime":"2026-03-09T04:45:00Z","timeZone":"UTC"},"recurrence":["RRULE:FREQ=DAILY;INTERVAL=30;COUNT=2"]}');
SELECT pg_temp.ev('gus', 'gus@example.com', '{"id":"almosteight_20260301T050000Z","status":"cancelled","recurringEventId":"almosteight","originalStartTime":{"dateTime":"2026-03-01T05:00:00Z","timeZone":"UTC"}}');
SET TimeZone = 'America/New_York';
SELECT owner, busy FROM gcal_busy(ARRAY['gus'], '2026-03-09 00:30', '2026-03-09 01:30');
SELECT event_id, start_at, end_at FROM gcal_instances('gus', '2026-03-09 00:30', '2026-03-09 01:30') ORDER BY event_id;
SET TimeZone = 'UTC';
SELECT owner, busy FROM gcal_busy(ARRAY['gus'], '2026-03-09 04:30Z', '2026-03-09 05:30Z');

-- Refused input: each message names what is wrong.
SELECT * FROM gcal_free_slots(NULL, '2026-03-03', '2026-03-04', '1 hour');
SELECT * FROM gcal_free_slots(ARRAY[]::text[], '2026-03-03', '2026-03-04', '1 hour');
SELECT * FROM gcal_free_slots(ARRAY['ann'], '2026-03-03', '2026-03-04', '1 month');
SELECT * FROM gcal_free_slots(ARRAY['ann'], '2026-03-03', '2026-03-04', '0');
SELECT * FROM gcal_free_slots(ARRAY['ann'], '2026-03-03', '2026-03-04', '1 hour', '-15 min');
SELECT * FROM gcal_free_slots(ARRAY['ann'], '2026-03-03', '2026-03-04', '1 hour', buffer_after => '-1 min');
SELECT * FROM gcal_free_slots(ARRAY['ann', 'ben'], '2026-03-03', '2026-03-04', '1 hour', min_owners => 3);
SELECT * FROM gcal_free_slots(ARRAY['ann'], '2026-03-03', '2028-03-04', '1 hour', '1 min');
SELECT * FROM gcal_free_slots(ARRAY['ann'], '2026-03-03', '2126-03-04', '1 hour', '1000 days');
SELECT * FROM gcal_free_slots(ARRAY['ann'], '2026-03-03', '2026-03-04', '1 hour', '213504 days');
SELECT * FROM gcal_free_slots(ARRAY['ann'], '2026-03-03', '2026-03-04', '1 hour', buffer_before => '4000 days');
SELECT * FROM gcal_free_slots(ARRAY['ann'], '2026-03-03', '2026-03-04', '1 hour', open_hours => '{"days": [1]}');
SELECT * FROM gcal_free_slots(ARRAY['ann'], '2026-03-03', '2026-03-04', '1 hour', open_hours => '[{"days": [1], "start": "9:00", "end": "17:00"}]');
SELECT * FROM gcal_free_slots(ARRAY['ann'], '2026-03-03', '2026-03-04', '1 hour', open_hours => '[{"days": [1, "someday"], "start": "09:00", "end": "17:00"}]');
SELECT * FROM gcal_free_slots(ARRAY['ann'], '2026-03-03', '2026-03-04', '1 hour', open_hours => '{"owners": {"ann": [{"days": [1], "start": "09:00", "end": "17:00", "timezone": "Mars/Olympus"}]}}');
SELECT * FROM gcal_free_slots(ARRAY['ann'], '2026-03-03', '2026-03-04', '1 hour', open_hours => '[{"days": [1], "start": "09:00", "end": "17:00", "exdate": ["2026-03-03"]}]');

-- Row-level security applies (SECURITY INVOKER: the one read of all owners'
-- rows is the caller's): a role whose policies show only ben's rows gets only
-- ben's busy time.
CREATE ROLE regress_busy_app;
GRANT USAGE ON SCHEMA gcalsync TO regress_busy_app;
GRANT SELECT ON gcalsync.calendar_list, gcalsync.event, gcalsync.status TO regress_busy_app;
GRANT EXECUTE ON FUNCTION gcal_busy(text[], timestamptz, timestamptz, text[]) TO regress_busy_app;
ALTER TABLE gcalsync.calendar_list ENABLE ROW LEVEL SECURITY;
ALTER TABLE gcalsync.event ENABLE ROW LEVEL SECURITY;
CREATE POLICY regress_only_ben ON gcalsync.calendar_list FOR SELECT USING (owner = 'ben');
CREATE POLICY regress_only_ben ON gcalsync.event FOR SELECT USING (owner = 'ben');
SET ROLE regress_busy_app;
SELECT owner, busy FROM gcal_busy(ARRAY['ann', 'ben'], '2026-03-03 00:00Z', '2026-03-04 00:00Z');
RESET ROLE;
DROP POLICY regress_only_ben ON gcalsync.calendar_list;
DROP POLICY regress_only_ben ON gcalsync.event;
ALTER TABLE gcalsync.calendar_list DISABLE ROW LEVEL SECURITY;
ALTER TABLE gcalsync.event DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON gcalsync.calendar_list, gcalsync.event, gcalsync.status FROM regress_busy_app;
REVOKE ALL ON SCHEMA gcalsync FROM regress_busy_app;
REVOKE ALL ON FUNCTION gcal_busy(text[], timestamptz, timestamptz, text[]) FROM regress_busy_app;
DROP ROLE regress_busy_app;

-- gcalsync.busy_agg, gcal_busy's read on Citus (README: Scaling out with
-- Citus), gives gcal_busy's ranges on one server too: fed every row of each
-- owner's primary calendar (more than busy.agg reads), grouped by owner.
SELECT a.owner, a.busy OPERATOR(pg_catalog.=) b.busy AS same_as_gcal_busy, pg_catalog.cardinality(a.busy) AS ranges
  FROM (SELECT e.owner,
               gcalsync.busy_agg(e.calendar_id, e.event_id, e.status, e.start_at, e.end_at, e.start_date, e.end_date,
                                 e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at,
                                 e.original_start_date, e.transparency, e.event_type, e.self_response, cl.time_zone,
                                 e.owner, '2026-03-02 00:00Z', '2026-03-14 00:00Z', 'gcal_busy') AS busy
          FROM gcalsync.event e JOIN gcalsync.calendar_list cl USING (owner, calendar_id)
         WHERE cl.is_primary AND NOT cl.deleted AND e.owner IN ('ann', 'ben', 'fay')
         GROUP BY e.owner) a
  LEFT JOIN (SELECT owner, array_agg(busy ORDER BY busy) AS busy
               FROM gcal_busy(ARRAY['ann', 'ben', 'fay'], '2026-03-02 00:00Z', '2026-03-14 00:00Z') GROUP BY owner) b
       USING (owner)
 ORDER BY a.owner;
-- It takes one owner's rows (a group by owner) and a window.
SELECT gcalsync.busy_agg(e.calendar_id, e.event_id, e.status, e.start_at, e.end_at, e.start_date, e.end_date,
                         e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at, e.original_start_date,
                         e.transparency, e.event_type, e.self_response, NULL, e.owner, '2026-03-02', '2026-03-14', NULL)
  FROM gcalsync.event e WHERE e.owner IN ('ann', 'ben');
SELECT gcalsync.busy_agg(e.calendar_id, e.event_id, e.status, e.start_at, e.end_at, e.start_date, e.end_date,
                         e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at, e.original_start_date,
                         e.transparency, e.event_type, e.self_response, NULL, e.owner, '2026-03-14', '2026-03-02', NULL)
  FROM gcalsync.event e WHERE e.owner = 'ann';

DELETE FROM gcalsync.event WHERE owner IN ('ann', 'ben', 'cat', 'dan', 'eve', 'fay', 'gus');
DELETE FROM gcalsync.calendar_list WHERE owner IN ('ann', 'ben', 'cat', 'dan', 'eve', 'fay', 'gus');
DELETE FROM gcalsync.owner WHERE owner IN ('ann', 'ben', 'cat', 'dan', 'eve', 'fay', 'gus');
