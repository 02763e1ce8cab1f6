package TwoServers;
# Several servers behind a load balancer: a real store server (started on
# a free port, stopped at the end) and two httpds sharing it through
# ap_socache. POST on A, stream from B; a turn started on A resumed on B.
use strict;
use warnings FATAL => 'all';
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use POSIX ();
use Test::More;
use Apache::Test ();
use SSETest;

our @EXPORT = qw(two_servers);

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die $!;
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub raw {
    my ($port, $req) = @_;
    my $s;
    for (1 .. 50) {
        last if $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 10);
        select undef, undef, undef, 0.1;
    }
    die "connect $port: $!" unless $s;
    print $s $req;
    local $/;
    my $all = <$s> // '';
    return split /\r\n\r\n/, $all, 2;
}

my (@confs, @pids);
END {
    system("apache2 -f '$_' -k stop >/dev/null 2>&1") for @confs;
    kill 'TERM', @pids if @pids;
}

# name: 'redis'; server: sub (port, dir) returning the exec argv;
# module: the mod_socache_* file; store: sub (port) returning the
# SSEAssistantStore argument. 11 tests.
sub two_servers {
    my (%o) = @_;
    my $top = Apache::Test::vars('top_dir');
    my $dir = tempdir(CLEANUP => 1);
    chmod 0755, $dir;
    my $sport = free_port();

    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', "$dir/$o{name}.log";
        open STDERR, '>&', \*STDOUT;
        my @argv = $o{server}->($sport, $dir);
        exec @argv or POSIX::_exit(127);
    }
    push @pids, $pid;
    my $up;
    for (1 .. 100) {
        last if $up = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$sport");
        select undef, undef, undef, 0.05;
    }
    ok $up, "$o{name} server on port $sport";

    my @ports;
    my $store = $o{store}->($sport);
    (my $modname = $o{module}) =~ s{.*/mod_(\w+)\.so$}{$1_module};
    for my $name ('a', 'b') {
        my $d = "$dir/$name";
        mkdir $d;
        chmod 0755, $d;
        my $port = free_port();
        open my $fh, '>', "$d/extra.conf" or die $!;
        print $fh <<"CONF";
LoadModule $modname $o{module}
SSEAssistantStore $store
<Location /chatagentstream>
    SSEAssistantModel "fake:tokens=3"
    SSEAssistantResume on
    SSEAssistantResumeGrace 5
</Location>
CONF
        close $fh;
        system('sh', "$top/scripts/mkconf.sh", $d, $port,
               "http://127.0.0.1:$ENV{FAKE_UPSTREAM_PORT}/v1", "$d/extra.conf") == 0 or die "mkconf";
        push @confs, "$d/httpd.conf";
        push @ports, $port;
        ok system("apache2 -f '$d/httpd.conf' -k start") == 0, "httpd $name started";
        for (1 .. 50) { last if -s "$d/run/httpd.pid"; select undef, undef, undef, 0.1 }
    }

    my $tag = uniq_tag();
    my $body = qq({"endpoint":"/chatagentstream","payload":{"prompt":"!fake tag=$tag across servers"}});
    my ($head, $resp) = raw($ports[0], "POST /eventtransportpostsseproxy HTTP/1.0\r\nHost: 127.0.0.1:$ports[0]\r\n"
        . "Origin: http://127.0.0.1:$ports[0]\r\nContent-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body");
    my ($cookie) = $head =~ /^Set-Cookie: (sse_owner=[0-9a-f]+)/mi;
    my $j = eval { json_decode($resp) } || {};
    ok $j->{ok} && $cookie, "POST on server A: slot in $o{name}";

    (undef, $resp) = raw($ports[1], "GET $j->{stream} HTTP/1.0\r\nHost: b\r\nCookie: $cookie\r\n\r\n");
    like $resp, qr/"text":"tok1 ".*"text":"tok3 ".*"status":"complete"/s, 'stream on server B: the answer';
    is fake_log($tag)->{requests}, 1, 'one upstream request';
    (undef, $resp) = raw($ports[0], "GET $j->{stream} HTTP/1.0\r\nHost: a\r\nCookie: $cookie\r\n\r\n");
    like $resp, qr/Invalid or expired stream id/, 'the id is used up on A as well';
    (undef, $resp) = raw($ports[1], "GET /eventtransportpostsse?id=" . ('f' x 32) . " HTTP/1.0\r\nHost: b\r\nCookie: $cookie\r\n\r\n");
    like $resp, qr/Invalid or expired stream id/, 'unknown id on B';

    # a turn started on A, resumed on B
    $tag = uniq_tag();
    my $sa = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ports[0]", Timeout => 10) or die $!;
    print $sa "GET /chatagentstream?prompt=" . url_escape("!fake tokens=8,delay=150,tag=$tag hop")
            . " HTTP/1.0\r\nHost: a\r\nCookie: $cookie\r\n\r\n";
    my $first = sse_read_events($sa, max_events => 3, timeout => 10);
    close $sa;
    my $last = $first->{events}[-1]{id};
    (undef, $resp) = raw($ports[1], "GET /chatagentstream HTTP/1.0\r\nHost: b\r\nCookie: $cookie\r\n"
        . "Last-Event-ID: $last\r\n\r\n");
    my @texts = $resp =~ /"text":"([^"]*)"/g;
    is join('', (map { $_->{json}{text} } grep { $_->{event} eq 'token' } @{ $first->{events} }), @texts),
       join('', map { "tok$_ " } 1 .. 8), 'resume on B of a turn started on A: the whole answer once';
    like $resp, qr/"status":"complete"/, 'resume on B: done';
    is fake_log($tag)->{requests}, 1, 'resume on B: one upstream request';
}

1;
