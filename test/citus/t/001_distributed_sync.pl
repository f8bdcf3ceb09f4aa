# gcalsync on a Citus cluster (issue 19): a coordinator and two worker nodes
# on localhost, the mirror tables distributed by owner with gcal_distribute,
# the worker on the coordinator. Beside it a plain single-node server syncs
# the same emulator data; every step must leave the same rows in both:
# full sync (alice synced before the tables were distributed: her rows move
# to the shards), incremental sync with NOTIFY and the change feed, a 410
# with a silent deletion (the resync sweep), a write through the outbox,
# gcal_instances, gcal_busy and gcal_free_slots, and unlink.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;
use GcalCitus;

my $emu = GcalTest::start_emulator(data => 'recurrence');
my $single = GcalTest::node($emu, 'single');
my ($coord, $workers) = GcalCitus::cluster($emu, 'citus');

sub on { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }
my @both = ($single, $coord);
my %refresh = (alice => 'demo-refresh-alice', bob => 'demo-refresh-bob',
	carol => 'demo-refresh-carol', rita => 'demo-refresh-rita');

sub wait_all
{
	my ($what, @owners) = @_;
	for my $node (@both)
	{
		is(on($node, "SELECT gcal_wait('$_', '60s')"), 't', $node->name . ": $_ $what") for @owners;
	}
}

# ---- distribute: refusals, then a table that already holds rows -----------------------
on($_, q{SELECT gcal_link('alice', 'demo-refresh-alice')}) for @both;
wait_all('synced', 'alice');
my ($ret, $out, $err) = $single->psql('postgres', 'SELECT gcal_distribute()');
like($err, qr/ERROR:  Citus is not installed in this database/, 'gcal_distribute without Citus: refused');
on($coord, q{CREATE ROLE app LOGIN; GRANT EXECUTE ON FUNCTION gcal_distribute(integer) TO app});
($ret, $out, $err) = $coord->psql('postgres', 'SET ROLE app; SELECT gcal_distribute()');
like($err, qr/ERROR:  only the owner of extension gcalsync or a superuser may distribute its tables/,
	'gcal_distribute by another role: refused');
my $alice_rows = on($coord, q{SELECT count(*) FROM gcalsync.event WHERE owner = 'alice'});
# README's row-level security makes the status view run as its reader: distributing keeps that.
on($coord, 'ALTER VIEW gcalsync.status SET (security_invoker = true)');
is(on($coord, 'SELECT table_name, shards FROM gcal_distribute(4)'),
	"gcalsync.calendar|4\ngcalsync.calendar_list|4\ngcalsync.event|4", 'gcal_distribute(4): three tables of 4 shards');
# (Citus's views citus_tables and citus_shards leave out the tables of extensions: its catalogs say it.)
is(on($coord, q{SELECT count(DISTINCT colocationid) || '|' || string_agg(DISTINCT partmethod::text, ',') || '|'
	|| string_agg(DISTINCT column_to_column_name(logicalrelid, partkey), ',') FROM pg_dist_partition}),
	'1|h|owner', 'co-located, hash-distributed by owner');
is(on($coord, q{SELECT string_agg(logicalrelid::text, ',' ORDER BY logicalrelid::text) FROM pg_dist_partition}),
	'gcalsync.calendar,gcalsync.calendar_list,gcalsync.event', 'only the mirror tables: the control tables stay local');
is(on($coord, q{SELECT count(*) FROM gcalsync.event WHERE owner = 'alice'}), $alice_rows, 'alice\'s rows moved to the shards');
# (pg_relation_size is the coordinator's own table; Citus answers a SELECT from the shards)
is(on($coord, q{SELECT pg_relation_size('gcalsync.event')}), '0', 'no local rows are left behind');
is(on($coord, 'SELECT count(*) FROM gcal_distribute()'), '3', 'gcal_distribute again: nothing to do');
is(on($coord, q{SELECT array_to_string(reloptions, ',') FROM pg_class WHERE oid = 'gcalsync.status'::regclass}),
	'security_invoker=true', 'the status view keeps the options an administrator set (security_invoker)');
is(on($coord, q{SELECT count(DISTINCT p.groupid) FROM pg_dist_placement p JOIN pg_dist_shard s USING (shardid)
	WHERE s.logicalrelid = 'gcalsync.event'::regclass}), '2', 'shards on both worker nodes');

# ---- full sync -------------------------------------------------------------------------
for my $node (@both) { on($node, "SELECT gcal_link('$_', '$refresh{$_}')") for qw(bob carol rita); }
wait_all('synced', qw(bob carol rita));
for my $owner (sort keys %refresh)
{
	is(on($coord, "SELECT state || '|' || coalesce(last_error, '') FROM gcal_status('$owner')"), 'active|',
		"cluster: $owner active");
}
ok(GcalTest::mirror_matches($coord, $emu, $_, $refresh{$_}), "cluster: $_ mirrors the API") for sort keys %refresh;
GcalCitus::same_mirror($single, $coord, 'full sync');
is(on($coord, 'SELECT owner, calendars, events FROM gcalsync.status ORDER BY owner'),
	on($single, 'SELECT owner, calendars, events FROM gcalsync.status ORDER BY owner'), 'gcalsync.status: the same counts');
# (README, limits: the view costs two routed queries per owner it shows.)
{
	my ($rc, $o, $log) = $coord->psql('postgres', q{SET citus.log_remote_commands = on; SET client_min_messages = log;
		SELECT calendars, events FROM gcalsync.status WHERE owner = 'alice'});
	my @sent = $log =~ /\bissuing (.*)$/mg;
	is(scalar(@sent), 2, 'gcalsync.status of one owner: two queries sent to the nodes') or diag($log);
}

# ---- incremental sync, NOTIFY, change feed -----------------------------------------------
my %cursor = map { $_->name => on($_, 'SELECT gcal_changes_cursor()') } @both;
$emu->control('PATCH', '/calendars/alice%40example.com/events/1c8v2u9k0mdlp3q4r5s6t7u8v9', { summary => 'Quarterly planning (moved)' });
$emu->control('POST', '/calendars/alice%40example.com/events', { id => 'citusnew000000000000000aaa', summary => 'New one',
	start => { dateTime => '2025-05-01T10:00:00+02:00' }, end => { dateTime => '2025-05-01T11:00:00+02:00' } });
$emu->control('DELETE', '/calendars/alice%40example.com/events/6unicode0cafe0tanaka000000');
$emu->control('POST', '/calendars/bob%40example.com/events', { id => 'citusbob00000000000000000a', summary => 'Bob\'s',
	start => { dateTime => '2025-05-02T10:00:00Z' }, end => { dateTime => '2025-05-02T12:00:00Z' } });
my %notified;
for my $node (@both)
{
	$notified{ $node->name } = on($node, q{
		LISTEN gcalsync;
		SELECT gcal_sync_now('alice'), gcal_sync_now('bob');
		SELECT gcal_wait('alice', '60s'), gcal_wait('bob', '60s');
		SELECT 1;
	});
}
# The payloads each server sent, per owner in the order they came (each
# owner's changes are in one calendar: its pages commit one after another).
my %payloads;
for my $node (@both)
{
	for my $p ($notified{ $node->name } =~ /^Asynchronous notification "gcalsync" with payload "(.*)" received from server process with PID \d+\.$/mg)
	{
		my ($owner) = $p =~ /"owner":"([^"]*)"/;
		push @{ $payloads{ $node->name }{ $owner // '' } }, $p;
	}
}
my $by_owner = sub { my ($name) = @_; join "\n", map { "$_: " . join("\n  ", @{ $payloads{$name}{$_} }) } sort keys %{ $payloads{$name} } };
like($by_owner->($single->name), qr/"owner":"alice","table":"event","calendar_id":"alice\@example.com","op":"upsert","ids":\[[^\]]*"citusnew000000000000000aaa"/,
	'single node: NOTIFY of alice\'s new event');
like($by_owner->($single->name), qr/"owner":"bob","table":"event".*"citusbob00000000000000000a"/, 'single node: NOTIFY for bob');
my $n_payloads = 0;
$n_payloads += @$_ for values %{ $payloads{ $single->name } };
is($by_owner->($coord->name), $by_owner->($single->name),
	"cluster: NOTIFY from the coordinator, the same $n_payloads payloads as the single node, in the same order per owner");
GcalCitus::same_mirror($single, $coord, 'incremental sync');
# The feed: the same entries (their numbers are each server's own).
my $feed = sub {
	my ($node) = @_;
	return on($node, qq{SELECT owner, table_name, coalesce(calendar_id, ''), op, coalesce(state, ''),
		array_to_string(ARRAY(SELECT unnest(ids) ORDER BY 1), ' ')
		FROM gcal_changes($cursor{ $node->name }) ORDER BY 1, 2, 3, 4, 6});
};
my $single_feed = $feed->($single);
like($single_feed, qr/citusnew000000000000000aaa/, 'single node: the feed has the new event');
is($feed->($coord), $single_feed, 'cluster: the same change feed entries');

# ---- 410 with a silent deletion: the full listing's sweep --------------------------------
$emu->control('DELETE', '/calendars/alice%40example.com/events/citusnew000000000000000aaa?silent=true');
$emu->control('PATCH', '/calendars/alice%40example.com/events/1c8v2u9k0mdlp3q4r5s6t7u8v9', { summary => 'After the 410' });
$emu->control('POST', '/sync-tokens/invalidate', { user => 'alice', variant => 'fullSyncRequired' });
for my $node (@both)
{
	on($node, q{SELECT gcal_sync_now('alice')});
	is(on($node, q{SELECT gcal_wait('alice', '60s')}), 't', $node->name . ': alice synced after the 410');
	is(on($node, q{SELECT status FROM gcalsync.event WHERE owner = 'alice' AND event_id = 'citusnew000000000000000aaa'}),
		'cancelled', $node->name . ': the silently deleted event swept to a tombstone');
}
GcalCitus::same_mirror($single, $coord, 'after the 410');
ok(GcalTest::mirror_matches($coord, $emu, 'alice', $refresh{alice}), 'cluster: alice mirrors the API after the 410');

# ---- a write through the outbox (the cluster writes; the single node syncs it) ------------
my $wid = on($coord, q{SELECT gcal_insert_event('carol', 'primary',
	'{"summary": "Booked on Citus", "start": {"dateTime": "2030-01-07T10:00:00Z"}, "end": {"dateTime": "2030-01-07T10:30:00Z"}}')});
is(on($coord, qq{SELECT gcal_wait_write($wid, '60s')}), 'done', 'cluster: outbox insert done');
my $eid = on($coord, qq{SELECT event_id FROM gcalsync.outbox WHERE id = $wid});
is(on($coord, qq{SELECT summary FROM gcalsync.event WHERE owner = 'carol' AND event_id = '$eid'}), 'Booked on Citus',
	'cluster: the mirror holds Google\'s answer');
$wid = on($coord, qq{SELECT gcal_update_event('carol', 'primary', '$eid', '{"location": "Room 7"}')});
is(on($coord, qq{SELECT gcal_wait_write($wid, '60s')}), 'done', 'cluster: outbox update done');
for my $node (@both)
{
	on($node, q{SELECT gcal_sync_now('carol')});
	is(on($node, q{SELECT gcal_wait('carol', '60s')}), 't', $node->name . ': carol synced after the write');
}
GcalCitus::same_mirror($single, $coord, 'after the write-back');

# ---- gcal_instances, gcal_busy, gcal_free_slots --------------------------------------------
for my $w ([ '2025-03-01T00:00:00Z', '2025-04-15T00:00:00Z' ], [ '2024-06-01T00:00:00Z', '2026-06-01T00:00:00Z' ])
{
	for my $owner (sort keys %refresh)
	{
		# (One owner's gcal_instances reads one shard: a multi-shard statement would be
		# refused. On the single node the setting is a placeholder.)
		GcalCitus::same_rows($single, $coord, qq{SET TIME ZONE 'UTC'; SET citus.multi_task_query_log_level = 'error';
			SELECT calendar_id, event_id, status, start_at, end_at, start_date, end_date, self_response, data
			  FROM gcal_instances('$owner', '$w->[0]', '$w->[1]') ORDER BY 1, 2, 4, 6},
			"gcal_instances $owner [$w->[0], $w->[1])");
	}
	GcalCitus::same_rows($single, $coord, qq{SET TIME ZONE 'UTC';
		SELECT owner, busy FROM gcal_busy(ARRAY['alice', 'bob', 'carol', 'rita'], '$w->[0]', '$w->[1]')},
		"gcal_busy of four owners [$w->[0], $w->[1])");
	GcalCitus::same_rows($single, $coord, qq{SET TIME ZONE 'UTC';
		SELECT owner, busy FROM gcal_busy(ARRAY['alice', 'bob'], '$w->[0]', '$w->[1]',
			ARRAY['alice\@example.com', 'bob\@example.com', 'c_9a1f3e6b2d8c4a7e\@group.calendar.google.com'])},
		"gcal_busy with named calendars [$w->[0], $w->[1])");
}
# A multi-owner gcal_busy runs on the worker nodes (README: Scaling out with
# Citus): the coordinator sends each shard the aggregate grouped by owner
# (gcalsync.busy_agg expands and merges there) and expands nothing itself.
{
	my @owners = qw(alice bob carol rita);
	my %nodes = map { GcalCitus::placement($coord, $_) => 1 } @owners;
	my ($rc, $o, $log) = $coord->psql('postgres', q{SET citus.log_remote_commands = on; SET client_min_messages = log;
		SELECT count(*) FROM gcal_busy(ARRAY['alice', 'bob', 'carol', 'rita'], '2024-06-01', '2026-06-01')});
	my %agg_on;
	while ($log =~ /issuing (.*?)\nDETAIL:  on server \S+@(\S+) /g)
	{
		my ($cmd, $node) = ($1, $2);
		$agg_on{$node}++ if $cmd =~ /gcalsync\.busy_agg\(/ && $cmd =~ /GROUP BY/;
	}
	ok($o > 0, "gcal_busy on the cluster: $o ranges");
	is(join(',', sort keys %agg_on), join(',', sort keys %nodes),
		'gcal_busy: busy_agg grouped by owner is sent to every node holding the owners (' . join(', ', sort keys %nodes) . ')');
	is(scalar(grep { /issuing .*\brecurrence\b/ && !/busy_agg/ } split /\n/, $log), 0,
		'gcal_busy: no shard sends its rows back to the coordinator for expansion');
	my $plan = on($coord, q{EXPLAIN (COSTS OFF)
		SELECT e.owner, gcalsync.busy_agg(e.calendar_id, e.event_id, e.status, e.start_at, e.end_at, e.start_date,
		       e.end_date, e.time_zone, e.recurrence, e.recurring_event_id, e.original_start_at, e.original_start_date,
		       e.transparency, e.event_type, e.self_response, cl.time_zone, e.owner, '2024-06-01', '2026-06-01', 'gcal_busy')
		  FROM gcalsync.event e JOIN gcalsync.calendar_list cl ON cl.owner = e.owner AND cl.calendar_id = e.calendar_id
		 WHERE e.owner = ANY ('{alice,bob,carol,rita}') GROUP BY e.owner});
	like($plan, qr/\A\s*Custom Scan \(Citus Adaptive\)\n\s*Task Count: [2-9]/, 'EXPLAIN: a Citus scan of several tasks, nothing above it');
	like($plan, qr/->  Task\n.*\n\s*->  (Group|Hash)Aggregate\n\s*Group Key: e\.owner/,
		'EXPLAIN: each task aggregates its owners');
}

# A master longer than eight days whose cancelled exception starts more than
# eight days before the window (read apart on one server, with the rows on
# the shards), the same in a transaction on both nodes, rolled back.
{
	my $sql = q{SET TIME ZONE 'UTC'; BEGIN;
		INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, start_at, end_at, time_zone, recurrence,
		                            transparency, event_type, data)
		VALUES ('alice', 'alice@example.com', 'longmaster01', 'confirmed', '2025-01-01 10:00+00', '2025-01-11 10:00+00',
		        'UTC', ARRAY['RRULE:FREQ=MONTHLY'], 'opaque', 'default', '{}'),
		       ('bob', 'bob@example.com', 'longmaster02', 'confirmed', '2025-01-01 10:00+00', '2025-01-11 10:00+00',
		        'UTC', ARRAY['RRULE:FREQ=MONTHLY'], 'opaque', 'default', '{}');
		INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, recurring_event_id, original_start_at, data)
		VALUES ('alice', 'alice@example.com', 'longmaster01_20250201T100000Z', 'cancelled', 'longmaster01',
		        '2025-02-01 10:00+00', '{}');
		SELECT owner, busy FROM gcal_busy(ARRAY['alice', 'bob'], '2025-02-10', '2025-02-12');
		ROLLBACK};
	my $one = on($single, $sql);
	is(on($coord, $sql), $one, 'gcal_busy with a long master and an old exception: the same ranges');
	like($one, qr/bob\|\["2025-02-10 00:00:00\+00","2025-02-11 10:00:00\+00"\)/, 'bob: busy by the long master');
	unlike($one, qr/alice\|\["2025-02-10 00:00:00\+00","2025-02-11 10:00:00\+00"\)/, 'alice: its occurrence cancelled');
}

# The bounds before the window are in hours in busy.agg as in busy.rows, in a
# session in New York too, where 2031-03-10 00:30 minus '1 day' is 23 hours
# earlier (DST began on 03-09) and minus '8 days' 191 hours: an event of
# 23 h 36 min that started 23.5 hours before the window is busy for its
# first 6 minutes; an occurrence of 191 h 45 min that started 191.5 hours
# before it is cancelled (it would be busy for 15 minutes).
{
	my $sql = q{SET TIME ZONE 'America/New_York'; BEGIN;
		INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, start_at, end_at, time_zone, recurrence,
		                            transparency, event_type, data)
		VALUES ('alice', 'alice@example.com', 'almostaday01', 'confirmed', '2031-03-09 05:00+00', '2031-03-10 04:36+00',
		        'UTC', NULL, 'opaque', 'default', '{}'),
		       ('alice', 'alice@example.com', 'almosteight01', 'confirmed', '2031-03-02 05:00+00', '2031-03-10 04:45+00',
		        'UTC', ARRAY['RRULE:FREQ=DAILY;INTERVAL=30;COUNT=2'], 'opaque', 'default', '{}');
		INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, recurring_event_id, original_start_at, data)
		VALUES ('alice', 'alice@example.com', 'almosteight01_20310302T050000Z', 'cancelled', 'almosteight01',
		        '2031-03-02 05:00+00', '{}');
		SELECT owner, busy FROM gcal_busy(ARRAY['alice', 'bob'], '2031-03-10 00:30', '2031-03-10 01:30');
		ROLLBACK};
	my $one = on($single, $sql);
	is(on($coord, $sql), $one, 'gcal_busy across a DST change in the session\'s zone: the same ranges');
	like($one, qr/alice\|\["2031-03-10 00:30:00-04","2031-03-10 00:36:00-04"\)/,
		'alice: busy by the event that started 23.5 hours before the window, not by the cancelled occurrence');
}

# The application role of README: Privileges, on the cluster: gcal_busy runs
# on the worker nodes with its rights. The mirror tables' grants reach the
# shards; USAGE on the extension's schema is granted on every node (Citus
# does not propagate grants on an extension's schema).
on($coord, q{SELECT run_command_on_workers('GRANT USAGE ON SCHEMA gcalsync TO app')});
on($coord, q{GRANT USAGE ON SCHEMA gcalsync TO app;
	GRANT SELECT ON gcalsync.calendar_list, gcalsync.calendar, gcalsync.event, gcalsync.status TO app;
	-- (the status view runs as its reader here: security_invoker, set above)
	GRANT SELECT (owner, state, last_error, last_sync_at, failures, linked_at, full_sync_started_at,
	              full_sync_finished_at, full_sync_pages, full_sync_events, next_sync_at) ON gcalsync.owner TO app;
	GRANT EXECUTE ON FUNCTION gcal_busy(text[], timestamptz, timestamptz, text[]) TO app});
my $busy_sql = q{SET TIME ZONE 'UTC'; SELECT owner, busy FROM gcal_busy(ARRAY['alice', 'bob', 'carol', 'rita'], '2024-06-01', '2026-06-01')};
is(on($coord, "SET ROLE app; $busy_sql"), on($coord, $busy_sql), 'gcal_busy as the application role: the same rows');
on($coord, q{REVOKE SELECT ON gcalsync.event FROM app});
($ret, $out, $err) = $coord->psql('postgres', "SET ROLE app; $busy_sql");
like($err, qr/permission denied for table event/, 'gcal_busy without SELECT on event: refused');
on($coord, q{GRANT SELECT ON gcalsync.event TO app});

GcalCitus::same_rows($single, $coord, q{SET TIME ZONE 'UTC';
	SELECT slot, free_owners FROM gcal_free_slots(ARRAY['alice', 'bob', 'carol', 'rita'],
		'2025-03-03T08:00:00Z', '2025-03-08T18:00:00Z', '45 min', min_owners => 3)},
	'gcal_free_slots of four owners');

# ---- unlink ------------------------------------------------------------------------------
for my $node (@both)
{
	# (its deletes are single-shard statements: a multi-shard one would be refused)
	on($node, q{SET citus.multi_task_query_log_level = 'error'; SELECT gcal_unlink('rita')});
	is(on($node, q{SELECT (SELECT count(*) FROM gcalsync.event WHERE owner = 'rita')
		+ (SELECT count(*) FROM gcalsync.calendar_list WHERE owner = 'rita')
		+ (SELECT count(*) FROM gcalsync.calendar WHERE owner = 'rita')}), '0', $node->name . ': rita\'s rows are gone');
}
GcalCitus::same_mirror($single, $coord, 'after unlink');
# (The cluster announced carol's event once per write, insert and update, as any
# server writing it does; the single node learnt of it by one sync.)
my $without_write = sub { join "\n", grep { !/\Q$eid\E/ } split /\n/, $feed->($_[0]) };
is($without_write->($coord), $without_write->($single), 'cluster: the same change feed entries, unlink included');
is(scalar(grep { /\Q$eid\E/ } split /\n/, $feed->($coord)), 2, 'cluster: the written event announced once per write');

# pg_dump of the coordinator carries the rows of the shards (README: Scaling out with Citus).
my ($dump) = run_command([ 'pg_dump', '--data-only', '--table=gcalsync.event', '-d', $coord->connstr('postgres') ]);
my ($copied) = $dump =~ /^COPY gcalsync\.event .*?\n(.*?)^\\\.$/ms;
is(scalar(split /\n/, $copied // ''), on($coord, 'SELECT count(*) FROM gcalsync.event'), 'pg_dump: every row of the shards');

# Nothing was left in the coordinator's local tables, and no worker node's
# own gcalsync worker synced anything.
is(on($coord, q{SELECT pg_relation_size('gcalsync.event') + pg_relation_size('gcalsync.calendar_list')
	+ pg_relation_size('gcalsync.calendar')}), '0', 'no rows in the coordinator\'s local tables');
is(on($_, q{SELECT count(*) FROM gcalsync.owner}), '0', $_->name . ': no owner on a worker node') for @$workers;
GcalCitus::worker_routed_only($coord);
# ... and the check sees one: a trigger on the (local) change feed that reads
# every shard makes the worker's next page write a multi-shard statement.
on($coord, q{CREATE FUNCTION public.read_all_shards() RETURNS trigger LANGUAGE plpgsql
	AS $$BEGIN PERFORM count(*) FROM gcalsync.event; RETURN NEW; END$$;
	CREATE TRIGGER read_all_shards AFTER INSERT ON gcalsync.change FOR EACH ROW EXECUTE FUNCTION public.read_all_shards()});
$emu->control('PATCH', '/calendars/bob%40example.com/events/citusbob00000000000000000a', { summary => 'Bob\'s (renamed)' });
on($coord, q{SELECT gcal_sync_now('bob')});
ok(GcalTest::wait_until(sub { slurp_file($coord->logfile) =~ /gcalsync: owner "bob": .*multi-task query about to be executed/ },
	60, 'the worker\'s multi-shard statement in the log'), 'control: a multi-shard statement of the worker fails its round and is logged');

done_testing();
