#!/usr/bin/perl
# procstat.pl -- /proc readings over one httpd instance (its parent pid and
# every process whose parent is that pid), for bench/run.sh.
#
#   procstat.pl cpu   PARENT        utime+stime of all processes of the
#                                   instance, plus the parent's cutime+cstime
#                                   (children that already exited), in clock
#                                   ticks
#   procstat.pl pss   PARENT        sum of "Pss:" of smaps_rollup, in KiB
#   procstat.pl count PARENT        "<children> <threads of the children>"
#   procstat.pl peak  PARENT SECONDS [INTERVAL_MS]
#                                   samples pss every INTERVAL_MS (100) for
#                                   SECONDS; prints "<max KiB> <t of max s>"
#   procstat.pl watch PARENT OUT [INTERVAL_MS]
#                                   until SIGTERM/SIGINT: appends
#                                   "<t s> <pid> <ticks> <rss KiB>" per child
#                                   every INTERVAL_MS (200) to OUT
#   procstat.pl flat  OUT           reads a "watch" file: the child whose CPU
#                                   grew most served the stream; prints
#                                   "pid rss10_kib rss90_kib rss_min rss_max
#                                    active_s samples"
use strict;
use warnings;
use Time::HiRes qw(time sleep);

sub children {
    my ($parent) = @_;
    my @kids;
    opendir(my $d, '/proc') or die "procstat: /proc: $!\n";
    for my $p (grep { /^\d+$/ } readdir $d) {
        my $st = slurp("/proc/$p/stat") // next;
        my @f = split ' ', substr($st, rindex($st, ')') + 2);
        push @kids, $p if $f[1] == $parent;     # field 4: ppid
    }
    closedir $d;
    return @kids;
}

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or return undef;
    local $/;
    my $s = <$fh>;
    return $s;
}

# (utime, stime, cutime, cstime, num_threads, rss_pages) of one pid
sub stat_of {
    my ($pid) = @_;
    my $st = slurp("/proc/$pid/stat") // return;
    my @f = split ' ', substr($st, rindex($st, ')') + 2);
    # after "(comm)": f[0]=state(3) ... utime=14 -> f[11]
    return ($f[11], $f[12], $f[13], $f[14], $f[17], $f[21]);
}

sub cpu_ticks {
    my ($parent) = @_;
    my ($u, $s, $cu, $cs) = stat_of($parent);
    die "procstat: no process $parent\n" unless defined $u;
    my $t = $u + $s + $cu + $cs;
    for my $k (children($parent)) {
        my ($ku, $ks) = stat_of($k);
        $t += $ku + $ks if defined $ku;
    }
    return $t;
}

sub pss_kib {
    my ($parent) = @_;
    my $sum = 0;
    for my $p ($parent, children($parent)) {
        my $r = slurp("/proc/$p/smaps_rollup") // next;
        $sum += $1 if $r =~ /^Pss:\s+(\d+)\s+kB/m;
    }
    return $sum;
}

my $cmd = shift @ARGV // '';
if ($cmd eq 'cpu') {
    print cpu_ticks($ARGV[0]), "\n";
}
elsif ($cmd eq 'pss') {
    print pss_kib($ARGV[0]), "\n";
}
elsif ($cmd eq 'count') {
    my ($n, $thr) = (0, 0);
    for my $k (children($ARGV[0])) {
        my @s = stat_of($k) or next;
        $n++;
        $thr += $s[4];
    }
    print "$n $thr\n";
}
elsif ($cmd eq 'peak') {
    my ($parent, $secs, $ms) = @ARGV;
    $ms ||= 100;
    my $t0 = time;
    my ($max, $tmax) = (0, 0);
    while ((my $t = time - $t0) < $secs) {
        my $v = pss_kib($parent);
        ($max, $tmax) = ($v, $t) if $v > $max;
        sleep($ms / 1000);
    }
    printf "%d %.2f\n", $max, $tmax;
}
elsif ($cmd eq 'watch') {
    my ($parent, $out, $ms) = @ARGV;
    $ms ||= 200;
    my $stop = 0;
    $SIG{TERM} = $SIG{INT} = sub { $stop = 1 };
    open(my $fh, '>', $out) or die "procstat: $out: $!\n";
    my $t0 = time;
    my $page_kib = 4;
    while (!$stop) {
        my $t = time - $t0;
        for my $k (children($parent)) {
            my ($u, $s, undef, undef, undef, $rss) = stat_of($k);
            printf $fh "%.3f %d %d %d\n", $t, $k, $u + $s, $rss * $page_kib
                if defined $u;
        }
        sleep($ms / 1000);
    }
    close $fh;
}
elsif ($cmd eq 'flat') {
    my ($in) = @ARGV;
    open(my $fh, '<', $in) or die "procstat: $in: $!\n";
    my %s;                                 # pid -> [[t, ticks, rss], ...]
    while (<$fh>) {
        my ($t, $pid, $ticks, $rss) = split;
        push @{ $s{$pid} }, [$t, $ticks, $rss];
    }
    my ($best, $grow) = (undef, -1);
    for my $pid (keys %s) {
        my $v = $s{$pid};
        my $g = $v->[-1][1] - $v->[0][1];
        ($best, $grow) = ($pid, $g) if $g > $grow;
    }
    die "procstat: no samples in $in\n" unless defined $best;
    my $v = $s{$best};
    # the stream is active while that child's CPU time grows
    my ($first, $last);
    for my $i (1 .. $#$v) {
        next unless $v->[$i][1] > $v->[$i - 1][1];
        $first //= $i - 1;
        $last = $i;
    }
    die "procstat: no CPU growth in $in\n" unless defined $first;
    my ($ta, $tb) = ($v->[$first][0], $v->[$last][0]);
    my $at = sub {                          # sample nearest to fraction f
        my $tt = $ta + $_[0] * ($tb - $ta);
        my ($bi, $bd) = (0, 1e9);
        for my $i ($first .. $last) {
            my $d = abs($v->[$i][0] - $tt);
            ($bi, $bd) = ($i, $d) if $d < $bd;
        }
        return $v->[$bi][2];
    };
    my @r = map { $_->[2] } @$v[$first .. $last];
    my ($mn, $mx) = (sort { $a <=> $b } @r)[0, -1];
    printf "%d %d %d %d %d %.2f %d\n", $best, $at->(0.10), $at->(0.90),
        $mn, $mx, $tb - $ta, $last - $first + 1;
}
else {
    die "usage: procstat.pl cpu|pss|count|peak|watch|flat ...\n";
}
