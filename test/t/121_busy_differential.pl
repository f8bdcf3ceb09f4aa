# Issue 15: the differential test of gcal_busy and gcal_free_slots against
# the independent oracle (test/emulator/gcal_busy.py over gcal_oracle.py,
# python-dateutil + zoneinfo).
#
# test/emulator/gcal_busy_difftest.py does the work against this node:
# generated owners (recurring series with exceptions; tentative, cancelled,
# transparent, declined, working-location, out-of-office, all-day,
# zero-length events; owners pending, revoked, in error or not linked) are
# written into the mirror tables; gcal_busy for all of them over DST weeks and
# a year, with default and named calendars, and gcal_free_slots for random
# groups, durations, steps, buffers, min_owners and open hours must equal the
# oracle's answers. 0 mismatches is the bar; a mismatch prints the query and
# the differing rows. GCAL_BUSY_DIFFTEST_OWNERS and _SEED change size and seed.
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
my $owners = $ENV{GCAL_BUSY_DIFFTEST_OWNERS} // 80;
my $seed = $ENV{GCAL_BUSY_DIFFTEST_SEED} // 15;

my $emu = GcalTest::start_emulator(data => 'empty');
my $node = GcalTest::node($emu, 'busydiff');

my ($out, $err) = ('', '');
my $t0 = time();
my $ran = IPC::Run::run([ '/usr/bin/python3', "$root/test/emulator/gcal_busy_difftest.py",
		'--dsn', $node->connstr('postgres'), '--owners', $owners, '--seed', $seed ],
	'>', \$out, '2>', \$err);
note("gcal_busy_difftest.py (" . (time() - $t0) . " s):\n$out");
diag($err) if length $err;

my ($checks, $ranges, $busy_bad) =
  $out =~ /^gcal_busy: compared (\d+) owner-windows \((\d+) busy ranges\): (\d+) mismatches$/m;
ok(($ranges // 0) > 20 * $owners, 'gcal_busy: enough busy ranges to mean something (' . ($ranges // 0) . ')');
is($busy_bad, 0, 'gcal_busy: 0 mismatches') or diag($out);
my ($queries, $slots, $slots_bad) =
  $out =~ /^gcal_free_slots: compared (\d+) queries \((\d+) slots\): (\d+) mismatches$/m;
ok(($queries // 0) >= 200 && ($slots // 0) > 1000,
	'gcal_free_slots: enough queries and slots (' . ($queries // 0) . ', ' . ($slots // 0) . ')');
is($slots_bad, 0, 'gcal_free_slots: 0 mismatches') or diag($out);
ok($ran, 'gcal_busy_difftest.py exits 0') or diag($out);

$node->stop;
$emu->stop;
done_testing();
