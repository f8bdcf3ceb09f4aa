# The background worker: starts under shared_preload_libraries, connects to
# gcalsync.database_name, is woken once per committing transaction, reloads
# on SIGHUP, exits promptly on SIGTERM and comes back after kill -9.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'gcalsync'
gcalsync.database_name = 'postgres'
restart_after_crash = on
gcalsync.google_api_url = 'http://127.0.0.1:9/calendar/v3'
gcalsync.google_token_url = 'http://127.0.0.1:9/token'
} . "gcalsync.key_file = '" . $node->basedir . "/gcalsync.key'\n");
$node->start;

# worker_pid waits until the worker is connected and returns its pid.
sub worker_pid
{
	my ($not) = @_;
	$not //= 0;
	$node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'gcalsync worker' AND datname = 'postgres' AND pid <> $not})
	  or die "gcalsync worker did not start";
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'gcalsync worker'");
}

my $pid = worker_pid();
ok($pid > 0, 'worker runs, connected to gcalsync.database_name');
ok($node->log_contains('gcalsync worker started for database "postgres"'), 'worker announced its start');

$node->safe_psql('postgres', q{
	CREATE EXTENSION gcalsync;
	SELECT gcal_set_client('client-id', 'client-secret');
});
# The worker may have woken for gcal_set_client; wait until it is idle again.
$node->poll_query_until('postgres',
	q{SELECT cycles > 0 AND next_wake_at IS NULL FROM gcalsync.worker_status()})
  or die 'worker did not run a cycle';
is($node->safe_psql('postgres', 'SELECT pid FROM gcalsync.worker_status()'), $pid,
	'worker_status reports the worker');

# Nothing is linked: the worker sleeps on its latch only (no polling loop).
ok($node->poll_query_until('postgres', 'SELECT next_wake_at IS NULL FROM gcalsync.worker_status()'),
	'idle worker has no timed wake-up');

# One wake-up per committing transaction, however many calls it made.
my ($wakes, $cycles) = split /\|/, $node->safe_psql('postgres',
	'SELECT wake_requests, cycles FROM gcalsync.worker_status()');
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT gcal_link('alice', 'rt-alice');
	SELECT gcal_link('bob', 'rt-bob');
	SELECT gcal_refresh('alice', 'rt-alice-2');
	SELECT gcal_resync('bob');
	COMMIT;
});
is($node->safe_psql('postgres', 'SELECT wake_requests FROM gcalsync.worker_status()'),
	$wakes + 1, 'one transaction with four calls wakes the worker once');
ok($node->poll_query_until('postgres', "SELECT cycles > $cycles FROM gcalsync.worker_status()"),
	'the woken worker ran a cycle');

# A rolled-back transaction wakes nobody.
$node->psql('postgres', q{
	BEGIN;
	SELECT gcal_link('carol', 'rt-carol');
	ROLLBACK;
});
is($node->safe_psql('postgres', 'SELECT wake_requests FROM gcalsync.worker_status()'),
	$wakes + 1, 'a rolled-back transaction does not wake the worker');
# The linked owners cannot reach Google (nothing listens on port 9): they
# wait in backoff, and the worker sleeps until the first retry is due.
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM gcalsync.owner WHERE state = 'backoff' AND last_error LIKE '%token request failed%'}),
	'unreachable token endpoint: owners in backoff with the reason');
ok($node->poll_query_until('postgres', q{SELECT next_wake_at IS NOT NULL FROM gcalsync.worker_status()}),
	'worker sleeps until the next retry');

# Account changes are announced with NOTIFY, in the committing transaction.
my $out = $node->safe_psql('postgres', q{
	LISTEN gcalsync;
	SELECT gcal_link('dave', 'rt-dave');
	SELECT gcal_unlink('dave');
});
like($out, qr/payload "\{"owner":"dave","table":"account","op":"state","state":"pending","ids":\[\]\}"/,
	'gcal_link announces the pending state');
like($out, qr/payload "\{"owner":"dave","table":"account","op":"unlink","ids":\[\]\}"/,
	'gcal_unlink announces the unlink');
unlike($out, qr/rt-dave/, 'no token in notifications');

# SIGHUP: the worker reloads its settings and keeps running.
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{ALTER SYSTEM SET gcalsync.poll_interval = '45s'});
$node->reload;
ok($node->wait_for_log(qr/gcalsync worker reloaded its configuration/, $log_offset),
	'worker reloads on SIGHUP');
is($node->safe_psql('postgres', 'SELECT pid FROM gcalsync.worker_status()'), $pid,
	'same worker after SIGHUP');

# SIGTERM: exits within a second; the postmaster starts a new one.
my $t0 = time();
kill 'TERM', $pid;
usleep(10_000) while kill(0, $pid) && time() - $t0 < 10;
my $elapsed = time() - $t0;
ok(!kill(0, $pid), 'worker exited on SIGTERM');
cmp_ok($elapsed, '<', 1.0, sprintf('worker exited within a second (%.3f s)', $elapsed));
my $pid2 = worker_pid($pid);
isnt($pid2, $pid, 'worker restarted after SIGTERM');

# kill -9: the postmaster resets shared memory and restarts the worker, which
# is then woken by commits as before.
kill 'KILL', $pid2;
my $pid3 = worker_pid($pid2);
isnt($pid3, $pid2, 'worker restarted after kill -9');
$node->poll_query_until('postgres', "SELECT pid = $pid3 FROM gcalsync.worker_status()")
  or die 'worker_status did not show the new worker';
my $wakes3 = $node->safe_psql('postgres', 'SELECT wake_requests FROM gcalsync.worker_status()');
$node->safe_psql('postgres', q{SELECT gcal_resync()});
is($node->safe_psql('postgres', 'SELECT wake_requests FROM gcalsync.worker_status()'),
	$wakes3 + 1, 'restarted worker is woken by commits');
is($node->safe_psql('postgres', 'SELECT count(*) FROM gcalsync.owner'), 2, 'links survived the crash');

# A fast shutdown does not wait for the worker.
$t0 = time();
$node->stop('fast');
cmp_ok(time() - $t0, '<', 10, 'fast shutdown completes');

# Without shared_preload_libraries the extension refuses to load.
my $bare = PostgreSQL::Test::Cluster->new('bare');
$bare->init;
$bare->start;
my ($rc, $stdout, $stderr) = $bare->psql('postgres', 'CREATE EXTENSION gcalsync');
isnt($rc, 0, 'CREATE EXTENSION fails without preloading');
like($stderr, qr/gcalsync must be loaded via shared_preload_libraries/, 'with a clear message');
like($stderr, qr/HINT:  Add gcalsync to shared_preload_libraries/, 'and a hint');
$bare->stop;

done_testing();
