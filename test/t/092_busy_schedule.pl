# Issue 13, item 2 (follow-up): a lock timeout outside an owner's round. The
# worker reads the schedule (which owners are due, when to look next) and
# prunes the change feed outside any round; a session that holds a lock
# those need (LOCK TABLE, a long ALTER TABLE) made the worker run into
# gcalsync.lock_timeout there. Before, that StoreBusy escaped the engine's
# cycle: "gcalsync worker cycle failed" every few seconds, and the rounds
# under way were left behind. Now the cycle goes on: the schedule is read
# again shortly, logged once, and syncing resumes when the lock is gone.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'busyschedule', q{
gcalsync.poll_interval = 1
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first sync done');
my $wpid = GcalTest::worker_pid($node);
my $log_offset = -s $node->logfile;

# A session takes the owner table for itself and stays idle.
my $app = $node->background_psql('postgres', on_error_stop => 1);
$app->query_safe(q{BEGIN});
$app->query_safe(q{LOCK TABLE gcalsync.owner IN ACCESS EXCLUSIVE MODE});

# The worker's schedule read runs into lock_timeout, says so once, and its
# cycles go on (gcalsync.worker_status() reads shared memory, not the table).
my $said = GcalTest::wait_until(sub {
	return $node->log_contains(qr/could not read the schedule: another session holds a lock it needs/, $log_offset);
}, 60);
ok($said, 'the log says the schedule could not be read');
my $cycles = sql(q{SELECT cycles FROM gcalsync.worker_status()});
ok($node->poll_query_until('postgres', qq{SELECT cycles >= $cycles + 3 FROM gcalsync.worker_status()}),
	'the worker keeps cycling while the table is locked');
my $log = substr(PostgreSQL::Test::Utils::slurp_file($node->logfile), $log_offset);
unlike($log, qr/worker cycle failed/, 'no cycle failed on the lock timeout');
my @said = ($log =~ /could not read the schedule/g);
is(scalar(@said), 1, 'said once, not at every retry');

# The lock goes away: syncing resumes, with the same worker.
$app->query_safe(q{COMMIT});
$app->quit;
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '30s')}), 't', 'alice: syncs again once the lock is gone');
is(GcalTest::worker_pid($node), $wpid, 'the same worker (no crash, no restart)');

$node->stop;
$emu->stop;
done_testing();
