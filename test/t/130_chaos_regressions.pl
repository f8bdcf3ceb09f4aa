# Bugs the chaos run (test/chaos/001_chaos.pl, issue 20) found, each reduced
# to the few steps that show it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'chaosregress', "gcalsync.poll_interval = 1\n");
sub sql { return $node->safe_psql('postgres', $_[0]); }

my $team = 'c_9a1f3e6b2d8c4a7e@group.calendar.google.com';
(my $team_path = $team) =~ s/@/%40/;
sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice synced');
my $live = sql(qq{SELECT count(*) FROM gcalsync.event WHERE owner = 'alice' AND calendar_id = '$team' AND status <> 'cancelled'});
ok($live > 0, "alice has $live live events of the shared calendar");

# 1. A calendar that leaves the owner's list: its events became tombstones in
# the status column only, their data still said "confirmed" (seed 101).
$emu->control('DELETE', "/users/alice/calendarList/$team_path");
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'synced after the calendar left the list');
is(sql(qq{SELECT count(*) FILTER (WHERE status = 'cancelled') || '/' || count(*) FILTER (WHERE data->>'status' = 'cancelled')
	FROM gcalsync.event WHERE owner = 'alice' AND calendar_id = '$team'}), "$live/$live",
	'the events of a calendar that left the list are tombstones, in status and in data');

# 2. A row marked deleted by a full listing's sweep (it keeps its etag) that
# an incremental listing brings back live with that same etag was written
# over without an announcement: only the etag was compared to tell an outbox
# write's own echo from a change (seed 102). The sweep is played here by hand,
# between an outbox insert and the incremental listing that returns it.
sql(q{ALTER SYSTEM SET gcalsync.poll_interval = '1h'; SELECT pg_reload_conf();});
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'synced, polling slowed down');
my $w = sql(q{SELECT gcal_insert_event('alice', 'primary', '{"id": "chaosregress0002", "summary": "Back",
	"start": {"dateTime": "2026-03-02T10:00:00Z"}, "end": {"dateTime": "2026-03-02T11:00:00Z"}}')});
is(sql(qq{SELECT gcal_wait_write($w, '60s')}), 'done', 'an event inserted through the outbox');
sql(q{UPDATE gcalsync.event SET status = 'cancelled', data = data || '{"status": "cancelled"}'
	WHERE owner = 'alice' AND event_id = 'chaosregress0002'});
my $cursor = sql(q{SELECT gcal_changes_cursor()});
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'the incremental listing that returns it');
is(sql(q{SELECT status FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'chaosregress0002'}), 'confirmed',
	'the row is live again');
is(sql(qq{SELECT count(*) FROM gcal_changes($cursor) WHERE op = 'upsert' AND 'chaosregress0002' = ANY (ids)}), '1',
	'and that is announced');

# 3. A write answered 2xx with a body that is not the event (here a token
# endpoint's body, as from a misrouting proxy) was marked done although Google
# never applied it (seed 104). Now it is done only once events.get shows it;
# else it is sent again.
my $fault = $emu->control('POST', '/faults', { path => '/events/chaosregress0002$', preset => 'grantWithoutCalendarScope', count => 1 });
$w = sql(q{SELECT gcal_update_event('alice', 'primary', 'chaosregress0002', '{"summary": "After a broken answer"}')});
is(sql(qq{SELECT gcal_wait_write($w, '90s')}), 'done', 'an update whose first answer was not the event');
ok(GcalTest::wait_fault_hit($emu, $fault), 'the broken answer was given');
is($emu->control('GET', '/calendars/alice%40example.com/events/chaosregress0002')->{event}{summary}, 'After a broken answer',
	'is at Google');
is(sql(q{SELECT summary FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'chaosregress0002'}), 'After a broken answer',
	'and in the mirror');

# 4. A write Google applied whose answer was lost (the connection dropped
# after the insert took effect), then the owner's grant found revoked before
# the write was sent again: it ended `failed`, "the write was not sent", and
# Google had it (seed 208). libcurl may send the request again on a new
# connection by itself (here answered 401), so the engine cannot count on
# seeing the lost attempt: a write is marked sent before it leaves, and a
# sent write waits for the owner to be linked again instead of failing.
my $seq = GcalTest::log_seq($emu);
my $lost = $emu->control('POST', '/faults', { method => 'POST', path => '/events$', user => 'alice',
	action => 'apply_drop', count => 1 });
my $refused = $emu->control('POST', '/faults', { method => 'POST', path => '/events$', user => 'alice',
	preset => 'authError', count => 1 });
my $revoked = $emu->control('POST', '/faults', { path => '^/token$', user => 'alice', preset => 'invalidGrant', count => -1 });
$w = sql(q{SELECT gcal_insert_event('alice', 'primary', '{"id": "chaosregress0004", "summary": "Answer lost",
	"start": {"dateTime": "2026-03-04T10:00:00+01:00"}, "end": {"dateTime": "2026-03-04T11:00:00+01:00"}}')});
ok(GcalTest::wait_fault_hit($emu, $lost), 'Google applied the insert and the connection dropped');
ok(GcalTest::wait_fault_hit($emu, $refused), 'the request sent again was refused (401)');
like(GcalTest::wait_state($node, 'alice', 'revoked'), qr/^revoked\|/, 'the grant is found revoked before a retry');
ok($emu->control('GET', '/calendars/alice%40example.com/events/chaosregress0004')->{event},
	'Google has the event');
ok(GcalTest::wait_until(sub {
	sql(qq{SELECT last_error LIKE '%may have applied it%' FROM gcalsync.outbox WHERE id = $w}) eq 't' }, 60,
	'the worker to hold the write'), 'the write waits for a relink, and last_error says why');
is(sql(qq{SELECT state || ' ' || (sent_at IS NOT NULL) FROM gcalsync.outbox WHERE id = $w}), 'queued true',
	'the write is queued, marked sent: not failed');
is(sql(qq{SELECT gcal_wait_write($w, '2s') IS NULL}), 't', 'gcal_wait_write does not call it final');
# attempts 0: libcurl sent the request again by itself (the engine saw only the 401);
# 1: the engine saw the dropped connection and retried
note('attempts before the relink: ' . sql(qq{SELECT attempts FROM gcalsync.outbox WHERE id = $w}));
$emu->control('DELETE', "/faults/$revoked->{id}");
sql(q{SELECT gcal_refresh('alice', 'demo-refresh-alice')});
is(sql(qq{SELECT gcal_wait_write($w, '90s')}), 'done', 'linked again, the write is sent again and recognised: done');
my @inserts = grep { ($_->{method} // '') eq 'POST' && ($_->{path} // '') =~ m{/events$} }
  @{ GcalTest::api_requests($emu, $seq, 'alice') };
is(scalar(@inserts), 3, 'three copies were sent (applied, refused, recognised by its 409)');
is(scalar(grep { ($_->{api}{id} // '') eq 'chaosregress0004' }
	@{ $emu->control('GET', '/calendars/alice%40example.com/events') }), 1, 'Google has it once');
is(sql(q{SELECT summary FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'chaosregress0004'}), 'Answer lost',
	'and the mirror shows it');

# 5. An update Google applied whose answer was lost, then the copy sent again
# refused with a permanent error (here 403 insufficientPermissions, as a fault):
# it ended `failed`, "Google may have applied it", and Google had it (seed
# 301). A permanent error to a later copy says nothing of the earlier one:
# the event is read back (events.get), and the write is done if it shows it,
# failed (saying so) if it does not.
my $patch = '/events/chaosregress0002$';
$lost = $emu->control('POST', '/faults', { method => 'PATCH', path => $patch, user => 'alice', action => 'apply_drop', count => 1 });
$refused = $emu->control('POST', '/faults', { method => 'PATCH', path => $patch, user => 'alice',
	preset => 'insufficientPermissions', count => 1 });
$w = sql(q{SELECT gcal_update_event('alice', 'primary', 'chaosregress0002', '{"summary": "Applied, answer lost"}')});
is(sql(qq{SELECT gcal_wait_write($w, '90s')}), 'done', 'an update applied, its answer lost, the copy sent again refused: done');
ok(GcalTest::wait_fault_hit($emu, $lost) && GcalTest::wait_fault_hit($emu, $refused), 'the answer was lost, the next copy refused (403)');
is(sql(qq{SELECT coalesce(last_error, 'none') FROM gcalsync.outbox WHERE id = $w}), 'none', 'without an error');
is($emu->control('GET', '/calendars/alice%40example.com/events/chaosregress0002')->{event}{summary}, 'Applied, answer lost',
	'Google has the update');
is(sql(q{SELECT summary FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'chaosregress0002'}), 'Applied, answer lost',
	'and the mirror shows it');
# The same, but the first copy never reached Google (the connection dropped before it).
my $dropped = $emu->control('POST', '/faults', { method => 'PATCH', path => $patch, user => 'alice', action => 'drop', count => 1 });
$refused = $emu->control('POST', '/faults', { method => 'PATCH', path => $patch, user => 'alice',
	preset => 'insufficientPermissions', count => 1 });
$w = sql(q{SELECT gcal_update_event('alice', 'primary', 'chaosregress0002', '{"summary": "Never applied"}')});
is(sql(qq{SELECT gcal_wait_write($w, '90s')}), 'failed', 'an update dropped, the copy sent again refused: failed');
ok(GcalTest::wait_fault_hit($emu, $dropped) && GcalTest::wait_fault_hit($emu, $refused), 'dropped, then refused (403)');
like(sql(qq{SELECT last_error FROM gcalsync.outbox WHERE id = $w}), qr/insufficientPermissions.*events\.get does not show it/,
	'last_error gives the refusal and that Google does not show the write');
is($emu->control('GET', '/calendars/alice%40example.com/events/chaosregress0002')->{event}{summary}, 'Applied, answer lost',
	'Google does not have it');

# 6. A delete answered 2xx by something that was not Google (here a fault's
# 200 with a malformed body; the event was not deleted) was done, and the
# mirror kept the live event events.get returned (seed 302). A delete is now
# done only once events.get shows the event cancelled; else it is sent again.
my $fake = $emu->control('POST', '/faults', { method => 'DELETE', path => $patch, user => 'alice', action => 'malformed', count => 1 });
$w = sql(q{SELECT gcal_delete_event('alice', 'primary', 'chaosregress0002')});
is(sql(qq{SELECT gcal_wait_write($w, '90s')}), 'done', 'a delete whose first answer was not Google\'s: done');
ok(GcalTest::wait_fault_hit($emu, $fake), 'the first answer was the fault\'s 200');
is($emu->control('GET', '/calendars/alice%40example.com/events/chaosregress0002')->{api}{status}, 'cancelled',
	'Google has deleted the event');
is(sql(q{SELECT status FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'chaosregress0002'}), 'cancelled',
	'and the mirror shows it deleted');

$node->stop;
$emu->stop;
done_testing();
