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

# A channel as 1.0 recorded it (the token in clear), on alice's primary
# calendar, committed with her link: the worker's first round sees it and
# opens channels on her other calendars only. (Inserted after the link's
# commit, it raced that round: when the worker was first, it had opened a
# channel on the primary calendar too; when not, the test waited for one in
# vain.)
my $token = 'a1b2c3d4' x 8;
sql(q{
	CREATE EXTENSION gcalsync VERSION '1.0';
	SELECT gcal_set_client('gcalsync-demo.apps.googleusercontent.com', 'demo-client-secret');
});
sql(qq{BEGIN;
	SELECT gcal_link('alice', 'demo-refresh-alice');
	INSERT INTO gcalsync.channel (channel_id, owner, kind, calendar_id, resource_id, token, expires_at)
	VALUES ('gcalsync-old-channel', 'alice', 'events', 'alice\@example.com', 'res-old', '$token', now() + interval '1 day');
	COMMIT});

# Issue 12, item 1: the 1.1 library syncing the 1.0 schema opens channels
# too. It must store their tokens as 1.0 did (in clear: the update hashes
# every stored token once), and gcal_push must recognise them before the
# update and after it.
ok($node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM gcalsync.channel WHERE owner = 'alice' AND kind = 'events' AND channel_id <> 'gcalsync-old-channel'}),
	'the worker opened a channel on the 1.0 schema');
is(sql(q{SELECT count(*) FROM gcalsync.channel WHERE owner = 'alice' AND kind = 'events' AND calendar_id = 'alice@example.com'}),
	'1', 'none beside the one 1.0 recorded on the primary calendar');
my ($new_id, $new_res) = split /\|/, sql(q{SELECT channel_id, resource_id FROM gcalsync.channel
	WHERE owner = 'alice' AND kind = 'events' AND channel_id <> 'gcalsync-old-channel' ORDER BY channel_id LIMIT 1});
my ($watched) = grep { ($_->{body}{id} // '') eq $new_id } @{ $emu->log(api => 'events.watch') };
my $new_token = $watched->{body}{token} // '';
like($new_token, qr/^[0-9a-f]{64}$/, 'the token Google was given');
is(sql(qq{SELECT token FROM gcalsync.channel WHERE channel_id = '$new_id'}), $new_token,
	'on the 1.0 schema it is stored in clear, as 1.0 did');
is(sql(qq{SELECT gcal_push('gcalsync-old-channel', 'res-old', 'sync', '$token', NULL)}), 't',
	'before the update gcal_push recognises a token 1.0 stored');
is(sql(qq{SELECT gcal_push('$new_id', '$new_res', 'sync', '$new_token', 1)}), 't',
	'before the update gcal_push recognises the token of a channel the 1.1 library opened on 1.0');
is(sql(qq{SELECT gcal_push('$new_id', '$new_res', 'exists', 'wrong', 2)}), 'f', 'and refuses a wrong one');

sql('ALTER EXTENSION gcalsync UPDATE');
is(sql(qq{SELECT token FROM gcalsync.channel WHERE channel_id = '$new_id'}),
	sql(qq{SELECT encode(sha256('$new_token'::bytea), 'hex')}),
	'after the update that channel holds the SHA-256 of its token (hashed once)');
is(sql(qq{SELECT gcal_push('$new_id', '$new_res', 'exists', '$new_token', 2)}), 't',
	'after the update gcal_push still recognises it');
is(sql(qq{SELECT gcal_push('$new_id', '$new_res', 'exists', 'wrong', 3)}), 'f', 'and still refuses a wrong one');
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
