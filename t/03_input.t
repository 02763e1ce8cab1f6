# Request input: GET, POST JSON, POST form, and every kind of bad input
# answered with a JSON error before any streaming starts.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;

plan tests => 40;

sub tokens { join '', map { $_->{json}{text} } grep { $_->{event} eq 'token' } @{ $_[0]{events} } }
sub last_user { my $l = fake_log($_[0]); $l->{last}{body}{messages}[-1]{content} }

# POST JSON
my $tag = uniq_tag();
my $r = sse_get('/chat', method => 'POST',
                headers => { 'Content-Type' => 'application/json' },
                body => qq({"prompt":"!fake tag=$tag gr\\u00fc\\u00dfe \\ud83d\\ude00"}));
is $r->{status}, 200, 'POST JSON: 200';
is $r->{events}[-1]{json}{status}, 'complete', 'POST JSON: complete';
is last_user($tag), "!fake tag=$tag gr\x{fc}\x{df}e \x{1F600}", 'POST JSON: prompt reached upstream intact';

# POST form
$tag = uniq_tag();
$r = sse_get('/chat', method => 'POST',
             headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
             body => 'prompt=' . url_escape("!fake tag=$tag a+b & c"));
is $r->{status}, 200, 'POST form: 200';
is tokens($r), 'tok1 tok2 tok3 ', 'POST form: tokens';
is last_user($tag), "!fake tag=$tag a+b & c", 'POST form: prompt decoded';

# GET with usage off
$tag = uniq_tag();
$r = sse_get('/chat-nousage?prompt=' . url_escape("!fake tag=$tag hi"));
is $r->{events}[-1]{json}{status}, 'complete', 'usage off: complete';
ok !exists fake_log($tag)->{last}{body}{stream_options}, 'usage off: no stream_options upstream';
ok !exists $r->{events}[-2]{json}{usage}, 'usage off: meta without usage';

sub json_error {
    my ($name, $res, $status, $code) = @_;
    is $res->{status}, $status, "$name: HTTP $status";
    like $res->{head}, qr{^Content-Type: application/json}mi, "$name: JSON body";
    my $j = eval { json_decode($res->{body}) } || {};
    is $j->{error}{code}, $code, "$name: error code $code";
}

json_error('no prompt', http_raw(path => '/chat'), 400, 'missing_prompt');
json_error('blank prompt', http_raw(path => '/chat?prompt=%20%20'), 400, 'missing_prompt');
json_error('broken JSON', http_raw(path => '/chat', method => 'POST',
           headers => { 'Content-Type' => 'application/json' }, body => '{"prompt":'),
           400, 'invalid_json');
json_error('prompt not a string', http_raw(path => '/chat', method => 'POST',
           headers => { 'Content-Type' => 'application/json' }, body => '{"prompt":42}'),
           400, 'invalid_json');
json_error('invalid UTF-8', http_raw(path => '/chat?prompt=%C3%28'), 400, 'invalid_utf8');
json_error('bad escape', http_raw(path => '/chat?prompt=%G1'), 400, 'invalid_query');
json_error('body too large', http_raw(path => '/chat-small', method => 'POST',
           headers => { 'Content-Type' => 'application/json' },
           body => '{"prompt":"' . ('x' x 400) . '"}'), 413, 'body_too_large');
json_error('prompt too long', http_raw(path => '/chat-small?prompt=' . ('y' x 100)),
           413, 'prompt_too_long');
json_error('unsupported type', http_raw(path => '/chat', method => 'POST',
           headers => { 'Content-Type' => 'text/plain' }, body => 'hello'),
           415, 'unsupported_media_type');

my $put = http_raw(path => '/chat', method => 'PUT', body => 'x');
json_error('PUT', $put, 405, 'method_not_allowed');
ok $put->{head} =~ /^Allow:.*\bGET\b/mi && $put->{head} =~ /^Allow:.*\bPOST\b/mi,
   'PUT: Allow lists GET and POST';
