#include <string.h>

#include <apr_strings.h>

#include "sse_turn.h"
#include "sse_upstream.h"

typedef struct turn_ctx_t {
    sse_sink_t *sink;
    sse_upstream_parser_t *parser;
    sse_turn_result_t *result;
    int client_gone;
} turn_ctx_t;

static int on_token(void *ud, const char *text, apr_size_t len)
{
    turn_ctx_t *tc = ud;

    if (!tc->result->first_token_at) {
        tc->result->first_token_at = apr_time_now();
    }
    if (tc->sink->token(tc->sink, text, len) != APR_SUCCESS) {
        tc->client_gone = 1;
        return 1;
    }
    return 0;
}

static int on_data(void *ud, const char *buf, apr_size_t len)
{
    turn_ctx_t *tc = ud;
    sse_upstream_state_e st = sse_upstream_feed(tc->parser, buf, len);

    /* after [DONE] keep reading to the end: the connection stays reusable */
    return st == SSE_UPSTREAM_ERROR || st == SSE_UPSTREAM_STOPPED;
}

static int on_tick(void *ud)
{
    turn_ctx_t *tc = ud;

    if (tc->sink->tick(tc->sink)) {
        tc->client_gone = 1;
        return 1;
    }
    return 0;
}

static void send_event(turn_ctx_t *tc, const char *name, const char *json)
{
    if (!tc->client_gone && json
        && tc->sink->event(tc->sink, name, json, strlen(json)) != APR_SUCCESS) {
        tc->client_gone = 1;
    }
}

static void finish_error(apr_pool_t *p, turn_ctx_t *tc,
                         const sse_error_t *err)
{
    tc->result->outcome = SSE_TURN_UPSTREAM_ERROR;
    tc->result->error = *err;
    send_event(tc, "error", sse_json_error_new(p, err));
    send_event(tc, "done", "{\"status\":\"error\"}");
}

static void finish_complete(apr_pool_t *p, turn_ctx_t *tc,
                            const char *finish_reason, const char *usage)
{
    tc->result->outcome = SSE_TURN_COMPLETE;
    send_event(tc, "meta", sse_json_meta_new(p, finish_reason, usage));
    send_event(tc, "done", "{\"status\":\"complete\"}");
}

/* A 2xx answer that is not an event stream: some servers ignore
 * "stream":true. Relay it as one token rather than failing. */
static void relay_whole_answer(apr_pool_t *p, turn_ctx_t *tc,
                               const sse_curl_result_t *res)
{
    const char *finish, *usage, *text;
    sse_error_t err;

    text = res->body ? sse_json_decode_completion_text(p, res->body,
                                                       res->body_len,
                                                       &finish, &usage)
                     : NULL;
    if (!text) {
        sse_error_set(&err, "upstream_error", "not_a_stream",
                      "upstream answered without an event stream "
                      "(is SSEAssistantUpstream the /v1 base URL of an "
                      "OpenAI-compatible server?)");
        finish_error(p, tc, &err);
        return;
    }
    if (*text && on_token(tc, text, strlen(text))) {
        return;
    }
    tc->result->tokens = *text ? 1 : 0;
    finish_complete(p, tc, finish, usage);
}

void sse_turn_run(apr_pool_t *p, sse_curl_pool_t *curl_pool,
                  const sse_turn_settings_t *s,
                  const char *msgid, const char *prompt,
                  apr_size_t prompt_len, sse_sink_t *sink,
                  sse_turn_result_t *result)
{
    turn_ctx_t tc;
    sse_chat_request_t req;
    sse_curl_call_t call;
    sse_curl_result_t res;
    sse_curl_rc_e rc;
    sse_upstream_state_e st;
    sse_error_t err;
    const char *body;
    apr_size_t body_len = 0;

    memset(result, 0, sizeof(*result));
    memset(&tc, 0, sizeof(tc));
    tc.sink = sink;
    tc.result = result;
    tc.parser = sse_upstream_parser_create(p, s->max_line, on_token, &tc);

    send_event(&tc, "msgid",
               apr_pstrcat(p, "{\"id\":\"", msgid, "\"}", NULL));
    if (tc.client_gone) {
        result->outcome = SSE_TURN_CLIENT_GONE;
        return;
    }

    memset(&req, 0, sizeof(req));
    req.model = s->model;
    req.system_prompt = s->system_prompt;
    req.prompt = prompt;
    req.prompt_len = prompt_len;
    req.include_usage = s->include_usage;
    body = sse_json_chat_request_new(p, &req, &body_len);
    if (!body) {
        sse_error_set(&err, "invalid_request", "invalid_utf8",
                      "prompt or configured texts are not valid UTF-8");
        finish_error(p, &tc, &err);
        return;
    }

    memset(&call, 0, sizeof(call));
    call.url = s->url;
    call.api_key = s->api_key;
    call.proxy = s->proxy;
    call.body = body;
    call.body_len = body_len;
    call.connect_timeout = s->connect_timeout;
    call.idle_timeout = s->idle_timeout;
    call.max_error_body = s->max_line;
    call.on_data = on_data;
    call.on_tick = on_tick;
    call.ctx = &tc;

    rc = sse_curl_perform(curl_pool, p, &call, &res);
    result->upstream_status = res.status;
    result->tokens = sse_upstream_token_count(tc.parser);

    if (tc.client_gone) {
        result->outcome = SSE_TURN_CLIENT_GONE;
        return;
    }
    switch (rc) {
    case SSE_CURL_OK:
    case SSE_CURL_ABORTED:      /* the parser stopped on an error */
        st = sse_upstream_finish(tc.parser);
        if (st == SSE_UPSTREAM_DONE) {
            finish_complete(p, &tc, sse_upstream_finish_reason(tc.parser),
                            sse_upstream_usage_json(tc.parser));
        }
        else {
            finish_error(p, &tc, sse_upstream_error(tc.parser));
        }
        break;
    case SSE_CURL_NOT_A_STREAM:
        relay_whole_answer(p, &tc, &res);
        break;
    case SSE_CURL_FAILED:
        if (res.status >= 200 && res.status < 300
            && strcmp(res.error.type, "upstream_timeout")) {
            /* the stream broke off: a finished answer may still be whole */
            st = sse_upstream_finish(tc.parser);
            if (st == SSE_UPSTREAM_DONE) {
                finish_complete(p, &tc, sse_upstream_finish_reason(tc.parser),
                                sse_upstream_usage_json(tc.parser));
                break;
            }
            if (st == SSE_UPSTREAM_ERROR
                && strcmp(sse_upstream_error(tc.parser)->code,
                          "upstream_closed")) {
                finish_error(p, &tc, sse_upstream_error(tc.parser));
                break;
            }
            sse_error_set(&err, "upstream_error", "upstream_closed",
                          "upstream closed the stream before the answer was "
                          "finished (%s)", res.error.message);
            finish_error(p, &tc, &err);
            break;
        }
        finish_error(p, &tc, &res.error);
        break;
    case SSE_CURL_HTTP_ERROR:
        finish_error(p, &tc, &res.error);
        break;
    }
    if (tc.client_gone) {
        result->outcome = SSE_TURN_CLIENT_GONE;
    }
}
