# Owners besides the module cookie: r->user (Basic auth) and a mod_session
# session. The same user on two browsers shares conversations; another
# user does not.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MIME::Base64 qw(encode_base64);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;

plan tests => 8;

sub auth { 'Basic ' . encode_base64("$_[0]:$_[1]", '') }

# the authenticated user owns the conversation, whatever the cookie
my $r = sse_get('/chat-auth?prompt=hello', headers => { Authorization => auth('alice', 'wonderland') });
is $r->{status}, 200, 'alice: stream';
unlike $r->{head}, qr/^Set-Cookie: sse_owner/mi, 'authenticated: no owner cookie needed';
my $conv = $r->{events}[0]{json}{conversation};
my $h = http_raw(path => "/chat-auth?history=1&conversation=$conv",
                 headers => { Authorization => auth('alice', 'wonderland'), Cookie => 'sse_owner=' . ('d' x 32) });
is scalar(@{ json_decode($h->{body}) }), 2, 'alice from another browser sees her conversation';
$h = http_raw(path => "/chat-auth?history=1&conversation=$conv",
              headers => { Authorization => auth('bob', 'builder') });
is_deeply json_decode($h->{body}), [], 'bob does not';

# mod_session: the owner id lives in the session, no sse_owner cookie
$r = sse_get('/chat-session?prompt=hi');
my ($session) = $r->{head} =~ /^Set-Cookie: (session=[^;\r\n]*)/mi;
ok $session, 'mod_session: session cookie set';
unlike $r->{head}, qr/^Set-Cookie: sse_owner/mi, 'mod_session: no module cookie';
$conv = $r->{events}[0]{json}{conversation};
$h = http_raw(path => "/chat-session?history=1&conversation=$conv", headers => { Cookie => $session });
is scalar(@{ json_decode($h->{body}) }), 2, 'same session: history';
$h = http_raw(path => "/chat-session?history=1&conversation=$conv");
is_deeply json_decode($h->{body}), [], 'no session: nothing';
