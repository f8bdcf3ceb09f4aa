-- The statement table (src/pg/statements.*): every statement the extension
-- runs parses and plans against the installed schema, and each wrong use of
-- a statement fails loudly instead of re-planning or running another plan.
SELECT gcalsync.boundary_selftest('statements') > 50 AS every_statement_prepares;
SELECT try($$SELECT gcalsync.boundary_selftest('statement_unlisted')$$);
SELECT try($$SELECT gcalsync.boundary_selftest('statement_other_text')$$);
SELECT try($$SELECT gcalsync.boundary_selftest('statement_types')$$);
SELECT gcalsync.boundary_selftest('live') AS live_objects;
