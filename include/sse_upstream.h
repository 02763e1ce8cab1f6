/* Incremental parser for an OpenAI-compatible streaming answer
 * (text/event-stream of chat.completion.chunk objects). httpd-free.
 * Bytes arrive in arbitrary pieces; lines may end in LF, CR or CRLF. */
#ifndef SSE_UPSTREAM_H
#define SSE_UPSTREAM_H

#include <apr_pools.h>

#include "sse_json.h"

typedef struct sse_upstream_parser_t sse_upstream_parser_t;

/* Called once per non-empty content (or refusal) delta. Return non-zero to
 * stop parsing (e.g. the client is gone). */
typedef int sse_upstream_token_fn(void *ctx, const char *text,
                                  apr_size_t len);

typedef enum {
    SSE_UPSTREAM_MORE = 0,      /* feed more bytes */
    SSE_UPSTREAM_DONE,          /* "[DONE]" seen */
    SSE_UPSTREAM_ERROR,         /* see sse_upstream_error() */
    SSE_UPSTREAM_STOPPED        /* the token callback asked to stop */
} sse_upstream_state_e;

/* max_line caps one line and one event's data (bytes). */
sse_upstream_parser_t *sse_upstream_parser_create(apr_pool_t *p,
                                                  apr_size_t max_line,
                                                  sse_upstream_token_fn *fn,
                                                  void *ctx);

/* Collect choices[0].delta.tool_calls fragments into calls (owned by the
 * caller); without this, tool-call deltas are ignored. */
struct sse_tool_calls_t;
void sse_upstream_set_tool_calls(sse_upstream_parser_t *up,
                                 struct sse_tool_calls_t *calls);

sse_upstream_state_e sse_upstream_feed(sse_upstream_parser_t *up,
                                       const char *buf, apr_size_t len);

/* End of the upstream body: dispatches a trailing event without its blank
 * line, and turns an early end (no [DONE], no finish_reason) into an
 * error. */
sse_upstream_state_e sse_upstream_finish(sse_upstream_parser_t *up);

const sse_error_t *sse_upstream_error(const sse_upstream_parser_t *up);
/* NULL until the upstream sent one. */
const char *sse_upstream_finish_reason(const sse_upstream_parser_t *up);
const char *sse_upstream_usage_json(const sse_upstream_parser_t *up);
apr_uint64_t sse_upstream_token_count(const sse_upstream_parser_t *up);

#endif
