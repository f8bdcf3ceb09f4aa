# Issue 13, item 7: the sweep at the end of a full listing (rows the listing
# did not return are marked cancelled) must not depend on the wall clock
# moving forward between the listing's transactions. Here the clock is
# "set back" by an hour after a listing's first page: its start time is moved
# an hour ahead of the rows it then writes. Before, the sweep compared
# synced_at with that start and marked every row of the listing cancelled;
# now it compares the ticks of gcalsync.sync_clock, which only grow.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
$emu->control('PATCH', '/settings', { page_pattern => [2] });
my $node = GcalTest::node($emu, 'sweepclock');
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first sync done');
my $live = sql(q{SELECT count(*) FROM gcalsync.event WHERE owner = 'alice' AND status <> 'cancelled'});
ok($live > 4, "$live live events");

# A full resync; every events.list after the first pages hangs a while.
# (`skip => 4` is the fault's own count of requests it lets through, not a
# skipped test: the first four events.list requests pass, so the resync's
# listings are under way (first pages written, starts noted) before the
# next pages hang; the 5 s delay keeps them in flight while the test moves
# those starts. The test does not wait on the delay: it waits for the hit.)
my $f = $emu->control('POST', '/faults', { path => '/events$', user => 'alice', action => 'pass', delay => 5, skip => 4, count => -1 });
is(sql(q{SELECT gcal_resync('alice')}), '1', 'full resync requested');
GcalTest::wait_fault_hit($emu, $f, 1);
# The clock steps back an hour: the listings under way began "an hour later"
# than the rows they write from now on.
my $moved = sql(q{WITH m AS (UPDATE gcalsync.sync_token SET full_sync_started_at = full_sync_started_at + interval '1 hour'
	WHERE owner = 'alice' AND full_sync_started_at IS NOT NULL RETURNING 1) SELECT count(*) FROM m});
ok($moved > 0, "listings under way: $moved");
$emu->control('DELETE', '/faults');
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: the full resync is done');
is(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner = 'alice' AND status <> 'cancelled'}), $live,
	'no live event was marked cancelled by the sweep');
ok(GcalTest::mirror_matches($node, $emu, 'alice', 'demo-refresh-alice'), 'the tables match Google');

$node->stop;
$emu->stop;
done_testing();
