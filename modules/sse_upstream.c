/* Incremental parser of an upstream chat.completion.chunk stream. */
#include <string.h>

#include <apr_strings.h>

#include "sse_tools.h"
#include "sse_upstream.h"

struct sse_upstream_parser_t {
    apr_pool_t *pool;
    sse_upstream_token_fn *token_fn;
    void *ctx;
    apr_size_t max_line;

    char *line;                 /* the current, incomplete line */
    apr_size_t line_len, line_cap;
    char *data;                 /* "data:" lines of the current event */
    apr_size_t data_len, data_cap;
    int has_data;
    int skip_lf;                /* last byte was CR: a leading LF belongs to it */

    sse_upstream_state_e state;
    sse_error_t error;
    char finish_reason[32];
    char usage_json[2048];      /* fixed: some servers repeat it per chunk */
    apr_uint64_t tokens;
    sse_tool_calls_t *calls;
};

void sse_upstream_set_tool_calls(sse_upstream_parser_t *up,
                                 sse_tool_calls_t *calls)
{
    up->calls = calls;
}

sse_upstream_parser_t *sse_upstream_parser_create(apr_pool_t *p,
                                                  apr_size_t max_line,
                                                  sse_upstream_token_fn *fn,
                                                  void *ctx)
{
    sse_upstream_parser_t *up = apr_pcalloc(p, sizeof(*up));

    up->pool = p;
    up->token_fn = fn;
    up->ctx = ctx;
    up->max_line = max_line < 256 ? 256 : max_line;
    up->line_cap = up->max_line < 4096 ? up->max_line : 4096;
    up->line = apr_palloc(p, up->line_cap);
    up->data_cap = up->line_cap;
    up->data = apr_palloc(p, up->data_cap);
    return up;
}

static sse_upstream_state_e fail(sse_upstream_parser_t *up, const char *type,
                                 const char *code, const char *msg)
{
    sse_error_set(&up->error, type, code, "%s", msg);
    return up->state = SSE_UPSTREAM_ERROR;
}

/* Grows buf to hold need bytes, doubling, within max_line. Growth happens
 * a handful of times per stream, so pool memory stays O(1) per token. */
static int reserve(sse_upstream_parser_t *up, char **buf, apr_size_t *cap,
                   apr_size_t used, apr_size_t need)
{
    apr_size_t ncap = *cap;
    char *nbuf;

    if (need <= *cap) {
        return 1;
    }
    if (need > up->max_line) {
        return 0;
    }
    while (ncap < need) {
        ncap *= 2;
    }
    if (ncap > up->max_line) {
        ncap = up->max_line;
    }
    nbuf = apr_palloc(up->pool, ncap);
    memcpy(nbuf, *buf, used);
    *buf = nbuf;
    *cap = ncap;
    return 1;
}

static sse_upstream_state_e dispatch(sse_upstream_parser_t *up)
{
    sse_chunk_t chunk;
    sse_json_rc_e rc;
    int stop = 0;

    if (!up->has_data) {
        return up->state;
    }
    up->has_data = 0;
    if (up->data_len == 6 && !memcmp(up->data, "[DONE]", 6)) {
        up->data_len = 0;
        return up->state = SSE_UPSTREAM_DONE;
    }
    rc = sse_chunk_decode(&chunk, up->data, up->data_len);
    up->data_len = 0;
    if (rc == SSE_JSON_INVALID) {
        sse_chunk_release(&chunk);
        return fail(up, "upstream_error", "invalid_chunk",
                    "upstream sent a stream chunk that is not valid JSON");
    }
    if (rc == SSE_JSON_WRONG_SHAPE) {
        sse_chunk_release(&chunk);
        return fail(up, "upstream_error", "invalid_chunk",
                    "upstream sent a stream chunk that is not a "
                    "chat.completion.chunk");
    }
    if (chunk.has_error) {
        up->error = chunk.error;
        sse_chunk_release(&chunk);
        return up->state = SSE_UPSTREAM_ERROR;
    }
    if (up->calls) {
        int i;
        for (i = 0; i < chunk.ntool; ++i) {
            if (sse_tool_calls_add(up->calls, chunk.tool[i].index,
                                   chunk.tool[i].id, chunk.tool[i].name,
                                   chunk.tool[i].args,
                                   chunk.tool[i].args_len)) {
                sse_chunk_release(&chunk);
                return fail(up, "upstream_error", "too_many_tool_calls",
                            "the model asked for more tool calls (or longer "
                            "arguments) than allowed");
            }
        }
    }
    if (chunk.content_len) {
        ++up->tokens;
        stop = up->token_fn(up->ctx, chunk.content, chunk.content_len);
    }
    if (!stop && chunk.refusal_len) {
        ++up->tokens;
        stop = up->token_fn(up->ctx, chunk.refusal, chunk.refusal_len);
    }
    if (chunk.finish_reason) {
        apr_cpystrn(up->finish_reason, chunk.finish_reason,
                    sizeof(up->finish_reason));
    }
    if (chunk.usage_json) {
        apr_size_t ulen = strlen(chunk.usage_json);
        if (ulen < sizeof(up->usage_json)) {
            memcpy(up->usage_json, chunk.usage_json, ulen + 1);
        }
    }
    sse_chunk_release(&chunk);
    if (stop) {
        up->state = SSE_UPSTREAM_STOPPED;
    }
    return up->state;
}

/* One complete line (without its terminator). */
static sse_upstream_state_e take_line(sse_upstream_parser_t *up,
                                      const char *s, apr_size_t n)
{
    apr_size_t need;

    if (n == 0) {
        return dispatch(up);
    }
    if (n < 5 || memcmp(s, "data:", 5)) {
        return up->state;       /* comment, event:, id:, retry:, unknown */
    }
    s += 5;
    n -= 5;
    if (n && *s == ' ') {
        ++s;
        --n;
    }
    need = up->data_len + n + (up->has_data ? 1 : 0);
    if (!reserve(up, &up->data, &up->data_cap, up->data_len, need)) {
        return fail(up, "upstream_error", "line_too_long",
                    "upstream sent an event larger than "
                    "SSEAssistantMaxLineBytes");
    }
    if (up->has_data) {
        up->data[up->data_len++] = '\n';
    }
    memcpy(up->data + up->data_len, s, n);
    up->data_len += n;
    up->has_data = 1;
    return up->state;
}

sse_upstream_state_e sse_upstream_feed(sse_upstream_parser_t *up,
                                       const char *buf, apr_size_t len)
{
    apr_size_t i = 0, start;

    if (up->state != SSE_UPSTREAM_MORE) {
        return up->state;
    }
    if (len && up->skip_lf) {
        up->skip_lf = 0;
        if (buf[0] == '\n') {
            i = 1;
        }
    }
    start = i;
    while (i < len && up->state == SSE_UPSTREAM_MORE) {
        const char *eol = NULL;
        apr_size_t k;

        for (k = i; k < len; ++k) {
            if (buf[k] == '\n' || buf[k] == '\r') {
                eol = buf + k;
                break;
            }
        }
        if (!eol) {
            break;
        }
        if (up->line_len) {
            /* the line began in an earlier piece */
            if (!reserve(up, &up->line, &up->line_cap, up->line_len,
                         up->line_len + (k - start))) {
                return fail(up, "upstream_error", "line_too_long",
                            "upstream sent a line longer than "
                            "SSEAssistantMaxLineBytes");
            }
            memcpy(up->line + up->line_len, buf + start, k - start);
            up->line_len += k - start;
            take_line(up, up->line, up->line_len);
            up->line_len = 0;
        }
        else {
            take_line(up, buf + start, k - start);
        }
        i = k + 1;
        if (*eol == '\r') {
            if (i < len) {
                if (buf[i] == '\n') {
                    ++i;
                }
            }
            else {
                up->skip_lf = 1;
            }
        }
        start = i;
    }
    if (up->state == SSE_UPSTREAM_MORE && start < len) {
        if (!reserve(up, &up->line, &up->line_cap, up->line_len,
                     up->line_len + (len - start))) {
            return fail(up, "upstream_error", "line_too_long",
                        "upstream sent a line longer than "
                        "SSEAssistantMaxLineBytes");
        }
        memcpy(up->line + up->line_len, buf + start, len - start);
        up->line_len += len - start;
    }
    return up->state;
}

sse_upstream_state_e sse_upstream_finish(sse_upstream_parser_t *up)
{
    if (up->state != SSE_UPSTREAM_MORE) {
        return up->state;
    }
    if (up->line_len) {
        take_line(up, up->line, up->line_len);
        up->line_len = 0;
    }
    if (up->state == SSE_UPSTREAM_MORE && up->has_data) {
        dispatch(up);
    }
    if (up->state == SSE_UPSTREAM_MORE) {
        if (up->finish_reason[0]) {
            /* LiteLLM and others may omit [DONE] after a finished answer */
            return up->state = SSE_UPSTREAM_DONE;
        }
        return fail(up, "upstream_error", "upstream_closed",
                    "upstream closed the stream before the answer was "
                    "finished");
    }
    return up->state;
}

const sse_error_t *sse_upstream_error(const sse_upstream_parser_t *up)
{
    return &up->error;
}

const char *sse_upstream_finish_reason(const sse_upstream_parser_t *up)
{
    return up->finish_reason[0] ? up->finish_reason : NULL;
}

const char *sse_upstream_usage_json(const sse_upstream_parser_t *up)
{
    return up->usage_json[0] ? up->usage_json : NULL;
}

apr_uint64_t sse_upstream_token_count(const sse_upstream_parser_t *up)
{
    return up->tokens;
}
