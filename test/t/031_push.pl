# Push channels end to end: the worker opens watch channels for the calendar
# list and each calendar that supports push, the emulator posts
# notifications to the example webhook receiver, which forwards them to
# gcal_push; a change reaches gcalsync.event through push alone (the poll
# interval is an hour). Renewal, forged notifications, unwatchable calendars,
# replaced tokens and unlink.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);
use Cwd qw(abs_path);
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'push', "gcalsync.poll_interval = '1h'\n");
sub sql { return $node->safe_psql('postgres', $_[0]); }

# The example receiver, forwarding to this node.
my $dir = PostgreSQL::Test::Utils::tempdir();
my $receiver_script = abs_path('examples/webhook_receiver.py');
my ($rout, $rerr) = ('', '');
sub start_receiver
{
	my ($name, $out, $err) = @_;
	unlink "$dir/$name.port";
	my $h = IPC::Run::start(
		[ '/usr/bin/python3', $receiver_script, '--port', '0', '--port-file', "$dir/$name.port", '--path', '/gcal',
		  '--dsn', $node->connstr('postgres') ],
		'>', $out, '2>', $err);
	my $deadline = time() + 30;
	usleep(20_000) until -s "$dir/$name.port" || time() > $deadline;
	my $p = slurp_file("$dir/$name.port");
	chomp $p;
	return ($h, $p);
}
my ($receiver, $port) = start_receiver('main', \$rout, \$rerr);
sql("ALTER SYSTEM SET gcalsync.webhook_url = 'http://127.0.0.1:$port/gcal'");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('gcalsync.webhook_url') <> ''") or die;

# Channels: the calendar list and alice's calendars, except the holiday one.
sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice synced');
$node->poll_query_until('postgres', q{SELECT count(*) = 3 FROM gcalsync.channel WHERE owner = 'alice'})
  or diag sql('SELECT * FROM gcalsync.channel');
is(sql(q{SELECT string_agg(kind || ':' || calendar_id, ',' ORDER BY kind, calendar_id) FROM gcalsync.channel WHERE owner = 'alice'}),
	'calendar_list:,events:alice@example.com,events:c_9a1f3e6b2d8c4a7e@group.calendar.google.com',
	'one channel for the calendar list and each watchable calendar');
is(sql(q{SELECT push_supported FROM gcalsync.calendar_sync WHERE owner = 'alice' AND calendar_id = 'en.usa#holiday@group.v.calendar.google.com'}),
	'f', 'the holiday calendar (pushNotSupportedForRequestedResource) falls back to polling');
my %emu_channels = map { $_->{id} => $_ } @{ $emu->control('GET', '/channels') };
my @ours = split /\n/, sql(q{SELECT channel_id || '|' || resource_id FROM gcalsync.channel WHERE owner = 'alice'});
is(scalar(grep { my ($id, $res) = split /\|/; $emu_channels{$id} && $emu_channels{$id}{resourceId} eq $res } @ours), 3,
	'channel ids and resource ids match Google\'s');
my $watch = $emu->log(api => 'events.watch');
ok(@$watch && !grep({ ($_->{body}{address} // '') ne "http://127.0.0.1:$port/gcal" || length($_->{body}{token} // '') < 32 } @$watch),
	'watch requests carry the webhook address and a channel token');

# Google announced each channel with a 'sync' message, which the receiver
# answered at once. (It may arrive before the worker has recorded the new
# channel; gcal_push then refuses it, which costs nothing: it needs no work.)
ok($emu->control('POST', '/push/wait', { timeout => 30 })->{idle}, 'notifications delivered');
my @sync = grep { $_->{state} eq 'sync' && ($_->{status} // 0) == 200 } @{ $emu->log(kind => 'push') };
is(scalar(@sync), 3, 'each new channel\'s sync message was answered 200 by the receiver');

# A change reaches the table through push alone.
my $t0 = time();
$emu->control('PATCH', '/calendars/alice%40example.com/events/1c8v2u9k0mdlp3q4r5s6t7u8v9', { summary => 'Pushed change' });
ok($node->poll_query_until('postgres', q{SELECT summary = 'Pushed change' FROM gcalsync.event WHERE owner = 'alice' AND event_id = '1c8v2u9k0mdlp3q4r5s6t7u8v9'}),
	'an emulator change reached gcalsync.event through push (poll interval 1h)');
my $latency = time() - $t0;
note(sprintf('change -> row through push: %.0f ms', $latency * 1000));
$emu->control('PUT', '/users/alice/calendarList/c_9a1f3e6b2d8c4a7e%40group.calendar.google.com', { colorId => '7' });
ok($node->poll_query_until('postgres', q{SELECT color_id = '7' FROM gcalsync.calendar_list WHERE owner = 'alice' AND calendar_id = 'c_9a1f3e6b2d8c4a7e@group.calendar.google.com'}),
	'a calendar list change reached gcalsync.calendar_list through push');

# Forged and stale notifications.
my ($id, $res, $stored, $num) = split /\|/, sql(q{SELECT channel_id, resource_id, token, last_message_number FROM gcalsync.channel
	WHERE owner = 'alice' AND calendar_id = 'alice@example.com'});
# The table holds the SHA-256 of the token Google was given, not the token
# (issue 12, item 7): the token is the one in the watch request.
my ($watched) = grep { ($_->{body}{id} // '') eq $id } @$watch;
my $tok = $watched->{body}{token};
like($tok, qr/^[0-9a-f]{64}$/, 'the channel token is 256 random bits in hex');
isnt($stored, $tok, 'gcalsync.channel does not hold the channel token');
is($stored, sql(qq{SELECT encode(sha256('$tok'), 'hex')}), 'it holds its SHA-256');
is(sql(q{SELECT count(*) FROM gcalsync.channel WHERE token !~ '^[0-9a-f]{64}$'}), '0', 'so does every channel row');
is(sql(qq{SELECT gcal_push('$id', '$res', 'exists', '$stored', 99)}), 'f', 'the stored hash is not a token: false');
is(sql(q{SELECT gcal_push('no-such-channel', 'r', 'exists', 't', 1)}), 'f', 'unknown channel: false');
is(sql(qq{SELECT gcal_push('$id', '$res', 'exists', 'wrong-token', 99)}), 'f', 'wrong token: false');
is(sql(qq{SELECT gcal_push('$id', 'other-resource', 'exists', '$tok', 99)}), 'f', 'wrong resource id: false');
is(sql(qq{SELECT gcal_push('$id', '$res', 'exists', NULL, 99)}), 'f', 'missing token: false');
is(sql(qq{SELECT gcal_push('$id', '$res', 'bogus', '$tok', 99)}), 'f', 'unknown resource state: false');
is(sql(q{SELECT gcal_push(NULL, NULL, NULL)}), 'f', 'NULLs: false');
is(sql(qq{SELECT next_sync_at > now() + interval '10 min' FROM gcalsync.calendar_sync WHERE owner = 'alice' AND calendar_id = 'alice\@example.com'}),
	't', 'refused notifications scheduled nothing');
is(sql(qq{SELECT gcal_push('$id', '$res', 'exists', '$tok', 1)}), 't', 'an old message number is acknowledged');
is(sql(qq{SELECT next_sync_at > now() + interval '10 min' FROM gcalsync.calendar_sync WHERE owner = 'alice' AND calendar_id = 'alice\@example.com'}),
	't', '...without work');
is(sql(qq{BEGIN; SELECT gcal_push('$id', '$res', 'exists', '$tok', 1000000); SELECT next_sync_at <= now() FROM gcalsync.calendar_sync WHERE owner = 'alice' AND calendar_id = 'alice\@example.com'; ROLLBACK}),
	"t\nt", 'a genuine new message schedules that calendar at once');

# The receiver passes the headers as query parameters, never as SQL text: with
# standard_conforming_strings off (a backslash escapes a quote), a token that
# would close a quoted literal and start a statement of its own stays a token.
sql(q{ALTER DATABASE postgres SET standard_conforming_strings = off});
my ($hout, $herr) = ('', '');
my ($hostile, $hport) = start_receiver('hostile', \$hout, \$herr);
require HTTP::Tiny;
my $http = HTTP::Tiny->new(timeout => 10);
my $evil = q{x\'); CREATE TABLE public.pwned(); --};
my $r = $http->post("http://127.0.0.1:$hport/gcal", { headers => {
	'X-Goog-Channel-ID' => $id, 'X-Goog-Resource-ID' => $res, 'X-Goog-Resource-State' => 'exists',
	'X-Goog-Channel-Token' => $evil, 'X-Goog-Message-Number' => '400' } });
is($r->{status}, 200, 'receiver accepted a notification with a hostile token');
# The same connection then handles a genuine one: when it is recorded, the
# hostile one was handled before it.
$r = $http->post("http://127.0.0.1:$hport/gcal", { headers => {
	'X-Goog-Channel-ID' => $id, 'X-Goog-Resource-ID' => $res, 'X-Goog-Resource-State' => 'exists',
	'X-Goog-Channel-Token' => $tok, 'X-Goog-Message-Number' => '500' } });
is($r->{status}, 200, 'receiver accepted a genuine notification');
ok($node->poll_query_until('postgres', qq{SELECT last_message_number = 500 FROM gcalsync.channel WHERE channel_id = '$id'}),
	'the genuine notification went through the receiver');
# The values are bind parameters on the server too (psycopg 3 binds
# server-side): the receiver's statement text, as pg_stat_activity and
# log_min_error_statement show it, holds placeholders, not the channel token.
my $rq = sql(q{SELECT string_agg(query, E'\n') FROM pg_stat_activity WHERE application_name = 'webhook_receiver'});
like($rq, qr/gcal_push\(\$1, \$2, \$3, \$4, \$5::int8\)/, 'the receiver\'s statement text has placeholders');
unlike($rq, qr/\Q$tok\E|pwned/, 'the channel token is not in the receiver\'s statement text');
# A message number of digits that are not ASCII ('²' is a digit to Python,
# and headers arrive as Latin-1) is refused with 400; the receiver goes on.
sub raw_post
{
	my ($p, $header) = @_;
	require IO::Socket::INET;
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$p", Timeout => 10) or die "connect: $!";
	print $s "POST /gcal HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Goog-Channel-ID: $id\r\nX-Goog-Resource-ID: $res\r\n"
	  . "X-Goog-Resource-State: exists\r\nX-Goog-Channel-Token: $tok\r\n$header\r\n"
	  . "Content-Length: 0\r\nConnection: close\r\n\r\n";
	my $status = <$s> // '';
	close $s;
	return $status;
}
like(raw_post($hport, "X-Goog-Message-Number: \xB2"), qr{^HTTP/1\.[01] 4\d\d }, 'message number 0xB2 (a superscript two in Latin-1): 4xx');
like(raw_post($hport, "X-Goog-Message-Number: 600"), qr{^HTTP/1\.[01] 200 }, 'the next notification: 200');
ok($node->poll_query_until('postgres', qq{SELECT last_message_number = 600 FROM gcalsync.channel WHERE channel_id = '$id'}),
	'...and it went through the receiver');
is(sql(q{SELECT to_regclass('public.pwned') IS NULL}), 't', 'the hostile token ran no SQL of its own');
sql(q{ALTER DATABASE postgres RESET standard_conforming_strings});
$hostile->signal('TERM');
$hostile->finish;
like($herr, qr/refused a notification/, 'gcal_push refused the hostile notification');
unlike($herr, qr/Traceback/, 'the receiver raised no exception');

# Renewal before expiry: a new channel first, then the old one stopped.
my @old = split /\n/, sql(q{SELECT channel_id FROM gcalsync.channel WHERE owner = 'alice' ORDER BY channel_id});
$emu->control('PATCH', '/settings', { channel_lifetime => 20 });
sql(q{UPDATE gcalsync.channel SET expires_at = now() + interval '1 min' WHERE owner = 'alice'});
is(sql(q{SELECT gcal_sync_now('alice'); SELECT gcal_wait('alice', '60s')}), "\nt", 'a round with channels about to expire');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 3 FROM gcalsync.channel WHERE owner = 'alice' AND expires_at < now() + interval '30 s'}),
	'three new channels with the short lifetime');
my %old = map { $_ => 1 } @old;
is(scalar(grep { $old{$_} } split /\n/, sql(q{SELECT channel_id FROM gcalsync.channel WHERE owner = 'alice'})), 0, 'old channels replaced');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM gcalsync.channel_stop}), 'stop queue drained');
my %stopped = map { $_->{body}{id} => 1 } @{ $emu->log(api => 'channels.stop') };
is(scalar(grep { $stopped{$_} } @old), 3, 'each old channel was stopped at Google');

# A replaced refresh token stops the channels opened with the old one.
my @before = split /\n/, sql(q{SELECT channel_id FROM gcalsync.channel WHERE owner = 'alice'});
$emu->control('POST', '/users/alice/refresh-tokens', { token => 'demo-refresh-alice-2' });
sql(q{SELECT gcal_refresh('alice', 'demo-refresh-alice-2')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'synced with the new token');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM gcalsync.channel_stop}), 'stop queue drained');
%stopped = map { $_->{body}{id} => 1 } @{ $emu->log(api => 'channels.stop') };
is(scalar(grep { $stopped{$_} } @before), 3, 'channels of the old token stopped');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 3 FROM gcalsync.channel WHERE owner = 'alice'}), 'and new ones opened');

# Unlink stops every channel of the owner.
my @last = split /\n/, sql(q{SELECT channel_id FROM gcalsync.channel WHERE owner = 'alice'});
sql(q{SELECT gcal_unlink('alice')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM gcalsync.channel_stop}), 'stop queue drained after unlink');
%stopped = map { $_->{body}{id} => 1 } @{ $emu->log(api => 'channels.stop') };
is(scalar(grep { $stopped{$_} } @last), 3, 'every channel of the unlinked owner stopped at Google');
is(scalar(grep { ($_->{user} // '') eq 'alice' && ($_->{state} // '') eq 'active' } @{ $emu->control('GET', '/channels') }), 0,
	'Google has no open channel of alice');

$receiver->signal('TERM');
$receiver->finish;
$node->stop;
$emu->stop;
done_testing();
