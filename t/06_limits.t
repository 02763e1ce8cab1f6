# SSEAssistantMaxStreams across processes (503 + Retry-After, slot given
# back), and heartbeats while the upstream is silent.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;

plan tests => 13;

# fill all 8 slots with silent streams, once the earlier tests' streams
# have given theirs back
is wait_streams(0, 5), 0, 'mod_status: no answer streaming';
my $tag = uniq_tag();
my @held;
for (1 .. 8) {
    my $s = sse_open(path => '/chat?prompt=' . url_escape("!fake hang,tag=$tag x"));
    my $r = sse_read_events($s, max_events => 1, timeout => 10);
    push @held, $s if ($r->{events}[0]{event} // '') eq 'msgid';
}
is scalar(@held), 8, 'eight streams open';
is open_streams(), 8, 'mod_status counts them';
like http_raw(path => '/server-status')->{body}, qr{Answers streaming: 8 of 8},
    '... on its HTML page too';
my $busy = http_raw(path => '/chat?prompt=hi');
is $busy->{status}, 503, 'ninth stream: 503';
like $busy->{head}, qr{^Retry-After: \d+}mi, '503 carries Retry-After';
like $busy->{body}, qr{"too_many_streams"}, '503 has a JSON error';
close $_ for @held;
is wait_streams(0, 5), 0, 'slots given back after the clients left';
my $after = sse_get('/chat?prompt=hi');
ok $after->{status} == 200 && $after->{events}[-1]{json}{status} eq 'complete',
    'a new stream is accepted';

# heartbeats: SSEAssistantHeartbeat 1, upstream silent for 2.5 s
my $r = sse_get('/chat-heartbeat?prompt=' . url_escape('!fake first_delay=2500 x'));
my @pings = grep { $_->{text} eq 'ping' } @{ $r->{comments} };
my ($first_token) = grep { $_->{event} eq 'token' } @{ $r->{events} };
cmp_ok scalar(@pings), '>=', 2, 'heartbeat comments while upstream is silent';
ok $first_token && $pings[0]{t} < $first_token->{t}, 'first ping before the first token';
ok((grep { $_->{text} eq 'stream open' } @{ $r->{comments} }), 'opening comment');
is $r->{events}[-1]{json}{status}, 'complete', 'turn completes after the silence';
