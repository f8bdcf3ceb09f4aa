# GcalTest — shared by the TAP tests: the bundled Google emulator as a child
# process, its control interface, and a PostgreSQL node that syncs from it.
package GcalTest;

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $json = JSON::PP->new->utf8->canonical;
my $root = abs_path(dirname(__FILE__) . '/../..');

# start_emulator(data => 'demo', args => [...]) starts the emulator on a free
# loopback port and returns a handle. With tls => { cert => FILE, key => FILE,
# ca => FILE } (e.g. what make_ca returns) it serves HTTPS: {base} becomes
# https://127.0.0.1:PORT and the handle's own HTTP client trusts ca (and checks
# the certificate against the host name tls->{name}, if given, instead of the
# URL's: for a certificate made for another name on purpose).
#
# The emulator is as strict as Google about paging (issue 13, item 13): by
# default its listings page live (live_paging: changes made while the worker
# pages show up in later pages, items shift or are skipped; the listing's sync
# token is that of its first page) and page tokens expire after
# page_token_lifetime seconds (default 600). live_paging => 0 gives snapshot
# listings, page_token_lifetime => undef tokens that live while their listing is
# cached. These are the emulator's defaults for the run: /_emulator/reset comes
# back to them.
sub start_emulator
{
	my (%opt) = @_;
	my $data = $opt{data} // 'demo';
	my $tls = $opt{tls};
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my $port_file = "$dir/port";
	my $live = exists $opt{live_paging} ? $opt{live_paging} : 1;
	my $lifetime = exists $opt{page_token_lifetime} ? $opt{page_token_lifetime} : 600;
	my @strict = ('--setting', 'live_paging=' . ($live ? 'true' : 'false'),
		'--setting', 'page_token_lifetime=' . ($lifetime // 'null'));
	my @cmd = ('/usr/bin/python3', "$root/test/emulator/gcal_emulator.py", '--data', $data,
		'--port-file', $port_file, @strict, @{ $opt{args} // [] },
		$tls ? ('--tls-cert', $tls->{cert}, '--tls-key', $tls->{key}) : ());
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(\@cmd, '>', \$out, '2>', \$err);
	my $deadline = time() + 60;
	until (-s $port_file)
	{
		die "emulator did not start: $err" if time() > $deadline || !$h->pumpable;
		usleep(20_000);
	}
	open my $fh, '<', $port_file or die "cannot read $port_file: $!";
	my $port = <$fh>;
	close $fh;
	chomp $port;
	my %http = (timeout => 60, keep_alive => 1);
	if ($tls)
	{
		die "start_emulator: tls needs {ca}, the CA its control client trusts" unless $tls->{ca};
		die "start_emulator: tls needs IO::Socket::SSL (Debian: libio-socket-ssl-perl)"
		  unless eval { require IO::Socket::SSL; 1 };
		%http = (%http, verify_SSL => 1, SSL_options => { SSL_ca_file => $tls->{ca},
			  # {name}: the host name the certificate is checked against (default: the URL's)
			  $tls->{name} ? (SSL_verifycn_name => $tls->{name}) : () });
	}
	my $self = bless { handle => $h, port => $port, base => ($tls ? 'https' : 'http') . "://127.0.0.1:$port",
		http => HTTP::Tiny->new(%http) }, 'GcalTest::Emulator';
	return $self;
}

# server(emulator, name, extra_conf) creates and starts a PostgreSQL node
# whose worker syncs from the emulator; extra_conf lines come last, so they
# override the defaults here (e.g. another gcalsync.database_name).
sub server
{
	my ($emu, $name, $extra) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'gcalsync'
gcalsync.database_name = 'postgres'
gcalsync.google_api_url = '$emu->{base}/calendar/v3'
gcalsync.google_token_url = '$emu->{base}/token'
# The key file must be outside the data directory.
gcalsync.key_file = '@{[ $node->basedir ]}/gcalsync.key'
restart_after_crash = on
# The tests pass secrets as literals; keep PostgreSQL's own statement logging
# off, so that any secret in the log can only come from gcalsync.
log_statement = none
log_min_error_statement = panic
} . ($extra // ''));
	$node->start;
	return $node;
}

# key_file(node) is the path of the node's key file (gcalsync.key_file).
sub key_file
{
	my ($node) = @_;
	my $path = $node->safe_psql('postgres', 'SHOW gcalsync.key_file');
	return $path =~ m{^/} ? $path : $node->data_dir . "/$path";
}

# node(emulator, name, extra_conf) is server() with the extension created in
# database postgres and the demo OAuth client stored.
sub node
{
	my ($emu, $name, $extra) = @_;
	my $node = server($emu, $name, $extra);
	$node->safe_psql('postgres', q{
		CREATE EXTENSION gcalsync;
		SELECT gcal_set_client('gcalsync-demo.apps.googleusercontent.com', 'demo-client-secret');
	});
	return $node;
}

package GcalTest::Emulator;

sub url { my ($self, $path) = @_; return $self->{base} . $path; }

# control(METHOD, PATH, BODY) calls /_emulator/PATH and returns the decoded answer.
sub control
{
	my ($self, $method, $path, $body) = @_;
	my %o = (headers => { 'Content-Type' => 'application/json' });
	$o{content} = $json->encode($body) if defined $body;
	my $r = $self->{http}->request($method, $self->url("/_emulator$path"), \%o);
	die "emulator $method $path: $r->{status} $r->{content}" unless $r->{success};
	return length($r->{content} // '') ? $json->decode($r->{content}) : undef;
}

# token(refresh_token) gets an access token the way gcalsync does.
sub token
{
	my ($self, $refresh) = @_;
	my $r = $self->{http}->post_form($self->url('/token'), {
		client_id => 'gcalsync-demo.apps.googleusercontent.com',
		client_secret => 'demo-client-secret', refresh_token => $refresh,
		grant_type => 'refresh_token' });
	die "token: $r->{status} $r->{content}" unless $r->{success};
	return $json->decode($r->{content})->{access_token};
}

# list(access_token, path, params) pages through a Google list call and
# returns all items.
sub list
{
	my ($self, $access, $path, $params) = @_;
	my @items;
	my $page;
	do
	{
		my %q = (%{ $params // {} }, defined $page ? (pageToken => $page) : ());
		my $r = $self->{http}->get($self->url("/calendar/v3$path") . '?' . $self->{http}->www_form_urlencode(\%q),
			{ headers => { Authorization => "Bearer $access" } });
		die "list $path: $r->{status} $r->{content}" unless $r->{success};
		my $doc = $json->decode($r->{content});
		push @items, @{ $doc->{items} // [] };
		$page = $doc->{nextPageToken};
	} while (defined $page);
	return \@items;
}

# freebusy(access_token, body) calls freebusy.query and returns the decoded answer.
sub freebusy
{
	my ($self, $access, $body) = @_;
	my $r = $self->{http}->request('POST', $self->url('/calendar/v3/freeBusy'), {
		headers => { Authorization => "Bearer $access", 'Content-Type' => 'application/json' },
		content => $json->encode($body) });
	die "freeBusy: $r->{status} $r->{content}" unless $r->{success};
	return $json->decode($r->{content});
}

# log(%filters) returns request log entries.
sub log
{
	my ($self, %q) = @_;
	my $qs = %q ? '?' . $self->{http}->www_form_urlencode(\%q) : '';
	return $self->control('GET', "/log$qs");
}

sub stop
{
	my ($self) = @_;
	return unless $self->{handle};
	$self->{handle}->signal('TERM');
	$self->{handle}->finish;
	delete $self->{handle};
}

sub DESTROY { my ($self) = @_; $self->stop if $self->{handle}; }

1;

# ---- shared by the resilience tests (test/t/02*_*.pl) -------------------------------
package GcalTest;

use Time::HiRes ();

# link_recurrence_accounts(node) links the four owners of the emulator's
# `recurrence` data set (the demo's alice, bob and carol, and rita), waits for
# their first syncs (one test each) and returns { owner => refresh token }.
sub link_recurrence_accounts
{
	my ($node) = @_;
	my %refresh = (alice => 'demo-refresh-alice', bob => 'demo-refresh-bob',
		carol => 'demo-refresh-carol', rita => 'demo-refresh-rita');
	$node->safe_psql('postgres', "SELECT gcal_link('$_', '$refresh{$_}')") for sort keys %refresh;
	Test::More::is($node->safe_psql('postgres', qq{SELECT gcal_wait('$_', '120s')}), 't', "$_: first sync done")
	  for sort keys %refresh;
	return \%refresh;
}

# rfc3339_epoch(text) reads an RFC 3339 date-time ("T" or a space between date
# and time, "Z" or an offset, fractions ignored) as seconds since the epoch.
sub rfc3339_epoch
{
	my ($s) = @_;
	my ($y, $mo, $d, $h, $mi, $se, $z, $sign, $oh, $om) =
	  $s =~ /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|([+-])(\d\d)(?::?(\d\d))?)$/
	  or die "not an RFC 3339 date-time: $s";
	require Time::Local;
	my $t = Time::Local::timegm($se, $mi, $h, $d, $mo - 1, $y);
	$t -= ($sign eq '-' ? -1 : 1) * ($oh * 3600 + ($om // 0) * 60) if $z ne 'Z';
	return $t;
}

# wait_until(CODE, TIMEOUT_S, WHAT) polls a condition every 50 ms until it
# returns true (which it returns), or until the deadline (diag, returns undef).
sub wait_until
{
	my ($cond, $timeout, $what) = @_;
	my $deadline = Time::HiRes::time() + ($timeout // 60);
	for (;;)
	{
		my $v = $cond->();
		return $v if $v;
		if (Time::HiRes::time() > $deadline)
		{
			Test::More::diag('timed out waiting for ' . ($what // 'a condition'));
			return undef;
		}
		Time::HiRes::usleep(50_000);
	}
}

# worker_pid(node, db) is the worker's pid from gcalsync.worker_status() ('' while none runs).
sub worker_pid
{
	my ($node, $db) = @_;
	return $node->safe_psql($db // 'postgres', 'SELECT pid FROM gcalsync.worker_status()');
}

# wait_worker(node, db, not_pid) waits until a worker runs (another than not_pid) and returns its pid.
sub wait_worker
{
	my ($node, $db, $not) = @_;
	return wait_until(sub {
		my $pid = eval { worker_pid($node, $db) } // '';
		return $pid ne '' && (!defined $not || $pid ne $not) ? $pid : undef;
	}, 60, 'a gcalsync worker');
}

# owner_state(node, owner, db) is "state|last_error" of an owner.
sub owner_state
{
	my ($node, $owner, $db) = @_;
	return $node->safe_psql($db // 'postgres', "SELECT state || '|' || coalesce(last_error, '') FROM gcal_status('$owner')");
}

# wait_state(node, owner, state, db, timeout) waits until the owner is in a
# state (a regex on the state name) and returns "state|last_error".
sub wait_state
{
	my ($node, $owner, $state, $db, $timeout) = @_;
	my $last = '';
	my $ok = wait_until(sub {
		$last = owner_state($node, $owner, $db);
		return $last =~ /^(?:$state)\|/;
	}, $timeout // 60, "owner $owner in state $state");
	Test::More::diag("owner $owner is $last") unless $ok;
	return $last;
}

# wait_fault_hit(emu, fault, hits) waits until a fault took `hits` requests (default 1).
sub wait_fault_hit
{
	my ($emu, $fault, $hits) = @_;
	$hits //= 1;
	return wait_until(sub {
		my ($f) = grep { $_->{id} == $fault->{id} } @{ $emu->control('GET', '/faults') };
		return $f && $f->{hits} >= $hits;
	}, 60, "fault $fault->{id} to take $hits request(s)");
}

# mirror_matches(node, emu, owner, refresh_token, db) checks every table of
# the owner against what the emulator's API returns for full listings, and
# returns true if all match:
# - calendar_list: the same entries, each with the API's deleted flag and etag;
# - calendar: a row for every live entry, with the etag of calendars.get;
# - event: for every live calendar, the same events with the API's status and
#   etag (data verbatim); rows the API no longer lists at all (deleted
#   silently) may remain only as tombstones; no event of a calendar the API
#   does not list, and no live event of a calendar deleted from the list
#   (stale rows of deleted calendars are tombstones).
# Its own API calls appear in the emulator's log (user = owner).
sub mirror_matches
{
	my ($node, $emu, $owner, $refresh, $db) = @_;
	$db //= 'postgres';
	my $sql = sub { return $node->safe_psql($db, $_[0]) };
	my $all_ok = 1;
	my $access = $emu->token($refresh);
	my $list = $emu->list($access, '/users/me/calendarList', { showDeleted => 'true', showHidden => 'true' });
	my $db_list = $sql->("SELECT string_agg(calendar_id || ':' || CASE WHEN deleted THEN 't' ELSE 'f' END || ':' || coalesce(data->>'etag', ''), ',' ORDER BY calendar_id)
		FROM gcalsync.calendar_list WHERE owner = '$owner'");
	my $api_list = join ',', map { "$_->{id}:" . ($_->{deleted} ? 't' : 'f') . ":$_->{etag}" } sort { $a->{id} cmp $b->{id} } @$list;
	$all_ok &= Test::More::is($db_list, $api_list, "$owner: calendar_list equals the API's");
	my %listed = map { $_->{id} => 1 } @$list;
	my @strays = grep { !$listed{$_} } split /\n/, $sql->("SELECT DISTINCT calendar_id FROM gcalsync.event WHERE owner = '$owner'");
	$all_ok &= Test::More::is(join(',', @strays), '', "$owner: no events of calendars the API does not list");
	# Stale rows of calendars that left the list: only tombstones may remain.
	my @dead = map { $_->{id} } grep { $_->{deleted} } @$list;
	my $dead_in = @dead ? join(',', map { "\$cal\$$_\$cal\$" } @dead) : 'NULL';
	my @stale = split /\n/, $sql->("SELECT calendar_id || '/' || event_id FROM gcalsync.event
		WHERE owner = '$owner' AND status <> 'cancelled' AND calendar_id IN ($dead_in) ORDER BY 1");
	$all_ok &= Test::More::is(join(',', @stale), '', "$owner: no live events of calendars deleted from the list");
	my (@diffs, $n_events, $n_cals);
	for my $entry (grep { !$_->{deleted} } @$list)
	{
		my $cal = $entry->{id};
		$n_cals++;
		(my $path_id = $cal) =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord($1))/ge;
		my $r = $emu->{http}->get($emu->url("/calendar/v3/calendars/$path_id"), { headers => { Authorization => "Bearer $access" } });
		my $api_cal = $r->{success} ? $json->decode($r->{content}) : {};
		my $db_cal = $sql->(qq{SELECT coalesce(data->>'etag', '') FROM gcalsync.calendar WHERE owner = '$owner' AND calendar_id = \$cal\$$cal\$cal\$});
		push @diffs, "calendar $cal: db etag '$db_cal', api '" . ($api_cal->{etag} // "HTTP $r->{status}") . "'"
		  if $db_cal ne ($api_cal->{etag} // '');
		my $items = $emu->list($access, "/calendars/$path_id/events",
			{ singleEvents => 'false', showDeleted => 'true', maxResults => 2500 });
		my %api = map { $_->{id} => ($_->{status} // 'confirmed') . ":$_->{etag}" } @$items;
		my %db;
		for my $line (split /\n/, $sql->(qq{SELECT event_id, coalesce(data->>'status', 'confirmed') || ':' || coalesce(data->>'etag', ''), status
			FROM gcalsync.event WHERE owner = '$owner' AND calendar_id = \$cal\$$cal\$cal\$}))
		{
			my ($id, $v, $status) = split /\|/, $line, 3;
			next if !exists $api{$id} && $status eq 'cancelled';    # a tombstone of a silent deletion
			$db{$id} = $v;
		}
		for my $id (sort keys %{ { %api, %db } })
		{
			$n_events++;
			my ($a, $d) = ($api{$id} // 'missing', $db{$id} // 'missing');
			push @diffs, "$cal/$id: db $d, api $a" if $a ne $d;
		}
	}
	$all_ok &= Test::More::ok(!@diffs, "$owner: calendars and " . ($n_events // 0) . ' events of ' . ($n_cals // 0)
		. ' live calendars equal the API\'s')
	  or Test::More::diag(join("\n", grep { defined } @diffs[0 .. 19]) . (@diffs > 20 ? "\n... " . scalar(@diffs) . ' differences' : ''));
	return $all_ok;
}

# api_requests(emu, since_seq, user) are the Calendar API requests (not the
# token endpoint) logged after since_seq, of one user if given.
sub api_requests
{
	my ($emu, $since, $user) = @_;
	return [ grep { ($_->{api} // '') ne 'token' && ($_->{kind} // '') eq 'request' && (!defined $user || ($_->{user} // '') eq $user) }
		  @{ $emu->log(since => $since // 0, kind => 'request') } ];
}

# token_requests(emu, since_seq, refresh_token) are the token requests logged
# after since_seq, with that refresh token if given.
sub token_requests
{
	my ($emu, $since, $refresh) = @_;
	return [ grep { !defined $refresh || ($_->{form}{refresh_token} // '') eq $refresh }
		  @{ $emu->log(since => $since // 0, api => 'token') } ];
}

# log_seq(emu) is the seq of the last log entry (0 when empty).
sub log_seq
{
	my ($emu) = @_;
	my $log = $emu->log(kind => 'request');
	return @$log ? $log->[-1]{seq} : 0;
}

# no_secrets_in_log(node, extra_regex) checks the server log for refresh
# tokens, client secrets and access tokens (the test's own statements,
# logged by log_statement = all, are left out).
sub no_secrets_in_log
{
	my ($node, $extra) = @_;
	my $log = join "\n", grep { !/ statement: / } split /\n/, PostgreSQL::Test::Utils::slurp_file($node->logfile);
	my $re = qr/demo-refresh-|gen-refresh-|demo-client-secret|ya29/;
	$re = qr/$re|$extra/ if defined $extra;
	return Test::More::unlike($log, $re, 'no refresh token, client secret or access token in the server log');
}

# start_raw_server(body => BYTES, status => 200, content_type => ...) starts a
# loopback HTTP server that answers every request with those exact bytes (for
# what the emulator cannot send, e.g. invalid UTF-8). Returns a handle with
# {base}, ->requests (paths asked so far) and ->stop.
sub start_raw_server
{
	my (%opt) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	open my $bf, '>:raw', "$dir/body" or die "cannot write $dir/body: $!";
	print $bf $opt{body};
	close $bf;
	open my $pf, '>', "$dir/server.py" or die "cannot write $dir/server.py: $!";
	print $pf <<'PY';
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
body = open(sys.argv[1] + "/body", "rb").read()
status, ctype = int(sys.argv[2]), sys.argv[3]
log = open(sys.argv[1] + "/requests", "a", buffering=1)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        log.write(self.command + " " + self.path + "\n")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer
    def log_message(self, *a):
        pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(sys.argv[1] + "/port.tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(sys.argv[1] + "/port.tmp", sys.argv[1] + "/port")
srv.serve_forever()
PY
	close $pf;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ '/usr/bin/python3', "$dir/server.py", $dir, $opt{status} // 200,
		$opt{content_type} // 'application/json; charset=UTF-8' ], '>', \$out, '2>', \$err);
	my $deadline = time() + 30;
	until (-s "$dir/port")
	{
		die "raw server did not start: $err" if time() > $deadline || !$h->pumpable;
		usleep(20_000);
	}
	my $port = PostgreSQL::Test::Utils::slurp_file("$dir/port");
	return bless { handle => $h, dir => $dir, base => "http://127.0.0.1:$port" }, 'GcalTest::RawServer';
}

package GcalTest::RawServer;

sub requests
{
	my ($self) = @_;
	return [] unless -e "$self->{dir}/requests";
	return [ split /\n/, PostgreSQL::Test::Utils::slurp_file("$self->{dir}/requests") ];
}

sub stop
{
	my ($self) = @_;
	return unless $self->{handle};
	$self->{handle}->signal('KILL');
	$self->{handle}->finish;
	delete $self->{handle};
}

sub DESTROY { my ($self) = @_; $self->stop if $self->{handle}; }

package GcalTest::Emulator;

# control_raw(METHOD, PATH, JSON_TEXT) sends an already encoded body and
# returns the answer undecoded (for bodies too big for JSON::PP; for a new
# fault, its id is the last "id" in the answer).
sub control_raw
{
	my ($self, $method, $path, $text) = @_;
	my $r = $self->{http}->request($method, $self->url("/_emulator$path"),
		{ headers => { 'Content-Type' => 'application/json' }, content => $text });
	die "emulator $method $path: $r->{status}" unless $r->{success};
	return $r->{content};
}

1;

# ---- shared by the security tests (test/t/04*_*.pl) ---------------------------------
package GcalTest;

# make_ca(dir, name => 'server', san => 'IP:127.0.0.1,DNS:localhost') makes (with
# the openssl CLI, through test/emulator/gcal_tls.py) a throwaway CA in dir (a
# new temporary directory if undef; the CA is kept if dir already has one) and
# a server certificate signed by it, and returns
# { ca => FILE, ca_key => FILE, cert => FILE, key => FILE } — fit to pass as
# start_emulator(tls => ...). Call it again with the same dir and another name
# and san for another server certificate of the same CA.
sub make_ca
{
	my ($dir, %opt) = @_;
	$dir //= PostgreSQL::Test::Utils::tempdir();
	my @cmd = ('/usr/bin/python3', "$root/test/emulator/gcal_tls.py", $dir,
		'--name', $opt{name} // 'server', '--san', $opt{san} // 'IP:127.0.0.1,DNS:localhost');
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err) or die "gcal_tls.py failed: $err";
	return $json->decode($out);
}

# json_codec() is the JSON::PP object the helpers use (utf8, canonical).
sub json_codec { return $json; }

# listen(node, db) opens a psql session that runs LISTEN gcalsync and returns a
# GcalTest::Listener: ->poll collects what arrived, ->payloads are the raw
# payload texts (UTF-8 bytes, in arrival order), ->wait_for(CODE, TIMEOUT, WHAT)
# polls until CODE->(payloads) is true, ->stop ends the session.
sub listen
{
	my ($node, $db) = @_;
	my $bg = $node->background_psql($db // 'postgres');
	$bg->query_safe('LISTEN gcalsync');
	return bless { bg => $bg, payloads => [] }, 'GcalTest::Listener';
}

package GcalTest::Listener;

# psql prints each notification on a line of its own after the command
# during or before which it arrived; the payload is printed verbatim.
sub poll
{
	my ($self) = @_;
	my $out = $self->{bg}->query_safe('SELECT 1');
	for my $line (split /\n/, $out)
	{
		push @{ $self->{payloads} }, $1
		  if $line =~ /^Asynchronous notification "gcalsync" with payload "(.*)" received from server process with PID \d+\.\r?$/;
	}
	return $self->{payloads};
}

sub payloads { my ($self) = @_; return $self->{payloads}; }

sub wait_for
{
	my ($self, $cond, $timeout, $what) = @_;
	return GcalTest::wait_until(sub { return $cond->($self->poll) }, $timeout // 60, $what // 'notifications');
}

sub stop
{
	my ($self) = @_;
	return unless $self->{bg};
	$self->{bg}->quit;
	delete $self->{bg};
}

1;
