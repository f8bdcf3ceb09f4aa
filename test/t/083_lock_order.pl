# Issue 13, item 3: one lock order everywhere (the owner's row first, then
# its calendar_sync, sync_token and channel rows), so the worker's
# end-of-round update and gcal_sync_now, and gcal_push and gcal_unlink /
# gcal_refresh, never deadlock. Each pair is put exactly into the
# interleaving that deadlocked before (a third session holds what both
# need, both queue up, the third lets go), then all of them are hammered
# concurrently for a bounded number of iterations; the server log must show
# no deadlock (40P01).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
# Owners are due about every second; lock waits of the worker are long
# enough here for the interleavings below (gcalsync.lock_timeout), and
# deadlocks are detected at once.
my $node = GcalTest::node($emu, 'lockorder', q{
gcalsync.poll_interval = 1
gcalsync.lock_timeout = '60s'
deadlock_timeout = '100ms'
log_lock_waits = on
gcalsync.webhook_url = 'http://127.0.0.1:9/gcal'
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice'); SELECT gcal_link('bob', 'demo-refresh-bob');});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first sync done');
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob: first sync done');
my $wpid = GcalTest::worker_pid($node);

# waits_on_lock(pid): the session waits on a heavyweight lock.
sub waits_on_lock
{
	my ($pid) = @_;
	return $node->poll_query_until('postgres',
		qq{SELECT count(*) > 0 FROM pg_stat_activity WHERE pid = $pid AND wait_event_type = 'Lock'});
}
# session(): a background psql and its backend's pid.
sub session
{
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $s->query_safe(q{SELECT pg_backend_pid()});
	chomp $pid;
	return ($s, $pid);
}
# start(session, sql): sends a statement without waiting for its result.
sub start
{
	my ($s, $sql) = @_;
	$s->query_until(qr/sent/, "\\echo sent\n$sql\n");
}
# result(session): the output of what start() sent (waits for it).
sub result
{
	my ($s) = @_;
	my $out = $s->query(q{SELECT 'done'});
	return $out;
}

# ---- A. the worker's end of round vs gcal_sync_now -----------------------------------
# Before: the worker updated calendar_sync, then the owner row; gcal_sync_now
# the owner row, then calendar_sync.
{
	my ($c, $cpid) = session();
	$c->query_safe(q{BEGIN});
	$c->query_safe(q{SELECT calendar_id FROM gcalsync.calendar_sync WHERE owner = 'alice' FOR UPDATE});
	ok(waits_on_lock($wpid), 'A: the worker\'s end of round waits (the calendar rows are held)');
	my ($b, $bpid) = session();
	start($b, q{SELECT gcal_sync_now('alice');});
	ok(waits_on_lock($bpid), 'A: gcal_sync_now waits too');
	$c->query_safe(q{COMMIT});
	my $out = result($b);
	like($out, qr/done/, 'A: gcal_sync_now finished');
	unlike($b->{stderr} // '', qr/deadlock/, 'A: gcal_sync_now did not deadlock');
	$b->quit;
	$c->quit;
	is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'A: alice synced what gcal_sync_now asked for');
	ok(!$node->log_contains(qr/deadlock detected/), 'A: no deadlock in the log');
}

# ---- B. gcal_push vs gcal_unlink ---------------------------------------------------------
# Before: gcal_push locked the channel, then the owner row; gcal_unlink the
# owner row, then the channels.
# bob's watch channel of his calendar list (push is on: the worker opened it).
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM gcalsync.channel
	WHERE owner = 'bob' AND kind = 'calendar_list' AND resource_id IS NOT NULL}), 'B: bob has a watch channel');
my ($chan, $res, $tok) = split /\|/, sql(q{SELECT channel_id || '|' || resource_id || '|' || token FROM gcalsync.channel
	WHERE owner = 'bob' AND kind = 'calendar_list' AND resource_id IS NOT NULL ORDER BY created_at DESC LIMIT 1});
{
	my ($c, $cpid) = session();
	$c->query_safe(q{BEGIN});
	$c->query_safe(q{SELECT gcal_sync_now('bob')});
	my ($u, $upid) = session();
	start($u, q{SELECT gcal_unlink('bob');});
	ok(waits_on_lock($upid), 'B: gcal_unlink waits for the owner row');
	my ($p, $ppid) = session();
	start($p, qq{SELECT gcal_push('$chan', '$res', 'exists', '$tok', 7);});
	ok(waits_on_lock($ppid), 'B: gcal_push waits too');
	$c->query_safe(q{COMMIT});
	like(result($u), qr/^t\ndone$/m, 'B: gcal_unlink finished and unlinked bob');
	like(result($p), qr/^f\ndone$/m, 'B: gcal_push finished and found the channel gone');
	unlike(($u->{stderr} // '') . ($p->{stderr} // ''), qr/deadlock/, 'B: neither deadlocked');
	$_->quit for ($c, $u, $p);
	ok(!$node->log_contains(qr/deadlock detected/), 'B: no deadlock in the log');
}

# ---- C. everything at once, a bounded number of times ------------------------------------
sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'C: bob linked again');
my @scripts = (
	join('', map { "SELECT gcal_sync_now('alice'); SELECT gcal_sync_now('bob');\n" } 1 .. 40),
	join('', map { "SELECT gcal_resync('alice'); SELECT gcal_resync(NULL);\n" } 1 .. 20),
	join('', map { "INSERT INTO gcalsync.channel (channel_id, owner, kind, resource_id, token) VALUES ('h$_', 'alice', 'calendar_list', 'r$_', 't$_') ON CONFLICT DO NOTHING; SELECT gcal_push('h$_', 'r$_', 'exists', 't$_', $_); SELECT gcal_push('h$_', 'r$_', 'not_exists', 't$_', $_ + 1000);\n" } 1 .. 30),
	join('', map { "SELECT gcal_refresh('alice', 'demo-refresh-alice'); SELECT gcal_sync_now('alice');\n" } 1 .. 20),
);
my @runs;
for my $script (@scripts)
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=0', '-d', $node->connstr('postgres') ],
		'<', \$script, '>', \$out, '2>', \$err);
	push @runs, [ $h, \$err ];
}
for my $r (@runs)
{
	$r->[0]->finish;
}
my $errors = join('', map { ${ $_->[1] } } @runs);
is($errors, '', 'C: no statement of the hammer failed');
ok(!$node->log_contains(qr/deadlock detected/), 'C: no deadlock in the log');
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'C: alice syncs afterwards');
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'C: bob syncs afterwards');
is(GcalTest::worker_pid($node), $wpid, 'C: the same worker throughout');

$node->stop;
$emu->stop;
done_testing();
