# 1,000 queued writes of one owner under the per-owner request ceiling
# (issue 16): all done, each once, and no 60-second window holds more of the
# owner's requests than the ceiling allows. Reports writes/s and the time
# from commit to done (p50, p99) (bench/README.md).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use GcalTest;

my $ceiling = $ENV{GCAL_OUTBOX_CEILING} // 600;
my $writes = $ENV{GCAL_OUTBOX_WRITES} // 1000;
my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'outbox_load', "gcalsync.user_requests_per_minute = $ceiling\n");

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice synced');

# One transaction per write, as an application would commit them.
my $t0 = Time::HiRes::time();
sql(qq{
	DO \$\$
	BEGIN
		FOR i IN 1 .. $writes LOOP
			PERFORM gcal_insert_event('alice', 'primary', jsonb_build_object('summary', 'load ' || i,
				'start', jsonb_build_object('dateTime', '2031-01-01T10:00:00Z'),
				'end', jsonb_build_object('dateTime', '2031-01-01T10:30:00Z')));
			COMMIT;
		END LOOP;
	END
	\$\$});
my $queued = Time::HiRes::time() - $t0;
ok(GcalTest::wait_until(sub { sql(q{SELECT count(*) FROM gcalsync.outbox WHERE state = 'queued'}) eq '0' }, 600,
	'every write finished'), 'every write finished');
is(sql(q{SELECT state || ':' || count(*) FROM gcalsync.outbox GROUP BY state}), "done:$writes", 'all done');
is(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner = 'alice' AND summary LIKE 'load %'}), $writes, 'all mirrored');
my @inserts = @{ $emu->control('GET', '/log?api=events.insert') };
is(scalar(@inserts), $writes, 'each sent once');

# The ceiling: every request of the owner (listings, writes, read-backs) in any
# window. The emulator stamps a request when it arrives, gcalsync counts it when
# it starts: as in 027, windows are measured 1 s shorter than a minute to absorb
# the time in between (on a loaded machine, requests that left a minute apart
# can arrive less than a minute apart).
my $width = 59;
my @times = sort { $a <=> $b } map { $_->{time} } grep { ($_->{user} // '') eq 'alice' && ($_->{api} // '') ne 'token' }
  @{ $emu->control('GET', '/log?kind=request') };
my ($max, $j) = (0, 0);
for my $i (0 .. $#times)
{
	$j++ while $times[$i] - $times[$j] >= $width;
	$max = $i - $j + 1 if $i - $j + 1 > $max;
}
cmp_ok($max, '<=', $ceiling, "at most $ceiling requests of the owner in any $width s window (max $max)");

my $stats = sql(q{
	SELECT round(count(*) / extract(epoch FROM max(done_at) - min(created_at))::numeric, 1),
	       round(extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY done_at - created_at))::numeric * 1000),
	       round(extract(epoch FROM percentile_cont(0.99) WITHIN GROUP (ORDER BY done_at - created_at))::numeric * 1000)
	  FROM gcalsync.outbox});
my ($rate, $p50, $p99) = split /\|/, $stats;
diag(sprintf('%d writes, ceiling %d/min: queued in %.1f s; %s writes/s overall; commit to done p50 %s ms, p99 %s ms',
	$writes, $ceiling, $queued, $rate, $p50, $p99));

done_testing();
