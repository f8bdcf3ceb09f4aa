# Versioning: an installation of the released 1.0 that has linked and synced
# owners is updated with ALTER EXTENSION gcalsync UPDATE, and nothing is
# lost (rows, sync and page tokens, the change feed and a consumer's cursor,
# owner states and schedules); it keeps syncing incrementally with the tokens
# it had, and new changes arrive in the feed after the old cursor.
#
# Then the schema of a fresh install of the newest version is compared with
# that of 1.0 brought up to it: they must be identical, so a change made to
# only one of gcalsync--1.1.sql and gcalsync--1.0--1.1.sql fails here, and
# the output shows the difference (a diff of pg_dump --schema-only
# --binary-upgrade, which includes the extension's own objects, plus their
# privileges and the tables pg_dump carries).
use strict;
use warnings;
use File::Temp qw(tempfile);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
# (A long poll interval: nothing becomes due by itself while the test
# compares the tables before and after the update.)
my $node = GcalTest::server($emu, 'upgrade', "gcalsync.poll_interval = '1h'\n");
sub sql { return $node->safe_psql($_[1] // 'postgres', $_[0]); }

my $default_version = sql(q{SELECT default_version FROM pg_available_extensions WHERE name = 'gcalsync'});

# ---- 1.0 in use --------------------------------------------------------------------------------
sql(q{
	CREATE EXTENSION gcalsync VERSION '1.0';
	SELECT gcal_set_client('gcalsync-demo.apps.googleusercontent.com', 'demo-client-secret');
	SELECT gcal_link('alice', 'demo-refresh-alice');
	SELECT gcal_link('bob', 'demo-refresh-bob');
	SELECT gcal_link('carol', 'demo-refresh-carol');
	SELECT gcal_link('erin', 'demo-refresh-erin-revoked');
});
is(sql(q{SELECT extversion FROM pg_extension WHERE extname = 'gcalsync'}), '1.0', 'version 1.0 installed');
is(sql("SELECT gcal_wait('$_', '60s')"), 't', "1.0: $_ synced") for qw(alice bob carol);
like(GcalTest::wait_state($node, 'erin', 'revoked'), qr/^revoked\|/, '1.0: erin is revoked');
# A change at Google and an incremental sync, so that the feed and the sync
# tokens have moved past their first values.
$emu->control('PATCH', '/calendars/alice%40example.com/events/1c8v2u9k0mdlp3q4r5s6t7u8v9', { summary => 'Before the update' });
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', '1.0: an incremental sync');
my $cursor = sql(q{SELECT gcal_changes_cursor()});
cmp_ok($cursor, '>', 0, "a consumer's cursor: $cursor");

# Everything gcalsync keeps, table by table (a digest of its rows, in the
# columns 1.0 has: the update may add columns), and where its sequences (those of 1.0) stand.
my @tables = qw(client owner calendar_sync sync_token channel channel_stop calendar_list calendar event change change_horizon);
my %columns = map {
	my $t = $_;
	($t => sql(qq{SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
		WHERE attrelid = 'gcalsync.$t'::regclass AND attnum > 0 AND NOT attisdropped}))
} @tables;
my $sequences = sql(q{SELECT string_agg(quote_literal(sequencename), ', ') FROM pg_sequences WHERE schemaname = 'gcalsync'});
sub contents
{
	my %c;
	for my $t (@tables)
	{
		$c{$t} = sql(qq{SELECT count(*) || ' rows, ' || coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '-')
			FROM (SELECT ROW($columns{$t})::text AS r FROM gcalsync.$t) t});
	}
	$c{sequences} = sql(qq{SELECT string_agg(sequencename || '=' || coalesce(last_value, 0), ',' ORDER BY sequencename)
		FROM pg_sequences WHERE schemaname = 'gcalsync' AND sequencename IN ($sequences)});
	return \%c;
}
my $before = contents();

# ---- the update ---------------------------------------------------------------------------------
my ($ret, $out, $err) = $node->psql('postgres', 'ALTER EXTENSION gcalsync UPDATE');
is($ret, 0, 'ALTER EXTENSION gcalsync UPDATE succeeded') or diag $err;
is($err, '', 'without warnings (nothing had been granted by default privileges)');
is(sql(q{SELECT extversion FROM pg_extension WHERE extname = 'gcalsync'}), $default_version,
	"updated to the default version $default_version");
is_deeply(contents(), $before, 'every row of every table, and the sequences, are as before the update')
  or diag explain { before => $before, after => contents() };
is(sql(q{SELECT gcal_changes_cursor()}), $cursor, 'the feed cursor is where it was');
is(sql(q{SELECT string_agg(owner || ':' || state, ',' ORDER BY owner) FROM gcalsync.status}),
	'alice:active,bob:active,carol:active,erin:revoked', 'owner states are as before');
is(sql(q{SELECT owner || ':' || state FROM gcal_status('erin')}), 'erin:revoked', 'gcal_status works');

# ---- and it keeps syncing -----------------------------------------------------------------------
my $seq = GcalTest::log_seq($emu);
$emu->control('POST', '/calendars/alice%40example.com/events', { id => 'afterupdate00000000000000a1', summary => 'After the update',
	start => { dateTime => '2025-06-01T10:00:00Z' }, end => { dateTime => '2025-06-01T11:00:00Z' } });
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'updated: alice synced again');
my @listings = grep { ($_->{api} // '') eq 'events.list' } @{ GcalTest::api_requests($emu, $seq, 'alice') };
ok(@listings && !grep({ !defined $_->{query}{syncToken} && !defined $_->{query}{pageToken} } @listings),
	'incrementally, with the sync tokens stored by 1.0 (' . scalar(@listings) . ' listings)')
  or diag explain \@listings;
my $new = sql(qq{SELECT string_agg(owner || '/' || table_name || '/' || op || '/' || array_to_string(ids, ' '), ',' ORDER BY seq)
	FROM gcal_changes($cursor) WHERE table_name = 'event'});
is($new, 'alice/event/upsert/afterupdate00000000000000a1', 'the new event is in the feed after the old cursor');
cmp_ok(sql(qq{SELECT min(seq) FROM gcal_changes($cursor)}), '>', $cursor, 'numbered after the old cursor');
$emu->control('POST', '/users/erin/refresh-tokens', { token => 'demo-refresh-erin-new' });
sql(q{SELECT gcal_refresh('erin', 'demo-refresh-erin-new')});
is(sql(q{SELECT gcal_wait('erin', '60s')}), 't', 'updated: the revoked owner is re-armed by gcal_refresh and syncs');
sql(q{SELECT gcal_unlink('bob')});
sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'updated: an owner linked anew syncs in full');
for my $owner (qw(alice bob carol erin))
{
	my $token = $owner eq 'erin' ? 'demo-refresh-erin-new' : "demo-refresh-$owner";
	ok(GcalTest::mirror_matches($node, $emu, $owner, $token), "updated: the mirror of $owner matches Google");
}

# ---- fresh install = updated install ----------------------------------------------------------
# The schema as pg_dump sees it (in binary-upgrade mode it dumps the
# extension's own objects), without what differs between any two
# installations: OIDs, relfilenodes, transaction ids, the dump's session
# key, comments, and the placeholders of dropped columns.
sub schema_of
{
	my ($db) = @_;
	my ($dump, $err) = ('', '');
	IPC::Run::run([ 'pg_dump', '--schema-only', '--binary-upgrade', '--no-comments', '-d', $node->connstr($db) ],
		'>', \$dump, '2>', \$err) or die "pg_dump $db: $err";
	my @statements = split /(?<=;)\n/, $dump;
	my @kept;
	for my $s (@statements)
	{
		my @lines = grep { !/^--/ && !/^\s*$/ && !/^\\(?:un)?restrict / } split /\n/, $s;
		next unless @lines;
		$s = join "\n", @lines;
		# (and the sequences' positions, which are data)
		next if $s =~ /binary_upgrade_set_(?:next_|missing_value|record_init_privs)|relfrozenxid|pg_catalog\.setval\(/;
		next if $s =~ /pg\.dropped/ && $s !~ /^CREATE TABLE/;
		$s = join "\n", grep { !/pg\.dropped/ } split /\n/, $s;
		$s =~ s/(binary_upgrade_create_empty_extension\('gcalsync', '[^']*', \w+, '[^']*', )'\{[\d,]*\}'/$1'{…}'/;
		push @kept, $s;
	}
	# What pg_dump leaves out or shows only as OIDs: each object's privileges,
	# and which tables pg_dump carries the data of.
	my $privileges = sql(q{
		SELECT pg_describe_object(d.classid, d.objid, 0) || ': ' ||
		       coalesce((SELECT string_agg(pg_get_userbyid(a.grantee) || '=' || a.privilege_type, ' ' ORDER BY 1)
		                   FROM aclexplode(CASE d.classid
		                          WHEN 'pg_class'::regclass THEN (SELECT relacl FROM pg_class WHERE oid = d.objid)
		                          WHEN 'pg_proc'::regclass THEN (SELECT proacl FROM pg_proc WHERE oid = d.objid)
		                          WHEN 'pg_namespace'::regclass THEN (SELECT nspacl FROM pg_namespace WHERE oid = d.objid)
		                        END) a), 'default')
		  FROM pg_depend d
		 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
		   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'gcalsync')
		 ORDER BY 1}, $db);
	my $config = sql(q{SELECT string_agg(c::regclass || ' ' || coalesce(w, ''), E'\n' ORDER BY c::regclass::text)
		FROM pg_extension, unnest(extconfig, extcondition) AS u(c, w) WHERE extname = 'gcalsync'}, $db);
	return join("\n", @kept) . "\n-- privileges\n$privileges\n-- tables whose data pg_dump carries\n$config\n";
}

# diff_of(a, b, label_a, label_b) is a unified diff of two texts ('' if equal).
sub diff_of
{
	my ($a, $b, $la, $lb) = @_;
	return '' if $a eq $b;
	my ($fa, $na) = tempfile();
	my ($fb, $nb) = tempfile();
	print $fa $a;
	print $fb $b;
	close $fa;
	close $fb;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'diff', '-u', '--label', $la, '--label', $lb, $na, $nb ], '>', \$out, '2>', \$err);
	return $out;
}

sql(q{CREATE DATABASE fresh});
sql(q{CREATE EXTENSION gcalsync}, 'fresh');
sql(q{CREATE DATABASE updated});
sql(q{CREATE EXTENSION gcalsync VERSION '1.0'; ALTER EXTENSION gcalsync UPDATE}, 'updated');
my $fresh = schema_of('fresh');
like($fresh, qr/CREATE TABLE gcalsync\.event/, 'the dump shows the extension\'s objects');
is(diff_of($fresh, schema_of('updated'), "fresh install of $default_version", "1.0 updated to $default_version"), '',
	'a fresh install and an updated 1.0 have the same schema');
is(diff_of($fresh, schema_of('postgres'), "fresh install of $default_version", "1.0 in use, updated"), '',
	'and so has the 1.0 installation that was in use');

$node->stop;
$emu->stop;
done_testing();
