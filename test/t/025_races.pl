# Resilience (issue 5): races between the SQL API and the worker's requests
# in flight. Each request is held back by the emulator (a delay fault) so the
# SQL call lands while it is in flight; the delay then ends by itself.
#
# Expected outcomes (what a user of the SQL API relies on):
# a. gcal_unlink while a page of the owner is in flight returns at once (it
#    does not wait for Google), and when the page comes back nothing of the
#    owner is written again: every table stays empty for it.
# b. gcal_link right after gcal_unlink (in two transactions, or in one) while
#    a page of the old link is in flight: the old page is dropped, a clean
#    new full sync runs (no sync token used), and the mirror equals Google.
# c. gcal_resync while an incremental sync is in flight: the listing in
#    flight must not undo the resync. After gcal_wait, a full listing that
#    began after the gcal_resync call has run, so an event Google deleted
#    silently before the call is marked cancelled.
# d. gcal_refresh while the worker is renewing the access token with the old
#    refresh token (which Google has revoked meanwhile): the answer to the
#    old token (invalid_grant) must not undo the refresh. The owner ends
#    active, synced with the new token.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'races');
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql("SELECT gcal_link('$_', 'demo-refresh-$_')") for qw(alice bob carol);
is(sql("SELECT gcal_wait('$_', '60s')"), 't', "$_: first full sync done") for qw(alice bob carol);
my $pid = GcalTest::worker_pid($node);

# hold(owner, path, what) delays the owner's next request on path by 3 s.
sub hold
{
	my ($owner, $path) = @_;
	return $emu->control('POST', '/faults', { user => $owner, path => $path, action => 'pass', delay => 3, count => 1 });
}

# released(fault) waits until the held request was answered and the worker
# has finished the run that handled the answer (its cycle counter moved).
sub released
{
	my ($f) = @_;
	my $cycles = sql('SELECT cycles FROM gcalsync.worker_status()');
	my $entry = GcalTest::wait_until(sub {
		my ($e) = grep { ($_->{fault} // 0) == $f->{id} } @{ $emu->log(kind => 'request') };
		return $e;
	}, 30, 'the held request to be answered');
	GcalTest::wait_until(sub { sql('SELECT cycles FROM gcalsync.worker_status()') > $cycles }, 30, 'the worker to finish its run');
	return $entry;
}

sub rows_of
{
	my ($owner) = @_;
	return sql(join ' + ', 'SELECT 0', map { "(SELECT count(*) FROM gcalsync.$_ WHERE owner = '$owner')" }
		qw(event calendar calendar_list sync_token calendar_sync channel owner));
}

# ---- a. gcal_unlink while a page is in flight ----------------------------------------------
{
	my $f = hold('alice', 'alice@example.com/events$');
	is(sql(q{SELECT gcal_resync('alice')}), '1', 'a: full resync of alice requested');
	GcalTest::wait_fault_hit($emu, $f);
	my $t0 = time();
	is(sql(q{SELECT gcal_unlink('alice')}), 't', 'a: gcal_unlink during the page');
	my $took = time() - $t0;
	cmp_ok($took, '<', 2, sprintf('a: gcal_unlink did not wait for the page (%.2f s)', $took));
	is(rows_of('alice'), '0', 'a: every row of alice deleted');
	my $entry = released($f);
	ok($entry && $entry->{status} == 200 && $entry->{items} > 0, 'a: the page came back with ' . ($entry->{items} // 0) . ' events');
	is(rows_of('alice'), '0', 'a: nothing of alice resurrected after the page returned');
	is(sql(q{SELECT count(*) FROM gcalsync.status WHERE owner = 'alice'}), '0', 'a: alice not in gcalsync.status');
}

# ---- b. gcal_link right after gcal_unlink ------------------------------------------------------
for my $variant ('two transactions', 'one transaction')
{
	$emu->control('PATCH', '/calendars/bob%40example.com/events/g6working0location00000000', { summary => "relinked, $variant" });
	my $f = hold('bob', 'bob@example.com/events$');
	sql(q{SELECT gcal_sync_now('bob')});
	GcalTest::wait_fault_hit($emu, $f);
	my $seq = GcalTest::log_seq($emu);
	if ($variant eq 'two transactions')
	{
		sql(q{SELECT gcal_unlink('bob')});
		sql(q{SELECT gcal_link('bob', 'demo-refresh-bob')});
	}
	else
	{
		sql(q{BEGIN; SELECT gcal_unlink('bob'); SELECT gcal_link('bob', 'demo-refresh-bob'); COMMIT;});
	}
	is(sql(q{SELECT state FROM gcal_status('bob')}), 'pending', "b ($variant): bob pending after the relink");
	is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', "b ($variant): the new link's sync is done");
	my @lists = grep { $_->{api} =~ /\.list$/ && ($_->{fault} // 0) != $f->{id} } @{ GcalTest::api_requests($emu, $seq, 'bob') };
	ok(@lists && !grep({ exists $_->{query}{syncToken} } @lists), "b ($variant): a full sync, no sync token used (" . scalar(@lists) . ' listings)');
	is(sql(q{SELECT summary FROM gcalsync.event WHERE owner = 'bob' AND event_id = 'g6working0location00000000'}), "relinked, $variant",
		"b ($variant): current data");
	is(GcalTest::owner_state($node, 'bob'), 'active|', "b ($variant): bob active");
	GcalTest::mirror_matches($node, $emu, 'bob', 'demo-refresh-bob');
}

# ---- c. gcal_resync while an incremental sync is in flight --------------------------------
{
	my $f = hold('carol', 'carol@example.com/events$');
	sql(q{SELECT gcal_sync_now('carol')});
	GcalTest::wait_fault_hit($emu, $f);
	# Google deletes an event without telling incremental listings, then the
	# application asks for a full resync.
	my $gone = $emu->control('GET', '/calendars/carol%40example.com/events')->[0]{event}{id};
	$emu->control('DELETE', "/calendars/carol%40example.com/events/$gone?silent=true");
	my $seq = GcalTest::log_seq($emu);
	is(sql(q{SELECT gcal_resync('carol')}), '1', 'c: gcal_resync during the incremental sync');
	is(sql(q{SELECT gcal_wait('carol', '60s')}), 't', 'c: gcal_wait true');
	{
		# The page in flight is dropped (gcal_resync moved the owner's resync mark),
		# so the resync's full listing is not undone by its old sync token.
		my @after = grep { $_->{api} eq 'events.list' && $_->{path} =~ m{/carol\@example\.com/events$} && ($_->{fault} // 0) != $f->{id} }
		  @{ GcalTest::api_requests($emu, $seq, 'carol') };
		ok(grep({ !exists $_->{query}{syncToken} } @after), 'c: carol@example.com listed in full after gcal_resync ('
			. join(',', map { exists $_->{query}{syncToken} ? 'incremental' : 'full' } @after) . ')');
		is(sql("SELECT status FROM gcalsync.event WHERE owner = 'carol' AND event_id = '$gone'"), 'cancelled',
			'c: the event deleted before gcal_resync is swept by a full listing');
	}
	# Whatever happened, another resync repairs it.
	sql(q{SELECT gcal_resync('carol')});
	is(sql(q{SELECT gcal_wait('carol', '60s')}), 't', 'c: a second resync');
	GcalTest::mirror_matches($node, $emu, 'carol', 'demo-refresh-carol');
}

# ---- d. gcal_refresh during a token refresh -------------------------------------------------
{
	$emu->control('POST', '/access-tokens/expire', { user => 'bob' });
	my $f = hold('bob', '^/token$');
	sql(q{SELECT gcal_sync_now('bob')});
	GcalTest::wait_fault_hit($emu, $f);
	# The user revoked access and granted it again: the old refresh token is
	# dead, the application has a new one.
	$emu->control('POST', '/refresh-tokens/revoke', { token => 'demo-refresh-bob' });
	$emu->control('POST', '/users/bob/refresh-tokens', { token => 'demo-refresh-bob-2' });
	$emu->control('PATCH', '/calendars/bob%40example.com/events/g6working0location00000000', { summary => 'after the refresh' });
	sql(q{SELECT gcal_refresh('bob', 'demo-refresh-bob-2')});
	my $entry = released($f);
	is($entry && $entry->{status}, 400, 'd: the held token request (old token) was answered invalid_grant');
	{
		# gcal_refresh starts a new generation: the old token's invalid_grant is
		# dropped, not recorded over the refreshed owner.
		is(sql(q{SELECT gcal_wait('bob', '30s')}), 't', 'd: gcal_wait true after gcal_refresh');
		is(GcalTest::owner_state($node, 'bob'), 'active|', 'd: bob active');
	}
	if (sql(q{SELECT state FROM gcal_status('bob')}) ne 'active')
	{
		diag('bob is ' . GcalTest::owner_state($node, 'bob') . ': refreshing again');
		sql(q{SELECT gcal_refresh('bob', 'demo-refresh-bob-2')});
	}
	is(sql(q{SELECT gcal_wait('bob', '60s')}), 't', 'd: bob syncs with the new token');
	is(sql(q{SELECT summary FROM gcalsync.event WHERE owner = 'bob' AND event_id = 'g6working0location00000000'}), 'after the refresh',
		'd: current data');
	GcalTest::mirror_matches($node, $emu, 'bob', 'demo-refresh-bob-2');
}

is(GcalTest::worker_pid($node), $pid, 'the worker never restarted');
GcalTest::no_secrets_in_log($node);
$node->stop;
$emu->stop;
done_testing();
