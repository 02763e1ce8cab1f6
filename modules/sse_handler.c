/* Handler "sse-assistant": validate the request, then run one turn into
 * the SSE sink. */
#include <string.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_mpm.h>

#include "sse_conf.h"
#include "sse_curl.h"
#include "sse_event.h"
#include "sse_handler.h"
#include "sse_id.h"
#include "sse_json.h"
#include "sse_memory.h"
#include "sse_owner.h"
#include "sse_private.h"
#include "sse_request.h"
#include "sse_resume.h"
#include "sse_transport_json.h"
#include "sse_transport_sse.h"
#include "sse_transport_ws.h"
#include "sse_turn.h"

/* A JSON error answer before any streaming started. */
static int reply_error(request_rec *r, int status, const char *type,
                       const char *code, const char *message)
{
    return sse_handler_reply_json(r, status,
                                  sse_json_error_body_new(r->pool, type, code,
                                                          message));
}

/* Reads the whole body, refusing more than max bytes. Returns OK or an
 * HTTP status (413, 400, 408). */
int sse_handler_read_body(request_rec *r, apr_off_t max, char **body,
                          apr_size_t *len)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_bucket_brigade *bb;
    apr_size_t used = 0;
    char *buf;
    int seen_eos = 0;
    apr_status_t rv;

    *body = NULL;
    *len = 0;
    if (cl) {
        apr_off_t n;
        char *end;
        if (apr_strtoff(&n, cl, &end, 10) != APR_SUCCESS || *end || n < 0) {
            return HTTP_BAD_REQUEST;
        }
        if (n > max) {
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }
    buf = apr_palloc(r->pool, (apr_size_t)max + 1);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!seen_eos) {
        apr_bucket *b;
        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                            APR_BLOCK_READ, HUGE_STRING_LEN);
        if (rv != APR_SUCCESS) {
            apr_brigade_destroy(bb);
            return APR_STATUS_IS_TIMEUP(rv) ? HTTP_REQUEST_TIME_OUT
                   : ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t n;
            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = 1;
                break;
            }
            if (apr_bucket_read(b, &data, &n, APR_BLOCK_READ) != APR_SUCCESS) {
                apr_brigade_destroy(bb);
                return HTTP_BAD_REQUEST;
            }
            if (used + n > (apr_size_t)max) {
                apr_brigade_destroy(bb);
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
            }
            memcpy(buf + used, data, n);
            used += n;
        }
        apr_brigade_cleanup(bb);
    }
    apr_brigade_destroy(bb);
    buf[used] = '\0';
    *body = buf;
    *len = used;
    return OK;
}

static void fill_settings(request_rec *r, apr_pool_t *p,
                          const sse_dir_conf_t *dc, sse_turn_settings_t *s)
{
    apr_interval_time_t idle = sse_conf_idle_timeout(dc);

    memset(s, 0, sizeof(*s));
    s->url = apr_pstrcat(p, sse_conf_upstream(dc), "/chat/completions",
                         NULL);
    s->api_key = dc->api_key;
    s->proxy = dc->proxy;
    s->model = sse_conf_model(dc);
    s->include_usage = sse_conf_stream_usage(dc);
    s->connect_timeout = sse_conf_connect_timeout(dc);
    /* a slow client blocks the write callback for up to Timeout; curl must
     * not call that upstream silence */
    s->idle_timeout = idle > r->server->timeout ? idle : r->server->timeout;
    s->max_line = (apr_size_t)sse_conf_max_line(dc);
    s->tools = dc->tools;
    s->tool_phase = (sse_tool_phase_e)sse_conf_tool_phase(dc);
    s->max_tool_rounds = sse_conf_max_tool_rounds(dc);
    s->tool_timeout = sse_conf_tool_timeout(dc);
}

static const char *short_id(apr_pool_t *p, const char *id)
{
    return apr_pstrndup(p, id, 10);      /* "msg_" + 6 hex */
}

/* Accept: application/json (and not text/event-stream) asks for REST. */
static int wants_json(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");

    return accept && ap_strstr_c(accept, "application/json")
           && !ap_strstr_c(accept, "text/event-stream");
}

int sse_handler_reply_json(request_rec *r, int status, const char *json)
{
    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_rputs(json, r);
    ap_rputc('\n', r);
    return OK;
}

/* GET ?history=1 and DELETE (or action=clear): the stored conversation. */
static int serve_memory(request_rec *r, const sse_dir_conf_t *dc,
                        const sse_prompt_t *prompt, int clear)
{
    const char *owner = sse_owner_get(r, 0);
    sse_memory_t *mem;
    const char *json;
    int n;

    if (!prompt->conversation) {
        return reply_error(r, HTTP_BAD_REQUEST, "invalid_request",
                           "missing_conversation",
                           "conversation is required");
    }
    if (!sse_conf_memory(dc)) {
        return reply_error(r, HTTP_NOT_FOUND, "invalid_request",
                           "memory_off", "conversation memory is off here");
    }
    if (!owner) {           /* no owner yet: nothing of theirs exists */
        return sse_handler_reply_json(r, HTTP_OK, clear
                                      ? "{\"ok\":true,\"deleted\":0}"
                                      : "[]");
    }
    mem = sse_memory_open(r, r->pool, owner, prompt->conversation,
                          sse_conf_memory_key(dc));
    if (!mem) {
        return reply_error(r, HTTP_SERVICE_UNAVAILABLE, "server_error",
                           "memory_unavailable",
                           "conversation memory is not available");
    }
    if (clear) {
        n = sse_memory_clear(mem);
        return n < 0 ? reply_error(r, HTTP_SERVICE_UNAVAILABLE, "server_error",
                                   "memory_unavailable",
                                   "conversation memory is not available")
                     : sse_handler_reply_json(r, HTTP_OK,
                                  apr_psprintf(r->pool, "{\"ok\":true,"
                                               "\"deleted\":%d}", n));
    }
    json = sse_memory_history_json(mem);
    return json ? sse_handler_reply_json(r, HTTP_OK, json)
                : reply_error(r, HTTP_SERVICE_UNAVAILABLE, "server_error",
                              "memory_unavailable",
                              "conversation memory is not available");
}

int sse_handler_run(request_rec *r, const sse_dir_conf_t *dc,
                    const sse_prompt_t *in)
{
    sse_runtime_t *rt = sse_conf_runtime(r->server);

    if (!sse_stream_counter_acquire(rt->streams, sse_conf_max_streams(rt),
                                    r->pool)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SSE_LOGNO(00003)
                      "refusing stream: %d open (SSEAssistantMaxStreams)",
                      sse_conf_max_streams(rt));
        apr_table_setn(r->err_headers_out, "Retry-After", "5");
        return reply_error(r, HTTP_SERVICE_UNAVAILABLE, "server_busy",
                           "too_many_streams", "too many answers are "
                           "streaming right now; try again in a few seconds");
    }
    return sse_handler_turn(r, dc, in, NULL);
}

int sse_handler_turn(request_rec *r, const sse_dir_conf_t *dc,
                     const sse_prompt_t *in, sse_sink_t *given_sink)
{
    sse_runtime_t *rt = sse_conf_runtime(r->server);
    sse_prompt_t prompt = *in;
    apr_pool_t *tp = r->pool;
    sse_turn_settings_t settings;
    sse_turn_result_t result;
    sse_turn_memory_t hooks, *hooks_p = NULL;
    sse_memory_t *mem = NULL;
    sse_sink_t *sink;
    sse_msgs_t *msgs;
    sse_resume_t *resume = NULL;
    char msgid[SSE_MSGID_LEN + 1];
    char convid[SSE_ID_HEX_LEN + 8];
    const char *conversation, *owner;
    apr_time_t started = apr_time_now();
    int rest;
    apr_status_t rv;

    /* a WebSocket runs many turns in one request: each gets its own pool */
    if (given_sink) {
        apr_pool_create(&tp, r->pool);
    }
    if ((rv = sse_id_random(msgid, sizeof(msgid), "msg_")) != APR_SUCCESS
        || (!prompt.conversation
            && (rv = sse_id_random(convid, sizeof(convid), "conv_"))
               != APR_SUCCESS)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, SSE_LOGNO(00004)
                      "cannot generate an id");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    conversation = prompt.conversation ? prompt.conversation
                                       : apr_pstrdup(tp, convid);
    owner = sse_owner_get(r, 1);
    fill_settings(r, tp, dc, &settings);

    /* system prompt, history, then the user's message, stored at once */
    msgs = sse_msgs_create(tp);
    if (dc->system_prompt) {
        sse_msgs_add(msgs, "system", dc->system_prompt,
                     strlen(dc->system_prompt));
    }
    mem = sse_memory_open(r, tp, owner, conversation,
                          sse_conf_memory_key(dc));
    if (mem && (sse_memory_load(mem, msgs, sse_conf_memory_limit(dc))
                    != APR_SUCCESS
                || sse_memory_add_user(mem, prompt.prompt, prompt.prompt_len)
                    != APR_SUCCESS)) {
        mem = NULL;     /* logged; answer anyway, without memory */
    }
    if (mem) {
        sse_memory_turn_hooks(mem, &hooks);
        hooks_p = &hooks;
    }
    sse_msgs_add(msgs, "user", prompt.prompt, prompt.prompt_len);

    rest = !given_sink && wants_json(r);
    settings.keep_answer = rest;
    if (given_sink) {
        sink = given_sink;
        if (sink->begin) {
            resume = sse_resume_create(r, tp, dc, msgid, owner);
            sse_resume_start(resume);
            sink->begin(sink, msgid, resume);
        }
    }
    else if (rest) {
        sink = sse_transport_json_create(r);
    }
    else {
        sink = sse_transport_sse_start_turn(r, dc, msgid, owner, &resume);
        if (!sink) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SSE_LOGNO(00005)
                          "client gone before the stream opened");
            return OK;
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SSE_LOGNO(00006)
                  "turn %s: prompt %" APR_SIZE_T_FMT " bytes, %d messages "
                  "to %s model %s%s", short_id(tp, msgid), prompt.prompt_len,
                  sse_msgs_count(msgs),
                  sse_curl_url_origin(tp, settings.url), settings.model,
                  rest ? " (REST)" : "");

    sse_turn_run(tp, rt->curl_pool, &settings, msgid, conversation, msgs,
                 hooks_p, sink, &result);
    sse_resume_finish(resume);

    switch (result.outcome) {
    case SSE_TURN_COMPLETE:
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SSE_LOGNO(00007)
                      "turn %s complete: %d upstream calls, %d tool calls, "
                      "%" APR_UINT64_T_FMT " tokens, "
                      "first after %" APR_TIME_T_FMT " ms, %" APR_TIME_T_FMT
                      " ms in all", short_id(tp, msgid), result.upstream_calls,
                      result.tool_calls, result.tokens,
                      result.first_token_at
                          ? apr_time_as_msec(result.first_token_at - started)
                          : -1,
                      apr_time_as_msec(apr_time_now() - started));
        break;
    case SSE_TURN_UPSTREAM_ERROR:
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SSE_LOGNO(00008)
                      "turn %s failed upstream (%s, HTTP %ld) after %"
                      APR_UINT64_T_FMT " tokens: %s", short_id(tp, msgid),
                      sse_curl_url_origin(tp, settings.url),
                      result.upstream_status, result.tokens,
                      result.error.message);
        break;
    case SSE_TURN_CLIENT_GONE:
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SSE_LOGNO(00009)
                      "turn %s: client went away after %" APR_UINT64_T_FMT
                      " tokens; upstream cancelled", short_id(tp, msgid),
                      result.tokens);
        r->connection->keepalive = AP_CONN_CLOSE;
        break;
    }
    if (given_sink) {
        apr_pool_destroy(tp);
        return OK;
    }
    return rest ? sse_transport_json_finish(sink, msgid, conversation, &result)
                : OK;
}

static int sse_assistant_handler(request_rec *r)
{
    sse_dir_conf_t *dc;
    sse_prompt_t prompt;
    sse_request_error_t perr;
    const char *last_event_id;
    char *body = NULL;
    apr_size_t body_len = 0;
    int status;

    if (strcmp(r->handler, SSE_HANDLER_ASSISTANT)) {
        return DECLINED;
    }
    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, M_POST, M_DELETE, -1);
    if (r->method_number != M_GET && r->method_number != M_POST
        && r->method_number != M_DELETE) {
        apr_table_setn(r->headers_out, "Allow", "GET, HEAD, POST, DELETE");
        return reply_error(r, HTTP_METHOD_NOT_ALLOWED, "invalid_request",
                           "method_not_allowed", "use GET or POST");
    }
    dc = sse_conf_dir(r);
    if (sse_transport_ws_requested(r)) {
        return sse_transport_ws_serve(r, dc);
    }
    if (r->method_number == M_GET
        && (last_event_id = sse_resume_last_event_id(r))) {
        return sse_resume_serve(r, dc, last_event_id);
    }

    if (r->method_number == M_POST) {
        status = sse_handler_read_body(r, sse_conf_max_body(dc), &body,
                                       &body_len);
        if (status == HTTP_REQUEST_ENTITY_TOO_LARGE) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SSE_LOGNO(00001)
                          "request body over %" APR_OFF_T_FMT " bytes",
                          sse_conf_max_body(dc));
            r->connection->keepalive = AP_CONN_CLOSE;
            return reply_error(r, status, "invalid_request",
                               "body_too_large", "request body is larger "
                               "than SSEAssistantMaxBody allows");
        }
        if (status != OK) {
            return status;
        }
    }
    if (!sse_request_parse(r->pool, r->args,
                           apr_table_get(r->headers_in, "Content-Type"),
                           body, body_len,
                           (apr_size_t)sse_conf_max_prompt(dc),
                           r->method_number != M_DELETE, &prompt, &perr)) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SSE_LOGNO(00002)
                      "bad request: %s", perr.code);
        return reply_error(r, perr.status, "invalid_request", perr.code,
                           perr.message);
    }
    if (r->method_number == M_DELETE || prompt.action) {
        return serve_memory(r, dc, &prompt, 1);
    }
    if (prompt.history) {
        return serve_memory(r, dc, &prompt, 0);
    }
    if (r->header_only) {
        return OK;
    }
    return sse_handler_run(r, dc, &prompt);
}

static int sse_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    sse_runtime_t *rt = sse_conf_runtime(s);
    apr_status_t rv;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;      /* first of the two startup passes: nothing to do */
    }
    if ((rv = sse_curl_global_init(pconf)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, SSE_LOGNO(00010)
                     "libcurl global initialisation failed");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rv = sse_stream_counter_create(&rt->streams, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, SSE_LOGNO(00011)
                     "cannot create the shared stream counter");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, SSE_LOGNO(00012)
                 "mod_sse_assistant ready (%s)", sse_curl_version());
    return OK;
}

static void sse_child_init(apr_pool_t *pchild, server_rec *s)
{
    sse_runtime_t *rt = sse_conf_runtime(s);
    int threads = 1;

    sse_json_seed();
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    rt->curl_pool = sse_curl_pool_create(pchild, threads > 0 ? threads : 1);
    if (!rt->curl_pool) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, SSE_LOGNO(00013)
                     "cannot create the upstream handle pool; every stream "
                     "will open a new upstream connection");
    }
}

void sse_handler_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(sse_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(sse_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(sse_assistant_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
