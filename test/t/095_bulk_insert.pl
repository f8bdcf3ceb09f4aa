# Issue 18: the rows of a first full listing are written as COPY writes them
# (src/pg/bulk_insert.cpp: table_multi_insert in batches, index entries per
# batch) instead of through INSERT. This test shows that the two paths store
# the very same rows, that the bulk path is the one taken where it may be
# (the WAL holds multi-insert records for gcalsync.event) and not where it may
# not (a trigger or a column the worker does not know: then INSERT, which
# fires the trigger and fills the column's default), and that a full listing
# of rows that exist (gcal_resync) still ends as Google's data.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'recurrence');
my $node = GcalTest::node($emu, 'bulk', q{
gcalsync.poll_interval = '1h'
log_min_messages = debug2
});
sub sql { return $node->safe_psql('postgres', $_[0]); }
sql('CREATE EXTENSION pg_walinspect');
# data's bytes as they are stored: the helper thread encodes the jsonb of
# full listings (core/jsonb.hpp), and it must be byte for byte jsonb_in's.
sql('CREATE CAST (jsonb AS bytea) WITHOUT FUNCTION');

my %refresh = (alice => 'demo-refresh-alice', bob => 'demo-refresh-bob',
	carol => 'demo-refresh-carol', rita => 'demo-refresh-rita');
my @people = sort keys %refresh;

# link_all(prefix) links every account as prefix_name, waits for the first
# syncs, and returns the WAL records (Heap2 MULTI_INSERT, Heap INSERT) of
# gcalsync.event written meanwhile.
sub link_all
{
	my ($prefix) = @_;
	my $start = sql('SELECT pg_current_wal_insert_lsn()');
	sql("SELECT gcal_link('${prefix}_$_', '$refresh{$_}')") for @people;
	is(sql("SELECT gcal_wait('${prefix}_$_', '120s')"), 't', "${prefix}_$_: first sync done") for @people;
	# pg_walinspect reads only flushed WAL: the flush position (the worker's
	# commits are flushed before gcal_wait sees them) never lies past it.
	my $end = sql('SELECT pg_current_wal_flush_lsn()');
	my ($multi, $single) = split /\|/, sql(qq{
		SELECT count(*) FILTER (WHERE resource_manager = 'Heap2' AND record_type LIKE 'MULTI_INSERT%'),
		       count(*) FILTER (WHERE resource_manager = 'Heap' AND record_type LIKE 'INSERT%')
		  FROM pg_get_wal_records_info('$start', '$end')
		 WHERE block_ref ~ ('rel \\d+/\\d+/' || pg_relation_filenode('gcalsync.event') || ' ')});
	return ($multi, $single);
}

# The bulk path: a plain table.
my ($multi, $single) = link_all('a');
cmp_ok($multi, '>', 0, "bulk path: $multi multi-insert records for gcalsync.event");
is($single, 0, 'bulk path: no single-row heap insert into gcalsync.event');
ok(GcalTest::mirror_matches($node, $emu, "a_$_", $refresh{$_}), "a_$_: the mirror equals Google") for @people;
is(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner LIKE 'a\_%'
	AND data::bytea IS DISTINCT FROM data::text::jsonb::bytea}), 0,
	"bulk path: every row's data has jsonb_in's bytes");
# ... and those bytes were made by the helper thread (the worker says so at DEBUG2).
my ($written, $encoded) = (0, 0);
for (split /\n/, slurp_file($node->logfile))
{
	next unless /(\d+) events written as COPY writes them, (\d+) with their jsonb made by the helper thread/;
	$written += $1;
	$encoded += $2;
}
cmp_ok($encoded, '>', 0, "bulk path: $encoded of $written rows with their jsonb made by the helper thread");
is($encoded, $written, 'bulk path: every row of the emulator\'s data encoded (none left to jsonb_in)');

# INSERT: a trigger on the table (it must fire, so the worker cannot bypass it).
sql(q{
	CREATE TABLE public.fired (n bigint);
	INSERT INTO public.fired VALUES (0);
	CREATE FUNCTION public.count_rows() RETURNS trigger LANGUAGE plpgsql AS
	  $$BEGIN UPDATE public.fired SET n = n + (SELECT count(*) FROM new_rows); RETURN NULL; END$$;
	CREATE TRIGGER count_rows AFTER INSERT ON gcalsync.event REFERENCING NEW TABLE AS new_rows
	  FOR EACH STATEMENT EXECUTE FUNCTION public.count_rows();
});
($multi, $single) = link_all('b');
is($multi, 0, 'with a trigger: no multi-insert record');
cmp_ok($single, '>', 0, "with a trigger: $single rows inserted by INSERT");
is(sql('SELECT n FROM public.fired'), sql(q{SELECT count(*) FROM gcalsync.event WHERE owner LIKE 'b\_%'}),
	'the trigger saw every row');

# Both paths store the same rows, column by column (data as text, the
# recurrence arrays with their bounds), with the page's clock and time.
my $cols = q{calendar_id, event_id, status, summary, description, location, start_at, end_at, start_date,
	end_date, time_zone, recurrence, pg_catalog.array_dims(recurrence), recurring_event_id, original_start_at,
	original_start_date, ical_uid, sequence, event_type, transparency, visibility, organizer_email,
	creator_email, html_link, created, updated, data::text, data::bytea, self_response,
	synced_at IS NOT NULL, synced_tick IS NOT NULL};
for my $p (@people)
{
	my $n = sql("SELECT count(*) FROM gcalsync.event WHERE owner = 'a_$p'");
	cmp_ok($n, '>', 0, "$p: $n events");
	is(sql("SELECT count(*) FROM gcalsync.event WHERE owner = 'b_$p'"), $n, "$p: as many rows by both paths");
	is(sql(qq{SELECT count(*) FROM (SELECT $cols FROM gcalsync.event WHERE owner = 'a_$p'
		EXCEPT ALL SELECT $cols FROM gcalsync.event WHERE owner = 'b_$p') d}), 0,
		"$p: the bulk path stored what INSERT stores");
}
cmp_ok(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner LIKE 'a\_%' AND recurrence IS NOT NULL}), '>', 0,
	'the comparison covers recurrence arrays');
cmp_ok(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner LIKE 'a\_%' AND start_date IS NOT NULL}), '>', 0,
	'and all-day events');

# INSERT again: a column the worker does not know (its default must be filled).
sql(q{DROP TRIGGER count_rows ON gcalsync.event;
	ALTER TABLE gcalsync.event ADD COLUMN app_note text DEFAULT 'from the default'});
($multi, $single) = link_all('c');
is($multi, 0, 'with an unknown column: no multi-insert record');
cmp_ok(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner LIKE 'c\_%'}), '>', 0, 'with an unknown column: rows written');
is(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner LIKE 'c\_%' AND app_note IS DISTINCT FROM 'from the default'}),
	0, "with an unknown column: every row has the column's default");
sql('ALTER TABLE gcalsync.event DROP COLUMN app_note');

# A dropped column is no obstacle; and a full listing of rows that exist
# (gcal_resync) meets the unique index, falls back to the upsert and ends
# as Google's data, the owner healthy.
($multi, $single) = link_all('d');
cmp_ok($multi, '>', 0, 'after a column was dropped: the bulk path again');
my $before = sql(q{SELECT count(*) FROM gcalsync.event WHERE owner = 'd_rita'});
sql(q{SELECT gcal_resync('d_rita')});
is(sql(q{SELECT gcal_wait('d_rita', '120s')}), 't', 'resync done');
like(GcalTest::owner_state($node, 'd_rita'), qr/^active\|$/, 'd_rita: active after the resync, no error');
is(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner = 'd_rita'}), $before, 'the resync wrote no row twice');
ok(GcalTest::mirror_matches($node, $emu, 'd_rita', $refresh{rita}), 'd_rita: the mirror equals Google after the resync');
is(sql(q{SELECT count(*) FROM gcalsync.event WHERE data::bytea IS DISTINCT FROM data::text::jsonb::bytea}), 0,
	"every path (bulk, INSERT, the resync's upsert): data has jsonb_in's bytes");

$node->stop;
done_testing();
