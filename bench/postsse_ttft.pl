#!/usr/bin/perl
# postsse_ttft.pl -- time to first token, direct SSE vs the POST-SSE bridge
# (bench/run.sh §7).
#
#   postsse_ttft.pl PORT TURNS WARMUP PROMPT > result.json
#
# Sequential turns against one httpd on 127.0.0.1:PORT; every turn measures
# both paths with the same code, one after the other (order alternating per
# turn, so neither path always runs on a "warmer" machine):
#   direct   GET /chatagentstream?prompt=PROMPT
#   postsse  POST /eventtransportpostsseproxy {"endpoint":"/chatagentstream",
#            "payload":{"prompt":PROMPT}}, then GET the "stream" URL of the
#            answer on the same keep-alive connection
# Each path opens one new TCP connection per turn; the connect is NOT timed.
# TTFT = CLOCK_MONOTONIC just before the first request byte is written ->
# right after the read() that completed the first "[<digits>]" token stamp
# in the (de-chunked) SSE body.  The response is then read to its end and
# the connection closed before the next measurement.  Both paths send the
# same sse_owner cookie (taken from the first POST's Set-Cookie), so the
# module does the same owner work either way.  If httpd ever closes the
# connection after the POST, the GET goes on a new connection and that
# connect is timed (counted in "postsse_get_new_conn").
# Prints JSON: TTFT stats (ms) per path and the three parts of the POST-SSE
# TTFT: POST round trip (write -> last byte of its answer read), client gap
# (that read -> GET written: JSON decode, building the GET) and stream TTFT
# (GET written -> first token), plus failures (warm-up ones included in
# failed_by_path).
use strict;
use warnings;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);
use JSON::PP;

my ($port, $turns, $warm, $prompt) = @ARGV;
die "usage: postsse_ttft.pl PORT TURNS WARMUP PROMPT\n" unless defined $prompt;
my $host = "127.0.0.1:$port";
my $origin = "http://$host";
my $cookie = '';
my %fail;
my $fail_detail = '';
my $get_new_conn = 0;

sub now_ns { int(clock_gettime(CLOCK_MONOTONIC) * 1e9) }   # ~ns; only differences matter
sub urlenc { my $s = shift; $s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge; $s }

sub conn {
    my $s = IO::Socket::INET->new(PeerAddr => $host, Proto => 'tcp', Timeout => 10)
        or die "connect $host: $!\n";
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    binmode $s;
    return $s;
}

# Reads one response from $s ($$buf holds bytes already read).  Calls
# $on_body->(data, t_read) for every piece of de-chunked body, where t_read is
# the clock right after the read that delivered it.  Returns (status,
# \%headers, keepalive) once the body is complete.
sub response {
    my ($s, $buf, $on_body) = @_;
    my $t = now_ns();
    my $rd = sub {
        my $n = sysread($s, $$buf, 65536, length $$buf);
        die "read: $!\n" unless defined $n;
        $t = now_ns();
        return $n;
    };
    while ($$buf !~ /\r\n\r\n/) { $rd->() or die "EOF in headers\n" }
    $$buf =~ s/^(.*?)\r\n\r\n//s;
    my @h = split /\r\n/, $1;
    my ($status) = (shift(@h) // '') =~ m{^HTTP/1\.\d (\d{3})} or die "bad status line\n";
    my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1, $2) : () } @h;
    for (grep { /^set-cookie:\s*sse_owner=([^;]+)/i } @h) { /sse_owner=([^;]+)/i; $cookie = "sse_owner=$1" }
    my $ka = !(($h{connection} // '') =~ /close/i);
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        while (1) {
            while ($$buf !~ /\r\n/) { $rd->() or die "EOF in chunk size\n" }
            $$buf =~ s/^([0-9A-Fa-f]+)[^\r]*\r\n// or die "bad chunk\n";
            my $n = hex $1;
            if ($n == 0) {
                while ($$buf !~ /^(?:[^\r]*\r\n)*?\r\n/s) { $rd->() or die "EOF in trailer\n" }
                $$buf =~ s/^(?:[^\r]+\r\n)*\r\n//s;
                last;
            }
            while ($n > 0) {
                $rd->() or die "EOF in chunk\n" unless length $$buf;
                my $k = length $$buf < $n ? length $$buf : $n;
                $on_body->(substr($$buf, 0, $k, ''), $t);
                $n -= $k;
            }
            while (length $$buf < 2) { $rd->() or die "EOF after chunk\n" }
            substr($$buf, 0, 2, '') eq "\r\n" or die "bad chunk end\n";
        }
    }
    elsif (defined $h{'content-length'}) {
        my $n = $h{'content-length'};
        while ($n > 0) {
            $rd->() or die "EOF in body\n" unless length $$buf;
            my $k = length $$buf < $n ? length $$buf : $n;
            $on_body->(substr($$buf, 0, $k, ''), $t);
            $n -= $k;
        }
    }
    else {
        $ka = 0;
        while (1) {
            if (length $$buf) { $on_body->($$buf, $t); $$buf = '' }
            $rd->() or last;
        }
    }
    return ($status, \%h, $ka);
}

# GET $path on $s and read the SSE answer to its end; returns (t_write,
# t_first_token, tokens): t_write just before the request is written,
# t_first_token right after the read that completed the first token stamp.
sub sse_get {
    my ($s, $buf, $path) = @_;
    my $req = "GET $path HTTP/1.1\r\nHost: $host\r\nAccept: text/event-stream\r\n"
        . ($cookie ? "Cookie: $cookie\r\n" : '') . "Connection: close\r\n\r\n";
    my $t0 = now_ns();
    syswrite($s, $req) == length $req or die "write: $!\n";
    my ($first, $tokens, $body) = (undef, 0, '');
    my ($st) = response($s, $buf, sub {
        my ($d, $t) = @_;
        $body .= $d;
        $tokens = () = $body =~ /\[\d{10,20}\]/g;
        $first //= $t if $tokens;
    });
    die "GET status $st\n" unless $st == 200;
    die "no token stamp in the answer\n" unless defined $first;
    return ($t0, $first, $tokens);
}

sub direct {
    my $s = conn();
    my $buf = '';
    my ($t0, $first, $tok) = sse_get($s, \$buf, '/chatagentstream?prompt=' . urlenc($prompt));
    close $s;
    return { ttft => $first - $t0, tokens => $tok };
}

my $post_body = encode_json({ endpoint => '/chatagentstream', payload => { prompt => $prompt } });
sub postsse {
    my $s = conn();
    my $buf = '';
    my $req = "POST /eventtransportpostsseproxy HTTP/1.1\r\nHost: $host\r\n"
        . "Content-Type: application/json\r\nOrigin: $origin\r\n"
        . ($cookie ? "Cookie: $cookie\r\n" : '')
        . "Content-Length: " . length($post_body) . "\r\n\r\n$post_body";
    my $t0 = now_ns();
    syswrite($s, $req) == length $req or die "write: $!\n";
    my ($json, $tpost) = ('', undef);
    my ($st, undef, $ka) = response($s, \$buf, sub { $json .= $_[0]; $tpost = $_[1] });
    die "POST status $st: $json\n" unless $st == 200;
    # a regex, not JSON::PP (pure perl, ~0.07 ms): keep the client's own time
    # between the two requests small; it is reported as "client gap"
    my ($stream) = $json =~ /^\{"ok":true,.*"stream":"([^"\\]+)"/
        or die "POST answer without stream: $json\n";
    if (!$ka) { close $s; $s = conn(); $buf = ''; $get_new_conn++ }
    my ($tg, $first, $tok) = sse_get($s, \$buf, $stream);
    close $s;
    return { ttft => $first - $t0, post => $tpost - $t0, gap => $tg - $tpost,
             stream => $first - $tg, tokens => $tok };
}

my %v;
my ($ok, $bad) = (0, 0);
for my $i (1 .. $warm + $turns) {
    my $measure = $i > $warm;
    for my $path ($i % 2 ? qw(direct postsse) : qw(postsse direct)) {
        my $r = eval { $path eq 'direct' ? direct() : postsse() };
        if (!$r) {
            (my $e = $@ || 'unknown') =~ s/\s+$//;
            $fail{$path}++;
            $fail_detail ||= "$path: $e";
            $bad++ if $measure;
            next;
        }
        next unless $measure;
        $ok++;
        push @{ $v{$path} }, $r->{ttft};
        push @{ $v{tokens} }, $r->{tokens};
        if ($path eq 'postsse') {
            push @{ $v{post_rtt} }, $r->{post};
            push @{ $v{stream_ttft} }, $r->{stream};
            push @{ $v{client_gap} }, $r->{gap};
        }
    }
}

# nearest-rank percentiles, in ms
sub stats {
    my @a = sort { $a <=> $b } @{ $_[0] || [] };
    return undef unless @a;
    my $p = sub { $a[ (int($_[0] / 100 * @a + 0.999999) || 1) - 1 ] / 1e6 };
    my $sum = 0; $sum += $_ for @a;
    return { n => scalar @a, min => $a[0] / 1e6, median => $p->(50), p90 => $p->(90),
             p99 => $p->(99), max => $a[-1] / 1e6, mean => $sum / @a / 1e6 };
}
my %tok = map { $_ => 1 } @{ $v{tokens} || [] };
print JSON::PP->new->canonical->pretty->encode({
    turns => $turns + 0, warmup => $warm + 0, prompt => $prompt,
    ok => $ok, failed => $bad, failed_by_path => \%fail, failure_detail => $fail_detail,
    postsse_get_new_conn => $get_new_conn, tokens_per_answer => [ sort { $a <=> $b } keys %tok ],
    direct_ttft_ms => stats($v{direct}), postsse_ttft_ms => stats($v{postsse}),
    postsse_post_rtt_ms => stats($v{post_rtt}), postsse_stream_ttft_ms => stats($v{stream_ttft}),
    postsse_client_gap_ms => stats($v{client_gap}),
});
exit($bad ? 1 : 0);
