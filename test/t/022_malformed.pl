# Resilience (issue 5), malformed answers end to end.
#
# Expected:
# - A value of the wrong type, or one PostgreSQL cannot hold (year 0, year
#   99999, offset +25:00, sequence beyond int4, a date like 2025-13-45),
#   becomes NULL in its typed column and stays verbatim in `data`; the page
#   is stored (state active). A page without `items` is an empty page.
# - A body that cannot be a page (not JSON, HTML, truncated JSON, an array,
#   items not an array, an item that is not an object or has no string id,
#   no page or sync token, duplicate keys, nesting deeper than 64, a lone
#   surrogate or NUL escape, invalid UTF-8, an empty body, a body above the
#   64 MB response cap) fails that request only: for an events page, that
#   calendar fails (calendar_sync.last_error) and the owner stays active
#   (issue 13, item 9); otherwise the owner goes to `backoff` with the reason
#   in last_error (naming the position, never quoting the
#   body); nothing stored is changed, other owners sync, the worker process
#   stays the same, and the owner recovers once the answers are sane again.
# - The same for the calendar list, calendars.get and token responses, and
#   for error bodies with invalid UTF-8 or NUL bytes (last_error stays valid
#   text).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'malformed');
my $json = JSON::PP->new->utf8->canonical;

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub round
{
	my ($owner) = @_;
	sql("SELECT gcal_sync_now('$owner')");
	return sql("SELECT gcal_wait('$owner', '60s')");
}

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first full sync done');
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob: first full sync done');
my $pid = GcalTest::worker_pid($node);

# ---- values PostgreSQL cannot hold, or of the wrong type: NULL, data verbatim -----------
my $cal = 'alice%40example.com';
$emu->control('POST', "/calendars/$cal/events", { events => [
	{ id => 'weird0types0000000000000a', summary => 123, description => ['x'], location => { a => 1 },
	  start => { dateTime => 'garbage', timeZone => 5 }, end => { dateTime => 17 }, sequence => 'abc', created => 5,
	  updated => '99999-01-01T00:00:00Z', organizer => 'bob', creator => [1], transparency => JSON::PP::false,
	  visibility => undef, iCalUID => 42, htmlLink => 1.5, eventType => {} },
	{ id => 'weird0status0000000000000', status => 17, summary => 's', start => { date => '2025-13-45' }, end => { date => '20250101' } },
	{ id => 'weird0seq000000000000000aa', summary => 'big seq', sequence => 99999999999,
	  start => { dateTime => '2025-01-01T10:00:00+25:00' }, end => { dateTime => '2025-01-01T10:00:00.123456789Z' } },
	{ id => 'absurd0times000000000000a', summary => 'absurd', start => { dateTime => '0000-01-01T00:00:00Z' },
	  end => { dateTime => '99999-12-31T23:59:59Z' }, created => '0000-12-31T00:00:00Z' },
	{ id => 'bounds0times000000000000a', summary => 'bounds', start => { dateTime => '0001-01-01T00:00:00Z' },
	  end => { dateTime => '9999-12-31T23:59:59.999999Z' }, created => '0001-01-01T00:00:00+01:00' },
	{ id => 'bounds0dates000000000000a', summary => 'bound dates', start => { date => '0001-01-01' }, end => { date => '9999-12-31' } },
	{ id => 'feb0thirty000000000000000a', summary => 'Feb 30', start => { date => '2024-02-30' }, end => { date => '2024-03-01' } },
] });
is(round('alice'), 't', 'pages with odd values are stored, not failed');
is(sql(q{SELECT concat_ws(',', summary, description, location, start_at, end_at, time_zone, sequence, created, updated,
		organizer_email, creator_email, transparency, visibility, ical_uid, html_link, event_type)
	FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'weird0types0000000000000a'}), '',
	'wrong types: every typed column NULL');
is(sql(q{SELECT data->'summary', data->'start', data->'sequence', data->'created', data->'updated', data->'transparency', data->'htmlLink'
	FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'weird0types0000000000000a'}),
	'123|{"dateTime": "garbage", "timeZone": 5}|"abc"|5|"99999-01-01T00:00:00Z"|false|1.5', 'wrong types: data verbatim');
is(sql(q{SELECT status, data->'status', start_date IS NULL, end_date IS NULL FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'weird0status0000000000000'}),
	'confirmed|17|t|t', 'status of the wrong type and impossible dates: defaults and NULLs, data verbatim');
is(sql(q{SELECT sequence IS NULL, start_at IS NULL, end_at, data->>'sequence' FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'weird0seq000000000000000aa'}),
	't|t|2025-01-01 10:00:00.123456+00|99999999999', 'sequence beyond int4 and offset +25:00: NULL; nanoseconds cut to microseconds');
is(sql(q{SELECT start_at IS NULL, end_at IS NULL, created IS NULL, data->'start'->>'dateTime', data->'end'->>'dateTime'
	FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'absurd0times000000000000a'}),
	't|t|t|0000-01-01T00:00:00Z|99999-12-31T23:59:59Z', 'year 0 and year 99999: NULL, data verbatim');
is(sql(q{SELECT start_at, end_at, created IS NULL FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'bounds0times000000000000a'}),
	'0001-01-01 00:00:00+00|9999-12-31 23:59:59.999999+00|t', 'first and last instants kept; one before the first is NULL');
is(sql(q{SELECT start_date, end_date FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'bounds0dates000000000000a'}),
	'0001-01-01|9999-12-31', 'first and last dates kept');
is(sql(q{SELECT start_date IS NULL, end_date FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'feb0thirty000000000000000a'}),
	't|2024-03-01', 'February 30: NULL');
is(sql(q{SELECT gcal_resync('alice')}), '1', 'resync: the same values through a full listing');
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'full listing with odd values done');
GcalTest::mirror_matches($node, $emu, 'alice', 'demo-refresh-alice');

# ---- a page without items is an empty page ---------------------------------------------
{
	# The sync token of a complete listing, taken from the emulator's API.
	my $access = $emu->token('demo-refresh-alice');
	my $r = $emu->{http}->get($emu->url("/calendar/v3/calendars/$cal/events?maxResults=2500&showDeleted=true&singleEvents=false"),
		{ headers => { Authorization => "Bearer $access" } });
	my $token = $json->decode($r->{content})->{nextSyncToken};
	ok($token, 'got a sync token');
	my $f = $emu->control('POST', '/faults', { user => 'alice', path => 'alice@example.com/events$', count => 1,
		body => { kind => 'calendar#events', summary => 'alice@example.com', nextSyncToken => $token } });
	is(round('alice'), 't', 'a page without items is accepted');
	is(GcalTest::wait_fault_hit($emu, $f), 1, 'the page without items was served');
	is(GcalTest::owner_state($node, 'alice'), 'active|', 'alice active');
	$emu->control('PATCH', "/calendars/$cal/events/3taxday00000000000000000aa", { summary => 'after the empty page' });
	is(round('alice'), 't', 'the next incremental sync works');
	is(sql(q{SELECT summary FROM gcalsync.event WHERE owner = 'alice' AND event_id = '3taxday00000000000000000aa'}),
		'after the empty page', 'with the sync token of the page without items');
}

# ---- bodies that fail the request ---------------------------------------------------------
# snapshot() fingerprints every stored row of alice (without synced_at).
sub snapshot
{
	my ($tables) = @_;
	return sql('SELECT md5(' . join(' || ', "''", map {
		qq{coalesce((SELECT string_agg((to_jsonb(t) - 'synced_at')::text, ',' ORDER BY t::text) FROM gcalsync.$_ t WHERE owner = 'alice'), '')}
	} @{ $tables // [qw(event calendar_list calendar)] }) . ')');
}

my $marker = 'leak0marker0body0content';
my $real = "{\"id\":\"3taxday00000000000000000aa\",\"summary\":\"$marker\",\"status\":\"confirmed\"}";

# bad(name, fault, error_regex, option => 1): alice's requests get the fault
# until it is removed. Options: expire (alice's access token first), touch
# (change alice's primary list entry, so that the round reads its calendar
# resource), raw (the fault is given as JSON text).
sub bad
{
	my ($name, $fault, $error, %opt) = @_;
	# (With touch, the list page and the events pages of the same round are
	# sound and may be stored; only the calendar resource must not change.)
	my @tables = $opt{touch} ? qw(calendar) : qw(event calendar_list calendar);
	my $before = snapshot(\@tables);
	$emu->control('PATCH', "/calendars/$cal/events/3taxday00000000000000000aa", { summary => "pending change for $name" });
	$emu->control('POST', '/access-tokens/expire', { user => 'alice' }) if $opt{expire};
	$emu->control('PUT', "/users/alice/calendarList/$cal", { colorId => '' . (int(rand(20)) + 1) }) if $opt{touch};
	my $id;
	if ($opt{raw})
	{
		# (GET /faults would answer the whole body again.)
		($id) = substr($emu->control_raw('POST', '/faults', $fault), -300) =~ /"id":\s*(\d+)/;
	}
	else
	{
		$id = $emu->control('POST', '/faults', { user => 'alice', path => 'alice@example.com/events$', count => -1, %$fault })->{id};
	}
	sql(q{SELECT gcal_sync_now('alice')});
	# A bad events page fails its calendar only (issue 13, item 9); anything
	# else (the list, the calendar resource, the token) fails the owner.
	my $calendar_only = $opt{raw} ? $opt{calendar} : ($fault->{path} // '/events$') =~ m{/events\$$};
	if ($calendar_only)
	{
		my $last = '';
		GcalTest::wait_until(sub {
			$last = sql(q{SELECT failures || '|' || coalesce(last_error, '') FROM gcalsync.calendar_sync
				WHERE owner = 'alice' AND calendar_id = 'alice@example.com'});
			return $last =~ /^[1-9]/ }, 60, 'the calendar to fail');
		like($last, qr/^[1-9]\d*\|.*$error/, "$name: that calendar fails, last_error says why");
		is(GcalTest::owner_state($node, 'alice'), 'active|', "$name: alice stays active");
	}
	else
	{
		like(GcalTest::wait_state($node, 'alice', 'backoff'), qr/^backoff\|.*$error/, "$name: alice in backoff, last_error says why");
	}
	is(snapshot(\@tables), $before, "$name: nothing stored was changed");
	is(round('bob'), 't', "$name: bob syncs meanwhile");
	$emu->control('DELETE', "/faults/$id");
	sql(q{SELECT gcal_sync_now('alice')});    # do not wait for the backoff to end
	is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', "$name: alice recovers");
	is(sql(q{SELECT summary FROM gcalsync.event WHERE owner = 'alice' AND event_id = '3taxday00000000000000000aa'}),
		"pending change for $name", "$name: the change arrives after the recovery");
}

my $page = 'malformed events page of calendar "alice@example.com"';
bad('not JSON', { action => 'malformed' }, "$page: body is not a JSON object: .* at byte");
bad('HTML with status 200', { status => 200, content_type => 'text/html', body_text => "<html><body>$marker</body></html>" },
	"$page: body is not a JSON object");
bad('empty body with status 200', { status => 200, body_text => '' }, "$page: body is not a JSON object");
bad('truncated JSON', { status => 200, body_text => "{\"kind\":\"calendar#events\",\"items\":[$real,{\"id\":\"x\",\"summ" },
	"$page: body is not a JSON object");
bad('a JSON array', { status => 200, body_text => "[$real]" }, "$page: body is not a JSON object");
bad('items not an array', { status => 200, body => { items => { id => 'x' }, nextSyncToken => 'x' } }, "$page: items is not an array");
bad('an item not an object', { status => 200, body_text => "{\"items\":[$real,5],\"nextSyncToken\":\"x\"}" },
	"$page: items\\[1\\] is not an object");
bad('an item id not a string', { status => 200, body_text => "{\"items\":[$real,{\"id\":17}],\"nextSyncToken\":\"x\"}" },
	"$page: items\\[1\\].id is not a string");
bad('an item without id', { status => 200, body_text => "{\"items\":[$real,{\"summary\":\"no id\"}],\"nextSyncToken\":\"x\"}" },
	"$page: items\\[1\\].id is missing");
bad('an empty item id', { status => 200, body_text => "{\"items\":[$real,{\"id\":\"\"}],\"nextSyncToken\":\"x\"}" },
	"$page: items\\[1\\].id is empty");
bad('no page or sync token', { status => 200, body_text => "{\"items\":[$real]}" }, 'neither nextPageToken nor nextSyncToken');
bad('sync token of the wrong type', { status => 200, body_text => "{\"items\":[$real],\"nextSyncToken\":42}" },
	'neither nextPageToken nor nextSyncToken');
bad('duplicate keys', { status => 200, body_text => "{\"items\":[$real],\"items\":[],\"nextSyncToken\":\"x\"}" },
	"$page: body is not a JSON object");
bad('nested 100,000 deep', { status => 200, body_text => "{\"items\":[{\"id\":\"3taxday00000000000000000aa\",\"x\":"
	  . ('[' x 100_000) . (']' x 100_000) . "}],\"nextSyncToken\":\"x\"}" }, "$page: body is nested deeper than 64 levels");
bad('nested 66 levels deep', { status => 200, body_text => "{\"items\":[{\"id\":\"3taxday00000000000000000aa\",\"x\":"
	  . ('[' x 63) . (']' x 63) . "}],\"nextSyncToken\":\"x\"}" }, "$page: body is nested deeper than 64 levels");
bad('a lone surrogate escape', { status => 200, body_text => "{\"items\":[{\"id\":\"3taxday00000000000000000aa\",\"summary\":\"\\ud800$marker\"}],\"nextSyncToken\":\"x\"}" },
	"$page: body is not a JSON object");
bad('a NUL escape', { status => 200, body_text => "{\"items\":[{\"id\":\"3taxday00000000000000000aa\",\"summary\":\"a\\u0000$marker\"}],\"nextSyncToken\":\"x\"}" },
	"$page: body is not a JSON object");
bad('calendar list not JSON', { path => 'calendarList$', action => 'malformed' }, 'malformed calendar list page: body is not a JSON object');
bad('calendar list item without id', { path => 'calendarList$', status => 200, body_text => '{"items":[{"summary":"x"}],"nextSyncToken":"x"}' },
	'malformed calendar list page: items\[0\].id is missing');
bad('calendars.get not JSON', { path => 'calendars/alice@example.com$', action => 'malformed' },
	'malformed calendar "alice@example.com": body is not a JSON object', touch => 1);
bad('token response not JSON', { path => '^/token$', action => 'malformed' }, 'token endpoint answered HTTP 200', expire => 1);
bad('token response without access_token', { path => '^/token$', status => 200, body => { expires_in => 3600, token_type => 'Bearer' } },
	'token endpoint answered HTTP 200: access_token is missing', expire => 1);
bad('token response without expires_in', { path => '^/token$', status => 200, body => { access_token => 'ya29.x', token_type => 'Bearer' } },
	'token endpoint answered HTTP 200: expires_in is missing', expire => 1);
bad('token with a line break', { path => '^/token$', status => 200, body => { access_token => "ya29.a\r\nX-Injected: 1", expires_in => 3600 } },
	'token endpoint answered HTTP 200: access_token is empty, too long or has invalid characters', expire => 1);

# Above the response cap (64 MB): the emulator gzips it to about 64 kB, so
# the cap must hold on the decoded bytes.
{
	my $big = '{"user":"alice","path":"alice@example.com/events$","count":-1,"status":200,"body_text":'
	  . '"{\"kind\":\"calendar#events\",\"items\":[{\"id\":\"3taxday00000000000000000aa\",\"description\":\"'
	  . ('x' x (65 << 20)) . '\"}],\"nextSyncToken\":\"x\"}"}';
	bad('a 65 MB body', $big, 'calendar "alice\@example.com": response larger than 67108864 bytes', raw => 1, calendar => 1);
}

# ---- invalid UTF-8 and NUL bytes (a server of our own: the emulator speaks UTF-8) ----------
sub via_raw_server
{
	my ($name, $raw, $error) = @_;
	my $before = snapshot();
	my $offset = -s $node->logfile;
	sql("ALTER SYSTEM SET gcalsync.google_api_url = '$raw->{base}/calendar/v3'");
	$node->reload;
	ok($node->wait_for_log(qr/gcalsync worker reloaded its configuration/, $offset), "$name: worker reloaded");
	sql(q{SELECT gcal_sync_now('alice')});
	my $state = GcalTest::wait_state($node, 'alice', 'backoff');
	like($state, qr/^backoff\|.*$error/, "$name: alice in backoff, last_error says why");
	ok(scalar @{ $raw->requests }, "$name: the bad answer was served");
	is(snapshot(), $before, "$name: nothing stored was changed");
	$offset = -s $node->logfile;
	sql('ALTER SYSTEM RESET gcalsync.google_api_url');
	$node->reload;
	ok($node->wait_for_log(qr/gcalsync worker reloaded its configuration/, $offset), "$name: worker reloaded again");
	sql(q{SELECT gcal_sync_now('alice')});
	is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', "$name: alice recovers");
	return $state;
}
{
	my $raw = GcalTest::start_raw_server(body => "{\"kind\":\"calendar#calendarList\",\"items\":[{\"id\":\"alice\@example.com\",\"summary\":\"caf\xe9 \xff\xfe $marker\"}],\"nextSyncToken\":\"x\"}");
	via_raw_server('invalid UTF-8 in a page', $raw, 'malformed calendar list page: body is not a JSON object');
	$raw->stop;
	# The first line of an error body that is not JSON is quoted in
	# last_error (an HTML error page says what went wrong); it must arrive
	# as valid text.
	$raw = GcalTest::start_raw_server(status => 503, content_type => 'text/html',
		body => "<html>\xff\xfe\xc3 Service \x00Unavailable \x1b[31m</html>");
	my $state = via_raw_server('invalid UTF-8, NUL and ESC in an error body', $raw, 'HTTP 503');
	$raw->stop;
	like($state, qr/Service/, 'the reason quotes the error page');
	unlike($state, qr/[\x00-\x08\x0b-\x1f\x7f]/, 'without control characters');
	ok(utf8::decode(my $copy = $state), 'as valid UTF-8');
	is(sql(q{SELECT last_error FROM gcalsync.owner WHERE owner = 'alice'}), '', 'last_error cleared after the recovery');
}

is(GcalTest::worker_pid($node), $pid, 'the worker never crashed');
GcalTest::mirror_matches($node, $emu, 'alice', 'demo-refresh-alice');
GcalTest::mirror_matches($node, $emu, 'bob', 'demo-refresh-bob');
my $log = join "\n", grep { !/ statement: / } split /\n/, slurp_file($node->logfile);
like($log, qr/gcalsync: owner "alice": malformed events page of calendar "alice\@example.com": /, 'the reasons are logged');
unlike($log, qr/$marker/, 'no body content in the server log');
unlike($log, qr/terminated by signal|server process .* was terminated/, 'no crash');
GcalTest::no_secrets_in_log($node);

$node->stop;
$emu->stop;
done_testing();
