# Signals while HTTP transfers are in flight: the worker reloads on SIGHUP
# and exits within a second on SIGTERM even when Google is slow to answer,
# then comes back and finishes the sync.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'signals');

# Every events.list answers only after 30 seconds (once).
my $fault = $emu->control('POST', '/faults', { method => 'GET', path => '/events$', action => 'pass', delay => 30, count => 1 });
$node->safe_psql('postgres', q{SELECT gcal_link('alice', 'demo-refresh-alice')});

# Wait until the slow request is in flight (the fault has been taken).
my $deadline = time() + 60;
until (grep { $_->{id} eq $fault->{id} && ($_->{remaining} // $_->{count}) == 0 } @{ $emu->control('GET', '/faults') })
{
	die 'the slow request never started' if time() > $deadline;
	usleep(20_000);
}
my $pid = $node->safe_psql('postgres', 'SELECT pid FROM gcalsync.worker_status()');

my $offset = -s $node->logfile;
$node->safe_psql('postgres', q{ALTER SYSTEM SET gcalsync.poll_interval = '90s'});
$node->reload;
ok($node->wait_for_log(qr/gcalsync worker reloaded its configuration/, $offset), 'SIGHUP handled during a transfer');

my $t0 = time();
kill 'TERM', $pid;
usleep(5_000) while kill(0, $pid) && time() - $t0 < 10;
my $elapsed = time() - $t0;
ok(!kill(0, $pid), 'worker exited on SIGTERM during a transfer');
cmp_ok($elapsed, '<', 1.0, sprintf('within a second (%.3f s)', $elapsed));

# The restarted worker finishes the sync.
$emu->control('DELETE', '/faults');
is($node->safe_psql('postgres', q{SELECT gcal_wait('alice', '60s')}), 't', 'restarted worker completes the sync');
isnt($node->safe_psql('postgres', 'SELECT pid FROM gcalsync.worker_status()'), $pid, 'by a new worker process');
is($node->safe_psql('postgres', q{SELECT count(*) > 0 FROM gcalsync.event WHERE owner = 'alice'}), 't', 'events arrived');

$node->stop;
$emu->stop;
done_testing();
