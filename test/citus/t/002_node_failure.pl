# A worker node of the Citus cluster stops in the middle of a sync (issue
# 19): the owners whose shards live there are inside a multi-page listing,
# page 1 written, page 2 held by the emulator, when the node stops. They fail
# their rounds with a last_error naming the node and back off; the owners on
# the other node keep syncing. When the node is back they resume by
# themselves, when their backoff ends (no gcal_sync_now; the poll interval is
# an hour): nothing lost, nothing written twice, every change announced once
# in the change feed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GcalTest;
use GcalCitus;

my $emu = GcalTest::start_emulator(data => 'generate:8,2,40,3');
my ($coord, $workers) = GcalCitus::cluster($emu, 'fail', 2, q{
gcalsync.poll_interval = 3600
});
sub sql { return $coord->safe_psql('postgres', $_[0]); }

is(sql('SELECT count(*) FROM gcal_distribute(8)'), '3', 'distributed');
my @owners = map { sprintf('user%04d', $_) } 1 .. 8;
sql("SELECT gcal_link('$_', 'gen-refresh-$_')") for @owners;
is(sql("SELECT gcal_wait('$_', '120s')"), 't', "$_: first sync") for @owners;

my $down = $workers->[0];
my $down_at = '127.0.0.1:' . $down->port;
my @lost = grep { GcalCitus::placement($coord, $_) eq $down_at } @owners;
my @kept = grep { GcalCitus::placement($coord, $_) ne $down_at } @owners;
ok(@lost && @kept, 'owners on both worker nodes (' . scalar(@lost) . ' on the node that stops)');
my $in = sub { "ARRAY['" . join("','", @_) . "']" };
sub new_events { my ($o) = @_; return sql("SELECT count(*) FROM gcalsync.event WHERE owner = '$o' AND event_id LIKE 'nodefail%'"); }

# Ten new events for every owner: its next listing of its primary calendar
# comes in three pages (4, 4, 2 items). For the owners of the node that is
# to stop, the emulator holds the second page for a while.
my $per_owner = 10;
for my $o (@owners)
{
	$emu->control('POST', "/calendars/$o%40example.com/events", { events => [ map { {
		id => sprintf('nodefail0%s%02daa', $o, $_), summary => "new $_",
		start => { dateTime => sprintf('2025-06-%02dT10:00:00Z', $_ + 1) },
		end => { dateTime => sprintf('2025-06-%02dT11:00:00Z', $_ + 1) } } } 1 .. $per_owner ] });
}
$emu->control('PATCH', '/settings', { page_pattern => [4] });
my $hold = 10;    # seconds: long enough to find every owner inside its listing and stop the node
my %held = map { $_ => $emu->control('POST', '/faults', { method => 'GET', user => $_,
	path => "/calendars/$_\@example\\.com/events\$", skip => 1, count => 1, delay => $hold }) } @lost;
my $cursor = sql('SELECT gcal_changes_cursor()');
sql("SELECT gcal_sync_now('$_')") for @owners;

# The node stops once every one of its owners has written the first page of
# its listing and asked for the second, which is still held.
my %written;
ok(GcalTest::wait_until(sub {
	my %hits = map { $_->{id} => $_->{hits} } @{ $emu->control('GET', '/faults') };
	for my $o (@lost)
	{
		return 0 unless $hits{ $held{$o}{id} };
		$written{$o} = new_events($o);
		return 0 unless $written{$o} > 0;
	}
	return 1;
}, 60, 'the owners of the node to stop inside their listings'), 'each owner of the node to stop wrote page 1 and asked for page 2');
$down->stop('immediate');
my $stopped_at = time();
my %answered = map { $_->{fault} => 1 } grep { defined $_->{fault} } @{ $emu->log(api => 'events.list') };
for my $o (@lost)
{
	ok($written{$o} > 0 && $written{$o} < $per_owner && !$answered{ $held{$o}{id} },
		"$o: the node stopped in the middle of the listing ($written{$o} of $per_owner new events written, page 2 not yet answered)");
}

# While the node is down: the owners of the other node finish their
# listings, and sync a change made during the outage.
for my $o (@kept)
{
	is(sql("SELECT gcal_wait('$o', '60s')"), 't', "$o (other node): synced while the node is down");
	$emu->control('POST', "/calendars/$o%40example.com/events", { id => "nodefail0${o}99aa", summary => 'during the outage',
		start => { dateTime => '2025-07-01T10:00:00Z' }, end => { dateTime => '2025-07-01T11:00:00Z' } });
	sql("SELECT gcal_sync_now('$o')");
	is(sql("SELECT gcal_wait('$o', '60s')"), 't', "$o (other node): synced a change made during the outage");
	is(new_events($o), $per_owner + 1, "$o: every new event arrived");
}
# The held pages come; writing them fails. (Read from gcalsync.owner:
# gcal_status and gcalsync.status count the owner's rows, which are on the
# stopped node.)
for my $o (@lost)
{
	my $st = '';
	GcalTest::wait_until(sub {
		$st = sql("SELECT state || '|' || failures || '|' || coalesce(last_error, '') FROM gcalsync.owner WHERE owner = '$o'");
		return $st =~ /^backoff\|[2-9]/;
	}, 60, "$o to back off twice");
	like($st, qr/^backoff\|[2-9]\d*\|.*\Q$down_at\E/, "$o (stopped node): backs off, tried again and backs off again, last_error names the node");
}
my ($ret, $out, $err) = $coord->psql('postgres', "SELECT * FROM gcal_status('$lost[0]')");
like($err, qr/connection to the remote node .*\Q$down_at\E failed/,
	'gcal_status of such an owner fails while its node is down (it counts the rows)');
is(sql('SELECT count(*) FROM gcalsync.owner WHERE state <> \'active\' AND owner = ANY (' . $in->(@kept) . ')'),
	'0', 'no owner of the other node backs off');
my $outage = time() - $stopped_at;

# The node comes back. Nobody calls gcal_sync_now: each owner's backoff
# (1 s doubling per failure: at most a few times the outage) ends, and it
# resumes its listing from the stored page token.
$down->start;
my $back_at = time();
ok(GcalTest::wait_until(sub {
	sql('SELECT count(*) FROM gcalsync.owner WHERE state = \'active\' AND failures = 0 AND owner = ANY (' . $in->(@lost) . ')')
	  == @lost
}, 120, 'the owners of the node to resume'), 'the owners of the node that came back resumed by themselves');
diag(sprintf('node down %.1f s; its owners active again %.1f s after it came back', $outage, time() - $back_at));
is(new_events($_), $per_owner, "$_: every new event arrived after the node came back") for @lost;
is(sql(q{SELECT count(*) FROM gcalsync.owner WHERE state <> 'active'}), '0', 'every owner active');

$emu->control('PATCH', '/settings', { page_pattern => undef });
for my $o (@owners)
{
	ok(GcalTest::mirror_matches($coord, $emu, $o, "gen-refresh-$o"), "$o: the mirror equals the API (nothing lost or doubled)");
}
# Each new event announced exactly once: the pages written before the stop
# are not announced again when the listing resumes.
is(sql(qq{SELECT count(*) FROM (SELECT i.id FROM gcal_changes($cursor, 100000) c, unnest(c.ids) AS i(id)
	WHERE c.table_name = 'event' AND c.op = 'upsert' GROUP BY i.id HAVING count(*) > 1) d}), '0',
	'no event announced twice in the change feed');
is(sql(qq{SELECT count(DISTINCT i.id) FROM gcal_changes($cursor, 100000) c, unnest(c.ids) AS i(id)
	WHERE c.table_name = 'event' AND c.op = 'upsert' AND i.id LIKE 'nodefail0%'}), $per_owner * @owners + @kept,
	'every new event announced in the change feed');

GcalCitus::worker_routed_only($coord);

done_testing();
