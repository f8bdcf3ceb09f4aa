# Issue 13, item 6: CALL gcal_await waits like gcal_wait but holds no
# snapshot while it sleeps, so it does not hold back VACUUM (the function
# gcal_wait does, for its whole wait: shown first, so this test can fail),
# returns when the owner's round ends or at its timeout, and keeps no memory
# per wake-up. Refused where it cannot commit (inside a transaction block).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'await', q{
gcalsync.poll_interval = 1
# alice's rounds hang at Google for as long as a fault says.
gcalsync.http_timeout = '15min'
# (rounds as fast as the emulator answers, for the wake-ups below)
gcalsync.user_requests_per_minute = 1000000
gcalsync.requests_per_minute = 1000000
autovacuum = off
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

# $other: an owner whose condition variable is alice's (one of 64, by the
# hash of the name): its rounds wake alice's waiters, which look and sleep on.
my $other = sql(q{
	SELECT n FROM generate_series(1, 100000) g, LATERAL (SELECT 'app' || g AS n) s
	 WHERE (hashtext(n)::bigint & 4294967295) % 64 = (hashtext('alice')::bigint & 4294967295) % 64
	 LIMIT 1});
note "owner sharing alice's condition variable: $other";
sql(qq{SELECT gcal_link('alice', 'demo-refresh-alice'); SELECT gcal_link('$other', 'demo-refresh-bob');});
is(sql(q{CALL gcal_await('alice', '60s')}), 't', 'alice: first sync done (CALL gcal_await)');
is(sql(qq{CALL gcal_await('$other', '60s')}), 't', "$other: first sync done");

# The application role of README: Privileges, which cannot read gcalsync.owner.
sql(q{CREATE ROLE app LOGIN; GRANT USAGE ON SCHEMA gcalsync TO app;
      GRANT EXECUTE ON FUNCTION gcal_sync_now(text), gcal_wait(text, interval) TO app;
      GRANT EXECUTE ON PROCEDURE gcal_await(text, interval, boolean) TO app;
      CREATE TABLE churn (id int); GRANT ALL ON churn TO app;});

my ($ret, $out, $err) = $node->psql('postgres', q{BEGIN; CALL gcal_await('alice', '1s'); COMMIT;});
like($err, qr/gcal_await cannot run inside a transaction block or a function/, 'refused inside BEGIN');
sql(q{CREATE ROLE nobody LOGIN});
($ret, $out, $err) = $node->psql('postgres', q{CALL gcal_await('alice', '1s')}, extra_params => ['-U', 'nobody']);
like($err, qr/permission denied for procedure gcal_await/, 'not granted to PUBLIC');

# alice's next round hangs at Google for a while.
my $hang = 30;
my $f = $emu->control('POST', '/faults', { path => '/events$', user => 'alice', action => 'pass',
	delay => $hang, count => 1 });
sql(q{SELECT gcal_sync_now('alice')});
GcalTest::wait_fault_hit($emu, $f, 1);
my $hung_at = time();

# dead_left runs VACUUM VERBOSE on churn after deleting its rows (in a
# session of its own) and returns (removed, dead but not yet removable).
sub dead_left
{
	sql(q{INSERT INTO churn SELECT generate_series(1, 1000)});
	sql(q{DELETE FROM churn});
	my ($r, $o, $e) = $node->psql('postgres', q{VACUUM (VERBOSE) churn});
	my ($removed, $kept) = $e =~ /tuples: (\d+) removed, \d+ remain, (\d+) are dead but not yet removable/
	  or die "no VACUUM VERBOSE summary in: $e";
	return ($removed, $kept);
}

my $waiter = q{SELECT pid, backend_xmin IS NULL AS no_xmin FROM pg_stat_activity
	WHERE usename = 'app' AND wait_event_type = 'Extension' AND wait_event = 'Extension'};

# Control: the function gcal_wait holds its statement's snapshot while it waits.
my $bg = $node->background_psql('postgres', extra_params => ['-U', 'app']);
$bg->query_until(qr/started/, q{\echo started
SELECT gcal_wait('alice', '5s');
});
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($waiter) w"), 'gcal_wait is waiting');
is(sql("SELECT no_xmin FROM ($waiter) w"), 'f', 'gcal_wait holds a snapshot (backend_xmin set)');
my ($removed, $kept) = dead_left();
ok($kept > 0, "while gcal_wait waits, VACUUM cannot remove the deleted rows ($removed removed, $kept kept)");
$bg->quit;
sql(q{VACUUM churn});

# Timeout.
my $t0 = time();
is(sql(q{CALL gcal_await('alice', '2s')}), 'f', 'CALL gcal_await: false at its timeout (the round still hangs)');
my $took = time() - $t0;
ok($took >= 1.9 && $took < 10, sprintf('... after %.1f s', $took));

# The procedure holds no snapshot while it sleeps: VACUUM removes what
# another session deleted meanwhile.
$bg = $node->background_psql('postgres', extra_params => ['-U', 'app']);
$t0 = time();
$bg->query_until(qr/started/, q{\echo started
CALL gcal_await('alice', '120s');
\echo returned
});
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($waiter) w WHERE no_xmin"),
	'CALL gcal_await is waiting with no snapshot (backend_xmin NULL)');
my ($removed2, $kept2) = (0, -1);
my $deadline = time() + 20;
while (time() < $deadline)
{
	# (A snapshot of the worker's may be open at that moment: try again.)
	($removed2, $kept2) = dead_left();
	last if $kept2 == 0;
}
is($kept2, 0, "while CALL gcal_await waits, VACUUM removes every deleted row ($removed2 removed)");
is(sql(q{SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'churn'}), '0', 'n_dead_tup is 0');
ok(time() - $hung_at < $hang - 2, "all this while alice's round still hung")
  or diag('the fault delay is too short for this machine');
is(sql("SELECT count(*) FROM ($waiter) w"), '1', 'CALL gcal_await still waits');

# It returns true when alice's round ends (the fault's delay is over).
my $res = $bg->query_until(qr/returned/, '');
my $waited = time() - $t0;
like($res, qr/^t$/m, 'CALL gcal_await: done = true once the round ended');
is(sql(q{SELECT completed_seq >= requested_seq AND state = 'active' FROM gcalsync.owner WHERE owner = 'alice'}),
	't', "alice's round has ended");
ok($waited < 100, sprintf('... after %.0f s (the round hung %d s; its timeout: 120 s)', $waited, $hang));
$bg->quit;

# No memory per wake-up: alice's next round hangs; each round of $other
# wakes alice's waiter, which looks and sleeps again. Its memory contexts
# (pg_log_backend_memory_contexts) after a few and after many wake-ups.
my $rounds = $ENV{GCAL_AWAIT_ROUNDS} // 1500;
$f = $emu->control('POST', '/faults', { path => '/events$', user => 'alice', action => 'pass',
	delay => 600, count => 1 });
sql(q{SELECT gcal_sync_now('alice')});
GcalTest::wait_fault_hit($emu, $f, 1);
$bg = $node->background_psql('postgres', extra_params => ['-U', 'app'], timeout => 900, on_error_stop => 0);
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
$bg->query_until(qr/started/, q{\echo started
CALL gcal_await('alice', '900s');
\echo returned
});
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($waiter) w WHERE pid = $pid"), 'waiting again');

# drive(n): n rounds of $other, one after the other. (In a DO block run
# outside a transaction block, gcal_await's first look commits the request.)
sub drive
{
	my ($n) = @_;
	sql(qq{DO \$\$ DECLARE ok boolean; BEGIN
		FOR i IN 1..$n LOOP
			PERFORM gcal_sync_now('$other');
			CALL gcal_await('$other', '30s', ok);
			IF NOT ok THEN RAISE 'round % of $other did not end', i; END IF;
		END LOOP;
	END \$\$});
}
# grand_total asks the waiter for its memory contexts and reads the total.
sub grand_total
{
	my $offset = -s $node->logfile;
	sql("SELECT pg_log_backend_memory_contexts($pid)");
	my $total;
	GcalTest::wait_until(sub {
		my $log = slurp_file($node->logfile, $offset);
		($total) = $log =~ /\[$pid\][^\n]*Grand total: (\d+) bytes/;
		return defined $total;
	}, 60, 'the memory context report');
	return $total;
}
# wakes: the waiter's voluntary context switches (each wake-up from its
# sleep is one; the server runs on this machine).
sub wakes
{
	my $status = slurp_file("/proc/$pid/status");
	return $status =~ /^voluntary_ctxt_switches:\s+(\d+)/m ? $1 : die "no voluntary_ctxt_switches for $pid";
}
drive(50);
my $before = grand_total();
my $wakes0 = wakes();
my $t1 = time();
drive($rounds);
my $secs = time() - $t1;
my $woken = wakes() - $wakes0;
my $after = grand_total();
my $growth = $after - $before;
note sprintf('%d rounds of %s in %.1f s; the waiter woke %d times; its memory %d -> %d bytes',
	$rounds, $other, $secs, $woken, $before, $after);
ok($woken >= 0.8 * $rounds, "the waiter woke at (nearly) every round of $other ($woken times for $rounds rounds)");
is(sql("SELECT count(*) FROM ($waiter) w WHERE pid = $pid"), '1', 'alice\'s waiter still waits');
ok($growth < 16384, "waiter memory grew by $growth bytes over $rounds wake-ups (bound: 16 kB, "
	. sprintf('%.1f', $growth / $rounds) . ' bytes per wake-up)');

# A cancel ends the wait (alice's round still hangs).
sql("SELECT pg_cancel_backend($pid)");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM ($waiter) w WHERE pid = $pid"),
	'a cancel ends CALL gcal_await');
$bg->quit;
like($bg->{stderr}, qr/canceling statement due to user request/, '... with the cancel\'s error');

$emu->control('DELETE', '/faults');
$node->stop;
$emu->stop;
done_testing();
