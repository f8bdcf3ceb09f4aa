# The owner of the database the worker serves, as an attacker (issue 12,
# items 2 and 3).
#
# The worker runs as the bootstrap superuser and connects to a database that
# someone else owns. That owner (no superuser) may create objects in schema
# public and may ALTER DATABASE ... SET anything an ordinary user may set,
# which the worker would take on when it connects. Here it plants functions,
# operators and a domain named like the built-ins the worker's SQL (and the
# install script) uses, puts public first on the database's search_path, and
# sets the transaction defaults that would break the worker. Nothing it
# planted may run as the worker, and the worker must keep syncing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
# (A webhook URL, so that the worker opens watch channels too; Google's
# notifications to it go nowhere.)
my $node = GcalTest::server($emu, 'hostile_owner', qq{
gcalsync.database_name = 'appdb'
gcalsync.webhook_url = 'http://127.0.0.1:9/gcal'
log_min_messages = debug1
});

$node->safe_psql('postgres', q{
	CREATE ROLE dbowner LOGIN;
	CREATE DATABASE appdb OWNER dbowner;
});
# The test's own sessions (the owner's and the administrator's) connect with
# harmless settings, whatever the database's are.
$ENV{PGOPTIONS} = join ' ', map { "-c $_" } 'search_path=pg_catalog,public', 'default_transaction_read_only=off',
  'default_transaction_isolation=read\\ committed', 'default_transaction_deferrable=off', 'statement_timeout=0',
  'lock_timeout=0', 'idle_in_transaction_session_timeout=0';
sub sql { my ($q) = @_; return $node->safe_psql('appdb', $q); }
sub as_owner { my ($q) = @_; return $node->safe_psql('appdb', $q, extra_params => [ '-U', 'dbowner' ]); }

# The database owner's kit, in public (which it owns): spy() records who
# calls it and, run as a superuser, makes the owner a superuser. Every decoy
# calls it, then does what the built-in does, so the worker's transaction
# commits (keeping the record) instead of failing.
as_owner(q{
	CREATE TABLE public.spied (what text, usr name, backend text);
	CREATE FUNCTION public.spy(what text) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.spied VALUES (what, pg_catalog.current_user(),
			(SELECT a.backend_type FROM pg_catalog.pg_stat_activity a
			  WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()));
		IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) pg_catalog.current_user()) THEN
			EXECUTE 'ALTER ROLE dbowner SUPERUSER';
		END IF;
		RETURN true;
	END $$;
	CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE sql
		AS $$ SELECT public.spy('unnest(text[])'); SELECT pg_catalog.unnest($1) $$;
	CREATE FUNCTION public.make_interval(secs bigint) RETURNS interval LANGUAGE sql
		AS $$ SELECT public.spy('make_interval(bigint)'); SELECT pg_catalog.make_interval(secs => $1) $$;
	CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql
		AS $$ SELECT public.spy('now()'); SELECT pg_catalog.now() $$;
	CREATE FUNCTION public.nextval(text) RETURNS bigint LANGUAGE sql
		AS $$ SELECT public.spy('nextval(text)'); SELECT pg_catalog.nextval($1::pg_catalog.regclass) $$;
	CREATE FUNCTION public.jsonb_array_elements_text(jsonb) RETURNS SETOF text LANGUAGE sql
		AS $$ SELECT public.spy('jsonb_array_elements_text(jsonb)'); SELECT pg_catalog.jsonb_array_elements_text($1) $$;
	CREATE FUNCTION public.text_eq(text, text) RETURNS boolean LANGUAGE sql
		AS $$ SELECT public.spy('=(text,text)') AND pg_catalog.texteq($1, $2) $$;
	CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_eq);
	CREATE FUNCTION public.int8_gt(bigint, bigint) RETURNS boolean LANGUAGE sql
		AS $$ SELECT public.spy('>(bigint,bigint)') AND pg_catalog.int8gt($1, $2) $$;
	CREATE OPERATOR public.> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.int8_gt);
	CREATE DOMAIN public.jsonb AS pg_catalog.jsonb CHECK (public.spy('domain jsonb'));
	ALTER DATABASE appdb SET search_path = public, pg_catalog;
});

# The administrator installs gcalsync in that database, into public where
# the decoys are already (its script then runs with public on its path),
# stores the client and links three owners.
sql(q{
	CREATE EXTENSION gcalsync SCHEMA public;
	SELECT gcal_set_client('gcalsync-demo.apps.googleusercontent.com', 'demo-client-secret');
	SELECT gcal_link('alice', 'demo-refresh-alice');
	SELECT gcal_link('bob', 'demo-refresh-bob');
	SELECT gcal_link('carol', 'demo-refresh-carol');
});

# The worker picks up the database's settings when it connects: restart it.
$node->restart;
for my $owner (qw(alice bob carol))
{
	is(sql("SELECT gcal_wait('$owner', '60s')"), 't', "$owner synced under the database's search_path");
	ok(GcalTest::mirror_matches($node, $emu, $owner, "demo-refresh-$owner", 'appdb'), "$owner: the mirror matches Google");
}
# new_event_syncs(owner, summary, day, why): an event appears at Google, and
# an incremental sync brings it in.
sub new_event_syncs
{
	my ($owner, $summary, $day, $why) = @_;
	$emu->control('POST', "/calendars/$owner%40example.com/events", { summary => $summary,
		start => { dateTime => "2025-05-${day}T10:00:00Z" }, end => { dateTime => "2025-05-${day}T11:00:00Z" } });
	sql(qq{SELECT gcal_sync_now('$owner')});
	is(sql(qq{SELECT gcal_wait('$owner', '60s')}), 't', "an incremental sync completed $why");
	is(sql(qq{SELECT count(*) FROM gcalsync.event WHERE owner = '$owner' AND summary = '$summary'}), '1',
		'the new event arrived');
}
# spied_by_others: who but the database owner ran one of its decoys.
sub spied_by_others
{
	return sql(q{SELECT coalesce(string_agg(DISTINCT what || ' as ' || usr || ' in a ' || backend, ', '), '')
		FROM public.spied WHERE usr <> 'dbowner'});
}

new_event_syncs('alice', 'after the attack', '01', 'under the database\'s search_path');

# The rest of the worker's statements: watch channels opened (and calendars
# that cannot be watched), a calendar that answers 404, a revoked owner,
# channels queued by an unlink and stopped, a full resync.
$node->poll_query_until('appdb', q{SELECT count(DISTINCT owner) = 3 FROM gcalsync.channel})
  or diag sql(q{SELECT owner, kind, calendar_id FROM gcalsync.channel});
is(sql(q{SELECT count(*) > 0 FROM gcalsync.calendar_sync WHERE NOT push_supported}), 't',
	'watch channels opened, unwatchable calendars recorded');
$emu->control('POST', '/faults', { path => 'calendars/en\.usa#holiday.*/events$', user => 'bob', preset => 'notFound', count => 1 });
sql(q{SELECT gcal_sync_now('bob')});
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'bob synced despite a 404');
is(sql(q{SELECT deleted FROM gcalsync.calendar_list WHERE owner = 'bob' AND calendar_id = 'en.usa#holiday@group.v.calendar.google.com'}),
	't', 'the 404 calendar is marked deleted');
sql(q{SELECT gcal_link('erin', 'demo-refresh-erin-revoked')});
like(GcalTest::wait_state($node, 'erin', 'revoked', 'appdb'), qr/^revoked\|/, 'a revoked owner is recorded as such');
sql(q{SELECT gcal_link('carol-again', 'demo-refresh-carol')});
is(sql(q{SELECT gcal_wait('carol-again', '60s')}), 't', 'a second link of carol synced');
$node->poll_query_until('appdb', q{SELECT count(*) > 0 FROM gcalsync.channel WHERE owner = 'carol-again'}) or diag 'no channel';
sql(q{SELECT gcal_unlink('carol-again')});
$node->poll_query_until('appdb', q{SELECT count(*) = 0 FROM gcalsync.channel_stop})
  or diag sql(q{SELECT * FROM gcalsync.channel_stop});
pass('its channels were queued and stopped');
sql(q{SELECT gcal_resync('bob')});
is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'a full resync completed');

is(spied_by_others(), '', 'no decoy of the database owner ran as the worker or the installer');
is(sql(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'}), 'f', 'the database owner is not a superuser');

# The transaction defaults the worker relies on: a database that makes
# transactions read-only and serializable by default, with timeouts that
# would cancel the worker's page writes.
as_owner(q{
	ALTER DATABASE appdb SET default_transaction_read_only = on;
	ALTER DATABASE appdb SET default_transaction_isolation = 'serializable';
	ALTER DATABASE appdb SET default_transaction_deferrable = on;
	ALTER DATABASE appdb SET statement_timeout = '1ms';
	ALTER DATABASE appdb SET lock_timeout = '1ms';
	ALTER DATABASE appdb SET idle_in_transaction_session_timeout = '1ms';
});
my $log_offset = -s $node->logfile;
$node->restart;
$node->wait_for_log(qr/gcalsync worker settings: search_path = 'pg_catalog, pg_temp', default_transaction_read_only = 'off', default_transaction_isolation = 'read committed', default_transaction_deferrable = 'off', statement_timeout = '0', lock_timeout = '0', idle_in_transaction_session_timeout = '0'/,
	$log_offset);
pass('the worker runs with its own settings, not the database\'s');
new_event_syncs('carol', 'read-only database', '02', 'in a database whose transactions default to read-only');
is(sql(q{SELECT string_agg(owner || ':' || state, ',' ORDER BY owner) FROM gcalsync.status}),
	'alice:active,bob:active,carol:active,erin:revoked', 'the owners are as they were');
is(spied_by_others(), '', 'still no decoy ran as another role');

$node->stop;
$emu->stop;
done_testing();
