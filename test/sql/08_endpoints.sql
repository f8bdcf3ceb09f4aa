-- gcalsync.proxy and gcalsync.notify_payload (issue 12, items 11 and 12).
SELECT name, setting, context, vartype, enumvals, boot_val
  FROM pg_settings WHERE name IN ('gcalsync.proxy', 'gcalsync.notify_payload') ORDER BY name;

-- Both are server-wide: a session cannot change them.
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET gcalsync.notify_payload = 'minimal';
SET gcalsync.proxy = 'http://proxy.example.com:3128';

-- ALTER SYSTEM validates; after each statement its SQLSTATE (00000 when it succeeded).
ALTER SYSTEM SET gcalsync.notify_payload = 'none';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.notify_payload = 'minimal';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.notify_payload = 'full';
\echo :SQLSTATE
ALTER SYSTEM RESET gcalsync.notify_payload;
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.proxy = 'ftp://proxy.example.com';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.proxy = 'proxy.example.com:3128';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.proxy = 'http://';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.proxy = 'http://proxy.example.com:3128 x';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.proxy = E'http://proxy.example.com:3128\n';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.proxy = 'http://proxy.example.com:3128';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.proxy = 'HTTPS://proxy.example.com';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.proxy = 'socks5h://127.0.0.1:1080';
\echo :SQLSTATE
ALTER SYSTEM SET gcalsync.proxy = '';
\echo :SQLSTATE
ALTER SYSTEM RESET gcalsync.proxy;
\echo :SQLSTATE

-- The values in effect are still the defaults (nothing was reloaded).
SELECT current_setting('gcalsync.notify_payload') AS notify_payload,
       current_setting('gcalsync.proxy') = '' AS no_proxy;
