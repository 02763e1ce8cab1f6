# One turn over HTTP/1.1: headers, event sequence and shapes, ids, and
# timing (tokens leave while the upstream is still sending).
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;

plan tests => 28;

my $tag = uniq_tag();
my $r = sse_get('/chat?prompt=' . url_escape("!fake tokens=5,delay=300,usage,tag=$tag Hello there"));

is $r->{status}, 200, 'status 200';
like $r->{head}, qr{^Content-Type: text/event-stream; charset=utf-8\r?$}mi, 'content type';
like $r->{head}, qr{^Cache-Control: no-cache, no-transform\r?$}mi, 'cache-control';
like $r->{head}, qr{^X-Accel-Buffering: no\r?$}mi, 'x-accel-buffering';
unlike $r->{head}, qr{^Content-Length:}mi, 'no content-length';
unlike $r->{head}, qr{^Content-Encoding:}mi, 'no content-encoding';

my @ev = @{ $r->{events} };
my @names = map { $_->{event} } @ev;
is "@names", 'msgid token token token token token meta done', 'event sequence';
like $ev[0]{json}{id}, qr/^msg_[0-9a-f]{32}$/, 'msgid shape';
my $msgid = $ev[0]{json}{id};
my @ids = map { $_->{id} } @ev;
is scalar(grep { defined && /^\Q$msgid\E:(\d+)$/ } @ids), scalar(@ev), 'every event has id msgid:seq';
my @seq = map { /:(\d+)$/ ? $1 : -1 } @ids;
is_deeply \@seq, [1 .. scalar @ev], 'ids count up from 1';
is join('', map { $_->{json}{text} } grep { $_->{event} eq 'token' } @ev),
   'tok1 tok2 tok3 tok4 tok5 ', 'token texts';
is $ev[-2]{json}{finish_reason}, 'stop', 'meta finish_reason';
is $ev[-2]{json}{usage}{completion_tokens}, 5, 'meta usage from upstream';
is_deeply $ev[-1]{json}, { status => 'complete' }, 'done complete';

# timing: the client sees tokens while the upstream is still sending
my @tok = grep { $_->{event} eq 'token' } @ev;
cmp_ok $tok[-1]{t} - $tok[0]{t}, '>=', 1.0, 'tokens spread over the upstream delays';
for my $i (1 .. 4) {
    cmp_ok $tok[$i]{t} - $tok[$i - 1]{t}, '>=', 0.225, "gap before token " . ($i + 1);
}
my $log = fake_log($tag);
cmp_ok $tok[0]{t}, '<', $log->{last}{ended_at}, 'first token arrived before the upstream finished';
cmp_ok $log->{last}{ended_at} - $tok[0]{t}, '>=', 1.0, '... by at least a second';

# what went upstream
is $log->{last}{authorization}, 'Bearer sk-test-0123456789', 'API key sent as Bearer';
my $body = $log->{last}{body};
is $body->{stream}, JSON::PP::true(), 'stream:true';
is_deeply [ map { $_->{role} } @{ $body->{messages} } ], [qw(system user)], 'system + user message';
is $body->{messages}[0]{content}, 'You are a test.', 'system prompt from config';

# the key from an environment variable, per location
$tag = uniq_tag();
sse_get('/chat-envkey?prompt=' . url_escape("!fake tag=$tag hi"));
is fake_log($tag)->{last}{authorization}, 'Bearer sk-from-env-456',
   'SSEAssistantAPIKeyEnv key sent for its location';

# neither key nor prompt ever reaches the error log (LogLevel debug here)
my $errlog = Apache::Test::vars('t_logs') . '/error_log';
open my $fh, '<', $errlog or die "$errlog: $!";
my $text = do { local $/; <$fh> };
unlike $text, qr/sk-test-0123456789|sk-from-env-456/, 'API keys are not logged';
unlike $text, qr/Hello there/, 'prompt text is not logged';
