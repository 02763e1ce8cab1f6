/* WebSocket inside the handler. After the 101 the connection is ours: we
 * read c->input_filters and write c->output_filters directly (the request
 * filters would chunk or compress), take mod_reqtimeout's filter out (its
 * body timer would end an idle socket), and mark the connection closed
 * afterwards so httpd writes nothing more on it. */
#include <string.h>

#include <apr_buckets.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_connection.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_filter.h>

#include "sse_event.h"
#include "sse_handler.h"
#include "sse_id.h"
#include "sse_json.h"
#include "sse_owner.h"
#include "sse_private.h"
#include "sse_request.h"
#include "sse_resume.h"
#include "sse_transport_sse.h"
#include "sse_transport_ws.h"
#include "sse_ws.h"

#define MAX_QUEUED 8

typedef struct ws_t {
    sse_sink_t base;
    request_rec *r;
    conn_rec *c;
    apr_bucket_brigade *in_bb, *out_bb, *pay_bb;
    unsigned char *in;              /* unparsed input */
    apr_size_t in_len, in_cap;
    apr_size_t max_message;
    char *msg;                      /* a text message being reassembled */
    apr_size_t msg_len;
    int in_message;
    const char *queued[MAX_QUEUED]; /* messages that came during a turn */
    apr_size_t queued_len[MAX_QUEUED];
    int nqueued;
    int closed;                     /* close sent or connection gone */
    apr_interval_time_t heartbeat;
    apr_time_t last_write;
    /* the current turn: event ids, and its record for HTTP resumes */
    sse_event_stream_t es;
    sse_resume_t *resume;
    apr_bucket_brigade *sse_bb;
} ws_t;

int sse_transport_ws_requested(request_rec *r)
{
    const char *upgrade = apr_table_get(r->headers_in, "Upgrade");

    return upgrade && ap_find_token(r->pool, upgrade, "websocket");
}

static apr_status_t send_frame(ws_t *ws, int opcode, apr_bucket_brigade *pay)
{
    unsigned char head[10];
    apr_off_t plen = 0;
    apr_status_t rv;

    if (ws->closed) {
        return APR_ECONNABORTED;
    }
    if (pay) {
        apr_brigade_length(pay, 1, &plen);
    }
    apr_brigade_write(ws->out_bb, NULL, NULL, (const char *)head,
                      sse_ws_header(head, opcode, (apr_size_t)plen));
    if (pay) {
        APR_BRIGADE_CONCAT(ws->out_bb, pay);
    }
    APR_BRIGADE_INSERT_TAIL(ws->out_bb,
                            apr_bucket_flush_create(ws->c->bucket_alloc));
    rv = ap_pass_brigade(ws->c->output_filters, ws->out_bb);
    apr_brigade_cleanup(ws->out_bb);
    if (rv != APR_SUCCESS || ws->c->aborted) {
        ws->closed = 1;
        return APR_ECONNABORTED;
    }
    ws->last_write = apr_time_now();
    return APR_SUCCESS;
}

static apr_status_t send_bytes_frame(ws_t *ws, int opcode, const char *s,
                                     apr_size_t n)
{
    if (n) {
        apr_brigade_write(ws->pay_bb, NULL, NULL, s, n);
    }
    return send_frame(ws, opcode, ws->pay_bb);
}

static void send_close(ws_t *ws, int code, const char *reason)
{
    char buf[125];
    apr_size_t n = strlen(reason);

    if (ws->closed) {
        return;
    }
    if (n > sizeof(buf) - 2) {
        n = sizeof(buf) - 2;
    }
    buf[0] = (char)(code >> 8);
    buf[1] = (char)(code & 0xFF);
    memcpy(buf + 2, reason, n);
    send_bytes_frame(ws, SSE_WS_CLOSE, buf, n + 2);
    ws->closed = 1;
}

/* Reads what the socket has (blocking: at least something). Returns
 * APR_SUCCESS, APR_EAGAIN (non-blocking, nothing there), or an error. */
static apr_status_t read_more(ws_t *ws, int block)
{
    apr_status_t rv;
    apr_bucket *b;

    rv = ap_get_brigade(ws->c->input_filters, ws->in_bb, AP_MODE_READBYTES,
                        block ? APR_BLOCK_READ : APR_NONBLOCK_READ, 8192);
    if (rv != APR_SUCCESS) {
        apr_brigade_cleanup(ws->in_bb);
        return rv;
    }
    if (APR_BRIGADE_EMPTY(ws->in_bb)) {
        return block ? APR_EOF : APR_EAGAIN;
    }
    for (b = APR_BRIGADE_FIRST(ws->in_bb); b != APR_BRIGADE_SENTINEL(ws->in_bb);
         b = APR_BUCKET_NEXT(b)) {
        const char *data;
        apr_size_t n;
        if (APR_BUCKET_IS_EOS(b)) {
            apr_brigade_cleanup(ws->in_bb);
            return APR_EOF;
        }
        if (apr_bucket_read(b, &data, &n, APR_BLOCK_READ) != APR_SUCCESS) {
            apr_brigade_cleanup(ws->in_bb);
            return APR_EGENERAL;
        }
        if (ws->in_len + n > ws->in_cap) {
            apr_size_t cap = ws->in_cap * 2;
            unsigned char *nb;
            while (cap < ws->in_len + n) {
                cap *= 2;
            }
            nb = apr_palloc(ws->r->pool, cap);
            memcpy(nb, ws->in, ws->in_len);
            ws->in = nb;
            ws->in_cap = cap;
        }
        memcpy(ws->in + ws->in_len, data, n);
        ws->in_len += n;
    }
    apr_brigade_cleanup(ws->in_bb);
    return APR_SUCCESS;
}

/* Handles the frames in the input buffer. A complete text message is
 * returned through msg (pool copy); control frames are answered here.
 * Returns 0 to go on, 1 when the connection is finished. */
static int process_frames(ws_t *ws, const char **msg, apr_size_t *msg_len)
{
    *msg = NULL;
    while (!ws->closed && !*msg) {
        sse_ws_frame_t f;
        long used = sse_ws_parse(ws->in, ws->in_len,
                                 ws->max_message + 16, &f);
        if (used == 0) {
            break;
        }
        if (used < 0) {
            send_close(ws, (int)-used, used == -SSE_WS_TOO_BIG
                       ? "message too big" : "protocol error");
            return 1;
        }
        switch (f.opcode) {
        case SSE_WS_PING:
            send_bytes_frame(ws, SSE_WS_PONG, (const char *)f.payload, f.len);
            break;
        case SSE_WS_PONG:
            break;
        case SSE_WS_CLOSE: {
            int code = f.len >= 2 ? (f.payload[0] << 8) | f.payload[1]
                                  : SSE_WS_NORMAL;
            send_close(ws, code == 1005 || code == 1006 || code < 1000
                           ? SSE_WS_PROTOCOL : code, "");
            return 1;
        }
        case SSE_WS_BIN:
            send_close(ws, SSE_WS_UNSUPPORTED, "text frames only");
            return 1;
        case SSE_WS_TEXT:
        case SSE_WS_CONT:
            if ((f.opcode == SSE_WS_TEXT) == ws->in_message) {
                send_close(ws, SSE_WS_PROTOCOL, "bad fragmentation");
                return 1;
            }
            if (ws->msg_len + f.len > ws->max_message) {
                send_close(ws, SSE_WS_TOO_BIG, "message too big");
                return 1;
            }
            if (f.opcode == SSE_WS_TEXT) {
                ws->msg_len = 0;
            }
            memcpy(ws->msg + ws->msg_len, f.payload, f.len);
            ws->msg_len += f.len;
            ws->in_message = !f.fin;
            if (f.fin) {
                if (!sse_utf8_valid(ws->msg, ws->msg_len)) {
                    send_close(ws, SSE_WS_BAD_DATA, "text is not UTF-8");
                    return 1;
                }
                ws->msg[ws->msg_len] = '\0';
                *msg = ws->msg;
                *msg_len = ws->msg_len;
            }
            break;
        }
        memmove(ws->in, ws->in + used, ws->in_len - (apr_size_t)used);
        ws->in_len -= (apr_size_t)used;
    }
    return ws->closed;
}

/* --- the sink: every event a {"event":…,"id":…,"data":…} text frame --- */

static void ws_begin(sse_sink_t *sink, const char *msgid,
                     struct sse_resume_t *resume)
{
    ws_t *ws = (ws_t *)sink;

    apr_cpystrn(ws->es.msgid, msgid, sizeof(ws->es.msgid));
    ws->es.seq = 0;
    ws->resume = resume;
}

/* The event is also recorded in SSE form, so a client that lost the
 * socket can resume over HTTP with Last-Event-ID; while a resume grace
 * runs, the turn goes on without the socket. */
static apr_status_t ws_send(ws_t *ws)
{
    apr_status_t rv;

    sse_resume_record(ws->resume, ws->sse_bb);
    apr_brigade_cleanup(ws->sse_bb);
    if (ws->closed) {
        apr_brigade_cleanup(ws->pay_bb);
        return sse_resume_keep_going(ws->resume) ? APR_SUCCESS
                                                 : APR_ECONNABORTED;
    }
    rv = send_frame(ws, SSE_WS_TEXT, ws->pay_bb);
    if (rv != APR_SUCCESS && sse_resume_keep_going(ws->resume)) {
        return APR_SUCCESS;
    }
    return rv;
}

static void frame_head(ws_t *ws, const char *name)
{
    char id[SSE_MSGID_LEN + 24];

    apr_snprintf(id, sizeof(id), "%s:%" APR_UINT64_T_FMT, ws->es.msgid,
                 ws->es.seq);
    apr_brigade_putstrs(ws->pay_bb, NULL, NULL, "{\"event\":\"", name,
                        "\",\"id\":\"", id, "\",\"data\":", NULL);
}

static apr_status_t ws_event(sse_sink_t *sink, const char *name,
                             const char *json, apr_size_t len)
{
    ws_t *ws = (ws_t *)sink;

    if (ws->resume) {
        sse_event_write(&ws->es, ws->sse_bb, name, json, len);
    }
    else {
        ++ws->es.seq;
    }
    frame_head(ws, name);
    apr_brigade_write(ws->pay_bb, NULL, NULL, json, len);
    apr_brigade_putc(ws->pay_bb, NULL, NULL, '}');
    return ws_send(ws);
}

static apr_status_t ws_token(sse_sink_t *sink, const char *text,
                             apr_size_t len)
{
    ws_t *ws = (ws_t *)sink;

    /* the SSE copy is for resumes only: no formatting per token without */
    if (ws->resume) {
        sse_event_write_token(&ws->es, ws->sse_bb, text, len);
    }
    else {
        ++ws->es.seq;
    }
    frame_head(ws, "token");
    apr_brigade_puts(ws->pay_bb, NULL, NULL, "{\"text\":");
    sse_json_write_string(ws->pay_bb, text, len);
    apr_brigade_puts(ws->pay_bb, NULL, NULL, "}}");
    return ws_send(ws);
}

/* During a turn: answer pings, notice a close, keep new prompts. */
static int ws_tick(sse_sink_t *sink)
{
    ws_t *ws = (ws_t *)sink;
    const char *msg;
    apr_size_t len;
    apr_status_t rv;

    sse_resume_flush(ws->resume, 0);
    if (ws->closed || ws->c->aborted) {
        ws->closed = 1;
        return !sse_resume_keep_going(ws->resume);
    }
    while ((rv = read_more(ws, 0)) == APR_SUCCESS) {
    }
    if (!APR_STATUS_IS_EAGAIN(rv)) {
        ws->closed = 1;
        return !sse_resume_keep_going(ws->resume);
    }
    while (!process_frames(ws, &msg, &len) && msg) {
        if (ws->nqueued == MAX_QUEUED) {
            send_close(ws, SSE_WS_POLICY, "too many prompts at once");
            return 1;
        }
        /* ws->msg is reused by the next message */
        ws->queued[ws->nqueued] = apr_pstrmemdup(ws->r->pool, msg, len);
        ws->queued_len[ws->nqueued++] = len;
    }
    if (!ws->closed && ws->heartbeat > 0
        && apr_time_now() - ws->last_write >= ws->heartbeat) {
        send_bytes_frame(ws, SSE_WS_PING, "", 0);
    }
    return ws->closed;
}

static void run_message(ws_t *ws, const sse_dir_conf_t *dc, const char *msg,
                        apr_size_t len)
{
    sse_prompt_t prompt;
    sse_request_error_t perr;
    sse_error_t err;

    if (!sse_request_parse(ws->r->pool, NULL, "application/json", msg, len,
                           (apr_size_t)sse_conf_max_prompt(dc), 1, &prompt,
                           &perr)) {
        const char *json;
        char msgid[SSE_MSGID_LEN + 1];
        if (sse_id_random(msgid, sizeof(msgid), "msg_") == APR_SUCCESS) {
            ws_begin(&ws->base, msgid, NULL);
        }
        sse_error_set(&err, "invalid_request", perr.code, "%s", perr.message);
        json = sse_json_error_new(ws->r->pool, &err);
        if (ws_event(&ws->base, "error", json, strlen(json)) == APR_SUCCESS) {
            ws_event(&ws->base, "done", "{\"status\":\"error\"}", 18);
        }
        return;
    }
    sse_handler_turn(ws->r, dc, &prompt, &ws->base);
    ws->resume = NULL;          /* that turn's record is finished */
}

int sse_transport_ws_serve(request_rec *r, const sse_dir_conf_t *dc)
{
    conn_rec *c = r->connection;
    sse_runtime_t *rt = sse_conf_runtime(r->server);
    const char *key = apr_table_get(r->headers_in, "Sec-WebSocket-Key");
    const char *version = apr_table_get(r->headers_in, "Sec-WebSocket-Version");
    const char *conn = apr_table_get(r->headers_in, "Connection");
    char accept[32];
    const char *cookie;
    ws_t *ws;
    apr_status_t rv;

    if (r->method_number != M_GET || c->master || !key || !conn
        || !ap_find_token(r->pool, conn, "upgrade")
        || sse_ws_accept(key, accept) != APR_SUCCESS) {
        /* HTTP/2 (RFC 8441) is not spoken here: clients fall back */
        return sse_handler_reply_json(r, HTTP_BAD_REQUEST,
            sse_json_error_body_new(r->pool, "invalid_request",
                                    "bad_websocket_request",
                                    "not a valid WebSocket upgrade (HTTP/1.1 "
                                    "GET with Connection: Upgrade and a "
                                    "Sec-WebSocket-Key)"));
    }
    if (!version || strcmp(version, "13")) {
        apr_table_setn(r->err_headers_out, "Sec-WebSocket-Version", "13");
        return sse_handler_reply_json(r, 426,
            sse_json_error_body_new(r->pool, "invalid_request",
                                    "websocket_version",
                                    "WebSocket version 13 is required"));
    }
    if (!sse_stream_counter_acquire(rt->streams, sse_conf_max_streams(rt),
                                    r->pool)) {
        apr_table_setn(r->err_headers_out, "Retry-After", "5");
        return sse_handler_reply_json(r, HTTP_SERVICE_UNAVAILABLE,
            sse_json_error_body_new(r->pool, "server_busy",
                                    "too_many_streams",
                                    "too many answers are streaming right "
                                    "now; try again in a few seconds"));
    }

    ws = apr_pcalloc(r->pool, sizeof(*ws));
    ws->base.token = ws_token;
    ws->base.event = ws_event;
    ws->base.tick = ws_tick;
    ws->base.begin = ws_begin;
    ws->r = r;
    ws->c = c;
    ws->in_bb = apr_brigade_create(r->pool, c->bucket_alloc);
    ws->out_bb = apr_brigade_create(r->pool, c->bucket_alloc);
    ws->pay_bb = apr_brigade_create(r->pool, c->bucket_alloc);
    ws->sse_bb = apr_brigade_create(r->pool, c->bucket_alloc);
    ws->in_cap = 16384;
    ws->in = apr_palloc(r->pool, ws->in_cap);
    ws->max_message = (apr_size_t)sse_conf_max_body(dc);
    ws->msg = apr_palloc(r->pool, ws->max_message + 1);
    ws->heartbeat = sse_conf_heartbeat(dc);

    ap_remove_input_filter_byhandle(c->input_filters, "reqtimeout");
    /* the owner is fixed now, for every turn of this connection; a new
     * owner's cookie goes out with the 101 */
    sse_owner_get(r, 1);
    cookie = apr_table_get(r->err_headers_out, "Set-Cookie");
    apr_brigade_printf(ws->out_bb, NULL, NULL,
                       "HTTP/1.1 101 Switching Protocols\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n", accept,
                       cookie ? "Set-Cookie: " : "", cookie ? cookie : "",
                       cookie ? "\r\n" : "");
    APR_BRIGADE_INSERT_TAIL(ws->out_bb, apr_bucket_flush_create(c->bucket_alloc));
    rv = ap_pass_brigade(c->output_filters, ws->out_bb);
    apr_brigade_cleanup(ws->out_bb);
    r->status = HTTP_SWITCHING_PROTOCOLS;
    ws->last_write = apr_time_now();
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, SSE_LOGNO(00039)
                  "WebSocket open");

    while (rv == APR_SUCCESS && !ws->closed) {
        const char *msg;
        apr_size_t len;

        if (ws->nqueued) {
            msg = ws->queued[0];
            len = ws->queued_len[0];
            memmove(ws->queued, ws->queued + 1,
                    sizeof(ws->queued[0]) * (apr_size_t)--ws->nqueued);
            memmove(ws->queued_len, ws->queued_len + 1,
                    sizeof(ws->queued_len[0]) * (apr_size_t)ws->nqueued);
            run_message(ws, dc, msg, len);
            continue;
        }
        if (process_frames(ws, &msg, &len)) {
            break;
        }
        if (msg) {
            run_message(ws, dc, msg, len);
            continue;
        }
        rv = read_more(ws, 1);
        if (APR_STATUS_IS_TIMEUP(rv)) {
            /* idle: a ping keeps proxies from cutting us, and finds out
             * whether the client is still there */
            rv = send_bytes_frame(ws, SSE_WS_PING, "", 0);
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, SSE_LOGNO(00040)
                  "WebSocket closed");
    /* nothing of HTTP may follow on this connection */
    c->keepalive = AP_CONN_CLOSE;
    c->aborted = 1;
    return OK;
}
