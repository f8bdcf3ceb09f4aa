-- gcal_distribute (README: Scaling out with Citus): without Citus it refuses
-- with a clear error and changes nothing. The functions the status view
-- counts through once distributed give the view's own counts.
SET client_min_messages = warning;
SELECT * FROM gcal_distribute();
SELECT * FROM gcal_distribute(8);
SELECT pg_get_viewdef('gcalsync.status'::regclass) LIKE '%owner_event_count%' AS view_replaced;

INSERT INTO gcalsync.owner (owner, refresh_token, state) VALUES ('dist-amy', '\x00', 'active');
INSERT INTO gcalsync.calendar_list (owner, calendar_id, deleted, data) VALUES
    ('dist-amy', 'a1', false, '{}'), ('dist-amy', 'a2', false, '{}'), ('dist-amy', 'a3', true, '{}');
INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, data) VALUES
    ('dist-amy', 'a1', 'e1', 'confirmed', '{}'), ('dist-amy', 'a1', 'e2', 'cancelled', '{}'),
    ('dist-amy', 'a2', 'e3', 'tentative', '{}');
SELECT s.owner, s.calendars, s.events
  FROM gcalsync.status s
 WHERE s.calendars IS DISTINCT FROM gcalsync.owner_calendar_count(s.owner)
    OR s.events IS DISTINCT FROM gcalsync.owner_event_count(s.owner);
SELECT calendars, events, gcalsync.owner_calendar_count(owner), gcalsync.owner_event_count(owner)
  FROM gcalsync.status WHERE owner = 'dist-amy';
DELETE FROM gcalsync.event WHERE owner = 'dist-amy';
DELETE FROM gcalsync.calendar_list WHERE owner = 'dist-amy';
DELETE FROM gcalsync.owner WHERE owner = 'dist-amy';
