-- The SQL API: every function, every bad input, and that a refused call
-- changes nothing.

-- The worker serves another database (see test/gcalsync.conf): linking here
-- says so once; the rest of the suite keeps to errors.
-- No OAuth client yet: linking is refused.
SELECT try($$SELECT gcal_link('alice', 'rt-alice')$$);
SELECT count(*) AS owners FROM gcalsync.owner;

-- gcal_set_client: bad input.
SELECT try($$SELECT gcal_set_client(NULL, 'secret')$$);
SELECT try($$SELECT gcal_set_client('id', NULL)$$);
SELECT try($$SELECT gcal_set_client('', 'secret')$$);
SELECT try($$SELECT gcal_set_client('id', '')$$);
SELECT try($$SELECT gcal_set_client(repeat('x', 1025), 'secret')$$);
SELECT try($$SELECT gcal_set_client('id', 'sec ret')$$);
SELECT count(*) AS clients FROM gcalsync.client;
-- ... and good input, twice (the second replaces the first).
SELECT gcal_set_client('first-client.apps.googleusercontent.com', 'first-secret');
SELECT gcal_set_client('demo-client.apps.googleusercontent.com', 'demo-secret');
-- The secret is stored sealed (AES-256-GCM, format byte 1), never in clear.
SELECT client_id, get_byte(client_secret, 0) AS format, length(client_secret) > 36 AS sealed,
       position('demo-secret'::bytea in client_secret) = 0 AS no_plaintext FROM gcalsync.client;

-- gcal_link: bad input, nothing stored.
SELECT try($$SELECT gcal_link(NULL, 'rt')$$);
SELECT try($$SELECT gcal_link('alice', NULL)$$);
SELECT try($$SELECT gcal_link('', 'rt')$$);
SELECT try($$SELECT gcal_link('alice', '')$$);
SELECT try($$SELECT gcal_link(repeat('o', 1025), 'rt')$$);
SELECT try($$SELECT gcal_link('alice', repeat('t', 4097))$$);
SELECT try($$SELECT gcal_link('alice', E'rt-alice\n')$$);
SELECT count(*) AS owners FROM gcalsync.owner;

-- Good links: an ordinary id, a 1024-character id, quotes and unicode.
-- (Refresh tokens are stored sealed: never the text that was passed.)
SELECT gcal_link('alice', 'rt-alice');
SET client_min_messages = error;
SELECT gcal_link(repeat('ö', 1024), 'rt-long');
SELECT gcal_link($$o'brien "\" %#/ 日本$$, 'rt-quotes');
SELECT owner = 'alice' AS alice, char_length(owner) AS length, state, last_error, generation > 0 AS has_generation,
       next_sync_at <= now() AS due
  FROM gcalsync.owner ORDER BY linked_at, owner;

-- gcal_status and the view: pending, no counts, never a token.
SELECT owner, state, last_error, last_sync_at, next_sync_at <= now() AS due, calendars, events FROM gcal_status('alice');
SELECT owner, state, calendars, events FROM gcalsync.status WHERE owner = $$o'brien "\" %#/ 日本$$;
SELECT count(*) FROM gcal_status('nobody');
SELECT try($$SELECT * FROM gcal_status(NULL)$$);
SELECT try($$SELECT * FROM gcal_status('')$$);
SELECT column_name FROM information_schema.columns WHERE table_schema = 'gcalsync' AND table_name = 'status'
   AND column_name LIKE '%token%';

-- Mirrored data of alice, to see relink keep it and unlink remove it.
INSERT INTO gcalsync.calendar_list (owner, calendar_id, data) VALUES ('alice', 'primary', '{}');
INSERT INTO gcalsync.calendar (owner, calendar_id, data) VALUES ('alice', 'primary', '{}');
INSERT INTO gcalsync.event (owner, calendar_id, event_id, data) VALUES ('alice', 'primary', 'e1', '{}'),
       ('alice', 'primary', 'e2', '{}');
INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, data) VALUES ('alice', 'primary', 'e3', 'cancelled', '{}');
INSERT INTO gcalsync.calendar_sync (owner, calendar_id) VALUES ('alice', 'primary');
INSERT INTO gcalsync.sync_token (owner, kind, calendar_id, params, sync_token)
VALUES ('alice', 'events', 'primary', 'singleEvents=false&showDeleted=true', 'st-1'),
       ('alice', 'calendar_list', '', 'showDeleted=true&showHidden=true', 'st-0');
INSERT INTO gcalsync.channel (channel_id, owner, kind, calendar_id, resource_id, token)
VALUES ('ch-1', 'alice', 'events', 'primary', 'res-1', 'chtok-1');
SELECT calendars, events FROM gcal_status('alice');

-- Relink: new token and generation, pending again, sync tokens forgotten,
-- the old channel queued for stopping with the old token, data kept.
SELECT generation AS gen_before, encode(refresh_token, 'hex') AS sealed_before FROM gcalsync.owner WHERE owner = 'alice' \gset
UPDATE gcalsync.owner SET state = 'active', last_sync_at = now() WHERE owner = 'alice';
SELECT gcal_link('alice', 'rt-alice-2');
SELECT encode(refresh_token, 'hex') <> :'sealed_before' AS new_token, position('rt-alice'::bytea in refresh_token) = 0 AS sealed,
       state, last_sync_at, generation > :gen_before AS new_generation FROM gcalsync.owner WHERE owner = 'alice';
SELECT kind, sync_token FROM gcalsync.sync_token WHERE owner = 'alice' ORDER BY kind;
SELECT channel_id, resource_id, position('rt-alice'::bytea in refresh_token) = 0 AS sealed FROM gcalsync.channel_stop;
SELECT count(*) AS channels FROM gcalsync.channel;
SELECT count(*) AS events FROM gcalsync.event WHERE owner = 'alice';

-- gcal_refresh: bad input and unknown owner change nothing.
SELECT encode(refresh_token, 'hex') AS sealed_before FROM gcalsync.owner WHERE owner = 'alice' \gset
SELECT try($$SELECT gcal_refresh(NULL, 'rt')$$);
SELECT try($$SELECT gcal_refresh('alice', NULL)$$);
SELECT try($$SELECT gcal_refresh('', 'rt')$$);
SELECT try($$SELECT gcal_refresh('alice', '')$$);
SELECT try($$SELECT gcal_refresh('nobody', 'rt')$$);
SELECT try($$SELECT gcal_refresh(repeat('o', 1025), 'rt')$$);
SELECT count(*) AS unchanged FROM gcalsync.owner WHERE owner = 'alice' AND encode(refresh_token, 'hex') = :'sealed_before';
-- A revoked owner comes back: active if it had synced before, pending if not.
UPDATE gcalsync.owner SET state = 'revoked', last_error = 'invalid_grant', failures = 3, last_sync_at = now(),
       next_sync_at = now() + interval '1 day' WHERE owner = 'alice';
SELECT gcal_refresh('alice', 'rt-alice-3');
SELECT encode(refresh_token, 'hex') <> :'sealed_before' AS new_token, state, last_error, failures, next_sync_at <= now() AS due FROM gcalsync.owner WHERE owner = 'alice';
-- A sealed token is bound to its owner: copied to another owner's row it no
-- longer opens (checked end to end by the TAP tests); here, it differs per owner
-- even for the same token.
SELECT gcal_link('twin', 'rt-alice-3');
SELECT count(DISTINCT encode(refresh_token, 'hex')) AS distinct_ciphertexts FROM gcalsync.owner WHERE owner IN ('alice', 'twin');
SELECT gcal_unlink('twin');
UPDATE gcalsync.owner SET state = 'error', last_error = 'boom', last_sync_at = NULL WHERE owner = 'alice';
SELECT gcal_refresh('alice', 'rt-alice-4');
SELECT state, last_error FROM gcalsync.owner WHERE owner = 'alice';
SELECT count(*) AS sync_tokens_kept FROM gcalsync.sync_token WHERE owner = 'alice';

-- gcal_resync: one owner, all owners, bad input.
UPDATE gcalsync.sync_token SET sync_token = 'st-2', page_token = 'pt', full_sync_started_at = now();
UPDATE gcalsync.owner SET state = 'active', next_sync_at = now() + interval '1 hour';
SELECT gcal_resync('alice');
SELECT kind, sync_token, page_token, full_sync_started_at FROM gcalsync.sync_token WHERE owner = 'alice' ORDER BY kind;
SELECT owner = 'alice' AS alice, next_sync_at <= now() AS due, resync_requested_at IS NOT NULL AS requested
  FROM gcalsync.owner ORDER BY owner = 'alice' DESC, owner;
SELECT try($$SELECT gcal_resync('nobody')$$);
SELECT try($$SELECT gcal_resync('')$$);
UPDATE gcalsync.owner SET state = 'revoked' WHERE owner <> 'alice';
SELECT gcal_resync();
SELECT gcal_resync(NULL);
SELECT state, next_sync_at <= now() AS due FROM gcalsync.owner ORDER BY owner = 'alice' DESC, owner;

-- gcal_sync_now: schedules the owner and its calendars now.
UPDATE gcalsync.owner SET next_sync_at = now() + interval '1 hour', state = 'active' WHERE owner = 'alice';
UPDATE gcalsync.calendar_sync SET next_sync_at = now() + interval '1 hour' WHERE owner = 'alice';
SELECT requested_seq AS req_before FROM gcalsync.owner WHERE owner = 'alice' \gset
SELECT gcal_sync_now('alice');
SELECT next_sync_at <= now() AS due, requested_seq = :req_before + 1 AS requested FROM gcalsync.owner WHERE owner = 'alice';
SELECT bool_and(next_sync_at <= now()) AS calendars_due FROM gcalsync.calendar_sync WHERE owner = 'alice';
SELECT try($$SELECT gcal_sync_now(NULL)$$);
SELECT try($$SELECT gcal_sync_now('')$$);
SELECT try($$SELECT gcal_sync_now('nobody')$$);

-- gcal_wait: bad input; false when the work is not done in time.
SELECT try($$SELECT gcal_wait(NULL)$$);
SELECT try($$SELECT gcal_wait('')$$);
SELECT try($$SELECT gcal_wait('alice', NULL)$$);
SELECT try($$SELECT gcal_wait('alice', '-1s')$$);
SELECT try($$SELECT gcal_wait('alice', '1 month')$$);
SELECT try($$SELECT gcal_wait('nobody', '1s')$$);
SELECT gcal_wait('alice', '0');
SELECT gcal_wait('alice', '50ms');
BEGIN;
SELECT gcal_sync_now('alice');
SELECT gcal_wait('alice', '1s');
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT gcal_wait('alice', '1s');
ROLLBACK;
-- gcal_await, the procedure: the same checks and answers (done); it commits
-- between looks, so it refuses a transaction block or a function.
CALL gcal_await(NULL);
CALL gcal_await('', '1s');
CALL gcal_await('alice', NULL);
CALL gcal_await('alice', '-1s');
CALL gcal_await('nobody', '1s');
CALL gcal_await('alice', '0');
CALL gcal_await('alice', '50ms', NULL);
BEGIN;
CALL gcal_await('alice', '1s');
ROLLBACK;
SELECT try($$CALL gcal_await('alice', '1s')$$);
-- Revoked: false at once, whatever the timeout.
UPDATE gcalsync.owner SET state = 'revoked' WHERE owner = 'alice';
SELECT gcal_wait('alice', '1h');
CALL gcal_await('alice', '1h');
-- Done and healthy: true at once.
UPDATE gcalsync.owner SET state = 'active', completed_seq = requested_seq WHERE owner = 'alice';
SELECT gcal_wait('alice');
CALL gcal_await('alice');

-- gcal_unlink: every row of the owner goes, others stay; idempotent.
INSERT INTO gcalsync.event (owner, calendar_id, event_id, data) VALUES ('bob', 'primary', 'e1', '{}');
SELECT try($$SELECT gcal_unlink(NULL)$$);
SELECT try($$SELECT gcal_unlink('')$$);
SELECT gcal_unlink('alice');
SELECT 'owner' AS t, count(*) FROM gcalsync.owner WHERE owner = 'alice'
UNION ALL SELECT 'calendar_list', count(*) FROM gcalsync.calendar_list WHERE owner = 'alice'
UNION ALL SELECT 'calendar', count(*) FROM gcalsync.calendar WHERE owner = 'alice'
UNION ALL SELECT 'event', count(*) FROM gcalsync.event WHERE owner = 'alice'
UNION ALL SELECT 'calendar_sync', count(*) FROM gcalsync.calendar_sync WHERE owner = 'alice'
UNION ALL SELECT 'sync_token', count(*) FROM gcalsync.sync_token WHERE owner = 'alice'
UNION ALL SELECT 'channel', count(*) FROM gcalsync.channel WHERE owner = 'alice';
SELECT count(*) AS bob_events FROM gcalsync.event WHERE owner = 'bob';
SELECT gcal_unlink('alice');
SELECT gcal_unlink('bob');
SELECT count(*) AS bob_events FROM gcalsync.event WHERE owner = 'bob';
SELECT gcal_unlink('never-linked');



-- A transaction that called gcal_* cannot be prepared.
BEGIN;
SELECT gcal_link('carol', 'rt-carol');
PREPARE TRANSACTION 'gcal';
SELECT count(*) FROM gcalsync.owner WHERE owner = 'carol';

-- gcal_push: anything but a known channel with its resource id and token is
-- refused with false, never an error (the caller is an HTTP endpoint).
SELECT gcal_link('pushy', 'rt-pushy');
INSERT INTO gcalsync.calendar_sync (owner, calendar_id) VALUES ('pushy', 'cal1');
-- (The table holds the SHA-256 of the channel token, never the token.)
INSERT INTO gcalsync.channel (channel_id, owner, kind, calendar_id, resource_id, token)
VALUES ('ch-a', 'pushy', 'events', 'cal1', 'res-a', encode(sha256('tok-a'), 'hex'));
UPDATE gcalsync.calendar_sync SET next_sync_at = now() + interval '1 hour' WHERE owner = 'pushy';
SELECT gcal_push('ch-a', 'res-a', 'exists', 'wrong', 5) AS wrong_token,
       gcal_push('ch-a', 'res-x', 'exists', 'tok-a', 5) AS wrong_resource,
       gcal_push('ch-x', 'res-a', 'exists', 'tok-a', 5) AS unknown_channel,
       gcal_push('ch-a', 'res-a', 'moved', 'tok-a', 5) AS bad_state,
       gcal_push(NULL, 'res-a', 'exists', 'tok-a', 5) AS null_channel,
       gcal_push('', '', '') AS empty,
       gcal_push('ch-a', 'res-a', 'exists', encode(sha256('tok-a'), 'hex'), 5) AS stored_hash_as_token,
       gcal_push('ch-a', 'res-a', 'exists', '', 5) AS empty_token;
SELECT bool_and(next_sync_at > now()) AS nothing_scheduled FROM gcalsync.calendar_sync WHERE owner = 'pushy';
SELECT gcal_push('ch-a', 'res-a', 'sync', 'tok-a', 1) AS sync_message;
SELECT bool_and(next_sync_at > now()) AS sync_needs_no_work FROM gcalsync.calendar_sync WHERE owner = 'pushy';
SELECT gcal_push('ch-a', 'res-a', 'exists', 'tok-a', 7) AS change;
SELECT calendar_id, next_sync_at <= now() AS due FROM gcalsync.calendar_sync WHERE owner = 'pushy' ORDER BY 1;
UPDATE gcalsync.calendar_sync SET next_sync_at = now() + interval '1 hour' WHERE owner = 'pushy';
SELECT gcal_push('ch-a', 'res-a', 'exists', 'tok-a', 6) AS older_message;
SELECT bool_and(next_sync_at > now()) AS older_needs_no_work FROM gcalsync.calendar_sync WHERE owner = 'pushy';
SELECT last_message_number FROM gcalsync.channel WHERE channel_id = 'ch-a';
SELECT gcal_unlink('pushy');

-- The durable change feed: committed work only, in commit order; an unlink
-- leaves only itself of that owner.
SELECT gcal_changes_cursor() AS c0 \gset
BEGIN; SELECT gcal_link('feed1', 'rt'); COMMIT;
BEGIN; SELECT gcal_link('feed2', 'rt'); ROLLBACK;
BEGIN; SAVEPOINT s; SELECT gcal_link('feed3', 'rt'); ROLLBACK TO s; SELECT gcal_link('feed4', 'rt'); COMMIT;
SELECT gcal_unlink('feed1');
BEGIN; SELECT gcal_link('feed5', 'rt'); SELECT gcal_unlink('feed5'); COMMIT;
-- (an unlink rolled back to a savepoint leaves the owner's earlier changes)
BEGIN; SELECT gcal_link('feed6', 'rt'); SAVEPOINT s; SELECT gcal_unlink('feed6'); ROLLBACK TO s; COMMIT;
SELECT owner, table_name, calendar_id, op, state, ids FROM gcal_changes(:c0) ORDER BY seq;
SELECT count(*) AS one FROM gcal_changes(:c0, 1);
SELECT bool_and(seq > :c0) AS after_cursor, gcal_changes_cursor() = max(seq) AS cursor_is_newest FROM gcal_changes(:c0);
SELECT try($$SELECT * FROM gcal_changes(NULL)$$);
SELECT try($$SELECT * FROM gcal_changes(0, 0)$$);
INSERT INTO gcalsync.change_horizon VALUES (true, :c0 + 1);
SELECT regexp_replace(try(format('SELECT * FROM gcal_changes(%s)', :c0)), 'cursor [0-9]+', 'cursor N') AS try;
SELECT count(*) > 0 AS from_horizon FROM gcal_changes(:c0 + 1);
DELETE FROM gcalsync.change_horizon;
SELECT gcal_unlink('feed4');

SELECT gcal_unlink(owner) FROM gcalsync.owner ORDER BY owner;
