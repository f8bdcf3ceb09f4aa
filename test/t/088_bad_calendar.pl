# One bad calendar does not starve its owner (issue 13, item 9): a calendar
# whose events.list keeps answering 5xx, 429, 410 (to full listings too) or a
# malformed page fails alone. The owner's other calendars sync in the same
# rounds, the owner stays active, and calendar_sync / calendar_status say
# which calendar fails and why; it is tried again on its own backoff and
# recovers when Google answers again. Only when every calendar of the owner
# fails is the owner in backoff.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'badcal');

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first full sync done');

my $holiday = 'en.usa#holiday@group.v.calendar.google.com';
my $holiday_path = 'calendars/en\.usa#holiday@group\.v\.calendar\.google\.com/events$';

sub round
{
	sql(q{SELECT gcal_sync_now('alice')});
	return sql(q{SELECT gcal_wait('alice', '60s')});
}

sub hits
{
	my ($f) = @_;
	my ($x) = grep { $_->{id} == $f->{id} } @{ $emu->control('GET', '/faults') };
	return $x ? $x->{hits} : -1;
}

my $change = 0;

sub bad_calendar
{
	my ($name, $fault, $error) = @_;
	$change++;
	$emu->control('PATCH', '/calendars/alice%40example.com/events/3taxday00000000000000000aa', { summary => "Tax day $change" });
	my $f = $emu->control('POST', '/faults', { user => 'alice', path => $holiday_path, count => -1, %$fault });
	is(round(), 't', "$name: alice's round completes");
	ok(hits($f) >= 1, "$name: the bad calendar was asked");
	is(GcalTest::owner_state($node, 'alice'), 'active|', "$name: alice stays active");
	is(sql(q{SELECT summary FROM gcalsync.event WHERE owner = 'alice' AND event_id = '3taxday00000000000000000aa'}),
		"Tax day $change", "$name: the other calendar's change arrived");
	like(sql(qq{SELECT failures || '|' || last_error FROM gcalsync.calendar_sync WHERE owner = 'alice' AND calendar_id = '$holiday'}),
		qr/^[1-9]\d*\|.*$error/, "$name: calendar_sync says which calendar fails and why");
	like(sql(qq{SELECT state || '|' || owner_state || '|' || last_error FROM gcalsync.calendar_status
		WHERE owner = 'alice' AND calendar_id = '$holiday'}), qr/^backoff\|active\|.*$error/, "$name: calendar_status shows it");
	is(sql(qq{SELECT count(*) FROM gcalsync.calendar_sync WHERE owner = 'alice' AND calendar_id <> '$holiday' AND failures > 0}),
		'0', "$name: no other calendar failing");
	# The calendar is retried on its own schedule, without any gcal_* call.
	my $seen = hits($f);
	ok(GcalTest::wait_until(sub { hits($f) > $seen }, 60, 'the bad calendar retried'), "$name: the bad calendar is retried on its own");
	is(GcalTest::owner_state($node, 'alice'), 'active|', "$name: alice still active after the retry");
	$emu->control('DELETE', "/faults/$f->{id}");
	ok(GcalTest::wait_until(sub {
		sql(qq{SELECT failures FROM gcalsync.calendar_sync WHERE owner = 'alice' AND calendar_id = '$holiday'}) eq '0' }, 60,
		'the bad calendar recovers'), "$name: the calendar recovers by itself");
	is(sql(qq{SELECT coalesce(last_error, '') FROM gcalsync.calendar_sync WHERE owner = 'alice' AND calendar_id = '$holiday'}),
		'', "$name: its error is cleared");
}

bad_calendar('500 backendError', { preset => 'backendError' }, 'HTTP 500 backendError');
bad_calendar('429 tooManyRequests', { preset => 'tooManyRequests' }, 'HTTP 429');
bad_calendar('410 to every listing', { preset => 'fullSyncRequired' }, 'keeps answering 410');
bad_calendar('malformed page', { action => 'malformed' }, 'malformed events page');

ok(GcalTest::mirror_matches($node, $emu, 'alice', 'demo-refresh-alice'), 'alice: mirror equals the API after the recoveries');

# ---- every calendar failing: the owner is in backoff ---------------------------------------
{
	my $f = $emu->control('POST', '/faults', { user => 'alice', path => '/events$', preset => 'backendError', count => -1 });
	sql(q{SELECT gcal_sync_now('alice')});
	like(GcalTest::wait_state($node, 'alice', 'backoff'), qr/^backoff\|calendar ".*": HTTP 500 backendError/,
		'every calendar failing: alice in backoff with a calendar\'s error');
	$emu->control('DELETE', "/faults/$f->{id}");
	is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'every calendar failing: alice recovers');
	ok(GcalTest::wait_until(sub { sql(q{SELECT count(*) FROM gcalsync.calendar_sync WHERE owner = 'alice' AND enabled AND failures > 0}) eq '0' },
		60, 'all calendars recovered'), 'every calendar failing: all calendars recover');
	is(GcalTest::owner_state($node, 'alice'), 'active|', 'every calendar failing: alice active again');
}

done_testing();
