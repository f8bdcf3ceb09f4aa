# Resilience: a calendars.get lost to a restart. The calendar list's page
# commits (with its sync token) before the worker asks calendars.get for the
# calendars it names; a server stopped in between used to leave those
# calendars without their calendar resource for good, because the next,
# incremental list names them no more.
#
# Expected: after the restart the worker fetches every live calendar of the
# list that has no stored resource, and the mirror equals the emulator's.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'lost_get');
sub sql { return $node->safe_psql('postgres', $_[0]); }

# Every calendars.get hangs (a delay fault on /calendars/<id> only, not on
# the events or the list): the list commits, the gets are in flight.
my $f = $emu->control('POST', '/faults', { path => '^/calendar/v3/calendars/[^/]+$', action => 'pass', delay => 30, count => -1 });
sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
GcalTest::wait_fault_hit($emu, $f, 1);
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM gcalsync.calendar_list WHERE owner = 'alice'}),
	'the calendar list is stored');
is(sql(q{SELECT count(*) FROM gcalsync.calendar WHERE owner = 'alice'}), '0', 'no calendar resource yet (the gets hang)');

# The server stops mid-get; the gets answer again after the restart.
$node->stop('immediate');
$emu->control('DELETE', "/faults/$f->{id}");
$node->start;
is(sql(q{SELECT gcal_sync_now('alice'); SELECT gcal_wait('alice', '60s')}), "\nt", 'alice synced after the restart');
is(sql(q{SELECT count(*) FROM gcalsync.calendar_list l WHERE owner = 'alice' AND NOT deleted
	AND NOT EXISTS (SELECT FROM gcalsync.calendar c WHERE c.owner = l.owner AND c.calendar_id = l.calendar_id)}),
	'0', 'every live calendar of the list has its resource');
ok(GcalTest::mirror_matches($node, $emu, 'alice', 'demo-refresh-alice'), 'the mirror matches Google');
$node->stop;
$emu->stop;
done_testing();
