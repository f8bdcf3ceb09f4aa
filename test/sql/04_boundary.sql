-- The C++/PostgreSQL error boundary, both directions: errors keep their
-- SQLSTATE, C++ destructors run, and the backend carries on.
SELECT gcalsync.boundary_selftest('ok');
SELECT try($$SELECT gcalsync.boundary_selftest('cpp_exception')$$);
SELECT try($$SELECT gcalsync.boundary_selftest('user_error')$$);
SELECT try($$SELECT gcalsync.boundary_selftest('bad_alloc')$$);
SELECT try($$SELECT gcalsync.boundary_selftest('pg_error')$$);
SELECT try($$SELECT gcalsync.boundary_selftest('spi_error')$$);
SELECT try($$SELECT gcalsync.boundary_selftest('no_such_mode')$$);
-- A savepoint made in C++ (Subtransaction, used by the worker's page writes):
-- the failing statement is undone back to it, the rest stays (rows 1 and 3).
SELECT gcalsync.boundary_selftest('subtransaction') AS rows_kept;
-- Every C++ object created on the failing paths was destroyed.
SELECT gcalsync.boundary_selftest('live') AS live_objects;

-- Inside a transaction: the error aborts it, savepoints recover as usual,
-- and the SPI connection left by the failing call is cleaned up.
BEGIN;
SAVEPOINT a;
SELECT gcalsync.boundary_selftest('spi_error');
ROLLBACK TO SAVEPOINT a;
SELECT gcalsync.boundary_selftest('ok');
SAVEPOINT b;
SELECT gcalsync.boundary_selftest('pg_error');
ROLLBACK TO SAVEPOINT b;
SELECT gcalsync.boundary_selftest('live') AS live_objects;
COMMIT;

-- The error as a client sees it (message, detail, hint).
SELECT gcalsync.boundary_selftest('user_error');
SELECT gcal_link(NULL, 'x');
SELECT gcal_refresh('nobody', 'rt');
-- The backend is alive and well.
SELECT 1 AS alive;

-- core::encode_jsonb (issue 18) against jsonb_in, byte for byte: 1 = the same
-- bytes, 0 = left to jsonb_in (the worker then runs it); a difference is an error.
SELECT gcalsync.boundary_selftest('jsonb:' || t) AS same, t AS json
  FROM unnest(ARRAY[
    '{}', '[]', ' { } ', '{"a":1}', '{"b":true,"a":null,"b":false}', '{"aaa":1,"zz":2,"b":{"y":[],"x":{}}}',
    '["x", [], -12345]', '[0, -0, 1, -1, 9999, 10000, -10000, 123456789, 100000000, 9223372036854775807]',
    '[-9223372036854775808, 12345678901234567890123456789012345678901234567890]',
    '["\u00e9\n\ud83d\ude00\/\"\\\b\f\r\t", "\u0041\u00DF\u20AC\uFFFF", "é€😀"]',
    '{"k":"v","k":{"k":[1,{"k":2,"k":3}]},"":"empty key","\u0041":"escaped key","A":"last A"}',
    '[1.5]', '[1e3]', '["\u0000"]', '["\ud800"]', '["\udc00x"]', '"a scalar"', '7', 'true'
  ]) AS t;
-- Generated documents: every JEntry kind at every position, keys of every
-- length, arrays and objects past the offset stride (32), nesting, numbers
-- of every size: all encoded, all identical.
SELECT count(*) FILTER (WHERE gcalsync.boundary_selftest('jsonb:' || d) = 1) AS identical, count(*) AS documents
  FROM (SELECT jsonb_build_object(
                 'id', 'ev' || i,
                 repeat('k', i % 40), i * 7919 % 1000003 - 500000,
                 'big', round(i::numeric ^ (i % 9)) * (CASE WHEN i % 2 = 0 THEN 1 ELSE -1 END),
                 'flags', jsonb_build_array(i % 2 = 0, NULL, i % 3 = 0, 'x'),
                 'list', (SELECT coalesce(jsonb_agg(j * 10000), '[]') FROM generate_series(1, i % 70) j),
                 'obj', (SELECT coalesce(jsonb_object_agg('f' || j, repeat(chr(945 + j % 20), j % 5)), '{}')
                           FROM generate_series(1, i % 45) j),
                 'nested', (SELECT jsonb_build_object('a', jsonb_build_array(jsonb_build_object('b', i), 'é', i % 10 - 5)))
               )::text AS d
          FROM generate_series(1, 300) i) docs;
