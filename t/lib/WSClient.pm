package WSClient;
# A minimal RFC 6455 client for protocol tests: raw frames on purpose, so
# tests can also send what a library would refuse to (unmasked, binary…).
use strict;
use warnings FATAL => 'all';
use IO::Socket::INET ();
use IO::Select ();
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(sha1_base64);
use Time::HiRes qw(time);

sub connect {
    my ($class, $hostport, $path, %h) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $hostport, Timeout => 10) or die "connect: $!";
    my $key = encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
    my $req = "GET $path HTTP/1.1\r\nHost: $hostport\r\nUpgrade: websocket\r\n"
            . "Connection: Upgrade\r\nSec-WebSocket-Key: $key\r\n"
            . "Sec-WebSocket-Version: " . ($h{version} // 13) . "\r\n";
    $req .= "$_: $h{headers}{$_}\r\n" for keys %{ $h{headers} || {} };
    print $s "$req\r\n";
    my $head = '';
    while ($head !~ /\r\n\r\n/) {
        my $n = sysread $s, my $b, 1;
        last unless $n;
        $head .= $b;
    }
    my $self = bless { s => $s, head => $head, buf => '', key => $key }, $class;
    my $expect = sha1_base64($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . '=';
    $self->{accept_ok} = $head =~ /^Sec-WebSocket-Accept: \Q$expect\E\r?$/mi ? 1 : 0;
    ($self->{status}) = $head =~ m{^HTTP/1\.1 (\d+)};
    return $self;
}

sub frame {
    my ($self, $opcode, $payload, %o) = @_;
    my $fin = exists $o{fin} ? $o{fin} : 1;
    my $len = length $payload;
    my $b0 = ($fin ? 0x80 : 0) | $opcode;
    my $mask = exists $o{mask} && !$o{mask} ? 0 : 1;
    my $hdr = pack 'C', $b0;
    if ($len < 126) { $hdr .= pack 'C', ($mask ? 0x80 : 0) | $len }
    elsif ($len < 65536) { $hdr .= pack 'Cn', ($mask ? 0x80 : 0) | 126, $len }
    else { $hdr .= pack 'CNN', ($mask ? 0x80 : 0) | 127, 0, $len }
    if ($mask) {
        my @m = map { int rand 256 } 1 .. 4;
        my $i = 0;
        $payload = join '', map { chr(ord($_) ^ $m[$i++ % 4]) } split //, $payload;
        $hdr .= pack 'C4', @m;
    }
    syswrite $self->{s}, $hdr . $payload;
}

sub text { my ($self, $t, %o) = @_; utf8::encode($t) if utf8::is_utf8($t); $self->frame(1, $t, %o) }

# Next frame from the server: { op, payload, t } or undef on EOF/timeout.
sub read_frame {
    my ($self, $timeout) = @_;
    my $end = time + ($timeout // 10);
    my $sel = IO::Select->new($self->{s});
    while (1) {
        my $f = $self->_parse;
        return $f if $f;
        return undef unless $self->_more($sel, $end);
    }
}

sub _parse {
    my ($self) = @_;
    my $b = $self->{buf};
    return undef if length $b < 2;
    my ($b0, $b1) = unpack 'CC', $b;
    my ($len, $off) = ($b1 & 0x7f, 2);
    if ($len == 126) {
        return undef if length $b < 4;
        ($len, $off) = (unpack('n', substr $b, 2, 2), 4);
    }
    elsif ($len == 127) {
        return undef if length $b < 10;
        ($len, $off) = ((unpack 'NN', substr $b, 2, 8)[1], 10);
    }
    return undef if length $b < $off + $len;
    substr($self->{buf}, 0, $off + $len) = '';
    return { op => $b0 & 0x0f, fin => $b0 >> 7, payload => substr($b, $off, $len), t => time };
}

sub _more {
    my ($self, $sel, $end) = @_;
    my $left = $end - time;
    return undef if $left <= 0 || !$sel->can_read($left);
    my $n = sysread $self->{s}, my $b, 65536;
    return undef unless $n;
    $self->{buf} .= $b;
    return 1;
}

sub close { close $_[0]{s} }

1;
