# Operations views end to end (issue 17): every counter of gcalsync.stats and
# gcalsync.stats_requests moves when its event happens (faults injected by
# the emulator), the figures equal what the emulator's request log and the
# tables say, gcalsync.worker's live figures match the tables and the worker,
# a long full sync's progress moves in gcalsync.status while it runs,
# pg_stat_activity says what the worker does, gcal_stats_reset zeroes the
# counts, they survive a worker restart (not a crash restart), and no view,
# activity text or log line shows a token.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename ();
use Time::HiRes ();
use GcalTest;

my $json = GcalTest::json_codec();
my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'stats', "gcalsync.http_timeout = '500ms'\n");

sub sql { return $node->safe_psql('postgres', $_[0]); }

# stats() is the one row of gcalsync.stats; requests() gcalsync.stats_requests by api.
sub stats { return $json->decode(sql('SELECT row_to_json(s) FROM gcalsync.stats s')); }
sub requests
{
	my %by_api = map { my $r = $json->decode($_); ($r->{api} => $r) }
	  split /\n/, sql('SELECT row_to_json(r) FROM gcalsync.stats_requests r');
	return \%by_api;
}
sub worker { return $json->decode(sql('SELECT row_to_json(w) FROM gcalsync.worker w')); }

# What the worker shows in pg_stat_activity, remembered for the secret scan at the end.
my @activity;
sub activity
{
	my $a = sql(q{SELECT backend_type || '|' || state || '|' || coalesce(query, '')
		FROM pg_stat_activity WHERE backend_type = 'gcalsync worker'});
	push @activity, $a if $a ne '';
	return $a;
}

# wait_worker_idle: nothing runs (the live figures say so), so the counts are complete.
sub wait_worker_idle
{
	return GcalTest::wait_until(sub { activity(); worker()->{state} eq 'idle' }, 60, 'the worker to be idle');
}

# ---- first syncs: the counts equal the emulator's log and the tables ----------------------
my $t0 = Time::HiRes::time();
sql(q{
	SELECT gcal_link('alice', 'demo-refresh-alice');
	SELECT gcal_link('bob', 'demo-refresh-bob');
	SELECT gcal_link('carol', 'demo-refresh-carol');
	SELECT gcal_link('erin', 'demo-refresh-erin-revoked');
});
is(sql(q{SELECT gcal_wait('alice', '60s') AND gcal_wait('bob', '60s') AND gcal_wait('carol', '60s')}), 't',
	'first syncs done');
GcalTest::wait_state($node, 'erin', 'revoked');
ok(wait_worker_idle(), 'worker idle after the first syncs');

my $log = $emu->log(kind => 'request');
my (%logged, %logged_ok);
for my $e (@$log)
{
	$logged{ $e->{api} }++;
	$logged_ok{ $e->{api} }++ if $e->{status} >= 200 && $e->{status} < 300;
}
my $req = requests();
is_deeply([ sort keys %$req ],
	[ sort qw(token calendarList.list calendars.get events.list events.watch calendarList.watch channels.stop
		  events.insert events.patch events.delete) ], 'one row per Google API');
for my $api (sort keys %$req)
{
	is($req->{$api}{requests}, $logged{$api} // 0, "$api: requests equal the emulator's log");
	is($req->{$api}{ok}, $logged_ok{$api} // 0, "$api: successes equal the emulator's log");
	my $sum = 0;
	$sum += $req->{$api}{$_} for qw(ok not_modified unauthorized rate_limited forbidden not_found gone
		too_many_requests server_error timeout connection_error other);
	is($sum, $req->{$api}{requests}, "$api: outcomes add up to the requests");
}
is($req->{token}{other}, 1, "token: erin's invalid_grant (400) is an 'other' outcome");
ok($req->{'events.list'}{bytes_received} > 1000 && $req->{'events.list'}{request_time} > 0,
	'events.list: bytes received and time taken are counted');
is($req->{'events.insert'}{requests} + $req->{'events.patch'}{requests} + $req->{'events.delete'}{requests}, 0,
	'no outbox writes (yet)');

my $s = stats();
is($s->{requests}, scalar(@$log), 'gcalsync.stats: requests in total');
is($s->{requests_ok}, scalar(grep { $_->{status} >= 200 && $_->{status} < 300 } @$log), 'gcalsync.stats: successes');
is($s->{token_refreshes}, $logged_ok{token}, 'token refreshes: one per access token granted');
is($s->{rows_written}, sql(q{SELECT (SELECT count(*) FROM gcalsync.event WHERE status <> 'cancelled')
	+ (SELECT count(*) FROM gcalsync.calendar_list WHERE NOT deleted) + (SELECT count(*) FROM gcalsync.calendar)}),
	'rows written: every live event, list entry and calendar once');
is($s->{tombstones_written}, sql(q{SELECT (SELECT count(*) FROM gcalsync.event WHERE status = 'cancelled')
	+ (SELECT count(*) FROM gcalsync.calendar_list WHERE deleted)}), 'tombstones written: every cancelled or deleted row');
is($s->{pages}, $logged_ok{'events.list'} + $logged_ok{'calendarList.list'}, 'pages: one per listing page');
is($s->{full_listings}, $s->{pages}, 'full listings: every first listing (one page each)');
is($s->{idle_checks}, 0, 'no idle check yet');
is($s->{notifications}, sql('SELECT count(*) FROM gcalsync.change'), 'notifications: one per feed entry');
is($s->{feed_entries}, $s->{notifications}, 'feed entries');
ok($s->{rounds} >= 4, "rounds: $s->{rounds}");
is($s->{backoffs} + $s->{retries} + $s->{ceiling_waits} + $s->{rate_limit_waits} + $s->{malformed_responses}
	  + $s->{writes_sent} + $s->{feed_pruned}, 0, 'no backoff, retry, wait, malformed response, write or pruning');
{
	my $now = Time::HiRes::time();
	my $count = sub { my $since = shift; scalar(grep { $_->{api} ne 'token' && $_->{time} > $now - $since } @$log) };
	my $w = worker();
	ok($w->{requests_last_minute} >= $count->(58) && $w->{requests_last_minute} <= $count->(62),
		"requests in the last minute: $w->{requests_last_minute} (the log: " . $count->(58) . '-' . $count->(62) . ')')
	  if $now - $t0 < 50;
	is($w->{requests_per_minute}, 6000, 'against gcalsync.requests_per_minute');
	is($w->{owners} . '|' . $w->{owners_active} . '|' . $w->{owners_revoked} . '|' . $w->{owners_pending},
		'4|3|1|0', 'owners by state');
	is($w->{calendars}, sql('SELECT count(*) FROM gcalsync.calendar_sync WHERE enabled'), 'calendars');
	is($w->{owners_syncing} + $w->{transfers_running} + $w->{transfers_queued}, 0, 'nothing in flight when idle');
	is($w->{pid}, GcalTest::worker_pid($node), 'the worker');
}

# The progress of the first full syncs: every page and event, with start and end.
is(sql(q{SELECT full_sync_pages = 1 + (SELECT count(*) FROM gcalsync.calendar_sync c WHERE c.owner = s.owner AND c.enabled),
	full_sync_events = (SELECT count(*) FROM gcalsync.event e WHERE e.owner = s.owner),
	full_sync_finished_at >= full_sync_started_at
	FROM gcalsync.status s WHERE owner = 'alice'}), 't|t|t', 'alice: pages and events of her full sync, finished');
is(sql(q{SELECT string_agg(calendar_id || ':' || state || ':' || (events = (SELECT count(*) FROM gcalsync.event e
		WHERE e.owner = c.owner AND e.calendar_id = c.calendar_id AND e.status <> 'cancelled')), ',' ORDER BY calendar_id)
	FROM gcalsync.calendar_status c WHERE owner = 'alice'}),
	'alice@example.com:active:true,c_3d7a0e5f9b2c1d48@group.calendar.google.com:deleted:true,'
	  . 'c_9a1f3e6b2d8c4a7e@group.calendar.google.com:active:true,en.usa#holiday@group.v.calendar.google.com:active:true',
	'calendar_status: each of alice\'s calendars with its events');
like(activity(), qr/^gcalsync worker\|idle\|gcalsync: waiting for the next check at .* or a gcal_\* call$/,
	'pg_stat_activity: the idle worker says what it waits for');

# ---- each outcome and counter moves when it happens ----------------------------------------
# case(name, fault, api => expected deltas of gcalsync.stats_requests for that api,
#      stats => expected deltas of gcalsync.stats (a code ref checks a value))
my $forbidden = { error => { errors => [ { domain => 'global', reason => 'forbidden', message => 'Forbidden' } ],
	code => 403, message => 'Forbidden' } };
my $side = 'c_5e2b9d0a7f1c3e84@group.calendar.google.com';
my @cases = (
	[ '429 tooManyRequests', { path => '/events$', preset => 'tooManyRequests', headers => { 'Retry-After' => '2' } },
		'events.list', { too_many_requests => 1 },
		{ backoffs => 1, rate_limit_waits => 1, rate_limit_wait_time => sub { $_[0] >= 2000 }, backoff_time => sub { $_[0] >= 2000 } } ],
	[ '403 rateLimitExceeded', { path => '/events$', preset => 'rateLimitExceeded' },
		'events.list', { rate_limited => 1 }, { backoffs => 1, rate_limit_waits => 1, rate_limit_wait_time => sub { $_[0] >= 500 } } ],
	[ '403 as an HTML page', { path => 'calendarList$', preset => 'html403' },
		'calendarList.list', { rate_limited => 1 }, { backoffs => 1, rate_limit_waits => 1 } ],
	[ '403 forbidden', { path => '/events$', status => 403, body => $forbidden },
		'events.list', { forbidden => 1 }, { backoffs => 0, rate_limit_waits => 0 }, 'calendar' ],
	[ '404 on a calendar', { path => "calendars/\Q$side\E/events\$", preset => 'notFound' },
		'events.list', { not_found => 1 }, { tombstones_written => 2, backoffs => 0 }, 'gone' ],
	[ '410 fullSyncRequired', { path => '/events$', preset => 'fullSyncRequired' },
		'events.list', { gone => 1, ok => sub { $_[0] >= 1 } }, { retries => 1, full_listings => 1, backoffs => 0 } ],
	[ '401 authError', { path => '/events$', preset => 'authError' },
		'events.list', { unauthorized => 1 }, { retries => 1, token_refreshes => 1, backoffs => 0 } ],
	[ '500 backendError', { path => '/events$', preset => 'backendError' },
		'events.list', { server_error => 1 }, { backoffs => 1, rate_limit_waits => 0, backoff_time => sub { $_[0] >= 500 } } ],
	[ '503 on calendarList', { path => 'calendarList$', preset => 'serviceUnavailable' },
		'calendarList.list', { server_error => 1 }, { backoffs => 1 } ],
	[ 'timeout', { path => '/events$', action => 'pass', delay => 2 },
		'events.list', { timeout => 1 }, { backoffs => 1 } ],
	# (until bob is in backoff: libcurl sends a request again once, unseen, when
	# a reused connection turns out closed, so the emulator logs more requests
	# than gcalsync made)
	[ 'dropped connection', { path => '/events$', action => 'drop', count => -1 },
		'events.list', { connection_error => sub { $_[0] >= 1 } }, { backoffs => 1 }, 'drop' ],
	[ '304', { path => '/events$', status => 304, body_text => '' },
		'events.list', { not_modified => 1 }, { backoffs => 0 }, 'calendar' ],
	# (a 400 to a request with a sync token: the token is refused, a full listing follows)
	[ '400', { path => '/events$', status => 400, body => { error => { code => 400, message => 'Bad Request' } } },
		'events.list', { other => 1 }, { backoffs => 0, retries => 1, full_listings => 1 } ],
	[ 'malformed body', { path => '/events$', action => 'malformed' },
		'events.list', { ok => sub { $_[0] >= 1 } }, { malformed_responses => 1, backoffs => 1 } ],
	[ 'token endpoint 429', { path => '^/token$', preset => 'tooManyRequests' },
		'token', { too_many_requests => 1 }, { backoffs => 1, rate_limit_waits => 1 }, 'expire' ],
);
for my $c (@cases)
{
	my ($name, $fault, $api, $want_api, $want_stats, $kind) = @$c;
	$kind //= '';
	ok(wait_worker_idle(), "$name: the worker is idle first");
	$emu->control('POST', '/access-tokens/expire', { user => 'bob' }) if $kind eq 'expire';
	my ($s0, $r0) = (stats(), requests()->{$api});
	my $l0 = scalar(@{ $emu->log(kind => 'request', api => $api) });
	my $f = $emu->control('POST', '/faults', { user => 'bob', count => 1, %$fault });
	sql(q{SELECT gcal_sync_now('bob')});
	ok(GcalTest::wait_fault_hit($emu, $f), "$name: the fault was hit");
	if ($kind eq 'drop')
	{
		like(GcalTest::wait_state($node, 'bob', 'backoff'), qr/^backoff\|.*request failed/, "$name: bob in backoff");
		$emu->control('DELETE', "/faults/$f->{id}");
	}
	is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', "$name: bob recovers");
	ok(wait_worker_idle(), "$name: the worker is idle again");
	my ($s1, $r1) = (stats(), requests()->{$api});
	for my $k (sort keys %$want_api)
	{
		my ($want, $got) = ($want_api->{$k}, $r1->{$k} - $r0->{$k});
		ref $want ? ok($want->($got), "$name: $api $k moved by $got") : is($got, $want, "$name: $api $k +$want");
	}
	unless ($kind eq 'drop')
	{
		# (The emulator logs a request when its answer is ready: one the
		# worker gave up on, a delayed answer, can be logged after the worker
		# is idle again.)
		my $sent = $r1->{requests} - $r0->{requests};
		my $logged = sub { scalar(@{ $emu->log(kind => 'request', api => $api) }) - $l0 };
		GcalTest::wait_until(sub { $logged->() >= $sent }, 30, "$name: the emulator to log $sent $api requests");
		is($sent, $logged->(), "$name: $api requests equal the emulator's log");
	}
	for my $k (sort keys %$want_stats)
	{
		my ($want, $got) = ($want_stats->{$k}, $s1->{$k} - $s0->{$k});
		ref $want ? ok($want->($got), "$name: $k moved by $got") : is($got, $want, "$name: $k +$want");
	}
	ok($s1->{rounds} > $s0->{rounds}, "$name: rounds counted");
	if ($kind eq 'calendar')
	{
		like(sql(qq{SELECT state || '|' || last_error FROM gcalsync.calendar_status WHERE owner = 'bob' AND failures > 0}),
			qr/^backoff\|HTTP \d+/, "$name: calendar_status shows the failing calendar and why");
		sql(q{SELECT gcal_sync_now('bob')});    # the calendar is retried at once
		is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', "$name: synced again");
		GcalTest::wait_until(sub { sql(q{SELECT count(*) FROM gcalsync.calendar_status WHERE owner = 'bob' AND failures > 0}) == 0 },
			60, "$name: the calendar to recover");
	}
	if ($kind eq 'gone')
	{
		is(sql(qq{SELECT state || '|' || last_error FROM gcalsync.calendar_status WHERE owner = 'bob' AND calendar_id = '$side'}),
			'backoff|calendar not found (404)', "$name: calendar_status says why (checked again while listed)");
		sql(q{SELECT gcal_resync('bob')});
		is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', "$name: a resync brings it back");
		is(sql(qq{SELECT state FROM gcalsync.calendar_status WHERE owner = 'bob' AND calendar_id = '$side'}), 'active',
			"$name: active again");
	}
	# A calendar that failed alone is retried on its own schedule (issue 13,
	# item 9): the next case starts once it has recovered, so that no retry
	# of this one runs into it.
	ok(GcalTest::wait_until(sub { sql(q{SELECT count(*) FROM gcalsync.calendar_sync WHERE owner = 'bob' AND failures > 0}) == 0 },
		60, "$name: no calendar failing"), "$name: no calendar of bob failing any more");
}
ok(wait_worker_idle(), 'idle after the faults');
for my $api (qw(calendarList.list calendars.get token))
{
	is(requests()->{$api}{requests}, scalar(@{ $emu->log(kind => 'request', api => $api) }),
		"$api: all requests since the start equal the emulator's log");
}
{
	# An incremental check that finds nothing writes no page: an idle check.
	my $s0 = stats();
	sql(q{SELECT gcal_sync_now('alice')});
	is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: an incremental round');
	wait_worker_idle();
	my $s1 = stats();
	is($s1->{idle_checks} - $s0->{idle_checks}, 4, 'idle checks: the list and her three calendars');
	is($s1->{pages} - $s0->{pages}, 0, 'idle checks write no page');
}

# ---- a long full sync: its progress moves in gcalsync.status ----------------------------------
# 3,000 events in pages of 100, each page 0.15 s late: 31 pages (with the
# list) over about five seconds, watched from another session.
$emu->control('POST', '/users', { id => 'pat', email => 'pat@example.com', refresh_tokens => ['demo-refresh-pat'] });
$emu->control_raw('POST', '/calendars/pat%40example.com/events', $json->encode({ events => [ map {
	{ summary => "event $_", start => { dateTime => sprintf('2025-07-%02dT%02d:00:00Z', 1 + $_ % 28, $_ % 24) },
	  end => { dateTime => sprintf('2025-07-%02dT%02d:30:00Z', 1 + $_ % 28, $_ % 24) } } } 1 .. 3000 ] }));
$emu->control('PATCH', '/settings', { page_pattern => [100] });
my $slow = $emu->control('POST', '/faults', { user => 'pat', path => '/events$', action => 'pass', delay => 0.15, count => -1 });
sql(q{SELECT gcal_link('pat', 'demo-refresh-pat')});
my (%pages_seen, $saw_calendar_state, $saw_worker, $saw_activity);
GcalTest::wait_until(sub {
	my ($pages, $events, $done) = split /\|/,
	  sql(q{SELECT full_sync_pages, full_sync_events, full_sync_finished_at IS NOT NULL FROM gcalsync.status WHERE owner = 'pat'});
	$pages_seen{$pages} = $events if $done eq 'f';
	$saw_calendar_state ||= sql(q{SELECT state FROM gcalsync.calendar_status WHERE owner = 'pat'}) eq 'full_sync';
	my $w = worker();
	$saw_worker ||= $w->{state} eq 'syncing' && $w->{owners_syncing} == 1 && $w->{transfers_running} >= 1;
	$saw_activity ||= activity() =~ /^gcalsync worker\|active\|gcalsync: (syncing|writing)/;
	return $done eq 't';
}, 120, 'pat\'s full sync');
my @pages = sort { $a <=> $b } grep { $_ > 0 } keys %pages_seen;
cmp_ok(scalar(@pages), '>=', 5, 'another session saw the pages move while the full sync ran: ' . join(',', @pages));
ok(!grep({ $pages_seen{ $pages[$_] } < $pages_seen{ $pages[ $_ - 1 ] } } 1 .. $#pages), 'the events written only grow');
is(sql(q{SELECT full_sync_pages || '|' || full_sync_events || '|' || (full_sync_finished_at > full_sync_started_at)
	FROM gcalsync.status WHERE owner = 'pat'}), '31|3000|true', 'pat: 31 pages, 3,000 events, finished');
ok($saw_calendar_state, 'calendar_status showed the calendar in a full sync');
ok($saw_worker, 'gcalsync.worker showed one owner syncing with a transfer in flight');
ok($saw_activity, 'pg_stat_activity showed the worker active, syncing');
$emu->control('DELETE', "/faults/$slow->{id}");
$emu->control('PATCH', '/settings', { page_pattern => undef });
is(sql(q{SELECT gcal_wait('pat', '60s')}), 't', 'pat synced');

# ---- the client-side ceiling: requests held back are counted, and how long ---------------------
ok(wait_worker_idle(), 'idle before the ceiling test');
{
	my $s0 = stats();
	my $offset = -s $node->logfile;
	sql(q{ALTER SYSTEM SET gcalsync.user_requests_per_minute = 1});
	$node->reload;
	ok($node->wait_for_log(qr/gcalsync worker reloaded its configuration/, $offset), 'ceiling of 1 request a minute per owner');
	sql(q{SELECT gcal_sync_now('carol')});
	ok(GcalTest::wait_until(sub {
		my $w = worker();
		return $w->{state} eq 'syncing' && $w->{transfers_queued} >= 1 && $w->{owners_syncing} == 1
		  && stats()->{ceiling_waits} > $s0->{ceiling_waits};
	}, 60, 'a request held by the ceiling'), 'gcalsync.worker shows the held request, gcalsync.stats counts it');
	like(activity(), qr/^gcalsync worker\|active\|gcalsync: syncing \(owners: 1, requests in flight: \d+, queued: [1-9]\d*\)$/,
		'pg_stat_activity: syncing, requests queued');
	$offset = -s $node->logfile;
	sql(q{ALTER SYSTEM RESET gcalsync.user_requests_per_minute});
	$node->reload;
	ok($node->wait_for_log(qr/gcalsync worker reloaded its configuration/, $offset), 'ceiling back to its default');
	is(sql(q{SELECT gcal_wait('carol', '60s')}), 't', 'carol synced once the ceiling allowed it');
	ok(wait_worker_idle(), 'idle after the ceiling test');
	my $s1 = stats();
	ok($s1->{ceiling_waits} - $s0->{ceiling_waits} >= 1 && $s1->{ceiling_wait_time} > $s0->{ceiling_wait_time},
		sprintf('ceiling waits +%d, %.0f ms held', $s1->{ceiling_waits} - $s0->{ceiling_waits},
			$s1->{ceiling_wait_time} - $s0->{ceiling_wait_time}));
	is($s1->{rate_limit_waits}, $s0->{rate_limit_waits}, 'not counted as Google\'s rate limits');
}

# ---- reset, worker restart, crash restart ----------------------------------------------------------
{
	my $before = stats();
	sql(q{SELECT gcal_stats_reset()});
	my $s = stats();
	is(join(',', map { $s->{$_} } qw(requests requests_ok bytes_received rounds pages rows_written idle_checks
		notifications backoffs retries ceiling_waits)), '0,0,0,0,0,0,0,0,0,0,0', 'gcal_stats_reset zeroes the counts');
	ok($s->{stats_reset} gt $before->{stats_reset}, 'and sets stats_reset');
	is(sql(q{SELECT sum(requests) FROM gcalsync.stats_requests}), 0, 'per API too');
	sql(q{SELECT gcal_sync_now('alice')});
	is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'a round after the reset');
	wait_worker_idle();
	$s = stats();
	ok($s->{requests} > 0 && $s->{idle_checks} > 0 && $s->{rounds} > 0, 'counting goes on after the reset');

	my $pid = GcalTest::worker_pid($node);
	sql("SELECT pg_terminate_backend($pid)");
	my $new = GcalTest::wait_worker($node, 'postgres', $pid);
	ok($new, 'the worker was restarted');
	my $after = stats();
	is($after->{stats_reset}, $s->{stats_reset}, 'a worker restart keeps stats_reset');
	ok($after->{requests} >= $s->{requests} && $after->{rounds} >= $s->{rounds}, 'and the counts');

	kill 'KILL', $new;
	$node->poll_query_until('postgres', "SELECT pid IS NOT NULL AND pid <> $new FROM gcalsync.worker_status()")
	  or die 'no worker after the crash';
	$after = stats();
	ok($after->{stats_reset} gt $s->{stats_reset}, 'a crash restart re-creates shared memory: counts start again');
	sql(q{SELECT gcal_sync_now('alice')});
	is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'syncing after the crash restart');
}

# ---- the postgres_exporter example runs as a monitoring role -----------------------------------------
# Every query of examples/postgres_exporter_queries.yaml, as a member of
# pg_monitor with the grants README documents: every metric it declares is a
# column, labels are text, values are numbers (never NULL).
{
	require CPAN::Meta::YAML;
	my $root = File::Basename::dirname(__FILE__) . '/../..';
	my $yaml = CPAN::Meta::YAML->read("$root/examples/postgres_exporter_queries.yaml")
	  or die 'cannot read the exporter example: ' . CPAN::Meta::YAML->errstr;
	sql(q{
		CREATE ROLE exporter LOGIN IN ROLE pg_monitor;
		GRANT USAGE ON SCHEMA gcalsync TO pg_monitor;
		GRANT SELECT ON gcalsync.stats, gcalsync.stats_requests, gcalsync.worker,
		                gcalsync.calendar_status, gcalsync.status TO pg_monitor;
		GRANT EXECUTE ON FUNCTION gcalsync.stat_get_requests(), gcalsync.stat_get_counters(),
		                          gcalsync.stat_get_worker(), gcalsync.worker_status() TO pg_monitor;
		CREATE SCHEMA myapp;
		CREATE TABLE myapp.gcal_feed_cursor (consumer text PRIMARY KEY, seq bigint NOT NULL);
		INSERT INTO myapp.gcal_feed_cursor VALUES ('caught-up', gcal_changes_cursor()), ('behind', 0);
		GRANT USAGE ON SCHEMA myapp TO pg_monitor;
		GRANT SELECT ON myapp.gcal_feed_cursor TO pg_monitor;
		GRANT SELECT (seq, recorded_at) ON gcalsync.change TO pg_monitor;
	});
	my $queries = $yaml->[0];
	cmp_ok(scalar(keys %$queries), '>=', 8, 'the example has its queries');
	my %rows;
	for my $name (sort keys %$queries)
	{
		my $q = $queries->{$name};
		my ($out, $err) = ('', '');
		$node->psql('postgres', "SELECT row_to_json(x) FROM ($q->{query}) x", stdout => \$out, stderr => \$err,
			extra_params => [ '-U', 'exporter' ]);
		is($err, '', "$name: runs as a pg_monitor member");
		my @rows = map { $json->decode($_) } grep { length } split /\n/, $out;
		ok(@rows > 0, "$name: returns rows");
		$rows{$name} = \@rows;
		for my $m (@{ $q->{metrics} })
		{
			my ($col, $spec) = %$m;
			my $label = $spec->{usage} eq 'LABEL';
			my @bad = grep { !defined $_->{$col} || (!$label && $_->{$col} !~ /^-?\d+(?:\.\d+)?(?:e[-+]?\d+)?$/i) } @rows;
			ok(!@bad, "$name: $col is " . ($label ? 'a label' : 'a number') . " in every row");
		}
	}
	my %total = map { ("$_->{api}/$_->{outcome}" => $_->{total}) } @{ $rows{gcalsync_requests} };
	is($total{'events.list/ok'}, requests()->{'events.list'}{ok}, 'gcalsync_requests_total{api="events.list",outcome="ok"}');
	my %age = map { ($_->{consumer} => $_->{backlog_age_seconds}) } @{ $rows{gcalsync_feed_consumer} };
	ok($age{behind} > 0 && $age{'caught-up'} == 0, "feed consumer backlog: behind $age{behind} s, caught up 0");
	is(join(',', map { "$_->{state}=$_->{count}" } sort { $a->{state} cmp $b->{state} } @{ $rows{gcalsync_owners} }),
		join(',', map { my $st = $_; "$st=" . sql("SELECT count(*) FROM gcalsync.owner WHERE state = '$st'") }
			qw(active backoff error pending revoked)), 'gcalsync_owners_count{state} equals the owner table');
}

# ---- nothing shows a token -------------------------------------------------------------------------
{
	my $secret = qr/demo-refresh-|demo-client-secret|ya29/;
	my $views = sql(q{SELECT string_agg(t, E'\n') FROM (
		SELECT row_to_json(s)::text AS t FROM gcalsync.stats s
		UNION ALL SELECT row_to_json(r)::text FROM gcalsync.stats_requests r
		UNION ALL SELECT row_to_json(w)::text FROM gcalsync.worker w
		UNION ALL SELECT row_to_json(c)::text FROM gcalsync.calendar_status c
		UNION ALL SELECT row_to_json(o)::text FROM gcalsync.status o) x});
	unlike($views, $secret, 'no token or secret in any operations view');
	activity();
	cmp_ok(scalar(@activity), '>', 10, 'pg_stat_activity sampled ' . scalar(@activity) . ' times');
	is(scalar(grep { /$secret/ || /alice|bob|carol|erin|pat|\@example\.com/ } @activity), 0,
		'the worker\'s activity never names an owner, a calendar or a token');
	GcalTest::no_secrets_in_log($node);
}

$node->stop;
$emu->stop;
done_testing();
