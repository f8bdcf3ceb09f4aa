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
