# WebSocket on the sse-assistant location, at protocol level: handshake,
# events as frames, several turns, ping/pong, fragmentation, close codes
# for bad frames, and a client leaving mid-answer.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;
use WSClient;
use Time::HiRes qw(time);

plan tests => 27;

my $hp = hostport();

sub events_until_done {
    my ($ws) = @_;
    my @ev;
    while (my $f = $ws->read_frame(15)) {
        next unless $f->{op} == 1;
        my $e = json_decode($f->{payload});
        $e->{t} = $f->{t};
        push @ev, $e;
        last if $e->{event} eq 'done';
    }
    return @ev;
}
sub close_code {
    my ($ws) = @_;
    while (my $f = $ws->read_frame(5)) {
        return unpack 'n', $f->{payload} if $f->{op} == 8;
    }
    return -1;
}

my $ws = WSClient->connect($hp, '/chat');
is $ws->{status}, 101, 'handshake: 101';
ok $ws->{accept_ok}, 'handshake: Sec-WebSocket-Accept is right';
like $ws->{head}, qr/^Set-Cookie: sse_owner=[0-9a-f]{32}/mi, 'handshake: a new owner gets its cookie';

my $tag = uniq_tag();
$ws->text(qq({"prompt":"!fake tokens=4,delay=200,tag=$tag hello"}));
my @ev = events_until_done($ws);
is join(' ', map { $_->{event} } @ev), 'msgid token token token token meta done', 'turn 1: events as frames';
is join('', map { $_->{data}{text} } grep { $_->{event} eq 'token' } @ev), 'tok1 tok2 tok3 tok4 ', 'turn 1: text';
my @tok = grep { $_->{event} eq 'token' } @ev;
cmp_ok $tok[3]{t} - $tok[0]{t}, '>=', 0.45, 'turn 1: frames arrive as tokens do';
my $conv = $ev[0]{data}{conversation};

# a second turn on the same connection continues the conversation
$tag = uniq_tag();
$ws->text(qq({"prompt":"!fake tokens=1,tag=$tag again","conversation":"$conv"}));
@ev = events_until_done($ws);
is $ev[-1]{data}{status}, 'complete', 'turn 2 on the same connection';
is join(' ', map { $_->{role} } @{ fake_log($tag)->{last}{body}{messages} }), 'system user assistant user',
   'turn 2 sees turn 1 (same owner, same memory)';

# ping/pong
$ws->frame(9, 'are you there');
my $f = $ws->read_frame(5);
ok $f && $f->{op} == 10 && $f->{payload} eq 'are you there', 'ping answered with pong';

# a fragmented message
$tag = uniq_tag();
$ws->text(qq({"prompt":"!fake tokens=1,tag=$tag), fin => 0);
$ws->frame(0, qq( split"}), fin => 0);
$ws->frame(9, 'in between');             # control frames may interleave
$ws->frame(0, '', fin => 1);
@ev = grep { $_->{event} } events_until_done($ws);
is $ev[-1]{data}{status}, 'complete', 'fragmented message reassembled';
like fake_log($tag)->{last}{body}{messages}[-1]{content}, qr/ split$/, '... to the exact prompt';

# bad JSON: an error event, the connection stays usable
$ws->text('{"prompt":');
@ev = events_until_done($ws);
is $ev[0]{event}, 'error', 'bad JSON: error event';
is $ev[-1]{data}{status}, 'error', 'bad JSON: done error';
$ws->text('{"prompt":"!fake tokens=1 still here"}');
@ev = events_until_done($ws);
is $ev[-1]{data}{status}, 'complete', 'connection still usable';

# a clean close
$ws->frame(8, pack('n', 1000) . 'bye');
is close_code($ws), 1000, 'close answered with 1000';
$ws->close;

# protocol violations get the right close code
my %cases = (
    'unmasked frame' => [ sub { $_[0]->frame(1, '{"prompt":"x"}', mask => 0) }, 1002 ],
    'binary frame'   => [ sub { $_[0]->frame(2, "\x00\x01") }, 1003 ],
    'invalid UTF-8'  => [ sub { $_[0]->frame(1, "{\"prompt\":\"\xc3\x28\"}") }, 1007 ],
    'reserved bits'  => [ sub { $_[0]->frame(0x41, 'x') }, 1002 ],
    'continuation without start' => [ sub { $_[0]->frame(0, 'x') }, 1002 ],
);
for my $name (sort keys %cases) {
    my $c = WSClient->connect($hp, '/chat');
    $cases{$name}[0]->($c);
    is close_code($c), $cases{$name}[1], "$name: close $cases{$name}[1]";
    $c->close;
}
my $small = WSClient->connect($hp, '/chat-small');
$small->text('{"prompt":"' . ('x' x 400) . '"}');
is close_code($small), 1009, 'message over SSEAssistantMaxBody: close 1009';
$small->close;

# the client leaves mid-answer: the upstream is cancelled
$tag = uniq_tag();
$ws = WSClient->connect($hp, '/chat');
$ws->text(qq({"prompt":"!fake tokens=40,delay=200,tag=$tag long"}));
$ws->read_frame(5) for 1 .. 3;
$ws->close;
my $left = time;
my $log = wait_fake($tag, \&fake_ended, 5);
ok $log->{last}{state} eq 'peer_closed' && $log->{last}{ended_at} - $left < 1.5,
   'client gone: upstream cancelled';

# frames carry event ids; a client that lost its socket resumes over HTTP
$tag = uniq_tag();
$ws = WSClient->connect($hp, '/chat-resume');
my ($owner) = $ws->{head} =~ /^Set-Cookie: (sse_owner=[0-9a-f]+)/mi;
$ws->text(qq({"prompt":"!fake tokens=8,delay=150,tag=$tag drop me"}));
my @got;
while (@got < 3 and my $fr = $ws->read_frame(5)) { push @got, json_decode($fr->{payload}) if $fr->{op} == 1 }
$ws->close;
like $got[-1]{id} // '', qr/^msg_[0-9a-f]{32}:3$/, 'frames carry ids msgid:seq';
my $rest = sse_get('/chat-resume', headers => { Cookie => $owner, 'Last-Event-ID' => $got[-1]{id} }, timeout => 15);
is join('', map { $_->{data}{text} // '' } grep { $_->{event} eq 'token' } @got)
   . join('', map { $_->{json}{text} } grep { $_->{event} eq 'token' } @{ $rest->{events} }),
   join('', map { "tok$_ " } 1 .. 8), 'WebSocket drop: the rest over HTTP with Last-Event-ID, once';
is fake_log($tag)->{requests}, 1, 'WebSocket drop: one upstream request';

# wrong version
my $old = WSClient->connect($hp, '/chat', version => 8);
is $old->{status}, 426, 'version 8: 426 Upgrade Required';
like $old->{head}, qr/^Sec-WebSocket-Version: 13/mi, '... naming version 13';
