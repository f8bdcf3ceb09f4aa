# A compromised or misconfigured endpoint (issue 12, item 10): answers without
# end, or of millions of tiny JSON values, fail that owner's request with a
# clear last_error (never the body), at the limit of their kind (token
# answers at 64 KiB, list pages at 64 MiB, 2,000,000 JSON values), the
# worker's memory stays bounded, and it keeps syncing the other owners.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'hostile_body');
sub sql { return $node->safe_psql('postgres', $_[0]); }

# peak_rss_kb is the worker's peak resident set (VmHWM), in kB.
sub peak_rss_kb
{
	my $pid = GcalTest::worker_pid($node);
	my $status = slurp_file("/proc/$pid/status");
	return $status =~ /^VmHWM:\s+(\d+) kB/m ? $1 : 0;
}
# bob_still_syncs: a round of bob's, requested now, ends well.
sub bob_still_syncs
{
	my ($name) = @_;
	is(sql(q{SELECT gcal_sync_now('bob'); SELECT gcal_wait('bob', '60s')}), "\nt", "bob synced meanwhile ($name)");
	is(GcalTest::owner_state($node, 'bob'), 'active|', "bob is active ($name)");
}

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice'), gcal_link('bob', 'demo-refresh-bob')});
is(sql(q{SELECT gcal_wait('alice', '60s') AND gcal_wait('bob', '60s')}), 't', 'alice and bob synced');
my $rss0 = peak_rss_kb();

# 1. The token endpoint answers 200 and a body without end: refused at 64 KiB.
my $f = $emu->control('POST', '/faults', { path => '/token$', preset => 'endlessBody', count => -1 });
is($f->{action}, 'endless', 'the endlessBody preset streams without end');
sql(q{SELECT gcal_refresh('alice', 'demo-refresh-alice')});   # a new link generation needs a new access token
my $st = GcalTest::wait_state($node, 'alice', 'backoff');
is($st, 'backoff|token request failed: response larger than 65536 bytes', "token answer cut at 64 KiB: $st");
bob_still_syncs('endless token answer');
$emu->control('DELETE', "/faults/$f->{id}");

# 2. An events listing without end: refused at the page limit (64 MiB).
$f = $emu->control('POST', '/faults', { user => 'alice', path => '/events$', preset => 'endlessBody', count => -1 });
sql(q{SELECT gcal_sync_now('alice')});
$st = GcalTest::wait_state($node, 'alice', 'backoff', undef, 120);
ok(GcalTest::wait_until(sub { GcalTest::owner_state($node, 'alice') =~ /response larger than 67108864 bytes/ }, 120, 'the page limit'),
	'events page cut at 64 MiB: ' . GcalTest::owner_state($node, 'alice'));
bob_still_syncs('endless events page');
my $hits = $emu->control('GET', '/faults')->[0]{hits};
cmp_ok($hits, '>=', 1, "the endless page was asked for ($hits times)");
$emu->control('DELETE', "/faults/$f->{id}");

# 3. A page of 2,100,000 tiny values (4 MB): refused before it is parsed.
my $tiny = '{"kind":"calendar#events","items":[' . join(',', ('0') x 2_100_000) . ']}';
$f = $emu->control('POST', '/faults', { user => 'alice', path => '/events$', status => 200, body_text => $tiny, count => -1 });
sql(q{SELECT gcal_sync_now('alice')});
ok(GcalTest::wait_until(sub { GcalTest::owner_state($node, 'alice') =~ /body has more than 2000000 JSON values/ }, 120, 'the element limit'),
	'a page of too many JSON values is refused: ' . GcalTest::owner_state($node, 'alice'));
unlike(GcalTest::owner_state($node, 'alice'), qr/0,0/, 'last_error holds nothing of the body');
bob_still_syncs('page of tiny values');
$emu->control('DELETE', "/faults/$f->{id}");

# The worker's memory stayed bounded: the peak grew by less than the page
# limit plus the budget of bytes in flight.
my $rss1 = peak_rss_kb();
note(sprintf('worker peak RSS: %d MB before, %d MB after the hostile answers', $rss0 / 1024, $rss1 / 1024));
cmp_ok($rss1 - $rss0, '<', 400 * 1024, 'worker peak memory grew by less than 400 MB (budget of bytes in flight 256 MB, plus one page being grown)');

# And alice recovers once the endpoint behaves.
sql(q{SELECT gcal_sync_now('alice')});
like(GcalTest::wait_state($node, 'alice', 'active', undef, 120), qr/^active\|$/, 'alice syncs again');
GcalTest::no_secrets_in_log($node);

$node->stop;
$emu->stop;
done_testing();
