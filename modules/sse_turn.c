/* The flow of one chat turn: up to max_tool_rounds rounds of tool calls,
 * then the answer. In "stream" mode every upstream call is streamed with
 * tools enabled, so a text answer is already flowing when it turns out no
 * tool is needed (no second call paid for); "separate" is the seed's flow:
 * non-streamed tool rounds, then one streamed call. */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "sse_tool_exec.h"
#include "sse_turn.h"
#include "sse_upstream.h"

#define TOOL_EVENT_MAX 2048             /* bytes of a result in an event */
#define TOOL_RESULT_MAX (256 * 1024)    /* bytes of a result for the model */

typedef struct turn_ctx_t {
    apr_pool_t *pool;
    sse_sink_t *sink;
    const sse_turn_memory_t *memory;
    sse_upstream_parser_t *parser;
    sse_turn_result_t *result;
    int client_gone;
    int keep_text;
    /* the text of the current upstream call, kept for memory and REST */
    char *text;
    apr_size_t text_len, text_cap;
} turn_ctx_t;

static apr_status_t free_text(void *data)
{
    turn_ctx_t *tc = data;

    free(tc->text);
    tc->text = NULL;
    return APR_SUCCESS;
}

/* The answer is kept only when memory or the REST variant needs it, in one
 * realloc'd buffer (a pool would keep every outgrown copy until the request
 * ends: 2x the answer, measured in bench/). */
static void keep_text(turn_ctx_t *tc, const char *s, apr_size_t n)
{
    if (!tc->keep_text) {
        return;
    }
    if (tc->text_len + n + 1 > tc->text_cap) {
        apr_size_t cap = tc->text_cap ? tc->text_cap * 2 : 1024;
        char *nb;
        while (cap < tc->text_len + n + 1) {
            cap *= 2;
        }
        if (!(nb = realloc(tc->text, cap))) {
            tc->keep_text = 0;
            return;
        }
        if (!tc->text) {
            apr_pool_cleanup_register(tc->pool, tc, free_text,
                                      apr_pool_cleanup_null);
        }
        tc->text = nb;
        tc->text_cap = cap;
    }
    memcpy(tc->text + tc->text_len, s, n);
    tc->text_len += n;
    tc->text[tc->text_len] = '\0';
}

static int on_token(void *ud, const char *text, apr_size_t len)
{
    turn_ctx_t *tc = ud;

    if (!tc->result->first_token_at) {
        tc->result->first_token_at = apr_time_now();
    }
    keep_text(tc, text, len);
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

    if (tc->client_gone || tc->sink->tick(tc->sink)) {
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

static void remember_answer(turn_ctx_t *tc, int interrupted)
{
    tc->result->answer = tc->text ? apr_pstrmemdup(tc->pool, tc->text,
                                                   tc->text_len) : "";
    tc->result->answer_len = tc->text_len;
    if (tc->memory && tc->memory->answer
        && (tc->text_len || !interrupted)) {
        tc->memory->answer(tc->memory->ctx, tc->result->answer,
                           tc->text_len, interrupted);
    }
}

static void finish_error(turn_ctx_t *tc, const sse_error_t *err)
{
    tc->result->outcome = SSE_TURN_UPSTREAM_ERROR;
    tc->result->error = *err;
    remember_answer(tc, 1);
    send_event(tc, "error", sse_json_error_new(tc->pool, err));
    send_event(tc, "done", "{\"status\":\"error\"}");
}

static void finish_complete(turn_ctx_t *tc, const char *finish_reason,
                            const char *usage)
{
    tc->result->outcome = SSE_TURN_COMPLETE;
    tc->result->finish_reason = finish_reason
        ? apr_pstrdup(tc->pool, finish_reason) : NULL;
    tc->result->usage_json = usage ? apr_pstrdup(tc->pool, usage) : NULL;
    remember_answer(tc, 0);
    send_event(tc, "meta", sse_json_meta_new(tc->pool, finish_reason, usage));
    send_event(tc, "done", "{\"status\":\"complete\"}");
}

typedef enum {
    CALL_ANSWERED,          /* text complete, no tool calls */
    CALL_TOOLS,             /* the model asked for tools */
    CALL_FINISHED_TURN      /* error sent, or client gone */
} call_result_e;

/* One upstream call. Streams text to the sink (stream) or collects it. */
static call_result_e call_upstream(turn_ctx_t *tc, sse_curl_pool_t *curl_pool,
                                   const sse_turn_settings_t *s,
                                   sse_msgs_t *msgs, int with_tools,
                                   int stream, sse_tool_calls_t *calls)
{
    const char **specs = NULL;
    int ntools = 0, i;
    sse_curl_call_t call;
    sse_curl_result_t res;
    sse_curl_rc_e rc;
    sse_upstream_state_e st;
    sse_error_t err;
    const char *body;
    apr_size_t body_len = 0;
    const char *usage = NULL, *finish = NULL;

    if (with_tools) {
        ntools = s->tools->nelts;
        specs = apr_palloc(tc->pool, sizeof(char *) * (apr_size_t)ntools);
        for (i = 0; i < ntools; ++i) {
            specs[i] = APR_ARRAY_IDX(s->tools, i, sse_tool_t).spec_json;
        }
    }
    body = sse_json_chat_new(tc->pool, s->model, msgs, specs, ntools, stream,
                             s->include_usage, &body_len);
    if (!body) {
        sse_error_set(&err, "invalid_request", "invalid_utf8",
                      "the conversation holds text that is not valid UTF-8");
        finish_error(tc, &err);
        return CALL_FINISHED_TURN;
    }
    sse_tool_calls_init(calls, tc->pool, s->max_line);
    tc->text_len = 0;
    tc->parser = sse_upstream_parser_create(tc->pool, s->max_line, on_token,
                                            tc);
    sse_upstream_set_tool_calls(tc->parser, calls);

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
    call.ctx = tc;

    ++tc->result->upstream_calls;
    rc = sse_curl_perform(curl_pool, tc->pool, &call, &res);
    tc->result->upstream_status = res.status;
    tc->result->tokens += sse_upstream_token_count(tc->parser);
    if (tc->client_gone) {
        return CALL_FINISHED_TURN;
    }

    switch (rc) {
    case SSE_CURL_OK:
    case SSE_CURL_ABORTED:      /* the parser stopped on an error */
        st = sse_upstream_finish(tc->parser);
        if (st != SSE_UPSTREAM_DONE) {
            finish_error(tc, sse_upstream_error(tc->parser));
            return CALL_FINISHED_TURN;
        }
        finish = sse_upstream_finish_reason(tc->parser);
        usage = sse_upstream_usage_json(tc->parser);
        break;
    case SSE_CURL_NOT_A_STREAM: {
        /* a non-streamed answer: asked for (separate tool phase) or a
         * server that ignores "stream":true */
        const char *text;
        if (!res.body || sse_json_decode_completion(tc->pool, res.body,
                                                    res.body_len, &text, calls,
                                                    &finish, &usage)) {
            sse_error_set(&err, "upstream_error", "not_a_stream",
                          "upstream answered with something that is neither "
                          "an event stream nor a chat completion (is "
                          "SSEAssistantUpstream the /v1 base URL of an "
                          "OpenAI-compatible server?)");
            finish_error(tc, &err);
            return CALL_FINISHED_TURN;
        }
        /* in the separate tool phase a text answer is dropped: the seed's
         * flow streams the final answer in a call of its own */
        if (stream && *text && on_token(tc, text, strlen(text))) {
            return CALL_FINISHED_TURN;
        }
        tc->result->tokens += stream && *text ? 1 : 0;
        break;
    }
    case SSE_CURL_FAILED:
        if (res.status >= 200 && res.status < 300
            && strcmp(res.error.type, "upstream_timeout")) {
            /* the stream broke off: a finished answer may still be whole */
            st = sse_upstream_finish(tc->parser);
            if (st == SSE_UPSTREAM_DONE) {
                finish = sse_upstream_finish_reason(tc->parser);
                usage = sse_upstream_usage_json(tc->parser);
                break;
            }
            if (st == SSE_UPSTREAM_ERROR
                && strcmp(sse_upstream_error(tc->parser)->code,
                          "upstream_closed")) {
                finish_error(tc, sse_upstream_error(tc->parser));
                return CALL_FINISHED_TURN;
            }
            sse_error_set(&err, "upstream_error", "upstream_closed",
                          "upstream closed the stream before the answer was "
                          "finished (%s)", res.error.message);
            finish_error(tc, &err);
            return CALL_FINISHED_TURN;
        }
        finish_error(tc, &res.error);
        return CALL_FINISHED_TURN;
    case SSE_CURL_HTTP_ERROR:
        finish_error(tc, &res.error);
        return CALL_FINISHED_TURN;
    }

    /* decided by the calls, not finish_reason: vLLM says "stop" for a named
     * tool, llama.cpp may say "length" */
    if (with_tools && sse_tool_calls_finish(calls) > 0) {
        return CALL_TOOLS;
    }
    if (!stream) {
        return CALL_ANSWERED;   /* separate mode: the stream comes next */
    }
    finish_complete(tc, finish, usage);
    return CALL_ANSWERED;
}

/* --- tools --- */

typedef struct tool_ctx_t {
    turn_ctx_t *tc;
    sse_msgs_t *msgs;
} tool_ctx_t;

static void tool_started(void *ud, const sse_tool_call_t *call,
                         const sse_tool_t *tool)
{
    tool_ctx_t *t = ud;

    send_event(t->tc, "tool.started",
               sse_json_tool_event_new(t->tc->pool, call->name,
                                       tool ? tool->label : NULL, "args",
                                       call->args, call->args_len,
                                       TOOL_EVENT_MAX));
}

static void tool_finished(void *ud, const sse_tool_call_t *call,
                          const sse_tool_t *tool,
                          const sse_tool_outcome_t *o)
{
    tool_ctx_t *t = ud;
    const char *for_model = o->result;
    apr_size_t for_model_len = o->result_len;

    ++t->tc->result->tool_calls;
    send_event(t->tc, o->ok ? "tool.finished" : "tool.error",
               sse_json_tool_event_new(t->tc->pool, call->name,
                                       tool ? tool->label : NULL,
                                       o->ok ? "result" : "error",
                                       o->result, o->result_len,
                                       TOOL_EVENT_MAX));
    if (!o->ok) {
        /* the model learns that the tool failed and can say so */
        for_model = sse_json_tool_event_new(t->tc->pool, call->name, NULL,
                                            "error", o->result, o->result_len,
                                            TOOL_EVENT_MAX);
        for_model_len = strlen(for_model);
    }
    sse_msgs_add_tool_result(t->msgs, call->id, for_model, for_model_len);
    if (t->tc->memory && t->tc->memory->tool_result) {
        t->tc->memory->tool_result(t->tc->memory->ctx, call, for_model,
                                   for_model_len);
    }
}

static int tool_tick(void *ud)
{
    return on_tick(((tool_ctx_t *)ud)->tc);
}

void sse_turn_run(apr_pool_t *p, sse_curl_pool_t *curl_pool,
                  const sse_turn_settings_t *s,
                  const char *msgid, const char *conversation,
                  sse_msgs_t *msgs,
                  const sse_turn_memory_t *memory, sse_sink_t *sink,
                  sse_turn_result_t *result)
{
    turn_ctx_t tc;
    sse_tool_calls_t calls;
    int round, has_tools = s->tools && s->tools->nelts > 0;

    memset(result, 0, sizeof(*result));
    memset(&tc, 0, sizeof(tc));
    tc.pool = p;
    tc.sink = sink;
    tc.memory = memory;
    tc.result = result;
    tc.keep_text = s->keep_answer || memory || has_tools;

    send_event(&tc, "msgid", sse_json_msgid_new(p, msgid, conversation));

    for (round = 0; !tc.client_gone; ++round) {
        int with_tools = has_tools && round < s->max_tool_rounds;
        int stream = !(with_tools && s->tool_phase == SSE_TOOL_PHASE_SEPARATE);
        call_result_e cr;
        sse_tool_outcome_t outcomes[SSE_TOOL_MAX_CALLS];
        sse_tool_exec_t ex;
        tool_ctx_t tctx;

        cr = call_upstream(&tc, curl_pool, s, msgs, with_tools, stream,
                           &calls);
        if (cr == CALL_FINISHED_TURN) {
            break;
        }
        if (cr == CALL_ANSWERED) {
            if (!stream) {
                has_tools = 0;  /* the final, streamed call comes next */
                continue;
            }
            break;
        }
        /* the model asked for tools */
        sse_msgs_add_tool_calls(msgs, tc.text_len ? tc.text : NULL, &calls);
        if (memory && memory->tool_calls) {
            memory->tool_calls(memory->ctx, tc.text_len ? tc.text : NULL,
                               &calls);
        }
        memset(&ex, 0, sizeof(ex));
        ex.tools = s->tools;
        ex.timeout = s->tool_timeout;
        ex.max_result = TOOL_RESULT_MAX;
        ex.proxy = s->proxy;
        ex.started = tool_started;
        ex.finished = tool_finished;
        ex.tick = tool_tick;
        tctx.tc = &tc;
        tctx.msgs = msgs;
        ex.ctx = &tctx;
        memset(outcomes, 0, sizeof(outcomes));
        if (sse_tool_exec_run(p, &ex, &calls, outcomes)) {
            tc.client_gone = 1;
        }
    }
    if (tc.client_gone) {
        result->outcome = SSE_TURN_CLIENT_GONE;
        if (memory && memory->answer && tc.text_len) {
            memory->answer(memory->ctx, tc.text, tc.text_len, 1);
        }
    }
}
