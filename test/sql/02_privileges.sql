-- Privileges: nothing is granted to PUBLIC; the documented app role can call
-- the API and read the data tables, never tokens or secrets.
SET client_min_messages = error;
CREATE ROLE gcal_regress_nobody;
CREATE ROLE gcal_regress_app;
-- The GRANTs the README documents for an application role:
GRANT USAGE ON SCHEMA gcalsync TO gcal_regress_app;
GRANT SELECT ON gcalsync.calendar_list, gcalsync.calendar, gcalsync.event, gcalsync.status TO gcal_regress_app;
GRANT EXECUTE ON FUNCTION gcal_link(text, text), gcal_refresh(text, text), gcal_unlink(text),
                          gcal_resync(text), gcal_status(text), gcal_sync_now(text),
                          gcal_wait(text, interval), gcal_changes(bigint, integer),
                          gcal_changes_cursor() TO gcal_regress_app;
GRANT EXECUTE ON PROCEDURE gcal_await(text, interval, boolean) TO gcal_regress_app;

SELECT gcal_link('dave', 'rt-dave-secret');

-- A role with no grants can do nothing.
SET ROLE gcal_regress_nobody;
SELECT try($$SELECT gcal_link('eve', 'rt')$$);
SELECT try($$SELECT * FROM gcal_status('dave')$$);
SELECT try($$SELECT gcal_unlink('dave')$$);
SELECT try($$SELECT gcal_sync_now('dave')$$);
SELECT try($$SELECT gcal_wait('dave')$$);
SELECT try($$CALL gcal_await('dave')$$);
SELECT try($$SELECT * FROM gcal_changes(0)$$);
SELECT try($$SELECT gcal_push('c', 'r', 'exists')$$);
SELECT try($$SELECT * FROM gcalsync.event$$);
SELECT try($$SELECT * FROM gcalsync.status$$);
SELECT try($$SELECT * FROM gcalsync.owner$$);
RESET ROLE;

-- The app role: API and data yes; tokens, secrets, control tables no.
SET ROLE gcal_regress_app;
SELECT gcal_link('eve', 'rt-eve-secret');
SELECT owner, state FROM gcal_status('eve');
SELECT gcal_sync_now('eve');
SELECT gcal_wait('eve', '0');
-- (gcal_await reads gcalsync.owner, which the app role cannot, as its owner.)
CALL gcal_await('eve', '0');
SELECT owner, op, state FROM gcal_changes(gcal_changes_cursor() - 1);
SELECT try($$SELECT * FROM gcalsync.change$$);
SELECT count(*) FROM gcalsync.status;
SELECT count(*) FROM gcalsync.event;
SELECT try($$SELECT refresh_token FROM gcalsync.owner$$);
SELECT try($$SELECT client_secret FROM gcalsync.client$$);
SELECT try($$SELECT * FROM gcalsync.channel_stop$$);
SELECT try($$SELECT * FROM gcalsync.sync_token$$);
SELECT try($$UPDATE gcalsync.event SET summary = 'x'$$);
SELECT try($$SELECT gcal_set_client('id', 'secret')$$);
SELECT try($$SELECT * FROM gcalsync.worker_status()$$);
SELECT try($$SELECT gcalsync.boundary_selftest('ok')$$);
SELECT gcal_unlink('eve');
RESET ROLE;

-- Column privileges: nobody but the owner may read a token or secret column.
SELECT c.table_name, c.column_name,
       has_column_privilege('gcal_regress_app', format('gcalsync.%I', c.table_name), c.column_name, 'SELECT') AS app,
       has_column_privilege('public', format('gcalsync.%I', c.table_name), c.column_name, 'SELECT') AS public
  FROM information_schema.columns c
 WHERE c.table_schema = 'gcalsync' AND (c.column_name LIKE '%token%' OR c.column_name LIKE '%secret%')
 ORDER BY 1, 2;

-- No table, view, sequence or function of the extension is granted to PUBLIC.
SELECT count(*) AS public_grants
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
       aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
 WHERE n.nspname = 'gcalsync' AND a.grantee = 0;
SELECT has_schema_privilege('public', 'gcalsync', 'USAGE') AS public_schema_usage;

SELECT gcal_unlink('dave');
DROP OWNED BY gcal_regress_app;
DROP ROLE gcal_regress_app;
DROP ROLE gcal_regress_nobody;
