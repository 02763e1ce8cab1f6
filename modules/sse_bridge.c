/* The POST-SSE bridge. EventSource cannot POST; the seed kept payloads in
 * the PHP session (lost with the cookie) and made a second HTTP request to
 * itself (one more worker per stream). Here the payload sits in an
 * ap_socache slot bound to its owner, and a local endpoint runs in this
 * very request. */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uri.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include "sse_bridge.h"
#include "sse_conf.h"
#include "sse_curl.h"
#include "sse_event.h"
#include "sse_event_reader.h"
#include "sse_handler.h"
#include "sse_id.h"
#include "sse_json.h"
#include "sse_owner.h"
#include "sse_private.h"
#include "sse_request.h"
#include "sse_resume.h"
#include "sse_store.h"
#include "sse_transport_sse.h"

#define SLOT_PREFIX "sse-slot:"

static int refuse(request_rec *r, int status, const char *message)
{
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SSE_LOGNO(00029)
                  "POST-SSE refused (%d): %s", status, message);
    return sse_handler_reply_json(r, status, sse_json_bridge_error_new(r->pool, message));
}

/* "scheme://host[:port]" of this request, as a browser's Origin. */
static const char *own_origin(request_rec *r)
{
    const char *scheme = ap_http_scheme(r);
    apr_port_t port = ap_get_server_port(r);
    const char *host = ap_get_server_name_for_url(r);

    if (ap_is_default_port(port, r)) {
        return apr_pstrcat(r->pool, scheme, "://", host, NULL);
    }
    return apr_psprintf(r->pool, "%s://%s:%u", scheme, host, port);
}

/* CSRF: a POST from another site's page carries that site's Origin. */
static int origin_allowed(request_rec *r, const sse_dir_conf_t *dc)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *host = apr_table_get(r->headers_in, "Host");
    int i;

    if (!origin) {
        return 0;
    }
    if (!strcasecmp(origin, own_origin(r))
        || (host && !strcasecmp(origin, apr_pstrcat(r->pool,
                                                    ap_http_scheme(r), "://",
                                                    host, NULL)))) {
        return 1;
    }
    for (i = 0; dc->allow_origins && i < dc->allow_origins->nelts; ++i) {
        if (!strcasecmp(origin, APR_ARRAY_IDX(dc->allow_origins, i,
                                              const char *))) {
            return 1;
        }
    }
    return 0;
}

/* An absolute endpoint must fall under an SSEPostSseTarget prefix, compared
 * on the parsed URL (scheme, host, port, then path prefix on a segment
 * boundary): "http://a:80@evil/", "http://a:8080" against "http://a:80",
 * "/v1evil" against "/v1" all fail. Redirects are never followed. */
static int target_allowed(request_rec *r, const sse_dir_conf_t *dc,
                          const char *url)
{
    apr_uri_t u, t;
    int i;

    if (apr_uri_parse(r->pool, url, &u) != APR_SUCCESS || !u.scheme
        || !u.hostname || u.user || u.password || u.fragment
        || (strcasecmp(u.scheme, "http") && strcasecmp(u.scheme, "https"))) {
        return 0;
    }
    if (!u.port) {
        u.port = apr_uri_port_of_scheme(u.scheme);
    }
    for (i = 0; dc->postsse_targets && i < dc->postsse_targets->nelts; ++i) {
        const char *prefix = APR_ARRAY_IDX(dc->postsse_targets, i,
                                           const char *);
        apr_size_t plen;
        const char *upath = u.path ? u.path : "/";
        if (apr_uri_parse(r->pool, prefix, &t) != APR_SUCCESS) {
            continue;
        }
        if (!t.port) {
            t.port = apr_uri_port_of_scheme(t.scheme);
        }
        if (strcasecmp(u.scheme, t.scheme) || strcasecmp(u.hostname,
                                                         t.hostname)
            || u.port != t.port) {
            continue;
        }
        plen = t.path ? strlen(t.path) : 0;
        if (!plen || (!strncmp(upath, t.path, plen)
                      && (t.path[plen - 1] == '/' || upath[plen] == '\0'
                          || upath[plen] == '/' || upath[plen] == '?'))) {
            return 1;
        }
    }
    return 0;
}

/* The location config of a local endpoint handled by sse-assistant. */
static const sse_dir_conf_t *local_endpoint(request_rec *r,
                                            const char *endpoint)
{
    request_rec *sub;
    const sse_dir_conf_t *dc = NULL;

    if (endpoint[0] != '/' || endpoint[1] == '/' || ap_strchr_c(endpoint, '?')
        || ap_strchr_c(endpoint, '#')) {
        return NULL;
    }
    sub = ap_sub_req_lookup_uri(endpoint, r, NULL);
    if (sub->status == HTTP_OK && sub->handler
        && !strcmp(sub->handler, SSE_HANDLER_ASSISTANT)) {
        dc = ap_get_module_config(sub->per_dir_config, &sse_assistant_module);
    }
    /* the subrequest pool lives as long as r: dc stays valid */
    return dc;
}

static int proxy_handler(request_rec *r)
{
    sse_dir_conf_t *dc = sse_conf_dir(r);
    const char *endpoint, *payload, *why, *owner, *value, *stream;
    char id[SSE_ID_HEX_LEN + 1];
    char *body;
    apr_size_t len;
    apr_off_t max = sse_conf_max_body(dc);
    apr_status_t rv;
    int rc;

    ap_allow_standard_methods(r, REPLACE_ALLOW, M_POST, -1);
    if (r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "POST");
        return refuse(r, HTTP_METHOD_NOT_ALLOWED, "use POST");
    }
    if (!origin_allowed(r, dc)) {
        return refuse(r, HTTP_FORBIDDEN, "Origin missing or not allowed");
    }
    if ((rc = sse_handler_read_body(r, max, &body, &len)) != OK) {
        if (rc == HTTP_REQUEST_ENTITY_TOO_LARGE) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return refuse(r, rc, "body is larger than SSEAssistantMaxBody "
                          "allows");
        }
        return refuse(r, rc, "could not read the request body");
    }
    if ((why = sse_json_decode_bridge(r->pool, body, len, &endpoint,
                                      &payload))) {
        return refuse(r, HTTP_BAD_REQUEST, why);
    }
    if (!local_endpoint(r, endpoint) && !target_allowed(r, dc, endpoint)) {
        return refuse(r, HTTP_FORBIDDEN, "endpoint not allowed");
    }
    owner = sse_owner_get(r, 1);
    if (!owner || ap_strchr_c(owner, '\n')
        || sse_id_random(id, sizeof(id), "") != APR_SUCCESS) {
        return refuse(r, HTTP_INTERNAL_SERVER_ERROR, "cannot create a slot");
    }
    value = apr_pstrcat(r->pool, owner, "\n", endpoint, "\n", payload, NULL);
    rv = sse_store_put(r->server, apr_pstrcat(r->pool, SLOT_PREFIX, id, NULL),
                       value, strlen(value),
                       apr_time_now() + sse_conf_postsse_ttl(dc), r->pool);
    if (rv == APR_ENOSPC) {
        return refuse(r, HTTP_REQUEST_ENTITY_TOO_LARGE, "payload too large");
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, SSE_LOGNO(00030)
                      "POST-SSE: cannot store the slot (SSEAssistantStore)");
        return refuse(r, HTTP_SERVICE_UNAVAILABLE, "slot store unavailable");
    }
    stream = apr_pstrcat(r->pool, sse_conf_postsse_stream(dc), "?id=", id,
                         NULL);
    return sse_handler_reply_json(r, HTTP_OK, sse_json_bridge_ok_new(r->pool, id, stream));
}

/* A proper SSE answer for a bad id: never an empty stream. */
static int stream_error(request_rec *r, const sse_dir_conf_t *dc,
                        const char *message, const char *code)
{
    char msgid[SSE_MSGID_LEN + 1];
    sse_sink_t *sink;
    sse_error_t err;

    if (sse_id_random(msgid, sizeof(msgid), "msg_") != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    sink = sse_transport_sse_create(r, msgid, 0);
    if (sse_transport_sse_open(sink, sse_conf_retry_ms(dc)) == APR_SUCCESS) {
        sse_error_set(&err, "invalid_request", code, "%s", message);
        sse_transport_sse_error(sink, r->pool, &err);
    }
    return OK;
}

typedef struct relay_t {
    sse_sink_t *sink;
    sse_event_reader_t *reader;
    int gone;                   /* client left, no resume grace left */
    int bad_event;              /* an event our writer refuses (NUL) */
    int too_big;
} relay_t;

/* Each target event goes out with our own id (so a reconnect can resume
 * it from the store); type and data stay as the target sent them. */
static int relay_event(void *ud, const char *event, const char *data,
                       apr_size_t len)
{
    relay_t *rl = ud;
    apr_status_t rv = rl->sink->event(rl->sink, event, data, len);

    if (rv == APR_ECONNABORTED) {
        rl->gone = 1;
    }
    else if (rv != APR_SUCCESS) {
        rl->bad_event = 1;
    }
    return rv != APR_SUCCESS;
}

static int relay_data(void *ud, const char *buf, apr_size_t len)
{
    relay_t *rl = ud;

    if (sse_event_reader_feed(rl->reader, buf, len)
        == SSE_EVENT_READER_TOO_BIG) {
        rl->too_big = 1;
    }
    return rl->gone || rl->bad_event || rl->too_big;
}

static int relay_tick(void *ud)
{
    relay_t *rl = ud;

    if (rl->sink->tick(rl->sink)) {
        rl->gone = 1;
    }
    return rl->gone;
}

/* An allowlisted external endpoint: POST the payload, relay its events. */
static int relay(request_rec *r, const sse_dir_conf_t *dc, const char *url,
                 const char *payload, const char *owner)
{
    sse_runtime_t *rt = sse_conf_runtime(r->server);
    const char *cookie = apr_table_get(r->headers_in, "Cookie");
    const char *headers[2] = { NULL, NULL };
    char msgid[SSE_MSGID_LEN + 1];
    sse_resume_t *resume;
    sse_curl_call_t call;
    sse_curl_result_t res;
    sse_curl_rc_e rc;
    sse_error_t err;
    relay_t rl;

    if (sse_id_random(msgid, sizeof(msgid), "msg_") != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SSE_LOGNO(00041)
                      "POST-SSE relay: cannot generate an id");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    memset(&rl, 0, sizeof(rl));
    rl.reader = sse_event_reader_create(r->pool,
                                        (apr_size_t)sse_conf_max_line(dc),
                                        relay_event, &rl);
    if (cookie) {
        headers[0] = apr_pstrcat(r->pool, "Cookie: ", cookie, NULL);
    }
    memset(&call, 0, sizeof(call));
    call.url = url;
    call.proxy = dc->proxy;
    call.body = payload;
    call.body_len = strlen(payload);
    call.extra_headers = headers;
    call.connect_timeout = sse_conf_connect_timeout(dc);
    call.idle_timeout = sse_conf_idle_timeout(dc) > r->server->timeout
                        ? sse_conf_idle_timeout(dc) : r->server->timeout;
    call.max_error_body = 64 * 1024;
    call.on_data = relay_data;
    call.on_tick = relay_tick;
    call.ctx = &rl;

    /* headers now: a slow target must not leave the browser waiting */
    rl.sink = sse_transport_sse_start_turn(r, dc, msgid, owner, &resume);
    if (!rl.sink) {
        return OK;
    }
    rc = sse_curl_perform(rt->curl_pool, r->pool, &call, &res);
    if (rc == SSE_CURL_OK && !rl.gone) {
        /* a last event without its blank line */
        sse_event_reader_finish(rl.reader);
    }
    if (rl.gone) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SSE_LOGNO(00031)
                      "POST-SSE relay: client went away; target cancelled");
        r->connection->keepalive = AP_CONN_CLOSE;
    }
    else if (rl.too_big || rl.bad_event || rc != SSE_CURL_OK) {
        if (rl.too_big) {
            sse_error_set(&err, "upstream_error", "line_too_long",
                          "the target sent an event larger than "
                          "SSEAssistantMaxLineBytes");
        }
        else if (rl.bad_event) {
            sse_error_set(&err, "upstream_error", "invalid_event",
                          "the target sent an event that cannot be relayed "
                          "(a NUL byte)");
        }
        else if (rc == SSE_CURL_NOT_A_STREAM) {
            sse_error_set(&err, "upstream_error", "not_a_stream",
                          "the target did not answer with an event stream");
        }
        else {
            err = res.error;
        }
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SSE_LOGNO(00032)
                      "POST-SSE relay to %s failed: %s",
                      sse_curl_url_origin(r->pool, url), err.message);
        sse_transport_sse_error(rl.sink, r->pool, &err);
    }
    sse_resume_finish(resume);
    return OK;
}

static int stream_handler(request_rec *r)
{
    sse_dir_conf_t *dc = sse_conf_dir(r);
    const sse_dir_conf_t *target;
    const char *id = NULL, *owner, *endpoint, *payload, *last_event_id;
    apr_size_t idlen = 0, len;
    char *value, *nl;
    sse_prompt_t prompt;
    sse_request_error_t perr;
    apr_status_t rv;
    int i;

    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, -1);
    if (r->method_number != M_GET) {
        apr_table_setn(r->headers_out, "Allow", "GET, HEAD");
        return refuse(r, HTTP_METHOD_NOT_ALLOWED, "use GET");
    }
    if ((last_event_id = sse_resume_last_event_id(r))) {
        /* EventSource reconnects to the same URL: the slot is gone, the
         * turn's events are in the resume buffer */
        return sse_resume_serve(r, dc, last_event_id);
    }
    if (r->args) {
        sse_form_get(r->pool, r->args, strlen(r->args), "id", &id, &idlen);
    }
    for (i = 0; id && id[i] && apr_isxdigit(id[i]); ++i) {
    }
    if (!id || idlen != SSE_ID_HEX_LEN || i != SSE_ID_HEX_LEN) {
        return stream_error(r, dc, "Invalid or expired stream id",
                            "invalid_stream_id");
    }
    owner = sse_owner_get(r, 0);
    if (!owner) {
        return stream_error(r, dc, "Invalid or expired stream id (no session "
                            "cookie: the browser must send the cookie it "
                            "got with the POST)", "invalid_stream_id");
    }
    rv = sse_store_take(r->server, apr_pstrcat(r->pool, SLOT_PREFIX, id,
                                               NULL),
                        apr_pstrcat(r->pool, owner, "\n", NULL), &value,
                        &len, r->pool);
    if (rv == APR_EACCES) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SSE_LOGNO(00034)
                      "POST-SSE: stream id %.6s... used by another owner", id);
    }
    else if (rv != APR_SUCCESS && rv != APR_NOTFOUND) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, SSE_LOGNO(00033)
                      "POST-SSE: slot store unavailable");
    }
    /* value: owner \n endpoint \n payload */
    if (rv != APR_SUCCESS || !(nl = strchr(value, '\n'))
        || !(endpoint = nl + 1, nl = strchr(endpoint, '\n'))) {
        return stream_error(r, dc, "Invalid or expired stream id",
                            "invalid_stream_id");
    }
    *nl = '\0';
    payload = nl + 1;
    if ((target = local_endpoint(r, endpoint))) {
        if (!sse_request_parse(r->pool, NULL, "application/json", payload,
                               strlen(payload),
                               (apr_size_t)sse_conf_max_prompt(target), 1,
                               &prompt, &perr)) {
            return stream_error(r, dc, perr.message, perr.code);
        }
        return sse_handler_run(r, target, &prompt);
    }
    if (!target_allowed(r, dc, endpoint)) {
        return stream_error(r, dc, "endpoint not allowed",
                            "endpoint_not_allowed");
    }
    return relay(r, dc, endpoint, payload, owner);
}

static int bridge_handler(request_rec *r)
{
    if (!strcmp(r->handler, SSE_HANDLER_POSTSSE_PROXY)) {
        return proxy_handler(r);
    }
    if (!strcmp(r->handler, SSE_HANDLER_POSTSSE_STREAM)) {
        return stream_handler(r);
    }
    return DECLINED;
}

void sse_bridge_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(bridge_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
