-- gcalsync 1.0 -> 1.1 — upgrade script (ALTER EXTENSION gcalsync UPDATE).
--
-- Every schema change of 1.1 appears twice: in gcalsync--1.1.sql (what a
-- fresh install runs) and here (what an installed 1.0 runs); the two must
-- leave the same schema behind (test/t/050_upgrade.pl compares them). Like
-- the install script, this runs as a superuser with the extension's schema on
-- the search_path: every function, operator and type named in an expression
-- is pg_catalog-qualified.
--
-- Add schema changes in the section "Changes of 1.1" (the first and last
-- sections handle privileges and must stay first and last).

\echo Use "ALTER EXTENSION gcalsync UPDATE TO '1.1'" to load this file. \quit

-------------------------------------------------------------------------------
-- Privileges, part 1: which objects exist before the update (the last
-- section takes back what ALTER DEFAULT PRIVILEGES grants on the objects
-- created in between; objects that existed keep what their administrator
-- granted). Kept as a setting local to this script.
-------------------------------------------------------------------------------
SELECT pg_catalog.set_config('gcalsync_upgrade.members_before',
           (SELECT pg_catalog.string_agg(pg_catalog.concat(d.classid, ':', d.objid), ',')
              FROM pg_catalog.pg_depend d
              JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
             WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
               AND d.deptype OPERATOR(pg_catalog.=) 'e'
               AND e.extname OPERATOR(pg_catalog.=) 'gcalsync'),
           true);

-------------------------------------------------------------------------------
-- Repairs of what the 1.0 install script may have bound to a function that
-- someone had planted in the extension's schema (issue 12): its column
-- defaults named nextval() and now() unqualified, so a public.nextval(text)
-- present at CREATE EXTENSION became the default of owner.generation and
-- change.seq, run as the extension owner on every insert. Every default that
-- calls a function is set again, qualified, as gcalsync--1.1.sql writes it.
--
-- Nothing else of 1.0 needs repair: its CHECK constraints, index predicates
-- and the status view use only operators whose argument types match a
-- pg_catalog operator exactly (text = text, integer >= integer, ...), and at
-- CREATE EXTENSION pg_catalog is searched before the extension's schema,
-- where a same-named operator with those argument types is hidden; so they
-- are bound to pg_catalog's (test/sql/06_install.sql checks every dependency
-- of an upgraded install). The view is not replaced for the same reason, and
-- because CREATE OR REPLACE VIEW would reset options an administrator set on
-- it (security_invoker, README: Row-level security).
-------------------------------------------------------------------------------
ALTER TABLE gcalsync.client
    ALTER COLUMN updated_at SET DEFAULT pg_catalog.now();
ALTER TABLE gcalsync.owner
    ALTER COLUMN generation SET DEFAULT pg_catalog.nextval('gcalsync.link_generation'::pg_catalog.regclass),
    ALTER COLUMN linked_at SET DEFAULT pg_catalog.now(),
    ALTER COLUMN next_sync_at SET DEFAULT pg_catalog.now();
ALTER TABLE gcalsync.calendar_sync
    ALTER COLUMN next_sync_at SET DEFAULT pg_catalog.now();
ALTER TABLE gcalsync.sync_token
    ALTER COLUMN updated_at SET DEFAULT pg_catalog.now();
ALTER TABLE gcalsync.channel
    ALTER COLUMN created_at SET DEFAULT pg_catalog.now();
ALTER TABLE gcalsync.channel_stop
    ALTER COLUMN queued_at SET DEFAULT pg_catalog.now();
ALTER TABLE gcalsync.change
    ALTER COLUMN seq SET DEFAULT pg_catalog.nextval('gcalsync.change_seq'::pg_catalog.regclass),
    ALTER COLUMN recorded_at SET DEFAULT pg_catalog.now();

-- The SQL and PL/pgSQL functions, with the bodies of gcalsync--1.1.sql
-- (every function and operator qualified). Their search_path was already
-- pinned; CREATE OR REPLACE keeps their privileges and comments.
CREATE OR REPLACE FUNCTION @extschema@.gcal_status(owner text)
RETURNS SETOF gcalsync.status
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF gcal_status.owner IS NULL THEN
        RAISE EXCEPTION 'owner must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF gcal_status.owner OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'owner must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY SELECT * FROM gcalsync.status s WHERE s.owner OPERATOR(pg_catalog.=) gcal_status.owner;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.gcal_changes(after bigint DEFAULT 0, max_entries integer DEFAULT 1000)
RETURNS TABLE (seq bigint, recorded_at timestamptz, owner text, table_name text, calendar_id text,
               op text, state text, ids text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF gcal_changes.after IS NULL THEN
        RAISE EXCEPTION 'cursor must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Start from 0, or from gcal_changes_cursor() after reading the tables.';
    END IF;
    IF gcal_changes.max_entries IS NULL OR gcal_changes.max_entries OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'max_entries must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF gcal_changes.after OPERATOR(pg_catalog.<)
       coalesce((SELECT h.pruned_through FROM gcalsync.change_horizon h), 0) THEN
        RAISE EXCEPTION 'change feed cursor % is older than the oldest change kept', gcal_changes.after
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Changes are kept for gcalsync.change_retention; older ones were pruned.',
                  HINT = 'Re-read the tables, then continue from gcal_changes_cursor().';
    END IF;
    RETURN QUERY
        SELECT c.seq, c.recorded_at, c.owner, c.table_name, c.calendar_id, c.op, c.state, c.ids
          FROM gcalsync.change c
         WHERE c.seq OPERATOR(pg_catalog.>) gcal_changes.after
         ORDER BY c.seq
         LIMIT gcal_changes.max_entries;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.gcal_changes_cursor()
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT greatest((SELECT pg_catalog.max(seq) FROM gcalsync.change),
                      (SELECT pruned_through FROM gcalsync.change_horizon), 0) $$;

-------------------------------------------------------------------------------
-- Changes of 1.1 (each also in gcalsync--1.1.sql).
-------------------------------------------------------------------------------

-------------------------------------------------------------------------------
-- Privileges, last part (keep it last).
--
-- 1. The tables of tokens, secrets and sync state, gcal_set_client,
--    gcal_rotate_key and the self-test, and CREATE on schema gcalsync, are
--    the extension owner's alone (README: Privileges). ALTER DEFAULT
--    PRIVILEGES of the role that created 1.0 may have granted them to
--    someone: that is taken back, with a warning naming each. Column
--    privileges on these tables (the README's row-level security pattern
--    grants some on gcalsync.owner) stay.
-- 2. What this update created starts with no privilege but the owner's, as in
--    a fresh install of 1.1 (whatever ALTER DEFAULT PRIVILEGES says).
-------------------------------------------------------------------------------
DO $$
DECLARE
    before text[] := pg_catalog.string_to_array(
        pg_catalog.current_setting('gcalsync_upgrade.members_before'), ',');
    private_relations text[] := ARRAY[
        'gcalsync.client', 'gcalsync.owner', 'gcalsync.link_generation', 'gcalsync.calendar_sync',
        'gcalsync.sync_token', 'gcalsync.channel', 'gcalsync.channel_stop', 'gcalsync.change',
        'gcalsync.change_seq', 'gcalsync.change_horizon'];
    private_functions text[] := ARRAY[
        '@extschema@.gcal_set_client(text,text)', '@extschema@.gcal_rotate_key()',
        'gcalsync.boundary_selftest(text)'];
    g record;
    column_grants text[];
    column_grant text;
BEGIN
    FOR g IN
        WITH member AS (
            SELECT d.classid, d.objid,
                   pg_catalog.concat(d.classid, ':', d.objid) OPERATOR(pg_catalog.<>) ALL (before) AS created
              FROM pg_catalog.pg_depend d
              JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
             WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
               AND d.deptype OPERATOR(pg_catalog.=) 'e'
               AND e.extname OPERATOR(pg_catalog.=) 'gcalsync'),
        object AS (
            SELECT m.created, c.oid AS relid,
                   CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind,
                   pg_catalog.format('%I.%I', n.nspname, c.relname) AS name, c.relowner AS owner, c.relacl AS acl,
                   c.oid OPERATOR(pg_catalog.=) ANY (
                       SELECT pg_catalog.to_regclass(x) FROM pg_catalog.unnest(private_relations) x) AS private
              FROM member m
              JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) m.objid
              JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
             WHERE m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
            UNION ALL
            SELECT m.created, NULL, 'FUNCTION',
                   pg_catalog.format('%I.%I(%s)', n.nspname, p.proname,
                                     pg_catalog.pg_get_function_identity_arguments(p.oid)),
                   p.proowner, COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner)),
                   p.oid OPERATOR(pg_catalog.=) ANY (
                       SELECT pg_catalog.to_regprocedure(x) FROM pg_catalog.unnest(private_functions) x)
              FROM member m
              JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) m.objid
              JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
             WHERE m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
            UNION ALL
            SELECT m.created, NULL, 'SCHEMA', pg_catalog.quote_ident(n.nspname), n.nspowner, n.nspacl, true
              FROM member m
              JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) m.objid
             WHERE m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass)
        SELECT DISTINCT o.created, o.relid, o.kind, o.name, a.grantee AS grantee_id,
               CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                    ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END AS grantee,
               -- (of the schema, only CREATE: USAGE is the application's)
               CASE WHEN o.kind OPERATOR(pg_catalog.=) 'SCHEMA' AND NOT o.created THEN 'CREATE' ELSE 'ALL' END
                   AS privileges
          FROM object o, pg_catalog.aclexplode(o.acl) a
         WHERE a.grantee OPERATOR(pg_catalog.<>) o.owner
           AND (o.created OR (o.private AND (o.kind OPERATOR(pg_catalog.<>) 'SCHEMA'
                                             OR a.privilege_type OPERATOR(pg_catalog.=) 'CREATE')))
         ORDER BY o.name, grantee
    LOOP
        IF NOT g.created THEN
            RAISE WARNING 'gcalsync 1.1 revokes % privileges of % on %', g.privileges, g.grantee, g.name
                USING DETAIL = 'Only the extension owner may hold them; they were probably granted by ALTER DEFAULT PRIVILEGES when gcalsync 1.0 was installed.';
        END IF;
        -- (Revoking a table's privilege revokes it on each column too: the
        -- role's column privileges are put back.)
        column_grants := ARRAY(
            SELECT pg_catalog.format('GRANT %s (%I) ON TABLE %s TO %s%s', x.privilege_type, t.attname, g.name,
                                     g.grantee, CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
              FROM pg_catalog.pg_attribute t, pg_catalog.aclexplode(t.attacl) x
             WHERE t.attrelid OPERATOR(pg_catalog.=) g.relid
               AND x.grantee OPERATOR(pg_catalog.=) g.grantee_id);
        EXECUTE pg_catalog.format('REVOKE %s ON %s %s FROM %s', g.privileges, g.kind, g.name, g.grantee);
        FOREACH column_grant IN ARRAY column_grants LOOP
            EXECUTE column_grant;
        END LOOP;
    END LOOP;
END
$$;
