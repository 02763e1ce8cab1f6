/* RFC 6455 framing for the server side. */
#include <string.h>

#include <apr_base64.h>
#include <apr_sha1.h>
#include <apr_strings.h>

#include "sse_ws.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

apr_status_t sse_ws_accept(const char *key, char *out)
{
    unsigned char digest[APR_SHA1_DIGESTSIZE];
    char decoded[64];
    apr_sha1_ctx_t sha;
    apr_size_t klen = strlen(key);

    /* the key is 16 random bytes, base64: 24 characters */
    if (klen != 24 || apr_base64_decode_len(key) > (int)sizeof(decoded)
        || apr_base64_decode(decoded, key) != 16) {
        return APR_EINVAL;
    }
    apr_sha1_init(&sha);
    apr_sha1_update(&sha, key, (unsigned int)klen);
    apr_sha1_update(&sha, WS_GUID, (unsigned int)strlen(WS_GUID));
    apr_sha1_final(digest, &sha);
    apr_base64_encode(out, (const char *)digest, APR_SHA1_DIGESTSIZE);
    return APR_SUCCESS;
}

long sse_ws_parse(unsigned char *buf, apr_size_t len, apr_size_t max,
                  sse_ws_frame_t *f)
{
    apr_size_t hlen = 2, plen, i;
    unsigned char *mask;
    int opcode;

    if (len < 2) {
        return 0;
    }
    if (buf[0] & 0x70) {
        return -SSE_WS_PROTOCOL;        /* RSV bits without an extension */
    }
    opcode = buf[0] & 0x0F;
    if ((opcode > SSE_WS_BIN && opcode < SSE_WS_CLOSE) || opcode > SSE_WS_PONG) {
        return -SSE_WS_PROTOCOL;
    }
    if (!(buf[1] & 0x80)) {
        return -SSE_WS_PROTOCOL;        /* clients must mask */
    }
    plen = buf[1] & 0x7F;
    if (plen == 126) {
        if (len < 4) {
            return 0;
        }
        plen = ((apr_size_t)buf[2] << 8) | buf[3];
        hlen = 4;
    }
    else if (plen == 127) {
        if (len < 10) {
            return 0;
        }
        if (buf[2] & 0x80) {
            return -SSE_WS_PROTOCOL;
        }
        for (plen = 0, i = 2; i < 10; ++i) {
            if (plen > ((apr_size_t)-1 >> 8)) {
                return -SSE_WS_TOO_BIG;
            }
            plen = (plen << 8) | buf[i];
        }
        hlen = 10;
    }
    if (opcode >= SSE_WS_CLOSE && (plen > 125 || !(buf[0] & 0x80))) {
        return -SSE_WS_PROTOCOL;
    }
    if (plen > max) {
        return -SSE_WS_TOO_BIG;
    }
    if (len < hlen + 4 || len - hlen - 4 < plen) {
        return 0;
    }
    mask = buf + hlen;
    f->fin = (buf[0] & 0x80) != 0;
    f->opcode = opcode;
    f->payload = buf + hlen + 4;
    f->len = plen;
    for (i = 0; i < plen; ++i) {
        f->payload[i] ^= mask[i & 3];
    }
    return (long)(hlen + 4 + plen);
}

apr_size_t sse_ws_header(unsigned char *out, int opcode, apr_size_t len)
{
    out[0] = (unsigned char)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        return 4;
    }
    out[1] = 127;
    out[2] = out[3] = out[4] = out[5] = 0;
    out[6] = (unsigned char)(len >> 24);
    out[7] = (unsigned char)(len >> 16);
    out[8] = (unsigned char)(len >> 8);
    out[9] = (unsigned char)len;
    return 10;
}
