/* WebSocket framing: the handshake key, masked client frames at every
 * length encoding, and every protocol violation the parser must refuse. */
#include <stdlib.h>

#include <apr_general.h>

#include "sse_ws.h"
#include "tap.h"

static apr_size_t client_frame(unsigned char *out, int first, const char *p,
                               apr_size_t n, int masked)
{
    unsigned char mask[4] = { 0x12, 0x34, 0x56, 0x78 };
    apr_size_t h = 2, i;

    out[0] = (unsigned char)first;
    if (n < 126) {
        out[1] = (unsigned char)n;
    }
    else if (n < 65536) {
        out[1] = 126;
        out[2] = (unsigned char)(n >> 8);
        out[3] = (unsigned char)n;
        h = 4;
    }
    else {
        out[1] = 127;
        memset(out + 2, 0, 4);
        out[6] = (unsigned char)(n >> 24);
        out[7] = (unsigned char)(n >> 16);
        out[8] = (unsigned char)(n >> 8);
        out[9] = (unsigned char)n;
        h = 10;
    }
    if (masked) {
        out[1] |= 0x80;
        memcpy(out + h, mask, 4);
        h += 4;
    }
    for (i = 0; i < n; ++i) {
        out[h + i] = (unsigned char)(p[i] ^ (masked ? mask[i & 3] : 0));
    }
    return h + n;
}

int main(void)
{
    char accept[32];
    unsigned char *buf = malloc(70000 + 14);
    char *big = malloc(70000);
    sse_ws_frame_t f;
    apr_size_t n, cut;
    int bad;
    unsigned char hdr[10];

    apr_initialize();
    /* RFC 6455 section 1.3's example */
    ok(sse_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", accept) == APR_SUCCESS
       && !strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "accept key");
    ok(sse_ws_accept("short", accept) == APR_EINVAL, "bad key refused");

    n = client_frame(buf, 0x81, "hello", 5, 1);
    is_int(sse_ws_parse(buf, n, 1024, &f), (long)n, "masked text frame");
    ok(f.fin && f.opcode == SSE_WS_TEXT && f.len == 5
       && !memcmp(f.payload, "hello", 5), "unmasked payload");
    for (cut = 0, bad = 0; cut < n; ++cut) {
        n = client_frame(buf, 0x81, "hello", 5, 1);
        bad += sse_ws_parse(buf, cut, 1024, &f) != 0;
    }
    is_int(bad, 0, "a partial frame asks for more at every length");

    memset(big, 'x', 70000);
    n = client_frame(buf, 0x81, big, 300, 1);
    ok(sse_ws_parse(buf, n, 1024, &f) == (long)n && f.len == 300,
       "16-bit length");
    n = client_frame(buf, 0x81, big, 70000, 1);
    ok(sse_ws_parse(buf, n, 100000, &f) == (long)n && f.len == 70000,
       "64-bit length");
    ok(sse_ws_parse(buf, n, 1024, &f) == -SSE_WS_TOO_BIG, "over max: 1009");

    n = client_frame(buf, 0x81, "x", 1, 0);
    ok(sse_ws_parse(buf, n, 1024, &f) == -SSE_WS_PROTOCOL, "unmasked: 1002");
    n = client_frame(buf, 0xC1, "x", 1, 1);
    ok(sse_ws_parse(buf, n, 1024, &f) == -SSE_WS_PROTOCOL, "RSV1: 1002");
    n = client_frame(buf, 0x83, "x", 1, 1);
    ok(sse_ws_parse(buf, n, 1024, &f) == -SSE_WS_PROTOCOL,
       "reserved opcode: 1002");
    n = client_frame(buf, 0x09, "x", 1, 1);
    ok(sse_ws_parse(buf, n, 1024, &f) == -SSE_WS_PROTOCOL,
       "fragmented ping: 1002");
    n = client_frame(buf, 0x89, big, 126, 1);
    ok(sse_ws_parse(buf, n, 1024, &f) == -SSE_WS_PROTOCOL,
       "ping over 125 bytes: 1002");

    is_int(sse_ws_header(hdr, SSE_WS_TEXT, 5), 2, "short header");
    ok(hdr[0] == 0x81 && hdr[1] == 5, "... FIN, text, unmasked");
    is_int(sse_ws_header(hdr, SSE_WS_TEXT, 300), 4, "16-bit header");
    is_int(sse_ws_header(hdr, SSE_WS_TEXT, 70000), 10, "64-bit header");

    free(buf);
    free(big);
    apr_terminate();
    return tap_done();
}
