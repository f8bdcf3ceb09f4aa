# Soak: 1,000 sync cycles over changing data. Each cycle changes an event at
# the emulator (insert, update or delete, rotating), asks for a sync and
# waits for it. The worker's private memory (RssAnon) after the warm-up and
# at the end must stay flat: no leak per cycle in libcurl, jansson, SPI or
# the engine. The figures are printed for the notes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GcalTest;

my $cycles = $ENV{GCAL_SOAK_CYCLES} // 1000;
my $emu = GcalTest::start_emulator(data => 'demo');
# The per-owner ceiling (300/min by default) would pace one owner to about
# one cycle a second; the soak is about memory, not Google's quotas.
my $node = GcalTest::node($emu, 'soak', "gcalsync.user_requests_per_minute = 1000000\ngcalsync.requests_per_minute = 1000000\n");
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'first sync');
my $pid = sql('SELECT pid FROM gcalsync.worker_status()');

sub rss_anon_kb
{
	my ($line) = grep { /^RssAnon:/ } split /\n/, slurp_file("/proc/$pid/status");
	return ($line =~ /(\d+)/)[0];
}

my ($warm, $t0);
my $failures = 0;
for my $i (1 .. $cycles)
{
	my $id = sprintf('soak%022d', $i % 50);
	if ($i % 3 == 0)
	{
		$emu->control('DELETE', "/calendars/alice%40example.com/events/$id") if $i > 50;
	}
	else
	{
		$emu->control('POST', '/calendars/alice%40example.com/events', { id => $id, summary => "soak $i",
			start => { dateTime => '2025-06-01T10:00:00Z' }, end => { dateTime => '2025-06-01T11:00:00Z' } });
	}
	$failures++ unless sql(q{SELECT gcal_sync_now('alice'); SELECT gcal_wait('alice', '30s')}) eq "\nt";
	if ($i == 100)
	{
		$warm = rss_anon_kb();
		$t0 = time();
	}
}
my $elapsed = time() - $t0;
my $end = rss_anon_kb();
is($failures, 0, "$cycles sync cycles, every one completed");
is(sql('SELECT pid FROM gcalsync.worker_status()'), $pid, 'the same worker throughout');
note(sprintf('worker RssAnon after 100 cycles: %d kB, after %d cycles: %d kB (%+d kB); %.1f cycles/s',
	$warm, $cycles, $end, $end - $warm, ($cycles - 100) / $elapsed));
cmp_ok($end - $warm, '<', 2048, sprintf('worker private memory stays flat (%d kB -> %d kB over %d cycles)', $warm, $end, $cycles - 100));
GcalTest::mirror_matches($node, $emu, 'alice', 'demo-refresh-alice');

$node->stop;
$emu->stop;
done_testing();
