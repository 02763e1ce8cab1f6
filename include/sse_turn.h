/* One chat turn: ask the upstream (with tools, for several rounds if the
 * model calls them), relay the answer as events. httpd-free: the glue
 * fills the settings, the messages and a sink. */
#ifndef SSE_TURN_H
#define SSE_TURN_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "sse_curl.h"
#include "sse_json.h"
#include "sse_sink.h"
#include "sse_tools.h"

typedef enum {
    SSE_TOOL_PHASE_STREAM = 0,  /* every call streamed, tools enabled */
    SSE_TOOL_PHASE_SEPARATE     /* non-streamed tool rounds, then a stream */
} sse_tool_phase_e;

typedef struct sse_turn_settings_t {
    const char *url;                    /* …/chat/completions */
    const char *api_key;
    const char *proxy;
    const char *model;
    int include_usage;
    apr_interval_time_t connect_timeout;
    apr_interval_time_t idle_timeout;
    apr_size_t max_line;
    const apr_array_header_t *tools;    /* sse_tool_t; NULL = none */
    sse_tool_phase_e tool_phase;
    int max_tool_rounds;
    apr_interval_time_t tool_timeout;
    int keep_answer;                    /* result->answer wanted (REST) */
} sse_turn_settings_t;

/* Where the turn's messages are remembered (conversation memory); every
 * callback may be NULL. */
typedef struct sse_turn_memory_t {
    void (*tool_calls)(void *ctx, const char *content,
                       const sse_tool_calls_t *calls);
    void (*tool_result)(void *ctx, const sse_tool_call_t *call,
                        const char *content, apr_size_t len);
    /* the final text, once; interrupted when the upstream failed mid-way */
    void (*answer)(void *ctx, const char *text, apr_size_t len,
                   int interrupted);
    void *ctx;
} sse_turn_memory_t;

typedef enum {
    SSE_TURN_COMPLETE = 0,      /* meta + done complete sent */
    SSE_TURN_UPSTREAM_ERROR,    /* error + done error sent */
    SSE_TURN_CLIENT_GONE        /* stopped writing; upstream cancelled */
} sse_turn_outcome_e;

typedef struct sse_turn_result_t {
    sse_turn_outcome_e outcome;
    sse_error_t error;                  /* for UPSTREAM_ERROR */
    long upstream_status;
    apr_uint64_t tokens;
    int upstream_calls;
    int tool_calls;
    apr_time_t first_token_at;          /* 0 = none */
    const char *answer;                 /* the final text (REST, memory) */
    apr_size_t answer_len;
    const char *finish_reason;
    const char *usage_json;
} sse_turn_result_t;

/* msgs holds system, history and the user's message; the turn appends
 * tool calls and results to it. Sends msgid first, then tokens and tool
 * events, then meta + done (or error + done). */
void sse_turn_run(apr_pool_t *p, sse_curl_pool_t *curl_pool,
                  const sse_turn_settings_t *settings,
                  const char *msgid, const char *conversation,
                  sse_msgs_t *msgs,
                  const sse_turn_memory_t *memory, sse_sink_t *sink,
                  sse_turn_result_t *result);

#endif
