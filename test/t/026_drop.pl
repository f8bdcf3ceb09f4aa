# Resilience (issue 5): DROP EXTENSION and DROP DATABASE ... WITH (FORCE) of
# the database the worker serves, while a request of the worker is in
# flight. The node's worker serves database "app" (not "postgres").
#
# Expected: neither statement hangs (the worker holds no lock while it waits
# for Google) and the server never crashes (no backend killed by a signal,
# no crash restart). After DROP EXTENSION the worker stays up and idle;
# after DROP DATABASE it is terminated and, while the database is missing,
# only logs that it cannot connect. CREATE EXTENSION (and CREATE DATABASE)
# again work, and syncing resumes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::server($emu, 'drop', "gcalsync.database_name = 'app'\n");

sub app { return $node->safe_psql('app', $_[0]); }

sub setup_app
{
	app(q{CREATE EXTENSION gcalsync});
	app(q{SELECT gcal_set_client('gcalsync-demo.apps.googleusercontent.com', 'demo-client-secret')});
	app("SELECT gcal_link('$_', 'demo-refresh-$_')") for qw(alice bob);
	is(app("SELECT gcal_wait('$_', '60s')"), 't', "$_: full sync done") for qw(alice bob);
}

# worker_backend() is the worker's pid as pg_stat_activity shows it ('' if none).
sub worker_backend
{
	return $node->safe_psql('postgres', q{SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity WHERE backend_type = 'gcalsync worker'});
}

# A worker started before "app" exists cannot connect; it is retried.
$node->safe_psql('postgres', 'CREATE DATABASE app');
setup_app();
my $pid = worker_backend();
like($pid, qr/^\d+$/, "one worker ($pid)");

# hold_alice() delays alice's next events.list by 3 s and starts a sync.
sub hold_alice
{
	my $f = $emu->control('POST', '/faults', { user => 'alice', path => 'alice@example.com/events$', action => 'pass', delay => 3, count => 1 });
	app(q{SELECT gcal_sync_now('alice')});
	GcalTest::wait_fault_hit($emu, $f);
	return $f;
}

sub answered
{
	my ($f) = @_;
	return GcalTest::wait_until(sub { grep { ($_->{fault} // 0) == $f->{id} } @{ $emu->log(kind => 'request') } }, 30,
		'the held request to be answered');
}

# ---- DROP EXTENSION while a request is in flight ---------------------------------------------
{
	my $f = hold_alice();
	my $offset = -s $node->logfile;
	my $t0 = time();
	app('DROP EXTENSION gcalsync');
	my $took = time() - $t0;
	cmp_ok($took, '<', 2.5, sprintf('DROP EXTENSION did not wait for the request in flight (%.2f s)', $took));
	ok(answered($f), 'the held request was answered after the DROP');
	is(app('SELECT 1'), '1', 'the server answers');
	# The worker handles the answer (its tables are gone) and goes idle.
	ok(GcalTest::wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'gcalsync worker' AND wait_event = 'Extension'}) eq '1' }, 30, 'the worker to wait on its latch'),
		'the worker waits idle');
	is(worker_backend(), $pid, 'the same worker process is still running');
	my $log = substr(slurp_file($node->logfile), $offset);
	unlike($log, qr/terminated by signal|server process .* was terminated|reinitializing/, 'no crash');

	setup_app();
	is(worker_backend(), $pid, 'CREATE EXTENSION again: the same worker syncs');
	GcalTest::mirror_matches($node, $emu, $_, "demo-refresh-$_", 'app') for qw(alice bob);
}

# ---- DROP DATABASE ... WITH (FORCE) while a request is in flight -----------------------------
{
	my $f = hold_alice();
	my $offset = -s $node->logfile;
	my $t0 = time();
	$node->safe_psql('postgres', 'DROP DATABASE app WITH (FORCE)');
	my $took = time() - $t0;
	cmp_ok($took, '<', 5, sprintf('DROP DATABASE WITH (FORCE) returned (%.2f s)', $took));
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'app'}), '0', 'the database is gone');
	is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server answers');
	ok($node->wait_for_log(qr/database "app" does not exist/, $offset), 'the restarted worker logs that its database is missing');
	my $log = substr(slurp_file($node->logfile), $offset);
	unlike($log, qr/terminated by signal|server process .* was terminated|reinitializing/, 'no crash');
	my $fatals = () = $log =~ /FATAL:  database "app" does not exist/g;
	diag("the worker logged $fatals connection failures so far");

	$node->safe_psql('postgres', 'CREATE DATABASE app');
	my $new = GcalTest::wait_until(sub { my $p = worker_backend(); $p =~ /^\d+$/ ? $p : undef }, 30, 'the worker to connect');
	ok($new && $new ne $pid, 'CREATE DATABASE again: a new worker connects');
	setup_app();
	GcalTest::mirror_matches($node, $emu, $_, "demo-refresh-$_", 'app') for qw(alice bob);
	$log = substr(slurp_file($node->logfile), $offset);
	unlike($log, qr/terminated by signal|server process .* was terminated|reinitializing/, 'still no crash');
}

# A database without the extension (before CREATE EXTENSION, after DROP
# EXTENSION) has nothing for the worker to read: it says nothing about it.
unlike(slurp_file($node->logfile), qr/could not read/, 'no complaint about tables of a database without gcalsync');
GcalTest::no_secrets_in_log($node);
$node->stop;
$emu->stop;
done_testing();
