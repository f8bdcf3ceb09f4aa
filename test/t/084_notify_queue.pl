# Issue 13, item 5: a LISTENer that stopped reading holds the tail of the
# server's NOTIFY queue; once the queue is full every NOTIFY fails its
# transaction at commit, and with it every page the worker writes. gcalsync
# now looks at the queue first: above gcalsync.notify_queue_limit it sends
# no NOTIFY (the change feed still records every change), warns, and counts
# what it skipped in gcalsync.stats; gcalsync.worker.notify_paused says so
# while it lasts. The queue (8 GB in PostgreSQL 15)
# cannot be filled in a test, so the limit is set very low here instead.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'notifyq', q{
gcalsync.notify_queue_limit = 0.0000001
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first sync done (queue empty: NOTIFYs sent)');
is(sql(q{SELECT notifications_skipped FROM gcalsync.stats}), '0', 'nothing skipped while the queue is empty');

# The stuck listener: it LISTENs, then sits in a transaction and reads nothing.
my $stuck = $node->background_psql('postgres', on_error_stop => 1);
$stuck->query_safe(q{LISTEN gcalsync});
$stuck->query_safe(q{BEGIN});
$stuck->query_safe(q{SELECT 1});
# Other traffic fills more than one queue page behind it.
sql(qq{SELECT pg_notify('other', repeat('x', 7000))}) for 1 .. 4;
ok(sql(q{SELECT pg_notification_queue_usage() > 0}) eq 't', 'the NOTIFY queue is not empty (held by the stuck listener)');

# The status says NOTIFYs are paused, and how full the queue is.
is(sql(q{SELECT notify_paused FROM gcalsync.worker}), 't', 'gcalsync.worker.notify_paused while the queue is held');
is(sql(q{SELECT notify_queue_usage > 0 FROM gcalsync.worker}), 't', 'gcalsync.worker.notify_queue_usage shows the queue in use');

# A change at Google: synced, recorded in the feed, but not sent as NOTIFY.
my $feed = sql(q{SELECT coalesce(max(seq), 0) FROM gcalsync.change});
$emu->control('POST', '/calendars/alice%40example.com/events', { id => 'queuefull0000000000000000a', summary => 'while the queue is full',
	start => { dateTime => '2025-07-01T10:00:00Z' }, end => { dateTime => '2025-07-01T11:00:00Z' } });
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: syncing goes on');
is(sql(q{SELECT summary FROM gcalsync.event WHERE event_id = 'queuefull0000000000000000a'}), 'while the queue is full',
	'the new event is stored');
ok(sql(qq{SELECT count(*) FROM gcalsync.change WHERE seq > $feed AND 'queuefull0000000000000000a' = ANY (ids)}) > 0,
	'the change feed records it');
ok($node->poll_query_until('postgres', q{SELECT notifications_skipped > 0 FROM gcalsync.stats}),
	'gcalsync.stats counts the NOTIFYs skipped');
ok($node->wait_for_log(qr/WARNING:  gcalsync sends no NOTIFY while the notification queue is/),
	'a WARNING says why');

# An application call is not refused either (its NOTIFY is skipped too).
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: gcal_sync_now commits and syncs');

# The listener goes away and the limit is back at its default: NOTIFYs are sent again.
$stuck->query_safe(q{ROLLBACK});
$stuck->quit;
sql(q{ALTER SYSTEM SET gcalsync.notify_queue_limit = 0.5; SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres', q{SELECT current_setting('gcalsync.notify_queue_limit') = '0.5'}),
	'the limit is back at 0.5');
ok($node->poll_query_until('postgres', q{SELECT NOT notify_paused FROM gcalsync.worker}),
	'gcalsync.worker.notify_paused is false again');
my $listener = GcalTest::listen($node);
my $i = 0;
ok(GcalTest::wait_until(sub {
		$i++;
		$emu->control('PATCH', '/calendars/alice%40example.com/events/queuefull0000000000000000a', { summary => "queue free again $i" });
		sql(q{SELECT gcal_sync_now('alice')});
		sql(q{SELECT gcal_wait('alice', '30s')});
		return grep { /queuefull0000000000000000a/ } @{ $listener->poll };
	}, 60, 'the NOTIFY'), 'a listener gets the NOTIFY again');
$listener->stop;

$node->stop;
$emu->stop;
done_testing();
