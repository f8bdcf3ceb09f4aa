# Issue 13, item 4: the worker notices the postmaster's death while
# transfers run. The engine then waits on the network, not on the latch;
# before, the worker lived on until its transfers ended (and kept the old
# shared memory attached, so no new postmaster could start meanwhile).
# Here every events.list hangs for 100 s; the postmaster is killed with
# SIGKILL mid-sync; the worker must be gone within seconds, and a new
# postmaster starts and syncs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'pmdeath', q{
gcalsync.http_timeout = '200s'
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

# gone(pid): the process has exited (a zombie not yet reaped counts as gone).
sub gone
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return 1;
	my $stat = <$fh> // '';
	close($fh);
	return $stat =~ /^\d+ \(.*\) [ZX] / ? 1 : 0;
}

my $f = $emu->control('POST', '/faults', { path => '/events$', action => 'pass', delay => 100, count => -1 });
sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
GcalTest::wait_fault_hit($emu, $f, 1);
my $wpid = GcalTest::worker_pid($node);
ok($wpid, "the worker runs (pid $wpid) and waits on a hanging events.list");
is(sql(q{SELECT state FROM gcalsync.owner WHERE owner = 'alice'}), 'pending', 'alice: mid first sync');
# Every process of the server (backends and auxiliary processes), to know
# when the old server is entirely gone.
my @pids = split /\n/, sql(q{SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()});

my $pmpid = $node->{_pid};
$node->kill9;
my $t0 = time;
ok(GcalTest::wait_until(sub { gone($wpid) }, 10, 'the worker exits'), 'the worker exited after the postmaster\'s death');
my $took = time - $t0;
ok($took <= 10, "within seconds ($took s), not when its transfer ends (100 s)");
ok(GcalTest::wait_until(sub { !grep { !gone($_) } @pids }, 30, 'the old server\'s processes exit'),
	'every process of the old server exited');

ok(GcalTest::wait_until(sub { gone($pmpid) }, 30, 'the old postmaster exits'), 'the old postmaster is gone');
# A killed postmaster that nobody reaps (a container's init may not) stays a
# zombie, which the new postmaster's lock file checks take for a live one.
unlink($node->data_dir . '/postmaster.pid', $node->host . '/.s.PGSQL.' . $node->port . '.lock');

# The transfers of the old worker are over; the emulator answers at once again.
$emu->control('DELETE', '/faults');
$node->start;
my $new = GcalTest::wait_worker($node, 'postgres', $wpid);
ok($new, "a new server runs a new worker (pid " . ($new // 'none') . ')');
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: synced by the new server');
ok(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner = 'alice'}) > 0, 'alice: events stored');

$node->stop;
$emu->stop;
done_testing();
