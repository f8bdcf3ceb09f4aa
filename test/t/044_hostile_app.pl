# An application role as an attacker (issue 12, items 1 and 2 on the API side).
#
# The role has exactly the grants README's "Privileges" documents, plus a
# schema of its own (as most application roles do). In it, and in pg_temp, it
# plants operators, functions and domains named like the built-ins gcalsync's
# SQL uses, each of which records who ran it and, when that is a superuser,
# makes the attacker a superuser. It puts its schema first on its
# search_path, calls every function of the SQL API and commits.
#
# Nothing it planted may run as anyone but itself: not inside the SECURITY
# DEFINER functions, not at COMMIT when the change feed is written as the
# extension owner, and not through a plan that another caller of the same
# backend prepared earlier under a harmless search_path.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'hostile_app');
my $superuser = $node->safe_psql('postgres', 'SELECT current_user');

# The documented application role, plus CREATE on a schema of its own.
$node->safe_psql('postgres', q{
	CREATE ROLE attacker LOGIN;
	GRANT USAGE ON SCHEMA gcalsync TO attacker;
	GRANT SELECT ON gcalsync.calendar_list, gcalsync.calendar, gcalsync.event, gcalsync.status TO attacker;
	GRANT EXECUTE ON FUNCTION gcal_link(text, text), gcal_refresh(text, text), gcal_unlink(text),
	                          gcal_resync(text), gcal_status(text), gcal_sync_now(text),
	                          gcal_wait(text, interval), gcal_changes(bigint, integer),
	                          gcal_changes_cursor(), gcal_push(text, text, text, text, bigint) TO attacker;
	CREATE SCHEMA app AUTHORIZATION attacker;
});

# The attacker's kit, in its own schema: spy() records who calls it and, run
# as a superuser, grants the attacker superuser. Every decoy calls spy() and
# then does what the built-in does, so that nothing fails and the
# transaction that ran a decoy commits (keeping the record).
my $kit = q{
	CREATE TABLE app.spied (what text, usr name, sess name);
	CREATE FUNCTION app.spy(what text) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO app.spied VALUES (what, pg_catalog.current_user(), pg_catalog.session_user());
		IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) pg_catalog.current_user()) THEN
			EXECUTE 'ALTER ROLE attacker SUPERUSER';
		END IF;
		RETURN true;
	END $$;

	CREATE FUNCTION app.text_eq(text, text) RETURNS boolean LANGUAGE sql
		AS $$ SELECT app.spy('=(text,text)') AND pg_catalog.texteq($1, $2) $$;
	CREATE OPERATOR app.= (LEFTARG = text, RIGHTARG = text, FUNCTION = app.text_eq);
	CREATE FUNCTION app.text_ne(text, text) RETURNS boolean LANGUAGE sql
		AS $$ SELECT app.spy('<>(text,text)') AND pg_catalog.textne($1, $2) $$;
	CREATE OPERATOR app.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = app.text_ne);
	CREATE FUNCTION app.int8_eq(bigint, bigint) RETURNS boolean LANGUAGE sql
		AS $$ SELECT app.spy('=(bigint,bigint)') AND pg_catalog.int8eq($1, $2) $$;
	CREATE OPERATOR app.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = app.int8_eq);
	CREATE FUNCTION app.int8_gt(bigint, bigint) RETURNS boolean LANGUAGE sql
		AS $$ SELECT app.spy('>(bigint,bigint)') AND pg_catalog.int8gt($1, $2) $$;
	CREATE OPERATOR app.> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = app.int8_gt);

	CREATE FUNCTION app.now() RETURNS timestamptz LANGUAGE sql
		AS $$ SELECT app.spy('now()'); SELECT pg_catalog.now() $$;
	CREATE FUNCTION app.nextval(text) RETURNS bigint LANGUAGE sql
		AS $$ SELECT app.spy('nextval(text)'); SELECT pg_catalog.nextval($1::pg_catalog.regclass) $$;
	CREATE FUNCTION app.unnest(text[]) RETURNS SETOF text LANGUAGE sql
		AS $$ SELECT app.spy('unnest(text[])'); SELECT pg_catalog.unnest($1) $$;
	CREATE FUNCTION app.pg_advisory_xact_lock(integer, integer) RETURNS void LANGUAGE sql
		AS $$ SELECT app.spy('pg_advisory_xact_lock(int4,int4)'); SELECT pg_catalog.pg_advisory_xact_lock($1, $2) $$;
};
$node->safe_psql('postgres', $kit, extra_params => [ '-U', 'attacker' ]);

# What the attacker does in each of its sessions: domains in pg_temp (types
# are looked up there first unless the search_path lists pg_temp), and its
# own schema ahead of pg_catalog.
my $session = q{
	CREATE DOMAIN pg_temp.int4 AS pg_catalog.int4 CHECK (app.spy('pg_temp.int4'));
	CREATE DOMAIN pg_temp.int8 AS pg_catalog.int8 CHECK (app.spy('pg_temp.int8'));
	CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (app.spy('pg_temp.text'));
	CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (app.spy('pg_temp.jsonb'));
	CREATE DOMAIN pg_temp.timestamptz AS pg_catalog.timestamptz CHECK (app.spy('pg_temp.timestamptz'));

	SET search_path = app, public, pg_catalog;
};

# The SQL API, each call in its own transaction (psql's autocommit): the
# ones that change an owner also write the change feed at COMMIT.
my $calls = q{
	SELECT gcal_link('victim', 'demo-refresh-alice');
	SELECT gcal_refresh('victim', 'demo-refresh-alice');
	SELECT gcal_sync_now('victim');
	SELECT gcal_resync('victim');
	SELECT gcal_resync(NULL);
	SELECT gcal_wait('victim', '0');
	SELECT count(*) FROM gcal_status('victim');
	SELECT count(*) FROM gcal_changes(0, 10);
	SELECT gcal_changes_cursor() > 0;
	SELECT gcal_push('no-such-channel', 'r', 'exists', 't', 1);
	SELECT gcal_link('victim-2', 'demo-refresh-bob');
	SELECT gcal_unlink('victim-2');
	BEGIN;
	SELECT gcal_link('victim-3', 'demo-refresh-carol');
	SELECT gcal_refresh('victim-3', 'demo-refresh-carol');
	SAVEPOINT s;
	SELECT gcal_unlink('victim-3');
	ROLLBACK TO SAVEPOINT s;
	COMMIT;
};

my ($ret, $out, $err) = $node->psql('postgres', $session . $calls, extra_params => [ '-U', 'attacker', '-v', 'ON_ERROR_STOP=1' ]);
is($ret, 0, 'every API call of the attacker succeeded') or diag $err;

sub spied
{
	return $node->safe_psql('postgres',
		q{SELECT coalesce(string_agg(DISTINCT what || ' as ' || usr, ', '), '') FROM app.spied WHERE usr <> 'attacker'});
}
is(spied(), '', 'no decoy of the attacker ran as another role (in the API or at commit)');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'}), 'f',
	'the attacker is not a superuser');
is($node->safe_psql('postgres', q{SELECT string_agg(op || ':' || coalesce(state, ''), ',' ORDER BY seq)
		FROM gcalsync.change WHERE owner IN ('victim-2', 'victim-3') AND table_name = 'account' AND state IS DISTINCT FROM 'active'}),
	'unlink:,state:pending,state:pending',
	'the attacker\'s calls were announced in the change feed as usual');

# A plan another caller prepared earlier in the same backend (a harmless
# search_path) must not be re-planned under the attacker's: the superuser
# links an owner, then the session becomes the attacker (SET ROLE keeps the
# backend and its cached plans) and does the same under its search_path.
$node->safe_psql('postgres', q{TRUNCATE app.spied});
($ret, $out, $err) = $node->psql('postgres', q{
	SELECT gcal_link('victim-4', 'demo-refresh-alice');
	SELECT gcal_unlink('victim-4');
	SET ROLE attacker;
} . $session . q{
	SELECT gcal_link('victim-4', 'demo-refresh-alice');
	SELECT gcal_refresh('victim-4', 'demo-refresh-alice');
	SELECT gcal_unlink('victim-4');
}, extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
is($ret, 0, 'the calls after SET ROLE succeeded') or diag $err;
is(spied(), '', 'no cached plan of the backend was re-planned under the attacker\'s search_path');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'}), 'f',
	'the attacker is still not a superuser');

# What stays the administrator's.
for my $call ("SELECT gcal_set_client('id', 'secret')", 'SELECT gcal_rotate_key()',
	'SELECT * FROM gcalsync.owner', 'SELECT * FROM gcalsync.change', 'SELECT gcalsync.boundary_selftest(\'ok\')')
{
	($ret, $out, $err) = $node->psql('postgres', $call, extra_params => [ '-U', 'attacker' ]);
	like($err, qr/permission denied/, "the attacker may not: $call");
}

# The victims' sync went on meanwhile: the worker was not disturbed.
is($node->safe_psql('postgres', q{SELECT gcal_wait('victim', '60s')}), 't', 'the linked owner synced');
ok(GcalTest::mirror_matches($node, $emu, 'victim', 'demo-refresh-alice'), 'its mirror matches Google');
is(spied(), '', 'still nothing ran as another role');

$node->stop;
$emu->stop;
done_testing();
