# Tool calling: live tool events, parallel calls, failing and hanging
# tools, max rounds, and the cost of "stream" vs "separate" tool phases.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;

plan tests => 40;

sub turn {
    my ($path, $fake, %o) = @_;
    my $tag = uniq_tag();
    my $r = sse_get("$path?prompt=" . url_escape("!fake $fake,tag=$tag What is the weather?"),
                    timeout => 20, %o);
    return ($r, $tag);
}
sub names { join ' ', map { $_->{event} } @{ $_[0]{events} } }
sub text { join '', map { $_->{json}{text} } grep { $_->{event} eq 'token' } @{ $_[0]{events} } }
sub ev { my ($r, $name) = @_; grep { $_->{event} eq $name } @{ $r->{events} } }

# one tool call, stream mode
my ($r, $tag) = turn('/agent', 'calls=1,tool=get_weather');
is names($r), 'msgid tool.started tool.finished token token token meta done',
   'one call: events in order';
my ($st) = ev($r, 'tool.started');
is $st->{json}{tool}, 'get_weather', 'tool.started names the tool';
is $st->{json}{label}, 'Current weather', '... with its label';
is $st->{json}{args}{city}, 'Berlin', '... and the parsed arguments';
my ($fin) = ev($r, 'tool.finished');
is_deeply $fin->{json}{result}, { city => 'Berlin', temp_c => 21, sky => 'sunny' },
   'tool.finished carries the tool result';
like text($r), qr/^Tool results: \{"city":"Berlin","temp_c":21,"sky":"sunny"\}/,
   'the model received the tool result and answered';
my $log = fake_log($tag);
is $log->{requests}, 2, 'two upstream calls (tool round + answer)';
my @msgs = @{ $log->{bodies}[1]{messages} };
is $msgs[-2]{role}, 'assistant', 'second call: assistant tool_calls message';
is $msgs[-1]{role}, 'tool', '... followed by the tool result';
is $msgs[-1]{tool_call_id}, $msgs[-2]{tool_calls}[0]{id}, '... with the matching tool_call_id';
is $log->{bodies}[0]{tools}[0]{function}{name}, 'get_weather', 'tools sent upstream';
is $log->{bodies}[0]{stream}, JSON::PP::true(), 'stream mode: the tool round is streamed';

# two parallel calls with interleaved argument fragments
($r, $tag) = turn('/agent', 'calls=2,interleave,argsplit=3');
my @st = ev($r, 'tool.started');
my @fin = ev($r, 'tool.finished');
is scalar(@st), 2, 'parallel: two tool.started';
is scalar(@fin), 2, 'parallel: two tool.finished';
is_deeply [ sort map { $_->{json}{args}{n} } @st ], [0, 1],
   'parallel: interleaved fragments reassembled per call';
is_deeply [ sort map { $_->{json}{tool} } @st ], [ 'echo_tool', 'get_weather' ],
   'parallel: both tools called';
@msgs = @{ fake_log($tag)->{bodies}[1]{messages} };
is scalar(grep { $_->{role} eq 'tool' } @msgs), 2, 'parallel: two tool results upstream';

# a failing tool: tool.error, the model is told, the turn finishes
($r, $tag) = turn('/agent', 'calls=1,tool=fail_tool');
my ($err) = ev($r, 'tool.error');
like $err->{json}{error} // '', qr/HTTP 500.*weather service down/, 'failing tool: tool.error with the cause';
is $r->{events}[-1]{json}{status}, 'complete', 'failing tool: turn completes';
like text($r), qr/error/, 'failing tool: the model was told it failed';

# a tool answering text instead of JSON
($r, $tag) = turn('/agent', 'calls=1,tool=text_tool');
($err) = ev($r, 'tool.error');
like $err->{json}{error} // '', qr/not a JSON object/, 'non-JSON tool answer: tool.error';

# a tool that hangs past SSEAssistantToolTimeout (1.5 s); heartbeats meanwhile
($r, $tag) = turn('/agent', 'calls=1,tool=slow_tool');
($err) = ev($r, 'tool.error');
like $err->{json}{error} // '', qr/did not answer within 1500 ms/, 'hanging tool: timeout error';
my ($t_st) = ev($r, 'tool.started');
my @pings = grep { $_->{text} eq 'ping' && $_->{t} > $t_st->{t} } @{ $r->{comments} };
ok scalar(@pings) >= 1, 'hanging tool: heartbeats while waiting';
is $r->{events}[-1]{json}{status}, 'complete', 'hanging tool: turn completes';

# an unknown tool name from the model
($r, $tag) = turn('/agent', 'calls=1,tool=no_such_tool');
($err) = ev($r, 'tool.error');
like $err->{json}{error} // '', qr/no tool named "no_such_tool"/, 'unknown tool: tool.error';

# max rounds (2): the model keeps calling; the third call has no tools
($r, $tag) = turn('/agent', 'calls=1,tool=get_weather,rounds=9');
$log = fake_log($tag);
is $log->{requests}, 3, 'max rounds: 2 tool rounds + 1 answer';
ok !exists $log->{bodies}[2]{tools}, 'max rounds: last call without tools';
is scalar(ev($r, 'tool.finished')), 2, 'max rounds: two tools ran';
is $r->{events}[-1]{json}{status}, 'complete', 'max rounds: turn completes';

# model answers without tools, stream mode: exactly one upstream call
($r, $tag) = turn('/agent', 'calls=0,tokens=4');
is fake_log($tag)->{requests}, 1, 'no tool needed: exactly one upstream call';
is text($r), 'tok1 tok2 tok3 tok4 ', 'no tool needed: answer streamed';

# separate mode (the seed's flow): non-streamed tool phase, then a stream
($r, $tag) = turn('/agent/separate', 'calls=0,tokens=4');
$log = fake_log($tag);
is $log->{requests}, 2, 'separate, no tool needed: two upstream calls';
is $log->{bodies}[0]{stream}, JSON::PP::false(), 'separate: first call not streamed';
is text($r), 'tok1 tok2 tok3 tok4 ', 'separate: answer from the streamed call';
($r, $tag) = turn('/agent/separate', 'calls=1,tool=get_weather');
$log = fake_log($tag);
is names($r), 'msgid tool.started tool.finished token token token meta done',
   'separate, one call: same events';
is $log->{requests}, 3, 'separate, one call: three upstream calls';

# a tool result never exceeds the event cap; big results are cut for the event
($r, $tag) = turn('/agent', 'calls=1,tool=big_tool');
($fin) = ev($r, 'tool.finished');
ok length($r->{events}[2]{data} // '') < 2600, 'big tool result (100 kB): event stays small';
cmp_ok length(fake_log($tag)->{bodies}[1]{messages}[-1]{content} // ''), '>', 100000,
   'big tool result: the model gets all of it';
like $fin->{json}{result} // '', qr/bytes\)$/, 'big tool result: cut with a note' or diag names($r), ' ', $r->{events}[2]{data} // '';

# REST variant runs the same flow
my $rest = http_raw(path => '/agent?prompt=' . url_escape('!fake calls=1,tool=get_weather hi'),
                    headers => { Accept => 'application/json' });
my $j = eval { json_decode($rest->{body}) } || {};
is $j->{tool_calls}[0]{result}{temp_c}, 21, 'REST: tool_calls in the JSON answer';
