/* SSE writer and JSON string escaping. */
#include <stdlib.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <jansson.h>

#include "sse_event.h"
#include "sse_json.h"
#include "tap.h"

static char *flat(apr_bucket_brigade *bb, apr_pool_t *p)
{
    char *s;
    apr_size_t n;

    apr_brigade_pflatten(bb, &s, &n, p);
    s = apr_pstrmemdup(p, s, n);
    apr_brigade_cleanup(bb);
    return s;
}

/* Escapes s with sse_json_write_string and decodes it with jansson. */
static int roundtrip(apr_pool_t *p, apr_bucket_brigade *bb,
                     const char *s, apr_size_t n)
{
    char *enc;
    json_t *j;
    json_error_t err;
    int same;

    sse_json_write_string(bb, s, n);
    enc = flat(bb, p);
    if (strchr(enc, '\n') || strchr(enc, '\r')) {
        return 0;
    }
    j = json_loads(enc, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    same = j && json_is_string(j) && json_string_length(j) == n
           && !memcmp(json_string_value(j), s, n);
    json_decref(j);
    return same;
}

int main(void)
{
    apr_pool_t *p;
    apr_bucket_alloc_t *ba;
    apr_bucket_brigade *bb;
    sse_event_stream_t es;
    int i, bad;

    apr_initialize();
    apr_pool_create(&p, NULL);
    ba = apr_bucket_alloc_create(p);
    bb = apr_brigade_create(p, ba);
    memset(&es, 0, sizeof(es));
    strcpy(es.msgid, "msg_0123456789abcdef0123456789abcdef");

    sse_event_write_open(bb, 3000);
    is_str(flat(bb, p), "retry: 3000\n: stream open\n\n", "opening");

    sse_event_write(&es, bb, "msgid", "{\"id\":\"x\"}", 10);
    is_str(flat(bb, p), "event: msgid\nid: msg_0123456789abcdef0123456789"
           "abcdef:1\ndata: {\"id\":\"x\"}\n\n", "event with id");

    sse_event_write(&es, bb, "note", "a\nb\r\nc\rd", 8);
    is_str(flat(bb, p), "event: note\nid: msg_0123456789abcdef0123456789"
           "abcdef:2\ndata: a\ndata: b\ndata: c\ndata: d\n\n",
           "LF, CRLF and CR each start a data line");

    ok(sse_event_write(&es, bb, "bad\nname", "x", 1) == APR_EINVAL
       && !*flat(bb, p), "event name with newline refused, nothing written");
    ok(sse_event_write(&es, bb, "x", "a\0b", 3) == APR_EINVAL,
       "data with NUL refused");
    ok(sse_event_write_comment(bb, "ping") == APR_SUCCESS
       && !strcmp(flat(bb, p), ": ping\n\n"), "comment");

    sse_event_write_token(&es, bb, "he said \"hi\"\n", 13);
    is_str(flat(bb, p), "event: token\nid: msg_0123456789abcdef0123456789"
           "abcdef:3\ndata: {\"text\":\"he said \\\"hi\\\"\\n\"}\n\n",
           "token event escapes into one data line");

    ok(roundtrip(p, bb, "", 0), "empty string");
    ok(roundtrip(p, bb, "\"\\/\b\f\n\r\t", 9), "quotes, backslash, controls");
    ok(roundtrip(p, bb, "\x01\x1f\x7f", 3), "C0 controls and DEL");
    ok(roundtrip(p, bb, "a\xe2\x80\xa8" "b\xe2\x80\xa9", 8),
       "U+2028/U+2029 round trip");
    sse_json_write_string(bb, "\xe2\x80\xa8", 3);
    is_str(flat(bb, p), "\"\\u2028\"", "U+2028 is escaped for JavaScript");
    ok(roundtrip(p, bb, "\xf0\x9f\x98\x80 gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac",
                 16), "4-, 3- and 2-byte UTF-8");

    /* random valid UTF-8 strings round trip exactly */
    {
        unsigned int seed = 7;
        bad = 0;
        for (i = 0; i < 5000; ++i) {
            char s[64];
            apr_size_t n = 0;
            while (n < 56) {
                unsigned int r = rand_r(&seed) % 10;
                if (r < 5) {
                    s[n++] = (char)(rand_r(&seed) % 128 ?: 1);
                }
                else if (r < 7) {
                    memcpy(s + n, "\xc3\xa9", 2); n += 2;
                }
                else if (r < 8) {
                    memcpy(s + n, "\xe2\x80\xa8", 3); n += 3;
                }
                else if (r < 9) {
                    memcpy(s + n, "\xf0\x9f\x8e\x89", 4); n += 4;
                }
                else {
                    s[n++] = "\"\\\n\r\t"[rand_r(&seed) % 5];
                }
            }
            bad += !roundtrip(p, bb, s, n);
        }
        is_int(bad, 0, "5000 random strings round trip through jansson");
    }

    /* 100k events through one brigade: the bucket memory is recycled by
     * the allocator on cleanup (bench/ samples RSS of the real server) */
    {
        apr_bucket_brigade *bb2 = apr_brigade_create(p, ba);
        apr_uint64_t start = es.seq;
        for (i = 0; i < 100000; ++i) {
            sse_event_write_token(&es, bb2, "token text ", 11);
            apr_brigade_cleanup(bb2);
        }
        is_int(es.seq - start, 100000, "100k token events written");
    }

    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
