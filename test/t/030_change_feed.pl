# The durable change feed under concurrent writers: while the worker writes
# pages for several owners and SQL callers commit link/refresh transactions,
# a consumer that stops and resumes (a new connection each time, keeping only
# its cursor) sees every entry exactly once, in increasing order, and misses
# none; the event ids it was told about are exactly the rows in the table.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'generate:4,3,400,7');
$emu->control('PATCH', '/settings', { page_pattern => [37] });    # many small pages: many commits
my $node = GcalTest::node($emu, 'feed');

my $users = $emu->control('GET', '/users');
my @owners = map { $_->{id} } @$users;
is(scalar(@owners), 4, 'four generated users');

# SQL callers committing concurrently with the worker (200 transactions).
my $script = join('', map { "SELECT gcal_link('writer-$_', 'rt-$_'); SELECT gcal_refresh('writer-$_', 'rt2-$_');\n" } 1 .. 100)
  . "SELECT 'writers' || '-done';\n";
my ($in, $out, $err) = ($script, '', '');
my $writers = IPC::Run::start([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
	'<', \$in, '>', \$out, '2>', \$err);

for my $u (@$users)
{
	my $token = $u->{refresh_tokens}[0]{token};
	$node->safe_psql('postgres', "SELECT gcal_link('$u->{id}', '$token')");
}

my $cursor = 0;
my @seen;
my %told;    # "owner|calendar" => { event_id => 1 }
my $reads = 0;
my $consume = sub {
	my $rows = $node->safe_psql('postgres',
		"SELECT seq, owner, table_name, coalesce(calendar_id, ''), op, array_to_string(ids, ' ') FROM gcal_changes($cursor, 7)");
	$reads++;
	my $n = 0;
	for my $line (split /\n/, $rows)
	{
		my ($seq, $owner, $table, $cal, $op, $ids) = split /\|/, $line, 6;
		push @seen, $seq;
		$cursor = $seq;
		$n++;
		if ($table eq 'event')
		{
			$told{"$owner|$cal"}{$_} = 1 for split / /, ($ids // '');
		}
	}
	return $n;
};

# Read while everything is being written, until writers and worker are done.
my $done = 0;
for (my $deadline = time() + 180; time() < $deadline;)
{
	$consume->();
	$writers->pump_nb;
	if ($out =~ /writers-done/)
	{
		$done = 1 if join('', map { $node->safe_psql('postgres', "SELECT gcal_wait('$_', '0')") } @owners) eq 't' x @owners;
	}
	last if $done;
}
ok($writers->finish, 'SQL writers committed') or diag $err;
ok($done, 'every owner synced while the consumer was reading')
  or diag $node->safe_psql('postgres', q{SELECT owner, state, last_error, calendars, events FROM gcalsync.status WHERE owner NOT LIKE 'writer-%'});
1 while $consume->() > 0;
cmp_ok($reads, '>', 3, "the consumer resumed from its cursor $reads times");

my @sorted = sort { $a <=> $b } @seen;
my %count;
$count{$_}++ for @seen;
is_deeply(\@seen, \@sorted, 'entries arrive in increasing (commit) order');
is(scalar(grep { $count{$_} > 1 } keys %count), 0, 'no entry seen twice');
my @all = split /\n/, $node->safe_psql('postgres', 'SELECT seq FROM gcalsync.change ORDER BY seq');
is_deeply(\@seen, \@all, 'no entry missed: the consumer saw exactly what the feed holds');

# Every event row was announced, and nothing else.
for my $owner (@owners)
{
	my $rows = $node->safe_psql('postgres', "SELECT calendar_id, event_id FROM gcalsync.event WHERE owner = '$owner'");
	my %rows;
	for (split /\n/, $rows)
	{
		my ($cal, $id) = split /\|/;
		$rows{"$owner|$cal"}{$id} = 1;
	}
	is_deeply({ map { $_ => $told{$_} } grep { /^\Q$owner\E\|/ } keys %told }, \%rows, "$owner: the feed announced every event row");
}
my $writer_states = $node->safe_psql('postgres',
	q{SELECT count(*) FROM gcalsync.change WHERE owner LIKE 'writer-%' AND table_name = 'account'});
cmp_ok($writer_states, '>=', 200, 'the SQL callers\' state changes are in the feed');

# Unlink: the feed keeps only the unlink of that owner.
$node->safe_psql('postgres', "SELECT gcal_unlink('$owners[0]')");
is($node->safe_psql('postgres', "SELECT string_agg(op, ',') FROM gcalsync.change WHERE owner = '$owners[0]'"),
	'unlink', 'after unlink only the unlink entry of that owner remains');
$consume->();
is($seen[-1], $node->safe_psql('postgres', 'SELECT max(seq) FROM gcalsync.change'), 'the consumer got the unlink entry');

$node->stop;
$emu->stop;
done_testing();
