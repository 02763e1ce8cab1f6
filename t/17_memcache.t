# The same two-server setup through a real memcached (started here on a
# free port) and mod_socache_memcache.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;
use TwoServers;

my $bin = '/usr/bin/memcached';
my $mod = '/usr/lib/apache2/modules/mod_socache_memcache.so';
plan tests => 11, need
    { 'memcached (apt-get install memcached)' => sub { -x $bin } },
    { 'mod_socache_memcache' => sub { -e $mod } };

two_servers(
    name   => 'memcached',
    module => $mod,
    # -u: memcached refuses to run as root without it
    server => sub { my ($port) = @_;
                    ($bin, '-p', $port, '-l', '127.0.0.1', '-U', '0', '-m', '64',
                     ($> == 0 ? ('-u', 'nobody') : ())) },
    store  => sub { "memcache:127.0.0.1:$_[0]" });
