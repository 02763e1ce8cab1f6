# Bad directive values are refused at startup with a message naming the
# directive (httpd -t on a scratch config; the test server is not touched).
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use FindBin ();

my $httpd = Apache::Test::vars('httpd');
my $top = Apache::Test::vars('top_dir');
my $so = "$top/.libs/mod_sse_assistant.so";
my $mods = `apxs -q LIBEXECDIR`; chomp $mods;

my @cases = (
    [ 'SSEAssistantUpstream ftp://x/v1',          qr/SSEAssistantUpstream: 'ftp:\/\/x\/v1' is not an http/ ],
    [ 'SSEAssistantUpstream http://h/v1?x=1',     qr/SSEAssistantUpstream: .* must not have a query/ ],
    [ 'SSEAssistantHeartbeat soon',               qr/SSEAssistantHeartbeat: 'soon' is not a duration/ ],
    [ 'SSEAssistantHeartbeat 0',                  qr/SSEAssistantHeartbeat: '0' is out of range/ ],
    [ 'SSEAssistantIdleTimeout -5',               qr/SSEAssistantIdleTimeout: '-5' is not a duration/ ],
    [ 'SSEAssistantMaxBody 12Q',                  qr/SSEAssistantMaxBody: '12Q' is not a number of bytes/ ],
    [ 'SSEAssistantMaxBody 1',                    qr/SSEAssistantMaxBody: '1' is out of range/ ],
    [ 'SSEAssistantMaxStreams many',              qr/SSEAssistantMaxStreams: 'many' must be a whole number/ ],
    [ "<Location /x>\nSSEAssistantMaxStreams 5\n</Location>", qr/SSEAssistantMaxStreams not allowed in <Location> context/ ],
    [ 'SSEAssistantAPIKeyFile /nonexistent/key',  qr/SSEAssistantAPIKeyFile: cannot read \/nonexistent\/key/ ],
    [ 'SSEAssistantAPIKeyEnv SSE_SURELY_UNSET_VAR', qr/SSEAssistantAPIKeyEnv: environment variable SSE_SURELY_UNSET_VAR is not set/ ],
    [ 'SSEAssistantModel ""',                     qr/SSEAssistantModel takes one argument/ ],
);

plan tests => 2 + @cases;

my $dir = tempdir(CLEANUP => 1);
sub check {
    my ($directive) = @_;
    open my $fh, '>', "$dir/httpd.conf" or die $!;
    print $fh <<"CONF";
ServerRoot "$dir"
Listen 127.0.0.1:1
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$dir/error_log"
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule sse_assistant_module "$so"
$directive
CONF
    close $fh;
    my $out = `"$httpd" -t -f "$dir/httpd.conf" 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = check("<Location /chat>\nSetHandler sse-assistant\nSSEAssistantModel m\nSSEAssistantHeartbeat off\nSSEAssistantMaxBody 1M\n</Location>");
is $rc, 0, 'a valid configuration passes httpd -t';
like $out, qr/Syntax OK/, '... with Syntax OK';
for my $c (@cases) {
    ($rc, $out) = check($c->[0]);
    ok $rc != 0 && $out =~ $c->[1], "refused: $c->[0]" or diag $out;
}
