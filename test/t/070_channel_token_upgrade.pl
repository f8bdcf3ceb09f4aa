# Watch-channel tokens at rest (issue 12, item 7): gcalsync.channel.token
# holds the SHA-256 of the token, and ALTER EXTENSION gcalsync UPDATE hashes
# the clear tokens 1.0 stored, so channels opened before the update keep
# being recognised by gcal_push, and the table (and pg_dump) no longer
# carries a token that forges notifications.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
# (Push on, so that the worker keeps the channel; nothing listens at the
# webhook address, which these tests do not need.)
my $node = GcalTest::server($emu, 'chtoken',
	"gcalsync.poll_interval = '1h'\ngcalsync.webhook_url = 'http://127.0.0.1:9/gcal'\n");
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
	CREATE EXTENSION gcalsync VERSION '1.0';
	SELECT gcal_set_client('gcalsync-demo.apps.googleusercontent.com', 'demo-client-secret');
	SELECT gcal_link('alice', 'demo-refresh-alice');
});
# A channel as 1.0 recorded it: the token in clear.
my $token = 'a1b2c3d4' x 8;
sql(qq{INSERT INTO gcalsync.channel (channel_id, owner, kind, calendar_id, resource_id, token, expires_at)
	VALUES ('gcalsync-old-channel', 'alice', 'events', 'alice\@example.com', 'res-old', '$token', now() + interval '1 day')});

sql('ALTER EXTENSION gcalsync UPDATE');
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'updated: alice synced');
my $stored = sql(q{SELECT token FROM gcalsync.channel WHERE channel_id = 'gcalsync-old-channel'});
isnt($stored, $token, 'after the update the table no longer holds the clear token');
is($stored, sql(qq{SELECT encode(sha256('$token'::bytea), 'hex')}), 'it holds its SHA-256 in hex');

my $dump = $node->basedir . '/db.sql';
$node->command_ok([ 'pg_dump', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump');
unlike(slurp_file($dump), qr/$token/, 'the dump carries no channel token');

is(sql(qq{SELECT gcal_push('gcalsync-old-channel', 'res-old', 'sync', '$token', 1)}), 't',
	'the channel opened before the update is still recognised');
is(sql(qq{BEGIN; SELECT gcal_push('gcalsync-old-channel', 'res-old', 'exists', '$token', 2);
	SELECT next_sync_at <= now() FROM gcalsync.calendar_sync WHERE owner = 'alice' AND calendar_id = 'alice\@example.com'; ROLLBACK}),
	"t\nt", 'and its notifications schedule a sync');
is(sql(qq{SELECT gcal_push('gcalsync-old-channel', 'res-old', 'exists', '$stored', 3)}), 'f',
	'the stored hash does not pass as the token');
is(sql(qq{SELECT gcal_push('gcalsync-old-channel', 'res-old', 'exists', 'wrong', 3)}), 'f', 'a wrong token is refused');

$node->stop;
$emu->stop;
done_testing();
