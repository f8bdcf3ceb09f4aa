-- The install and upgrade scripts in a hostile database (issue 12, items 3
-- and 4): whoever may create objects in the extension's schema has planted
-- functions and operators named like the built-ins the scripts use, and the
-- installing role has default privileges that grant everything it creates
-- to another role. 1.0 as released binds a column default to the planted
-- nextval(text) and hands out the control tables; ALTER EXTENSION UPDATE
-- repairs both; a fresh 1.1 install does neither.
SET client_min_messages = warning;
DROP EXTENSION gcalsync;

CREATE TABLE public.spied (what text);
CREATE FUNCTION public.spy(what text) RETURNS boolean LANGUAGE sql
    AS $$ INSERT INTO public.spied VALUES (what); SELECT true $$;
CREATE FUNCTION public.nextval(text) RETURNS bigint LANGUAGE sql
    AS $$ SELECT public.spy('nextval(text)'); SELECT pg_catalog.nextval($1::pg_catalog.regclass) $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql
    AS $$ SELECT public.spy('now()'); SELECT pg_catalog.now() $$;
CREATE FUNCTION public.count() RETURNS bigint LANGUAGE sql
    AS $$ SELECT public.spy('count()'); SELECT 0::bigint $$;
CREATE FUNCTION public.text_eq(text, text) RETURNS boolean LANGUAGE sql
    AS $$ SELECT public.spy('=(text,text)') AND pg_catalog.texteq($1, $2) $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_eq);
CREATE FUNCTION public.text_ne(text, text) RETURNS boolean LANGUAGE sql
    AS $$ SELECT public.spy('<>(text,text)') AND pg_catalog.textne($1, $2) $$;
CREATE OPERATOR public.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_ne);
CREATE FUNCTION public.int4_ge(integer, integer) RETURNS boolean LANGUAGE sql
    AS $$ SELECT public.spy('>=(int4,int4)') AND pg_catalog.int4ge($1, $2) $$;
CREATE OPERATOR public.>= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.int4_ge);
CREATE FUNCTION public.int8_gt(bigint, bigint) RETURNS boolean LANGUAGE sql
    AS $$ SELECT public.spy('>(int8,int8)') AND pg_catalog.int8gt($1, $2) $$;
CREATE OPERATOR public.> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.int8_gt);

CREATE ROLE gcal_regress_reader;
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO gcal_regress_reader;
ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO gcal_regress_reader;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO gcal_regress_reader;
ALTER DEFAULT PRIVILEGES GRANT ALL ON SCHEMAS TO gcal_regress_reader;

-- (gcal_foreign_uses, made by 00_install, lists what the extension's objects
-- depend on outside pg_catalog and the extension.)

-- What gcal_regress_reader may use of the extension.
CREATE VIEW public.gcal_reader_grants AS
SELECT pg_describe_object(d.classid, d.objid, 0) AS object,
       string_agg(a.privilege_type, ',' ORDER BY a.privilege_type) AS privileges
  FROM pg_depend d,
       aclexplode(CASE d.classid
                    WHEN 'pg_class'::regclass THEN (SELECT relacl FROM pg_class WHERE oid = d.objid)
                    WHEN 'pg_proc'::regclass THEN (SELECT proacl FROM pg_proc WHERE oid = d.objid)
                    WHEN 'pg_namespace'::regclass THEN (SELECT nspacl FROM pg_namespace WHERE oid = d.objid)
                  END) a
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'gcalsync')
   AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = 'gcal_regress_reader')
 GROUP BY 1 ORDER BY 1;

-- 1.0 as released: the planted nextval(text) became the default of two
-- columns, and the default privileges handed out everything.
CREATE EXTENSION gcalsync VERSION '1.0';
SELECT * FROM gcal_foreign_uses;
SELECT * FROM gcal_reader_grants;
SELECT gcal_set_client('id.apps.googleusercontent.com', 'secret');
SELECT gcal_link('installed-1.0', 'rt-1');
SELECT DISTINCT what FROM public.spied;
-- An administrator following README's row-level security pattern gives
-- the role some columns of gcalsync.owner.
GRANT SELECT (owner, state) ON gcalsync.owner TO gcal_regress_reader;

-- The update re-sets the defaults and takes back what the default
-- privileges granted on the control tables and the administrator's
-- functions (keeping the column privileges); the data tables and the API
-- keep what was granted, as an administrator may have meant it.
TRUNCATE public.spied;
ALTER EXTENSION gcalsync UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'gcalsync';
SELECT * FROM gcal_foreign_uses;
SELECT * FROM gcal_reader_grants;
SELECT has_table_privilege('gcal_regress_reader', 'gcalsync.owner', 'SELECT') AS owner_table,
       has_column_privilege('gcal_regress_reader', 'gcalsync.owner', 'state', 'SELECT') AS state_column,
       has_column_privilege('gcal_regress_reader', 'gcalsync.owner', 'refresh_token', 'SELECT') AS token_column;
SELECT gcal_link('updated-1.1', 'rt-2');
SELECT gcal_refresh('installed-1.0', 'rt-3');
SELECT gcal_unlink('installed-1.0');
SELECT owner, generation > 0 AS has_generation FROM gcalsync.owner ORDER BY owner;
SELECT op, owner FROM gcalsync.change ORDER BY seq;
SELECT DISTINCT what FROM public.spied;

-- A fresh install of 1.1 in the same database: nothing bound outside
-- pg_catalog, nothing granted.
DROP EXTENSION gcalsync;
CREATE EXTENSION gcalsync;
SELECT * FROM gcal_foreign_uses;
SELECT * FROM gcal_reader_grants;
SELECT gcal_set_client('id.apps.googleusercontent.com', 'secret');
SELECT gcal_link('fresh-1.1', 'rt-4');
SELECT gcal_resync(NULL);
SELECT gcal_unlink('fresh-1.1');
SELECT count(*) AS feed_entries FROM gcal_changes(0);
SELECT DISTINCT what FROM public.spied;

-- Clean up (the extension stays installed).
ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM gcal_regress_reader;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON SEQUENCES FROM gcal_regress_reader;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM gcal_regress_reader;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON SCHEMAS FROM gcal_regress_reader;
DROP VIEW public.gcal_reader_grants, public.gcal_foreign_uses;
DROP OPERATOR public.= (text, text), public.<> (text, text), public.>= (integer, integer), public.> (bigint, bigint);
DROP FUNCTION public.text_eq, public.text_ne, public.int4_ge, public.int8_gt, public.nextval(text), public.now(),
              public.count(), public.spy;
DROP TABLE public.spied;
DROP OWNED BY gcal_regress_reader;
DROP ROLE gcal_regress_reader;
