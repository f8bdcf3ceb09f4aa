# Resilience (issue 5): the client-side request ceilings hold under load,
# and every owner still converges.
#
# gcalsync.requests_per_minute = 120 (project) and
# gcalsync.user_requests_per_minute = 70 (per owner). Owner "big" has 60
# calendars: its first full sync needs 121 Calendar API requests (a
# calendar list, 60 calendars.get, 60 events.list), more than its own
# ceiling. It is linked first; once it is at its ceiling, two owners with
# 20 calendars each (41 requests each) are linked, and the project ceiling
# holds them back too: 203 requests, of which at most 120 fit in a minute.
#
# Expected: in the emulator's request log no 60-second window holds more
# than 120 Calendar API requests, nor more than 70 of one owner (the token
# endpoint is not counted, by gcalsync or here); the requests beyond a
# ceiling wait for the window instead of failing; every owner converges
# (gcal_wait true, active, mirror equal to the emulator's data) in a little
# over one window.
#
# The emulator stamps a request when it arrives, gcalsync counts it when it
# starts: windows are measured 1 s shorter than a minute to absorb the time
# in between. (Exact 60 s windows at the receiver are no measure of the
# client's ceiling: on a loaded machine requests that left more than a minute
# apart can arrive less than a minute apart.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my ($project, $per_owner, $slack) = (120, 70, 1.0);
my $emu = GcalTest::start_emulator(data => 'generate:2,20,3,3');
$emu->control('POST', '/users', { id => 'big', refresh_tokens => ['demo-refresh-big'] });
for my $i (1 .. 59)
{
	$emu->control('POST', '/calendars', { id => sprintf('c_big%03d@group.calendar.google.com', $i), summary => "Big $i",
		members => { big => { accessRole => 'owner' } },
		events => [ { id => sprintf('big%03dev000000000000000000', $i), summary => "event of $i",
			start => { dateTime => '2025-06-01T10:00:00Z' }, end => { dateTime => '2025-06-01T11:00:00Z' } } ] });
}
my $node = GcalTest::node($emu, 'rates', "gcalsync.requests_per_minute = $project\ngcalsync.user_requests_per_minute = $per_owner\n");
sub sql { return $node->safe_psql('postgres', $_[0]); }

my %refresh = (big => 'demo-refresh-big', user0001 => 'gen-refresh-user0001', user0002 => 'gen-refresh-user0002');
my $seq = GcalTest::log_seq($emu);
sql(q{SELECT gcal_link('big', 'demo-refresh-big')});
ok(GcalTest::wait_until(sub { @{ GcalTest::api_requests($emu, $seq, 'big') } >= $per_owner }, 60, 'big to reach its ceiling'),
	'big reached its ceiling');
sql(q{SELECT gcal_link('user0001', 'gen-refresh-user0001'); SELECT gcal_link('user0002', 'gen-refresh-user0002');});
for my $u (sort keys %refresh)
{
	is(sql("SELECT gcal_wait('$u', '150s')"), 't', "$u converges");
}
is(sql(q{SELECT string_agg(owner || ':' || state || ':' || calendars, ',' ORDER BY owner) FROM gcalsync.status}),
	'big:active:60,user0001:active:20,user0002:active:20', 'every owner active with all its calendars');

my @reqs = sort { $a->{time} <=> $b->{time} } @{ GcalTest::api_requests($emu, $seq) };
is(scalar(@reqs), 203, "203 Calendar API requests, more than the ceiling of $project");
my $span = $reqs[-1]{time} - $reqs[0]{time};
ok($span >= 59 && $span < 75, sprintf('spread over %.1f s: held back for one window, not more', $span));
ok(!grep({ ($_->{status} // 0) != 200 } @reqs), 'every request succeeded');

# max_window(width, entries) is the largest number of entries within
# [t, t + width) for any t (entries sorted by time).
sub max_window
{
	my ($width, @e) = @_;
	my ($max, $j) = (0, 0);
	for my $i (0 .. $#e)
	{
		$j++ while $j < @e && $e[$j]{time} < $e[$i]{time} + $width;
		$max = $j - $i if $j - $i > $max;
	}
	return $max;
}

my $max = max_window(60 - $slack, @reqs);
cmp_ok($max, '<=', $project, "at most $project requests in any window (max $max)");
cmp_ok($max, '>=', $project - 10, 'the project ceiling was reached');
for my $u (sort keys %refresh)
{
	my @mine = grep { $_->{user} eq $u } @reqs;
	my $m = max_window(60 - $slack, @mine);
	cmp_ok($m, '<=', $per_owner, "$u: at most $per_owner requests in any window (max $m of " . scalar(@mine) . ')');
}
is(max_window(60 - $slack, grep { $_->{user} eq 'big' } @reqs), $per_owner, 'big: its own ceiling was reached');

GcalTest::mirror_matches($node, $emu, $_, $refresh{$_}) for sort keys %refresh;
$node->stop;
$emu->stop;
done_testing();
