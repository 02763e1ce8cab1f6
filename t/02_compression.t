# Compression stays on for the rest of the server and off for the stream.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;

plan tests => 12, need_module('mod_deflate.c', 'mod_brotli.c');

for my $ae ('gzip', 'br') {
    my $r = GET '/static.html', 'Accept-Encoding' => $ae;
    is $r->code, 200, "[$ae] static page 200";
    is $r->header('Content-Encoding'), $ae, "[$ae] static page is compressed";
}

for my $ae ('gzip', 'br') {
    my $tag = uniq_tag();
    my $r = sse_get('/chat?prompt=' . url_escape("!fake tokens=3,delay=300,tag=$tag x"),
                    headers => { 'Accept-Encoding' => $ae });
    is $r->{status}, 200, "[$ae] stream 200";
    unlike $r->{head}, qr{^Content-Encoding:}mi, "[$ae] stream not compressed";
    my @tok = grep { $_->{event} eq 'token' } @{ $r->{events} };
    is scalar(@tok), 3, "[$ae] three tokens readable as plain text";
    cmp_ok(($tok[2]{t} // 0) - ($tok[0]{t} // 9e9), '>=', 0.45, "[$ae] tokens arrived incrementally");
}
