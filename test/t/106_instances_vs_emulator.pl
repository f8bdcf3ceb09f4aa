# Issue 14: gcal_instances equals "Google's" own expansion for whole accounts.
#
# The worker syncs the demo accounts and rita, whose calendars the emulator's
# `recurrence` data set fills with generated series (DST zones, every-N-weeks,
# ordinals, BYSETPOS, COUNT/UNTIL forms, EXDATE/RDATE forms, moved, modified
# and cancelled exceptions, split series, all-day series) and the pitfall
# suite. Then, for every calendar of every owner and several windows, with and
# without showDeleted, gcal_instances must return exactly what the emulator's
# events.list(singleEvents=true, orderBy=startTime) returns: the same ids, in
# the same order, with the same status, start and end (a cancelled instance
# is Google's stub: it carries only its original start, so gcal_instances
# gives it no start_at/end_at of its own and its original start is compared).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;

my $emu = GcalTest::start_emulator(data => 'recurrence');
my $node = GcalTest::node($emu, 'instancesemu', q{
gcalsync.poll_interval = 1
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

my %refresh = %{ GcalTest::link_recurrence_accounts($node) };

my @windows = (
	[ '2025-03-01T00:00:00Z', '2025-04-15T00:00:00Z' ],    # US and EU spring DST
	[ '2025-10-20T00:00:00Z', '2025-11-10T00:00:00Z' ],    # autumn DST
	[ '2025-04-01T13:00:00Z', '2025-04-01T16:00:00Z' ],    # three hours
	[ '2024-06-01T00:00:00Z', '2026-06-01T00:00:00Z' ],    # two years
);


sub when
{
	my ($edt) = @_;
	return '' unless $edt;
	return $edt->{date} // GcalTest::rfc3339_epoch($edt->{dateTime});
}

my ($cases, $instances, @diffs) = (0, 0);
for my $owner (sort keys %refresh)
{
	my $access = $emu->token($refresh{$owner});
	my @cals = split /\n/, sql(qq{SELECT calendar_id FROM gcalsync.calendar_list
		WHERE owner = '$owner' AND NOT deleted ORDER BY calendar_id});
	for my $cal (@cals)
	{
		(my $path_id = $cal) =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord($1))/ge;
		for my $w (@windows)
		{
			for my $deleted (0, 1)
			{
				my $items = $emu->list($access, "/calendars/$path_id/events", {
					singleEvents => 'true', orderBy => 'startTime', maxResults => 2500,
					timeMin => $w->[0], timeMax => $w->[1],
					showDeleted => $deleted ? 'true' : 'false' });
				my @api = map {
					my $st = $_->{status} // 'confirmed';
					$st eq 'cancelled' && $_->{recurringEventId}
					  ? "$_->{id} $st " . when($_->{originalStartTime})
					  : "$_->{id} $st " . when($_->{start}) . ' ' . when($_->{end})
				} @$items;
				my @db = split /\n/, sql(qq{
					SELECT event_id || ' ' || status || ' ' ||
					       CASE WHEN status = 'cancelled' AND recurring_event_id IS NOT NULL
					       THEN coalesce(original_start_date::text, extract(epoch FROM original_start_at)::bigint::text, '')
					       ELSE coalesce(start_date::text, extract(epoch FROM start_at)::bigint::text, '') || ' ' ||
					            coalesce(end_date::text, extract(epoch FROM end_at)::bigint::text, '') END
					FROM gcal_instances('$owner', '$w->[0]', '$w->[1]', ARRAY[\$c\$$cal\$c\$],
					                    @{[ $deleted ? 'true' : 'false' ]})});
				$cases++;
				$instances += @api;
				my $label = "$owner $cal [$w->[0], $w->[1]) showDeleted=$deleted";
				next if join("\n", @api) eq join("\n", @db);
				my %in_db = map { $_ => 1 } @db;
				my %in_api = map { $_ => 1 } @api;
				my @only_api = grep { !$in_db{$_} } @api;
				my @only_db = grep { !$in_api{$_} } @db;
				push @diffs, "$label:\n"
				  . join('', map { "  only in the emulator:     $_\n" } @only_api[0 .. ($#only_api < 9 ? $#only_api : 9)])
				  . join('', map { "  only in gcal_instances:   $_\n" } @only_db[0 .. ($#only_db < 9 ? $#only_db : 9)])
				  . (!@only_api && !@only_db ? "  same instances, another order\n" : '');
			}
		}
	}
}
ok($cases >= 100, "compared $cases (owner, calendar, window, showDeleted) listings");
ok($instances > 2000, "holding $instances instances");
is(scalar(@diffs), 0, 'gcal_instances equals the emulator\'s singleEvents=true listing for every one')
  or diag(join('', @diffs[0 .. ($#diffs < 14 ? $#diffs : 14)]));

$node->stop;
$emu->stop;
done_testing();
