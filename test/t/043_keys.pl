# Secrets at rest: refresh tokens and the client secret are sealed with
# AES-256-GCM under the key file (gcalsync.key_file), bound to their row.
# A pg_dump holds no usable secret; a moved ciphertext does not open; key
# rotation re-encrypts everything; a wrong or missing key is a clear error
# state, never a crash and never plaintext.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'keys');
sub sql { return $node->safe_psql('postgres', $_[0]); }
my $key_file = GcalTest::key_file($node);

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice'); SELECT gcal_link('bob', 'demo-refresh-bob')});
is(sql(q{SELECT gcal_wait('alice', '60s') AND gcal_wait('bob', '60s')}), 't', 'owners synced with sealed tokens');
ok(-f $key_file, 'key file created on first use (outside the data directory)');
is((stat $key_file)[2] & 07777, 0600, 'key file mode 0600');
my $pid = sql('SELECT pid FROM gcalsync.worker_status()');

# A dump of the database holds no usable token or secret.
my $dump = $node->basedir . '/db.sql';
$node->command_ok([ 'pg_dump', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump');
my $text = slurp_file($dump);
unlike($text, qr/demo-refresh-alice|demo-refresh-bob|demo-client-secret/, 'the dump contains no refresh token or client secret');
like($text, qr/COPY gcalsync\.owner/, 'but it carries the links');

# A ciphertext moved to another owner's row does not open there.
sql(q{UPDATE gcalsync.owner SET refresh_token = (SELECT refresh_token FROM gcalsync.owner WHERE owner = 'alice') WHERE owner = 'bob'});
sql(q{SELECT gcal_sync_now('bob')});
is(sql(q{SELECT gcal_wait('bob', '60s')}), 'f', 'moved ciphertext: sync fails');
like(sql(q{SELECT state || ': ' || last_error FROM gcal_status('bob')}), qr/^error: cannot decrypt the refresh token: .*does not authenticate/,
	'clear error state for the owner');
is(sql(q{SELECT gcal_sync_now('alice'); SELECT gcal_wait('alice', '60s')}), "\nt", 'the other owner is unaffected');
sql(q{SELECT gcal_refresh('bob', 'demo-refresh-bob')});
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'gcal_refresh restores the owner');

# Rotation: a new key in front, every secret sealed again, old key kept.
my $before = sql(q{SELECT string_agg(encode(refresh_token, 'hex'), ',' ORDER BY owner) FROM gcalsync.owner});
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT gcal_rotate_key()');
is($out, '3', 'gcal_rotate_key re-encrypted two tokens and the client secret');
like($err, qr/re-encrypted 3 secrets with new key [0-9a-f]{16}/, 'and said so');
isnt(sql(q{SELECT string_agg(encode(refresh_token, 'hex'), ',' ORDER BY owner) FROM gcalsync.owner}), $before, 'ciphertexts changed');
my @keys = grep { /^[0-9a-f]{64}$/ } split /\n/, slurp_file($key_file);
is(scalar(@keys), 2, 'the key file holds the new key and the old one');
is(sql(q{SELECT gcal_sync_now('alice'); SELECT gcal_wait('alice', '60s')}), "\nt", 'sync works after rotation');
# The old key can now go.
open my $fh, '>', $key_file or die; print $fh "$keys[0]\n"; close $fh;
chmod 0600, $key_file;
is(sql(q{SELECT gcal_sync_now('alice'); SELECT gcal_wait('alice', '60s')}), "\nt", 'and without the old key');

# A wrong key: clear error state, no crash, no plaintext anywhere.
open $fh, '>', $key_file or die; print $fh ('ab' x 32) . "\n"; close $fh;
chmod 0600, $key_file;
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 'f', 'wrong key: sync fails');
like(sql(q{SELECT last_error FROM gcal_status('alice')}), qr/sealed with a key that is not in the key file/, 'with a clear reason');
is(sql('SELECT pid FROM gcalsync.worker_status()'), $pid, 'the worker did not crash');

# A key file others can read is refused.
chmod 0644, $key_file;
my ($rc2, $o2, $e2) = $node->psql('postgres', q{SELECT gcal_link('carol', 'demo-refresh-carol')});
like($e2, qr/key file ".*gcalsync\.key" has group or world access/, 'a group/world-readable key file is refused');
like($e2, qr/HINT:  Run: chmod 600/, 'with the fix');

# Putting the right key back and re-arming restores syncing.
open $fh, '>', $key_file or die; print $fh "$keys[0]\n"; close $fh;
chmod 0600, $key_file;
sql(q{SELECT gcal_refresh('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'right key back: syncing again');

# A missing key file: clear error, and the worker keeps running.
unlink $key_file;
sql(q{SELECT gcal_sync_now('bob')});
is(sql(q{SELECT gcal_wait('bob', '60s')}), 'f', 'missing key file: sync fails');
like(sql(q{SELECT last_error FROM gcal_status('bob')}), qr/could not open key file/, 'with a clear reason');
is(sql('SELECT pid FROM gcalsync.worker_status()'), $pid, 'the worker did not crash');

# No secret reached the server log (statement logging is off: see GcalTest::node).
my $log = join "\n", split /\n/, slurp_file($node->logfile);
unlike($log, qr/demo-refresh-|demo-client-secret|ya29|$keys[0]/, 'no token, secret or key in the server log');

$node->stop;
$emu->stop;
done_testing();
