# Calendar metadata staleness (issue 13, item 11): Google's calendarList sync
# token does not report a calendar whose summary or time zone changed (they
# are read-only properties of the calendar), so an incremental list sync
# never brings them. The events.list envelope carries both: when they differ
# from what is stored, gcalsync.calendar and the calendar_list entry are
# updated (summary_override stays), announced by NOTIFY and in the feed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'calmeta');

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first full sync done');
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob: first full sync done');

my $team = sql(q{SELECT calendar_id FROM gcalsync.calendar_list WHERE owner = 'bob' AND summary_override IS NOT NULL});
like($team, qr/\@/, "bob's shared team calendar: $team");
(my $team_path = $team) =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord($1))/ge;

sub meta
{
	my ($owner) = @_;
	return sql(qq{SELECT c.summary || '|' || c.time_zone || '|' || (c.data->>'summary') || '|' || (c.data->>'timeZone') || '|'
		|| l.summary || '|' || l.time_zone || '|' || coalesce(l.summary_override, '-')
		FROM gcalsync.calendar c JOIN gcalsync.calendar_list l USING (owner, calendar_id)
		WHERE c.owner = '$owner' AND c.calendar_id = '$team'});
}

my $before_alice = meta('alice');
unlike($before_alice, qr/Renamed team/, "before: $before_alice");
my $cursor = sql(q{SELECT gcal_changes_cursor()});
my $listen = GcalTest::listen($node);

# Rename the calendar and move its time zone; the list entries are not touched,
# as at Google (an incremental calendarList sync does not return them).
$emu->control('PATCH', "/calendars/$team_path", { summary => 'Renamed team', timeZone => 'Asia/Tokyo' });
for my $o (qw(alice bob))
{
	sql("SELECT gcal_sync_now('$o')");
	is(sql("SELECT gcal_wait('$o', '60s')"), 't', "$o: incremental sync");
}
is(meta('alice'), 'Renamed team|Asia/Tokyo|Renamed team|Asia/Tokyo|Renamed team|Asia/Tokyo|-',
	'alice: calendar and list entry carry the new summary and time zone');
is(meta('bob'), 'Renamed team|Asia/Tokyo|Renamed team|Asia/Tokyo|Renamed team|Asia/Tokyo|Team (shared)',
	'bob: the same, and his own summaryOverride stays');
is(sql(qq{SELECT count(*) FROM gcal_changes($cursor) WHERE owner = 'alice' AND op = 'upsert'
	AND table_name IN ('calendar', 'calendar_list') AND '$team' = ANY (ids)}), '2', 'the feed has the calendar and list entry changes');
ok(GcalTest::wait_until(sub {
	grep { /"table":\s*"calendar"/ && /"owner":\s*"alice"/ } @{ $listen->poll } }, 30, 'NOTIFY of the calendar'),
	'a NOTIFY announces the calendar change');

# Nothing changed: another round writes nothing more about the calendar.
$cursor = sql(q{SELECT gcal_changes_cursor()});
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: another round');
is(sql(qq{SELECT count(*) FROM gcal_changes($cursor) WHERE table_name IN ('calendar', 'calendar_list')}), '0',
	'an unchanged envelope writes nothing');

$listen->stop;
done_testing();
