# Injection and abuse: owner ids, calendar ids and event ids with quotes (' and
# "), backslashes, NUL-free unicode (emoji, right-to-left text, combining
# marks), %, #, /, ?, &, +, spaces, SQL-looking text and 1 KB lengths
# round-trip exactly through SQL (gcal_link, the data tables, gcal_status,
# gcal_changes), URLs (percent-encoded path segments, form-encoded refresh
# tokens) and NOTIFY payloads (valid JSON); and a hostile server cannot make
# the worker write outside the requesting owner's rows.
use strict;
use warnings;
use utf8;
use Encode qw(encode_utf8 decode_utf8);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $json = GcalTest::json_codec();
my $emu = GcalTest::start_emulator(data => 'empty');
my $node = GcalTest::node($emu, 'injection');

# sql(text) runs SQL given as a character string; the answer is characters.
sub sql { return decode_utf8($node->safe_psql('postgres', encode_utf8($_[0]))); }
# lit(value) is an SQL string literal (standard_conforming_strings is on).
sub lit { my ($v) = @_; $v =~ s/'/''/g; return "'$v'"; }
# rows(query) decodes a query that returns one json value.
sub rows { return $json->decode($node->safe_psql('postgres', encode_utf8($_[0]))); }
# pct(value) percent-encodes a path segment (UTF-8, everything but unreserved).
sub pct { my $b = encode_utf8($_[0]); $b =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord($1))/ge; return $b; }
# kb(seed) is exactly 1024 characters of seed repeated.
sub kb { my ($seed) = @_; my $s = $seed x (int(1024 / length($seed)) + 1); return substr($s, 0, 1024); }
# short(value) is an ASCII label of a value for test names.
sub short { my ($v) = @_; $v = substr($v, 0, 37) . '...(' . length($v) . ')' if length($v) > 40; $v =~ s/([^\x20-\x7e])/sprintf('\\x{%x}', ord($1))/ge; return $v; }

my $uni = "😀 שלום עולם e\x{301}a\x{308}n\x{303} 中文 \x{202E}rtl-override";   # emoji, RTL, combining marks
my $punct = q{'q' "dq" \b\s\ % # / ? & + = ; : @ , [ ] { } < > | ` ~ ! $ $$ $x$ ^ * ( )};
my $sqlish = q{'); DROP TABLE x; --};

my %owner = (
	o1 => "own1 $punct $uni $sqlish",
	o2 => kb(q{ow2 ' " \ 😀 % # / ? & + é }),
	o3 => $sqlish,
);
is(length($owner{o2}), 1024, 'a 1024-character owner id');

# Google side: two users (ids and e-mails are arbitrary text too).
my %user = (u1 => "u1 ' \" \\ 😀 % # / ? & +", u2 => "u2 $sqlish");
my %token = (
	o1 => q{inj-refresh-1'"\%#/?&+=;😀},
	o2 => 'inj-refresh-1b-' . ('%2B&=+' x 20),
	o3 => q{inj-refresh-2-');DROP_TABLE_x;--},
);
my %cal = (
	punct => "cal $punct $uni\@group.calendar.google.com",
	kb => kb(q{c/%#?&+ '"\ é 😀 }),
	slash => 'a/b/../c?d=e#f&g=h+i%20j',
	dots => '../../users/me/calendarList',
	p1 => "$user{u1}\@example.com",
	p2 => "$user{u2}\@example.com",
);
my %ev = (
	punct => "ev $punct $uni",
	kb => kb(q{e'"\/%#?&+😀 }),
	sql => $sqlish,
	plain => 'plain0000000000000000000aa',
);

$emu->control('POST', '/users', { id => $user{u1}, refresh_tokens => [ $token{o1}, $token{o2} ] });
$emu->control('POST', '/users', { id => $user{u2}, refresh_tokens => [ $token{o3} ] });
is_deeply([ sort map { $_->{id} } @{ $emu->control('GET', '/users') } ], [ sort values %user ],
	'the emulator holds users with such ids');

sub timed
{
	my ($id, $summary, %extra) = @_;
	return { id => $id, summary => $summary, start => { dateTime => '2025-05-01T10:00:00Z' },
		end => { dateTime => '2025-05-01T11:00:00Z' }, %extra };
}
my $desc = "multi\nline\ttab \\x00 %00 \$\$ \$cal\$ \$1 :name :'v' \\\\ E'\\\\' $uni";
$emu->control('POST', '/calendars', { id => $cal{punct}, summary => "shared $sqlish", description => $desc,
	members => { $user{u1} => { accessRole => 'owner' }, $user{u2} => { accessRole => 'reader', summaryOverride => $sqlish } },
	events => [ timed($ev{punct}, $sqlish, description => $desc, location => $punct),
		timed($ev{kb}, "kb $uni"), timed($ev{sql}, 'sql id'), timed($ev{plain}, $punct) ] });
$emu->control('POST', '/calendars', { id => $cal{kb}, summary => 'kb calendar',
	members => { $user{u1} => { accessRole => 'owner' } },
	events => [ timed('e1', 'in kb'), timed($ev{kb}, 'kb in kb') ] });
$emu->control('POST', '/calendars', { id => $cal{slash}, summary => 'slash',
	members => { $user{u2} => { accessRole => 'owner' } }, events => [ timed('slash/ev?#&', 'slashed') ] });
$emu->control('POST', '/calendars', { id => $cal{dots}, summary => 'dots',
	members => { $user{u2} => { accessRole => 'owner' } }, events => [ timed('../../x', 'dotted') ] });
$emu->control('POST', "/calendars/" . pct($cal{p1}) . '/events', { events => [ timed("p1 $punct", "p1 $uni") ] });
$emu->control('POST', "/calendars/" . pct($cal{p2}) . '/events', { events => [ timed("p2 $uni", $sqlish) ] });

my %api_cals = map {; $_->{calendar}{id} => 1 } @{ $emu->control('GET', '/calendars') };
ok(!grep({ !$api_cals{$_} } values %cal), 'the emulator holds calendars with such ids');
is_deeply([ sort map { $_->{event}{id} } @{ $emu->control('GET', '/calendars/' . pct($cal{punct}) . '/events') } ],
	[ sort values %ev ], 'and events with such ids');

# ---- link and sync ---------------------------------------------------------------------------
my $listener = GcalTest::listen($node);
my $cursor0 = sql('SELECT gcal_changes_cursor()');
sql(join '', map { "SELECT gcal_link(" . lit($owner{$_}) . ', ' . lit($token{$_}) . ");\n" } sort keys %owner);
for my $o (sort keys %owner)
{
	is(sql('SELECT gcal_wait(' . lit($owner{$o}) . ", '60s')"), 't', "$o: synced (" . short($owner{$o}) . ')');
}
is_deeply([ sort @{ rows(q{SELECT json_agg(owner) FROM gcalsync.status}) } ], [ sort values %owner ],
	'gcalsync.status holds the owner ids exactly');
for my $o (sort keys %owner)
{
	is(sql('SELECT owner = ' . lit($owner{$o}) . ", state FROM gcal_status(" . lit($owner{$o}) . ')'), 't|active',
		"$o: gcal_status finds the owner");
}

# mirror(owner key) compares the owner's three tables with the API's full
# listings for its refresh token: ids, summaries and statuses.
sub mirror
{
	my ($o, $label) = @_;
	my $access = $emu->token($token{$o});
	my $list = $emu->list($access, '/users/me/calendarList', { showDeleted => 'true', showHidden => 'true' });
	my (%want_list, %want_cal, %want_ev);
	for my $e (@$list)
	{
		$want_list{ $e->{id} } = [ $e->{summaryOverride} // $e->{summary}, $e->{deleted} ? JSON::PP::true : JSON::PP::false ];
		next if $e->{deleted};
		my $r = $emu->{http}->get($emu->url('/calendar/v3/calendars/' . pct($e->{id})), { headers => { Authorization => "Bearer $access" } });
		$want_cal{ $e->{id} } = $json->decode($r->{content})->{summary};
		for my $item (@{ $emu->list($access, '/calendars/' . pct($e->{id}) . '/events',
			{ singleEvents => 'false', showDeleted => 'true', maxResults => 2500 }) })
		{
			$want_ev{"$e->{id}\x{0}$item->{id}"} = [ $item->{status} // 'confirmed', $item->{summary}, $item->{description} ];
		}
	}
	my $ol = lit($owner{$o});
	my %got_list = map {; $_->[0] => [ $_->[1], $_->[2] ] }
	  @{ rows("SELECT coalesce(json_agg(json_build_array(calendar_id, coalesce(summary_override, summary), deleted)), '[]') FROM gcalsync.calendar_list WHERE owner = $ol") };
	my %got_cal = map {; $_->[0] => $_->[1] }
	  @{ rows("SELECT coalesce(json_agg(json_build_array(calendar_id, summary)), '[]') FROM gcalsync.calendar WHERE owner = $ol") };
	my %got_ev = map {; "$_->[0]\x{0}$_->[1]" => [ $_->[2], $_->[3], $_->[4] ] }
	  @{ rows("SELECT coalesce(json_agg(json_build_array(calendar_id, event_id, status, summary, description)), '[]') FROM gcalsync.event WHERE owner = $ol") };
	is_deeply(\%got_list, \%want_list, "$label: calendar_list ids and summaries equal the API's");
	is_deeply(\%got_cal, \%want_cal, "$label: calendar ids and summaries equal the API's");
	is_deeply(\%got_ev, \%want_ev, "$label: event ids, statuses, summaries and descriptions equal the API's ("
		  . scalar(keys %want_ev) . ' events)');
}
mirror($_, "$_ full sync") for sort keys %owner;

is(sql('SELECT char_length(owner), char_length(calendar_id), char_length(event_id) FROM gcalsync.event WHERE owner = '
	  . lit($owner{o2}) . ' AND calendar_id = ' . lit($cal{kb}) . ' AND event_id = ' . lit($ev{kb})), '1024|1024|1024',
	'1 KB owner, calendar and event ids stored whole');
is(sql('SELECT summary = ' . lit($sqlish) . ', description = ' . lit($desc) . ', location = ' . lit($punct)
	  . ' FROM gcalsync.event WHERE owner = ' . lit($owner{o1}) . ' AND event_id = ' . lit($ev{punct})), 't|t|t',
	'SQL-looking summary, description with $$, backslashes and newlines, punctuation location: verbatim');
is(sql(q{SELECT count(*) FROM pg_class WHERE relname = 'x'}), '0', 'nothing was dropped or created (no table x)');

# What the worker asked for: every calendar id went into the URL as one
# percent-encoded path segment.
my %path_ok;
for my $entry (@{ $emu->log(kind => 'request') })
{
	next unless ($entry->{api} // '') =~ /^(calendars\.get|events\.list)$/;
	(my $id = $entry->{path}) =~ s{^/calendar/v3/calendars/}{};
	$id =~ s{/events$}{} if $entry->{api} eq 'events.list';
	my $raw_ok = $entry->{raw_path} =~ m{^/calendar/v3/calendars/[^/?#]+(?:/events)?$} ? 1 : 0;
	$path_ok{"$entry->{api} $id"} = $raw_ok && $entry->{status} == 200 ? 1 : 0;
}
for my $c (sort keys %cal)
{
	is($path_ok{"calendars.get $cal{$c}"}, 1, "calendars.get of calendar $c: one encoded segment, 200");
	is($path_ok{"events.list $cal{$c}"}, 1, "events.list of calendar $c: one encoded segment, 200");
}
my @token_forms = map { $_->{form}{refresh_token} } @{ GcalTest::token_requests($emu, 0) };
ok(!grep({ my $t = $_; !grep { $_ eq $t } values %token } @token_forms) && @token_forms >= 3,
	'refresh tokens with quotes, %, &, +, = and emoji arrived form-encoded exactly');

# ---- incremental changes with such ids ----------------------------------------------------------
$emu->control('PATCH', '/calendars/' . pct($cal{punct}) . '/events/' . pct($ev{punct}), { summary => "$sqlish (2)" });
$emu->control('DELETE', '/calendars/' . pct($cal{punct}) . '/events/' . pct($ev{sql}));
my $new_id = "new \\'\" $uni";
$emu->control('POST', '/calendars/' . pct($cal{kb}) . '/events', timed($new_id, 'new'));
sql(join '', map { 'SELECT gcal_sync_now(' . lit($owner{$_}) . ");\n" } sort keys %owner);
is(sql('SELECT gcal_wait(' . lit($owner{$_}) . ", '60s')"), 't', "$_: incremental sync done") for sort keys %owner;
mirror($_, "$_ incremental") for sort keys %owner;
is(sql('SELECT string_agg(status, \',\' ORDER BY owner) FROM gcalsync.event WHERE event_id = ' . lit($sqlish)), 'cancelled,cancelled,cancelled',
	'the event with an SQL-looking id is a tombstone for each of the three owners');

# ---- NOTIFY payloads and the change feed ------------------------------------------------------------
my $feed = rows('SELECT coalesce(json_agg(c ORDER BY seq), \'[]\') FROM gcal_changes(' . $cursor0 . ', 100000) c');
ok(@$feed > 0, scalar(@$feed) . ' change-feed entries since the cursor');
ok($listener->wait_for(sub { @{ $_[0] } >= @$feed }, 30, 'a notification per feed entry'),
	'as many notifications arrived (' . scalar(@{ $listener->payloads }) . ')');
my (@bad_json, @notes);
for my $p (@{ $listener->payloads })
{
	my $d = eval { $json->decode($p) };
	if (!$d || ref $d ne 'HASH') { push @bad_json, $p; next; }
	push @notes, $d;
}
is(scalar @bad_json, 0, 'every NOTIFY payload is valid JSON') or diag(join "\n", grep { defined } @bad_json[0 .. 2]);
ok(!grep({ length($_) > 8000 } @{ $listener->payloads }), 'every payload within 8000 bytes');
# the same announcements, in the same order: feed entries and notifications
my $canon = sub {
	my ($owner, $table, $cal_id, $op, $state, $ids, $trunc) = @_;
	return $json->encode([ $owner, $table, $cal_id // '', $op, $state // '', $ids ]);
};
my @feed_c = map { $canon->($_->{owner}, $_->{table_name}, $_->{calendar_id}, $_->{op}, $_->{state}, $_->{ids}) } @$feed;
my @note_c = map { $canon->($_->{owner}, $_->{table}, $_->{calendar_id}, $_->{op}, $_->{state}, $_->{ids}) }
  grep { !$_->{truncated} } @notes;
my @trunc = grep { $_->{truncated} } @notes;
is(scalar @trunc, 0, 'no payload had to be cut');
is_deeply(\@note_c, \@feed_c, 'notifications carry exactly what gcal_changes returns (owner, table, calendar_id, op, ids)');
my %owners_seen = map { $_->{owner} => 1 } @$feed;
is_deeply([ sort keys %owners_seen ], [ sort values %owner ], 'gcal_changes returns the owner ids exactly');
my ($kb_upsert) = grep { $_->{owner} eq $owner{o2} && $_->{table_name} eq 'event' && ($_->{calendar_id} // '') eq $cal{kb}
	  && $_->{op} eq 'upsert' && grep { $_ eq $ev{kb} } @{ $_->{ids} } } @$feed;
ok($kb_upsert, '1 KB owner, 1 KB calendar id, 1 KB event id in one feed entry');
my @dels = grep { $_->{op} eq 'delete' && $_->{table_name} eq 'event' } @$feed;
is_deeply([ sort map { $_->{owner} } grep { ($_->{calendar_id} // '') eq $cal{punct} && "@{ $_->{ids} }" eq $sqlish } @dels ],
	[ sort values %owner ], 'the deletion of the SQL-looking event id is announced to each owner with the id exactly');
my ($new_note) = grep { ($_->{calendar_id} // '') eq $cal{kb} && grep { $_ eq $new_id } @{ $_->{ids} } } @notes;
ok($new_note, 'an id with backslash, quotes and unicode comes out of NOTIFY exactly');

# ---- unlink of the SQL-looking owner -------------------------------------------------------------------
my $others_before = sql('SELECT count(*) FROM gcalsync.event WHERE owner <> ' . lit($owner{o3}));
is(sql('SELECT gcal_unlink(' . lit($owner{o3}) . ')'), 't', "unlink the owner named $sqlish");
is(sql('SELECT (SELECT count(*) FROM gcalsync.event WHERE owner = ' . lit($owner{o3}) . ') + (SELECT count(*) FROM gcalsync.calendar_list WHERE owner = '
	  . lit($owner{o3}) . ')'), '0', 'its rows are gone');
is(sql('SELECT count(*) FROM gcalsync.event WHERE owner <> ' . lit($owner{o3})), $others_before, 'the other owners keep theirs');
ok($listener->wait_for(sub { grep { my $d = eval { $json->decode($_) }; $d && $d->{op} eq 'unlink' && $d->{owner} eq $owner{o3} } @{ $_[0] } }, 30),
	'the unlink is announced with the owner id exactly');

# ---- a hostile server cannot write outside the requesting owner's rows ----------------------------------
# B is a victim with a calendar of its own; A's "Google" lies: its calendar
# list names B's calendar, calendars.get and events.list of it return B's
# event ids with fields that claim B as owner.
my $victim_cal = 'victim.cal@group.calendar.google.com';
$emu->control('POST', '/users', { id => 'hostB', refresh_tokens => ['inj-refresh-hostB'] });
$emu->control('POST', '/users', { id => 'hostA', refresh_tokens => ['inj-refresh-hostA'] });
$emu->control('POST', '/calendars', { id => $victim_cal, summary => 'victim calendar',
	members => { hostB => { accessRole => 'owner' } }, events => [ timed('eb1', 'B one'), timed('eb2', 'B two') ] });
sql(q{SELECT gcal_link('B', 'inj-refresh-hostB')});
is(sql(q{SELECT gcal_wait('B', '60s')}), 't', 'victim B synced');
my $b_rows = sub {
	return sql(q{SELECT json_build_object(
		'list', (SELECT json_agg(l ORDER BY calendar_id) FROM gcalsync.calendar_list l WHERE owner = 'B'),
		'cal', (SELECT json_agg(c ORDER BY calendar_id) FROM gcalsync.calendar c WHERE owner = 'B'),
		'ev', (SELECT json_agg(e ORDER BY calendar_id, event_id) FROM gcalsync.event e WHERE owner = 'B'),
		'tokens', (SELECT count(*) FROM gcalsync.sync_token WHERE owner = 'B'),
		'status', (SELECT json_agg(s) FROM gcalsync.status s WHERE owner = 'B'))});
};
my $b_before = $b_rows->();
like($b_before, qr/"B one"/, 'B has its rows');
my $cursor1 = sql('SELECT gcal_changes_cursor()');
(my $victim_re = $victim_cal) =~ s/\./\\./g;
my $claims = { owner => 'B', calendar_id => $victim_cal, calendarId => $victim_cal, user => 'hostB' };
my @faults = map { $emu->control('POST', '/faults', { user => 'hostA', method => 'GET', count => -1, status => 200, %$_ }) } (
	{ path => 'calendarList$', body => { kind => 'calendar#calendarList', etag => '"h1"', nextSyncToken => 'hostile-list',
		owner => 'B', items => [ { kind => 'calendar#calendarListEntry', etag => '"h2"', id => $victim_cal, summary => 'hijacked list',
			accessRole => 'owner', primary => JSON::PP::true, %$claims } ] } },
	{ path => "calendars/$victim_re\$", body => { kind => 'calendar#calendar', etag => '"h3"', id => $victim_cal,
		summary => 'hijacked calendar', timeZone => 'UTC', %$claims } },
	{ path => "calendars/$victim_re/events\$", body => { kind => 'calendar#events', etag => '"h4"', nextSyncToken => 'hostile-events',
		owner => 'B', items => [ { %{ timed('eb1', 'HIJACKED') }, etag => '"h5"', status => 'confirmed', %$claims,
			organizer => { email => 'hostB@example.com', self => JSON::PP::true } },
			{ id => 'eb2', status => 'cancelled', etag => '"h6"', %$claims },
			{ %{ timed('eb3', 'planted') }, etag => '"h7"', status => 'confirmed', %$claims } ] } });
sql(q{SELECT gcal_link('A', 'inj-refresh-hostA')});
is(sql(q{SELECT gcal_wait('A', '60s')}), 't', 'A synced from its lying server');
ok(GcalTest::wait_fault_hit($emu, $faults[2]), 'the lying events listing was served');
is(sql(qq{SELECT string_agg(event_id || '=' || status || ':' || coalesce(summary, ''), ',' ORDER BY event_id)
	FROM gcalsync.event WHERE owner = 'A' AND calendar_id = '$victim_cal'}), 'eb1=confirmed:HIJACKED,eb2=cancelled:,eb3=confirmed:planted',
	'what the server said about "B\'s" calendar is stored as A\'s own rows');
is($b_rows->(), $b_before, 'B\'s rows, sync tokens and status are unchanged, byte for byte');
is(sql(qq{SELECT count(*) FROM gcal_changes($cursor1, 100000) WHERE owner <> 'A'}), '0', 'no change announced for anybody but A');
sql(q{SELECT gcal_sync_now('A')});
is(sql(q{SELECT gcal_wait('A', '60s')}), 't', 'A synced again (incremental, hostile sync tokens)');
is($b_rows->(), $b_before, 'B still unchanged');
is(sql(q{SELECT count(*) FROM gcalsync.sync_token WHERE owner = 'B' AND sync_token LIKE 'hostile%'}), '0', 'no hostile sync token stored for B');
is(sql(q{SELECT string_agg(sync_token, ',' ORDER BY sync_token) FROM gcalsync.sync_token WHERE owner = 'A' AND sync_token LIKE 'hostile%'}),
	'hostile-events,hostile-list', 'the hostile sync tokens are A\'s');
$emu->control('DELETE', '/faults');
sql(q{SELECT gcal_unlink('A')});
is($b_rows->(), $b_before, 'unlinking A leaves B as it was');

# ---- what the database cannot hold: a NUL, a calendar id too long for NOTIFY -------------------------------
# A NUL (\u0000) cannot be stored in text or jsonb: the page is malformed (an
# error of that calendar only, retried with backoff). A calendar id of 8 KB
# does not fit into a NOTIFY payload next to the owner.
my $pid = GcalTest::worker_pid($node);
my $others = sql(q{SELECT md5(string_agg(owner || calendar_id || event_id || data::text || synced_at::text, ',' ORDER BY owner, calendar_id, event_id))
	FROM gcalsync.event});
my $big_cal = ('😀' x 2000) . '@group.calendar.google.com';
$emu->control('POST', '/users', { id => 'hostC', refresh_tokens => ['inj-refresh-hostC'] });
$emu->control('POST', '/users', { id => 'hostD', refresh_tokens => ['inj-refresh-hostD'] });
$emu->control('POST', '/calendars/hostC%40example.com/events', timed('good1', 'fine'));
$emu->control('POST', '/calendars/hostD%40example.com/events', timed('good2', 'fine'));
$emu->control('POST', '/calendars', { id => 'nul@group.calendar.google.com', summary => 'nul', members => { hostC => { accessRole => 'owner' } },
	events => [ timed("nul\x{0}id", "a\x{0}b", description => "\x{0}") ] });
$emu->control('POST', '/calendars', { id => $big_cal, summary => 'big id', members => { hostD => { accessRole => 'owner' } },
	events => [ timed('bigcal1', 'in the big calendar') ] });
my $offset = -s $node->logfile;
sql(q{SELECT gcal_link('C', 'inj-refresh-hostC'); SELECT gcal_link('D', 'inj-refresh-hostD')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM gcalsync.event WHERE owner = 'C' AND event_id = 'good1'}),
	'C: its good calendar is synced despite the NUL in the other');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM gcalsync.event WHERE owner = 'D' AND event_id = 'good2'}),
	'D: its good calendar is synced despite the 8 KB calendar id of the other');
my $log_has = sub { my ($re) = @_; return GcalTest::wait_until(sub { substr(slurp_file($node->logfile), $offset) =~ $re }, 30, "log $re") };
ok($log_has->(qr/owner "C": malformed events page of calendar "nul\@group\.calendar\.google\.com": .*\\u0000/),
	'a NUL from the server: that page is reported malformed, naming the NUL');
is(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner = 'C' AND calendar_id = 'nul@group.calendar.google.com'}), '0', 'nothing of it stored');
is(sql('SELECT count(*) FROM gcalsync.calendar_list WHERE owner = \'D\' AND calendar_id = ' . lit($big_cal)), '1',
	'the 8 KB calendar id is in the calendar list');
my $big_events = sub { sql('SELECT count(*) FROM gcalsync.event WHERE owner = \'D\' AND calendar_id = ' . lit($big_cal)) };
GcalTest::wait_until(sub { $big_events->() eq '1' || substr(slurp_file($node->logfile), $offset) =~ /owner "D": .*notification payload/ }, 30,
	'the big calendar synced or failed');
# The NOTIFY payload of such a page leaves the calendar id out and says it
# was truncated; the page commits.
is($big_events->(), '1', 'events of a calendar whose id does not fit a NOTIFY payload are synced');
is(GcalTest::worker_pid($node), $pid, 'no crash: the same worker');
is(sql(q{SELECT md5(string_agg(owner || calendar_id || event_id || data::text || synced_at::text, ',' ORDER BY owner, calendar_id, event_id))
	FROM gcalsync.event WHERE owner NOT IN ('C', 'D')}), $others, 'the other owners\' rows are untouched');
is($b_rows->(), $b_before, 'B still as it was');
sql(q{SELECT gcal_unlink('C'); SELECT gcal_unlink('D')});

$listener->stop;
is(GcalTest::worker_pid($node) ne '', 1, 'the worker runs');
GcalTest::no_secrets_in_log($node, qr/inj-refresh-/);

$node->stop;
$emu->stop;
done_testing();
