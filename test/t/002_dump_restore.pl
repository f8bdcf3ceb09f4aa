# pg_dump carries the links, the OAuth client and the data tables, so a
# restored database resumes syncing without anyone linking again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'gcalsync'
gcalsync.database_name = 'postgres'
gcalsync.google_api_url = 'http://127.0.0.1:9/calendar/v3'
gcalsync.google_token_url = 'http://127.0.0.1:9/token'
} . "gcalsync.key_file = '" . $node->basedir . "/gcalsync.key'\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE DATABASE source;
	CREATE DATABASE target;
});
$node->safe_psql('source', q{
	CREATE EXTENSION gcalsync;
	SELECT gcal_set_client('client-id', 'client-secret');
	SELECT gcal_link('alice', 'rt-alice');
	INSERT INTO gcalsync.event (owner, calendar_id, event_id, data, start_at)
	VALUES ('alice', 'primary', 'e1', '{"id":"e1"}', '2026-01-01 10:00+00');
	INSERT INTO gcalsync.sync_token (owner, kind, calendar_id, params, sync_token)
	VALUES ('alice', 'events', 'primary', 'p', 'st-1');
});

my $dump = $node->basedir . '/source.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('source') ], 'pg_dump');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('target'), $dump ], 'pg_restore');

is($node->safe_psql('target', 'SELECT client_id FROM gcalsync.client'), 'client-id', 'client restored');
is($node->safe_psql('target', 'SELECT owner, state FROM gcalsync.owner'), 'alice|pending', 'link restored');
is($node->safe_psql('target', 'SELECT event_id, data->>\'id\' FROM gcalsync.event'), 'e1|e1', 'events restored');
is($node->safe_psql('target', 'SELECT sync_token FROM gcalsync.sync_token'), 'st-1', 'sync tokens restored');
# Linking again after the restore does not collide with restored generations.
$node->safe_psql('target', q{SELECT gcal_link('bob', 'rt-bob')});
is($node->safe_psql('target', q{SELECT count(DISTINCT generation) FROM gcalsync.owner}), 2,
	'link generations stay unique after restore');

$node->stop;
done_testing();
