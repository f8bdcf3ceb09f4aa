# Issue 13, item 6: gcal_wait sleeps on its own owner's condition variable
# (one of 64, by the owner's name), so other owners' rounds do not wake it;
# it looks at the owner's row again only when its owner's round ends or a
# second passes. Counted here by its scans of gcalsync.owner while it waits
# (pg_stat_xact_user_tables: this transaction's own counts).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
# bob's and carol's rounds end about every second each.
my $node = GcalTest::node($emu, 'wait', q{
gcalsync.poll_interval = 1
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice'); SELECT gcal_link('bob', 'demo-refresh-bob');
      SELECT gcal_link('carol', 'demo-refresh-carol');});
is(sql(qq{SELECT gcal_wait('$_', '60s')}), 't', "$_: first sync done") for qw(alice bob carol);

# alice's next round hangs at Google; bob and carol keep syncing meanwhile.
my $f = $emu->control('POST', '/faults', { path => '/events$', user => 'alice', action => 'pass', delay => 25, count => -1 });
sql(q{SELECT gcal_sync_now('alice')});
GcalTest::wait_fault_hit($emu, $f, 1);
my $rounds = sql(q{SELECT rounds FROM gcalsync.stats});

my $out = sql(q{
	BEGIN;
	SELECT gcal_wait('alice', '6s');
	SELECT idx_scan + seq_scan FROM pg_stat_xact_user_tables WHERE relid = 'gcalsync.owner'::regclass;
	COMMIT;});
my ($done, $scans) = split /\n/, $out;
is($done, 'f', 'alice: gcal_wait timed out (its round still hangs)');
my $others = sql(q{SELECT rounds FROM gcalsync.stats}) - $rounds;
ok($others >= 6, "other owners' rounds ended meanwhile ($others)");
ok($scans <= 9, "gcal_wait looked at alice's row $scans times in 6 s: once a second, not at every other owner's round");

$emu->control('DELETE', '/faults');
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: done once Google answers');

$node->stop;
$emu->stop;
done_testing();
