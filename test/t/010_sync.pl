# The sync engine end to end: real worker, real libcurl, the bundled Google
# emulator over loopback. Full sync, typed columns, incremental changes,
# NOTIFY, 410 with the sweep of silently deleted rows, gcal_resync, 404,
# revoked tokens, gcal_refresh, short pages and unlink.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'sync');

sub sql { return $node->safe_psql('postgres', $_[0]); }

# mirror_matches(owner, refresh_token) compares every non-deleted calendar of
# the owner with what the emulator's API returns for a full listing: the same
# events with the same status; rows the API no longer lists at all (deleted
# silently) may remain only as tombstones.
sub mirror_matches
{
	my ($owner, $refresh) = @_;
	my $access = $emu->token($refresh);
	my $list = $emu->list($access, '/users/me/calendarList', { showDeleted => 'true', showHidden => 'true' });
	my $db_list = sql("SELECT string_agg(calendar_id || ':' || CASE WHEN deleted THEN 't' ELSE 'f' END, ',' ORDER BY calendar_id)
		FROM gcalsync.calendar_list WHERE owner = '$owner'");
	my $api_list = join ',', map { "$_->{id}:" . ($_->{deleted} ? 't' : 'f') } sort { $a->{id} cmp $b->{id} } @$list;
	is($db_list, $api_list, "$owner: calendar_list equals the API's");
	for my $entry (grep { !$_->{deleted} } @$list)
	{
		my $cal = $entry->{id};
		(my $path_id = $cal) =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord($1))/ge;
		my $items = $emu->list($access, "/calendars/$path_id/events",
			{ singleEvents => 'false', showDeleted => 'true', maxResults => 2500 });
		my $api = join ',', map { "$_->{id}:" . ($_->{status} // 'confirmed') } sort { $a->{id} cmp $b->{id} } @$items;
		my $listed = join ',', map { "'$_->{id}'" } @$items;
		$listed = "''" if $listed eq '';
		my $db = $node->safe_psql('postgres', qq{SELECT coalesce(string_agg(event_id || ':' || status, ',' ORDER BY event_id), '')
			FROM gcalsync.event WHERE owner = '$owner' AND calendar_id = \$cal\$$cal\$cal\$
			AND (event_id IN ($listed) OR status <> 'cancelled')});
		is($db, $api, "$owner: events of $cal equal the API's");
	}
}

# ---- full sync -----------------------------------------------------------------
sql(q{
	SELECT gcal_link('alice', 'demo-refresh-alice');
	SELECT gcal_link('bob', 'demo-refresh-bob');
	SELECT gcal_link('carol', 'demo-refresh-carol');
	SELECT gcal_link('erin', 'demo-refresh-erin-revoked');
});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first full sync done');
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob: first full sync done');
is(sql(q{SELECT gcal_wait('carol', '60s')}), 't', 'carol: first full sync done');
is(sql(q{SELECT gcal_wait('erin', '60s')}), 'f', 'erin: gcal_wait is false for a revoked token');
is(sql(q{SELECT state, last_error LIKE '%invalid_grant%' FROM gcal_status('erin')}), 'revoked|t',
	'erin: revoked, with the reason');
is(sql(q{SELECT state, last_sync_at IS NOT NULL, calendars > 0, events > 0 FROM gcal_status('alice')}),
	'active|t|t|t', 'alice: active with counts');

mirror_matches('alice', 'demo-refresh-alice');
mirror_matches('bob', 'demo-refresh-bob');
mirror_matches('carol', 'demo-refresh-carol');

# What gcalsync asked for: Google's parameters, and never a forbidden one.
my $lists = $emu->log(api => 'events.list');
ok(scalar(@$lists) > 0, 'events.list was called');
my @bad = grep {
	my $q = $_->{query};
	($q->{singleEvents} // '') ne 'false' || ($q->{showDeleted} // '') ne 'true' || ($q->{maxResults} // '') ne '2500'
	  || grep { exists $q->{$_} } qw(timeMin timeMax updatedMin q orderBy iCalUID)
} @$lists;
is(scalar(@bad), 0, 'every events.list used singleEvents=false, showDeleted=true, maxResults=2500 and no forbidden parameter');
ok(!grep({ ($_->{headers}{authorization} // '') ne 'Bearer' } @$lists), 'every API call carried a bearer token');

# ---- typed columns ------------------------------------------------------------------
is(sql(q{SELECT start_date, end_date, start_at IS NULL FROM gcalsync.event WHERE event_id = '4zerolength0allday00000000'}),
	'2025-05-05|2025-05-05|t', 'all-day event with start == end kept exactly');
is(sql(q{SELECT start_date, end_date FROM gcalsync.event WHERE owner = 'alice' AND event_id = '3taxday00000000000000000aa'}),
	'2025-04-15|2025-04-16', 'one-day all-day event: end_date exclusive');
is(sql(q{SELECT created IS NULL, data->>'created' FROM gcalsync.event WHERE event_id = '5legacy0exchange0import000'}),
	't|0000-12-31T00:00:00Z', 'year 0: typed column NULL, data verbatim');
is(sql(q{SELECT status, recurring_event_id, original_start_at, summary IS NULL FROM gcalsync.event
	WHERE event_id = '5hni4sj3ql1669otmjg7sn1mok_20250325T130000Z'}),
	'cancelled|5hni4sj3ql1669otmjg7sn1mok|2025-03-25 13:00:00+00|t', 'cancelled exception stub');
is(sql(q{SELECT time_zone, start_at, recurrence FROM gcalsync.event WHERE event_id = '5hni4sj3ql1669otmjg7sn1mok'}),
	'America/Chicago|2025-03-04 14:00:00+00|{RRULE:FREQ=WEEKLY;BYDAY=TU}', 'recurring master: zone, instant, recurrence');
is(sql(q{SELECT deleted, hidden FROM gcalsync.calendar_list WHERE owner = 'alice' AND calendar_id = 'c_3d7a0e5f9b2c1d48@group.calendar.google.com'}),
	't|f', 'deleted calendar list entry kept with deleted = true');
is(sql(q{SELECT count(*) FROM gcalsync.calendar_sync WHERE owner = 'alice' AND calendar_id = 'c_3d7a0e5f9b2c1d48@group.calendar.google.com' AND enabled}),
	'0', 'deleted calendar is not synced');
is(sql(q{SELECT hidden, summary_override FROM gcalsync.calendar_list WHERE owner = 'bob' AND calendar_id = 'c_5e2b9d0a7f1c3e84@group.calendar.google.com'}),
	't|', 'hidden calendar synced with hidden = true');
is(sql(q{SELECT time_zone FROM gcalsync.calendar WHERE owner = 'alice' AND calendar_id = 'en.usa#holiday@group.v.calendar.google.com'}),
	'America/New_York', 'calendars.get of an id with # and @');
is(sql(q{SELECT count(DISTINCT owner) FROM gcalsync.event WHERE calendar_id = 'c_9a1f3e6b2d8c4a7e@group.calendar.google.com'}),
	'3', 'a shared calendar is mirrored once per owner');

# ---- incremental sync and NOTIFY ----------------------------------------------------
my $cal = 'alice@example.com';
$emu->control('PATCH', '/calendars/alice%40example.com/events/1c8v2u9k0mdlp3q4r5s6t7u8v9', { summary => 'Quarterly planning (moved)' });
$emu->control('POST', '/calendars/alice%40example.com/events', { id => 'newevent0000000000000000aa', summary => 'New one',
	start => { dateTime => '2025-05-01T10:00:00+02:00' }, end => { dateTime => '2025-05-01T11:00:00+02:00' } });
$emu->control('DELETE', '/calendars/alice%40example.com/events/6unicode0cafe0tanaka000000');
my $seq = $emu->control('GET', '/state')->{seq};
my $before = scalar @{ $emu->log(api => 'events.list') };
my $out = sql(q{
	LISTEN gcalsync;
	SELECT gcal_sync_now('alice');
	SELECT gcal_wait('alice', '60s');
	SELECT 1;
});
like($out, qr/^t$/m, 'gcal_sync_now + gcal_wait');
is(sql(q{SELECT summary FROM gcalsync.event WHERE event_id = '1c8v2u9k0mdlp3q4r5s6t7u8v9'}), 'Quarterly planning (moved)', 'update arrived');
is(sql(q{SELECT start_at FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'newevent0000000000000000aa'}),
	'2025-05-01 08:00:00+00', 'insert arrived');
is(sql(q{SELECT status FROM gcalsync.event WHERE owner = 'alice' AND event_id = '6unicode0cafe0tanaka000000'}), 'cancelled',
	'deletion arrived as a tombstone');
like($out, qr/"owner":"alice","table":"event","calendar_id":"alice\@example.com","op":"upsert","ids":\[[^\]]*"newevent0000000000000000aa"/,
	'NOTIFY announced the upserts');
like($out, qr/"op":"delete","ids":\["6unicode0cafe0tanaka000000"\]/, 'NOTIFY announced the deletion');
my @incr = @{ $emu->log(api => 'events.list') }[$before .. scalar(@{ $emu->log(api => 'events.list') }) - 1];
ok(@incr > 0 && !grep({ !exists $_->{query}{syncToken} } @incr), 'incremental listings used sync tokens');
ok(!grep({ my $q = $_->{query}; grep { exists $q->{$_} } qw(timeMin timeMax updatedMin q orderBy iCalUID) } @incr),
	'no parameter Google forbids with a sync token');
mirror_matches('alice', 'demo-refresh-alice');

# ---- 410: full resync, and the sweep of what only a full listing reveals ----------------
$emu->control('DELETE', '/calendars/alice%40example.com/events/a0focus0time0000000000000a?silent=true');
$emu->control('POST', '/sync-tokens/invalidate', { user => 'alice', variant => 'noReason' });
is(sql(q{SELECT gcal_sync_now('alice'); SELECT gcal_wait('alice', '60s')}), "\nt", 'sync after 410 done');
is(sql(q{SELECT status, data->>'status' FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'a0focus0time0000000000000a'}),
	'cancelled|cancelled', 'silently deleted event marked cancelled by the full resync');
is(sql(q{SELECT state FROM gcal_status('alice')}), 'active', 'alice stays active through the 410');
mirror_matches('alice', 'demo-refresh-alice');

# ---- gcal_resync -----------------------------------------------------------------------
$emu->control('DELETE', '/calendars/bob%40example.com/events/f5call0bengaluru0000000000?silent=true');
$before = scalar @{ $emu->log(api => 'events.list') };
is(sql(q{SELECT gcal_resync('bob')}), '1', 'gcal_resync(bob)');
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob resynced');
my @full = @{ $emu->log(api => 'events.list') }[$before .. scalar(@{ $emu->log(api => 'events.list') }) - 1];
ok(@full > 0 && !grep({ exists $_->{query}{syncToken} } @full), 'gcal_resync listed in full');
is(sql(q{SELECT status FROM gcalsync.event WHERE owner = 'bob' AND event_id = 'f5call0bengaluru0000000000'}), 'cancelled',
	'row Google no longer returns is marked cancelled');
mirror_matches('bob', 'demo-refresh-bob');

# ---- 404 on one calendar: marked deleted, the others go on ------------------------------
$emu->control('POST', '/faults', { path => 'calendars/en\.usa#holiday.*/events$', user => 'bob', preset => 'notFound', count => 1 });
$emu->control('PATCH', '/calendars/bob%40example.com/events/g6working0location00000000', { summary => 'Office' });
is(sql(q{SELECT gcal_sync_now('bob'); SELECT gcal_wait('bob', '60s')}), "\nt", 'bob synced despite a 404');
is(sql(q{SELECT deleted FROM gcalsync.calendar_list WHERE owner = 'bob' AND calendar_id = 'en.usa#holiday@group.v.calendar.google.com'}),
	't', '404 calendar marked deleted');
is(sql(q{SELECT summary FROM gcalsync.event WHERE owner = 'bob' AND event_id = 'g6working0location00000000'}), 'Office',
	'the other calendars went on');

# ---- a calendar removed from the list ----------------------------------------------------
$emu->control('DELETE', '/users/carol/calendarList/c_9a1f3e6b2d8c4a7e%40group.calendar.google.com');
is(sql(q{SELECT gcal_sync_now('carol'); SELECT gcal_wait('carol', '60s')}), "\nt", 'carol synced');
is(sql(q{SELECT deleted FROM gcalsync.calendar_list WHERE owner = 'carol' AND calendar_id = 'c_9a1f3e6b2d8c4a7e@group.calendar.google.com'}),
	't', 'calendar removed from the list is marked deleted');
is(sql(q{SELECT enabled FROM gcalsync.calendar_sync WHERE owner = 'carol' AND calendar_id = 'c_9a1f3e6b2d8c4a7e@group.calendar.google.com'}),
	'f', 'and no longer synced');

# ---- revoked: no more requests until gcal_refresh ----------------------------------------
my $erin_tokens = scalar @{ $emu->log(api => 'token', user => 'erin') };
$erin_tokens = scalar grep { ($_->{form}{refresh_token} // '') eq 'demo-refresh-erin-revoked' } @{ $emu->log(api => 'token') };
sql(q{SELECT gcal_sync_now('erin'); SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'a later round ran');
is(scalar(grep { ($_->{form}{refresh_token} // '') eq 'demo-refresh-erin-revoked' } @{ $emu->log(api => 'token') }),
	$erin_tokens, 'no token request for a revoked owner');
$emu->control('POST', '/users/erin/refresh-tokens', { token => 'demo-refresh-erin-new' });
sql(q{SELECT gcal_refresh('erin', 'demo-refresh-erin-new')});
is(sql(q{SELECT gcal_wait('erin', '60s')}), 't', 'gcal_refresh restores a revoked owner');
is(sql(q{SELECT state, last_error FROM gcal_status('erin')}), 'active|', 'erin active, error cleared');

# ---- short and empty pages ----------------------------------------------------------------
$emu->control('PATCH', '/settings', { page_pattern => [0, 2, 1] });
sql(q{SELECT gcal_resync('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'full sync through short and empty pages');
mirror_matches('alice', 'demo-refresh-alice');
$emu->control('PATCH', '/settings', { page_pattern => undef });

# ---- unlink -------------------------------------------------------------------------------
is(sql(q{SELECT gcal_unlink('carol')}), 't', 'unlink carol');
is(sql(q{SELECT (SELECT count(*) FROM gcalsync.event WHERE owner = 'carol') + (SELECT count(*) FROM gcalsync.calendar_list WHERE owner = 'carol')
	+ (SELECT count(*) FROM gcalsync.calendar WHERE owner = 'carol') + (SELECT count(*) FROM gcalsync.sync_token WHERE owner = 'carol')}),
	'0', 'every row of carol removed');
is(sql(q{SELECT count(*) > 0 FROM gcalsync.event WHERE owner = 'bob' AND calendar_id = 'c_9a1f3e6b2d8c4a7e@group.calendar.google.com'}),
	't', 'other owners of the shared calendar keep their rows');

# No secret in the server log.
# No secret in the server log (GcalTest::node turns PostgreSQL's statement
# logging off, so anything found came from gcalsync).
my $log = join "\n", split /\n/, slurp_file($node->logfile);
unlike($log, qr/demo-refresh-|demo-client-secret|ya29/, 'no refresh token, client secret or access token in the server log');

$node->stop;
$emu->stop;
done_testing();
