# Versions: a fresh CREATE EXTENSION of the newest version and an installed
# 1.0 brought there with ALTER EXTENSION ... UPDATE end in the same schema
# (CONTRIBUTING: Changing the SQL surface): every table and view with its
# columns, types, defaults, compression and privileges, every index,
# constraint, function (definition, settings, privileges), comment, the
# schema's privileges and what pg_dump carries. A schema change made to one
# script only fails here.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'gcalsync'
gcalsync.database_name = 'postgres'
gcalsync.google_api_url = 'http://127.0.0.1:9/calendar/v3'
gcalsync.google_token_url = 'http://127.0.0.1:9/token'
} . "gcalsync.key_file = '" . $node->basedir . "/gcalsync.key'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE fresh; CREATE DATABASE upgraded;');
$node->safe_psql('fresh', 'CREATE EXTENSION gcalsync');
$node->safe_psql('upgraded', q{CREATE EXTENSION gcalsync VERSION '1.0'});
is($node->safe_psql('upgraded', q{SELECT extversion FROM pg_extension WHERE extname = 'gcalsync'}), '1.0', '1.0 installed');
$node->safe_psql('upgraded', 'ALTER EXTENSION gcalsync UPDATE');
is($node->safe_psql('upgraded', q{SELECT extversion FROM pg_extension WHERE extname = 'gcalsync'}),
	$node->safe_psql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'gcalsync'}),
	'the update reaches the default version');

# One line per object of the extension, with everything that defines it.
my $fingerprint = q{
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'gcalsync'),
member AS (SELECT d.classid, d.objid FROM pg_depend d, ext
            WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rel AS (SELECT c.* FROM pg_class c JOIN member m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid)
SELECT string_agg(line, E'\n' ORDER BY line) FROM (
  SELECT format('relation %s kind=%s acl=%s options=%s comment=%s columns=(%s)%s', r.oid::regclass, r.relkind,
                r.relacl, r.reloptions, obj_description(r.oid, 'pg_class'),
                (SELECT string_agg(format('%s %s%s%s%s compression=%s acl=%s comment=%s', a.attname,
                                          format_type(a.atttypid, a.atttypmod),
                                          CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                                          ' default ' || pg_get_expr(ad.adbin, ad.adrelid),
                                          CASE WHEN a.attidentity <> '' THEN ' identity' ELSE '' END,
                                          a.attcompression, a.attacl, col_description(r.oid, a.attnum)),
                                   ', ' ORDER BY a.attnum)
                   FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                  WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped),
                CASE WHEN r.relkind = 'v' THEN ' view=' || pg_get_viewdef(r.oid) ELSE '' END) AS line
    FROM rel r
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN rel r ON r.oid = i.indrelid
  UNION ALL
  SELECT format('constraint %s.%s %s', r.oid::regclass, c.conname, pg_get_constraintdef(c.oid))
    FROM pg_constraint c JOIN rel r ON r.oid = c.conrelid
  UNION ALL
  SELECT format('trigger %s', pg_get_triggerdef(t.oid)) FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
  UNION ALL
  SELECT format('function %s acl=%s comment=%s',
                CASE WHEN p.prokind = 'a'  -- (an aggregate has no functiondef: its signature and support functions)
                     THEN format('aggregate %s(%s) sfunc=%s stype=%s finalfunc=%s', p.oid::regproc,
                                 pg_get_function_identity_arguments(p.oid), a.aggtransfn, a.aggtranstype::regtype,
                                 a.aggfinalfn)
                     ELSE pg_get_functiondef(p.oid) END,
                p.proacl, obj_description(p.oid, 'pg_proc'))
    FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
    LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
  UNION ALL
  SELECT format('schema %s acl=%s comment=%s', n.nspname, n.nspacl, obj_description(n.oid, 'pg_namespace'))
    FROM pg_namespace n JOIN member m ON m.classid = 'pg_namespace'::regclass AND m.objid = n.oid
  UNION ALL
  SELECT format('dumped %s', (SELECT string_agg(x::regclass::text || ':' || coalesce(e.extcondition[i], ''), ', '
                                                ORDER BY x::regclass::text)
                                FROM unnest(e.extconfig) WITH ORDINALITY AS u(x, i)))
    FROM pg_extension e WHERE e.extname = 'gcalsync'
  UNION ALL
  SELECT format('member %s', pg_describe_object(m.classid, m.objid, 0)) FROM member m
) lines
};
my $fresh = $node->safe_psql('fresh', $fingerprint);
my $upgraded = $node->safe_psql('upgraded', $fingerprint);
cmp_ok(length($fresh), '>', 1000, 'the fingerprint covers the schema');
is($upgraded, $fresh, 'the upgraded schema equals a fresh install')
  or diag(join "\n", grep { my $l = $_; !grep { $_ eq $l } split /\n/, $fresh } split /\n/, $upgraded);

$node->stop;
done_testing();
