# The same stream over HTTP/2 (h2c prior knowledge) with real h2 clients.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;
use Time::HiRes qw(time);

plan tests => 9, need need_module('mod_http2.c'),
    { 'curl and nghttp (apt-get install curl nghttp2-client)' =>
      sub { !system 'curl --version >/dev/null 2>&1 && nghttp --version >/dev/null 2>&1' } };

my $hp = hostport();
my $tag = uniq_tag();
my $url = "http://$hp/chat?prompt=" . url_escape("!fake tokens=5,delay=300,tag=$tag hi");
my $t0 = time;
open my $fh, '-|', 'curl', '-sS', '-N', '-i', '--http2-prior-knowledge',
    '-H', 'Accept-Encoding: gzip, br', $url or die "curl: $!";
my ($head, @tok, $done) = ('');
while (my $line = <$fh>) {
    $head .= $line if !@tok && $line =~ /^[\w-]+:|^HTTP/;
    push @tok, time if $line =~ /^event: token/;
    $done = 1 if $line =~ /^data: \{"status":"complete"\}/;
}
close $fh;
like $head, qr{^HTTP/2 200}m, 'HTTP/2 200';
unlike $head, qr{^content-encoding:}mi, 'no content-encoding over h2';
is scalar(@tok), 5, 'five tokens over h2';
ok $done, 'done complete over h2';
my $log = fake_log($tag);
cmp_ok $tok[0], '<', $log->{last}{ended_at} - 0.9, 'first token before the upstream finished';
cmp_ok $tok[4] - $tok[0], '>=', 0.9, 'tokens arrive incrementally';

# nghttp timestamps every DATA frame it receives
my @frames = map { /^\[\s*([\d.]+)\] recv DATA frame/ ? $1 : () }
    `nghttp -v -H 'accept: text/event-stream' '$url' 2>&1`;
cmp_ok scalar(@frames), '>=', 6, 'nghttp: DATA frames as events arrive, not one at the end';
my @gaps = map { $frames[$_] - $frames[$_ - 1] } 1 .. $#frames;
cmp_ok scalar(grep { $_ >= 0.225 } @gaps), '>=', 4, 'nghttp: frames spread over the upstream delays';

# a client that resets its h2 stream cancels the upstream too
$tag = uniq_tag();
$url = "http://$hp/chat?prompt=" . url_escape("!fake tokens=40,delay=200,tag=$tag hi");
system 'curl', '-sS', '-N', '-o', '/dev/null', '--http2-prior-knowledge', '--max-time', '1', $url;
my $left = time;
$log = wait_fake($tag, \&fake_ended, 5);
ok $log->{last}{state} eq 'peer_closed' && $log->{last}{ended_at} - $left < 1.5,
   'h2: upstream cancelled when the client left';
