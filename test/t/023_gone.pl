# Resilience (issue 5): 410 Gone (with the fullSyncRequired reason, without
# a reason, for one calendar, for all of an owner's resources, on the
# calendar list, and a 410 that persists) and 404 for one calendar of many.
#
# Expected:
# - 410 → that resource (and only that one) is listed in full again, and
#   rows the full listing does not return are marked deleted (the sweep);
#   the owner stays active; the mirror equals the emulator's data.
# - A resource that answers 410 even to full listings is given up for the
#   round after a bounded number of tries (backoff), not looped on.
# - 404 on one calendar's events or resource → that calendar is marked
#   deleted and its events tombstoned; the owner's other calendars go on in
#   the same round and the owner stays active. While the calendar list still
#   lists it, it is checked again and comes back when it answers.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');

# dave: primary calendar plus 5 more, 6 events each.
$emu->control('POST', '/users', { id => 'dave', refresh_tokens => ['demo-refresh-dave'], timeZone => 'Europe/Paris' });
my @cals = ('dave@example.com', map { sprintf 'c_dave%02d@group.calendar.google.com', $_ } 1 .. 5);
sub enc { (my $s = $_[0]) =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord($1))/ge; return $s; }
sub ev
{
	my ($c, $i) = @_;
	return { id => sprintf('dave%02dev%02d000000000000000a', $c, $i), summary => "event $i of calendar $c",
		start => { dateTime => sprintf('2025-06-%02dT10:00:00Z', $i + 1) }, end => { dateTime => sprintf('2025-06-%02dT11:00:00Z', $i + 1) } };
}
for my $c (1 .. 5)
{
	$emu->control('POST', '/calendars', { id => $cals[$c], summary => "Dave $c", timeZone => 'Europe/Paris',
		members => { dave => { accessRole => 'owner' } }, events => [ map { ev($c, $_) } 1 .. 6 ] });
}
$emu->control('POST', '/calendars/' . enc($cals[0]) . '/events', { events => [ map { ev(0, $_) } 1 .. 6 ] });

my $node = GcalTest::node($emu, 'gone');
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub round
{
	my ($owner) = @_;
	sql("SELECT gcal_sync_now('$owner')");
	return sql("SELECT gcal_wait('$owner', '60s')");
}
sub event_id { return sprintf('dave%02dev%02d000000000000000a', @_); }
sub status_of { return sql("SELECT status FROM gcalsync.event WHERE owner = 'dave' AND event_id = '" . event_id(@_) . "'"); }

sql(q{SELECT gcal_link('dave', 'demo-refresh-dave')});
sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('dave', '60s')}), 't', 'dave: first full sync done');
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first full sync done');
is(sql(q{SELECT calendars || '|' || events FROM gcal_status('dave')}), '6|36', 'dave: 6 calendars, 36 events');
my $pid = GcalTest::worker_pid($node);

# listings(since, calendar) → "sync|full" per request of that calendar's events.
sub listings
{
	my ($since, $cal) = @_;
	return join ',', map { (exists $_->{query}{syncToken} ? 'sync' : 'full') . ':' . $_->{status} }
	  grep { $_->{api} eq 'events.list' && $_->{path} =~ m{/calendars/\Q$cal\E/events$} } @{ GcalTest::api_requests($emu, $since, 'dave') };
}

# ---- 410 fullSyncRequired for one calendar ------------------------------------------
{
	$emu->control('DELETE', '/calendars/' . enc($cals[1]) . '/events/' . event_id(1, 1) . '?silent=true');
	$emu->control('PATCH', '/calendars/' . enc($cals[2]) . '/events/' . event_id(2, 1), { summary => 'changed' });
	$emu->control('POST', '/sync-tokens/invalidate', { user => 'dave', calendar => $cals[1], variant => 'fullSyncRequired' });
	my $seq = GcalTest::log_seq($emu);
	is(round('dave'), 't', '410 fullSyncRequired: round done');
	is(listings($seq, $cals[1]), 'sync:410,full:200', '410 fullSyncRequired: the calendar was listed in full again');
	is(listings($seq, $cals[2]), 'sync:200', 'the other calendars stayed incremental');
	is(status_of(1, 1), 'cancelled', 'the silently deleted event was swept (cancelled)');
	is(sql("SELECT summary FROM gcalsync.event WHERE owner = 'dave' AND event_id = '" . event_id(2, 1) . "'"), 'changed',
		'the change in another calendar arrived');
	is(GcalTest::owner_state($node, 'dave'), 'active|', 'dave stays active');
}

# ---- 410 without a reason for every resource of the owner ------------------------------
{
	$emu->control('DELETE', '/calendars/' . enc($cals[3]) . '/events/' . event_id(3, 1) . '?silent=true');
	$emu->control('DELETE', '/calendars/' . enc($cals[0]) . '/events/' . event_id(0, 1) . '?silent=true');
	$emu->control('DELETE', '/calendars/' . enc($cals[4]) . '/events/' . event_id(4, 2));
	$emu->control('POST', '/sync-tokens/invalidate', { user => 'dave', variant => 'noReason' });
	my $seq = GcalTest::log_seq($emu);
	is(round('dave'), 't', '410 without reason: round done');
	my @list = map { (exists $_->{query}{syncToken} ? 'sync' : 'full') . ':' . $_->{status} }
	  grep { $_->{api} eq 'calendarList.list' } @{ GcalTest::api_requests($emu, $seq, 'dave') };
	is(join(',', @list), 'sync:410,full:200', '410 without reason: the calendar list was listed in full again');
	is(listings($seq, $_), 'sync:410,full:200', "410 without reason: $_ listed in full again") for @cals;
	is(status_of(3, 1) . status_of(0, 1) . status_of(4, 2), 'cancelled' x 3, 'silent and ordinary deletions are cancelled');
	is(sql(q{SELECT calendars || '|' || events FROM gcal_status('dave')}), '6|32', 'dave: 6 calendars, 32 events');
	GcalTest::mirror_matches($node, $emu, 'dave', 'demo-refresh-dave');
}

# ---- 410 injected as an answer (both presets), on events and on the calendar list ------
for my $case ([ 'fullSyncRequired', "calendars/\Q$cals[5]\E/events\$" ], [ 'goneNoReason', 'calendarList$' ])
{
	my ($preset, $path) = @$case;
	$emu->control('PATCH', '/calendars/' . enc($cals[5]) . '/events/' . event_id(5, 3), { summary => "after $preset" });
	my $f = $emu->control('POST', '/faults', { user => 'dave', path => $path, preset => $preset, count => 1 });
	my $seq = GcalTest::log_seq($emu);
	is(round('dave'), 't', "injected 410 $preset: round done");
	is(GcalTest::wait_fault_hit($emu, $f), 1, "injected 410 $preset: served");
	my @full = grep { !exists $_->{query}{syncToken} && $_->{path} =~ /$path/ } @{ GcalTest::api_requests($emu, $seq, 'dave') };
	is(scalar(@full), 1, "injected 410 $preset: one full listing followed");
	is(sql("SELECT summary FROM gcalsync.event WHERE owner = 'dave' AND event_id = '" . event_id(5, 3) . "'"), "after $preset",
		"injected 410 $preset: the change arrived");
	is(GcalTest::owner_state($node, 'dave'), 'active|', "injected 410 $preset: dave stays active");
}
GcalTest::mirror_matches($node, $emu, 'dave', 'demo-refresh-dave');

# ---- a 410 that never ends: bounded; that calendar fails, not dave (issue 13, item 9) ----
{
	my $seq = GcalTest::log_seq($emu);
	my $f = $emu->control('POST', '/faults', { user => 'dave', path => "calendars/\Q$cals[4]\E/events\$", preset => 'goneNoReason', count => -1 });
	is(round('dave'), 't', 'persistent 410: the round ends');
	my $n = () = listings($seq, $cals[4]) =~ /410/g;
	like(sql("SELECT failures || '|' || last_error FROM gcalsync.calendar_sync WHERE owner = 'dave' AND calendar_id = '$cals[4]'"),
		qr/^[1-9]\d*\|calendar "\Q$cals[4]\E" keeps answering 410/, 'persistent 410: that calendar fails with the reason');
	is(GcalTest::owner_state($node, 'dave'), 'active|', 'persistent 410: dave stays active');
	ok($n >= 2 && $n <= 4, "persistent 410: $n tries in the round, then it gave up");
	is(round('alice'), 't', 'persistent 410: alice syncs meanwhile');
	$emu->control('DELETE', "/faults/$f->{id}");
	sql(q{SELECT gcal_sync_now('dave')});
	is(sql(q{SELECT gcal_wait('dave', '60s')}), 't', 'persistent 410: dave recovers once it stops');
	GcalTest::mirror_matches($node, $emu, 'dave', 'demo-refresh-dave');
}

# ---- 404 for one calendar of many ---------------------------------------------------------
{
	my $live = sql("SELECT count(*) FROM gcalsync.event WHERE owner = 'dave' AND calendar_id = '$cals[3]' AND status <> 'cancelled'");
	my $f = $emu->control('POST', '/faults', { user => 'dave', path => "calendars/\Q$cals[3]\E/events\$", preset => 'notFound', count => -1 });
	$emu->control('PATCH', '/calendars/' . enc($cals[$_]) . '/events/' . event_id($_, 4), { summary => 'after the 404' }) for 0 .. 5;
	is(round('dave'), 't', '404 on one calendar: the round succeeds');
	is(sql("SELECT deleted FROM gcalsync.calendar_list WHERE owner = 'dave' AND calendar_id = '$cals[3]'"), 't',
		'404 on one calendar: it is marked deleted');
	is(sql("SELECT enabled || '|' || last_error FROM gcalsync.calendar_sync WHERE owner = 'dave' AND calendar_id = '$cals[3]'"),
		'true|calendar not found (404)', '404 on one calendar: checked again later while listed');
	is(sql("SELECT count(*) FROM gcalsync.event WHERE owner = 'dave' AND calendar_id = '$cals[3]' AND status <> 'cancelled'"), '0',
		'404 on one calendar: its events are tombstones (issue 13, item 10)');
	is(sql(q{SELECT string_agg(calendar_id, ',' ORDER BY calendar_id) FROM gcalsync.event WHERE owner = 'dave' AND summary = 'after the 404'}),
		join(',', sort grep { $_ ne $cals[3] } @cals), '404 on one calendar: the others went on in the same round');
	is(sql(q{SELECT state || '|' || calendars FROM gcal_status('dave')}), 'active|5', '404 on one calendar: dave active, 5 calendars');
	$emu->control('DELETE', "/faults/$f->{id}");
	# Still listed, and it answers again: it comes back, listed in full.
	is(round('dave'), 't', '404 on one calendar: next round');
	is(sql("SELECT deleted FROM gcalsync.calendar_list WHERE owner = 'dave' AND calendar_id = '$cals[3]'"), 'f',
		'404 on one calendar: answering again, it comes back');
	is(sql("SELECT count(*) FROM gcalsync.event WHERE owner = 'dave' AND calendar_id = '$cals[3]' AND status <> 'cancelled'"), $live,
		"404 on one calendar: with its $live live events");
	is(sql(q{SELECT state || '|' || calendars FROM gcal_status('dave')}), 'active|6', '404 on one calendar: dave active, 6 calendars');

	# 404 on calendars.get of a listed calendar (deleted at Google between the two calls).
	$f = $emu->control('POST', '/faults', { user => 'dave', path => "calendars/\Q$cals[2]\E\$", preset => 'notFound', count => -1 });
	$emu->control('PUT', '/users/dave/calendarList/' . enc($cals[2]), { colorId => '7' });
	is(round('dave'), 't', '404 on calendars.get: the round succeeds');
	is(sql("SELECT deleted FROM gcalsync.calendar_list WHERE owner = 'dave' AND calendar_id = '$cals[2]'"), 't',
		'404 on calendars.get: the calendar is marked deleted');
	is(sql(q{SELECT state || '|' || calendars FROM gcal_status('dave')}), 'active|5', '404 on calendars.get: dave active, 5 calendars');
	$emu->control('DELETE', "/faults/$f->{id}");

	# Now Google agrees: dave lost both calendars.
	$emu->control('DELETE', '/users/dave/calendarList/' . enc($cals[$_])) for 3, 2;
	is(round('dave'), 't', 'round after the calendars are really gone');
	GcalTest::mirror_matches($node, $emu, 'dave', 'demo-refresh-dave');
	GcalTest::mirror_matches($node, $emu, 'alice', 'demo-refresh-alice');
}

is(GcalTest::worker_pid($node), $pid, 'the worker never restarted');
$node->stop;
$emu->stop;
done_testing();
