/* WebSocket framing (RFC 6455), httpd-free: the handshake key, parsing a
 * client frame (masked, unmasked in place) and a server frame header. */
#ifndef SSE_WS_H
#define SSE_WS_H

#include <apr_errno.h>

#define SSE_WS_CONT  0x0
#define SSE_WS_TEXT  0x1
#define SSE_WS_BIN   0x2
#define SSE_WS_CLOSE 0x8
#define SSE_WS_PING  0x9
#define SSE_WS_PONG  0xA

/* close codes */
#define SSE_WS_NORMAL       1000
#define SSE_WS_GOING_AWAY   1001
#define SSE_WS_PROTOCOL     1002
#define SSE_WS_UNSUPPORTED  1003
#define SSE_WS_BAD_DATA     1007
#define SSE_WS_POLICY       1008
#define SSE_WS_TOO_BIG      1009

typedef struct sse_ws_frame_t {
    int fin;
    int opcode;
    unsigned char *payload;     /* inside the caller's buffer, unmasked */
    apr_size_t len;
} sse_ws_frame_t;

/* Sec-WebSocket-Accept for key (base64 of SHA-1 of key + GUID), into out
 * (at least 29 bytes). APR_EINVAL for a key that is not 16 bytes base64. */
apr_status_t sse_ws_accept(const char *key, char *out);

/* One frame from buf. Returns the bytes it took (> 0), 0 when more bytes
 * are needed, or -code (a close code) for a protocol violation: unmasked
 * frame, reserved bits or opcodes, fragmented or oversized control frame,
 * payload over max. */
long sse_ws_parse(unsigned char *buf, apr_size_t len, apr_size_t max,
                  sse_ws_frame_t *frame);

/* Header of an unmasked, final server frame; returns its length (2..10). */
apr_size_t sse_ws_header(unsigned char *out, int opcode, apr_size_t len);

#endif
