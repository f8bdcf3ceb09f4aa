# Writes to Google through the outbox (issue 16), end to end against the
# emulator: each operation, the mirror holding Google's answer when a write
# is done (announced once, not again by the next sync), a dropped answer
# after an insert (no duplicate), a concurrent change at Google (conflict,
# mirror refreshed), a read-only token, an owner revoked or unlinked with
# writes queued.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'outbox');

sub sql { return $node->safe_psql('postgres', $_[0]); }
my $alice = 'alice@example.com';

sub google_event
{
	my ($cal, $id) = @_;
	return $emu->control('GET', "/calendars/$cal/events/$id")->{event};
}

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice synced');

# ---- insert, in one transaction with the application's own row -----------------------
sql(q{CREATE TABLE booking (id serial PRIMARY KEY, write_id bigint)});
my $cursor = sql(q{SELECT gcal_changes_cursor()});
my $id = sql(q{
	BEGIN;
	INSERT INTO booking (write_id) SELECT gcal_insert_event('alice', 'primary',
		'{"summary": "Booked call", "start": {"dateTime": "2030-01-07T10:00:00Z"},
		  "end": {"dateTime": "2030-01-07T10:30:00Z"}}') RETURNING write_id;
	COMMIT;
});
is(sql(qq{SELECT gcal_wait_write($id, '60s')}), 'done', 'insert: done');
my $eid = sql(qq{SELECT event_id FROM gcalsync.outbox WHERE id = $id});
like($eid, qr/^[a-v0-9]{5,}$/, 'insert: a base32hex client id');
my $g = google_event($alice, $eid);
is($g->{summary}, 'Booked call', 'insert: the event is at Google under the client id');
is(sql(qq{SELECT summary || '|' || (data->>'etag') || '|' || start_at FROM gcalsync.event
	WHERE owner = 'alice' AND calendar_id = '$alice' AND event_id = '$eid'}),
	"Booked call|$g->{etag}|2030-01-07 10:00:00+00", 'insert: the mirror holds Google\'s answer when done');
is(sql(qq{SELECT count(*) FROM gcal_changes($cursor) WHERE table_name = 'event' AND '$eid' = ANY(ids)}), '1',
	'insert: announced once in the change feed');
# The next incremental sync sees the event (it changed at Google) with the etag already stored.
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'synced again');
is(sql(qq{SELECT count(*) FROM gcal_changes($cursor) WHERE table_name = 'event' AND '$eid' = ANY(ids)}), '1',
	'insert: not announced again by the next sync');

# ---- update (If-Match with the mirrored etag) ------------------------------------------
$id = sql(qq{SELECT gcal_update_event('alice', 'primary', '$eid', '{"summary": "Booked call (moved)", "location": "Room 2"}', 'all')});
is(sql(qq{SELECT gcal_wait_write($id, '60s')}), 'done', 'update: done');
$g = google_event($alice, $eid);
is("$g->{summary}|$g->{location}", 'Booked call (moved)|Room 2', 'update: applied at Google');
is(sql(qq{SELECT summary || '|' || location || '|' || (data->>'etag') FROM gcalsync.event WHERE event_id = '$eid'}),
	"Booked call (moved)|Room 2|$g->{etag}", 'update: mirror holds the answer');
my ($patch) = grep { $_->{api} eq 'events.patch' } @{ $emu->control('GET', '/log?api=events.patch') };
is($patch->{query}{sendUpdates}, 'all', 'update: sendUpdates passed on');
ok(defined $patch->{headers}{'if-match'}, 'update: sent with If-Match');

# ---- a concurrent change at Google: conflict, mirror refreshed -------------------------
$emu->control('PATCH', "/calendars/$alice/events/$eid", { summary => 'Changed by someone else' });
$id = sql(qq{SELECT gcal_update_event('alice', 'primary', '$eid', '{"summary": "Mine"}')});
is(sql(qq{SELECT gcal_wait_write($id, '60s')}), 'conflict', 'concurrent change: conflict');
is(google_event($alice, $eid)->{summary}, 'Changed by someone else', 'concurrent change: not overwritten');
is(sql(qq{SELECT summary FROM gcalsync.event WHERE event_id = '$eid'}), 'Changed by someone else',
	'concurrent change: mirror refreshed');
like(sql(qq{SELECT last_error FROM gcalsync.outbox WHERE id = $id}), qr/changed at Google/, 'conflict: last_error says why');

# ---- respond to an invitation ------------------------------------------------------------
$emu->control('POST', "/calendars/$alice/events", { events => [ {
	id => 'inv0from0org000001', summary => 'Invitation',
	start => { dateTime => '2030-02-01T09:00:00Z' }, end => { dateTime => '2030-02-01T10:00:00Z' },
	organizer => { email => 'org@example.net' },
	attendees => [ { email => 'org@example.net', organizer => JSON::PP::true(), responseStatus => 'accepted' },
		{ email => $alice, self => JSON::PP::true(), responseStatus => 'needsAction' } ] } ] });
sql(q{SELECT gcal_sync_now('alice')});
sql(q{SELECT gcal_wait('alice', '60s')});
is(sql(q{SELECT self_response FROM gcalsync.event WHERE event_id = 'inv0from0org000001'}), 'needsAction', 'invitation mirrored');
$id = sql(q{SELECT gcal_respond('alice', 'primary', 'inv0from0org000001', 'accepted')});
is(sql(qq{SELECT gcal_wait_write($id, '60s')}), 'done', 'respond: done');
is(sql(q{SELECT self_response FROM gcalsync.event WHERE event_id = 'inv0from0org000001'}), 'accepted', 'respond: mirrored');
my ($me) = grep { $_->{self} } @{ google_event($alice, 'inv0from0org000001')->{attendees} };
is($me->{responseStatus}, 'accepted', 'respond: applied at Google');
# Changing someone else's event is refused by Google: failed, with the reason.
$id = sql(q{SELECT gcal_update_event('alice', 'primary', 'inv0from0org000001', '{"summary": "Mine now"}')});
is(sql(qq{SELECT gcal_wait_write($id, '60s')}), 'failed', 'non-organizer update: failed');
like(sql(qq{SELECT last_error FROM gcalsync.outbox WHERE id = $id}), qr/forbiddenForNonOrganizer/, 'non-organizer: last_error');

# ---- delete ------------------------------------------------------------------------------
$id = sql(qq{SELECT gcal_delete_event('alice', 'primary', '$eid')});
is(sql(qq{SELECT gcal_wait_write($id, '60s')}), 'done', 'delete: done');
is(google_event($alice, $eid)->{status}, 'cancelled', 'delete: deleted at Google');
is(sql(qq{SELECT status FROM gcalsync.event WHERE event_id = '$eid'}), 'cancelled', 'delete: mirror is a tombstone');

# ---- the answer to an insert is lost after Google applied it: no duplicate ---------------
my $fault = $emu->control('POST', '/faults', { method => 'POST', path => '/calendar/v3/calendars/[^/]+/events$',
	action => 'apply_drop', count => 1 });
$id = sql(q{SELECT gcal_insert_event('alice', 'primary', '{"summary": "Lost answer",
	"start": {"dateTime": "2030-01-08T10:00:00Z"}, "end": {"dateTime": "2030-01-08T11:00:00Z"}}')});
is(sql(qq{SELECT gcal_wait_write($id, '120s')}), 'done', 'dropped answer: done');
$eid = sql(qq{SELECT event_id FROM gcalsync.outbox WHERE id = $id});
my @inserts = grep { ($_->{body}{id} // '') eq $eid } @{ $emu->control('GET', '/log?api=events.insert') };
is(scalar(@inserts), 2, 'dropped answer: sent twice (the retry got 409)');
my @copies = grep { ($_->{event}{summary} // '') eq 'Lost answer' } @{ $emu->control('GET', "/calendars/$alice/events") };
is(scalar(@copies), 1, 'dropped answer: one event at Google');
is(sql(qq{SELECT count(*) FROM gcalsync.event WHERE event_id = '$eid' AND summary = 'Lost answer'}), '1',
	'dropped answer: mirrored');

# ---- a read-only token: failed with insufficientPermissions ----------------------------
$emu->control('POST', '/users', { id => 'dave', refresh_tokens => ['rt-dave'], read_only => JSON::PP::true() });
sql(q{SELECT gcal_link('dave', 'rt-dave')});
is(sql(q{SELECT gcal_wait('dave', '60s')}), 't', 'dave (read-only grant) synced');
$id = sql(q{SELECT gcal_insert_event('dave', 'primary', '{"summary": "x",
	"start": {"dateTime": "2030-01-08T10:00:00Z"}, "end": {"dateTime": "2030-01-08T11:00:00Z"}}')});
is(sql(qq{SELECT gcal_wait_write($id, '60s')}), 'failed', 'read-only token: failed');
like(sql(qq{SELECT last_error FROM gcalsync.outbox WHERE id = $id}), qr/insufficientPermissions/,
	'read-only token: last_error names insufficientPermissions');

# ---- queued, then the owner is unlinked ---------------------------------------------------
sql(q{SELECT gcal_link('carol', 'demo-refresh-carol')});
is(sql(q{SELECT gcal_wait('carol', '60s')}), 't', 'carol synced');
$fault = $emu->control('POST', '/faults', { method => 'POST', path => '/calendar/v3/calendars/[^/]+/events$',
	user => 'carol', preset => 'serviceUnavailable', count => -1 });
$id = sql(q{SELECT gcal_insert_event('carol', 'primary', '{"summary": "x",
	"start": {"dateTime": "2030-01-08T10:00:00Z"}, "end": {"dateTime": "2030-01-08T11:00:00Z"}}')});
GcalTest::wait_fault_hit($emu, $fault);
is(sql(qq{SELECT gcal_wait_write($id, '0s') IS NULL}), 't', 'transient error: still queued');
ok(GcalTest::wait_until(sub { sql(qq{SELECT attempts > 0 AND last_error LIKE '%503%' FROM gcalsync.outbox WHERE id = $id}) eq 't' }, 60),
	'transient error: attempt counted, last_error kept');
sql(q{SELECT gcal_unlink('carol')});
is(sql(qq{SELECT gcal_wait_write($id, '10s')}), 'failed', 'unlinked: the queued write failed');
like(sql(qq{SELECT last_error FROM gcalsync.outbox WHERE id = $id}), qr/unlinked/, 'unlinked: last_error says so');
$emu->control('DELETE', "/faults/$fault->{id}");

# ---- queued, then the owner is revoked ----------------------------------------------------
sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob synced');
$emu->control('POST', '/refresh-tokens/revoke', { user => 'bob' });
$emu->control('POST', '/access-tokens/revoke', { user => 'bob' });
$id = sql(q{SELECT gcal_insert_event('bob', 'primary', '{"summary": "x",
	"start": {"dateTime": "2030-01-08T10:00:00Z"}, "end": {"dateTime": "2030-01-08T11:00:00Z"}}')});
is(sql(qq{SELECT gcal_wait_write($id, '60s')}), 'failed', 'revoked: the queued write failed');
like(sql(qq{SELECT last_error FROM gcalsync.outbox WHERE id = $id}), qr/owner is revoked/, 'revoked: last_error says so');

done_testing();
