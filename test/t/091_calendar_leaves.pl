# Calendars that leave the list (issue 13, item 10): when the owner
# unsubscribes from a calendar, or gcal_link replaces the link by another
# Google account whose list does not have it, the calendar's events become
# tombstones (status cancelled) in the same transaction as the list change,
# with NOTIFY and `delete` entries in the change feed; another owner's rows
# of the same calendar are untouched. (404 on a listed calendar, and its
# return: test/t/023_gone.pl.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'leaves');

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first full sync done');
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob: first full sync done');

my $team = 'c_9a1f3e6b2d8c4a7e@group.calendar.google.com';
sub live
{
	my ($owner, $cal) = @_;
	return sql(qq{SELECT count(*) FROM gcalsync.event WHERE owner = '$owner' AND calendar_id = '$cal' AND status <> 'cancelled'});
}
my $team_events = live('alice', $team);
cmp_ok($team_events, '>', 0, "alice has $team_events live events of the team calendar");
my $bob_team = sql(qq{SELECT md5(string_agg(event_id || status || data::text, ',' ORDER BY event_id)) FROM gcalsync.event
	WHERE owner = 'bob' AND calendar_id = '$team'});

# ---- unsubscribed -----------------------------------------------------------------------------
my $cursor = sql(q{SELECT gcal_changes_cursor()});
my $listen = GcalTest::listen($node);
$emu->control('DELETE', '/users/alice/calendarList/' . ($team =~ s/@/%40/r));
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: round after unsubscribing');
is(sql(qq{SELECT deleted FROM gcalsync.calendar_list WHERE owner = 'alice' AND calendar_id = '$team'}), 't', 'the list entry is deleted');
is(live('alice', $team), '0', 'its events are tombstones');
is(sql(qq{SELECT coalesce(sum(cardinality(ids)), 0) FROM gcal_changes($cursor)
	WHERE owner = 'alice' AND table_name = 'event' AND calendar_id = '$team' AND op = 'delete'}), $team_events,
	'the feed has a delete entry for each of them');
ok($listen->wait_for(sub { grep { /"table":"event"/ && /"op":"delete"/ && /c_9a1f3e6b2d8c4a7e/ } @{ $_[0] } }, 30,
	'NOTIFY of the tombstones'), 'NOTIFY announces them');
is(sql(qq{SELECT md5(string_agg(event_id || status || data::text, ',' ORDER BY event_id)) FROM gcalsync.event
	WHERE owner = 'bob' AND calendar_id = '$team'}), $bob_team, "bob's rows of the team calendar are untouched");
ok(GcalTest::mirror_matches($node, $emu, 'alice', 'demo-refresh-alice'), 'alice: mirror equals the API');

# ---- the link replaced by another Google account ----------------------------------------------------
# alice is linked anew with bob's account: the team calendar is in bob's
# list (synced again, in full), her primary calendar is not (tombstoned by
# the full listing's sweep).
my $primary_events = live('alice', 'alice@example.com');
cmp_ok($primary_events, '>', 0, "alice has $primary_events live events in her primary calendar");
$cursor = sql(q{SELECT gcal_changes_cursor()});
sql(q{SELECT gcal_link('alice', 'demo-refresh-bob')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice linked with another account: full sync done');
is(sql(q{SELECT deleted FROM gcalsync.calendar_list WHERE owner = 'alice' AND calendar_id = 'alice@example.com'}), 't',
	'her old primary calendar is deleted from the list');
is(live('alice', 'alice@example.com'), '0', 'its events are tombstones');
cmp_ok(sql(qq{SELECT coalesce(sum(cardinality(ids)), 0) FROM gcal_changes($cursor)
	WHERE owner = 'alice' AND table_name = 'event' AND calendar_id = 'alice\@example.com' AND op = 'delete'}), '>=', $primary_events,
	'the feed has their delete entries');
is(live('alice', $team), live('bob', $team), "the new account's team calendar is synced again, with its events");

$listen->stop;
done_testing();
