# A write waiting behind another that backs off does not keep the worker
# awake: the worker sleeps until the head of the event's queue is due (the
# writes behind it cannot go before it), not once a second.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'outbox_idle');

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice synced');
my $eid = sql(q{SELECT event_id FROM gcalsync.event
	WHERE owner = 'alice' AND status = 'confirmed' AND recurrence IS NULL ORDER BY event_id LIMIT 1});
my $cal = sql(qq{SELECT calendar_id FROM gcalsync.event WHERE owner = 'alice' AND event_id = '$eid'});

# Google answers every update with 503 and Retry-After: one hour.
my $fault = $emu->control('POST', '/faults', { method => 'PATCH', path => '/calendar/v3/calendars/[^/]+/events/',
	preset => 'serviceUnavailable', headers => { 'Retry-After' => '3600' }, count => -1 });
my $head = sql(qq{SELECT gcal_update_event('alice', '$cal', '$eid', '{"summary": "first"}')});
GcalTest::wait_fault_hit($emu, $fault);
ok(GcalTest::wait_until(sub {
	sql(qq{SELECT next_attempt_at > now() + interval '50 min' FROM gcalsync.outbox WHERE id = $head}) eq 't' }, 60,
	'the head to back off'), 'the head backs off for the hour Google asked for');
my $behind = sql(qq{SELECT gcal_update_event('alice', '$cal', '$eid', '{"summary": "second"}')});
is(sql(qq{SELECT state || ' ' || attempts FROM gcalsync.outbox WHERE id = $behind}), 'queued 0',
	'the write behind it waits its turn');

# The worker's main thread, woken by its latch timeout, counts a voluntary
# context switch each time it wakes. Asleep until the head is due (an hour;
# the next poll is two minutes away), it does not wake for five seconds;
# before the fix it woke every second.
my $pid = GcalTest::worker_pid($node);
sub switches
{
	open(my $fh, '<', "/proc/$pid/status") or die "no /proc/$pid/status: $!";
	my ($n) = map { /^voluntary_ctxt_switches:\s+(\d+)/ ? $1 : () } <$fh>;
	return $n;
}
# Let the cycle that read the write behind finish first (it is woken by the commit).
ok(GcalTest::wait_until(sub {
	sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'gcalsync worker' AND wait_event = 'Extension'}) eq '1' },
	30, 'the worker to wait on its latch'), 'the worker sleeps');
my $before = switches();
Time::HiRes::sleep(5);    # a measurement of nothing happening: no condition to wait for
my $woke = switches() - $before;
cmp_ok($woke, '<=', 2, "the worker woke $woke time(s) in 5 s with a write waiting behind a backing-off head");
is(sql(qq{SELECT attempts FROM gcalsync.outbox WHERE id = $behind}), '0', 'the write behind was not sent');

# When the head goes through, the write behind is sent at once. It was queued
# against the version before the head's write, so Google's If-Match refuses it:
# conflict, as README: Exactly once says (wait for a write before queuing the next).
$emu->control('DELETE', "/faults/$fault->{id}");
sql(qq{UPDATE gcalsync.outbox SET next_attempt_at = now() WHERE id = $head});
sql(q{SELECT gcal_sync_now('alice')});
is(sql(qq{SELECT gcal_wait_write($head, '60s')}), 'done', 'the head is done once Google answers');
is(sql(qq{SELECT gcal_wait_write($behind, '60s')}), 'conflict', 'the write behind is sent next (made against the older version: conflict)');

done_testing();
