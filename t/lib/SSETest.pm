package SSETest;
# Helpers for the streaming tests: raw-socket SSE client with arrival
# times, the fake upstream's log, and small JSON helpers.
use strict;
use warnings FATAL => 'all';
use Exporter 'import';
use IO::Socket::INET ();
use IO::Select ();
use JSON::PP ();
use Time::HiRes qw(time);
use Apache::Test ();
use Apache::TestRequest ();

our @EXPORT = qw(hostport sse_get sse_open sse_read_events fake_log
                 wait_fake fake_state fake_ended uniq_tag url_escape json_decode http_raw
                 open_streams wait_streams);

my $json = JSON::PP->new->utf8->canonical;
my $tagno = 0;

sub hostport { Apache::TestRequest::hostport(Apache::Test::config()) }
sub json_decode { $json->decode($_[0]) }
sub uniq_tag { join '-', 't', $$, time() =~ s/\.//r, ++$tagno }

sub url_escape {
    my $s = shift;
    utf8::encode($s) if utf8::is_utf8($s);
    $s =~ s/([^A-Za-z0-9\-_.~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# Sends a raw HTTP/1.1 request; returns the socket.
sub sse_open {
    my (%o) = @_;
    my $hp = hostport();
    my $s = IO::Socket::INET->new(PeerAddr => $hp, Timeout => 10)
        or die "connect $hp: $!";
    my $method = $o{method} || 'GET';
    my $req = "$method $o{path} HTTP/1.1\r\nHost: $hp\r\nConnection: close\r\n";
    $req .= "Accept: text/event-stream\r\n" unless grep { lc eq 'accept' } keys %{ $o{headers} || {} };
    $req .= "$_: $o{headers}{$_}\r\n" for sort keys %{ $o{headers} || {} };
    if (defined $o{body}) {
        $req .= "Content-Length: " . length($o{body}) . "\r\n";
    }
    $req .= "\r\n";
    $req .= $o{body} if defined $o{body};
    $s->autoflush(1);
    print $s $req;
    return $s;
}

# De-chunks as it goes; events come with their arrival times. Stops at
# EOF, after `max_events` events, or at `timeout` seconds.
sub sse_read_events {
    my ($s, %o) = @_;
    my $t0 = $o{t0} // time;
    my $deadline = $t0 + ($o{timeout} // 15);
    my ($raw, $head, $body, $pending) = ('', undef, '', '');
    my (@events, @comments, $chunked);
    my $sel = IO::Select->new($s);
    my $cur = {};
    READ: while (time < $deadline) {
        last if $o{max_events} && @events >= $o{max_events};
        next unless $sel->can_read(0.05);
        my $n = sysread $s, my $buf, 65536;
        last unless $n;
        my $now = time;
        if (!defined $head) {
            $raw .= $buf;
            next unless $raw =~ /\r\n\r\n/;
            ($head, $buf) = split /\r\n\r\n/, $raw, 2;
            $chunked = $head =~ /^Transfer-Encoding:\s*chunked/mi;
        }
        if ($chunked) {
            $pending .= $buf;
            $buf = '';
            while ($pending =~ /^([0-9a-fA-F]+)[^\r\n]*\r\n/) {
                my $len = hex $1;
                my $hl = length $&;
                last if length($pending) < $hl + $len + 2;
                $buf .= substr $pending, $hl, $len;
                substr($pending, 0, $hl + $len + 2) = '';
                if ($len == 0) {            # last chunk: the response ended
                    $body .= $buf;
                    last READ;
                }
            }
        }
        $body .= $buf;
        parse(\$body, \@events, \@comments, $cur, $now);
    }
    parse(\$body, \@events, \@comments, $cur, time);
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    return { head => $head // '', status => $status // 0, events => \@events,
             comments => \@comments, t0 => $t0, rest => $body };
}

# Consumes complete lines of $$bref into events; returns 1.
sub parse {
    my ($bref, $events, $comments, $cur, $now) = @_;
    while ($$bref =~ s/^([^\r\n]*)(?:\r\n|\n|\r(?!$))//) {
        my $line = $1;
        if ($line eq '') {
            if (exists $cur->{data} || exists $cur->{event}) {
                my %ev = (%$cur, t => $now);
                $ev{event} //= 'message';
                $ev{json} = eval { $json->decode($ev{data}) } if defined $ev{data};
                push @$events, \%ev;
            }
            %$cur = ();
        }
        elsif ($line =~ /^:\s?(.*)/) { push @$comments, { text => $1, t => $now } }
        elsif ($line =~ /^(event|id|data|retry):\s?(.*)/) {
            if ($1 eq 'data') { $cur->{data} = defined $cur->{data} ? "$cur->{data}\n$2" : $2 }
            else { $cur->{$1} = $2 }
        }
    }
    return 1;
}

# GET or POST and read the whole stream.
sub sse_get {
    my ($path, %o) = @_;
    my $t0 = time;
    my $s = sse_open(path => $path, %o);
    my $r = sse_read_events($s, t0 => $t0, %o);
    close $s;
    return $r;
}

sub http_raw {
    my (%o) = @_;
    my $s = sse_open(%o);
    local $/;
    my $all = <$s>;
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $all // '', 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    if (($head // '') =~ /^Transfer-Encoding:\s*chunked/mi) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last unless $len;
            $out .= substr $body, 0, $len, '';
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    return { status => $status // 0, head => $head // '', body => $body // '' };
}

sub fake_log {
    my $tag = shift;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ENV{FAKE_UPSTREAM_PORT}",
                                  Timeout => 5) or die "fake: $!";
    print $s "GET /_fake/log?tag=$tag HTTP/1.1\r\nHost: fake\r\nConnection: close\r\n\r\n";
    local $/;
    my $all = <$s>;
    my (undef, $body) = split /\r\n\r\n/, $all, 2;
    if ($all =~ /^Transfer-Encoding:\s*chunked/mi) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)\r\n//) { my $l = hex $1; last unless $l; $out .= substr $body, 0, $l, ''; $body =~ s/^\r\n//; }
        $body = $out;
    }
    return $json->decode($body);
}

# State of the tag's latest upstream request; '' while none has arrived
# (the msgid event goes out before the upstream is called).
sub fake_state { $_[0]{last}{state} // '' }

# The tag's latest upstream request is over (finished or closed by a side).
sub fake_ended { fake_state($_[0]) =~ /^(?:finished|peer_closed|server_closed)$/ }

# Answers streaming server-wide, from mod_status (-1 if it cannot tell).
sub open_streams {
    my $r = http_raw(path => '/server-status?auto', headers => { Accept => 'text/plain' });
    return $r->{body} =~ /^SSEAssistantStreams: (\d+)/m ? $1 : -1;
}

# Waits until at most $n answers stream server-wide (slots are given back
# when a handler notices its client left); returns the last count.
sub wait_streams {
    my ($n, $timeout) = @_;
    my $end = time + ($timeout // 5);
    while (1) {
        my $open = open_streams();
        return $open if ($open >= 0 && $open <= $n) || time > $end;
        Time::HiRes::sleep(0.02);
    }
}

# Polls the fake's log until cond returns true or timeout; returns the log.
sub wait_fake {
    my ($tag, $cond, $timeout) = @_;
    my $end = time + ($timeout // 5);
    my $log;
    while (1) {
        $log = fake_log($tag);
        return $log if $cond->($log) || time > $end;
        Time::HiRes::sleep(0.02);
    }
}

1;
