# Resilience (issue 5), OAuth failures end to end: a 401 on a cached access
# token renews it and retries once; a 401 that persists after the renewal is
# a temporary failure, not a loop; invalid_grant mid-life stops every request
# of that owner until gcal_refresh; invalid_client puts the owner in `error`
# with a clear reason and no retry loop until gcal_set_client fixes the
# client. Rounds are driven by gcal_sync_now + gcal_wait, never by sleeping.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'auth');

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
sql(q{SELECT gcal_link('carol', 'demo-refresh-carol')});
for my $o (qw(alice bob carol))
{
	is(sql("SELECT gcal_wait('$o', '60s')"), 't', "$o: first full sync done");
}
my $pid = GcalTest::worker_pid($node);

# round(owner) runs one round of an owner and returns gcal_wait's answer.
sub round
{
	my ($owner) = @_;
	sql("SELECT gcal_sync_now('$owner')");
	return sql("SELECT gcal_wait('$owner', '60s')");
}

# owner_log(since, owner, refresh) lists the owner's API requests and token
# requests (by refresh token) after since, in order.
sub owner_log
{
	my ($since, $owner, $refresh) = @_;
	return [ grep { ($_->{api} // '') eq 'token' ? ($_->{form}{refresh_token} // '') eq $refresh : ($_->{user} // '') eq $owner }
		  @{ $emu->log(since => $since, kind => 'request') } ];
}

# ---- 401 on a cached access token: renewed once, the request retried ------------
# Expected: the first API call gets 401, one token request follows, the same
# call is retried with the new token and the round succeeds.
for my $case ([ 'revoke', 'alice' ], [ 'expire', 'bob' ])
{
	my ($how, $owner) = @$case;
	my $seq = GcalTest::log_seq($emu);
	is($emu->control('POST', "/access-tokens/$how", { user => $owner })->{count} > 0, 1, "$owner: access token ${how}d at the emulator");
	is(round($owner), 't', "$owner: round after the access token was ${how}d succeeds");
	my $log = owner_log($seq, $owner, "demo-refresh-$owner");
	my @unauth = grep { ($_->{status} // 0) == 401 } @$log;
	my @tokens = grep { $_->{api} eq 'token' } @$log;
	is(scalar(@unauth), 1, "$owner: exactly one 401");
	is(scalar(@tokens), 1, "$owner: exactly one token renewal");
	my ($i401) = grep { ($log->[$_]{status} // 0) == 401 } 0 .. $#$log;
	ok(defined $i401 && $log->[ $i401 + 1 ]{api} eq 'token' && $log->[ $i401 + 2 ]{path} eq $log->[$i401]{path}
		  && $log->[ $i401 + 2 ]{status} == 200,
		"$owner: 401, then the token request, then the same call retried with success");
	is(GcalTest::owner_state($node, $owner), 'active|', "$owner: active, no error");
}

# ---- a 401 that persists after the renewal: backoff, not a loop -------------------
# Expected: 401 -> one renewal -> 401 again -> the round fails (state backoff,
# last_error says the token was refused right after renewal); the next try
# comes only after the backoff delay. When Google accepts tokens again the
# owner recovers.
{
	my $seq = GcalTest::log_seq($emu);
	my $fault = $emu->control('POST', '/faults', { user => 'alice', path => '^/calendar/v3/', preset => 'authError', count => -1 });
	sql(q{SELECT gcal_sync_now('alice')});
	like(GcalTest::wait_state($node, 'alice', 'backoff'), qr/^backoff\|.*refused right after renewal.*401/,
		'alice: a persistent 401 puts the owner in backoff with the reason');
	my $log = owner_log($seq, 'alice', 'demo-refresh-alice');
	is(join(',', map { $_->{api} eq 'token' ? 'token' : $_->{status} } @$log[0 .. 2]), '401,token,401',
		'alice: one renewal, one retry, then the round gives up');
	ok(@$log == 3 || $log->[3]{time} - $log->[2]{time} >= 0.4, 'alice: no immediate retry (backoff)');
	is(round('carol'), 't', 'carol syncs meanwhile');
	$emu->control('DELETE', "/faults/$fault->{id}");
	is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice recovers once tokens are accepted again');
	is(GcalTest::owner_state($node, 'alice'), 'active|', 'alice: active, error cleared');
}

# ---- invalid_grant mid-life: revoked, silence, gcal_refresh restores ----------------
# Expected: revoking bob's refresh token at Google (which also revokes his
# access tokens) makes the next round fail with invalid_grant: state revoked,
# gcal_wait false. From then on no request at all (token or API) is made for
# bob, however many rounds run (even gcal_sync_now('bob') asks for none),
# until gcal_refresh gives a new token.
{
	$emu->control('POST', '/refresh-tokens/revoke', { user => 'bob' });
	my $seq = GcalTest::log_seq($emu);
	is(round('bob'), 'f', 'bob: gcal_wait false once the refresh token is revoked');
	like(GcalTest::owner_state($node, 'bob'), qr/^revoked\|.*invalid_grant/, 'bob: revoked, with invalid_grant as the reason');
	my $at_revocation = owner_log($seq, 'bob', 'demo-refresh-bob');
	cmp_ok(scalar(@$at_revocation), '<=', 3, 'bob: the revocation cost at most a 401, a token request and nothing more');
	is(scalar(grep { $_->{api} eq 'token' } @$at_revocation), 1, 'bob: one token request answered invalid_grant');
	my $cycles = sql('SELECT cycles FROM gcalsync.worker_status()');
	for my $i (1 .. 3)
	{
		sql(q{SELECT gcal_sync_now('bob')});
		is(round('alice'), 't', "later round $i of another owner");
	}
	cmp_ok(sql('SELECT cycles FROM gcalsync.worker_status()'), '>=', $cycles + 3, 'the worker ran at least three more cycles');
	is(scalar(@{ owner_log($seq, 'bob', 'demo-refresh-bob') }), scalar(@$at_revocation),
		'bob: no token or API request after the revocation');
	is(sql(q{SELECT gcal_wait('bob', '1s')}), 'f', 'bob: gcal_wait stays false while revoked');
	like(GcalTest::owner_state($node, 'bob'), qr/^revoked\|/, 'bob: still revoked');

	$emu->control('POST', '/users/bob/refresh-tokens', { token => 'demo-refresh-bob-2' });
	$emu->control('PATCH', '/calendars/bob%40example.com/events/g6working0location00000000', { summary => 'Changed while revoked' });
	sql(q{SELECT gcal_refresh('bob', 'demo-refresh-bob-2')});
	is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob: gcal_refresh restores syncing');
	is(GcalTest::owner_state($node, 'bob'), 'active|', 'bob: active, error cleared');
	is(sql(q{SELECT summary FROM gcalsync.event WHERE owner = 'bob' AND event_id = 'g6working0location00000000'}),
		'Changed while revoked', 'bob: the change made while revoked arrived');
	ok(scalar(@{ GcalTest::token_requests($emu, $seq, 'demo-refresh-bob-2') }) >= 1, 'bob: the new refresh token is used');
	GcalTest::mirror_matches($node, $emu, 'bob', 'demo-refresh-bob-2');
}

# ---- invalid_client: error with a clear reason, no retry loop ------------------------
# Expected: once the client secret is rotated at Google, the next token
# request answers invalid_client: the owner goes to `error` with a last_error
# naming invalid_client (no secret), gcal_wait is false, and no further token
# request is made for it across later rounds (owners with a still valid
# access token go on). gcal_set_client with the new secret clears the error
# and the owner syncs again.
{
	$emu->control('PATCH', '/settings', { client_secret => 'rotated-client-secret' });
	$emu->control('POST', '/access-tokens/expire', { user => 'carol' });
	my $seq = GcalTest::log_seq($emu);
	is(round('carol'), 'f', 'carol: gcal_wait false with a rotated client secret');
	my $state = GcalTest::owner_state($node, 'carol');
	like($state, qr/^error\|token endpoint answered HTTP 401 invalid_client/, 'carol: error, last_error names invalid_client');
	unlike($state, qr/rotated-client-secret|demo-client-secret/, 'carol: last_error holds no secret');
	my $tokens = scalar @{ GcalTest::token_requests($emu, $seq) };
	is($tokens, 1, 'one token request answered invalid_client');
	for my $i (1 .. 3)
	{
		sql(q{SELECT gcal_sync_now('carol')});
		is(round('alice'), 't', "alice (valid cached token) syncs in later round $i");
	}
	is(scalar @{ GcalTest::token_requests($emu, $seq) }, $tokens, 'no further token request: no retry loop');
	is(scalar @{ GcalTest::api_requests($emu, $seq, 'carol') }, 1, 'carol: no API request after the failed renewal');
	like(GcalTest::owner_state($node, 'carol'), qr/^error\|/, 'carol: still error');

	sql(q{SELECT gcal_set_client('gcalsync-demo.apps.googleusercontent.com', 'rotated-client-secret')});
	is(sql(q{SELECT gcal_wait('carol', '60s')}), 't', 'carol: gcal_set_client with the right secret restores');
	is(GcalTest::owner_state($node, 'carol'), 'active|', 'carol: active, error cleared');

	# Back to the demo secret, so that the test's own token requests work.
	$emu->control('PATCH', '/settings', { client_secret => 'demo-client-secret' });
	sql(q{SELECT gcal_set_client('gcalsync-demo.apps.googleusercontent.com', 'demo-client-secret')});
	GcalTest::mirror_matches($node, $emu, 'carol', 'demo-refresh-carol');
	GcalTest::mirror_matches($node, $emu, 'alice', 'demo-refresh-alice');
}

is(GcalTest::worker_pid($node), $pid, 'the worker never restarted');
GcalTest::no_secrets_in_log($node, qr/rotated-client-secret/);

$node->stop;
$emu->stop;
done_testing();
