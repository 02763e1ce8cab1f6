/* The text/event-stream sink over httpd's output filters (glue). */
#ifndef SSE_TRANSPORT_SSE_H
#define SSE_TRANSPORT_SSE_H

#include <httpd.h>

#include "sse_conf.h"
#include "sse_json.h"
#include "sse_sink.h"

/* Sets the response headers (and switches compression off for this
 * response only); nothing is sent yet. */
sse_sink_t *sse_transport_sse_create(request_rec *r, const char *msgid,
                                     apr_interval_time_t heartbeat);

/* Sends the headers, "retry:" and an opening comment, flushed. */
apr_status_t sse_transport_sse_open(sse_sink_t *sink, int retry_ms);

/* A turn's stream: the sink for msgid with dc's heartbeat, every event
 * recorded for Last-Event-ID resumes (sse_resume.h; *resume NULL when
 * off), opened with dc's retry. NULL when the client left before the
 * stream opened; the recording is finished then. */
struct sse_resume_t;
sse_sink_t *sse_transport_sse_start_turn(request_rec *r,
                                         const sse_dir_conf_t *dc,
                                         const char *msgid, const char *owner,
                                         struct sse_resume_t **resume);

/* HTTP/1.x: 1 when the client closed its connection (a MSG_PEEK on the
 * socket; pending bytes count as alive). Shared by every transport. */
int sse_transport_client_closed(conn_rec *c);

/* c->aborted, or (HTTP/1.x, at most every 250 ms) a closed socket. */
int sse_transport_client_gone_probe(conn_rec *c, apr_time_t *last_probe);

/* error {message,type,code} then done {"status":"error"}. */
apr_status_t sse_transport_sse_error(sse_sink_t *sink, apr_pool_t *p,
                                     const sse_error_t *err);


#endif
