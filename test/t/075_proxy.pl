# Proxies (issue 12, item 12): the postmaster's http_proxy, https_proxy and
# ALL_PROXY never route the worker's requests (tokens) anywhere; only
# gcalsync.proxy does. A proxy's error page that echoes the request's
# Authorization header never reaches last_error.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
# A "proxy" that records every request and answers with an error page echoing
# the request's credentials, as some proxies and misconfigured servers do.
my $proxy = GcalTest::start_raw_server(status => 502, content_type => 'text/plain',
	body => "Authorization: Bearer ya29.echoed-by-proxy\nrefresh_token=demo-refresh-echoed\n");

my $node;
{
	local $ENV{http_proxy} = $proxy->{base};
	local $ENV{https_proxy} = $proxy->{base};
	local $ENV{HTTPS_PROXY} = $proxy->{base};
	local $ENV{ALL_PROXY} = $proxy->{base};
	local $ENV{all_proxy} = $proxy->{base};
	local $ENV{no_proxy} = '';
	$node = GcalTest::node($emu, 'proxy');
}
sub sql { return $node->safe_psql('postgres', $_[0]); }

is(sql(q{SHOW gcalsync.proxy}), '', 'gcalsync.proxy is empty by default');
sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice synced with proxy variables in the server environment');
is(GcalTest::owner_state($node, 'alice'), 'active|', 'alice is active');
is(scalar(@{ $proxy->requests }), 0, 'no request went to the proxy of the environment');

# An explicit proxy is used.
sql(qq{ALTER SYSTEM SET gcalsync.proxy = '$proxy->{base}'});
$node->reload;
$node->poll_query_until('postgres', qq{SELECT current_setting('gcalsync.proxy') = '$proxy->{base}'}) or die;
# alice's access token is cached: her next round asks the API at once, and
# the proxy's answer (an error page echoing the Authorization header) is what
# the worker gets.
sql(q{SELECT gcal_sync_now('alice')});
ok(GcalTest::wait_until(sub { @{ $proxy->requests } > 0 }, 60, 'a request through the proxy'),
	'with gcalsync.proxy set, requests go through it');
like($proxy->requests->[0], qr{^GET http://127\.0\.0\.1:\d+/calendar/v3/}, 'an API request went to the proxy (absolute URI)');
my $st = GcalTest::wait_state($node, 'alice', 'backoff|error');
like($st, qr/502/, "alice's last_error says what the proxy answered: $st");
unlike($st, qr/ya29|demo-refresh|Bearer/i, 'last_error holds nothing of an echoed credential');
sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
$st = GcalTest::wait_state($node, 'bob', 'backoff|error');
like($st, qr/502/, "a token request through the proxy fails too: $st");
unlike($st, qr/ya29|demo-refresh|Bearer/i, '...and its last_error holds no echoed credential');

# A value of another scheme is refused.
my ($ret, $out, $err) = $node->psql('postgres', q{ALTER SYSTEM SET gcalsync.proxy = 'ftp://proxy.example.com'});
isnt($ret, 0, 'a proxy URL of another scheme is refused');

# Back to no proxy: syncing goes on directly.
sql(q{ALTER SYSTEM RESET gcalsync.proxy});
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('gcalsync.proxy') = ''}) or die;
my $seen = scalar(@{ $proxy->requests });
sql(q{SELECT gcal_sync_now('alice'), gcal_sync_now('bob')});
like(GcalTest::wait_state($node, 'alice', 'active'), qr/^active\|$/, 'alice synced directly once the proxy is unset');
like(GcalTest::wait_state($node, 'bob', 'active'), qr/^active\|$/, 'bob too');
is(scalar(@{ $proxy->requests }), $seen, 'no further request went to the proxy');
GcalTest::no_secrets_in_log($node, qr/echoed-by-proxy|demo-refresh-echoed/);

$proxy->stop;
$node->stop;
$emu->stop;
done_testing();
