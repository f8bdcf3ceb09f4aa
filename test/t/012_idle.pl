# An idle check costs almost nothing: an incremental listing that finds no
# change writes no page, no sync token row, no data row and no change feed
# entry; only the owner's schedule moves, in one transaction per round. When
# Google hands out a new sync token without changes, it is stored with that
# schedule write (not on its own), and the next check sends it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;
use JSON::PP;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'idle');

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
	SELECT gcal_link('alice', 'demo-refresh-alice');
	SELECT gcal_link('bob', 'demo-refresh-bob');
});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first sync done');
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob: first sync done');

# rows(table) fingerprints alice's rows of a table by their row versions:
# any write (even of the same values) gives a row a new xmin.
sub rows
{
	my ($table) = @_;
	return sql("SELECT count(*) || ':' || coalesce(md5(string_agg(xmin::text || ctid::text, ',' ORDER BY ctid)), '')
		FROM gcalsync.$table WHERE owner = 'alice'");
}
sub tokens
{
	return sql(q{SELECT string_agg(kind || '/' || calendar_id || '=' || sync_token, ' ' ORDER BY kind, calendar_id)
		FROM gcalsync.sync_token WHERE owner = 'alice' AND sync_token IS NOT NULL});
}
sub feed { return sql(q{SELECT count(*) FROM gcalsync.change WHERE owner = 'alice'}); }
sub round
{
	my ($owner) = @_;
	sql("SELECT gcal_sync_now('$owner')");
	return sql("SELECT gcal_wait('$owner', '60s')");
}

my %before = map { $_ => rows($_) } qw(event calendar_list calendar sync_token calendar_sync);
my $tokens = tokens();
my $feed = feed();
my $owner_row = sql(q{SELECT xmin FROM gcalsync.owner WHERE owner = 'alice'});
my $wal = sql(q{SELECT pg_current_wal_insert_lsn()});

# ---- nothing changed anywhere: only the schedule is written ----------------------------
my $seq = GcalTest::log_seq($emu);
for my $i (1 .. 5)
{
	is(round('alice'), 't', "idle round $i done");
}
my @checks = @{ GcalTest::api_requests($emu, $seq, 'alice') };
my @lists = grep { $_->{api} eq 'calendarList.list' } @checks;
my @events = grep { $_->{api} eq 'events.list' } @checks;
ok(@lists >= 5, sprintf('alice was checked: %d calendar list requests', scalar @lists));
ok(@events >= 5 * 3, sprintf('... and %d events requests', scalar @events));
ok(!(grep { !defined $_->{query}{syncToken} } @lists, @events), 'every check was incremental (sync token sent)');
is(rows($_), $before{$_}, "idle rounds rewrote no $_ row") for qw(event calendar_list calendar sync_token);
is(tokens(), $tokens, 'sync tokens unchanged');
is(feed(), $feed, 'no change feed entry');
isnt(sql(q{SELECT xmin FROM gcalsync.owner WHERE owner = 'alice'}), $owner_row, 'the owner\'s schedule moved');
is(sql(q{SELECT count(*) FROM gcalsync.calendar_sync WHERE owner = 'alice' AND enabled AND last_sync_at < now() - interval '30 s'}),
	'0', 'every calendar\'s schedule moved');
my $bytes = sql("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$wal')");
# (the five gcal_sync_now calls write too: each an owner UPDATE and its commit)
ok($bytes < 5 * 4000, "five idle rounds of 1 list + 4 calendars wrote $bytes WAL bytes");

# ---- a new token without changes (with fresh_sync_tokens, the emulator's tokens
# carry its global change counter, so a change of bob's moves alice's tokens) -----------
$emu->control('PATCH', '/settings', { fresh_sync_tokens => JSON::PP::true });
my $bob_cal = 'bob@example.com';
my $bob_event = sql(qq{SELECT event_id FROM gcalsync.event WHERE owner = 'bob' AND calendar_id = '$bob_cal'
	AND status <> 'cancelled' ORDER BY event_id LIMIT 1});
$emu->control('PATCH', "/calendars/$bob_cal/events/$bob_event", { summary => 'bob changed something' });
%before = map { $_ => rows($_) } qw(event calendar_list calendar);
$seq = GcalTest::log_seq($emu);
is(round('alice'), 't', 'alice checked after bob\'s change');
my $moved = tokens();
isnt($moved, $tokens, 'alice\'s sync tokens moved');
is(rows($_), $before{$_}, "no $_ row rewritten") for qw(event calendar_list calendar);
is(feed(), $feed, 'still no change feed entry for alice');
# (the emulator's fresh tokens are those of events.list)
my %responded = map { ($_->{query}{syncToken} // '') => 1 }
  grep { $_->{api} eq 'events.list' } @{ GcalTest::api_requests($emu, $seq, 'alice') };

# The next check sends the stored tokens, and Google accepts them (no 410).
$seq = GcalTest::log_seq($emu);
is(round('alice'), 't', 'alice checked again');
my @sent = map { $_->{query}{syncToken} } grep { $_->{api} =~ /\.list$/ } @{ GcalTest::api_requests($emu, $seq, 'alice') };
my %stored = map { (split /=/, $_, 2)[1] => 1 } split / /, $moved;
ok(@sent && !(grep { !$stored{$_} } @sent), 'the next check sent the stored tokens');
my @sent_events = map { $_->{query}{syncToken} } grep { $_->{api} eq 'events.list' } @{ GcalTest::api_requests($emu, $seq, 'alice') };
ok(@sent_events && !(grep { $responded{$_} } @sent_events), '... not the ones before the move');
ok(!(grep { ($_->{status} // 0) == 410 } @{ GcalTest::api_requests($emu, $seq, 'alice') }), 'no 410');

# And a real change of alice's still arrives through them.
my $event = sql(q{SELECT event_id FROM gcalsync.event WHERE owner = 'alice' AND calendar_id = 'alice@example.com'
	AND status <> 'cancelled' ORDER BY event_id LIMIT 1});
$emu->control('PATCH', "/calendars/alice\@example.com/events/$event", { summary => 'alice changed this' });
is(round('alice'), 't', 'alice synced after her change');
is(sql(qq{SELECT summary FROM gcalsync.event WHERE owner = 'alice' AND event_id = '$event'}), 'alice changed this',
	'the change arrived');
is(feed(), $feed + 1, 'one change feed entry for it');

# ---- after the moves, a full resync still ends in an exact mirror -----------------------
sql(q{SELECT gcal_resync('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice resynced');
ok(GcalTest::mirror_matches($node, $emu, 'alice', 'demo-refresh-alice'), 'alice\'s mirror is exact');

done_testing();
