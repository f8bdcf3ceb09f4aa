# Issue 13, item 2: an application transaction left idle while it holds an
# owner's row (it called gcal_sync_now and never committed) must not stall
# the worker. Before, the worker's next write for that owner waited on the
# row lock for ever, on its only thread: no other owner synced. Now each
# lock wait of the worker is bounded (1 s); that owner is paused and tried
# again every few seconds, the others go on, and once the transaction ends
# the owner syncs too. A paused owner is restarted only once a probe finds
# its row free: no Google requests, no lock wait while it is held.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
# Every owner is due about every second, so the worker soon touches alice's row.
my $node = GcalTest::node($emu, 'idlelock', q{
gcalsync.poll_interval = 1
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice'); SELECT gcal_link('bob', 'demo-refresh-bob');});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first sync done');
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob: first sync done');
my $wpid = GcalTest::worker_pid($node);

# The application's transaction: it holds alice's row and stays idle.
my $app = $node->background_psql('postgres', on_error_stop => 1);
$app->query_safe(q{BEGIN});
$app->query_safe(q{SELECT gcal_sync_now('alice')});
my $app_pid = $app->query_safe(q{SELECT pg_backend_pid()});
chomp $app_pid;

# The worker runs into alice's row lock (its round's schedule or page write).
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) > 0 FROM pg_stat_activity
	 WHERE pid = $wpid AND wait_event_type = 'Lock'}),
	'the worker waited on a lock the idle transaction holds');
ok($node->poll_query_until('postgres', qq{
	SELECT state = 'idle in transaction' FROM pg_stat_activity WHERE pid = $app_pid}),
	'the application transaction stays idle in transaction');

# While alice's row stays held, her paused rounds are not restarted: before
# each retry the worker probes her row (FOR SHARE NOWAIT) and starts her
# round only if it is free. Before, each retry (every 5 s) made the round's
# Google requests and then waited out lock_timeout at the first write.
# Each failed probe counts in lock_timeouts (retries at least 5 s apart):
# three more of them mean two whole retries after $seq; at most one request
# of a round that was already under way may land after it.
ok($node->poll_query_until('postgres', q{SELECT lock_timeouts > 0 FROM gcalsync.stats}),
	'alice is paused (a lock timeout is counted)');
my $seq = GcalTest::log_seq($emu);
my $timeouts = sql(q{SELECT lock_timeouts FROM gcalsync.stats});
sql(q{SELECT gcal_sync_now('bob')});
is(sql(q{SELECT gcal_wait('bob', '20s')}), 't', 'bob: a round done while alice is paused');
ok($node->poll_query_until('postgres', qq{SELECT lock_timeouts >= $timeouts + 3 FROM gcalsync.stats}),
	'alice: three more retries, each kept paused');
my @alice = @{ GcalTest::api_requests($emu, $seq, 'alice') };
cmp_ok(scalar(@alice), '<=', 1, 'alice: no Google request while her row is held (at most one already under way)')
  or diag(explain([ map { $_->{api} } @alice ]));
ok(scalar(@{ GcalTest::api_requests($emu, $seq, 'bob') }) > 0, 'bob: his requests went on meanwhile');

# Other owners keep syncing meanwhile, more than once.
for my $i (1 .. 3)
{
	sql(q{SELECT gcal_sync_now('bob')});
	is(sql(q{SELECT gcal_wait('bob', '20s')}), 't', "bob: round $i done while alice's row is held");
}
$emu->control('POST', '/calendars/bob%40example.com/events', { id => 'whilelocked00000000000000a', summary => 'while alice is locked',
	start => { dateTime => '2025-07-01T10:00:00Z' }, end => { dateTime => '2025-07-01T11:00:00Z' } });
sql(q{SELECT gcal_sync_now('bob')});
is(sql(q{SELECT gcal_wait('bob', '20s')}), 't', 'bob: synced a new event');
is(sql(q{SELECT summary FROM gcalsync.event WHERE owner = 'bob' AND event_id = 'whilelocked00000000000000a'}),
	'while alice is locked', 'bob: the new event is stored');
is(GcalTest::worker_pid($node), $wpid, 'the same worker did it (no crash, no restart)');
ok($node->log_contains(qr/owner "alice": another session holds a lock its sync needs/),
	'the log says why alice is paused');
is(sql(q{SELECT state FROM gcalsync.owner WHERE owner = 'alice'}), 'active',
	'alice is not put in backoff for it (its row could not be written, nor was anything else)');

# The transaction ends: alice syncs again.
$app->query_safe(q{COMMIT});
$app->quit;
is(sql(q{SELECT gcal_wait('alice', '30s')}), 't', 'alice: the sync the application requested is done');
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '30s')}), 't', 'alice: syncs again');

$node->stop;
$emu->stop;
done_testing();
