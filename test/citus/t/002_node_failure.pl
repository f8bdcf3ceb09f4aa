# A worker node of the Citus cluster stops (issue 19): the owners whose
# shards live there fail their rounds with a last_error naming the node and
# back off; the owners on the other node keep syncing. When the node is back
# they resume: nothing lost, nothing written twice, every change announced
# once in the change feed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
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

# A new event for every owner, then the node stops and every owner is asked to sync.
my $cursor = sql('SELECT gcal_changes_cursor()');
for my $o (@owners)
{
	$emu->control('POST', "/calendars/$o%40example.com/events", { id => "nodefail0${o}0000aa",
		summary => "while a node was down", start => { dateTime => '2025-06-02T10:00:00Z' },
		end => { dateTime => '2025-06-02T11:00:00Z' } });
}
$down->stop('immediate');
sql("SELECT gcal_sync_now('$_')") for @owners;
for my $o (@kept)
{
	is(sql("SELECT gcal_wait('$o', '60s')"), 't', "$o (other node): synced while the node is down");
	is(sql("SELECT count(*) FROM gcalsync.event WHERE owner = '$o' AND event_id = 'nodefail0${o}0000aa'"), '1',
		"$o: the new event arrived");
}
# (Read from gcalsync.owner: gcal_status and gcalsync.status count the owner's
# rows, which are on the stopped node.)
for my $o (@lost)
{
	my $st = '';
	GcalTest::wait_until(sub {
		$st = sql("SELECT state || '|' || coalesce(last_error, '') FROM gcalsync.owner WHERE owner = '$o'");
		return $st =~ /^backoff\|/;
	}, 60, "$o to back off");
	like($st, qr/^backoff\|.*\Q$down_at\E/, "$o (stopped node): backs off, last_error names the node");
}
my ($ret, $out, $err) = $coord->psql('postgres', "SELECT * FROM gcal_status('$lost[0]')");
like($err, qr/connection to the remote node .*\Q$down_at\E failed/,
	'gcal_status of such an owner fails while its node is down (it counts the rows)');
is(sql(q{SELECT count(*) FROM gcalsync.owner WHERE state = 'backoff' AND owner = ANY (ARRAY['} . join("','", @kept) . q{'])}),
	'0', 'no owner of the other node backs off');

# The node comes back: the owners resume from their sync tokens.
$down->start;
sql("SELECT gcal_sync_now('$_')") for @lost;
for my $o (@lost)
{
	is(sql("SELECT gcal_wait('$o', '120s')"), 't', "$o: synced after the node came back");
}
for my $o (@owners)
{
	ok(GcalTest::mirror_matches($coord, $emu, $o, "gen-refresh-$o"), "$o: the mirror equals the API (nothing lost or doubled)");
}
is(sql(qq{SELECT count(*) FROM gcal_changes($cursor) c, unnest(c.ids) AS i(id)
	WHERE c.table_name = 'event' AND c.op = 'upsert' AND i.id LIKE 'nodefail0%'}), scalar(@owners),
	'every new event announced once in the change feed');
is(sql(q{SELECT count(*) FROM gcalsync.owner WHERE state <> 'active'}), '0', 'every owner active again');

done_testing();
