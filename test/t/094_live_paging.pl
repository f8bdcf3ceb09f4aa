# Issue 13, item 13: Google promises no consistency between the pages of a
# listing. The emulator pages live (GcalTest's default): events changed,
# added or deleted while the worker pages show up in later pages or not, and
# the listing's sync token is that of its first page. The worker must still
# converge: what changed while it paged comes with the next incremental sync,
# and the sweep of a full listing tombstones nothing that is still there.
# Page tokens expire too: a page asked for too late is refused (400) and the
# worker starts the listing again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'generate:1,1,14,7');
my ($cal, $refresh) = ('user0001@example.com', 'gen-refresh-user0001');
# (No polls: every listing is one this test asked for, so the faults below
# hit the pages they are meant for.)
my $node = GcalTest::node($emu, 'live', q{
gcalsync.poll_interval = '1h'
});
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub emu_events { return [ map { $_->{event} } @{ $emu->control('GET', "/calendars/$cal/events") } ]; }

# Pages of 3 events: 5 or more pages for one listing.
$emu->control('PATCH', '/settings', { page_pattern => [3] });
my @events = @{ emu_events() };
ok(@events >= 12, scalar(@events) . ' events');

# The first full listing: its second page waits 3 s at Google; meanwhile
# events of page 1 and of later pages change, one of each is deleted and one
# is added. (`skip => 1` is the fault's own count: it lets the first matching
# request, page 1, through untouched and holds the next one; no check is
# skipped.)
my $f = $emu->control('POST', '/faults', { path => '/events$', user => 'user0001', action => 'pass',
	delay => 3, skip => 1, count => 1 });
sql(q{SELECT gcal_link('u', 'gen-refresh-user0001')});
GcalTest::wait_fault_hit($emu, $f, 1);
$emu->control('PATCH', "/calendars/$cal/events/$events[0]{id}", { summary => 'changed after page 1 (page 1)' });
$emu->control('PATCH', "/calendars/$cal/events/$events[1]{id}", { summary => 'changed after page 1 (page 1, too)' });
$emu->control('PATCH', "/calendars/$cal/events/$events[7]{id}", { summary => 'changed before its page' });
$emu->control('DELETE', "/calendars/$cal/events/$events[2]{id}");
$emu->control('DELETE', "/calendars/$cal/events/$events[9]{id}");
$emu->control('POST', "/calendars/$cal/events", { events => [ {
	summary => 'added while paging', start => { dateTime => '2030-01-01T10:00:00Z' },
	end => { dateTime => '2030-01-01T11:00:00Z' } } ] });
is(sql(q{SELECT gcal_wait('u', '60s')}), 't', 'first full sync done');
my $ids = join ',', map { "'$_->{id}'" } @events;
is(sql(qq{SELECT count(*) FROM gcalsync.event WHERE owner = 'u' AND event_id IN ($ids)}), scalar(@events),
	'the full listing skipped none of the events that existed when it started');
# The next incremental sync brings what changed while the worker paged.
sql(q{SELECT gcal_sync_now('u')});
is(sql(q{SELECT gcal_wait('u', '60s')}), 't', 'incremental sync done');
ok(GcalTest::mirror_matches($node, $emu, 'u', $refresh), 'the mirror equals Google after the next incremental sync');
is(sql(qq{SELECT summary FROM gcalsync.event WHERE owner = 'u' AND event_id = '$events[0]{id}'}),
	'changed after page 1 (page 1)', 'a change to an event of page 1 made while paging arrived');

# A full listing again (gcal_resync: its sweep tombstones rows the listing
# did not return), with changes while it pages and an expired page token: the
# second page is asked for after the token's lifetime (again `skip => 1`: page
# 1 passes, the request after it waits).
$emu->control('PATCH', '/settings', { page_token_lifetime => 2 });
my $seq = GcalTest::log_seq($emu);
$f = $emu->control('POST', '/faults', { path => '/events$', user => 'user0001', action => 'pass',
	delay => 4, skip => 1, count => 1 });
sql(q{SELECT gcal_resync('u')});
GcalTest::wait_fault_hit($emu, $f, 1);
@events = @{ emu_events() };
$emu->control('PATCH', "/calendars/$cal/events/$events[0]{id}", { summary => 'changed during the resync' });
$emu->control('DELETE', "/calendars/$cal/events/$events[4]{id}");
is(sql(q{SELECT gcal_wait('u', '60s')}), 't', 'resync done');
my @refused = grep { ($_->{status} // 0) == 400 && exists $_->{query}{pageToken} }
  @{ GcalTest::api_requests($emu, $seq, 'user0001') };
ok(@refused >= 1, 'a page token was refused as expired (' . scalar(@refused) . ' time(s)); the listing started again');
is(sql(q{SELECT state FROM gcalsync.status WHERE owner = 'u'}), 'active', 'the owner is active');
$emu->control('PATCH', '/settings', { page_token_lifetime => 600 });
sql(q{SELECT gcal_sync_now('u')});
is(sql(q{SELECT gcal_wait('u', '60s')}), 't', 'incremental sync done');
ok(GcalTest::mirror_matches($node, $emu, 'u', $refresh), 'the mirror equals Google after the resync');

$node->stop;
$emu->stop;
done_testing();
