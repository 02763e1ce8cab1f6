/* Incremental parser of an upstream chat.completion.chunk stream. */
#include <string.h>

#include <apr_strings.h>

#include "sse_event_reader.h"
#include "sse_tools.h"
#include "sse_upstream.h"

struct sse_upstream_parser_t {
    apr_pool_t *pool;
    sse_upstream_token_fn *token_fn;
    void *ctx;
    sse_event_reader_t *reader;

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

static int on_event(void *ctx, const char *event, const char *data,
                    apr_size_t len);

sse_upstream_parser_t *sse_upstream_parser_create(apr_pool_t *p,
                                                  apr_size_t max_line,
                                                  sse_upstream_token_fn *fn,
                                                  void *ctx)
{
    sse_upstream_parser_t *up = apr_pcalloc(p, sizeof(*up));

    up->pool = p;
    up->token_fn = fn;
    up->ctx = ctx;
    up->reader = sse_event_reader_create(p, max_line, on_event, up);
    return up;
}

static sse_upstream_state_e fail(sse_upstream_parser_t *up, const char *type,
                                 const char *code, const char *msg)
{
    sse_error_set(&up->error, type, code, "%s", msg);
    return up->state = SSE_UPSTREAM_ERROR;
}

/* One event's data: "[DONE]" or a chat.completion.chunk (the event
 * type is not looked at: OpenAI sends none). */
static sse_upstream_state_e dispatch(sse_upstream_parser_t *up,
                                     const char *data, apr_size_t len)
{
    sse_chunk_t chunk;
    sse_json_rc_e rc;
    int stop = 0;

    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        return up->state = SSE_UPSTREAM_DONE;
    }
    rc = sse_chunk_decode(&chunk, data, len);
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

static int on_event(void *ctx, const char *event, const char *data,
                    apr_size_t len)
{
    sse_upstream_parser_t *up = ctx;

    (void)event;
    return dispatch(up, data, len) != SSE_UPSTREAM_MORE;
}

static sse_upstream_state_e after_read(sse_upstream_parser_t *up,
                                       sse_event_reader_rc_e rc)
{
    if (rc == SSE_EVENT_READER_TOO_BIG && up->state == SSE_UPSTREAM_MORE) {
        return fail(up, "upstream_error", "line_too_long",
                    "upstream sent a line or event larger than "
                    "SSEAssistantMaxLineBytes");
    }
    return up->state;
}

sse_upstream_state_e sse_upstream_feed(sse_upstream_parser_t *up,
                                       const char *buf, apr_size_t len)
{
    if (up->state != SSE_UPSTREAM_MORE) {
        return up->state;
    }
    return after_read(up, sse_event_reader_feed(up->reader, buf, len));
}

sse_upstream_state_e sse_upstream_finish(sse_upstream_parser_t *up)
{
    if (up->state != SSE_UPSTREAM_MORE) {
        return up->state;
    }
    if (after_read(up, sse_event_reader_finish(up->reader))
        != SSE_UPSTREAM_MORE) {
        return up->state;
    }
    if (up->finish_reason[0]) {
        /* LiteLLM and others may omit [DONE] after a finished answer */
        return up->state = SSE_UPSTREAM_DONE;
    }
    return fail(up, "upstream_error", "upstream_closed",
                "upstream closed the stream before the answer was "
                "finished");
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
