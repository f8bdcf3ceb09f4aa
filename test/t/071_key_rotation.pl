# Key rotation and the key file (issue 12, item 6): gcal_rotate_key waits for
# every transaction that sealed with the old key and re-seals what they
# wrote; a transaction that seals during a rotation waits and then seals with
# the new key; two rotations run one after the other without losing a key;
# the key file is replaced durably, never written through a link, and must
# be a regular file of its own; gcal_key_usage counts the secrets per key.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'rotation', "gcalsync.poll_interval = '1h'\n");
sub sql { return $node->safe_psql('postgres', $_[0]); }
my $key_file = GcalTest::key_file($node);

# The key lock as pg_locks shows it (secrets.hpp: kKeyLockClass, kKeyLockObject).
my $waiting = q{SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
	AND classid = 1734569075 AND objid = 1801812339 AND objsubid = 2};
sub key_lines { return scalar(grep { /^[0-9a-f]{64}$/ } split /\n/, slurp_file($key_file)); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice'); SELECT gcal_link('bob', 'demo-refresh-bob')});
my ($k0, $n0) = split /\|/, sql('SELECT key_id, secrets FROM gcal_key_usage()');
like($k0, qr/^[0-9a-f]{16}$/, 'gcal_key_usage names the key by its id');
is($n0, '3', 'and counts the two refresh tokens and the client secret');

# 1. A rotation waits for a transaction that sealed with the old key.
my $a = $node->background_psql('postgres');
my $b = $node->background_psql('postgres');
# (gcal_rotate_key's NOTICE would count as an error of query_safe.)
$_->query_safe('SET client_min_messages = warning') for $a, $b;
$a->query_safe(q{BEGIN; SELECT gcal_link('carol', 'demo-refresh-carol')});
$b->query_until(qr/rotating/, "\\echo rotating\nSELECT gcal_rotate_key();\n");
ok($node->poll_query_until('postgres', $waiting), 'gcal_rotate_key waits for the open transaction that sealed');
$a->query_safe('COMMIT');
like($b->query_safe('SELECT 1'), qr/^4\n1$/, 'then re-seals its secret too (4 secrets)');
my ($k1, $n1) = split /\|/, sql('SELECT key_id, secrets FROM gcal_key_usage()');
isnt($k1, $k0, 'every secret is now sealed with the new key');
is($n1, '4', 'including the one sealed during the rotation: the old key can go');
is(sql('SELECT count(*) FROM gcal_key_usage()'), '1', 'no secret is left on the old key');

# 2. Sealing waits for a rotation, then uses the new key.
$b->query_safe('BEGIN; SELECT gcal_rotate_key()');
$a->query_until(qr/linking/, "\\echo linking\nSELECT gcal_link('dave', 'demo-refresh-dave');\n");
ok($node->poll_query_until('postgres', $waiting), 'gcal_link waits for the open rotation');
$b->query_safe('COMMIT');
$a->query_safe('SELECT 1');
my ($k2, $n2) = split /\|/, sql('SELECT key_id, secrets FROM gcal_key_usage()');
isnt($k2, $k1, 'the rotation committed');
is($n2, '5', 'and the link made meanwhile is sealed with its key');
is(key_lines(), 3, 'the key file holds the three keys');

# 3. Two rotations at once: one after the other, no key line lost.
$b->query_safe('BEGIN; SELECT gcal_rotate_key()');
$a->query_until(qr/rotating/, "\\echo rotating\nSELECT gcal_rotate_key();\n");
ok($node->poll_query_until('postgres', $waiting), 'a second rotation waits for the first');
$b->query_safe('COMMIT');
like($a->query_safe('SELECT 1'), qr/^5\n1$/, 'then re-seals everything again');
is(key_lines(), 5, 'both new keys are in the key file');
is(sql(q{SELECT count(*) || ' ' || sum(secrets) FROM gcal_key_usage()}), '1 5', 'all secrets on the newest key');
is((stat $key_file)[2] & 07777, 0600, 'the key file stays mode 0600');
my @dir = glob(File::Basename::dirname($key_file) . '/*.tmp.*');
is(scalar(@dir), 0, 'no temporary file left behind');

# 4. The temporary file is never written through a planted link.
my $victim = $node->basedir . '/victim';
open my $fh, '>', $victim or die; print $fh "precious\n"; close $fh;
my $pid = $a->query_safe('SELECT pg_backend_pid()');
symlink($victim, "$key_file.tmp.$pid") or die "symlink: $!";
like($a->query_safe('SELECT gcal_rotate_key()'), qr/^5$/, 'rotation with a link planted at its temporary name');
is(slurp_file($victim), "precious\n", 'the link target was not written');
is(key_lines(), 6, 'the key file got the new key');
ok(!-e "$key_file.tmp.$pid" && !-l "$key_file.tmp.$pid", 'and the planted link is gone');

# 5. The key file must be a regular file, not a link.
rename($key_file, "$key_file.real") or die;
symlink("$key_file.real", $key_file) or die;
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT gcal_link('erin', 'demo-refresh-erin')});
like($err, qr/key file ".*" is a symbolic link/, 'a key file that is a symbolic link is refused');
unlink $key_file;
mkdir $key_file or die;
chmod 0700, $key_file;
($rc, $out, $err) = $node->psql('postgres', q{SELECT gcal_link('erin', 'demo-refresh-erin')});
like($err, qr/key file ".*" is not a regular file/, 'a key file that is not a regular file is refused');
rmdir $key_file;
rename("$key_file.real", $key_file) or die;
is(sql(q{SELECT gcal_link('erin', 'demo-refresh-erin')}), '', 'the regular file back: linking works');

# gcal_key_usage is for the administrator only.
sql(q{CREATE ROLE app LOGIN; GRANT USAGE ON SCHEMA gcalsync TO app});
($rc, $out, $err) = $node->psql('postgres', 'SELECT * FROM gcal_key_usage()', extra_params => [ '-U', 'app' ]);
like($err, qr/permission denied for function gcal_key_usage/, 'an application role cannot call gcal_key_usage');

$a->quit;
$b->quit;
my $log = slurp_file($node->logfile);
unlike($log, qr/demo-refresh-|demo-client-secret/, 'no secret in the server log');
$node->stop;
$emu->stop;
done_testing();
