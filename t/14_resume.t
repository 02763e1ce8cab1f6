# Resumable streams: drop after k events, reconnect with Last-Event-ID,
# get exactly the missing events once, in order, then done; the upstream
# is asked once. Also: the query-parameter form, finished turns (204),
# other owners, grace expiry, and bridge streams.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;
use JSON::PP ();
use Time::HiRes qw(time);

plan tests => 25;

sub start {
    my ($path, $fake, $k, %h) = @_;
    my $tag = uniq_tag();
    my $s = sse_open(path => "$path?prompt=" . url_escape("!fake $fake,tag=$tag resume me"), headers => \%h);
    my $r = sse_read_events($s, max_events => $k, timeout => 10);
    close $s;
    my ($cookie) = $r->{head} =~ /^Set-Cookie: (sse_owner=[0-9a-f]+)/mi;
    return ($r, $tag, $cookie);
}
sub ids { [ map { $_->{id} } @{ $_[0]{events} } ] }

# drop after 3 events (msgid + 2 tokens) of a 10-token answer
my ($first, $tag, $cookie) = start('/chat-resume', 'tokens=10,delay=200', 3);
is scalar(@{ $first->{events} }), 3, 'first connection: three events';
my $last = $first->{events}[-1]{id};
my $r = sse_get('/chat-resume', headers => { Cookie => $cookie, 'Last-Event-ID' => $last }, timeout => 15);
is $r->{status}, 200, 'reconnect: 200';
my @names = map { $_->{event} } @{ $r->{events} };
is "@names", join(' ', ('token') x 8, 'meta', 'done'), 'reconnect: exactly the missing events';
my ($msgid) = $last =~ /^(msg_[0-9a-f]+):/;
is_deeply ids($r), [ map { "$msgid:$_" } 4 .. 13 ], 'reconnect: ids continue in order, none twice';
is join('', map { $_->{json}{text} } grep { $_->{event} eq 'token' } @{ $first->{events} }, @{ $r->{events} }),
   join('', map { "tok$_ " } 1 .. 10), 'the whole answer, no duplicated text';
my $log = fake_log($tag);
is $log->{requests}, 1, 'the upstream was asked once';
is $log->{last}{tokens_sent}, 10, 'the turn went on while the client was away';

# the query-parameter form (EventSource cannot set headers on a new object)
($first, $tag, $cookie) = start('/chat-resume', 'tokens=6,delay=100', 2);
$last = $first->{events}[-1]{id};
$r = sse_get('/chat-resume?lastEventId=' . url_escape($last), headers => { Cookie => $cookie }, timeout => 15);
is scalar(grep { $_->{event} eq 'token' } @{ $r->{events} }), 5, 'lastEventId query: the five missing tokens';
is $r->{events}[-1]{json}{status}, 'complete', 'lastEventId query: done';

# a finished turn read to the end: 204 stops EventSource reconnecting
my $done_id = $r->{events}[-1]{id};
my $nc = http_raw(path => '/chat-resume', headers => { Cookie => $cookie, 'Last-Event-ID' => $done_id });
is $nc->{status}, 204, 'finished turn: 204 No Content';
is fake_log($tag)->{requests}, 1, 'finished turn: never re-run';

# another owner, a malformed id, an unknown turn
$r = sse_get('/chat-resume', headers => { Cookie => 'sse_owner=' . ('b' x 32), 'Last-Event-ID' => $last });
like $r->{events}[0]{json}{message} // '', qr/Cannot resume/, 'other owner: error event';
is $r->{events}[-1]{json}{status}, 'error', 'other owner: done error';
$r = sse_get('/chat-resume', headers => { Cookie => $cookie, 'Last-Event-ID' => 'bogus' });
like $r->{events}[0]{json}{message} // '', qr/malformed/, 'malformed Last-Event-ID: error event';
$r = sse_get('/chat-resume', headers => { Cookie => $cookie, 'Last-Event-ID' => 'msg_' . ('c' x 32) . ':3' });
like $r->{events}[0]{json}{message} // '', qr/unknown or expired/, 'unknown turn: error event';

# no reconnect: cancelled upstream after the grace (3 s), not at once
($first, $tag, $cookie) = start('/chat-resume', 'tokens=100,delay=100', 2);
my $left = time;
$log = wait_fake($tag, \&fake_ended, 10);
is $log->{last}{state}, 'peer_closed', 'no reconnect: upstream cancelled';
my $after = $log->{last}{ended_at} - $left;
ok $after > 2.0 && $after < 5.0, sprintf('... after the grace (%.1f s)', $after);

# a bridge stream resumes on the same URL
my $hp = hostport();
my $body = qq({"endpoint":"/chat-resume","payload":{"prompt":"!fake tokens=8,delay=150 bridged"}});
my $p = http_raw(path => '/eventtransportpostsseproxy', method => 'POST', body => $body,
                 headers => { 'Content-Type' => 'application/json', Origin => "http://$hp" });
my $j = json_decode($p->{body});
($cookie) = $p->{head} =~ /^Set-Cookie: (sse_owner=[0-9a-f]+)/mi;
my $s = sse_open(path => $j->{stream}, headers => { Cookie => $cookie });
$first = sse_read_events($s, max_events => 4, timeout => 10);
close $s;
$r = sse_get($j->{stream}, headers => { Cookie => $cookie, 'Last-Event-ID' => $first->{events}[-1]{id} }, timeout => 15);
is scalar(grep { $_->{event} eq 'token' } @{ $r->{events} }), 5, 'bridge: the missing tokens on the same URL';
is $r->{events}[-1]{json}{status}, 'complete', 'bridge: done';
is join('', map { $_->{json}{text} // '' } grep { $_->{event} eq 'token' } @{ $first->{events} }, @{ $r->{events} }),
   join('', map { "tok$_ " } 1 .. 8), 'bridge: whole answer once';

# a relayed external stream resumes too: the target is asked once, every
# chunk arrives once, in order, then [DONE]
$tag = uniq_tag();
my $fake = "http://127.0.0.1:$ENV{FAKE_UPSTREAM_PORT}";
$body = JSON::PP->new->canonical->encode({
    endpoint => "$fake/v1/chat/completions",
    payload  => { model => "fake:tokens=8,delay=150,tag=$tag", stream => JSON::PP::true(),
                  messages => [ { role => 'user', content => 'relay and resume' } ] } });
$p = http_raw(path => '/postsse-resume', method => 'POST', body => $body,
              headers => { 'Content-Type' => 'application/json', Origin => "http://$hp" });
$j = json_decode($p->{body});
($cookie) = $p->{head} =~ /^Set-Cookie: (sse_owner=[0-9a-f]+)/mi;
$s = sse_open(path => $j->{stream}, headers => { Cookie => $cookie });
$first = sse_read_events($s, max_events => 3, timeout => 10);
close $s;
is scalar(@{ $first->{events} }), 3, 'relay: three events before the drop';
$r = sse_get($j->{stream}, headers => { Cookie => $cookie, 'Last-Event-ID' => $first->{events}[-1]{id} }, timeout => 15);
my @all = (@{ $first->{events} }, @{ $r->{events} });
($msgid) = ($all[0]{id} // '') =~ /^(msg_[0-9a-f]+):/;
is_deeply [ map { $_->{id} } @all ], [ map { "$msgid:$_" } 1 .. @all ], 'relay: ids continue, none twice';
my @texts = map { /"content":"([^"]*)"/ ? $1 : () } map { $_->{data} // '' } @all;
is join('', @texts), join('', map { "tok$_ " } 1 .. 8), 'relay: every chunk once, in order';
is $all[-1]{data}, '[DONE]', 'relay: ends with [DONE]';
is fake_log($tag)->{requests}, 1, 'relay: the target was asked once';
