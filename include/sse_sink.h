/* Where the events of a turn go. One implementation per transport (SSE
 * now; JSON and WebSocket later), chosen once per request, so the turn
 * never branches on the transport per event. httpd-free interface. */
#ifndef SSE_SINK_H
#define SSE_SINK_H

#include <apr_errno.h>

typedef struct sse_sink_t sse_sink_t;
struct sse_resume_t;

struct sse_sink_t {
    /* the hot path: one "token" event with {"text":…} */
    apr_status_t (*token)(sse_sink_t *sink, const char *text, apr_size_t len);
    /* any other event; json is one line of compact JSON */
    apr_status_t (*event)(sse_sink_t *sink, const char *name,
                          const char *json, apr_size_t len);
    /* called while waiting: heartbeats, liveness. Non-zero = client gone */
    int (*tick)(sse_sink_t *sink);
    /* optional, for sinks that live longer than one turn (WebSocket): a
     * turn starts with this message id and resume recorder (may be NULL) */
    void (*begin)(sse_sink_t *sink, const char *msgid,
                  struct sse_resume_t *resume);
};

#endif
