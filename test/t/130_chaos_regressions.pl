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

$node->stop;
$emu->stop;
done_testing();
