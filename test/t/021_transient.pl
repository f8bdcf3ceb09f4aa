# Resilience (issue 5), temporary failures end to end: 429, the 403 rate and
# quota reasons, 403 as an HTML page, 500/502/503, timeouts beyond
# gcalsync.http_timeout, dropped connections, truncated bodies, token
# endpoint failures, connection refused and DNS failure.
#
# Expected for each: the owner goes to `backoff` (with the reason in
# last_error) while the failure lasts, other owners sync meanwhile, and once
# the failure stops the owner is `active` again (gcal_wait true) with the
# mirror equal to the emulator's data. Retry-After (seconds or HTTP date) is
# honoured: the next attempt is not earlier; without it, the retries back off
# exponentially.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX qw(strftime);
use Time::HiRes qw(time);
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'transient', "gcalsync.http_timeout = '500ms'\n");

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first full sync done');
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob: first full sync done');
my $pid = GcalTest::worker_pid($node);

sub round
{
	my ($owner) = @_;
	sql("SELECT gcal_sync_now('$owner')");
	return sql("SELECT gcal_wait('$owner', '60s')");
}

my $change = 0;

# failing(name, fault, error_regex, option => 1) injects a fault for alice
# until removed, and checks backoff, bob meanwhile, and the recovery.
# Options: expire (alice's access token first, so that the round needs the
# token endpoint), touch_list (change alice's primary list entry, so that the
# round reads its calendar resource).
sub failing
{
	my ($name, $fault, $error, %opt) = @_;
	# A change, so that the recovery has something to bring.
	$change++;
	$emu->control('PATCH', '/calendars/alice%40example.com/events/3taxday00000000000000000aa', { summary => "Tax day $change" });
	$emu->control('POST', '/access-tokens/expire', { user => 'alice' }) if $opt{expire};
	$emu->control('PUT', '/users/alice/calendarList/alice%40example.com', { colorId => '' . ($change % 20 + 1) }) if $opt{touch_list};
	my $f = $emu->control('POST', '/faults', { user => 'alice', count => -1, %$fault });
	sql(q{SELECT gcal_sync_now('alice')});
	like(GcalTest::wait_state($node, 'alice', 'backoff'), qr/^backoff\|.*$error/, "$name: alice in backoff, last_error says why");
	is(round('bob'), 't', "$name: bob syncs meanwhile");
	is(GcalTest::owner_state($node, 'bob'), 'active|', "$name: bob stays active");
	$emu->control('DELETE', "/faults/$f->{id}");
	is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', "$name: alice recovers");
	is(sql(q{SELECT state || '|' || coalesce(last_error, '') || '|' || summary FROM gcal_status('alice') s,
		gcalsync.event e WHERE e.owner = 'alice' AND e.event_id = '3taxday00000000000000000aa'}),
		"active||Tax day $change", "$name: alice active, error cleared, the change arrived");
}

my %status_case = (
	'429 tooManyRequests' => [ { path => '/events$', preset => 'tooManyRequests' }, 'HTTP 429' ],
	'403 rateLimitExceeded' => [ { path => '/events$', preset => 'rateLimitExceeded' }, 'HTTP 403 rateLimitExceeded' ],
	'403 userRateLimitExceeded' => [ { path => '/events$', preset => 'userRateLimitExceeded' }, 'HTTP 403 userRateLimitExceeded' ],
	'403 quotaExceeded' => [ { path => '/events$', preset => 'quotaExceeded' }, 'HTTP 403 quotaExceeded' ],
	'403 rateLimitExceeded (modern body)' => [ { path => 'calendarList$', preset => 'rateLimitExceededModern' }, 'calendar list: HTTP 403' ],
	'403 HTML page' => [ { path => '/events$', preset => 'html403' }, 'HTTP 403' ],
	'500 backendError' => [ { path => '/events$', preset => 'backendError' }, 'HTTP 500 backendError' ],
	'502 HTML' => [ { path => '/events$', status => 502, content_type => 'text/html; charset=UTF-8',
		body_text => "<html><title>502 Bad Gateway</title>\n<p>The server encountered a temporary error</html>" }, 'HTTP 502' ],
	'503 serviceUnavailable' => [ { path => 'calendarList$', preset => 'serviceUnavailable' }, 'calendar list: HTTP 503' ],
	'503 on calendars.get' => [ { path => 'calendars/[^/]+$', preset => 'serviceUnavailable' }, 'HTTP 503', touch_list => 1 ],
	'timeout beyond http_timeout' => [ { path => '/events$', action => 'pass', delay => 3 }, 'request failed: .*[Tt]ime' ],
	'connection dropped' => [ { path => '/events$', action => 'drop' }, 'request failed' ],
	'truncated body' => [ { path => '/events$', action => 'truncated' }, 'request failed' ],
);
failing($_, @{ $status_case{$_} }) for sort keys %status_case;

# The token endpoint failing temporarily is a backoff too (not revoked, not error).
failing('token endpoint 503', { path => '^/token$', preset => 'serviceUnavailable' }, 'token endpoint answered HTTP 503', expire => 1);
failing('token endpoint 500 HTML', { path => '^/token$', status => 500, content_type => 'text/html', body_text => '<html>oops</html>' },
	'token endpoint answered HTTP 500', expire => 1);
failing('token endpoint drop', { path => '^/token$', action => 'drop' }, 'token request failed', expire => 1);
failing('token endpoint timeout', { path => '^/token$', action => 'pass', delay => 3 }, 'token request failed: .*[Tt]ime', expire => 1);

# ---- Retry-After ----------------------------------------------------------------------
# A failing calendar list (the first request of a round) with Retry-After:
# alice's next request comes no earlier than the server asked for.
# retry_gap(fault) returns the seconds between the failed request and alice's next one.
sub retry_gap
{
	my ($name, $fault) = @_;
	my $seq = GcalTest::log_seq($emu);
	my $f = $emu->control('POST', '/faults', { user => 'alice', path => 'calendarList$', count => 1, %$fault });
	is(round('alice'), 't', "$name: alice recovers after the Retry-After");
	my @log = @{ GcalTest::api_requests($emu, $seq, 'alice') };
	my ($i) = grep { ($log[$_]{fault} // 0) == $f->{id} } 0 .. $#log;
	return undef unless defined $i && $i < $#log;
	return ($log[ $i + 1 ]{time} - $log[$i]{time}, $log[$i]{time});
}

for my $case ([ '429', 'tooManyRequests', 3 ], [ '503', 'serviceUnavailable', 2 ], [ '500', 'backendError', 2 ])
{
	my ($name, $preset, $after) = @$case;
	my ($gap) = retry_gap("$name with Retry-After: $after", { preset => $preset, headers => { 'Retry-After' => "$after" } });
	ok(defined $gap && $gap >= $after - 0.05, sprintf('%s with Retry-After: %d: next attempt %.2f s later', $name, $after, $gap // -1));
}
{
	# Retry-After as an HTTP date, 3 s ahead (the header has whole seconds).
	my $at = int(time()) + 3;
	my $date = strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime($at));
	my ($gap, $t) = retry_gap("503 with Retry-After: $date", { preset => 'serviceUnavailable', headers => { 'Retry-After' => $date } });
	ok(defined $gap && $t + $gap >= $at - 1, sprintf('503 with Retry-After as an HTTP date: next attempt %.2f s later, %.2f s before the date',
		$gap // -1, defined $gap ? $at - $t - $gap : -1));
}

# ---- exponential backoff without Retry-After --------------------------------------------
# Each round's first request (the calendar list) fails: retry k comes at
# least 0.5 * 2^(k-1) s after the failure before it (base 1 s, jitter 0.5-1).
{
	my $seq = GcalTest::log_seq($emu);
	my $f = $emu->control('POST', '/faults', { user => 'alice', path => 'calendarList$', preset => 'backendError', count => -1 });
	sql(q{SELECT gcal_sync_now('alice')});
	GcalTest::wait_fault_hit($emu, $f, 4);
	$emu->control('DELETE', "/faults/$f->{id}");
	# The fifth try would come 4-8 s later: ask for it now instead.
	sql(q{SELECT gcal_sync_now('alice')});
	my @t = map { $_->{time} } grep { ($_->{fault} // 0) == $f->{id} } @{ GcalTest::api_requests($emu, $seq, 'alice') };
	my @gaps = map { $t[$_] - $t[ $_ - 1 ] } 1 .. 3;
	ok($gaps[0] >= 0.5 && $gaps[1] >= 1.0 && $gaps[2] >= 2.0,
		sprintf('backoff doubles: gaps %s s between failed attempts', join(', ', map { sprintf '%.2f', $_ } @gaps)));
	is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice recovers after repeated failures');
	is(sql(q{SELECT failures FROM gcalsync.owner WHERE owner = 'alice'}), '0', 'failure count reset after the recovery');
}

# ---- connection refused, DNS failure (every owner affected) -----------------------------
for my $case ([ 'connection refused', 'http://127.0.0.1:9/calendar/v3', 'request failed' ],
	[ 'DNS failure', 'https://gcalsync-test.invalid/calendar/v3', 'request failed' ])
{
	my ($name, $url, $error) = @$case;
	my $offset = -s $node->logfile;
	sql("ALTER SYSTEM SET gcalsync.google_api_url = '$url'");
	$node->reload;
	ok($node->wait_for_log(qr/gcalsync worker reloaded its configuration/, $offset), "$name: worker reloaded");
	sql(q{SELECT gcal_sync_now('alice')});
	like(GcalTest::wait_state($node, 'alice', 'backoff'), qr/^backoff\|.*$error/, "$name: alice in backoff");
	$offset = -s $node->logfile;
	sql('ALTER SYSTEM RESET gcalsync.google_api_url');
	$node->reload;
	ok($node->wait_for_log(qr/gcalsync worker reloaded its configuration/, $offset), "$name: worker reloaded again");
	is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', "$name: alice recovers");
}

is(GcalTest::worker_pid($node), $pid, 'the worker never restarted');
GcalTest::mirror_matches($node, $emu, 'alice', 'demo-refresh-alice');
GcalTest::mirror_matches($node, $emu, 'bob', 'demo-refresh-bob');
GcalTest::no_secrets_in_log($node);

$node->stop;
$emu->stop;
done_testing();
