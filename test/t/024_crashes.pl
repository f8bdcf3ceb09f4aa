# Resilience (issue 5): crashes and restarts in the middle of a sync.
#   A. kill -9 of the worker mid full sync (first sync of two owners);
#   B. kill -9 of the worker mid incremental sync (a change set spanning pages);
#   C. immediate shutdown of the server mid full resync, then start.
# Pages are short (page_pattern) and, after some requests, every events.list
# hangs (a delay fault) so the crash lands while listings are half done.
#
# Expected after each: the worker comes back (a new pid), finishes the work
# (gcal_wait true), no owner is left pending or failed, and every table
# equals the emulator's data: nothing missing, nothing duplicated, no
# deleted row resurrected, changes made while the worker was down arrive
# with the next sync.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'generate:2,3,600,5');
$emu->control('PATCH', '/settings', { page_pattern => [50] });
my $node = GcalTest::node($emu, 'crashes');
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub enc { (my $s = $_[0]) =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord($1))/ge; return $s; }

my @users = qw(user0001 user0002);
my %cals = map { $_ => $emu->control('GET', "/users/$_")->{calendars} } @users;
my $total = 2 * 3 * 600;

# hang_after(n) makes every events.list after the first n hang for 20 s.
sub hang_after
{
	my ($n) = @_;
	return $emu->control('POST', '/faults', { path => '/events$', action => 'pass', delay => 20, skip => $n, count => -1 });
}

sub settled
{
	my ($what) = @_;
	for my $u (@users)
	{
		is(sql("SELECT gcal_wait('$u', '120s')"), 't', "$what: $u done");
	}
	is(sql(q{SELECT count(*) FROM gcalsync.owner WHERE state <> 'active'}), '0', "$what: no owner pending or failed");
	# Changes made while the worker was down come with the next incremental sync.
	sql("SELECT gcal_sync_now('$_')") for @users;
	for my $u (@users)
	{
		is(sql("SELECT gcal_wait('$u', '120s')"), 't', "$what: $u synced again");
		GcalTest::mirror_matches($node, $emu, $u, "gen-refresh-$u");
	}
}

# ---- A. kill -9 mid full sync --------------------------------------------------------
{
	my $f = hang_after(20);
	sql("SELECT gcal_link('$_', 'gen-refresh-$_')") for @users;
	GcalTest::wait_fault_hit($emu, $f, 2);
	my $stored = sql('SELECT count(*) FROM gcalsync.event');
	ok($stored > 0 && $stored < $total, "A: mid full sync ($stored of $total events stored)");
	is(sql(q{SELECT count(*) FROM gcalsync.owner WHERE state = 'pending'}), '2', 'A: both owners still pending');
	$emu->control('DELETE', '/faults');
	my $pid = GcalTest::worker_pid($node);
	ok(kill('KILL', $pid), 'A: worker killed with SIGKILL');
	# While the worker is gone: an update, a deletion, a new event.
	my $c = enc($cals{user0001}[1]);
	my ($e1, $e2) = map { $_->{event}{id} }
	  (grep { ($_->{event}{status} // '') ne 'cancelled' && !$_->{event}{recurringEventId} } @{ $emu->control('GET', "/calendars/$c/events") })[ 10, 400 ];
	$emu->control('PATCH', "/calendars/$c/events/$e1", { summary => 'changed while down' });
	$emu->control('DELETE', "/calendars/$c/events/$e2");
	$emu->control('POST', "/calendars/$c/events", { id => 'whiledown000000000000000aa', summary => 'new while down',
		start => { dateTime => '2025-07-01T10:00:00Z' }, end => { dateTime => '2025-07-01T11:00:00Z' } });
	my $new = GcalTest::wait_worker($node, 'postgres', $pid);
	ok($new, "A: a new worker runs (pid $pid -> " . ($new // 'none') . ')');
	settled('A');
	is(sql("SELECT status FROM gcalsync.event WHERE owner = 'user0001' AND event_id = '$e2'"), 'cancelled', 'A: deleted while down: cancelled');
	is(sql("SELECT summary FROM gcalsync.event WHERE owner = 'user0001' AND event_id = '$e1'"), 'changed while down', 'A: changed while down');
}

# ---- B. kill -9 mid incremental sync -------------------------------------------------
{
	my $cal = $cals{user0001}[2];
	my $c = enc($cal);
	my @stored = map { $_->{event} } @{ $emu->control('GET', "/calendars/$c/events") };
	# 300 new events, 40 changed, 40 deleted: an incremental listing of 8 pages.
	$emu->control('POST', "/calendars/$c/events", { events => [ map { {
		id => sprintf('incr%05d0000000000000000a', $_), summary => "incremental $_",
		start => { dateTime => sprintf('2025-08-%02dT%02d:00:00Z', $_ % 28 + 1, $_ % 24) },
		end => { dateTime => sprintf('2025-08-%02dT%02d:30:00Z', $_ % 28 + 1, $_ % 24) } } } 1 .. 300 ] });
	my @live = grep { ($_->{status} // '') ne 'cancelled' && !$_->{recurringEventId} } @stored;
	$emu->control('PATCH', "/calendars/$c/events/$live[$_]{id}", { summary => "changed $_" }) for 0 .. 39;
	$emu->control('DELETE', "/calendars/$c/events/$live[$_]{id}") for 40 .. 79;
	my $f = hang_after(3);
	sql(q{SELECT gcal_sync_now('user0001')});
	GcalTest::wait_fault_hit($emu, $f, 1);
	# (Of the 380 changes, any may come first: Google's listing order is its
	# own, and the emulator's live paging lists in creation order.)
	my $got = sql("SELECT count(*) FROM gcalsync.event WHERE owner = 'user0001' AND (event_id LIKE 'incr%'
		OR (event_id IN (" . join(',', map { "'$live[$_]{id}'" } 0 .. 39) . ") AND summary LIKE 'changed %')
		OR (event_id IN (" . join(',', map { "'$live[$_]{id}'" } 40 .. 79) . ") AND status = 'cancelled'))");
	ok($got > 0 && $got < 380, "B: mid incremental sync ($got of 380 changes stored)");
	$emu->control('DELETE', '/faults');
	my $pid = GcalTest::worker_pid($node);
	ok(kill('KILL', $pid), 'B: worker killed with SIGKILL');
	my $new = GcalTest::wait_worker($node, 'postgres', $pid);
	ok($new, 'B: a new worker runs');
	settled('B');
	is(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner = 'user0001' AND event_id LIKE 'incr%'}), '300', 'B: every new event arrived once');
	is(sql("SELECT count(*) FROM gcalsync.event WHERE owner = 'user0001' AND calendar_id = '$cal' AND summary LIKE 'changed %'"), '40',
		'B: every change arrived');
	is(sql("SELECT count(*) FROM gcalsync.event WHERE owner = 'user0001' AND event_id IN ("
		  . join(',', map { "'$live[$_]{id}'" } 40 .. 79) . ") AND status = 'cancelled'"), '40', 'B: every deletion arrived, none resurrected');
}

# ---- C. immediate shutdown mid full resync ---------------------------------------------
{
	my $c = enc($cals{user0002}[0]);
	my @stored = grep { ($_->{event}{status} // '') ne 'cancelled' && !$_->{event}{recurringEventId} } @{ $emu->control('GET', "/calendars/$c/events") };
	my @gone = map { $_->{event}{id} } @stored[ 0 .. 9 ];
	$emu->control('DELETE', "/calendars/$c/events/$_?silent=true") for @gone;
	my $f = hang_after(8);
	is(sql(q{SELECT gcal_resync('user0002')}), '1', 'C: full resync requested');
	GcalTest::wait_fault_hit($emu, $f, 1);
	$emu->control('DELETE', '/faults');
	my $pid = GcalTest::worker_pid($node);
	$node->stop('immediate');
	$node->start;
	my $new = GcalTest::wait_worker($node, 'postgres', $pid);
	ok($new, 'C: the worker runs after the restart');
	settled('C');
	is(sql("SELECT count(*) FROM gcalsync.event WHERE owner = 'user0002' AND event_id IN (" . join(',', map { "'$_'" } @gone)
		  . ") AND status = 'cancelled'"), '10', 'C: the resync swept the silently deleted events');
}

my $log = slurp_file($node->logfile);
my $restarts = () = $log =~ /gcalsync worker started for database/g;
is($restarts, 4, 'the worker started four times (start, two kills, one restart)');
GcalTest::no_secrets_in_log($node);

$node->stop;
$emu->stop;
done_testing();
