# Several servers behind a load balancer: two httpds share POST-SSE slots
# and resume buffers through a real redis-server (started here on a free
# port): POST on A, stream from B; a turn started on A resumed on B.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use FindBin ();
use lib "$FindBin::Bin/lib";
use SSETest;
use TwoServers;

my $bin = '/usr/bin/redis-server';
my $mod = '/usr/lib/apache2/modules/mod_socache_redis.so';
plan tests => 11, need
    { 'redis-server (apt-get install redis-server)' => sub { -x $bin } },
    { 'mod_socache_redis' => sub { -e $mod } };

two_servers(
    name   => 'redis',
    module => $mod,
    server => sub { my ($port, $dir) = @_;
                    ($bin, '--port', $port, '--bind', '127.0.0.1', '--save', '',
                     '--appendonly', 'no', '--dir', $dir) },
    store  => sub { "redis:127.0.0.1:$_[0]" });
