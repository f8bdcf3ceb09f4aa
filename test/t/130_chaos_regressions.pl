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

$node->stop;
$emu->stop;
done_testing();
