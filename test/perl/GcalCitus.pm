# GcalCitus — a Citus cluster on localhost for the citus suite (test/citus/t):
# a coordinator, where gcalsync's worker runs against the emulator, and worker
# nodes holding the shards of the mirror tables. Every node preloads citus
# first, then gcalsync (Citus requires to come first).
package GcalCitus;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

# The nodes talk to each other over TCP on 127.0.0.1 (the test framework's
# nodes listen on a Unix socket only); initdb -A trust lets them in.
my $citus_conf = q{
shared_preload_libraries = 'citus,gcalsync'
listen_addresses = '127.0.0.1'
citus.node_conninfo = 'sslmode=disable'
max_connections = 60
max_prepared_transactions = 20
};

# Every statement gcalsync's worker runs for an owner is a single-shard
# (router) statement (README: Scaling out with Citus). The coordinator's
# server-wide setting makes Citus refuse any statement it would split into
# several tasks (shards): the worker, a background worker, takes its settings
# from postgresql.conf, so a multi-shard statement of the worker fails its
# round, and the message stays in the log (worker_routed_only checks it). The
# tests' own sessions read whole tables across owners: they turn it off
# (PGOPTIONS, set once the nodes run; it reaches libpq clients, which
# gcalsync's worker is not).
my $router_only_conf = q{
citus.multi_task_query_log_level = 'error'
};
my $multi_task = qr/multi-task query about to be executed/;

# cluster(emu, name, workers, extra_conf) starts a coordinator and `workers`
# (default 2) worker nodes, adds them to the coordinator, creates citus and
# gcalsync (Citus propagates the extension to the workers) and stores the
# demo OAuth client. Returns (coordinator, [worker nodes]); gcal_distribute
# is left to the test.
sub cluster
{
	my ($emu, $name, $n, $extra) = @_;
	$n //= 2;
	my $conf = $citus_conf . ($extra // '');
	my $coord = GcalTest::server($emu, "${name}_coordinator", $conf . $router_only_conf);
	my @workers = map { GcalTest::server($emu, "${name}_worker$_", $conf) } 1 .. $n;
	$ENV{PGOPTIONS} = '-c citus.multi_task_query_log_level=off';
	$_->safe_psql('postgres', 'CREATE EXTENSION citus') for $coord, @workers;
	$coord->safe_psql('postgres', "SELECT citus_set_coordinator_host('127.0.0.1', " . $coord->port . ')');
	$coord->safe_psql('postgres', "SELECT citus_add_node('127.0.0.1', " . $_->port . ')') for @workers;
	$coord->safe_psql('postgres', q{
		CREATE EXTENSION gcalsync;
		SELECT gcal_set_client('gcalsync-demo.apps.googleusercontent.com', 'demo-client-secret');
	});
	return ($coord, \@workers);
}

# Each mirror table's rows as text, in a stable order, without the columns
# that say when a row was written (synced_at, synced_tick).
my %mirror_sql = (
	calendar_list => q{SELECT owner, calendar_id, deleted, is_primary, hidden, selected, summary, time_zone, data
		FROM gcalsync.calendar_list ORDER BY owner, calendar_id},
	calendar => q{SELECT owner, calendar_id, summary, time_zone, data FROM gcalsync.calendar ORDER BY owner, calendar_id},
	event => q{SELECT owner, calendar_id, event_id, status, summary, start_at, end_at, start_date, end_date,
		time_zone, recurrence, recurring_event_id, original_start_at, original_start_date, transparency,
		event_type, self_response, updated, data
		FROM gcalsync.event ORDER BY owner, calendar_id, event_id},
);

# same_rows(a, b, sql, what): the query gives the same rows on both nodes
# (a diff of the first differing lines if not).
sub same_rows
{
	my ($a, $b, $sql, $what) = @_;
	my @x = split /\n/, $a->safe_psql('postgres', $sql);
	my @y = split /\n/, $b->safe_psql('postgres', $sql);
	my $same = join("\n", @x) eq join("\n", @y);
	ok($same && @x > 0, "$what: the same " . scalar(@x) . ' rows') or do {
		my %in_y = map { $_ => 1 } @y;
		my %in_x = map { $_ => 1 } @x;
		my @only_a = grep { !$in_y{$_} } @x;
		my @only_b = grep { !$in_x{$_} } @y;
		diag(scalar(@x) . ' rows against ' . scalar(@y));
		diag('only in ' . $a->name . ': ' . substr($_, 0, 300)) for @only_a[0 .. ($#only_a < 4 ? $#only_a : 4)];
		diag('only in ' . $b->name . ': ' . substr($_, 0, 300)) for @only_b[0 .. ($#only_b < 4 ? $#only_b : 4)];
	};
	return $same;
}

# same_mirror(a, b, what): the three mirror tables hold the same rows.
sub same_mirror
{
	my ($a, $b, $what) = @_;
	same_rows($a, $b, $mirror_sql{$_}, "$what: $_") for qw(calendar_list calendar event);
}

# worker_routed_only(coord): the coordinator's log has no multi-task
# message, so the worker ran no multi-shard statement (see $router_only_conf);
# and, as a control, a session with the server's settings is refused one.
# (Citus checks plans it runs as tasks on the nodes; an INSERT ... SELECT it
# runs on the coordinator, then copies to the shards, is not checked: the
# worker's are of one owner, CONTRIBUTING: SQL that Citus must be able to route.)
sub worker_routed_only
{
	my ($coord) = @_;
	my @hits = grep { /$multi_task/ } split /\n/, slurp_file($coord->logfile);
	is(scalar(@hits), 0, 'the worker ran no multi-shard statement (citus.multi_task_query_log_level = error)')
	  or diag(join("\n", @hits[0 .. ($#hits < 9 ? $#hits : 9)]));
	local $ENV{PGOPTIONS};
	delete $ENV{PGOPTIONS};
	my ($ret, $out, $err) = $coord->psql('postgres', 'SELECT count(*) FROM gcalsync.event');
	like($err, qr/ERROR:  $multi_task/, 'control: with the server\'s settings a multi-shard query is refused');
}

# placement(coord, owner) is the worker node (host:port) holding the owner's shard group.
sub placement
{
	my ($coord, $owner) = @_;
	# (citus_shards leaves out the tables of extensions)
	return $coord->safe_psql('postgres', qq{
		SELECT n.nodename || ':' || n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
		 WHERE p.shardid = get_shard_id_for_distribution_column('gcalsync.event', '$owner')});
}

1;
