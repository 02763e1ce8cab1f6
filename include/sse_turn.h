/* One chat turn: ask the upstream, relay its answer as events. httpd-free:
 * the glue fills the settings and a sink. */
#ifndef SSE_TURN_H
#define SSE_TURN_H

#include <apr_pools.h>
#include <apr_time.h>

#include "sse_curl.h"
#include "sse_json.h"
#include "sse_sink.h"

typedef struct sse_turn_settings_t {
    const char *url;                    /* …/chat/completions */
    const char *api_key;
    const char *proxy;
    const char *model;
    const char *system_prompt;
    int include_usage;
    apr_interval_time_t connect_timeout;
    apr_interval_time_t idle_timeout;
    apr_size_t max_line;
} sse_turn_settings_t;

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
    apr_time_t first_token_at;          /* 0 = none */
} sse_turn_result_t;

/* Sends msgid, the tokens, then meta + done (or error + done). */
void sse_turn_run(apr_pool_t *p, sse_curl_pool_t *curl_pool,
                  const sse_turn_settings_t *settings,
                  const char *msgid, const char *prompt,
                  apr_size_t prompt_len, sse_sink_t *sink,
                  sse_turn_result_t *result);

#endif
