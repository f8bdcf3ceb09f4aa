-- gcalsync 1.0 -> 1.1 — upgrade script (ALTER EXTENSION gcalsync UPDATE).
--
-- Every schema change of 1.1 appears twice: in gcalsync--1.1.sql (what a
-- fresh install runs) and here (what an installed 1.0 runs); the two must
-- leave the same schema behind.

\echo Use "ALTER EXTENSION gcalsync UPDATE TO '1.1'" to load this file. \quit
