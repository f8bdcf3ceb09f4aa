# gcalsync.notify_payload (issue 12, item 11): any role may LISTEN gcalsync,
# so 'minimal' payloads carry no owner, calendar or item id — only the table,
# the operation and the change feed's seq, where the rest is (gcal_changes).
# The default, 'full', stays exactly as before.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'notify');
sub sql { return $node->safe_psql('postgres', $_[0]); }

# payloads(sql) runs sql in a session that listens, and returns the payloads it heard.
sub payloads
{
	my ($out) = sql("LISTEN gcalsync;\n" . $_[0] . ";\nSELECT 1");
	return [ $out =~ /Asynchronous notification "gcalsync" with payload "(.*)" received from server process/g ];
}

is(sql(q{SHOW gcalsync.notify_payload}), 'full', 'full payloads by default');
my $full = payloads(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is_deeply([ grep { /"pending"/ } @$full ], [ '{"owner":"alice","table":"account","op":"state","state":"pending","ids":[]}' ],
	'a full payload names the owner, as before');
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice synced');

my ($ret, $o, $err) = $node->psql('postgres', q{SET gcalsync.notify_payload = 'minimal'});
isnt($ret, 0, 'a session cannot change it (the server sets it)');

sql(q{ALTER SYSTEM SET gcalsync.notify_payload = 'minimal'});
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('gcalsync.notify_payload') = 'minimal'}) or die;

# An API call's announcement, then the worker's of the sync it starts.
my $min = payloads(q{SELECT gcal_link('bob', 'demo-refresh-bob'); SELECT gcal_wait('bob', '60s')});
# (The link's own announcement comes first: the worker starts on bob only after it committed.)
ok(scalar(@$min) >= 1, 'the link was announced');
like($min->[0], qr/^\{"table":"account","op":"state","seq":\d+\}$/, "a minimal payload: $min->[0]");
my ($seq) = $min->[0] =~ /"seq":(\d+)/;
is(sql(qq{SELECT owner || ':' || op || ':' || state FROM gcal_changes($seq - 1, 1) WHERE seq = $seq}), 'bob:state:pending',
	'its seq is the change feed entry that says which owner and what');

# The worker's announcements of the sync.
my $sync = [ @$min[ 1 .. $#$min ] ];
ok(scalar(@$sync) > 0, 'the worker announced the sync (' . scalar(@$sync) . ' payloads)');
is(scalar(grep { !/^\{"table":"(?:calendar_list|calendar|event|account)","op":"(?:upsert|delete|state|unlink)","seq":\d+\}$/ } @$sync), 0,
	'every worker payload is minimal');
ok(scalar(grep { /"table":"event"/ } @$sync) > 0, 'events among them');
is(scalar(grep { /bob|example\.com|"ids"/ } @$sync), 0, 'no owner, calendar or item id in any payload');
my @seqs = map { /"seq":(\d+)/ ? $1 : () } @$sync;
my $list = join(',', @seqs);
is(sql(qq{SELECT count(*) FROM gcalsync.change WHERE seq IN ($list) AND owner = 'bob'}), scalar(@seqs),
	'each seq names a feed entry of the owner');

# Back to full.
sql(q{ALTER SYSTEM RESET gcalsync.notify_payload});
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('gcalsync.notify_payload') = 'full'}) or die;
$full = payloads(q{SELECT gcal_unlink('bob')});
is_deeply([ grep { /unlink/ } @$full ], [ '{"owner":"bob","table":"account","op":"unlink","ids":[]}' ],
	'full payloads again after a reset');

$node->stop;
$emu->stop;
done_testing();
