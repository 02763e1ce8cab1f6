/* Reads a text/event-stream back into events (WHATWG HTML, "Server-sent
 * events", parsing an event stream). httpd-free. Bytes arrive in arbitrary
 * pieces; lines may end in LF, CR or CRLF. Used for the upstream's answer
 * and for streams the POST-SSE bridge relays. */
#ifndef SSE_EVENT_READER_H
#define SSE_EVENT_READER_H

#include <apr_pools.h>

typedef struct sse_event_reader_t sse_event_reader_t;

/* One complete event: its type ("message" when the stream named none, as
 * EventSource does) and its data lines joined by LF. Events without data
 * are not dispatched, comments and id:/retry: are skipped. Non-zero stops
 * the reader. */
typedef int sse_event_reader_fn(void *ctx, const char *event,
                                const char *data, apr_size_t len);

typedef enum {
    SSE_EVENT_READER_MORE = 0,      /* feed more bytes */
    SSE_EVENT_READER_STOPPED,       /* the callback asked to stop */
    SSE_EVENT_READER_TOO_BIG        /* a line or event over max_bytes */
} sse_event_reader_rc_e;

/* max_bytes caps one line and one event's data; buffers start small and
 * grow only up to it. */
sse_event_reader_t *sse_event_reader_create(apr_pool_t *p,
                                            apr_size_t max_bytes,
                                            sse_event_reader_fn *fn,
                                            void *ctx);

sse_event_reader_rc_e sse_event_reader_feed(sse_event_reader_t *rd,
                                            const char *buf,
                                            apr_size_t len);

/* End of input: a last line without terminator and a last event without
 * its blank line are still delivered (some servers end that way). */
sse_event_reader_rc_e sse_event_reader_finish(sse_event_reader_t *rd);

#endif
