# Issue 15: gcal_busy equals "Google's" freebusy.query for whole accounts.
#
# The worker syncs the demo accounts and rita (the emulator's `recurrence`
# data set: generated series in DST zones with exceptions, split series,
# all-day series, and the recurrence pitfalls). For every owner and several
# windows (DST weeks, an afternoon, two years), gcal_busy(owner, ...) with the
# default calendars must equal the busy ranges the emulator's freebusy.query
# returns for the owner's primary calendar, computed by the independent
# oracle (test/emulator/gcal_busy.py over gcal_oracle.py); and with every
# calendar of the owner named, the emulator's answers for those calendars
# merged. Then gcal_free_slots for the four of them is checked against those
# busy ranges: a slot is listed exactly when no owner's busy range meets it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'recurrence');
my $node = GcalTest::node($emu, 'busyemu', q{
gcalsync.poll_interval = 1
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

my %refresh = %{ GcalTest::link_recurrence_accounts($node) };

my @windows = (
	[ '2025-03-01T00:00:00Z', '2025-04-15T00:00:00Z' ],
	[ '2025-10-20T00:00:00Z', '2025-11-10T00:00:00Z' ],
	[ '2025-04-01T13:00:00Z', '2025-04-01T16:00:00Z' ],
	[ '2024-06-01T00:00:00Z', '2026-06-01T00:00:00Z' ],
);


# Merge [start, end) pairs (epoch seconds) as Google's answer for several
# calendars of one person would be merged: overlapping and touching ones.
sub merge
{
	my @r = sort { $a->[0] <=> $b->[0] } @_;
	my @out;
	for my $x (@r)
	{
		if (@out && $x->[0] <= $out[-1][1]) { $out[-1][1] = $x->[1] if $x->[1] > $out[-1][1]; }
		else { push @out, [@$x]; }
	}
	return @out;
}

my ($checks, $ranges, @diffs) = (0, 0);
my %busy_of;    # owner -> window index -> [ranges] (primary calendars)
for my $owner (sort keys %refresh)
{
	my $access = $emu->token($refresh{$owner});
	my @cals = split /\n/, sql(qq{SELECT calendar_id FROM gcalsync.calendar_list
		WHERE owner = '$owner' AND NOT deleted ORDER BY calendar_id});
	for my $wi (0 .. $#windows)
	{
		my $w = $windows[$wi];
		my $fb = $emu->freebusy($access, { timeMin => $w->[0], timeMax => $w->[1],
			items => [ map { { id => $_ } } ('primary', @cals) ] });
		for my $named (0, 1)
		{
			my @api = $named
			  ? merge(map { [ GcalTest::rfc3339_epoch($_->{start}), GcalTest::rfc3339_epoch($_->{end}) ] }
				  map { @{ $fb->{calendars}{$_}{busy} } } @cals)
			  : map { [ GcalTest::rfc3339_epoch($_->{start}), GcalTest::rfc3339_epoch($_->{end}) ] } @{ $fb->{calendars}{primary}{busy} };
			my $ids = $named ? 'ARRAY[' . join(',', map { "'$_'" } @cals) . ']' : 'NULL';
			my @db = map { [ split /\|/ ] } split /\n/, sql(qq{SET TIME ZONE 'UTC';
				SELECT extract(epoch FROM lower(busy))::bigint, extract(epoch FROM upper(busy))::bigint
				  FROM gcal_busy(ARRAY['$owner'], '$w->[0]', '$w->[1]', $ids)});
			$busy_of{$owner}{$wi} = [@db] unless $named;
			$checks++;
			$ranges += @api;
			my $a = join(' ', map { "$_->[0]-$_->[1]" } @api);
			my $d = join(' ', map { "$_->[0]-$_->[1]" } @db);
			push @diffs, "$owner [$w->[0], $w->[1]) " . ($named ? 'all calendars' : 'primary')
			  . ":\n  freebusy.query: $a\n  gcal_busy:      $d" if $a ne $d;
		}
	}
}
note("compared $checks owner-windows, $ranges busy ranges");
ok($ranges > 500, "enough busy ranges to mean something ($ranges)");
is(scalar(@diffs), 0, 'gcal_busy equals freebusy.query for every owner and window')
  or diag(join("\n", @diffs[ 0 .. ($#diffs < 9 ? $#diffs : 9) ]));

# gcal_free_slots over the third window (an afternoon), half-hour slots on
# the quarter hour, agrees with the busy ranges above.
my $w = $windows[2];
my ($t0, $t1) = (GcalTest::rfc3339_epoch($w->[0]), GcalTest::rfc3339_epoch($w->[1]));
my @want;
for (my $s = $t0; $s + 1800 <= $t1; $s += 900)
{
	my @free = grep {
		my $o = $_;
		!grep { $_->[0] < $s + 1800 && $_->[1] > $s } @{ $busy_of{$o}{2} }
	} sort keys %refresh;
	push @want, "$s " . join(',', @free) if @free >= 2;
}
my @got = split /\n/, sql(qq{SELECT extract(epoch FROM lower(slot))::bigint || ' ' || array_to_string(free_owners, ',')
	FROM gcal_free_slots(ARRAY['alice', 'bob', 'carol', 'rita'], '$w->[0]', '$w->[1]', '30 min', '15 min', 2)});
is(join("\n", @got), join("\n", @want), 'gcal_free_slots agrees with the busy ranges (any 2 of 4)');

$node->stop;
$emu->stop;
done_testing();
