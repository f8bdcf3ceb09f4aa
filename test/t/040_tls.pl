# Transport security: the emulator served over HTTPS with a throwaway CA.
# - https URLs and no gcalsync.ca_file: the system's CA store does not know
#   the CA, so the handshake fails: the owner goes to `backoff` with a clear
#   certificate error, nothing reaches the server, the worker does not crash;
# - gcalsync.ca_file = the CA, reloaded: the same owner syncs;
# - a certificate of the right CA for another host name is still refused
#   (hostname verification stays on);
# - no secret in the server log.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $ca = GcalTest::make_ca();
my $emu = GcalTest::start_emulator(data => 'demo', tls => $ca);
like($emu->{base}, qr{^https://127\.0\.0\.1:\d+$}, 'emulator serves https');
is($emu->control('GET', '/health')->{api_url}, "$emu->{base}/calendar/v3", 'control client trusts the CA');

my $node = GcalTest::node($emu, 'tls');
sub sql { return $node->safe_psql('postgres', $_[0]); }

is(sql('SHOW gcalsync.google_api_url'), "$emu->{base}/calendar/v3", 'node points at the https API URL');
is(sql('SHOW gcalsync.ca_file'), '', 'no ca_file: the system CA store');
my $pid = GcalTest::wait_worker($node);
ok($pid, "worker runs (pid $pid)");

# ---- unknown CA: refused, clear error, no crash ------------------------------------------
sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
my $st = GcalTest::wait_state($node, 'alice', 'backoff', 'postgres', 30);
like($st, qr/^backoff\|/, 'unknown CA: alice in backoff');
like($st, qr/certificate/i, 'last_error names the certificate problem')
  or diag("last_error: $st");
unlike($st, qr/demo-refresh|ya29|demo-client-secret/, 'last_error carries no secret');
is(sql(q{SELECT gcal_wait('alice', '200ms')}), 'f', 'gcal_wait is false while the handshake fails');
is(scalar @{ GcalTest::token_requests($emu, 0) }, 0, 'no token request reached the server (handshake refused first)');
is(scalar @{ GcalTest::api_requests($emu, 0) }, 0, 'no API request reached the server');
is(GcalTest::worker_pid($node), $pid, 'the same worker (no crash, no restart)');
is(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner = 'alice'}), '0', 'nothing synced');

# ---- the CA in gcalsync.ca_file: the same owner syncs --------------------------------
my $offset = -s $node->logfile;
sql(qq{ALTER SYSTEM SET gcalsync.ca_file = '$ca->{ca}'});
sql(q{SELECT pg_reload_conf()});
$node->wait_for_log(qr/gcalsync worker reloaded its configuration/, $offset);
is(sql('SHOW gcalsync.ca_file'), $ca->{ca}, 'ca_file set');
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'right CA: gcal_wait true');
is(sql(q{SELECT state, last_error IS NULL FROM gcal_status('alice')}), 'active|t', 'alice active, error cleared');
ok(GcalTest::mirror_matches($node, $emu, 'alice', 'demo-refresh-alice'), 'alice mirrored over https');
ok(scalar(@{ GcalTest::api_requests($emu, 0, 'alice') }) > 0, 'API requests arrived over TLS');
is(GcalTest::worker_pid($node), $pid, 'still the same worker');

# ---- right CA, wrong host name: still refused ----------------------------------------
my $wrong = GcalTest::make_ca(File::Basename::dirname($ca->{ca}), name => 'wrong', san => 'DNS:wrong.example');
is($wrong->{ca}, $ca->{ca}, 'the wrong-name certificate comes from the same CA');
my $emu2 = GcalTest::start_emulator(data => 'demo',
	tls => { cert => $wrong->{cert}, key => $wrong->{key}, ca => $ca->{ca}, name => 'wrong.example' });
$offset = -s $node->logfile;
sql(qq{ALTER SYSTEM SET gcalsync.google_api_url = '$emu2->{base}/calendar/v3'});
sql(qq{ALTER SYSTEM SET gcalsync.google_token_url = '$emu2->{base}/token'});
sql(q{SELECT pg_reload_conf()});
$node->wait_for_log(qr/gcalsync worker reloaded its configuration/, $offset);
sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
$st = GcalTest::wait_state($node, 'bob', 'backoff', 'postgres', 30);
like($st, qr/^backoff\|/, 'certificate for another host: bob in backoff');
like($st, qr/certificate|host ?name|subject name|does not match/i, 'last_error names the host name mismatch')
  or diag("last_error: $st");
is(scalar @{ GcalTest::token_requests($emu2, 0) }, 0, 'no token request reached the wrong-name server');
is(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner = 'bob'}), '0', 'nothing synced from it');
is(GcalTest::worker_pid($node), $pid, 'still the same worker');

# localhost is in no SAN of this certificate either
$offset = -s $node->logfile;
(my $lh = $emu2->{base}) =~ s/127\.0\.0\.1/localhost/;
sql(qq{ALTER SYSTEM SET gcalsync.google_api_url = '$lh/calendar/v3'});
sql(qq{ALTER SYSTEM SET gcalsync.google_token_url = '$lh/token'});
sql(q{SELECT pg_reload_conf()});
$node->wait_for_log(qr/gcalsync worker reloaded its configuration/, $offset);
sql(q{SELECT gcal_sync_now('bob')});
ok($node->poll_query_until('postgres', q{SELECT state = 'backoff' AND last_error LIKE '%localhost%' FROM gcal_status('bob')}),
	'https://localhost with a wrong.example certificate: refused too, the error names the host')
  or diag(GcalTest::owner_state($node, 'bob'));
is(scalar @{ GcalTest::token_requests($emu2, 0) }, 0, 'still no request reached the wrong-name server');

# back to the good server by its other name (localhost is in its SAN): works again
$offset = -s $node->logfile;
($lh = $emu->{base}) =~ s/127\.0\.0\.1/localhost/;
sql(qq{ALTER SYSTEM SET gcalsync.google_api_url = '$lh/calendar/v3'});
sql(qq{ALTER SYSTEM SET gcalsync.google_token_url = '$lh/token'});
sql(q{SELECT pg_reload_conf()});
$node->wait_for_log(qr/gcalsync worker reloaded its configuration/, $offset);
sql(q{SELECT gcal_sync_now('bob')});
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'https://localhost with the right certificate: bob syncs');
ok(GcalTest::mirror_matches($node, $emu, 'bob', 'demo-refresh-bob'), 'bob mirrored');
is(GcalTest::worker_pid($node), $pid, 'one worker all along');

GcalTest::no_secrets_in_log($node);

$node->stop;
$emu2->stop;
$emu->stop;
done_testing();
