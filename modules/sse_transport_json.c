/* REST: no bytes leave before the turn ends, so tokens are only counted;
 * tool outcomes are kept for the answer's "tool_calls". */
#include <string.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_protocol.h>

#include "sse_json.h"
#include "sse_private.h"
#include "sse_transport_json.h"
#include "sse_transport_sse.h"

typedef struct json_sink_t {
    sse_sink_t base;
    request_rec *r;
    apr_array_header_t *tool_events;    /* JSON texts */
    apr_time_t last_probe;
    int gone;
} json_sink_t;

static apr_status_t sink_token(sse_sink_t *sink, const char *text,
                               apr_size_t len)
{
    return ((json_sink_t *)sink)->gone ? APR_ECONNABORTED : APR_SUCCESS;
}

static apr_status_t sink_event(sse_sink_t *sink, const char *name,
                               const char *json, apr_size_t len)
{
    json_sink_t *s = (json_sink_t *)sink;

    if (!strcmp(name, "tool.finished") || !strcmp(name, "tool.error")) {
        APR_ARRAY_PUSH(s->tool_events, const char *) =
            apr_pstrmemdup(s->r->pool, json, len);
    }
    return s->gone ? APR_ECONNABORTED : APR_SUCCESS;
}

static int sink_tick(sse_sink_t *sink)
{
    json_sink_t *s = (json_sink_t *)sink;

    if (!s->gone) {
        s->gone = sse_transport_client_gone_probe(s->r->connection,
                                                  &s->last_probe);
    }
    return s->gone;
}

sse_sink_t *sse_transport_json_create(request_rec *r)
{
    json_sink_t *s = apr_pcalloc(r->pool, sizeof(*s));

    s->base.token = sink_token;
    s->base.event = sink_event;
    s->base.tick = sink_tick;
    s->r = r;
    s->tool_events = apr_array_make(r->pool, 4, sizeof(const char *));
    s->last_probe = apr_time_now();
    return &s->base;
}

int sse_transport_json_finish(sse_sink_t *sink, const char *msgid,
                              const char *conversation,
                              const sse_turn_result_t *result)
{
    json_sink_t *s = (json_sink_t *)sink;
    request_rec *r = s->r;
    const char *body;

    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (result->outcome == SSE_TURN_CLIENT_GONE) {
        return OK;
    }
    if (result->outcome == SSE_TURN_UPSTREAM_ERROR) {
        r->status = HTTP_BAD_GATEWAY;
        body = apr_pstrcat(r->pool, "{\"error\":",
                           sse_json_error_new(r->pool, &result->error), "}",
                           NULL);
    }
    else {
        body = sse_json_rest_answer_new(
            r->pool, msgid, conversation, result->answer, result->answer_len,
            apr_pstrcat(r->pool, "[",
                        apr_array_pstrcat(r->pool, s->tool_events, ','), "]",
                        NULL),
            result->finish_reason, result->usage_json);
    }
    ap_rputs(body, r);
    ap_rputc('\n', r);
    return OK;
}
