# Bad directive values are refused at startup with a message naming the
# directive (httpd -t on a scratch config; the test server is not touched).
# Also: make install DESTDIR=<temp> installs the module, .load and the
# annotated .conf under it, and httpd -t accepts them as a2enmod enables
# them.
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

plan tests => 2 + @cases + 5;

my $dir = tempdir(CLEANUP => 1);
sub check {
    my ($directive, $load) = @_;
    $load //= qq(LoadModule sse_assistant_module "$so");
    open my $fh, '>', "$dir/httpd.conf" or die $!;
    print $fh <<"CONF";
ServerRoot "$dir"
Listen 127.0.0.1:1
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$dir/error_log"
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
$load
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

# make install into a temp dir: nothing outside it, httpd takes the result
my $dest = "$dir/dest";
my $log = `make -s -C "$top" install DESTDIR="$dest" 2>&1`;
is $?, 0, 'make install DESTDIR=... succeeds' or diag $log;
my %installed = (so   => "$mods/mod_sse_assistant.so",
                 load => '/etc/apache2/mods-available/sse_assistant.load',
                 conf => '/etc/apache2/mods-available/sse_assistant.conf');
ok -f "$dest$installed{$_}", "installs $installed{$_}" for qw(so load conf);
open my $lf, '<', "$dest$installed{load}" or die $!;
my $load = do { local $/; <$lf> };
$load =~ s{\Q$installed{so}\E}{$dest$installed{so}};
($rc, $out) = check(qq(Include "$dest$installed{conf}"), $load);
ok $rc == 0 && $out =~ /Syntax OK/, 'httpd -t accepts the installed .load and .conf' or diag $out;
