# POST-SSE bridge: POST a payload, stream it with a one-time id; errors,
# CSRF, SSRF, owner binding, expiry, single use under concurrency, and
# the 1:1 relay to an allowlisted target.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;
use Time::HiRes qw(time);

plan tests => 55;

my $hp = hostport();
my $origin = "http://$hp";
my $fake = "http://127.0.0.1:$ENV{FAKE_UPSTREAM_PORT}";
my $cookie;

sub post {
    my ($body, %o) = @_;
    my %h = ('Content-Type' => 'application/json');
    $h{Origin} = $o{origin} // $origin unless exists $o{origin} && !defined $o{origin};
    my $c = exists $o{cookie} ? $o{cookie} : $cookie;
    $h{Cookie} = $c if $c;
    my $res = http_raw(path => $o{path} // '/eventtransportpostsseproxy', method => 'POST',
                       headers => \%h, body => $body);
    $res->{json} = eval { json_decode($res->{body}) } || {};
    ($cookie) = $res->{head} =~ /^Set-Cookie: (sse_owner=[0-9a-f]+)/mi if !$cookie;
    return $res;
}
sub payload { my ($ep, $p) = @_; JSON::PP->new->canonical->encode({ endpoint => $ep, payload => $p }) }
sub stream { my ($url, $c) = @_; sse_get($url, headers => { $c ? (Cookie => $c) : () }, timeout => 15) }
sub invalid {
    my ($r, $name, $re) = @_;
    is $r->{status}, 200, "$name: an SSE answer";
    my ($err) = grep { $_->{event} eq 'error' } @{ $r->{events} };
    like $err && $err->{json}{message} // '', $re // qr/^Invalid or expired stream id/, "$name: error event";
    is $r->{events}[-1]{json}{status}, 'error', "$name: done error";
}
sub tokens { join '', map { $_->{json}{text} } grep { $_->{event} eq 'token' } @{ $_[0]{events} } }

# the full flow, in-process with /chat's configuration
my $tag = uniq_tag();
my $res = post(payload('/chat', { prompt => "!fake tokens=3,tag=$tag from a POST" }));
is $res->{status}, 200, 'POST: 200';
ok $res->{json}{ok}, 'POST: ok true';
like $res->{json}{id} // '', qr/^[0-9a-f]{32}$/, 'POST: 128-bit hex id';
is $res->{json}{stream}, "/eventtransportpostsse?id=$res->{json}{id}", 'POST: stream URL';
ok $cookie, 'POST: owner cookie set';
my $url = $res->{json}{stream};
my $r = stream($url, $cookie);
is tokens($r), 'tok1 tok2 tok3 ', 'stream: the answer';
is $r->{events}[-1]{json}{status}, 'complete', 'stream: done complete';
my $log = fake_log($tag);
is $log->{last}{body}{messages}[-1]{content}, "!fake tokens=3,tag=$tag from a POST", 'payload reached the upstream';
is $log->{last}{body}{messages}[0]{content}, 'You are a test.', "endpoint's location config used (system prompt)";
is $log->{requests}, 1, 'one upstream request';

# single use
invalid(stream($url, $cookie), 'reused id');

# unknown and malformed ids
invalid(stream('/eventtransportpostsse?id=' . ('0' x 32), $cookie), 'unknown id');
invalid(stream('/eventtransportpostsse?id=../../etc', $cookie), 'malformed id');

# owner binding: another cookie cannot use it, and does not use it up
$res = post(payload('/chat', { prompt => 'mine' }), cookie => $cookie);
$url = $res->{json}{stream};
invalid(stream($url, 'sse_owner=' . ('a' x 32)), 'other owner');
invalid(stream($url, undef), 'no cookie', qr/no session cookie/);
is stream($url, $cookie)->{events}[-1]{json}{status}, 'complete', 'the owner still gets it';

# expiry (SSEPostSseTTL 1 on /postsse-short)
$res = post(payload('/chat', { prompt => 'late' }), path => '/postsse-short', cookie => $cookie);
Time::HiRes::sleep(2.2);        # the scenario is a slot that outlived its TTL
invalid(stream($res->{json}{stream}, $cookie), 'expired id');

# bad input to the proxy
sub refused {
    my ($res, $status, $re, $name) = @_;
    is $res->{status}, $status, "$name: $status";
    ok !$res->{json}{ok} && ($res->{json}{error} // '') =~ $re, "$name: {ok:false,error}";
}
refused(post('{"endpoint":'), 400, qr/not valid JSON/, 'bad JSON');
refused(post('{"payload":{}}'), 400, qr/endpoint/, 'missing endpoint');
refused(post(payload('/chat', { prompt => 'x' x 1000 }), path => '/postsse-small'), 413, qr/larger/, 'oversized body');
refused(post(payload('/chat', {}), origin => 'http://evil.example'), 403, qr/Origin/, 'foreign Origin');
refused(post(payload('/chat', {}), origin => undef), 403, qr/Origin/, 'no Origin');
is post(payload('/chat', { prompt => 'x' }), origin => 'http://friendly.example')->{status}, 200,
   'SSEAssistantAllowOrigin origin accepted';
refused(post(payload('/static.html', {})), 403, qr/not allowed/, 'endpoint not an assistant location');

# SSRF: nothing outside the allowlist, however it is spelled
my $ssrf = 0;
for my $ep ("http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:$ENV{DEAD_UPSTREAM_PORT}/v1/chat/completions",
            "http://127.0.0.1:$ENV{FAKE_UPSTREAM_PORT}\@169.254.169.254/v1/",
            "http://localhost:$ENV{FAKE_UPSTREAM_PORT}/v1/chat/completions",
            "$fake/v1evil/chat/completions",
            "$fake/_fake/log?tag=x",
            "https://127.0.0.1:$ENV{FAKE_UPSTREAM_PORT}/v1/chat/completions",
            "//127.0.0.1:$ENV{FAKE_UPSTREAM_PORT}/v1/",
            "file:///etc/passwd") {
    $ssrf++ if post(payload($ep, {}))->{status} != 403;
}
is $ssrf, 0, 'SSRF: every endpoint outside the allowlist refused';

# relay to an allowlisted target: incremental, 1:1, cancelled on disconnect
$tag = uniq_tag();
$res = post(payload("$fake/v1/chat/completions",
                    { model => "fake:tokens=4,delay=300,tag=$tag", stream => JSON::PP::true(),
                      messages => [ { role => 'user', content => 'relay me' } ] }));
is $res->{status}, 200, 'relay: allowlisted target accepted';
my $t0 = time;
my $s = sse_open(path => $res->{json}{stream}, headers => { Cookie => $cookie });
$r = sse_read_events($s, t0 => $t0, timeout => 10);
close $s;
my @chunks = grep { ($_->{data} // '') =~ /chat\.completion\.chunk/ && $_->{data} =~ /tok\d/ } @{ $r->{events} };
is scalar(@chunks), 4, 'relay: four upstream chunks relayed as they are';
cmp_ok(($chunks[3]{t} // 0) - ($chunks[0]{t} // 9e9), '>=', 0.675, 'relay: incremental');
ok((grep { ($_->{data} // '') eq '[DONE]' } @{ $r->{events} }), 'relay: [DONE] relayed');
my @rids = map { $_->{id} // '' } @{ $r->{events} };
my ($rmsg) = $rids[0] =~ /^(msg_[0-9a-f]{32}):1$/;
ok $rmsg && "@rids" eq join(' ', map { "$rmsg:$_" } 1 .. @rids),
   'relay: every event carries the module\'s id, in order (for resumes)';
like fake_log($tag)->{last}{body}{messages}[0]{content}, qr/relay me/, 'relay: payload POSTed to the target';

# a relayed event over SSEAssistantMaxLineBytes (4096 there): an error
# event naming the limit, then done
$res = post(payload("$fake/v1/chat/completions",
                    { model => 'fake:tokens=2,text=' . ('x' x 5000), stream => JSON::PP::true(),
                      messages => [ { role => 'user', content => 'x' } ] }), path => '/postsse-resume');
$r = stream($res->{json}{stream}, $cookie);
my ($too_big) = grep { $_->{event} eq 'error' } @{ $r->{events} };
like $too_big && $too_big->{json}{message} // '', qr/larger than SSEAssistantMaxLineBytes/,
     'relay: an event over the cap ends in an error event';
is $r->{events}[-1]{json}{status}, 'error', '... and done error';

$tag = uniq_tag();
$res = post(payload("$fake/v1/chat/completions",
                    { model => "fake:tokens=40,delay=200,tag=$tag", stream => JSON::PP::true(),
                      messages => [ { role => 'user', content => 'x' } ] }));
$s = sse_open(path => $res->{json}{stream}, headers => { Cookie => $cookie });
sse_read_events($s, max_events => 3, timeout => 10);
close $s;
my $left = time;
$log = wait_fake($tag, \&fake_ended, 5);
ok $log->{last}{state} eq 'peer_closed' && $log->{last}{ended_at} - $left < 1.0,
   'relay: target cancelled within 1 s of the client leaving';

# single use under concurrency: two GETs at once, one stream
$tag = uniq_tag();
$res = post(payload('/chat', { prompt => "!fake tokens=2,delay=100,tag=$tag race" }));
my @socks = map { sse_open(path => $res->{json}{stream}, headers => { Cookie => $cookie }) } 1 .. 2;
my @got = map { sse_read_events($_, timeout => 10) } @socks;
close $_ for @socks;
my $complete = grep { ($_->{events}[-1]{json}{status} // '') eq 'complete' } @got;
my $errors = grep { ($_->{events}[-1]{json}{status} // '') eq 'error' } @got;
is $complete, 1, 'concurrent GETs: exactly one stream';
is $errors, 1, 'concurrent GETs: the other gets the error event';
is fake_log($tag)->{requests}, 1, 'concurrent GETs: one upstream request';
