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
