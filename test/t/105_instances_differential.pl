# Issue 14: the differential test of gcal_instances against the independent
# oracle (test/emulator/gcal_oracle.py, python-dateutil + zoneinfo).
#
# test/emulator/gcal_difftest.py does the work against this node:
# - PostgreSQL's timestamp AT TIME ZONE equals the oracle's reading of wall
#   clock times at every DST transition 2024-2027 of a dozen zones (gap and
#   fold times included): the rule both sides share;
# - >= 3,000 generated series (FREQ DAILY..YEARLY, INTERVAL, COUNT, the UNTIL
#   forms Google sends, BYDAY with ordinals, BYMONTHDAY incl. negative,
#   BYMONTH, BYYEARDAY, BYWEEKNO, BYSETPOS, WKST, EXDATE/RDATE in TZID/UTC/DATE
#   forms) in zones with DST, each in its own calendar, plus the fixed pitfall
#   suite, inserted straight into the mirror tables as the worker stores
#   them; for each series and several windows (its start, a DST change of a
#   later year, anywhere) the ids, status, start and end of gcal_instances
#   must equal the oracle's, in order. 0 mismatches is the bar; a mismatch
#   prints the rule, the zones, the window and the differing instances.
# GCAL_DIFFTEST_COUNT and GCAL_DIFFTEST_SEED change the size and the seed.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $root = abs_path(dirname(__FILE__) . '/../..');
my $count = $ENV{GCAL_DIFFTEST_COUNT} // 3000;
my $seed = $ENV{GCAL_DIFFTEST_SEED} // 14;

my $emu = GcalTest::start_emulator(data => 'empty');
my $node = GcalTest::node($emu, 'difftest');

my ($out, $err) = ('', '');
my $t0 = time();
my $ran = IPC::Run::run([ '/usr/bin/python3', "$root/test/emulator/gcal_difftest.py",
		'--dsn', $node->connstr('postgres'), '--count', $count, '--seed', $seed ],
	'>', \$out, '2>', \$err);
note("gcal_difftest.py (" . (time() - $t0) . " s):\n$out");
diag($err) if length $err;

like($out, qr/^AT TIME ZONE: (\d{4,}) wall-clock times around DST transitions, 0 disagree$/m,
	'PostgreSQL AT TIME ZONE reads gap and fold times as the oracle does');
my ($windows, $instances, $mismatches, $in_pitfalls) =
  $out =~ /^compared (\d+) windows \((\d+) instances\): (\d+) mismatches \((\d+) in pitfalls\)/m;
ok(defined $windows && $windows >= 2 * $count, "compared " . ($windows // 0)
	. " windows of $count generated series and the pitfall suite");
ok(($instances // 0) > 10 * $count, 'with enough instances to mean something (' . ($instances // 0) . ')');
is($in_pitfalls, 0, 'the pitfall suite: 0 mismatches');
is($mismatches, 0, 'generated series: 0 mismatches') or diag($out);
ok($ran, 'gcal_difftest.py exits 0') or diag($out);

$node->stop;
$emu->stop;
done_testing();
