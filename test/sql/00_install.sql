-- Installing the extension: schema, tables with the contract's exact columns,
-- keys, indexes, the status view, dump configuration.
CREATE EXTENSION gcalsync;

SELECT extname, extversion, extrelocatable FROM pg_extension WHERE extname = 'gcalsync';

-- Data tables: exactly the columns of the contract (README: Tables), in order, with types.
SELECT table_name, string_agg(column_name || ' ' || data_type || CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE '' END, ', ' ORDER BY ordinal_position)
  FROM information_schema.columns
 WHERE table_schema = 'gcalsync' AND table_name IN ('calendar_list', 'calendar', 'event', 'status')
 GROUP BY table_name ORDER BY table_name;

SELECT c.relname, pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'gcalsync' ORDER BY c.relname;

-- Every table (and the generation sequence) is dumped by pg_dump.
SELECT dumped FROM (SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'gcalsync') s
 ORDER BY dumped::text;

-- Functions: security definer, pinned search_path, not executable by PUBLIC.
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer, p.proconfig,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'gcalsync')
 ORDER BY p.oid::regprocedure::text;

-- Nothing of the extension is granted to anyone but its owner (PUBLIC
-- included), whatever default privileges say (test/sql/06_install.sql), but
-- EXECUTE on the aggregate gcalsync.busy_agg to PUBLIC (gcal_busy's read on
-- Citus, run on every node with the caller's rights over the caller's rows).
-- Functions: gcalsync.busy_agg is the one with public_execute.
SELECT count(*) AS grants_to_others
  FROM pg_depend d,
       aclexplode(CASE d.classid
                    WHEN 'pg_class'::regclass THEN (SELECT relacl FROM pg_class WHERE oid = d.objid)
                    WHEN 'pg_proc'::regclass THEN (SELECT coalesce(proacl, acldefault('f', proowner)) FROM pg_proc WHERE oid = d.objid)
                    WHEN 'pg_namespace'::regclass THEN (SELECT nspacl FROM pg_namespace WHERE oid = d.objid)
                  END) a
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'gcalsync')
   AND a.grantee <> a.grantor;

-- What the extension's objects (column defaults, checks, indexes, the view,
-- function signatures) use from outside pg_catalog and the extension: a
-- helper view for this and later suites; nothing, for a fresh install.
CREATE VIEW public.gcal_foreign_uses AS
WITH RECURSIVE member AS (
    SELECT d.classid, d.objid
      FROM pg_depend d
     WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
       AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'gcalsync')
), part AS (
    SELECT classid, objid FROM member
    UNION
    SELECT d.classid, d.objid
      FROM pg_depend d JOIN part p ON d.refclassid = p.classid AND d.refobjid = p.objid
     WHERE d.deptype IN ('a', 'i')
), used AS (
    SELECT d.*, CASE d.refclassid
                  WHEN 'pg_proc'::regclass THEN (SELECT pronamespace FROM pg_proc WHERE oid = d.refobjid)
                  WHEN 'pg_operator'::regclass THEN (SELECT oprnamespace FROM pg_operator WHERE oid = d.refobjid)
                  WHEN 'pg_type'::regclass THEN (SELECT typnamespace FROM pg_type WHERE oid = d.refobjid)
                  WHEN 'pg_collation'::regclass THEN (SELECT collnamespace FROM pg_collation WHERE oid = d.refobjid)
                END AS nsp
      FROM pg_depend d JOIN part p ON d.classid = p.classid AND d.objid = p.objid
     WHERE d.deptype = 'n'
)
SELECT DISTINCT pg_describe_object(classid, objid, objsubid) AS object,
                pg_describe_object(refclassid, refobjid, 0) AS uses
  FROM used
 WHERE nsp NOT IN (SELECT oid FROM pg_namespace WHERE nspname IN ('pg_catalog', 'gcalsync'))
   AND (refclassid, refobjid) NOT IN (SELECT classid, objid FROM member)
 ORDER BY 1, 2;
SELECT * FROM gcal_foreign_uses;

-- Helper for the following suites: run a statement, report SQLSTATE and
-- message instead of failing (and roll the statement back, like any error).
CREATE FUNCTION public.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text; hnt text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN st || ': ' || msg || coalesce(' | ' || nullif(det, ''), '')
              || coalesce(' | hint: ' || nullif(hnt, ''), '');
END $$;
