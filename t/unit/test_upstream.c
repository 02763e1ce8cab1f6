/* The upstream parser: framing at every byte offset, CRLF/CR/LF, comments,
 * [DONE], empty choices, error objects, invalid JSON, early EOF, caps. */
#include <stdlib.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "sse_upstream.h"
#include "tap.h"

typedef struct collected_t {
    char text[4096];
    apr_size_t len;
    int calls;
    int stop_after;
} collected_t;

static int collect(void *ctx, const char *t, apr_size_t n)
{
    collected_t *c = ctx;

    if (c->len + n < sizeof(c->text)) {
        memcpy(c->text + c->len, t, n);
        c->len += n;
        c->text[c->len] = '\0';
    }
    ++c->calls;
    return c->stop_after && c->calls >= c->stop_after;
}

#define CHUNK(content) \
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":" \
    "[{\"index\":0,\"delta\":{\"content\":\"" content "\"},"                 \
    "\"finish_reason\":null}]}\n\n"
#define FINISH \
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},"          \
    "\"finish_reason\":\"stop\"}]}\n\n"
#define USAGE \
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,"   \
    "\"completion_tokens\":2,\"total_tokens\":5}}\n\n"
#define DONE "data: [DONE]\n\n"

static const char *to_crlf(apr_pool_t *p, const char *s, const char *eol)
{
    char *out = apr_palloc(p, strlen(s) * 2 + 1), *o = out;

    for (; *s; ++s) {
        if (*s == '\n') {
            strcpy(o, eol);
            o += strlen(eol);
        }
        else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

/* Feeds `in` cut into two pieces at `cut` (or byte by byte if cut < 0). */
static sse_upstream_state_e run(apr_pool_t *p, const char *in, int cut,
                                collected_t *c, sse_upstream_parser_t **out)
{
    sse_upstream_parser_t *up;
    apr_size_t n = strlen(in), i;

    memset(c, 0, sizeof(*c));
    up = sse_upstream_parser_create(p, 65536, collect, c);
    if (cut < 0) {
        for (i = 0; i < n; ++i) {
            sse_upstream_feed(up, in + i, 1);
        }
    }
    else {
        sse_upstream_feed(up, in, (apr_size_t)cut);
        sse_upstream_feed(up, in + cut, n - (apr_size_t)cut);
    }
    if (out) {
        *out = up;
    }
    return sse_upstream_finish(up);
}

static void every_offset(apr_pool_t *p, const char *name, const char *in,
                         const char *want_text)
{
    collected_t c;
    apr_size_t n = strlen(in);
    int cut, bad = -1;

    for (cut = 0; cut <= (int)n; ++cut) {
        if (run(p, in, cut, &c, NULL) != SSE_UPSTREAM_DONE
            || strcmp(c.text, want_text)) {
            bad = cut;
            break;
        }
    }
    ok(bad < 0, "%s: same text at every split offset (first bad: %d)",
       name, bad);
    ok(run(p, in, -1, &c, NULL) == SSE_UPSTREAM_DONE
       && !strcmp(c.text, want_text), "%s: byte by byte", name);
}

int main(void)
{
    apr_pool_t *p;
    collected_t c;
    sse_upstream_parser_t *up;
    const char *stream = CHUNK("Hel") CHUNK("lo \\\"w\\u00f6rld\\\"") FINISH
                         USAGE DONE;
    const char *want = "Hello \"w\xc3\xb6rld\"";
    char *big;

    apr_initialize();
    apr_pool_create(&p, NULL);

    every_offset(p, "LF", stream, want);
    every_offset(p, "CRLF", to_crlf(p, stream, "\r\n"), want);
    every_offset(p, "CR", to_crlf(p, stream, "\r"), want);
    every_offset(p, "comments and unknown fields",
                 apr_pstrcat(p, ": keep-alive\n\n", "event: x\nid: 1\nretry: 5\n",
                             stream, NULL), want);
    every_offset(p, "data: without space",
                 "data:{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
                 "data:[DONE]\n\n", "a");

    ok(run(p, stream, -1, &c, &up) == SSE_UPSTREAM_DONE, "done state");
    is_str(sse_upstream_finish_reason(up), "stop", "finish_reason kept");
    is_str(sse_upstream_usage_json(up),
           "{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}",
           "usage kept");
    is_int(sse_upstream_token_count(up), 2, "two tokens counted");
    is_int(c.calls, 2, "callback once per content delta");

    /* Azure's empty-choices first chunk and a role-only chunk */
    run(p, "data: {\"id\":\"\",\"object\":\"\",\"choices\":[],"
           "\"prompt_filter_results\":[]}\n\n"
           "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\","
           "\"content\":\"\"}}]}\n\n" CHUNK("x") DONE, 10, &c, NULL);
    is_str(c.text, "x", "empty choices and empty content are skipped");
    is_int(c.calls, 1, "no callback for empty content");

    /* an error object inside the stream */
    ok(run(p, CHUNK("a") "data: {\"error\": {\"message\": \"The server had "
              "an error\", \"type\": \"server_error\"}}\n\n", 5, &c, &up)
       == SSE_UPSTREAM_ERROR, "in-stream error object");
    is_str(sse_upstream_error(up)->message, "The server had an error",
           "its message is the upstream's");
    is_str(sse_upstream_error(up)->type, "server_error", "its type");
    ok(run(p, "data: {\"error\":\"model overloaded\"}\n\n", 3, &c, &up)
       == SSE_UPSTREAM_ERROR
       && !strcmp(sse_upstream_error(up)->message, "model overloaded"),
       "error as a bare string");
    ok(run(p, "data: {\"error\":{\"code\":500,\"message\":\"boom\","
              "\"type\":\"server_error\"}}\n\n", 3, &c, &up)
       == SSE_UPSTREAM_ERROR
       && !strcmp(sse_upstream_error(up)->code, "500"),
       "integer error code (llama.cpp)");

    /* invalid JSON and wrong shapes */
    ok(run(p, CHUNK("a") "data: {\"choices\":[{\"delta\":{\"content\":\n\n",
           7, &c, &up) == SSE_UPSTREAM_ERROR
       && !strcmp(sse_upstream_error(up)->code, "invalid_chunk"),
       "invalid JSON in a chunk");
    is_str(c.text, "a", "tokens before the bad chunk were delivered");
    ok(run(p, "data: [1,2]\n\n", 3, &c, &up) == SSE_UPSTREAM_ERROR,
       "JSON array is not a chunk");
    ok(run(p, "data: {\"choices\":{}}\n\n", 3, &c, &up) == SSE_UPSTREAM_ERROR,
       "choices must be an array");
    ok(run(p, "data: {\"choices\":[{\"delta\":{\"content\":7}}]}\n\n" DONE,
           3, &c, &up) == SSE_UPSTREAM_DONE && c.calls == 0,
       "non-string content is ignored, not a crash");

    /* early EOF */
    ok(run(p, CHUNK("a") CHUNK("b"), 5, &c, &up) == SSE_UPSTREAM_ERROR
       && !strcmp(sse_upstream_error(up)->code, "upstream_closed"),
       "EOF without [DONE] or finish_reason is an error");
    ok(run(p, CHUNK("a") FINISH, 5, &c, &up) == SSE_UPSTREAM_DONE,
       "EOF after finish_reason is complete");
    ok(run(p, CHUNK("a") "data: [DONE]", 5, &c, &up) == SSE_UPSTREAM_DONE,
       "trailing event without blank line is dispatched at EOF");

    /* refusal text is relayed like content */
    run(p, "data: {\"choices\":[{\"delta\":{\"content\":null,"
           "\"refusal\":\"I can't\"}}]}\n\n" DONE, 9, &c, NULL);
    is_str(c.text, "I can't", "refusal delta relayed");

    /* the callback can stop the parser */
    memset(&c, 0, sizeof(c));
    c.stop_after = 1;
    up = sse_upstream_parser_create(p, 65536, collect, &c);
    ok(sse_upstream_feed(up, CHUNK("a") CHUNK("b"), strlen(CHUNK("a") CHUNK("b")))
       == SSE_UPSTREAM_STOPPED && c.calls == 1, "callback stops parsing");

    /* line cap */
    big = apr_palloc(p, 10000);
    memset(big, 'x', 9999);
    big[9999] = '\0';
    memset(&c, 0, sizeof(c));
    up = sse_upstream_parser_create(p, 4096, collect, &c);
    ok(sse_upstream_feed(up, "data: ", 6) == SSE_UPSTREAM_MORE
       && sse_upstream_feed(up, big, 9999) == SSE_UPSTREAM_ERROR
       && !strcmp(sse_upstream_error(up)->code, "line_too_long"),
       "a line over the cap fails cleanly");

    /* hostile input: random bytes never crash, never leave an odd state */
    {
        unsigned int seed = 12345, round;
        int odd = 0;
        for (round = 0; round < 2000; ++round) {
            char buf[256];
            apr_size_t i, n = (apr_size_t)(rand_r(&seed) % sizeof(buf));
            sse_upstream_state_e st;
            for (i = 0; i < n; ++i) {
                const char alphabet[] = "data: {}[]\"\\\r\n:choices delta"
                                        "content[DONE]\x80\xff";
                buf[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
            }
            memset(&c, 0, sizeof(c));
            up = sse_upstream_parser_create(p, 4096, collect, &c);
            sse_upstream_feed(up, buf, n);
            st = sse_upstream_finish(up);
            odd += st != SSE_UPSTREAM_DONE && st != SSE_UPSTREAM_ERROR;
        }
        is_int(odd, 0, "2000 random inputs end in done or error");
    }

    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
