# Issue 13, item 1: the worker's writes reach the cumulative statistics while
# it runs (pgstat_report_stat after its commits), so pg_stat_user_tables
# shows them and autovacuum vacuums and analyzes the tables it writes.
# Before, its counters stayed in the worker's memory until it exited: the
# tables showed no inserts, and autovacuum never looked at them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
# Autovacuum looks every second and acts on any change.
my $node = GcalTest::node($emu, 'autovacuum', q{
autovacuum_naptime = 1
autovacuum_vacuum_threshold = 1
autovacuum_vacuum_scale_factor = 0
autovacuum_vacuum_insert_threshold = 1
autovacuum_vacuum_insert_scale_factor = 0
autovacuum_analyze_threshold = 1
autovacuum_analyze_scale_factor = 0
gcalsync.poll_interval = 1
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice'); SELECT gcal_link('bob', 'demo-refresh-bob');});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first sync done');
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob: first sync done');
my $pid = GcalTest::worker_pid($node);
ok($pid, "the worker runs (pid $pid)");
# A few more rounds: the owner and calendar schedule rows are updated.
for my $i (1 .. 3)
{
	sql(q{SELECT gcal_sync_now('alice')});
	is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', "alice: round $i done");
}

my @tables = qw(owner calendar_list calendar_sync sync_token event);
my $events = sql(q{SELECT count(*) FROM gcalsync.event});
ok($events > 0, "$events events stored");

# The worker's inserts and updates are counted while it runs (no fixed sleep:
# the statistics arrive within about a second of the commits).
ok($node->poll_query_until('postgres', qq{
	SELECT n_tup_ins >= $events FROM pg_stat_user_tables WHERE relid = 'gcalsync.event'::regclass}),
	'event: the worker\'s inserts are counted in pg_stat_user_tables');
for my $t (@tables)
{
	ok($node->poll_query_until('postgres', qq{
		SELECT n_tup_ins > 0 FROM pg_stat_user_tables WHERE relid = 'gcalsync.$t'::regclass}),
		"$t: inserts counted");
}
ok($node->poll_query_until('postgres', q{
	SELECT n_tup_upd > 0 FROM pg_stat_user_tables WHERE relid = 'gcalsync.owner'::regclass}),
	'owner: the worker\'s schedule updates are counted');
ok($node->poll_query_until('postgres', q{
	SELECT n_tup_upd > 0 FROM pg_stat_user_tables WHERE relid = 'gcalsync.calendar_sync'::regclass}),
	'calendar_sync: the worker\'s schedule updates are counted');

# Autovacuum acts on what it now sees.
for my $t (@tables)
{
	ok($node->poll_query_until('postgres', qq{
		SELECT autovacuum_count > 0 AND autoanalyze_count > 0
		  FROM pg_stat_user_tables WHERE relid = 'gcalsync.$t'::regclass}),
		"$t: vacuumed and analyzed by autovacuum");
}
is(GcalTest::worker_pid($node), $pid, 'all of it while the same worker runs (no exit flushed them)');

$node->stop;
$emu->stop;
done_testing();
