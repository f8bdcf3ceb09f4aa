# Issue 20: a seeded chaos run, then the mirror equals Google exactly.
#
# Many owners on the emulator; a random schedule (from CHAOS_SEED) of
# Google-side changes (events created, edited, moved, deleted; recurring
# series edited, their instances cancelled or moved, series split; calendars
# added, deleted, hidden, their time zone changed; refresh tokens revoked and
# restored; sync tokens invalidated: 410), application calls (gcal_link,
# relink, gcal_refresh, gcal_unlink, gcal_resync, gcal_sync_now, gcal_push,
# writes through the outbox) and faults (every emulator preset, slow, dropped,
# truncated, malformed and endless answers, kill -9 of the worker and of the
# postmaster, restarts, pg_reload_conf with changed settings). A consumer of
# the change feed runs between the operations, keeping its own copy of the
# mirror from the feed alone, as an application would.
#
# Then quiesce (faults off, settings back, every linked owner healthy and
# synced, with no gcal_resync) and check, for every linked owner:
# - calendar_list, calendar and event rows hold exactly what Google's full
#   listings return (data verbatim, tombstones included), first without any
#   resync, leaving out only the ids Google deleted silently (no tombstone: no
#   incremental sync can know); then after gcal_resync of the owners who see
#   such ids, where those must be tombstones; every typed column says what
#   data says;
# - nothing is left of unlinked owners;
# - the feed consumer's copy equals the mirror, and the feed audit (logical
#   decoding of every committed transaction) finds every change of every row
#   announced by the transaction that made it, once, in commit order, and no
#   entry naming a row its transaction did not write;
# - every outbox write reached a final state, and every one that is done is
#   at Google exactly once;
# - gcal_instances equals events.list(singleEvents=true) and gcal_busy equals
#   freebusy.query, for every calendar, in two windows.
#
# CHAOS_SEED (default: random, printed), CHAOS_MINUTES (default 1) or
# CHAOS_OPS (a number of operations instead of a duration), CHAOS_REPLAY (an
# operation log written by a failed run: run exactly those operations), and
# CHAOS_LOG (where the operation log goes; default next to the TAP logs).
# test/chaos/reduce shrinks a failing log to a short one that still fails.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use POSIX qw(strftime);
use JSON::PP;
use GcalTest;

my $json = JSON::PP->new->utf8->canonical;
my $seed = $ENV{CHAOS_SEED} // int(rand(1_000_000_000));
my $minutes = $ENV{CHAOS_MINUTES} // 1;
my $max_ops = $ENV{CHAOS_OPS};
my $replay = $ENV{CHAOS_REPLAY};
my $log_path = $ENV{CHAOS_LOG} // "$PostgreSQL::Test::Utils::log_path/chaos_ops_$seed.jsonl";
srand($seed);
diag("chaos: seed $seed" . ($replay ? ", replaying $replay" : ", $minutes minute(s)") . "; operation log: $log_path");

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'chaos', q{
gcalsync.poll_interval = 1
gcalsync.http_timeout = 5s
gcalsync.requests_per_minute = 1000000
gcalsync.user_requests_per_minute = 1000000
gcalsync.webhook_url = 'http://127.0.0.1:9/gcalsync-hook'
# the feed audit (below) reads every committed row change through logical decoding
wal_level = logical
max_replication_slots = 4
});
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub q_lit { my ($s) = @_; $s =~ s/'/''/g; return "'$s'"; }
sub enc { my ($s) = @_; $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord($1))/ge; return $s; }

# ---- the world: users, their tokens, calendars ------------------------------------------
my @zones = ('UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Sydney');
my %token = (alice => 'demo-refresh-alice', bob => 'demo-refresh-bob', carol => 'demo-refresh-carol');
my $n_users = $ENV{CHAOS_USERS} // 6;
for my $i (1 .. $n_users)
{
	my $u = sprintf('chaos%02d', $i);
	$token{$u} = "chaos-refresh-$u-0";
	$emu->control('POST', '/users', { id => $u, refresh_tokens => [ $token{$u} ], timeZone => $zones[ $i % @zones ] });
}
my @users = sort keys %token;
my %email = map { $_ => "$_\@example.com" } @users;

# The model: what the harness knows for sure. linked: 1 linked, 0 not, undef
# unknown (a call whose answer was lost in a crash; read back at the end).
my %linked = map { $_ => 0 } @users;
my %revoked;            # user => 1 while their refresh token is revoked at Google
my %token_gen = map { $_ => 0 } @users;
my %silent;             # calendar id => { event id => 1 }: deleted at Google without a tombstone (only a full listing shows it)
my %cal_members;        # calendar id => { user => 1 } (created by the run)
my %events;             # "cal\tid" => { cal, id, recurring, app }
my %writes;             # outbox id => { owner, event_id, op, summary }
my %app_event;          # event id => 1 (inserted through the outbox; Google-side operations leave them alone)
my $counter = 0;
my %n_ops;
my ($n_crashes, $n_faults) = (0, 0);

sub user_cals
{
	my ($u) = @_;
	return ($email{$u}, grep { $cal_members{$_}{$u} } sort keys %cal_members);
}

# ---- the operation generator -------------------------------------------------------------
sub pick { return $_[ int(rand(@_)) ]; }
sub chance { return rand() < $_[0]; }

sub rand_time
{
	# 2026-02-16 .. 2026-05-15 (both DST changes), on the quarter hour
	my $t = 1771200000 + 900 * int(rand(88 * 96));
	return $t;
}
sub iso { return strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($_[0])); }
sub ical { return strftime('%Y%m%dT%H%M%SZ', gmtime($_[0])); }
sub new_id { $counter++; return sprintf('chaos%05d%s', $counter, join('', map { pick('a' .. 'v', 0 .. 9) } 1 .. 6)); }

sub event_body
{
	my ($kind) = @_;
	my $t = rand_time();
	my $len = 900 * (1 + int(rand(8)));
	my $tz = pick(@zones);
	my %e = (summary => 'chaos ' . ($counter + 1) . pick('', ' ünï', ' "quoted"', " it's"),
		transparency => pick('opaque', 'opaque', 'transparent'),
		chance(0.3) ? (description => 'd' . int(rand(1000))) : (),
		chance(0.2) ? (location => 'Room ' . int(rand(9))) : ());
	if ($kind eq 'allday')
	{
		my $d = strftime('%Y-%m-%d', gmtime($t));
		my $d2 = strftime('%Y-%m-%d', gmtime($t + 86400 * (1 + int(rand(3)))));
		%e = (%e, start => { date => $d }, end => { date => $d2 });
	}
	else
	{
		%e = (%e, start => { dateTime => iso($t), timeZone => $tz }, end => { dateTime => iso($t + $len), timeZone => $tz });
	}
	if ($kind eq 'recurring')
	{
		my $rule = pick('RRULE:FREQ=DAILY;COUNT=' . (3 + int(rand(20))),
			'RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=' . ical($t + 86400 * (10 + int(rand(40)))),
			'RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=' . (2 + int(rand(8))),
			'RRULE:FREQ=MONTHLY;COUNT=3');
		$e{recurrence} = [$rule, chance(0.3) ? ('EXDATE:' . ical($t + 86400 * 7)) : ()];
		$e{recurrence} = [$rule] if $rule =~ /DAILY|MONTHLY/ && $e{start}{date};
	}
	return \%e;
}

sub linked_users { return grep { $linked{$_} } @users; }
sub google_events { return grep { !$_->{app} } values %events; }

sub gen_op
{
	my @linked = linked_users();
	my $r = rand(100);
	my $u = pick(@users);
	my ($cal) = pick(user_cals($u));
	my @evs = sort { "$a->{cal}/$a->{id}" cmp "$b->{cal}/$b->{id}" } google_events();
	my @rec = grep { $_->{recurring} } @evs;
	# Google side
	return { op => 'create_event', cal => $cal, id => new_id(), body => event_body(pick('timed', 'timed', 'allday', 'recurring')) } if $r < 14;
	return { op => 'edit_event', %{ pick(@evs) }{qw(cal id)}, patch => { summary => 'edited ' . int(rand(1e6)), chance(0.5) ? (description => 'x' x int(rand(50))) : () } } if $r < 20 && @evs;
	if ($r < 25 && @evs)
	{
		my $b = event_body(chance(0.8) ? 'timed' : 'allday');
		my $e = pick(@evs);
		return { op => 'move_event', cal => $e->{cal}, id => $e->{id}, patch => { start => $b->{start}, end => $b->{end} } } unless $e->{recurring};
	}
	return { op => 'delete_event', %{ pick(@evs) }{qw(cal id)}, silent => chance(0.1) ? 1 : 0 } if $r < 29 && @evs;
	return { op => pick('cancel_instance', 'modify_instance', 'split_series', 'edit_series'), %{ pick(@rec) }{qw(cal id)}, k => int(rand(6)), summary => 'series ' . int(rand(1e6)) } if $r < 37 && @rec;
	return { op => 'add_calendar', cal => 'c_chaos' . new_id() . '@group.calendar.google.com', tz => pick(@zones),
		members => { map { $_ => pick('owner', 'writer', 'reader') } ($u, chance(0.5) ? pick(@users) : ()) } } if $r < 40;
	my @cals = sort keys %cal_members;
	return { op => 'delete_calendar', cal => pick(@cals) } if $r < 41.5 && @cals;
	return { op => 'hide_calendar', user => $u, cal => $cal, hidden => chance(0.6) ? 1 : 0 } if $r < 43;
	return { op => 'calendar_zone', cal => $cal, tz => pick(@zones) } if $r < 45;
	return { op => 'revoke_token', user => pick(@users) } if $r < 47;
	return { op => 'restore_token', user => pick(keys %revoked) } if $r < 50 && %revoked;
	return { op => 'invalidate_sync_tokens', user => chance(0.7) ? $u : undef, variant => pick('fullSyncRequired', 'noReason') } if $r < 52;
	return { op => 'expire_access_tokens', user => $u } if $r < 53;
	# application side
	return { op => 'link', user => pick(grep { !$linked{$_} } @users) } if $r < 57 && grep { !$linked{$_} } @users;
	return { op => 'relink', user => pick(@linked) } if $r < 58.5 && @linked;
	return { op => 'refresh', user => pick(@linked) } if $r < 60 && @linked;
	return { op => 'unlink', user => pick(@linked) } if $r < 62 && @linked;
	return { op => 'resync', user => chance(0.85) ? pick(@linked) : undef } if $r < 64 && @linked;
	return { op => 'sync_now', user => pick(@linked) } if $r < 69 && @linked;
	return { op => 'push', n => int(rand(1000)) } if $r < 72;
	if ($r < 79 && @linked)
	{
		my $o = pick(@linked);
		my @mine = sort grep { $app_event{$_}{owner} eq $o } keys %app_event;
		return { op => 'write_insert', user => $o, id => new_id(), body => event_body('timed') } if !@mine || chance(0.5);
		my $id = pick(@mine);
		return { op => 'write_delete', user => $o, id => $id } if chance(0.2);
		return { op => 'write_update', user => $o, id => $id, summary => 'app update ' . int(rand(1e6)) };
	}
	# faults
	if ($r < 93)
	{
		my @presets = qw(rateLimitExceeded userRateLimitExceeded quotaExceeded rateLimitExceededModern tooManyRequests
		  html403 backendError serviceUnavailable notFound fullSyncRequired goneNoReason authError invalidGrant
		  invalidClient endlessBody insufficientPermissions accessNotConfigured forbidden dailyLimitExceeded
		  invalidSyncToken grantWithoutCalendarScope);
		my %f = (path => pick('^/token$', 'calendarList$', '/events$', '/calendars/[^/]+$', '/watch$', '/events/[^/]+$', '/events$', ''),
			# (skip is the emulator fault's own field, not a skipped test: the first
			# 0-2 matching requests pass before the fault answers, so a fault can
			# land mid-listing, on a second page, not only on the first request)
			count => pick(1, 1, 2, 3, 5), chance(0.7) ? (user => $u) : (), chance(0.3) ? (skip => int(rand(3))) : ());
		my $kind = pick('preset', 'preset', 'preset', 'slow', 'drop', 'truncated', 'malformed', 'apply_drop');
		$f{path} = pick('/events$', '/events/[^/]+$') if $kind eq 'apply_drop';    # a write applied at Google, its answer lost
		if ($kind eq 'preset') { $f{preset} = pick(@presets); $f{headers} = { 'Retry-After' => '1' } if chance(0.3); }
		elsif ($kind eq 'slow') { $f{delay} = pick(0.5, 1, 2, 6); }
		else { $f{action} = $kind; }
		# an endless body only where the harness itself never reads (it would hang its own calls)
		$f{path} = pick('/events$', 'calendarList$') if ($f{preset} // '') eq 'endlessBody';
		return { op => 'fault', fault => \%f };
	}
	return { op => 'clear_faults' } if $r < 94.5;
	return { op => 'reload', setting => pick(qw(poll_interval max_connections http_timeout user_requests_per_minute notify_payload lock_timeout webhook_url)), n => int(rand(3)) } if $r < 97;
	my $crash = pick('kill_worker', 'kill_worker', 'kill_postmaster', 'restart');
	return { op => $crash, $crash eq 'restart' ? (mode => pick('fast', 'immediate')) : () };
}

# ---- running an operation ----------------------------------------------------------------
sub control { my @a = @_; return $emu->control(@a); }

sub instances_of
{
	my ($op) = @_;
	my $u = (grep { $token{$_} && !$revoked{$_} } sort keys %{ $cal_members{ $op->{cal} } // {} }, map { $email{$_} eq $op->{cal} ? $_ : () } @users)[0]
	  or return [];
	my $access = $emu->token($token{$u});
	return $emu->list($access, '/calendars/' . enc($op->{cal}) . '/events/' . enc($op->{id}) . '/instances',
		{ timeMin => '2025-01-01T00:00:00Z', timeMax => '2027-01-01T00:00:00Z', maxResults => 50 });
}

my $server_up = 1;

sub server_back
{
	# after a crash: the postmaster restarts the cluster (restart_after_crash) or we start it
	GcalTest::wait_until(sub { return eval { $node->safe_psql('postgres', 'SELECT 1') } // 0 }, 120, 'the server back after a crash');
	GcalTest::wait_worker($node);
}

sub app
{
	my ($owner, $sqltext) = @_;
	my ($ret, $stdout, $stderr) = (undef, '', '');
	$ret = $node->psql('postgres', $sqltext, stdout => \$stdout, stderr => \$stderr, on_error_stop => 1);
	return ($ret, $stdout, $stderr);
}

# run_op(op) performs one operation; returns a short outcome text.
sub run_op
{
	my ($op) = @_;
	my $o = $op->{op};
	$n_ops{$o}++;
	my $u = $op->{user};
	if ($o eq 'create_event')
	{
		control('POST', '/calendars/' . enc($op->{cal}) . '/events', { %{ $op->{body} }, id => $op->{id} });
		$events{"$op->{cal}\t$op->{id}"} = { cal => $op->{cal}, id => $op->{id}, recurring => $op->{body}{recurrence} ? 1 : 0 };
	}
	elsif ($o eq 'edit_event' || $o eq 'move_event')
	{
		control('PATCH', '/calendars/' . enc($op->{cal}) . '/events/' . enc($op->{id}), $op->{patch});
	}
	elsif ($o eq 'delete_event')
	{
		my $r = control('DELETE', '/calendars/' . enc($op->{cal}) . '/events/' . enc($op->{id}) . ($op->{silent} ? '?silent=true' : ''));
		delete $events{"$op->{cal}\t$op->{id}"};
		# A silent deletion (Google: calendars that do not report deletions)
		# shows only in a full listing, never to an incremental sync: the
		# ids it removed (the event and its exceptions, as the emulator says)
		# are the only rows the first comparison at the end leaves out.
		if ($r && $r->{silent}) { $silent{ $op->{cal} }{$_} = 1 for @{ $r->{deleted} // [] }; }
	}
	elsif ($o eq 'cancel_instance' || $o eq 'modify_instance' || $o eq 'split_series' || $o eq 'edit_series')
	{
		my $path = '/calendars/' . enc($op->{cal}) . '/events/';
		if ($o eq 'edit_series')
		{
			control('PATCH', $path . enc($op->{id}), { summary => $op->{summary} });
			return 'ok';
		}
		my $inst = instances_of($op);
		return 'no instances' unless @$inst;
		my $i = $inst->[ $op->{k} % @$inst ];
		if ($o eq 'cancel_instance')
		{
			control('POST', $path . enc($op->{id}) . '/cancel-instance', { originalStartTime => $i->{originalStartTime} });
		}
		elsif ($o eq 'modify_instance')
		{
			my %e = (id => $i->{id}, recurringEventId => $op->{id}, originalStartTime => $i->{originalStartTime},
				summary => $op->{summary}, start => $i->{start}, end => $i->{end});
			if ($i->{start}{dateTime})
			{
				my $s = GcalTest::rfc3339_epoch($i->{start}{dateTime}) + 3600;
				my $e = GcalTest::rfc3339_epoch($i->{end}{dateTime}) + 3600;
				$e{start} = { dateTime => iso($s), timeZone => $i->{start}{timeZone} // 'UTC' };
				$e{end} = { dateTime => iso($e), timeZone => $i->{end}{timeZone} // 'UTC' };
			}
			control('POST', '/calendars/' . enc($op->{cal}) . '/events', \%e);
		}
		else    # split: the series ends before instance k; a new series starts there
		{
			return 'first instance' if $i->{id} eq $inst->[0]{id};
			my $master = control('GET', $path . enc($op->{id}))->{event};
			my $start = $i->{originalStartTime};
			my $cut = $start->{dateTime} ? ical(GcalTest::rfc3339_epoch($start->{dateTime}) - 1)
			  : strftime('%Y%m%d', gmtime(GcalTest::rfc3339_epoch("$start->{date}T00:00:00Z") - 86400));
			my @rules = map { my $l = $_; $l =~ /^RRULE:/ ? do { $l =~ s/;(?:COUNT|UNTIL)=[^;]*//g; $l } : $l } @{ $master->{recurrence} // [] };
			return 'no rule' unless grep { /^RRULE:/ } @rules;
			my @old = map { /^RRULE:/ ? "$_;UNTIL=$cut" : $_ } @rules;
			control('PATCH', $path . enc($op->{id}), { recurrence => \@old });
			(my $stamp = $start->{dateTime} ? ical(GcalTest::rfc3339_epoch($start->{dateTime})) : $start->{date}) =~ s/[-Z]//g;
			my $new = "$op->{id}_R$stamp";
			my $len = $master->{start}{dateTime}
			  ? GcalTest::rfc3339_epoch($master->{end}{dateTime}) - GcalTest::rfc3339_epoch($master->{start}{dateTime}) : 0;
			my %e = (id => $new, summary => $op->{summary}, recurrence => [ map { /^RRULE:/ ? "$_;COUNT=4" : () } @rules ]);
			if ($start->{dateTime})
			{
				my $s = GcalTest::rfc3339_epoch($start->{dateTime});
				my $tz = $master->{start}{timeZone} // 'UTC';
				%e = (%e, start => { dateTime => iso($s), timeZone => $tz }, end => { dateTime => iso($s + $len), timeZone => $tz });
			}
			else
			{
				%e = (%e, start => { date => $start->{date} }, end => { date => $i->{end}{date} });
			}
			control('POST', '/calendars/' . enc($op->{cal}) . '/events', \%e);
			$events{"$op->{cal}\t$new"} = { cal => $op->{cal}, id => $new, recurring => 1 };
		}
	}
	elsif ($o eq 'add_calendar')
	{
		control('POST', '/calendars', { id => $op->{cal}, summary => "chaos calendar $op->{cal}", timeZone => $op->{tz},
			members => { map { $_ => { accessRole => $op->{members}{$_} } } keys %{ $op->{members} } } });
		$cal_members{ $op->{cal} } = { map { $_ => 1 } keys %{ $op->{members} } };
	}
	elsif ($o eq 'delete_calendar')
	{
		control('DELETE', '/calendars/' . enc($op->{cal}));
		delete $cal_members{ $op->{cal} };
		delete $events{$_} for grep { /^\Q$op->{cal}\E\t/ } keys %events;
	}
	elsif ($o eq 'hide_calendar')
	{
		control('PUT', "/users/$u/calendarList/" . enc($op->{cal}), { hidden => $op->{hidden} ? JSON::PP::true : JSON::PP::false });
	}
	elsif ($o eq 'calendar_zone')
	{
		control('PATCH', '/calendars/' . enc($op->{cal}), { timeZone => $op->{tz}, touchListEntries => JSON::PP::true });
	}
	elsif ($o eq 'revoke_token')
	{
		control('POST', '/refresh-tokens/revoke', { user => $u });
		$revoked{$u} = 1;
	}
	elsif ($o eq 'restore_token')
	{
		$token{$u} = "chaos-refresh-$u-" . ++$token_gen{$u};
		control('POST', "/users/$u/refresh-tokens", { token => $token{$u} });
		delete $revoked{$u};
		return 'restored at Google' unless $linked{$u};
		my ($ret) = app($u, "SELECT gcal_refresh('$u', " . q_lit($token{$u}) . ')');
		$linked{$u} = undef if $ret != 0 && !$server_up;
		return "gcal_refresh: $ret";
	}
	elsif ($o eq 'invalidate_sync_tokens')
	{
		control('POST', '/sync-tokens/invalidate', { defined $u ? (user => $u) : (), variant => $op->{variant} });
	}
	elsif ($o eq 'expire_access_tokens')
	{
		control('POST', '/access-tokens/expire', { user => $u });
	}
	elsif ($o eq 'link' || $o eq 'relink')
	{
		my ($ret, $out, $err) = app($u, "SELECT gcal_link('$u', " . q_lit($token{$u}) . ')');
		$linked{$u} = $ret == 0 ? 1 : ($err =~ /connection|terminat|recovery|shut/i ? undef : $linked{$u});
		return "gcal_link: $ret";
	}
	elsif ($o eq 'refresh')
	{
		my ($ret) = app($u, "SELECT gcal_refresh('$u', " . q_lit($token{$u}) . ')');
		return "gcal_refresh: $ret";
	}
	elsif ($o eq 'unlink')
	{
		my ($ret, $out, $err) = app($u, "SELECT gcal_unlink('$u')");
		$linked{$u} = $ret == 0 ? 0 : undef;
		delete $app_event{$_} for grep { $app_event{$_}{owner} eq $u } keys %app_event;
		return "gcal_unlink: $ret";
	}
	elsif ($o eq 'resync')
	{
		my ($ret) = app($u, 'SELECT gcal_resync(' . (defined $u ? "'$u'" : 'NULL') . ')');
		return "gcal_resync: $ret";
	}
	elsif ($o eq 'sync_now')
	{
		my ($ret) = app($u, "SELECT gcal_sync_now('$u')");
		return "gcal_sync_now: $ret";
	}
	elsif ($o eq 'push')
	{
		my @ch = grep { $_->{state} eq 'active' && $linked{ $_->{user} } } @{ control('GET', '/channels') };
		return 'no channel' unless @ch;
		my $c = $ch[ $op->{n} % @ch ];
		my ($ret, $out) = app($c->{user}, sprintf('SELECT gcal_push(%s, %s, %s, %s, %d)', q_lit($c->{id}), q_lit($c->{resourceId}),
			q_lit('exists'), defined $c->{token} ? q_lit($c->{token}) : 'NULL', ($c->{message_number} // 0) + 1));
		return "gcal_push: $ret $out";
	}
	elsif ($o =~ /^write_(insert|update|delete)$/)
	{
		my $kind = $1;
		my $cal = $email{$u};
		my $call = $kind eq 'insert'
		  ? "gcal_insert_event('$u', " . q_lit($cal) . ', ' . q_lit($json->encode({ %{ $op->{body} }, id => $op->{id}, summary => "app $op->{id}" })) . ')'
		  : $kind eq 'update'
		  ? "gcal_update_event('$u', " . q_lit($cal) . ", '$op->{id}', " . q_lit($json->encode({ summary => $op->{summary} })) . ')'
		  : "gcal_delete_event('$u', " . q_lit($cal) . ", '$op->{id}')";
		my ($ret, $out, $err) = app($u, "SELECT $call");
		if ($ret == 0)
		{
			$writes{$out} = { owner => $u, event_id => $op->{id}, op => $kind, summary => $kind eq 'insert' ? "app $op->{id}" : $op->{summary} };
			$app_event{ $op->{id} } = { owner => $u } if $kind eq 'insert';
			$events{"$cal\t$op->{id}"} = { cal => $cal, id => $op->{id}, app => 1 } if $kind eq 'insert';
		}
		return "$kind: $ret " . ($ret ? (split /\n/, $err)[0] // '' : "write $out");
	}
	elsif ($o eq 'fault')
	{
		control('POST', '/faults', $op->{fault});
		$n_faults++;
	}
	elsif ($o eq 'clear_faults')
	{
		control('DELETE', '/faults');
	}
	elsif ($o eq 'reload')
	{
		my %values = (poll_interval => [ '1s', '3s', '10s' ], max_connections => [ 1, 4, 32 ], http_timeout => [ '1s', '3s', '10s' ],
			user_requests_per_minute => [ 30, 300, 1000000 ], notify_payload => [ 'full', 'minimal', 'full' ],
			lock_timeout => [ '10ms', '100ms', '1s' ], webhook_url => [ '', 'http://127.0.0.1:9/gcalsync-hook', '' ]);
		my $v = $values{ $op->{setting} }[ $op->{n} ];
		my ($ret) = app(undef, "ALTER SYSTEM SET gcalsync.$op->{setting} = " . q_lit($v) . '; SELECT pg_reload_conf()');
		return "reload $op->{setting} = $v: $ret";
	}
	elsif ($o eq 'kill_worker')
	{
		my $pid = eval { GcalTest::worker_pid($node) } // '';
		return 'no worker' if $pid eq '';
		kill 'KILL', $pid;
		$n_crashes++;
		server_back();
	}
	elsif ($o eq 'kill_postmaster')
	{
		my ($pid) = split /\n/, slurp_file($node->data_dir . '/postmaster.pid');
		kill 'KILL', $pid;
		$n_crashes++;
		# The old children leave once they see the postmaster gone; until
		# then the new one refuses to start. (Cluster's own idea of the pid
		# is reset before each try: a failed start reads the stale pid file.)
		GcalTest::wait_until(sub { $node->{_pid} = undef; return $node->start(fail_ok => 1) }, 120,
			'the server to start again after kill -9');
		server_back();
	}
	elsif ($o eq 'restart')
	{
		$node->stop($op->{mode} // 'fast');
		$node->start;
		server_back();
	}
	else { die "unknown operation $o"; }
	return 'ok';
}

# ---- the feed consumer: an application's copy of the mirror, from the feed alone ---------
sql(q{
CREATE SCHEMA chaos;
CREATE TABLE chaos.cursor (seq bigint NOT NULL);
INSERT INTO chaos.cursor VALUES (0);
CREATE TABLE chaos.seen (seq bigint PRIMARY KEY);
CREATE TABLE chaos.replica (owner text, tbl text, calendar_id text, id text, h text NOT NULL,
	PRIMARY KEY (owner, tbl, calendar_id, id));
-- The rows of the mirror as the consumer hashes them (every column but when they were written).
CREATE VIEW chaos.mirror AS
	SELECT owner, 'event'::text AS tbl, calendar_id, event_id AS id, md5((to_jsonb(e) - 'synced_at' - 'synced_tick')::text) AS h FROM gcalsync.event e
	UNION ALL SELECT owner, 'calendar_list', '', calendar_id, md5((to_jsonb(l) - 'synced_at' - 'synced_tick')::text) FROM gcalsync.calendar_list l
	UNION ALL SELECT owner, 'calendar', '', calendar_id, md5((to_jsonb(c) - 'synced_at' - 'synced_tick')::text) FROM gcalsync.calendar c;
-- A value PostgreSQL cannot hold becomes NULL in a typed column (README).
CREATE FUNCTION chaos.ts(v text) RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN RETURN v::timestamptz; EXCEPTION WHEN OTHERS THEN RETURN NULL; END $$;
CREATE FUNCTION chaos.d(v text) RETURNS date LANGUAGE plpgsql AS $$
BEGIN RETURN v::date; EXCEPTION WHEN OTHERS THEN RETURN NULL; END $$;
CREATE FUNCTION chaos.consume() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE c bigint; r record; n integer := 0; k text;
BEGIN
	SELECT seq INTO c FROM chaos.cursor FOR UPDATE;
	FOR r IN SELECT * FROM gcal_changes(c, 100000) LOOP
		IF r.seq <= c THEN RAISE EXCEPTION 'the feed went back: % after %', r.seq, c; END IF;
		INSERT INTO chaos.seen VALUES (r.seq);    -- a second delivery fails here
		c := r.seq;
		n := n + 1;
		IF r.op = 'unlink' THEN
			DELETE FROM chaos.replica WHERE owner = r.owner;
		ELSIF r.table_name IN ('event', 'calendar_list', 'calendar') THEN
			k := CASE WHEN r.table_name = 'event' THEN r.calendar_id ELSE '' END;
			DELETE FROM chaos.replica p WHERE p.owner = r.owner AND p.tbl = r.table_name AND p.calendar_id = k
				AND (r.ids IS NULL OR p.id = ANY (r.ids));
			INSERT INTO chaos.replica SELECT m.* FROM chaos.mirror m
				WHERE m.owner = r.owner AND m.tbl = r.table_name AND m.calendar_id = k AND (r.ids IS NULL OR m.id = ANY (r.ids));
		END IF;
	END LOOP;
	UPDATE chaos.cursor SET seq = c;
	RETURN n;
END $$;
});

# ---- the feed audit: the sequence of states the mirror went through, against the feed ----
# A logical replication slot (test_decoding) hands over every committed
# transaction in commit order, with every row it wrote: the mirror tables' rows
# (whichever path wrote them: COPY-style multi-insert, INSERT, upsert, UPDATE,
# DELETE) and the gcalsync.change entries it added. No trigger is involved, so
# the worker's write paths are the ones production takes. For every
# transaction T, with a row's content being every column but synced_at and
# synced_tick, and "before" its content when T began:
# - every row whose content T changed (inserted, changed, deleted) is named by
#   an entry of T (a row gcal_unlink deleted: by T's unlink entry), so no state
#   of any row goes unannounced, intermediate ones included;
# - every row an entry of T names was written by T (no entry without a write
#   behind it), and is named once in T (no change announced twice); an entry
#   `delete` leaves a tombstone (event cancelled, calendar_list deleted), an
#   `upsert` a live row;
# - entries' seq grow in commit order across all transactions.
# A page announces every row it writes (README), so a full listing's page
# announces rows it rewrote unchanged: counted (announced_unchanged). A
# duplicate announcement of a row its transaction rewrote unchanged looks the
# same, so the audit cannot tell the two apart.
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('chaos_audit', 'test_decoding')});
my %audit_row;      # "tbl\towner\tcalendar\tid" => { column => value }: the row now, as decoded
my ($audit_lsn, $audit_seq) = (0, 0);
my %audit_n = map { $_ => 0 } qw(xacts changes entries announced announced_unchanged);
my @audit_errors;
my %audit_key_cols = (event => [qw(owner calendar_id event_id)], calendar_list => [ 'owner', undef, 'calendar_id' ],
	calendar => [ 'owner', undef, 'calendar_id' ]);

sub audit_cols
{
	my ($text) = @_;
	my (%c, @order);
	while ($text =~ /\G\s*([^\[\s]+)\[(.*?)\]:('(?:[^']|'')*'|\S+)/gc)
	{
		my ($name, $v) = ($1, $3);
		if ($v =~ /^'(.*)'$/s) { ($v = $1) =~ s/''/'/g; }
		elsif ($v eq 'null') { $v = undef; }
		elsif ($v eq 'unchanged-toast-datum') { $v = \"toast"; }
		$c{$name} = $v;
		push @order, $name;
	}
	return (\%c, \@order);
}

sub audit_array
{
	my ($t) = @_;
	return [] unless defined $t && $t =~ /^\{(.+)\}$/s;
	my ($body, @out) = ($1);
	while ($body =~ /\G(?:"((?:[^"\\]|\\.)*)"|([^,]*))(?:,|$)/gc)
	{
		my $v = defined $1 ? $1 =~ s/\\(.)/$1/gr : $2;
		push @out, $v;
		last if pos($body) >= length($body);
	}
	return \@out;
}

sub audit_content
{
	my ($row) = @_;
	return undef unless $row;
	return join("\x1f", map { "$_=" . ($row->{$_} // "\x00") } grep { $_ ne 'synced_at' && $_ ne 'synced_tick' } sort keys %$row);
}

sub audit_live
{
	my ($tbl, $row) = @_;
	return 0 unless $row;
	return ($row->{status} // '') ne 'cancelled' if $tbl eq 'event';
	return ($row->{deleted} // '') !~ /^t/ if $tbl eq 'calendar_list';    # test_decoding says true/false
	return 1;
}

sub audit
{
	my $out = eval { $node->safe_psql('postgres', q{SELECT (lsn - '0/0')::numeric::text || ' ' || replace(data, E'\n', ' ')
		FROM pg_logical_slot_peek_changes('chaos_audit', NULL, NULL, 'include-xids', '1', 'skip-empty-xacts', '1')}) };
	return unless defined $out;
	# (peeked, and the slot moved on only past what was read here: an answer
	# lost in a crash is handed over again)
	my ($after, $entries);    # the transaction's rows (undef: deleted) and entries, applied at its commit
	for my $line (split /\n/, $out)
	{
		my ($lsn, $data) = split / /, $line, 2;
		if ($data =~ /^BEGIN/) { ($after, $entries) = ({}, []); next; }
		if ($data =~ /^COMMIT (\d+)/)
		{
			my $xid = $1;
			# after a crash the slot may hand over again what it had handed over
			next if $lsn <= $audit_lsn;
			$audit_lsn = $lsn;
			$audit_n{xacts}++;
			my (%named, %unlinked);
			for my $e (@$entries)
			{
				$audit_n{entries}++;
				push @audit_errors, "xid $xid: entry $e->{seq} after entry $audit_seq: not in commit order" if $e->{seq} <= $audit_seq;
				$audit_seq = $e->{seq};
				if ($e->{op} eq 'unlink') { $unlinked{ $e->{owner} } = 1; next; }
				next unless $audit_key_cols{ $e->{table_name} // '' };
				for my $id (@{ audit_array($e->{ids}) })
				{
					my $key = join("\t", $e->{table_name}, $e->{owner}, $e->{table_name} eq 'event' ? $e->{calendar_id} // '' : '', $id);
					push @audit_errors, "xid $xid: $key named twice (entries $named{$key}{seq} and $e->{seq})" if $named{$key};
					$named{$key} = $e;
				}
			}
			for my $key (sort keys %$after)
			{
				my ($tbl, $owner) = split /\t/, $key;
				my ($old, $new) = (audit_content($audit_row{$key}), audit_content($after->{$key}));
				next if (defined $old && defined $new && $old eq $new) || (!defined $old && !defined $new);
				$audit_n{changes}++;
				next if $named{$key} || (!defined $new && $unlinked{$owner});
				push @audit_errors, "xid $xid: $key " . (!defined $old ? 'inserted' : !defined $new ? 'deleted' : 'changed')
				  . ' without an entry' . (defined $new ? ' (now ' . (audit_live($tbl, $after->{$key}) ? 'live' : 'a tombstone') . ')' : '');
			}
			for my $key (sort keys %named)
			{
				my $e = $named{$key};
				$audit_n{announced}++;
				my ($tbl) = split /\t/, $key;
				if (!exists $after->{$key}) { push @audit_errors, "xid $xid: entry $e->{seq} ($e->{op}) names $key, which the transaction did not write"; next; }
				my $row = $after->{$key};
				$audit_n{announced_unchanged}++ if (audit_content($audit_row{$key}) // '') eq (audit_content($row) // '');
				push @audit_errors, "xid $xid: entry $e->{seq} announces $key as $e->{op}, but the row is " . (!$row ? 'gone' : audit_live($tbl, $row) ? 'live' : 'a tombstone')
				  if !$row || ($e->{op} eq 'delete') == audit_live($tbl, $row);
			}
			for my $key (keys %$after)
			{
				if ($after->{$key}) { $audit_row{$key} = $after->{$key}; } else { delete $audit_row{$key}; }
			}
			next;
		}
		next unless $data =~ /^table gcalsync\.(event|calendar_list|calendar|change): (INSERT|UPDATE|DELETE): (.*)$/s;
		my ($tbl, $kind, $rest) = ($1, $2, $3);
		$rest =~ s/^.*new-tuple: //s;
		my ($cols) = audit_cols($rest);
		if ($tbl eq 'change') { push @$entries, $cols if $kind eq 'INSERT'; next; }
		my $key = join("\t", $tbl, map { defined $_ ? $cols->{$_} // '' : '' } @{ $audit_key_cols{$tbl} });
		if ($kind eq 'DELETE') { $after->{$key} = undef; next; }
		my $prev = exists $after->{$key} ? $after->{$key} : $audit_row{$key};
		for my $c (keys %$cols)
		{
			$cols->{$c} = $prev->{$c} if ref $cols->{$c};    # an unchanged TOASTed value
		}
		$after->{$key} = $cols;
	}
	eval { $node->safe_psql('postgres', "SELECT pg_replication_slot_advance('chaos_audit', '0/0'::pg_lsn + $audit_lsn)") } if $audit_lsn;
}

my ($feed_entries, $consumer_errors) = (0, '');
sub consume
{
	my ($ret, $out, $err) = ('', '', '');
	$ret = $node->psql('postgres', 'BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT chaos.consume(); COMMIT;',
		stdout => \$out, stderr => \$err);
	if ($ret == 0) { $feed_entries += $_ for grep { /^\d+$/ } split /\n/, $out; }
	elsif ($err =~ /went back|duplicate key/) { $consumer_errors .= $err; }
	audit();
}

# ---- the run -------------------------------------------------------------------------
my @log;
open my $logfh, '>', $log_path or die "cannot write $log_path: $!";
my @script;
if ($replay)
{
	open my $in, '<', $replay or die "cannot read $replay: $!";
	@script = map { $json->decode($_) } grep { /\S/ } <$in>;
	close $in;
	# the users and calendars the replayed log names must exist before their first use
}
my $t_end = time() + 60 * $minutes;
my $i = 0;
for (;;)
{
	my $op;
	if ($replay) { last if $i >= @script; $op = $script[$i]; }
	elsif (defined $max_ops) { last if $i >= $max_ops; $op = gen_op(); }
	else { last if time() > $t_end; $op = gen_op(); }
	$i++;
	print $logfh $json->encode($op), "\n";
	$logfh->flush;
	my $outcome = eval { run_op($op) } // do { my $e = $@; $e =~ s/\s+$//; "failed: $e" };
	push @log, "$i " . $json->encode($op) . " -> $outcome";
	consume() if $i % 3 == 0;
}
close $logfh;
note("chaos: $i operations, $n_faults faults, $n_crashes crashes: "
	. join(', ', map { "$_ $n_ops{$_}" } sort keys %n_ops));

# ---- quiesce ---------------------------------------------------------------------------
# Faults off, settings back, revoked tokens given back as an application would
# (gcal_refresh: an incremental sync). No gcal_resync: a full listing would
# repair what incremental sync lost before the comparison could see it. A
# calendar a 404 marked deleted while it is still listed must come back by
# itself (README: checked again after each poll interval and on gcal_sync_now).
$emu->control('DELETE', '/faults');
sql(q{ALTER SYSTEM RESET ALL; SELECT pg_reload_conf();});
for my $u (sort keys %revoked)
{
	$token{$u} = "chaos-refresh-$u-" . ++$token_gen{$u};
	$emu->control('POST', "/users/$u/refresh-tokens", { token => $token{$u} });
	push @log, "quiesce: restore_token $u";
}
my %restored = %revoked;
%revoked = ();
# Owners whose link is unknown (a call lost in a crash) are what the database says.
my %in_db = map { $_ => 1 } split /\n/, sql('SELECT owner FROM gcalsync.owner');
for my $u (grep { !defined $linked{$_} } @users) { $linked{$u} = $in_db{$u} ? 1 : 0; }
my @owners = linked_users();
is(join(',', sort keys %in_db), join(',', @owners), 'the linked owners are those the run linked');
for my $u (@owners)
{
	# An owner left revoked or in error (by a fault or a revoked token) needs the
	# application's gcal_refresh, as in production; so does one whose token was replaced.
	my $state = sql("SELECT state FROM gcal_status('$u')");
	if ($state =~ /revoked|error/ || $restored{$u})
	{
		sql("SELECT gcal_refresh('$u', " . q_lit($token{$u}) . ')');
		push @log, "quiesce: gcal_refresh $u (was $state)";
	}
}
sub sync_all
{
	my ($what, @who) = @_;
	my @unhealthy;
	for my $u (@who)
	{
		next if sql("SELECT gcal_sync_now('$u'); SELECT gcal_wait('$u', '180s')") eq "\nt";
		push @unhealthy, "$u: " . GcalTest::owner_state($node, $u);
	}
	is(join('; ', @unhealthy), '', $what);
}
sync_all('every linked owner is healthy and synced after the faults stop', @owners);
# every queued write reaches a final state
my @stuck = grep { my $s = sql("SELECT gcal_wait_write($_, '120s')"); $s eq '' } sort { $a <=> $b }
  map { split /\n/ } sql(q{SELECT id FROM gcalsync.outbox WHERE state = 'queued'});
is(join(',', @stuck), '', 'every write through the outbox reached a final state');
# one more round for everyone, so the mirror has what the writes did at Google
for my $u (@owners) { sql("SELECT gcal_sync_now('$u'); SELECT gcal_wait('$u', '120s')"); }
consume();

# ---- the checks ------------------------------------------------------------------------
my @fail;
sub check { my ($ok, $what, $detail) = @_; push @fail, $what unless ok($ok, $what); diag($detail) if !$ok && defined $detail; return $ok; }
sub rows { return [ grep { length } split /\n/, sql($_[0]) ]; }
sub sql_array { return q_lit('{' . join(',', map { my $v = $_; $v =~ s/(["\\])/\\$1/g; qq{"$v"} } @_) . '}') . '::text[]'; }
sub dq { my ($s) = @_; my $tag = '$j' . int(rand(1e9)) . '$'; return $tag . $s . $tag; }

# compare_mirror(phase) compares every linked owner's calendar_list, calendar
# and event rows with Google's full listings. Phase 1 (after incremental sync
# only): the single exemption is an event id Google deleted silently (%silent:
# no tombstone, so no incremental sync can learn of it) and no longer lists:
# its row may be absent, live as last synced, or a tombstone. Everything else
# must be equal: every row Google lists (tombstones included) verbatim, nothing
# else in the mirror. Phase 2 (after gcal_resync of the owners who see such
# ids): the same, and those rows are tombstones (or were never synced).
my %google_ids;    # owner => calendar => { event id => 1 }: what Google's full listing holds
my %live_cals;     # owner => [ calendar ids live in Google's calendar list ]
sub compare_mirror
{
	my ($phase) = @_;
	my $when = $phase == 1 ? 'without any resync' : 'after gcal_resync';
	for my $u (@owners)
	{
		my $access = $emu->token($token{$u});
		my $list = $emu->list($access, '/users/me/calendarList', { showDeleted => 'true', showHidden => 'true' });
		my $diff = rows(qq{
			WITH api AS (SELECT x->>'id' AS id, x FROM jsonb_array_elements(@{[ dq($json->encode($list)) ]}::jsonb) x)
			SELECT coalesce(a.id, l.calendar_id) || CASE WHEN a.id IS NULL THEN ': only in the mirror' WHEN l.calendar_id IS NULL THEN ': missing'
				ELSE ': data differs: mirror ' || l.data::text || ' api ' || a.x::text END
			FROM api a FULL JOIN (SELECT * FROM gcalsync.calendar_list WHERE owner = '$u') l ON l.calendar_id = a.id
			WHERE a.x IS DISTINCT FROM l.data ORDER BY 1});
		check(!@$diff, "$u: calendar_list equals Google's (" . scalar(@$list) . " entries; $when)", join("\n", @$diff));
		my ($n_ev, @ediff) = (0);
		$live_cals{$u} = [ map { $_->{id} } grep { !$_->{deleted} } @$list ];
		for my $cal (@{ $live_cals{$u} })
		{
			my $r = $emu->{http}->get($emu->url('/calendar/v3/calendars/' . enc($cal)), { headers => { Authorization => "Bearer $access" } });
			push @ediff, "calendars.get $cal: HTTP $r->{status}" unless $r->{success};
			push @ediff, @{ rows(qq{SELECT 'calendar $cal: mirror ' || coalesce((SELECT data::text FROM gcalsync.calendar WHERE owner = '$u' AND calendar_id = @{[ q_lit($cal) ]}), 'missing')
				WHERE (SELECT data FROM gcalsync.calendar WHERE owner = '$u' AND calendar_id = @{[ q_lit($cal) ]}) IS DISTINCT FROM @{[ dq($r->{content}) ]}::jsonb}) } if $r->{success};
			my $items = $emu->list($access, '/calendars/' . enc($cal) . '/events', { singleEvents => 'false', showDeleted => 'true', maxResults => 2500 });
			$n_ev += @$items;
			$google_ids{$u}{$cal} = { map { $_->{id} => 1 } @$items };
			my $exempt = $phase == 1 ? 'TRUE' : q{e.status = 'cancelled'};
			push @ediff, @{ rows(qq{
				WITH api AS (SELECT x->>'id' AS id, x FROM jsonb_array_elements(@{[ dq($json->encode($items)) ]}::jsonb) x)
				SELECT '$cal/' || coalesce(a.id, e.event_id) || CASE WHEN a.id IS NULL THEN ': in the mirror (' || e.status || '), not at Google'
					WHEN e.event_id IS NULL THEN ': missing'
					ELSE ': differs: mirror ' || e.data::text || ' api ' || a.x::text END
				FROM api a FULL JOIN (SELECT * FROM gcalsync.event WHERE owner = '$u' AND calendar_id = @{[ q_lit($cal) ]}) e ON e.event_id = a.id
				WHERE a.x IS DISTINCT FROM e.data
				  AND NOT (a.id IS NULL AND e.event_id = ANY (@{[ sql_array(sort keys %{ $silent{$cal} // {} }) ]}) AND $exempt)
				ORDER BY 1}) };
		}
		my %live = map { $_ => 1 } @{ $live_cals{$u} };
		push @ediff, @{ rows(qq{SELECT calendar_id || '/' || event_id || ': live event of a calendar not live at Google' FROM gcalsync.event
			WHERE owner = '$u' AND status <> 'cancelled' AND NOT calendar_id = ANY (@{[ sql_array(sort keys %live) ]}) ORDER BY 1}) };
		check(!@ediff, "$u: calendars and $n_ev events equal Google's ($when)", join("\n", @ediff[ 0 .. ($#ediff < 20 ? $#ediff : 20) ]));
	}

	# Typed columns say what data says.
	my $typed = rows(q{
		SELECT 'event ' || owner || '/' || calendar_id || '/' || event_id FROM gcalsync.event e WHERE
		   status IS DISTINCT FROM coalesce(data->>'status', 'confirmed')
		OR summary IS DISTINCT FROM data->>'summary' OR description IS DISTINCT FROM data->>'description'
		OR location IS DISTINCT FROM data->>'location'
		OR start_at IS DISTINCT FROM chaos.ts(data->'start'->>'dateTime') OR end_at IS DISTINCT FROM chaos.ts(data->'end'->>'dateTime')
		OR start_date IS DISTINCT FROM chaos.d(data->'start'->>'date') OR end_date IS DISTINCT FROM chaos.d(data->'end'->>'date')
		OR time_zone IS DISTINCT FROM data->'start'->>'timeZone'
		OR recurrence IS DISTINCT FROM (SELECT array_agg(r) FROM jsonb_array_elements_text(data->'recurrence') r)
		OR recurring_event_id IS DISTINCT FROM data->>'recurringEventId'
		OR original_start_at IS DISTINCT FROM chaos.ts(data->'originalStartTime'->>'dateTime')
		OR original_start_date IS DISTINCT FROM chaos.d(data->'originalStartTime'->>'date')
		OR ical_uid IS DISTINCT FROM data->>'iCalUID' OR sequence IS DISTINCT FROM (data->>'sequence')::integer
		OR (status <> 'cancelled' AND (event_type IS DISTINCT FROM coalesce(data->>'eventType', 'default')
			OR transparency IS DISTINCT FROM coalesce(data->>'transparency', 'opaque')
			OR visibility IS DISTINCT FROM coalesce(data->>'visibility', 'default')))
		OR organizer_email IS DISTINCT FROM data->'organizer'->>'email' OR creator_email IS DISTINCT FROM data->'creator'->>'email'
		OR html_link IS DISTINCT FROM data->>'htmlLink'
		OR created IS DISTINCT FROM chaos.ts(data->>'created') OR updated IS DISTINCT FROM chaos.ts(data->>'updated')
		OR self_response IS DISTINCT FROM (SELECT a->>'responseStatus' FROM jsonb_array_elements(coalesce(data->'attendees', '[]')) a WHERE (a->>'self')::boolean LIMIT 1)
		UNION ALL
		SELECT 'calendar_list ' || owner || '/' || calendar_id FROM gcalsync.calendar_list WHERE NOT deleted AND (
		   summary IS DISTINCT FROM data->>'summary' OR summary_override IS DISTINCT FROM data->>'summaryOverride'
		OR description IS DISTINCT FROM data->>'description' OR location IS DISTINCT FROM data->>'location'
		OR time_zone IS DISTINCT FROM data->>'timeZone' OR access_role IS DISTINCT FROM data->>'accessRole'
		OR is_primary IS DISTINCT FROM coalesce((data->>'primary')::boolean, false)
		OR hidden IS DISTINCT FROM coalesce((data->>'hidden')::boolean, false)
		OR color_id IS DISTINCT FROM data->>'colorId' OR background_color IS DISTINCT FROM data->>'backgroundColor'
		OR foreground_color IS DISTINCT FROM data->>'foregroundColor')
		UNION ALL
		SELECT 'calendar_list ' || owner || '/' || calendar_id || ' deleted flag' FROM gcalsync.calendar_list
		WHERE deleted IS DISTINCT FROM coalesce((data->>'deleted')::boolean, false)
		UNION ALL
		SELECT 'calendar ' || owner || '/' || calendar_id FROM gcalsync.calendar WHERE
		   summary IS DISTINCT FROM data->>'summary' OR description IS DISTINCT FROM data->>'description'
		OR location IS DISTINCT FROM data->>'location' OR time_zone IS DISTINCT FROM data->>'timeZone'
		ORDER BY 1});
	check(!@$typed, "every typed column says what data says ($when)", join("\n", @$typed[ 0 .. ($#$typed < 20 ? $#$typed : 20) ]));
}

# First without any resync: what incremental sync alone made of the run.
compare_mirror(1);
# Then the owners who see a silently deleted event get what only a full
# listing can tell them (gcal_resync, as an application would), and the
# whole comparison runs again, with no exemption but those ids' tombstones.
my @resync = grep { my $u = $_; grep { %{ $silent{$_} // {} } } @{ $live_cals{$u} } } @owners;
note('chaos: ' . scalar(map { keys %$_ } values %silent) . ' event ids deleted silently; gcal_resync of ' . (@resync ? join(', ', @resync) : 'no owner'));
if (@resync)
{
	sql("SELECT gcal_resync('$_')") for @resync;
	sync_all('the owners who see silently deleted events are synced after gcal_resync', @resync);
	consume();
	compare_mirror(2);
}

# Nothing of unlinked owners.
my $owners_arr = q_lit('{' . join(',', @owners) . '}') . '::text[]';
my $left = rows(qq{
	SELECT t || ': ' || owner FROM (
		SELECT 'calendar_sync' t, owner FROM gcalsync.calendar_sync UNION ALL SELECT 'sync_token', owner FROM gcalsync.sync_token
		UNION ALL SELECT 'channel', owner FROM gcalsync.channel UNION ALL SELECT 'calendar_list', owner FROM gcalsync.calendar_list
		UNION ALL SELECT 'calendar', owner FROM gcalsync.calendar UNION ALL SELECT 'event', owner FROM gcalsync.event
		-- an unlinked owner's writes stay, final and without their payload, for gcal_wait_write (README)
		UNION ALL SELECT 'outbox', owner FROM gcalsync.outbox WHERE state = 'queued' OR payload IS NOT NULL
		UNION ALL SELECT 'change', owner FROM gcalsync.change WHERE op <> 'unlink') x
	WHERE NOT owner = ANY ($owners_arr) GROUP BY 1 ORDER BY 1});
check(!@$left, 'nothing is left of unlinked owners (their writes: final, without payload)', join("\n", @$left));

# The feed consumer's copy equals the mirror.
check($consumer_errors eq '', 'the feed never went back and never gave an entry twice', $consumer_errors);
my $replica = rows(q{
	SELECT coalesce(m.owner, r.owner) || ' ' || coalesce(m.tbl, r.tbl) || ' ' || coalesce(m.calendar_id, r.calendar_id) || '/' || coalesce(m.id, r.id)
		|| CASE WHEN r.id IS NULL THEN ': never announced' WHEN m.id IS NULL THEN ': gone without an announcement' ELSE ': changed without an announcement' END
	FROM chaos.mirror m FULL JOIN chaos.replica r USING (owner, tbl, calendar_id, id)
	WHERE m.h IS DISTINCT FROM r.h ORDER BY 1});
check(!@$replica, "replaying the change feed ($feed_entries entries) rebuilds the mirror",
	join("\n", @$replica[ 0 .. ($#$replica < 20 ? $#$replica : 20) ]));
# The feed audit: every state of every row announced once, by the transaction that made it.
audit();
my $decoded = join("\n", sort map { s/\t/ /gr } grep { $audit_row{$_} } keys %audit_row);
my $stored = sql(q{SELECT string_agg(k, E'\n' ORDER BY k COLLATE "C") FROM (
	SELECT 'event ' || owner || ' ' || calendar_id || ' ' || event_id AS k FROM gcalsync.event
	UNION ALL SELECT 'calendar_list ' || owner || '  ' || calendar_id FROM gcalsync.calendar_list
	UNION ALL SELECT 'calendar ' || owner || '  ' || calendar_id FROM gcalsync.calendar) x});
check($decoded eq join("\n", sort split /\n/, $stored), 'the feed audit decoded every row the mirror holds');
check(!@audit_errors, "every change of every row is in the feed once, from its own transaction, in commit order ($audit_n{xacts} transactions, "
	. "$audit_n{changes} row changes, $audit_n{entries} entries naming $audit_n{announced} rows, $audit_n{announced_unchanged} of them rewritten unchanged)",
	join("\n", @audit_errors[ 0 .. ($#audit_errors < 20 ? $#audit_errors : 20) ]));

# Writes through the outbox: final, and done ones at Google exactly once.
my (@wdiff, %final);
for my $w (@{ rows(q{SELECT id || '|' || owner || '|' || event_id || '|' || op || '|' || state || '|' || coalesce(last_error, '') FROM gcalsync.outbox ORDER BY id}) })
{
	my ($id, $owner, $eid, $op, $state, $err) = split /\|/, $w, 6;
	push @wdiff, "write $id ($op $eid): $state" if $state eq 'queued';
	push @wdiff, "write $id ($op $eid): failed without an error" if $state eq 'failed' && $err eq '';
	if ($state eq 'done' && $op =~ /insert|update/ && $writes{$id})
	{
		$final{$eid}{summary} = $writes{$id}{summary};
	}
	$final{$eid}{maybe} = {} if $state eq 'done';
	# A write that did not end done saying Google may have applied it may or may
	# not be at Google (README, Writing to Google): a permanent error answered to
	# a later copy of a write whose earlier copy's answer was lost (seed 303 of
	# the stricter check), or gcal_unlink of a sent write (seeds 302, 303 of the
	# second long round). After the last done write, Google may show its summary.
	$final{$eid}{maybe}{ $writes{$id}{summary} } = 1
	  if $state ne 'done' && $op =~ /insert|update/ && $err =~ /may have applied it/ && $writes{$id};
	$final{$eid}{deleted} = 1 if $state eq 'done' && $op eq 'delete';
	# "not sent" must be true: Google must not have an insert that failed so (seed 208)
	$final{$eid}{unsent} = 1 if $state eq 'failed' && $op eq 'insert' && $err =~ /was not sent/;
	$final{$eid}{owner} = $owner;
}
for my $eid (sort keys %final)
{
	my $f = $final{$eid};
	if ($f->{unsent} && !defined $f->{summary})
	{
		my $g = eval { $emu->control('GET', '/calendars/' . enc($email{ $f->{owner} }) . "/events/$eid")->{api} };
		push @wdiff, "$eid: failed as not sent, but Google has it" if $g;
		next;
	}
	next unless defined $f->{summary} || $f->{deleted};
	my $cal = $email{ $f->{owner} };
	my $g = eval { $emu->control('GET', '/calendars/' . enc($cal) . "/events/$eid")->{api} };
	if (!$g) { push @wdiff, "$eid: done, but not at Google"; next; }
	if ($f->{deleted}) { push @wdiff, "$eid: deleted, but live at Google" if ($g->{status} // '') ne 'cancelled'; next; }
	push @wdiff, "$eid: Google has '" . ($g->{summary} // '') . "', the last write done says '$f->{summary}'"
	  if ($g->{status} // '') ne 'cancelled' && ($g->{summary} // '') ne $f->{summary} && !$f->{maybe}{ $g->{summary} // '' };
	my $same = grep { ($_->{api}{summary} // '') eq "app $eid" } @{ $emu->control('GET', '/calendars/' . enc($cal) . '/events') };
	push @wdiff, "$eid: inserted $same times at Google" if $same > 1;
}
check(!@wdiff, 'every write through the outbox is final, and each done one is at Google exactly once (' . scalar(keys %writes) . ' writes)',
	join("\n", @wdiff));

# gcal_instances and gcal_busy against the emulator's own expansion, for every
# live calendar of every owner, in two windows: every event the run makes
# (both DST changes), and a short one with odd bounds (instances cut by it;
# Europe's DST change inside).
my @windows = ([ '2026-02-01T00:00:00Z', '2026-06-01T00:00:00Z' ], [ '2026-03-28T10:07:00Z', '2026-04-03T15:52:00Z' ]);
my (@idiff, $n_inst, @bdiff, $n_busy);
for my $u (@owners)
{
	my $access = $emu->token($token{$u});
	my @cals = @{ rows(qq{SELECT calendar_id FROM gcalsync.calendar_list WHERE owner = '$u' AND NOT deleted ORDER BY 1}) };
	for my $w (@windows)
	{
		# the mirror's side for every calendar and both showDeleted in one query
		my %db;
		for my $line (@{ rows(qq{SELECT d::int || '\t' || calendar_id || '\t' || event_id || ' ' || status || ' ' ||
			CASE WHEN status = 'cancelled' AND recurring_event_id IS NOT NULL
			THEN coalesce(original_start_date::text, extract(epoch FROM original_start_at)::bigint::text, '')
			ELSE coalesce(start_date::text, extract(epoch FROM start_at)::bigint::text, '') || ' ' ||
			     coalesce(end_date::text, extract(epoch FROM end_at)::bigint::text, '') END
			FROM (VALUES (false), (true)) AS v(d), LATERAL gcal_instances('$u', '$w->[0]', '$w->[1]', NULL, d)}) })
		{
			my ($d, $cal, $text) = split /\t/, $line, 3;
			push @{ $db{$d}{$cal} }, $text;
		}
		for my $cal (@cals)
		{
			for my $deleted (0, 1)
			{
				my $items = $emu->list($access, '/calendars/' . enc($cal) . '/events', { singleEvents => 'true', orderBy => 'startTime',
					maxResults => 2500, timeMin => $w->[0], timeMax => $w->[1], showDeleted => $deleted ? 'true' : 'false' });
				my $when = sub { my ($t) = @_; return '' unless $t; return $t->{date} // GcalTest::rfc3339_epoch($t->{dateTime}); };
				my @api = map { my $st = $_->{status} // 'confirmed';
					$st eq 'cancelled' && $_->{recurringEventId} ? "$_->{id} $st " . $when->($_->{originalStartTime})
					  : "$_->{id} $st " . $when->($_->{start}) . ' ' . $when->($_->{end}) } @$items;
				# The tombstone of an event Google deleted silently (the resync's
				# sweep made it) stays in the mirror; Google lists nothing for it.
				my $gone = $silent{$cal} // {};
				my @db = grep { my ($id, $st) = split / /; $st ne 'cancelled' || !($gone->{$id} || $gone->{ $id =~ s/_[^_]*$//r }) }
				  @{ $db{$deleted}{$cal} // [] };
				$n_inst += @api;
				push @idiff, "$u $cal [$w->[0], $w->[1]) showDeleted=$deleted:\n  emulator: @api\n  mirror:   @db" if "@api" ne "@db";
			}
		}
		# freebusy.query of each calendar (at most 50 a request) against gcal_busy of that calendar alone
		my %db_busy;
		for my $line (@{ rows(qq{SELECT c || '\t' || extract(epoch FROM lower(b.busy))::bigint || '-' || extract(epoch FROM upper(b.busy))::bigint
			FROM unnest(@{[ sql_array(@cals) ]}) WITH ORDINALITY AS x(c, n), LATERAL gcal_busy(ARRAY['$u'], '$w->[0]', '$w->[1]', ARRAY[c]) b
			ORDER BY n, lower(b.busy)}) })
		{
			my ($cal, $range) = split /\t/, $line, 2;
			push @{ $db_busy{$cal} }, $range;
		}
		for (my $k = 0; $k < @cals; $k += 50)
		{
			my @part = @cals[ $k .. ($k + 49 < $#cals ? $k + 49 : $#cals) ];
			my $fb = $emu->freebusy($access, { timeMin => $w->[0], timeMax => $w->[1], items => [ map { { id => $_ } } @part ] });
			for my $cal (@part)
			{
				my $c = $fb->{calendars}{$cal} // {};
				if ($c->{errors}) { push @bdiff, "$u $cal: freebusy.query answers " . $json->encode($c->{errors}); next; }
				my $api = join ' ', map { GcalTest::rfc3339_epoch($_->{start}) . '-' . GcalTest::rfc3339_epoch($_->{end}) } @{ $c->{busy} // [] };
				my $db = join ' ', @{ $db_busy{$cal} // [] };
				$n_busy += @{ $c->{busy} // [] };
				push @bdiff, "$u $cal [$w->[0], $w->[1]):\n  freebusy.query: $api\n  gcal_busy:      $db" if $api ne $db;
			}
		}
	}
}
check(!@idiff, "gcal_instances equals the emulator's singleEvents=true listings ($n_inst instances)", join("\n", @idiff[ 0 .. ($#idiff < 5 ? $#idiff : 5) ]));
check(!@bdiff, "gcal_busy equals freebusy.query for every calendar ($n_busy busy ranges)", join("\n", @bdiff[ 0 .. ($#bdiff < 5 ? $#bdiff : 5) ]));

# The audit's own check, after every other one: four faults made by hand that
# it must report (so a pass above is not the audit seeing nothing).
{
	@audit_errors = ();
	audit();    # whatever the worker committed meanwhile
	my @late = @audit_errors;
	@audit_errors = ();
	my ($o, $c, $e) = split /\|/, sql(q{SELECT owner || '|' || calendar_id || '|' || event_id FROM gcalsync.event WHERE status <> 'cancelled' ORDER BY owner, calendar_id, event_id LIMIT 1});
	if (defined $e)
	{
		my $where = "owner = '$o' AND calendar_id = @{[ q_lit($c) ]} AND event_id = @{[ q_lit($e) ]}";
		my $entry = sub { return "INSERT INTO gcalsync.change (owner, table_name, calendar_id, op, ids) VALUES ('$o', 'event', @{[ q_lit($c) ]}, '$_[0]', ARRAY[@{[ q_lit($_[1]) ]}]);" };
		sql("UPDATE gcalsync.event SET summary = 'unannounced' WHERE $where");
		sql($entry->('upsert', 'no such row'));
		sql("BEGIN; UPDATE gcalsync.event SET summary = 'twice' WHERE $where; " . $entry->('upsert', $e) . $entry->('upsert', $e) . 'COMMIT;');
		sql("BEGIN; UPDATE gcalsync.event SET summary = 'deleted?' WHERE $where; " . $entry->('delete', $e) . 'COMMIT;');
		audit();
		my $k = "\Qevent\t$o\t$c\t\E";
		my @want = ("${k}\Q$e\E changed without an entry", "names ${k}no such row, which the transaction did not write",
			"${k}\Q$e\E named twice", "announces ${k}\Q$e\E as delete, but the row is live");
		my @missed = grep { my $w = $_; !grep { /$w/ } @audit_errors } @want;
		check(!@missed, 'the feed audit reports a change without an entry, an entry without a write, a row named twice and a wrong op',
			"missed: @missed\nreported:\n" . join("\n", @audit_errors));
	}
	check(!@late, 'the feed audit finds nothing in what the worker committed after the checks', join("\n", @late));
}

note("chaos: seed $seed, $i operations, $n_faults faults, $n_crashes crashes, " . scalar(@owners) . " owners linked at the end, $feed_entries feed entries read");
if (@fail)
{
	diag("chaos FAILED with seed $seed; the operation log is $log_path (replay: CHAOS_REPLAY=$log_path; shrink: test/chaos/reduce $log_path). The operations and their outcomes:");
	diag(join("\n", @log > 400 ? ('...', @log[ -400 .. -1 ]) : @log));
}

$node->stop;
$emu->stop;
done_testing();
