# Every upstream failure becomes error {message,type,code} + done error,
# and awkward but valid upstream framing still yields the exact text.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;

plan tests => 54;

sub run { sse_get('/chat?prompt=' . url_escape("!fake $_[0] hello"), timeout => 20) }
sub names { join ' ', map { $_->{event} } @{ $_[0]{events} } }
sub tokens { join '', map { $_->{json}{text} } grep { $_->{event} eq 'token' } @{ $_[0]{events} } }

sub fails_with {
    my ($name, $r, $msg_re, $code) = @_;
    is $r->{status}, 200, "$name: stream opened";
    my @ev = @{ $r->{events} };
    is $ev[-2]{event}, 'error', "$name: error event";
    like $ev[-2]{json}{message} // '', $msg_re, "$name: message names the cause";
    is $ev[-2]{json}{code}, $code, "$name: code $code" if defined $code;
    is_deeply $ev[-1]{json}, { status => 'error' }, "$name: done error";
}

fails_with('401', run('status=401'), qr/Incorrect API key provided/, 'invalid_api_key');
fails_with('429', run('status=429'), qr/Rate limit reached/, 'rate_limit_exceeded');
fails_with('500', run('status=500'), qr/The server had an error/, 'http_500');
fails_with('plain 500', run('status=500,plain'), qr/upstream answered HTTP 500/, 'http_500');
my $r = run('tokens=5,error_after=2');
fails_with('mid-stream error', $r, qr/The server had an error/);
is tokens($r), 'tok1 tok2 ', 'mid-stream error: tokens before it were relayed';
fails_with('close early', run('tokens=5,close_after=2'), qr/closed the stream before the answer was finished/, 'upstream_closed');
fails_with('invalid JSON chunk', run('tokens=5,badjson_after=1'), qr/not valid JSON/, 'invalid_chunk');

my $t0 = Time::HiRes::time();
$r = sse_get('/chat-dead?prompt=hi');
fails_with('connection refused', $r, qr/upstream unreachable/, 'connect_failed');
cmp_ok Time::HiRes::time() - $t0, '<', 3, 'connection refused: answered at once';

$r = sse_get('/chat-idle?prompt=hi', timeout => 20);
fails_with('idle upstream', $r, qr/upstream timed out/, 'timeout');

# valid but awkward framing: exact text out
my $want = 'tok1 tok2 tok3 tok4 tok5 tok6 ';
for my $case ('split=1', 'crlf', 'crlf,split=1', 'comments,filter', 'split=7,split_delay=1') {
    $r = run("tokens=6,$case");
    is tokens($r), $want, "$case: exact text";
}
$r = run('tokens=4,utf8,split=1');
is tokens($r), "gr\x{fc}\x{df}e\x{2192}\x{1F600} na\x{ef}ve\x{20AC}\x{1F389} "
             . "\x{65E5}\x{672C}\x{e9}\x{1F680} gr\x{fc}\x{df}e\x{2192}\x{1F600} ",
   'utf8 split=1: lines cut inside UTF-8 sequences arrive intact';
is names($r), 'msgid token token token token meta done', 'utf8 split=1: four tokens';
is run('tokens=2,nodone')->{events}[-1]{json}{status}, 'complete', 'finish without [DONE]: complete';
