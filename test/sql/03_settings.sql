-- GUCs: defaults, units, and URL validation (http only to loopback).
SELECT name, setting, unit, context, vartype, min_val, max_val
  FROM pg_settings WHERE name LIKE 'gcalsync.%' ORDER BY name;
SELECT current_setting('gcalsync.poll_interval') AS poll_interval,
       current_setting('gcalsync.http_timeout') AS http_timeout;

-- The URL settings are server-wide: not settable in a session.
SELECT try($$SET gcalsync.google_api_url = 'https://example.com/calendar/v3'$$);
-- The settings in effect after all this are the configuration file's.


-- ALTER SYSTEM runs the same validation as the configuration file. After
-- each statement, its SQLSTATE (00000 when it succeeded).
\set SHOW_CONTEXT never
ALTER SYSTEM SET gcalsync.google_api_url = 'http://example.com/calendar/v3';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.google_token_url = 'http://10.0.0.1/token';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.google_api_url = 'ftp://example.com/';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.google_api_url = 'example.com/calendar';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.google_api_url = '';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.google_api_url = 'https://user:pw@example.com/';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.google_api_url = 'https://example.com/v3?key=1';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.google_api_url = 'https://example.com:99999/';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.webhook_url = 'http://hooks.example.com/gcal';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.poll_interval = 0;
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.max_connections = 0;
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.no_such_setting = 1;
\echo :SQLSTATE
-- Accepted: https anywhere, http to loopback, empty webhook.
ALTER SYSTEM SET gcalsync.google_api_url = 'https://calendar.example.com/calendar/v3';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.google_token_url = 'http://127.0.0.1:8080/token';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.google_token_url = 'http://localhost/token';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.google_token_url = 'http://[::1]:8080/token';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.webhook_url = 'https://app.example.com/hooks/gcal';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.webhook_url = '';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.poll_interval = '30s';
\echo :SQLSTATE
ALTER SYSTEM RESET ALL;
-- The database the worker serves is read at server start only (accepted, for the next start).
ALTER SYSTEM SET gcalsync.database_name = 'other';
\echo :SQLSTATE
ALTER SYSTEM RESET ALL;
SELECT pg_reload_conf();
SELECT sourcefile IS NULL OR sourcefile NOT LIKE '%postgresql.auto.conf' AS not_from_alter_system
  FROM pg_settings WHERE name = 'gcalsync.google_api_url';
