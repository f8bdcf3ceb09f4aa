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
# loopback port and returns a handle.
sub start_emulator
{
	my (%opt) = @_;
	my $data = $opt{data} // 'demo';
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my $port_file = "$dir/port";
	my @cmd = ('/usr/bin/python3', "$root/test/emulator/gcal_emulator.py", '--data', $data,
		'--port-file', $port_file, @{ $opt{args} // [] });
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
	my $self = bless { handle => $h, port => $port, base => "http://127.0.0.1:$port",
		http => HTTP::Tiny->new(timeout => 60, keep_alive => 1) }, 'GcalTest::Emulator';
	return $self;
}

# node(emulator, name, extra_conf) creates and starts a PostgreSQL node whose
# worker syncs from the emulator.
sub node
{
	my ($emu, $name, $extra) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'gcalsync'
gcalsync.database_name = 'postgres'
gcalsync.google_api_url = '$emu->{base}/calendar/v3'
gcalsync.google_token_url = '$emu->{base}/token'
restart_after_crash = on
} . ($extra // ''));
	$node->start;
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
