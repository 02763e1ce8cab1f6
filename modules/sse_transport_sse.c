/* Events to the client as text/event-stream: one brigade per request,
 * every event followed by FLUSH (the core output filter holds anything
 * under 4 KiB until it sees one). */
#include <errno.h>
#include <sys/socket.h>

#include <apr_buckets.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_connection.h>
#include <http_core.h>
#include <http_protocol.h>
#include <util_filter.h>

#include "sse_event.h"
#include "sse_json.h"
#include "sse_private.h"
#include "sse_resume.h"
#include "sse_transport_sse.h"

/* how often an idle HTTP/1.x connection is probed for a closed client */
#define PROBE_INTERVAL apr_time_from_msec(250)

typedef struct sse_transport_t {
    sse_sink_t base;
    request_rec *r;
    apr_bucket_brigade *bb;
    sse_event_stream_t es;
    apr_interval_time_t heartbeat;
    apr_time_t last_write;
    apr_time_t last_probe;
    int gone;
    sse_resume_t *resume;
} sse_transport_t;

/* Client gone: with a resume grace the turn goes on, events recorded. */
static apr_status_t gone_status(sse_transport_t *t)
{
    return sse_resume_keep_going(t->resume) ? APR_SUCCESS : APR_ECONNABORTED;
}

static apr_status_t pass(sse_transport_t *t)
{
    conn_rec *c = t->r->connection;
    apr_status_t rv;

    APR_BRIGADE_INSERT_TAIL(t->bb, apr_bucket_flush_create(c->bucket_alloc));
    rv = ap_pass_brigade(t->r->output_filters, t->bb);
    apr_brigade_cleanup(t->bb);
    if (rv != APR_SUCCESS || c->aborted) {
        t->gone = 1;
        return gone_status(t);
    }
    t->last_write = apr_time_now();
    return APR_SUCCESS;
}

/* One formatted event in t->bb: keep it for resumes, send it if the
 * client is still there. */
static apr_status_t deliver(sse_transport_t *t)
{
    sse_resume_record(t->resume, t->bb);
    if (t->gone) {
        apr_brigade_cleanup(t->bb);
        return gone_status(t);
    }
    return pass(t);
}

static apr_status_t sink_token(sse_sink_t *sink, const char *text,
                               apr_size_t len)
{
    sse_transport_t *t = (sse_transport_t *)sink;
    apr_status_t rv;

    rv = sse_event_write_token(&t->es, t->bb, text, len);
    if (rv != APR_SUCCESS) {
        apr_brigade_cleanup(t->bb);
        return rv;
    }
    return deliver(t);
}

static apr_status_t sink_event(sse_sink_t *sink, const char *name,
                               const char *json, apr_size_t len)
{
    sse_transport_t *t = (sse_transport_t *)sink;
    apr_status_t rv;

    rv = sse_event_write(&t->es, t->bb, name, json, len);
    if (rv != APR_SUCCESS) {
        apr_brigade_cleanup(t->bb);
        return rv;
    }
    return deliver(t);
}

/* HTTP/1.x: peek at the client socket. Not a speculative read through
 * c->input_filters: mod_reqtimeout's body timer would fail that read once
 * it expires, long after the body was read, and end healthy streams.
 * Pending bytes (a pipelined request, a TLS close_notify) count as alive;
 * the next write then finds out. */
int sse_transport_client_closed(conn_rec *c)
{
    apr_socket_t *s = ap_get_conn_socket(c);
    apr_os_sock_t fd;
    char byte;
    ssize_t n;

    if (!s || apr_os_sock_get(&fd, s) != APR_SUCCESS) {
        return 0;
    }
    n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) {
        return 1;
    }
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

int sse_transport_client_gone_probe(conn_rec *c, apr_time_t *last_probe)
{
    apr_time_t now;

    if (c->aborted) {
        return 1;
    }
    /* on HTTP/2 the primary connection sets c->aborted for us */
    now = apr_time_now();
    if (!c->master && now - *last_probe >= PROBE_INTERVAL) {
        *last_probe = now;
        return sse_transport_client_closed(c);
    }
    return 0;
}

static int sink_tick(sse_sink_t *sink)
{
    sse_transport_t *t = (sse_transport_t *)sink;
    conn_rec *c = t->r->connection;
    apr_time_t now;

    sse_resume_flush(t->resume, 0);
    if (t->gone || sse_transport_client_gone_probe(c, &t->last_probe)) {
        t->gone = 1;
        return gone_status(t) != APR_SUCCESS;
    }
    now = apr_time_now();
    if (t->heartbeat > 0 && now - t->last_write >= t->heartbeat) {
        if (sse_event_write_comment(t->bb, "ping") != APR_SUCCESS
            || pass(t) != APR_SUCCESS) {
            t->gone = 1;
            return gone_status(t) != APR_SUCCESS;
        }
    }
    return 0;
}

sse_sink_t *sse_transport_sse_create(request_rec *r, const char *msgid,
                                     apr_interval_time_t heartbeat)
{
    sse_transport_t *t = apr_pcalloc(r->pool, sizeof(*t));

    t->base.token = sink_token;
    t->base.event = sink_event;
    t->base.tick = sink_tick;
    t->r = r;
    t->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_cpystrn(t->es.msgid, msgid, sizeof(t->es.msgid));
    t->heartbeat = heartbeat;
    t->last_write = t->last_probe = apr_time_now();

    ap_set_content_type(r, "text/event-stream; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache, no-transform");
    apr_table_setn(r->headers_out, "X-Accel-Buffering", "no");
    apr_table_unset(r->headers_out, "Content-Length");
    apr_table_unset(r->headers_out, "Content-Encoding");
    /* only this response: every other page of the server stays compressed */
    apr_table_setn(r->subprocess_env, "no-gzip", "1");
    apr_table_setn(r->subprocess_env, "no-brotli", "1");
    r->clength = -1;
    return &t->base;
}

apr_status_t sse_transport_sse_open(sse_sink_t *sink, int retry_ms)
{
    sse_transport_t *t = (sse_transport_t *)sink;
    apr_status_t rv = sse_event_write_open(t->bb, retry_ms);

    return rv == APR_SUCCESS ? pass(t) : rv;
}

sse_sink_t *sse_transport_sse_start_turn(request_rec *r,
                                         const sse_dir_conf_t *dc,
                                         const char *msgid, const char *owner,
                                         sse_resume_t **resume)
{
    sse_sink_t *sink = sse_transport_sse_create(r, msgid,
                                                sse_conf_heartbeat(dc));

    *resume = sse_resume_create(r, r->pool, dc, msgid, owner);
    sse_resume_start(*resume);
    ((sse_transport_t *)sink)->resume = *resume;
    if (sse_transport_sse_open(sink, sse_conf_retry_ms(dc)) != APR_SUCCESS) {
        sse_resume_finish(*resume);
        return NULL;
    }
    return sink;
}

apr_status_t sse_transport_sse_error(sse_sink_t *sink, apr_pool_t *p,
                                     const sse_error_t *err)
{
    const char *json = sse_json_error_new(p, err);
    apr_status_t rv = sink->event(sink, "error", json, strlen(json));

    return rv == APR_SUCCESS
           ? sink->event(sink, "done", "{\"status\":\"error\"}", 18) : rv;
}
