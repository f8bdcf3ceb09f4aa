# Key rotation with gcalsync.key_command seen by every process (issue 12,
# item 2): each process caches what the command printed; gcal_rotate_key in
# one backend bumps a key generation in shared memory once the new key is in
# place, and every other process runs the command again before it seals, so
# no session goes on sealing with the old key.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $dir = PostgreSQL::Test::Utils::tempdir();
my $kms = "$dir/kms-keys";
my $old = 'ab' x 32;
my $new = 'cd' x 32;
sub put_keys { open my $fh, '>', $kms or die; print $fh map { "$_\n" } @_; close $fh; chmod 0600, $kms; }
put_keys($old);
my $script = "$dir/getkey.sh";
open my $fh, '>', $script or die;
print $fh "#!/bin/sh\ncat '$kms'\n";
close $fh;
chmod 0700, $script;
my $node = GcalTest::node($emu, 'keygen', "gcalsync.poll_interval = '1h'\ngcalsync.key_command = '$script'\n");
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub key_id { return sql(qq{SELECT left(encode(sha256(decode('$_[0]', 'hex')), 'hex'), 16)}); }

# A session that loaded (and cached) the keys before the rotation.
my $early = $node->background_psql('postgres');
$early->query_safe(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql('SELECT key_id FROM gcal_key_usage()'), key_id($old), 'sealed with the key the command prints');

# The key store gets a new key; another session rotates.
put_keys($new, $old);
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT gcal_rotate_key()');
is($out, '2', 'gcal_rotate_key re-sealed the client secret and the refresh token');
is(sql(q{SELECT key_id || ' ' || secrets FROM gcal_key_usage()}), key_id($new) . ' 2', 'all on the new key');

# The early session seals with the new key, not with its cached old one.
$early->query_safe(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
is(sql('SELECT count(*) FROM gcal_key_usage()'), '1', 'a session opened before the rotation seals with the new key');
is(sql(q{SELECT key_id || ' ' || secrets FROM gcal_key_usage()}), key_id($new) . ' 3', 'so the old key can go');

# The old key gone from the key store, the worker and the early session
# still open and seal everything.
put_keys($new);
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'the worker syncs with the new key');
$early->query_safe(q{SELECT gcal_link('carol', 'demo-refresh-carol')});
is(sql(q{SELECT gcal_wait('carol', '60s')}), 't', 'and the early session links without the old key');

$early->quit;
my $log = slurp_file($node->logfile);
unlike($log, qr/$old|$new|demo-refresh-|demo-client-secret/, 'no key and no secret in the server log');
$node->stop;
$emu->stop;
done_testing();
