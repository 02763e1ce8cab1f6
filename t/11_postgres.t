# The same memory code against a real PostgreSQL (the several-servers
# setup): a throwaway cluster in a temp dir and an httpd of its own.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;

my ($pgbin) = sort { $b cmp $a } glob '/usr/lib/postgresql/*/bin';
my $driver = '/usr/lib/x86_64-linux-gnu/apr-util-1/apr_dbd_pgsql.so';
plan tests => 8, need
    { 'PostgreSQL server binaries (apt-get install postgresql)' => sub { $pgbin && -x "$pgbin/initdb" } },
    { 'the pgsql apr_dbd driver (apt-get install libaprutil1-dbd-pgsql)' => sub { -e $driver } },
    { 'a postgres system user to run the cluster' => sub { defined getpwnam('postgres') } };

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die $!;
    my $p = $s->sockport;
    close $s;
    return $p;
}
sub as_postgres { system('runuser', '-u', 'postgres', '--', @_) == 0 }

my $top = Apache::Test::vars('top_dir');
my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $data = "$dir/pgdata";
mkdir $data;
chown scalar(getpwnam('postgres')), -1, $data;
my $pgport = free_port();
my ($pg_up, $httpd_conf);

END {
    system("apache2 -f '$httpd_conf' -k stop >/dev/null 2>&1") if $httpd_conf;
    as_postgres("$pgbin/pg_ctl", '-D', $data, '-m', 'immediate', 'stop') if $pg_up;
}

ok as_postgres("$pgbin/initdb", '-D', $data, '-A', 'trust', '-U', 'postgres',
               '--no-sync') || 0, 'initdb';
$pg_up = as_postgres("$pgbin/pg_ctl", '-D', $data, '-w', '-l', "$data/log",
                     '-o', "-p $pgport -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
                     'start');
ok $pg_up, "PostgreSQL started on port $pgport";
ok as_postgres("$pgbin/createdb", '-h', '127.0.0.1', '-p', $pgport, 'assistant'),
   'createdb assistant';

# an httpd of its own, memory in PostgreSQL
my $port = free_port();
my $extra = "$dir/pg.conf";
open my $fh, '>', $extra or die $!;
print $fh <<"CONF";
LoadModule dbd_module /usr/lib/apache2/modules/mod_dbd.so
DBDriver pgsql
DBDParams "host=127.0.0.1 port=$pgport dbname=assistant user=postgres"
<Location /chatagentstream>
    SSEAssistantModel "fake:tokens=2"
</Location>
CONF
close $fh;
system('sh', "$top/scripts/mkconf.sh", $dir, $port,
       "http://127.0.0.1:$ENV{FAKE_UPSTREAM_PORT}/v1", $extra) == 0 or die "mkconf";
$httpd_conf = "$dir/httpd.conf";
ok system("apache2 -f '$httpd_conf' -k start") == 0, 'httpd with DBDriver pgsql started';
for (1 .. 50) { last if -s "$dir/run/httpd.pid"; select undef, undef, undef, 0.1 }

sub get {
    my ($path, $cookie) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 10) or die "httpd: $!";
    print $s "GET $path HTTP/1.0\r\nHost: x\r\n" . ($cookie ? "Cookie: $cookie\r\n" : '') . "\r\n";
    local $/;
    my $all = <$s> // '';
    my ($head, $body) = split /\r\n\r\n/, $all, 2;
    return ($head // '', $body // '');
}

my ($head, $body) = get('/chatagentstream?prompt=first');
my ($cookie) = $head =~ /^Set-Cookie: (sse_owner=[0-9a-f]+)/mi;
my ($conv) = $body =~ /"conversation":"(conv_[0-9a-f]+)"/;
like $body, qr/"status":"complete"/, 'first turn complete';
my $tag = uniq_tag();
($head, $body) = get('/chatagentstream?prompt=' . url_escape("!fake tag=$tag second") . "&conversation=$conv", $cookie);
my @roles = map { $_->{role} } @{ fake_log($tag)->{last}{body}{messages} };
is "@roles", 'user assistant user', 'second turn sees the first from PostgreSQL';
(undef, $body) = get("/chatagentstream?history=1&conversation=$conv", $cookie);
my $h = eval { json_decode($body) } || [];
is scalar(@$h), 4, 'history from PostgreSQL: four messages';
my $rows = `runuser -u postgres -- $pgbin/psql -h 127.0.0.1 -p $pgport -d assistant -tAc 'SELECT count(*) FROM sse_assistant_messages'`;
$rows =~ s/\s+//g;
is $rows, 4, 'rows really are in PostgreSQL';
