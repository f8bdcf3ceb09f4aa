-- gcal_instances (README: Recurring events): recurring events expanded from
-- the mirror, exceptions in place, the window and the order of Google's
-- events.list with singleEvents=true. Rows are written into the mirror
-- tables as the worker writes them (the worker of this instance serves
-- another database). The pitfalls named in issue 14 each have a case.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO';
SET IntervalStyle = 'postgres';

-- The owner's calendars: New York, Berlin, an all-day holiday calendar in
-- Los Angeles, and a calendar deleted from the list.
INSERT INTO gcalsync.calendar_list (owner, calendar_id, time_zone, is_primary, deleted, data) VALUES
    ('alice', 'alice@example.com', 'America/New_York', true, false, '{}'),
    ('alice', 'work', 'Europe/Berlin', false, false, '{}'),
    ('alice', 'holidays', 'America/Los_Angeles', false, false, '{}'),
    ('alice', 'gone', 'UTC', false, true, '{}'),
    ('bob', 'bob@example.com', 'UTC', true, false, '{}'),
    ('carol', 'carol@example.com', 'UTC', true, false, '{}');

-- ev(calendar, id, json): one event row as the worker stores it, columns
-- lifted from Google's resource.
CREATE FUNCTION pg_temp.ev(cal text, j jsonb, own text DEFAULT 'alice') RETURNS void LANGUAGE sql AS $$
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

-- A weekly 09:00 New York meeting across the DST change of 2025-03-09,
-- with a moved occurrence, a cancelled one (Google sends only id,
-- recurringEventId and originalStartTime), and one moved into the window
-- from outside it. The owner accepted the series.
SELECT pg_temp.ev('alice@example.com', '{"id":"weekly","summary":"Standup","start":{"dateTime":"2025-03-03T09:00:00-05:00","timeZone":"America/New_York"},"end":{"dateTime":"2025-03-03T09:30:00-05:00","timeZone":"America/New_York"},"recurrence":["RRULE:FREQ=WEEKLY;BYDAY=MO"],"attendees":[{"email":"alice@example.com","self":true,"responseStatus":"accepted"}]}');
SELECT pg_temp.ev('alice@example.com', '{"id":"weekly_20250317T130000Z","summary":"Standup (moved)","recurringEventId":"weekly","originalStartTime":{"dateTime":"2025-03-17T09:00:00-04:00","timeZone":"America/New_York"},"start":{"dateTime":"2025-03-18T14:00:00-04:00","timeZone":"America/New_York"},"end":{"dateTime":"2025-03-18T14:30:00-04:00","timeZone":"America/New_York"},"attendees":[{"email":"alice@example.com","self":true,"responseStatus":"tentative"}]}');
SELECT pg_temp.ev('alice@example.com', '{"id":"weekly_20250324T130000Z","status":"cancelled","recurringEventId":"weekly","originalStartTime":{"dateTime":"2025-03-24T09:00:00-04:00","timeZone":"America/New_York"}}');
SELECT pg_temp.ev('alice@example.com', '{"id":"weekly_20250407T130000Z","summary":"Standup (pulled in)","recurringEventId":"weekly","originalStartTime":{"dateTime":"2025-04-07T09:00:00-04:00","timeZone":"America/New_York"},"start":{"dateTime":"2025-03-28T10:00:00-04:00","timeZone":"America/New_York"},"end":{"dateTime":"2025-03-28T10:30:00-04:00","timeZone":"America/New_York"}}');

-- Singles: one in the window, one before it, a deleted one.
SELECT pg_temp.ev('alice@example.com', '{"id":"lunch","summary":"Lunch","start":{"dateTime":"2025-03-12T12:00:00-04:00"},"end":{"dateTime":"2025-03-12T13:00:00-04:00"}}');
SELECT pg_temp.ev('alice@example.com', '{"id":"old","summary":"Old","start":{"dateTime":"2025-02-12T12:00:00-05:00"},"end":{"dateTime":"2025-02-12T13:00:00-05:00"}}');
SELECT pg_temp.ev('alice@example.com', '{"id":"deleted","status":"cancelled","summary":"Deleted","start":{"dateTime":"2025-03-13T12:00:00-04:00"},"end":{"dateTime":"2025-03-13T13:00:00-04:00"}}');

-- March in New York.
SELECT event_id, recurring_event_id, status, summary, start_at, end_at, original_start_at, self_response
  FROM gcal_instances('alice', '2025-03-01 00:00-05', '2025-04-01 00:00-04', ARRAY['alice@example.com']);
-- With show_deleted: the cancelled occurrence and the deleted single come back.
SELECT event_id, status, start_at, original_start_at
  FROM gcal_instances('alice', '2025-03-01 00:00-05', '2025-04-01 00:00-04', ARRAY['alice@example.com'], true)
 WHERE status = 'cancelled';
-- Generated instances carry the master's resource; exceptions their own.
SELECT event_id, data->>'id' AS data_id, time_zone, transparency, event_type
  FROM gcal_instances('alice', '2025-03-10 00:00-04', '2025-03-19 00:00-04', ARRAY['alice@example.com']);

-- The window rule: an instance is in it when it ends after time_min and
-- starts before time_max (both exclusive).
SELECT event_id FROM gcal_instances('alice', '2025-03-10 09:30-04', '2025-03-10 09:31-04');  -- ends at time_min
SELECT event_id FROM gcal_instances('alice', '2025-03-10 09:29-04', '2025-03-10 09:30-04');
SELECT event_id FROM gcal_instances('alice', '2025-03-10 08:00-04', '2025-03-10 09:00-04');  -- starts at time_max
SELECT count(*) FROM gcal_instances('alice', '2025-03-10 09:00-04', '2025-03-10 09:00-04');  -- empty window

-- DST: a daily 02:30 series in New York. 2025-03-09 02:30 does not exist: it
-- becomes 03:30 EDT, as '2025-03-09 02:30'::timestamp AT TIME ZONE
-- 'America/New_York' does; 2025-11-02 01:30 happens twice: the second
-- (EST) is taken, again as AT TIME ZONE does.
SELECT pg_temp.ev('alice@example.com', '{"id":"night","summary":"Night job","start":{"dateTime":"2025-03-07T02:30:00-05:00","timeZone":"America/New_York"},"end":{"dateTime":"2025-03-07T02:45:00-05:00","timeZone":"America/New_York"},"recurrence":["RRULE:FREQ=DAILY"]}');
SELECT pg_temp.ev('alice@example.com', '{"id":"fold","summary":"Fold","start":{"dateTime":"2025-11-01T01:30:00-04:00","timeZone":"America/New_York"},"end":{"dateTime":"2025-11-01T01:45:00-04:00","timeZone":"America/New_York"},"recurrence":["RRULE:FREQ=DAILY;COUNT=3"]}');
SELECT event_id, start_at, start_at AT TIME ZONE 'America/New_York' AS local_start
  FROM gcal_instances('alice', '2025-03-08 00:00-05', '2025-03-11 00:00-04') WHERE recurring_event_id = 'night';
SELECT event_id, start_at, start_at AT TIME ZONE 'America/New_York' AS local_start,
       start_at = '2025-11-02 01:30'::timestamp AT TIME ZONE 'America/New_York' AS as_postgres
  FROM gcal_instances('alice', '2025-10-31', '2025-11-05') WHERE recurring_event_id = 'fold';

-- Every two weeks on Tuesday and Sunday in Berlin, week starting Sunday, from
-- 2020, asked in 2025 (the iterator skips ahead; the weeks must not shift),
-- across Europe's DST change of 2025-03-30.
SELECT pg_temp.ev('work', '{"id":"biweekly","summary":"Review","start":{"dateTime":"2020-01-07T16:00:00+01:00","timeZone":"Europe/Berlin"},"end":{"dateTime":"2020-01-07T17:00:00+01:00","timeZone":"Europe/Berlin"},"recurrence":["RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SU;WKST=SU"]}');
SELECT event_id, start_at AT TIME ZONE 'Europe/Berlin' AS local_start
  FROM gcal_instances('alice', '2025-03-15', '2025-04-15', ARRAY['work']);

-- EXDATE and RDATE in every form Google sends.
SELECT pg_temp.ev('work', '{"id":"daily","summary":"Daily","start":{"dateTime":"2025-06-02T08:00:00+02:00","timeZone":"Europe/Berlin"},"end":{"dateTime":"2025-06-02T08:15:00+02:00","timeZone":"Europe/Berlin"},"recurrence":["RRULE:FREQ=DAILY;COUNT=8","EXDATE;TZID=Europe/Berlin:20250603T080000,20250604T080000","EXDATE:20250605T060000Z","EXDATE;VALUE=DATE:20250606","RDATE;TZID=Europe/Berlin:20250615T120000","RDATE:20250616T100000Z"]}');
SELECT event_id, start_at AT TIME ZONE 'Europe/Berlin' AS local_start, end_at - start_at AS length
  FROM gcal_instances('alice', '2025-06-01', '2025-07-01', ARRAY['work']);

-- UNTIL in Google's forms: a DATE UNTIL on a timed series runs through that
-- day in the series' zone; split series ("this and following"): the old
-- master is cut by a UTC UNTIL, the new one is <id>_R<stamp>.
SELECT pg_temp.ev('alice@example.com', '{"id":"late","summary":"Late","start":{"dateTime":"2025-05-01T22:00:00-04:00","timeZone":"America/New_York"},"end":{"dateTime":"2025-05-01T23:00:00-04:00","timeZone":"America/New_York"},"recurrence":["RRULE:FREQ=DAILY;UNTIL=20250503"]}');
SELECT pg_temp.ev('alice@example.com', '{"id":"sync","summary":"Sync","start":{"dateTime":"2025-05-05T10:00:00-04:00","timeZone":"America/New_York"},"end":{"dateTime":"2025-05-05T11:00:00-04:00","timeZone":"America/New_York"},"recurrence":["RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20250518T035959Z"]}');
SELECT pg_temp.ev('alice@example.com', '{"id":"sync_R20250519T140000","summary":"Sync (new time)","start":{"dateTime":"2025-05-19T11:00:00-04:00","timeZone":"America/New_York"},"end":{"dateTime":"2025-05-19T12:00:00-04:00","timeZone":"America/New_York"},"recurrence":["RRULE:FREQ=WEEKLY;BYDAY=MO"]}');
SELECT event_id, summary, start_at AT TIME ZONE 'America/New_York' AS local_start
  FROM gcal_instances('alice', '2025-05-01', '2025-06-01', ARRAY['alice@example.com'])
 WHERE recurring_event_id IN ('late', 'sync', 'sync_R20250519T140000');

-- All-day: a yearly holiday and a two-day event, taken in the calendar's
-- zone (Los Angeles): 2025-07-04 runs from 07:00Z to 07:00Z the next day, so
-- a window of 06:00Z-07:00Z is still 2025-07-03 there.
SELECT pg_temp.ev('holidays', '{"id":"july4","summary":"Independence Day","start":{"date":"2020-07-04"},"end":{"date":"2020-07-05"},"recurrence":["RRULE:FREQ=YEARLY"],"transparency":"transparent"}');
SELECT pg_temp.ev('holidays', '{"id":"retreat","summary":"Retreat","start":{"date":"2025-07-03"},"end":{"date":"2025-07-05"},"recurrence":["RRULE:FREQ=MONTHLY;COUNT=2","EXDATE;VALUE=DATE:20250803"]}');
SELECT pg_temp.ev('holidays', '{"id":"trip","summary":"Trip","start":{"date":"2025-07-04"},"end":{"date":"2025-07-06"}}');
SELECT event_id, recurring_event_id, start_date, end_date, original_start_date, start_at, transparency
  FROM gcal_instances('alice', '2025-07-04 06:00+00', '2025-07-04 07:00+00', ARRAY['holidays']);
SELECT event_id, start_date, end_date
  FROM gcal_instances('alice', '2025-07-04 07:00+00', '2025-07-04 08:00+00', ARRAY['holidays']);
SELECT event_id FROM gcal_instances('alice', '2025-07-05 07:00+00', '2025-07-06 00:00+00', ARRAY['holidays']);
SELECT count(*) FROM gcal_instances('alice', '2025-08-01', '2025-09-01', ARRAY['holidays']);  -- 08-03 excluded

-- An exception whose master is not in the mirror is returned as it is.
SELECT pg_temp.ev('work', '{"id":"foreign_20250610T090000Z","summary":"Invited instance","recurringEventId":"foreign","originalStartTime":{"dateTime":"2025-06-10T11:00:00+02:00"},"start":{"dateTime":"2025-06-10T11:00:00+02:00"},"end":{"dateTime":"2025-06-10T12:00:00+02:00"}}');
SELECT event_id, recurring_event_id, original_start_at
  FROM gcal_instances('alice', '2025-06-10', '2025-06-11', ARRAY['work']) WHERE recurring_event_id = 'foreign';

-- A master longer than eight days: its exception from before the window
-- still removes the occurrence that reaches into it.
SELECT pg_temp.ev('work', '{"id":"conference","summary":"Conference","start":{"dateTime":"2025-01-01T09:00:00+01:00","timeZone":"Europe/Berlin"},"end":{"dateTime":"2025-01-11T09:00:00+01:00","timeZone":"Europe/Berlin"},"recurrence":["RRULE:FREQ=MONTHLY"]}');
SELECT pg_temp.ev('work', '{"id":"conference_20250501T070000Z","status":"cancelled","recurringEventId":"conference","originalStartTime":{"dateTime":"2025-05-01T09:00:00+02:00","timeZone":"Europe/Berlin"}}');
SELECT event_id, status, start_at, end_at
  FROM gcal_instances('alice', '2025-05-10', '2025-07-02', ARRAY['work'], true) WHERE recurring_event_id = 'conference';

-- An endless series far past its 730th occurrence.
SELECT event_id FROM gcal_instances('alice', '2031-03-03 13:59+00', '2031-03-03 14:01+00', ARRAY['alice@example.com']);

-- Calendars: NULL is every calendar of the owner's list that is not deleted;
-- a deleted calendar's events never show; another owner's never either.
SELECT pg_temp.ev('gone', '{"id":"ghost","summary":"Ghost","start":{"dateTime":"2025-03-12T12:00:00Z"},"end":{"dateTime":"2025-03-12T13:00:00Z"}}');
SELECT pg_temp.ev('bob@example.com', '{"id":"bobs","summary":"Bob","start":{"dateTime":"2025-03-12T12:00:00Z"},"end":{"dateTime":"2025-03-12T13:00:00Z"}}', 'bob');
SELECT calendar_id, event_id FROM gcal_instances('alice', '2025-03-12', '2025-03-13');
SELECT calendar_id, event_id FROM gcal_instances('alice', '2025-03-12', '2025-03-13', ARRAY['gone', 'bob@example.com']);
SELECT calendar_id, event_id FROM gcal_instances('bob', '2025-03-12', '2025-03-13');
SELECT count(*) FROM gcal_instances('nobody', '2025-03-12', '2025-03-13');

-- Order: start, then calendar, then id.
SELECT pg_temp.ev('work', '{"id":"a-same-time","summary":"Same time","start":{"dateTime":"2025-03-10T13:00:00Z"},"end":{"dateTime":"2025-03-10T14:00:00Z"}}');
SELECT pg_temp.ev('alice@example.com', '{"id":"z-same-time","summary":"Same time","start":{"dateTime":"2025-03-10T13:00:00Z"},"end":{"dateTime":"2025-03-10T13:10:00Z"}}');
SELECT calendar_id, event_id, start_at FROM gcal_instances('alice', '2025-03-10 12:00+00', '2025-03-10 14:00+00');

-- Refusals.
SELECT * FROM gcal_instances(NULL, '2025-03-01', '2025-04-01');
SELECT * FROM gcal_instances('alice', NULL, '2025-04-01');
SELECT * FROM gcal_instances('alice', '2025-04-01', '2025-03-01');
SELECT * FROM gcal_instances('alice', '-infinity', '2025-03-01');
-- Guard rails: a rule of every second, asked for a year, stops with an error
-- instead of filling memory; a COUNT rule is walked from its start only so far.
SELECT pg_temp.ev('carol@example.com', '{"id":"dense","start":{"dateTime":"2025-01-01T00:00:00Z","timeZone":"UTC"},"end":{"dateTime":"2025-01-01T00:00:01Z","timeZone":"UTC"},"recurrence":["RRULE:FREQ=SECONDLY"]}', 'carol');
SELECT pg_temp.ev('carol@example.com', '{"id":"counted","start":{"dateTime":"2025-01-01T00:00:00Z","timeZone":"UTC"},"end":{"dateTime":"2025-01-01T00:00:01Z","timeZone":"UTC"},"recurrence":["RRULE:FREQ=SECONDLY;COUNT=100000000"]}', 'carol');
SELECT count(*), min(event_id), max(event_id)
  FROM gcal_instances('carol', '2025-06-01 00:00+00', '2025-06-01 00:01+00') WHERE recurring_event_id = 'dense';
\set VERBOSITY default
SELECT count(*) FROM gcal_instances('carol', '2025-01-01', '2026-01-01');
SELECT count(*) FROM gcal_instances('carol', '2025-01-01 00:00+00', '2025-01-01 00:01+00');
SELECT count(*) FROM gcal_instances('carol', '2025-06-01 00:00+00', '2025-06-01 00:01+00');
\set VERBOSITY terse

-- Privileges: not executable by PUBLIC; it runs as the caller (SECURITY
-- INVOKER), so the caller needs SELECT on the tables and row-level security
-- applies.
SELECT p.prosecdef, p.proconfig, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p WHERE p.proname = 'gcal_instances';
CREATE ROLE regress_instances_app;
GRANT USAGE ON SCHEMA gcalsync TO regress_instances_app;
GRANT EXECUTE ON FUNCTION gcal_instances(text, timestamptz, timestamptz, text[], boolean) TO regress_instances_app;
SET ROLE regress_instances_app;
SELECT count(*) FROM gcal_instances('alice', '2025-03-01', '2025-04-01');  -- no SELECT on the tables
RESET ROLE;
GRANT SELECT ON gcalsync.calendar_list, gcalsync.event TO regress_instances_app;
ALTER TABLE gcalsync.calendar_list ENABLE ROW LEVEL SECURITY;
ALTER TABLE gcalsync.event ENABLE ROW LEVEL SECURITY;
CREATE POLICY regress_only_bob ON gcalsync.calendar_list FOR SELECT USING (owner = 'bob');
CREATE POLICY regress_only_bob ON gcalsync.event FOR SELECT USING (owner = 'bob');
SET ROLE regress_instances_app;
SELECT count(*) FROM gcal_instances('alice', '2025-03-01', '2025-04-01');  -- hidden by the policy
SELECT event_id FROM gcal_instances('bob', '2025-03-12', '2025-03-13');
RESET ROLE;
DROP POLICY regress_only_bob ON gcalsync.calendar_list;
DROP POLICY regress_only_bob ON gcalsync.event;
ALTER TABLE gcalsync.calendar_list DISABLE ROW LEVEL SECURITY;
ALTER TABLE gcalsync.event DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON gcalsync.calendar_list, gcalsync.event FROM regress_instances_app;
REVOKE ALL ON SCHEMA gcalsync FROM regress_instances_app;
REVOKE ALL ON FUNCTION gcal_instances(text, timestamptz, timestamptz, text[], boolean) FROM regress_instances_app;
DROP ROLE regress_instances_app;

-- LATERAL over owners, as an application asks for many calendars at once.
SELECT o.owner, i.event_id
  FROM (VALUES ('alice'), ('bob')) AS o(owner)
  CROSS JOIN LATERAL gcal_instances(o.owner, '2025-03-12 16:00+00', '2025-03-12 17:00+00') AS i;

DELETE FROM gcalsync.event WHERE owner IN ('alice', 'bob', 'carol');
DELETE FROM gcalsync.calendar_list WHERE owner IN ('alice', 'bob', 'carol');
