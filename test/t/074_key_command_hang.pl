# A gcalsync.key_command that hangs (issue 12, item 3): one that closes its
# output and then does not exit is killed (with what it started) when the
# 30-second deadline passes, and reaped: a clear error, no zombie, no hung
# backend. A cancel ends the wait at once, the command killed first.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $dir = PostgreSQL::Test::Utils::tempdir();
my $kms = "$dir/kms-keys";
open my $fh, '>', $kms or die; print $fh 'ab' x 32, "\n"; close $fh;
chmod 0600, $kms;
my $good = "$dir/getkey.sh";
open $fh, '>', $good or die; print $fh "#!/bin/sh\ncat '$kms'\n"; close $fh;
chmod 0700, $good;
# Prints the key, closes its output, then sleeps (in a child, as a wrapper
# would) and waits for it; the pids go to a file.
my $hang = "$dir/hang.sh";
my $pids = "$dir/hang.pids";
open $fh, '>', $hang or die;
print $fh "#!/bin/sh\ncat '$kms'\nexec >&-\nsleep 1000 &\necho \"\$\$ \$!\" > '$pids.tmp'\nmv '$pids.tmp' '$pids'\nwait\n";
close $fh;
chmod 0700, $hang;

my $node = GcalTest::node($emu, 'keyhang', "gcalsync.poll_interval = '1h'\ngcalsync.key_command = '$good'\n");
sub sql { return $node->safe_psql('postgres', $_[0]); }
sql("ALTER SYSTEM SET gcalsync.key_command = '$hang'");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('gcalsync.key_command') = '$hang'") or die;

sub children_of
{
	my ($ppid) = @_;
	my @kids;
	for my $stat (glob('/proc/[0-9]*/stat'))
	{
		open my $s, '<', $stat or next;
		my $line = <$s> // '';
		close $s;
		push @kids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $ppid;
	}
	return @kids;
}
sub gone
{
	my @p = @_;
	return GcalTest::wait_until(sub { !grep { kill 0, $_ } @p }, 30, 'the command to be gone');
}

my $bg = $node->background_psql('postgres', timeout => 120, on_error_stop => 0);
my $backend = $bg->query_safe('SELECT pg_backend_pid()');

# 1. A cancel while the command hangs.
unlink $pids;
$bg->query_until(qr/linking/, "\\echo linking\nSELECT gcal_link('alice', 'demo-refresh-alice');\n");
ok(GcalTest::wait_until(sub { -e $pids }, 60, 'the command'), 'the command is running');
my ($sh, $sleep) = split ' ', slurp_file($pids);
my $t0 = time();
sql("SELECT pg_cancel_backend($backend)");
my ($out, $ret) = $bg->query('SELECT 1');
like($bg->{stderr}, qr/canceling statement due to user request/, 'a cancel ends gcal_link');
cmp_ok(time() - $t0, '<', 10, 'at once');
ok(gone($sh, $sleep), 'the command and what it started are killed');
is(join(',', children_of($backend)), '', 'and reaped: no child (zombie) left in the backend');

# 2. The deadline.
unlink $pids;
$bg->{stderr} = '';  # (query() keeps what came before)
$t0 = time();
($out, $ret) = $bg->query(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
my $took = time() - $t0;
like($bg->{stderr}, qr/gcalsync\.key_command failed: it closed its output but did not exit within 30 seconds/,
	'a command that closes its output and hangs: a clear error');
note(sprintf('gcal_link failed after %.1f s', $took));
cmp_ok($took, '<', 45, 'within the 30-second deadline');
($sh, $sleep) = split ' ', slurp_file($pids);
ok(gone($sh, $sleep), 'the command and what it started are killed');
is(join(',', children_of($backend)), '', 'and reaped: no child (zombie) left in the backend');
$bg->{stderr} = '';
is($bg->query_safe('SELECT count(*) FROM gcalsync.owner'), '0', 'the backend goes on; nothing linked');

$bg->quit;
$node->stop;
$emu->stop;
done_testing();
