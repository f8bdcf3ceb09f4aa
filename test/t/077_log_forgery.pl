# Logs (issue 12, item 8): gcalsync's errors never make PostgreSQL log the
# calling statement (log_min_error_statement), which may hold a refresh
# token or client secret as a literal; and no value from outside — an owner
# id, a calendar id from Google, Google's error text — can break a log line
# or last_error and forge the next line.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'empty');
# PostgreSQL's default: statements of failing commands are logged.
my $node = GcalTest::node($emu, 'logs', "log_min_error_statement = warning\n");
sub sql { return $node->safe_psql('postgres', $_[0]); }

my $forged = '2026-01-01 00:00:00.000 UTC [4242] LOG:  forged';
# fails(sql, sqlstate) runs sql, which must fail with that SQLSTATE.
sub fails
{
	my ($q, $state, $name) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$q");
	isnt($ret, 0, "$name: refused");
	like($err, qr/\b$state\b/, "$name: SQLSTATE $state");
}

my $offset = -s $node->logfile;
# (Owner ids are arbitrary text, line breaks included: they round-trip.)
fails(qq{SELECT gcal_refresh(E'evil\\n$forged-by-owner\\r\\x1b[2J', 'h2-secret-refresh-1')}, '42704',
	'refresh of an owner not linked, whose id has a line break');
fails(q{SELECT gcal_refresh('nobody-linked', 'h2-secret-refresh-2')}, '42704', 'refresh of an owner not linked');
fails(q{SELECT gcal_link('tok-owner', E'h2-secret-refresh-3\nX')}, '22023', 'token with a line break');
fails(qq{SELECT gcal_set_client(E'client\\n$forged-by-client', 'h2-secret-client-4')}, '22023', 'client id with a line break');
fails(q{SELECT gcal_set_client('', 'h2-secret-client-5')}, '22023', 'empty client id');
# One simple-query message (psql's \; joins them): PostgreSQL would log all of it as the statement.
fails(q{BEGIN\; SELECT gcal_link('prepared', 'h2-secret-refresh-6')\; PREPARE TRANSACTION 'x'}, '0A000', 'PREPARE after gcal_link');
my $log = substr(slurp_file($node->logfile), $offset);
like($log, qr/ERROR: .*owner "evil\\n2026-01-01 .*forged-by-owner\\r\\x1b\[2J" is not linked/,
	'the refusals are in the server log, the owner id escaped');
unlike($log, qr/h2-secret-/, 'no token or client secret in the server log (no STATEMENT: lines)');
unlike($log, qr/^\Q$forged\E/m, 'no forged line in the server log');
unlike($log, qr/\x1b/, 'no escape character in the server log');

# An error of PostgreSQL's own (here a trigger's) raised inside a gcalsync
# function and quoting an owner id is escaped like gcalsync's messages.
sql(q{CREATE FUNCTION public.quote_owner() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN RAISE EXCEPTION 'trigger saw owner %', NEW.owner USING DETAIL = 'detail of ' || NEW.owner; END $$;
	CREATE TRIGGER quote_owner BEFORE INSERT ON gcalsync.owner FOR EACH ROW EXECUTE FUNCTION public.quote_owner();});
$offset = -s $node->logfile;
fails(qq{SELECT gcal_link(E'trig\\n$forged-by-trigger\\\\n', 'h2-secret-refresh-8')}, 'P0001',
	'a trigger error quoting an owner id with a line break');
sql(q{DROP TRIGGER quote_owner ON gcalsync.owner; DROP FUNCTION public.quote_owner();});
$log = substr(slurp_file($node->logfile), $offset);
like($log, qr/ERROR: .*trigger saw owner trig\\n2026-01-01 .*forged-by-trigger\\\\n\n/,
	'the trigger\'s error is in the server log, the owner id escaped (a backslash doubled)');
like($log, qr/DETAIL:  detail of trig\\n2026-01-01 /, 'its detail too');
unlike($log, qr/^\Q$forged\E/m, 'no forged line in the server log');
unlike($log, qr/h2-secret-/, 'no token in the server log');

# The worker's log line about an owner whose id has a line break.
$offset = -s $node->logfile;
sql(qq{SELECT gcal_link(E'evil\\n$forged-by-worker', 'h2-unknown-refresh')});
is(GcalTest::wait_state($node, "evil\n$forged-by-worker", 'revoked|error') =~ /^(revoked|error)\|/ ? 1 : 0, 1,
	'an owner with an unknown refresh token fails');
ok(GcalTest::wait_until(sub { substr(slurp_file($node->logfile), $offset) =~ /owner "evil\\n2026/ }, 60, 'the log line'),
	'the worker logged it with the owner id escaped');
$log = substr(slurp_file($node->logfile), $offset);
unlike($log, qr/^\Q$forged\E/m, 'no forged line in the server log');

# A calendar id from Google with a line break, a carriage return and an
# escape sequence, whose listing fails: it is quoted in last_error and in the
# worker's log line, escaped.
my $bad_cal = "forge\n$forged-by-calendar\r\x1b[31mred\x{85}next";
$emu->control('POST', '/users', { id => 'eve', refresh_tokens => ['h2-refresh-eve'] });
$emu->control('POST', '/calendars', { id => $bad_cal, summary => 'hostile', members => { eve => { accessRole => 'owner' } } });
my $f = $emu->control('POST', '/faults', { user => 'eve', path => 'forge', preset => 'backendError', count => -1 });
$offset = -s $node->logfile;
sql(q{SELECT gcal_link('eve', 'h2-refresh-eve')});
my $st = GcalTest::wait_state($node, 'eve', 'backoff');
like($st, qr/calendar "forge\\n2026-01-01 00:00:00\.000 UTC \[4242\] LOG:  forged-by-calendar\\r\\x1b\[31mred\\u0085next"/,
	"last_error quotes the calendar id escaped: $st");
ok(GcalTest::wait_until(sub { substr(slurp_file($node->logfile), $offset) =~ /owner "eve": calendar/ }, 60, 'the log line'),
	'the worker logged the failure');
$log = substr(slurp_file($node->logfile), $offset);
unlike($log, qr/^\Q$forged\E/m, 'no forged line in the server log');
unlike($log, qr/\x1b|\r/, 'no escape character or carriage return in the server log');
like($log, qr/forge\\n2026/, 'the calendar id is there, escaped');
$emu->control('DELETE', "/faults/$f->{id}");

# The WARNING of a full NOTIFY queue, raised at commit of the caller's
# transaction while its statement (here gcal_link with a token) is current.
sql(q{ALTER SYSTEM SET gcalsync.notify_queue_limit = 0.0000001; SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres', q{SELECT current_setting('gcalsync.notify_queue_limit')::float8 < 0.001}),
	'the NOTIFY queue limit is very low');
my $stuck = $node->background_psql('postgres', on_error_stop => 1);
$stuck->query_safe(q{LISTEN gcalsync});
$stuck->query_safe(q{BEGIN});
$stuck->query_safe(q{SELECT 1});
sql(qq{SELECT pg_notify('other', repeat('x', 7000))}) for 1 .. 4;
is(sql(q{SELECT pg_notification_queue_usage() > 0}), 't', 'the NOTIFY queue is held by a listener that does not read');
$offset = -s $node->logfile;
sql(q{SELECT gcal_link('queue-owner', 'h2-secret-refresh-7')});
ok(GcalTest::wait_until(sub { substr(slurp_file($node->logfile), $offset) =~ /WARNING:  gcalsync sends no NOTIFY/ }, 60,
		'the WARNING'), 'gcal_link warns that it sends no NOTIFY');
$log = substr(slurp_file($node->logfile), $offset);
unlike($log, qr/h2-secret-/, 'no token in the server log after the WARNING (no STATEMENT: line)');
$stuck->query_safe(q{ROLLBACK});
$stuck->quit;

$node->stop;
$emu->stop;
done_testing();
