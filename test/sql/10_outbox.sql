-- Writes to Google through the outbox (DESIGN §9): every bad input is
-- refused with an SQLSTATE and queues nothing; good calls queue one row each
-- with what the worker needs (client id, etag, payload), and wake the worker
-- once per committed transaction. (The worker serves another database, see
-- test/gcalsync.conf: nothing here is ever sent.)
SET client_min_messages = error;
SELECT gcal_set_client('demo-client.apps.googleusercontent.com', 'demo-secret') IS NULL AS client_set;
SELECT gcal_link('ob-alice', 'rt-ob-alice') IS NOT NULL AS linked;
RESET client_min_messages;
INSERT INTO gcalsync.calendar_list (owner, calendar_id, is_primary, data)
VALUES ('ob-alice', 'ob-alice@example.com', true, '{}'), ('ob-alice', 'team@example.com', false, '{}');
INSERT INTO gcalsync.calendar_list (owner, calendar_id, is_primary, deleted, data)
VALUES ('ob-alice', 'gone@example.com', false, true, '{}');
INSERT INTO gcalsync.event (owner, calendar_id, event_id, data) VALUES
  ('ob-alice', 'ob-alice@example.com', 'ev1', '{"id": "ev1", "etag": "\"100\"", "summary": "one"}'),
  ('ob-alice', 'ob-alice@example.com', 'inv1', '{"id": "inv1", "etag": "\"200\"", "attendees": [
      {"email": "org@example.com", "organizer": true, "responseStatus": "accepted"},
      {"email": "ob-alice@example.com", "self": true, "responseStatus": "needsAction"}]}');

-- Bad input: nothing queued.
SELECT try($$SELECT gcal_insert_event(NULL, 'primary', '{}')$$);
SELECT try($$SELECT gcal_insert_event('', 'primary', '{}')$$);
SELECT try($$SELECT gcal_insert_event('nobody', 'primary', '{}')$$);
SELECT try($$SELECT gcal_insert_event('ob-alice', NULL, '{}')$$);
SELECT try($$SELECT gcal_insert_event('ob-alice', 'unknown@example.com', '{}')$$);
SELECT try($$SELECT gcal_insert_event('ob-alice', 'gone@example.com', '{}')$$);
SELECT try($$SELECT gcal_insert_event('ob-alice', 'primary', NULL)$$);
SELECT try($$SELECT gcal_insert_event('ob-alice', 'primary', '[1, 2]')$$);
SELECT try($$SELECT gcal_insert_event('ob-alice', 'primary', '"text"')$$);
SELECT try($$SELECT gcal_insert_event('ob-alice', 'primary', '{"id": "UPPER-case"}')$$);
SELECT try($$SELECT gcal_insert_event('ob-alice', 'primary', '{"id": "abcd"}')$$);
SELECT try(format('SELECT gcal_insert_event(''ob-alice'', ''primary'', ''{"id": "%s"}'')', repeat('a', 1025)));
SELECT try($$SELECT gcal_insert_event('ob-alice', 'primary', '{"id": 12345}')$$);
SELECT try($$SELECT gcal_insert_event('ob-alice', 'primary', '{"id": "ev1xx"}', 'everyone')$$);
SELECT try($$SELECT gcal_insert_event('ob-alice', 'primary', '{}', NULL)$$);
SELECT try($$SELECT gcal_update_event('ob-alice', 'primary', 'ev1', '{"id": "other"}')$$);
SELECT try($$SELECT gcal_update_event('ob-alice', 'primary', 'ev1', '[]')$$);
SELECT try($$SELECT gcal_update_event('ob-alice', 'primary', 'ev1', NULL)$$);
SELECT try($$SELECT gcal_update_event('ob-alice', 'primary', 'nosuch', '{"summary": "x"}')$$);
SELECT try($$SELECT gcal_update_event('ob-alice', 'primary', NULL, '{"summary": "x"}')$$);
SELECT try($$SELECT gcal_delete_event('ob-alice', 'primary', 'nosuch')$$);
SELECT try($$SELECT gcal_delete_event('ob-alice', 'primary', 'ev1', 'All')$$);
SELECT try($$SELECT gcal_respond('ob-alice', 'primary', 'inv1', 'maybe')$$);
SELECT try($$SELECT gcal_respond('ob-alice', 'primary', 'inv1', NULL)$$);
SELECT try($$SELECT gcal_respond('ob-alice', 'primary', 'ev1', 'accepted')$$);
SELECT try($$SELECT gcal_wait_write(NULL)$$);
SELECT try($$SELECT gcal_wait_write(-1)$$);
SELECT try($$SELECT gcal_wait_write(1, NULL)$$);
SELECT try($$SELECT gcal_wait_write(1, '-1s')$$);
SELECT count(*) AS queued FROM gcalsync.outbox;

-- Good calls. An insert gets a client id Google accepts (base32hex, 5-1024
-- characters) and 'primary' is the primary calendar's real id.
SELECT (SELECT wake_requests FROM gcalsync.worker_status()) AS wakes_before \gset
BEGIN;
SELECT gcal_insert_event('ob-alice', 'primary', '{"summary": "Booked", "start": {"dateTime": "2030-01-01T10:00:00Z"},
                                                  "end": {"dateTime": "2030-01-01T11:00:00Z"}}') > 0 AS queued;
SELECT gcal_insert_event('ob-alice', 'team@example.com', '{"id": "client0001", "summary": "mine"}', 'all') > 0 AS queued;
SELECT gcal_update_event('ob-alice', 'primary', 'ev1', '{"summary": "renamed", "location": null}', 'externalOnly') > 0 AS queued;
SELECT gcal_respond('ob-alice', 'ob-alice@example.com', 'inv1', 'accepted') > 0 AS queued;
SELECT gcal_delete_event('ob-alice', 'primary', 'ev1') > 0 AS queued;
-- An event only queued for insertion can be written too (no etag yet).
SELECT gcal_update_event('ob-alice', 'team@example.com', 'client0001', '{"summary": "mine, renamed"}') > 0 AS queued;
-- The same client id twice is refused.
SELECT try($$SELECT gcal_insert_event('ob-alice', 'team@example.com', '{"id": "client0001"}')$$);
SELECT try($$SELECT gcal_insert_event('ob-alice', 'primary', '{"id": "ev1"}')$$);
-- Waiting in the transaction that queued the write cannot succeed.
SELECT try(format('SELECT gcal_wait_write(%s, ''1s'')', max(id))) FROM gcalsync.outbox;
COMMIT;
-- One wake-up for the whole transaction.
SELECT wake_requests - :wakes_before AS wakes FROM gcalsync.worker_status();

SELECT op, calendar_id, event_id ~ '^[a-v0-9]+$' AND length(event_id) BETWEEN 5 AND 1024 AS client_id_ok, length(event_id) AS id_len,
       state, attempts, etag, send_updates, payload - 'id' AS payload, payload->>'id' = event_id AS payload_id
  FROM gcalsync.outbox ORDER BY id;

-- A rolled-back transaction queues nothing.
BEGIN;
SELECT gcal_insert_event('ob-alice', 'primary', '{"summary": "never"}') > 0 AS queued;
ROLLBACK;
SELECT count(*) AS queued FROM gcalsync.outbox;

-- gcal_wait_write: a queued write times out (NULL), a finished one returns its state.
SELECT gcal_wait_write(min(id), '10ms') AS state FROM gcalsync.outbox;
UPDATE gcalsync.outbox SET state = 'conflict', done_at = now() WHERE op = 'delete';
SELECT gcal_wait_write(id, '0s') AS state FROM gcalsync.outbox WHERE op = 'delete';
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT try(format('SELECT gcal_wait_write(%s)', min(id))) FROM gcalsync.outbox;
ROLLBACK;

-- Unlinking the owner fails its queued writes and keeps no payload.
SELECT gcal_unlink('ob-alice');
SELECT op, state, last_error, payload IS NULL AS no_payload, done_at IS NOT NULL AS finished
  FROM gcalsync.outbox ORDER BY id;
SELECT gcal_wait_write(min(id), '0s') AS state FROM gcalsync.outbox;

-- A hostile owner id cannot forge a log line: it appears JSON-quoted.
SELECT gcal_insert_event(E'evil\nLOG:  forged', 'primary', '{}');

-- Privileges: nothing granted to PUBLIC.
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p
 WHERE p.proname IN ('gcal_insert_event', 'gcal_update_event', 'gcal_delete_event', 'gcal_respond',
                     'gcal_wait_write', 'outbox_wake', 'outbox_check', 'outbox_known_event', 'outbox_owner_gone')
 ORDER BY p.oid::regprocedure::text;
SELECT c.relname, count(a.grantee) FILTER (WHERE a.grantee <> c.relowner) AS granted_to_others
  FROM pg_class c LEFT JOIN LATERAL aclexplode(c.relacl) a ON true
 WHERE c.relname IN ('outbox', 'outbox_id_seq') GROUP BY 1 ORDER BY 1;
DELETE FROM gcalsync.outbox;
