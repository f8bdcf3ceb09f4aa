# Where the key lives (issue 12, item 5): a key file inside the data
# directory is warned about loudly (backups and replicas would carry it next
# to the secrets); a relative gcalsync.key_file is found next to postgresql.conf;
# a missing key file is never replaced by a fresh key while sealed secrets
# are stored; gcalsync.key_command fetches the keys from a program (a KMS),
# run without a shell, its output bounded and never logged.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
# The default gcalsync.key_file, 'gcalsync.key', is relative to the directory
# of postgresql.conf, which initdb puts in the data directory: used, with a
# loud warning (once per process and place).
my $node = GcalTest::server($emu, 'location', "gcalsync.poll_interval = '1h'\ngcalsync.key_file = 'gcalsync.key'\n");
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub try_sql { my ($rc, $out, $err) = $node->psql('postgres', $_[0]); return $err; }
sql('CREATE EXTENSION gcalsync');
my $client = q{SELECT gcal_set_client('gcalsync-demo.apps.googleusercontent.com', 'demo-client-secret')};
my $data = $node->data_dir;

my $err = try_sql($client);
like($err, qr/WARNING:  gcalsync key file "\Q$data\E\/gcalsync\.key" is inside the data directory/,
	'the default place, when postgresql.conf is in the data directory: a warning');
like($err, qr/HINT:  Move the key file out of the data directory/, 'with the way out');
ok(-f "$data/gcalsync.key", 'and the key is made and used there');
my @warnings = try_sql("$client; $client") =~ /WARNING/g;
is(scalar(@warnings), 1, 'said once per process and place');

# Also through an absolute path, a link or "..".
for my $path ("$data/pg_wal/../gcalsync.key", "$data/global/gcalsync.key")
{
	sql("ALTER SYSTEM SET gcalsync.key_file = '$path'");
	$node->reload;
	$node->poll_query_until('postgres', "SELECT current_setting('gcalsync.key_file') = '$path'") or die;
	like(try_sql($client), qr/is inside the data directory/, "warned: $path");
}
my $link = $node->basedir . '/link-to-data';
symlink($data, $link) or die;
sql("ALTER SYSTEM SET gcalsync.key_file = '$link/gcalsync.key'");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('gcalsync.key_file') LIKE '%link-to-data%'") or die;
like(try_sql($client), qr/is inside the data directory/, 'warned through a symbolic link to the data directory');

# The key moves out of the data directory (what the warning asks); the
# secrets sealed with it stay readable.
mkdir($node->basedir . '/keys.d') or die;
rename("$data/gcalsync.key", $node->basedir . '/keys.d/gcalsync.key') or die;

# A relative path is relative to the directory of postgresql.conf.
sql(q{ALTER SYSTEM SET gcalsync.key_file = '../keys.d/gcalsync.key'});
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('gcalsync.key_file') = '../keys.d/gcalsync.key'}) or die;
sql($client);
my $key_file = $node->basedir . '/keys.d/gcalsync.key';
ok(-f $key_file, 'a relative key_file is found next to postgresql.conf\'s directory, outside the data directory');
is((stat $key_file)[2] & 07777, 0600, 'mode 0600');
sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice synced with the key outside the data directory');

# A lost key file is not replaced while sealed secrets are stored.
rename($key_file, "$key_file.away") or die;
$err = try_sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
like($err, qr/key file ".*gcalsync\.key" does not exist, but this database stores secrets sealed with a key/,
	'a missing key file with sealed secrets stored: refused');
ok(!-e $key_file, 'no fresh key was created');
like(try_sql(q{SELECT gcal_rotate_key()}), qr/does not exist, but this database stores secrets/, 'gcal_rotate_key refuses too');
rename("$key_file.away", $key_file) or die;
sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'the key file back: linking works');

# gcalsync.key_command: a program prints the keys (here from a file that
# stands for the KMS); it is run without a shell.
my $kms = $node->basedir . '/kms-keys';
my @lines = grep { /^[0-9a-f]{64}$/ } split /\n/, slurp_file($key_file);
open my $fh, '>', $kms or die; print $fh "$lines[0]\n"; close $fh;
chmod 0600, $kms;
my $script = $node->basedir . '/getkey.sh';
my $args_seen = $node->basedir . '/getkey.args';
open $fh, '>', $script or die;
print $fh "#!/bin/sh\nprintf '%s\\n' \"\$@\" > '$args_seen'\nif [ \"\$1\" = fail ]; then echo 'some diagnostics' >&2; exit 3; fi\n",
  "if [ \"\$1\" = flood ]; then yes $lines[0]; fi\ncat '$kms'\n";
close $fh;
chmod 0700, $script;
sub set_command
{
	my ($cmd) = @_;
	sql("ALTER SYSTEM SET gcalsync.key_command = '$cmd'");
	$node->reload;
	$node->poll_query_until('postgres', "SELECT current_setting('gcalsync.key_command') = '$cmd'") or die;
}
unlink $key_file;
set_command("$script ok ; touch $node->{_basedir}/pwned \$(id)");
sql(q{SELECT gcal_link('carol', 'demo-refresh-carol')});
is(sql(q{SELECT gcal_wait('carol', '60s')}), 't', 'key_command: linked and synced with the key the command prints');
ok(!-e $key_file, 'no key file was created');
is(slurp_file($args_seen), "ok\n;\ntouch\n$node->{_basedir}/pwned\n\$(id)\n", 'its words reach the program as they are, no shell');
ok(!-e $node->basedir . '/pwned', 'nothing ran through a shell');
is(sql(q{SELECT gcal_sync_now('alice'); SELECT gcal_wait('alice', '60s')}), "\nt", 'the worker opens the tokens with it');

# Rotation with a key command: the key store puts the new key first.
my $new = 'cd' x 32;
open $fh, '>', $kms or die; print $fh "$new\n$lines[0]\n"; close $fh;
my ($rc, $out, $stderr) = $node->psql('postgres', 'SELECT gcal_rotate_key()');
is($out, '4', 'gcal_rotate_key re-seals every secret with the key the command now prints first');
like($stderr, qr/older keys may be removed from what gcalsync\.key_command prints/, 'and says where the old one is');
is(sql(q{SELECT count(*) || ' ' || sum(secrets) FROM gcal_key_usage()}), '1 4', 'all secrets on one key');
is(sql(q{SELECT key_id FROM gcal_key_usage()}), sql(qq{SELECT left(encode(sha256(decode('$new', 'hex')), 'hex'), 16)}),
	'the new key');
ok(!-e $key_file, 'still no key file');
open $fh, '>', $kms or die; print $fh "$new\n"; close $fh;
is(sql(q{SELECT gcal_sync_now('alice'); SELECT gcal_wait('alice', '60s')}), "\nt", 'the worker follows the key store');

# A failing command, a relative one, one that floods its output.
set_command("$script fail");
$err = try_sql(q{SELECT gcal_link('dave', 'demo-refresh-dave')});
like($err, qr/gcalsync\.key_command failed: it exited with status 3/, 'a failing command: a clear error');
unlike($err, qr/diagnostics/, 'without its output');
set_command('getkey.sh');
like(try_sql(q{SELECT gcal_link('dave', 'demo-refresh-dave')}), qr/must start with the absolute path of a program/,
	'a command without an absolute path is refused');
set_command("$script flood");
like(try_sql(q{SELECT gcal_link('dave', 'demo-refresh-dave')}), qr/gcalsync\.key_command failed: it printed more than 64 kB/,
	'its output is bounded');

my $log = slurp_file($node->logfile);
unlike($log, qr/$lines[0]|$new|demo-refresh-|demo-client-secret/, 'no key and no secret in the server log');
$node->stop;
$emu->stop;
done_testing();
