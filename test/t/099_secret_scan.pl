# The last TAP test: scan every server log the suite produced for every kind
# of secret it used — refresh tokens (demo-refresh-*, gen-refresh-*, inj-refresh-*),
# the OAuth client secret, access tokens (the emulator issues ya29.emu-*) and
# key-file keys. Lines in which PostgreSQL itself echoes the tests' own SQL
# (log_statement, STATEMENT:, bind parameters) are not gcalsync's doing and
# are left out; SECURITY.md explains how applications avoid them.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;

my $dir = "$PostgreSQL::Test::Utils::tmp_check/log";
my @logs = grep { !/regress_log_/ } glob("$dir/*.log");
cmp_ok(scalar(@logs), '>', 0, 'server logs of the other TAP tests are there to scan');

my $secret = qr/demo-refresh-[a-z0-9-]+|gen-refresh-user\d+|inj-refresh-[^\s'"]*|demo-client-secret|ya29\.[A-Za-z0-9_.-]+|\b[0-9a-f]{64}\b/;
my @hits;
for my $log (@logs)
{
	my $continuation = 0;
	for my $line (split /\n/, slurp_file($log))
	{
		if ($line =~ /^\t/) { next if $continuation; }
		$continuation = $line =~ / statement: | STATEMENT: | parameters: /;
		next if $continuation;
		push @hits, "$log: $line" if $line =~ $secret;
	}
}
is(scalar(@hits), 0, 'no secret in any server log') or diag join("\n", @hits[0 .. ($#hits < 9 ? $#hits : 9)]);
done_testing();
