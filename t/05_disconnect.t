# A client that leaves mid-stream cancels the upstream transfer promptly:
# while tokens flow (write fails) and while the upstream is silent (probe).
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;
use Time::HiRes qw(time);

plan tests => 9;

# tokens flowing: leave after 2 tokens
my $tag = uniq_tag();
my $s = sse_open(path => '/chat?prompt=' . url_escape("!fake tokens=40,delay=300,tag=$tag x"));
my $r = sse_read_events($s, max_events => 3, timeout => 10);
is scalar(grep { $_->{event} eq 'token' } @{ $r->{events} }), 2, 'read two tokens';
close $s;
my $left = time;
my $log = wait_fake($tag, \&fake_ended, 5);
is $log->{last}{state}, 'peer_closed', 'upstream saw its connection closed';
cmp_ok $log->{last}{ended_at} - $left, '<', 1.0, '... within 1 s of the client leaving';
my $sent = $log->{last}{tokens_sent};
cmp_ok $sent, '<=', 6, "upstream stopped early ($sent of 40 tokens sent)";
Time::HiRes::sleep(0.7);
is fake_log($tag)->{last}{tokens_sent}, $sent, 'no upstream reads after the cancel';

# silent upstream: nothing is written, only the liveness probe can tell.
# msgid goes out before the upstream is called, so the fake may not have
# seen the request yet when we first ask (this raced in CI).
is fake_state(fake_log(uniq_tag())), '', 'no upstream request yet: empty state';
$tag = uniq_tag();
$s = sse_open(path => '/chat?prompt=' . url_escape("!fake hang,tag=$tag x"));
$r = sse_read_events($s, max_events => 1, timeout => 10);
is $r->{events}[0]{event}, 'msgid', 'silent stream opened';
wait_fake($tag, sub { fake_state($_[0]) eq 'hung' || fake_state($_[0]) eq 'streaming' }, 5);
close $s;
$left = time;
$log = wait_fake($tag, sub { fake_state($_[0]) eq 'peer_closed' }, 5);
is $log->{last}{state}, 'peer_closed', 'silent upstream: connection closed';
cmp_ok $log->{last}{ended_at} - $left, '<', 2.0, '... within 2 s of the client leaving';
