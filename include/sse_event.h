/* Server-Sent Events wire format, written into an APR brigade.
 * httpd-free: the caller appends FLUSH and passes the brigade. */
#ifndef SSE_EVENT_H
#define SSE_EVENT_H

#include <apr_buckets.h>

#define SSE_MSGID_LEN 36        /* "msg_" + 32 hex digits */

/* Per-stream state of the writer: the message id and the event counter
 * that together form each event's "id:" line. */
typedef struct sse_event_stream_t {
    char msgid[SSE_MSGID_LEN + 1];
    apr_uint64_t seq;
} sse_event_stream_t;

/* Opens a stream: "retry:" and a comment so intermediaries start at once. */
apr_status_t sse_event_write_open(apr_bucket_brigade *bb, int retry_ms);

/* A comment line (": text"), used as heartbeat. */
apr_status_t sse_event_write_comment(apr_bucket_brigade *bb,
                                     const char *text);

/* One event with arbitrary data: every CR, LF or CRLF in data starts a new
 * "data:" line. Returns APR_EINVAL for an event name with a line break or
 * data with a NUL byte; nothing is written then. */
apr_status_t sse_event_write(sse_event_stream_t *es, apr_bucket_brigade *bb,
                             const char *event,
                             const char *data, apr_size_t len);

/* The hot path: event "token" with data {"text":<escaped text>}, escaped
 * straight into the brigade (no intermediate string). */
apr_status_t sse_event_write_token(sse_event_stream_t *es,
                                   apr_bucket_brigade *bb,
                                   const char *text, apr_size_t len);

/* Writes "event: <name>\nid: <msgid>:<seq>\ndata: " and advances seq; the
 * caller writes one line of data and then calls sse_event_end(). */
apr_status_t sse_event_begin(sse_event_stream_t *es, apr_bucket_brigade *bb,
                             const char *event);
apr_status_t sse_event_end(apr_bucket_brigade *bb);

/* Parses a Last-Event-ID "msg_<32 hex>:<seq>" strictly. Returns 1 and
 * fills msgid (SSE_MSGID_LEN + 1 bytes) and seq. */
int sse_event_parse_id(const char *id, char *msgid, apr_uint64_t *seq);

/* In buf (whole events as this writer formats them), the first event whose
 * id's seq is greater than seq; buf + len if none. */
const char *sse_event_find_after(const char *buf, apr_size_t len,
                                 apr_uint64_t seq);

#endif
