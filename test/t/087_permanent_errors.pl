# Google's permanent errors (issue 13, item 8) end in a documented state, not
# in backoff retried forever:
# - 403 insufficientPermissions (any call), accessNotConfigured (any call),
#   forbidden (on the calendar list), and a token grant whose `scope` lacks
#   the Calendar scope (granular consent) -> state `error` with a clear
#   last_error, no further request until gcal_refresh;
# - 403 forbidden on one calendar's events -> only that calendar fails
#   (calendar_sync.last_error), the owner stays active;
# - 403 dailyLimitExceeded -> `backoff` until the next midnight Pacific time;
# - 400 to a sync token -> a full listing, like 410.
# Other owners sync meanwhile. Rounds are driven by gcal_sync_now/gcal_wait.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'permanent');

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first full sync done');
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob: first full sync done');

sub round
{
	my ($owner) = @_;
	sql("SELECT gcal_sync_now('$owner')");
	return sql("SELECT gcal_wait('$owner', '60s')");
}

sub hits
{
	my ($f) = @_;
	my ($x) = grep { $_->{id} == $f->{id} } @{ $emu->control('GET', '/faults') };
	return $x ? $x->{hits} : -1;
}

# permanent(name, fault, error_regex, expire => 1): alice ends in `error`
# with the reason, is not retried, bob syncs meanwhile, gcal_refresh recovers.
sub permanent
{
	my ($name, $fault, $error, %opt) = @_;
	$emu->control('POST', '/access-tokens/expire', { user => 'alice' }) if $opt{expire};
	my $f = $emu->control('POST', '/faults', { user => 'alice', count => -1, %$fault });
	sql(q{SELECT gcal_sync_now('alice')});
	like(GcalTest::wait_state($node, 'alice', 'error'), qr/^error\|.*$error/, "$name: alice in error, last_error says why");
	my $seen = hits($f);
	# gcal_sync_now does not revive an owner in error; bob's rounds go on.
	sql(q{SELECT gcal_sync_now('alice')});
	is(round('bob'), 't', "$name: bob syncs meanwhile");
	is(round('bob'), 't', "$name: bob syncs again");
	is(hits($f), $seen, "$name: no retry of alice (fault hit $seen time(s))");
	like(GcalTest::owner_state($node, 'alice'), qr/^error\|/, "$name: alice stays in error");
	$emu->control('DELETE', "/faults/$f->{id}");
	sql(q{SELECT gcal_refresh('alice', 'demo-refresh-alice')});
	is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', "$name: gcal_refresh recovers alice");
	is(GcalTest::owner_state($node, 'alice'), 'active|', "$name: alice active, error cleared");
}

permanent('403 insufficientPermissions on events.list', { path => '/events$', preset => 'insufficientPermissions' },
	'HTTP 403 insufficientPermissions: Request had insufficient authentication scopes');
permanent('403 insufficientPermissions on the calendar list', { path => 'calendarList$', preset => 'insufficientPermissions' },
	'calendar list: HTTP 403 insufficientPermissions');
permanent('403 accessNotConfigured', { path => 'calendarList$', preset => 'accessNotConfigured' },
	'calendar list: HTTP 403 accessNotConfigured: Google Calendar API has not been used');
permanent('403 forbidden on the calendar list', { path => 'calendarList$', preset => 'forbidden' },
	'calendar list: HTTP 403 forbidden');
permanent('grant without the Calendar scope', { path => '^/token$', preset => 'grantWithoutCalendarScope' },
	'the grant lacks the Google Calendar scope \(granted: openid https://www.googleapis.com/auth/userinfo.email\)', expire => 1);

# ---- 403 forbidden on one calendar: that calendar fails, not the owner ----------------
{
	my $f = $emu->control('POST', '/faults', { user => 'alice', path => 'calendars/en\.usa#holiday@group\.v\.calendar\.google\.com/events$',
		preset => 'forbidden', count => -1 });
	is(round('alice'), 't', 'forbidden on one calendar: alice round succeeds');
	ok(hits($f) >= 1, 'forbidden on one calendar: the calendar was asked');
	is(GcalTest::owner_state($node, 'alice'), 'active|', 'forbidden on one calendar: alice stays active');
	like(sql(q{SELECT failures || '|' || last_error FROM gcalsync.calendar_sync
		WHERE owner = 'alice' AND calendar_id = 'en.usa#holiday@group.v.calendar.google.com'}),
		qr/^[1-9]\d*\|HTTP 403 forbidden/, 'forbidden on one calendar: calendar_sync says which and why');
	$emu->control('DELETE', "/faults/$f->{id}");
	sql(q{UPDATE gcalsync.calendar_sync SET next_sync_at = now() WHERE owner = 'alice'});
	is(round('alice'), 't', 'forbidden on one calendar: recovers');
	is(sql(q{SELECT failures || '|' || coalesce(last_error, '') FROM gcalsync.calendar_sync
		WHERE owner = 'alice' AND calendar_id = 'en.usa#holiday@group.v.calendar.google.com'}), '0|', 'forbidden on one calendar: error cleared');
}

# ---- 403 dailyLimitExceeded: backoff until midnight Pacific time ------------------------
{
	my $f = $emu->control('POST', '/faults', { user => 'alice', path => 'calendarList$', preset => 'dailyLimitExceeded', count => -1 });
	sql(q{SELECT gcal_sync_now('alice')});
	like(GcalTest::wait_state($node, 'alice', 'backoff'), qr/^backoff\|calendar list: HTTP 403 dailyLimitExceeded.*midnight Pacific time/,
		'dailyLimitExceeded: alice in backoff, last_error says until when');
	my $off = sql(q{SELECT round(extract(epoch FROM next_sync_at
			- ((date_trunc('day', now() AT TIME ZONE 'America/Los_Angeles') + interval '1 day') AT TIME ZONE 'America/Los_Angeles')))
		FROM gcalsync.owner WHERE owner = 'alice'});
	ok(abs($off) <= 5, "dailyLimitExceeded: next attempt at the next midnight Pacific time (off by $off s)");
	my $seen = hits($f);
	is(round('bob'), 't', 'dailyLimitExceeded: bob syncs meanwhile');
	is(hits($f), $seen, 'dailyLimitExceeded: alice not retried before then');
	$emu->control('DELETE', "/faults/$f->{id}");
	# gcal_sync_now asks for an attempt now.
	is(round('alice'), 't', 'dailyLimitExceeded: gcal_sync_now tries again at once and recovers');
	is(GcalTest::owner_state($node, 'alice'), 'active|', 'dailyLimitExceeded: alice active again');
}

# ---- 400 to a sync token: a full listing, like 410 -------------------------------------
{
	$emu->control('PATCH', '/calendars/alice%40example.com/events/3taxday00000000000000000aa', { summary => 'Tax day 400' });
	my $seq = GcalTest::log_seq($emu);
	my $f = $emu->control('POST', '/faults', { user => 'alice', path => 'calendars/alice@example\.com/events$',
		preset => 'invalidSyncToken', count => 1 });
	is(round('alice'), 't', '400 to a sync token: the round succeeds');
	my @cal = grep { ($_->{path} // '') =~ m{calendars/alice(?:%40|@)example\.com/events$} } @{ GcalTest::api_requests($emu, $seq, 'alice') };
	ok(@cal >= 2 && ($cal[0]{fault} // 0) == $f->{id} && defined $cal[0]{query}{syncToken},
		'400 to a sync token: the refused request carried a sync token');
	ok(@cal >= 2 && !defined $cal[1]{query}{syncToken} && !defined $cal[1]{query}{pageToken},
		'400 to a sync token: followed by a full listing');
	is(GcalTest::owner_state($node, 'alice'), 'active|', '400 to a sync token: alice active');
	is(sql(q{SELECT summary FROM gcalsync.event WHERE owner = 'alice' AND event_id = '3taxday00000000000000000aa'}),
		'Tax day 400', '400 to a sync token: the change arrived');
	ok(GcalTest::mirror_matches($node, $emu, 'alice', 'demo-refresh-alice'), '400 to a sync token: mirror equals the API');
}

done_testing();
