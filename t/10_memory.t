# Conversation memory (SQLite through mod_dbd): continuation, the answer
# stored once, owner isolation, history and clear, the memory limit never
# cutting a tool call from its results, SSE/REST alternation, an upstream
# dying mid-answer, and survival across an httpd restart.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;

plan tests => 34;

my %cookie;     # owner name => "sse_owner=…"

sub turn {
    my ($who, $path, $prompt, %o) = @_;
    my $conv = $o{conversation};
    my $q = "prompt=" . url_escape($prompt) . ($conv ? "&conversation=$conv" : '');
    my %h = $cookie{$who} ? (Cookie => $cookie{$who}) : ();
    my $r = sse_get("$path?$q", headers => \%h, timeout => 20);
    if (!$cookie{$who} && $r->{head} =~ /^Set-Cookie: (sse_owner=[0-9a-f]{32})/mi) {
        $cookie{$who} = $1;
    }
    return $r;
}
sub history {
    my ($who, $conv) = @_;
    my $res = http_raw(path => "/chat?history=1&conversation=$conv",
                       headers => { $cookie{$who} ? (Cookie => $cookie{$who}) : () });
    return (eval { json_decode($res->{body}) } || { status => $res->{status} });
}
sub text { join '', map { $_->{json}{text} } grep { $_->{event} eq 'token' } @{ $_[0]{events} } }

# a new conversation gets an id; the owner gets a cookie
my $tag = uniq_tag();
my $r = turn('alice', '/chat', "!fake echo,tokens=3,tag=$tag one two three");
like $r->{head}, qr/^Set-Cookie: sse_owner=[0-9a-f]{32};.*HttpOnly/mi, 'owner cookie set, HttpOnly';
like $r->{head}, qr/^Set-Cookie: sse_owner=.*SameSite=Lax/mi, '... SameSite=Lax';
my $conv = $r->{events}[0]{json}{conversation};
like $conv // '', qr/^conv_[0-9a-f]{32}$/, 'msgid event carries a new conversation id';

# the next turn sees the history, in order
$tag = uniq_tag();
$r = turn('alice', '/chat', "!fake echo,tokens=2,tag=$tag four five", conversation => $conv);
my @m = @{ fake_log($tag)->{last}{body}{messages} };
is_deeply [ map { $_->{role} } @m ], [qw(system user assistant user)], 'history sent upstream in order';
like $m[1]{content}, qr/one two three/, 'earlier user message';
like $m[2]{content}, qr/^\S+ \S+ \S+ $/, 'earlier answer, as streamed';
is $r->{events}[0]{json}{conversation}, $conv, 'same conversation id echoed';

# history for page reloads: the seed's shape, each answer exactly once
my $h = history('alice', $conv);
is ref $h, 'ARRAY', 'history is a JSON array';
is_deeply [ map { $_->{role} } @$h ], [qw(user assistant user assistant)],
   'history: each answer stored once';
like $h->[0]{timestamp} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'ISO 8601 timestamps';
ok exists $h->[0]{feedback} && exists $h->[0]{id}, 'id and feedback fields';

# another owner can neither read, continue nor clear it
$tag = uniq_tag();
$r = turn('mallory', '/chat', "!fake tokens=1,tag=$tag hi", conversation => $conv);
@m = @{ fake_log($tag)->{last}{body}{messages} };
is_deeply [ map { $_->{role} } @m ], [qw(system user)], 'other owner: no foreign history upstream';
is_deeply [ map { [ $_->{role}, $_->{content} ] } @{ history('mallory', $conv) } ],
   [ [ 'user', "!fake tokens=1,tag=$tag hi" ], [ 'assistant', 'tok1 ' ] ],
   'other owner: sees only their own messages';
my $del = http_raw(path => "/chat?conversation=$conv", method => 'DELETE',
                   headers => { Cookie => $cookie{mallory} });
like $del->{body}, qr/"deleted":2/, 'other owner: clear removes only their own rows';
is scalar(@{ history('alice', $conv) }), 4, "owner's history intact";
is_deeply history('nobody-yet', $conv), [], 'no owner at all: empty history';

# alternating SSE and REST turns share the memory
my $rest = http_raw(path => "/chat?prompt=" . url_escape('!fake tokens=2 rest turn') . "&conversation=$conv",
                    headers => { Accept => 'application/json', Cookie => $cookie{alice} });
is $rest->{status}, 200, 'REST turn: 200';
my $j = eval { json_decode($rest->{body}) } || {};
is $j->{content}, 'tok1 tok2 ', 'REST turn: the answer as JSON';
is $j->{role}, 'assistant', 'REST turn: role';
is $j->{conversation}, $conv, 'REST turn: conversation';
is $j->{usage}{completion_tokens}, 2, 'REST turn: usage';
$tag = uniq_tag();
turn('alice', '/chat', "!fake tokens=1,tag=$tag after rest", conversation => $conv);
@m = @{ fake_log($tag)->{last}{body}{messages} };
is scalar(@m), 1 + 6 + 1, 'SSE turn after REST sees all six earlier messages';
is $m[-2]{content}, 'tok1 tok2 ', '... including the REST answer';

# upstream dying mid-answer: partial answer kept, history stays usable
$r = turn('alice', '/chat', '!fake tokens=5,close_after=2 break', conversation => $conv);
is $r->{events}[-1]{json}{status}, 'error', 'upstream died: error event';
$h = history('alice', $conv);
is $h->[-1]{content}, 'tok1 tok2 ', 'upstream died: what was streamed is stored';
$tag = uniq_tag();
$r = turn('alice', '/chat', "!fake tokens=1,tag=$tag still fine", conversation => $conv);
is $r->{events}[-1]{json}{status}, 'complete', 'next turn works';

# clear by the owner
$del = http_raw(path => '/chat', method => 'POST',
                headers => { 'Content-Type' => 'application/x-www-form-urlencoded', Cookie => $cookie{alice} },
                body => "action=clear&conversation=$conv");
like $del->{body}, qr/"ok":true/, 'POST action=clear';
is_deeply history('alice', $conv), [], 'history empty after clear';

# memory limit 2 never starts with a tool result cut from its call
$r = turn('alice', '/agent/short', '!fake calls=1,tool=get_weather weather?');
my $c2 = $r->{events}[0]{json}{conversation};
$tag = uniq_tag();
turn('alice', '/agent/short', "!fake calls=0,tokens=1,tag=$tag next", conversation => $c2);
@m = @{ fake_log($tag)->{last}{body}{messages} };
my $orphan = 0;
for my $i (0 .. $#m) {
    $orphan++ if $m[$i]{role} eq 'tool'
        && !($i > 0 && ($m[$i - 1]{tool_calls} || $m[$i - 1]{role} eq 'tool'));
}
is $orphan, 0, 'memory limit: no tool result without its call';
is $m[-1]{role}, 'user', 'memory limit: the prompt comes last';

# a turn that died while parallel tools ran: some results stored, not all.
# The next turn must not send that call group (upstreams refuse a tool
# call without its result).
{
    my $s = sse_open(path => '/agent?prompt=' . url_escape('!fake calls=4 all tools'),
                     headers => { Cookie => $cookie{alice} });
    my $r = sse_read_events($s, max_events => 8, timeout => 10);   # msgid, 4 started, 3 done
    close $s;
    my $cg = $r->{events}[0]{json}{conversation};
    select undef, undef, undef, 0.5;            # the handler notices and stops
    $tag = uniq_tag();
    turn('alice', '/agent', "!fake calls=0,tokens=1,tag=$tag after the crash", conversation => $cg);
    my @mm = @{ fake_log($tag)->{last}{body}{messages} };
    my %answered = map { ($_->{tool_call_id} // '') => 1 } grep { $_->{role} eq 'tool' } @mm;
    my @unanswered = grep { !$answered{$_} } map { $_->{id} } map { @{ $_->{tool_calls} || [] } } @mm;
    is scalar(@unanswered), 0, 'partial tool group left out of the history';
    ok((grep { ($_->{content} // '') =~ /all tools/ } @mm), '... the user message is still there');
}

# memory off
$tag = uniq_tag();
turn('alice', '/chat-nomemory', "!fake tag=$tag x", conversation => $conv);
is scalar(@{ fake_log($tag)->{last}{body}{messages} }), 1, 'SSEAssistantMemory off: no history';

# survives an httpd restart (the SQLite file)
$r = turn('alice', '/chat', '!fake tokens=1 before restart');
my $c3 = $r->{events}[0]{json}{conversation};
my $server = Apache::Test::config()->server;
$server->stop;
$server->start;
$h = history('alice', $c3);
is scalar(@$h), 2, 'history survives an httpd restart';
