# Outbox crash safety (issue 16): the worker is killed with SIGKILL (the
# server restarts after the crash) after it sent a write and before it
# committed the write's outcome, while Google applies the write. The write
# is sent again after the restart and recognised: an insert by its client id
# (409), an update behind If-Match by the patch already applied (412), a
# delete by 410. Neither lost nor applied twice.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'outbox_crash');

sub sql { return $node->safe_psql('postgres', $_[0]); }
my $alice = 'alice@example.com';

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice synced');

# crash_during(method, what, sql) queues a write; the first request of that
# method to an events URL is held 2 s by the emulator before Google applies
# it, and the worker is killed meanwhile; the request sent after the
# restart is held 5 s, so Google has applied the first one by then.
sub crash_during
{
	my ($method, $what, $queue) = @_;
	$emu->control('DELETE', '/faults');
	my $f1 = $emu->control('POST', '/faults', { method => $method, path => '/calendar/v3/calendars/[^/]+/events', delay => 2, count => 1 });
	$emu->control('POST', '/faults', { method => $method, path => '/calendar/v3/calendars/[^/]+/events', delay => 5, count => 1 });
	my $id = sql($queue);
	GcalTest::wait_fault_hit($emu, $f1);
	my $pid = GcalTest::worker_pid($node);
	ok(kill('KILL', $pid), "$what: worker killed with SIGKILL after sending");
	ok(GcalTest::wait_worker($node, 'postgres', $pid), "$what: a new worker runs");
	is(sql(qq{SELECT gcal_wait_write($id, '90s')}), 'done', "$what: done after the restart");
	return $id;
}

# ---- insert ----------------------------------------------------------------------------------
my $id = crash_during('POST', 'insert', q{SELECT gcal_insert_event('alice', 'primary', '{"summary": "Crash insert",
	"start": {"dateTime": "2030-03-01T10:00:00Z"}, "end": {"dateTime": "2030-03-01T11:00:00Z"}}')});
my $eid = sql(qq{SELECT event_id FROM gcalsync.outbox WHERE id = $id});
my @copies = grep { ($_->{event}{summary} // '') eq 'Crash insert' } @{ $emu->control('GET', "/calendars/$alice/events") };
is(scalar(@copies), 1, 'insert: one event at Google');
my @sent = grep { ($_->{body}{id} // '') eq $eid } @{ $emu->control('GET', '/log?api=events.insert') };
is(scalar(@sent), 2, 'insert: sent twice');
is($sent[1]{status}, 409, 'insert: the second got 409');
is(sql(qq{SELECT summary || '|' || (data->>'etag') FROM gcalsync.event WHERE event_id = '$eid'}),
	"Crash insert|$copies[0]{event}{etag}", 'insert: mirrored with Google\'s etag');

# ---- update with If-Match ----------------------------------------------------------------------
$id = crash_during('PATCH', 'update', qq{SELECT gcal_update_event('alice', 'primary', '$eid', '{"summary": "Crash update"}')});
my $g = $emu->control('GET', "/calendars/$alice/events/$eid")->{event};
is($g->{summary}, 'Crash update', 'update: applied at Google');
@sent = @{ $emu->control('GET', '/log?api=events.patch') };
is(join(',', map { $_->{status} } @sent), '200,412', 'update: sent twice, the second got 412');
is(sql(qq{SELECT state || '|' || coalesce(last_error, '') FROM gcalsync.outbox WHERE id = $id}), 'done|',
	'update: recognised as its own (done, not conflict)');
is(sql(qq{SELECT summary || '|' || (data->>'etag') FROM gcalsync.event WHERE event_id = '$eid'}),
	"Crash update|$g->{etag}", 'update: mirrored');

# ---- delete ----------------------------------------------------------------------------------------
$id = crash_during('DELETE', 'delete', qq{SELECT gcal_delete_event('alice', 'primary', '$eid')});
is($emu->control('GET', "/calendars/$alice/events/$eid")->{event}{status}, 'cancelled', 'delete: deleted at Google');
@sent = @{ $emu->control('GET', '/log?api=events.delete') };
is(join(',', map { $_->{status} } @sent), '204,410', 'delete: sent twice, the second got 410');
is(sql(qq{SELECT status FROM gcalsync.event WHERE event_id = '$eid'}), 'cancelled', 'delete: mirrored');

done_testing();
