/* text/event-stream reader: fields, line ends, pieces at every offset,
 * limits, stopping. */
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "sse_event_reader.h"
#include "tap.h"

typedef struct seen_t {
    apr_pool_t *pool;
    char log[4096];             /* "type=data|" per event */
    int events;
    int stop_after;             /* 0 = never */
} seen_t;

static int on_event(void *ctx, const char *event, const char *data,
                    apr_size_t len)
{
    seen_t *s = ctx;

    apr_snprintf(s->log + strlen(s->log), sizeof(s->log) - strlen(s->log),
                 "%s=%.*s|", event, (int)len, data);
    ++s->events;
    return s->stop_after && s->events >= s->stop_after;
}

/* Feeds text in pieces of `piece` bytes (0 = whole), then finishes. */
static const char *read_all(apr_pool_t *p, const char *text, apr_size_t piece,
                            apr_size_t max, sse_event_reader_rc_e *rc)
{
    seen_t *s = apr_pcalloc(p, sizeof(*s));
    sse_event_reader_t *rd = sse_event_reader_create(p, max, on_event, s);
    apr_size_t len = strlen(text), off = 0;
    sse_event_reader_rc_e r = SSE_EVENT_READER_MORE;

    while (off < len && r == SSE_EVENT_READER_MORE) {
        apr_size_t n = piece && piece < len - off ? piece : len - off;
        r = sse_event_reader_feed(rd, text + off, n);
        off += n;
    }
    if (r == SSE_EVENT_READER_MORE) {
        r = sse_event_reader_finish(rd);
    }
    if (rc) {
        *rc = r;
    }
    return apr_pstrdup(p, s->log);
}

int main(void)
{
    apr_pool_t *p;
    sse_event_reader_rc_e rc;
    const char *stream = "retry: 1000\n: a comment\nid: 7\n"
                         "event: tool.started\ndata: {\"a\":1}\n\n"
                         "data: one\ndata:two\ndata\n\n"
                         "event: x\n\n"             /* no data: not sent */
                         "data: [DONE]\n\n";
    const char *want = "tool.started={\"a\":1}|message=one\ntwo\n|"
                       "message=[DONE]|";
    apr_size_t piece;
    int bad = 0;

    apr_initialize();
    apr_pool_create(&p, NULL);

    is_str(read_all(p, stream, 0, 4096, &rc), want,
           "types, joined data lines, comments/id/retry skipped, "
           "events without data dropped");
    is_int(rc, SSE_EVENT_READER_MORE, "... and the reader wants more");
    for (piece = 1; piece < strlen(stream); ++piece) {
        if (strcmp(read_all(p, stream, piece, 4096, NULL), want)) {
            ++bad;
        }
    }
    is_int(bad, 0, "same events for pieces of every size");

    is_str(read_all(p, "event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r"
                       "data: 3\n\n", 0, 4096, NULL),
           "a=1|b=2|message=3|", "CRLF, CR and LF line ends");
    bad = 0;
    for (piece = 1; piece < 20; ++piece) {
        if (strcmp(read_all(p, "data: 1\r\n\r\ndata: 2\r\n\r\n", piece, 4096,
                            NULL), "message=1|message=2|")) {
            ++bad;
        }
    }
    is_int(bad, 0, "CRLF split between pieces is one line end");
    is_str(read_all(p, "data:  two spaces\n\ndata\n\n", 0, 4096, NULL),
           "message= two spaces|message=|",
           "only one space after the colon is dropped; a bare field name");
    is_str(read_all(p, "event: last\ndata: no blank line", 0, 4096, NULL),
           "last=no blank line|", "finish delivers an unterminated event");
    is_str(read_all(p, "event: toolongtoolongtoolongtoolongtoolongtoolongtoo"
                       "longtoolongtoolongtoolong\ndata: x\n\n", 0, 4096,
                    NULL),
           "toolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolong"
           "t=x|", "event types are cut at 64 bytes");

    {
        char *big = apr_palloc(p, 2000);
        memset(big, 'a', 1999);
        big[1999] = '\0';
        memcpy(big, "data: ", 6);
        read_all(p, big, 100, 1000, &rc);
        is_int(rc, SSE_EVENT_READER_TOO_BIG, "a line over the cap");
        read_all(p, apr_pstrcat(p, "data: ", big + 1600, "\ndata: ",
                                big + 1600, "\n\n", NULL), 0, 1000, &rc);
        is_int(rc, SSE_EVENT_READER_MORE, "an event of two 400-byte lines "
               "fits");
        read_all(p, apr_pstrcat(p, "data: ", big + 1400, "\ndata: ",
                                big + 1400, "\n\n", NULL), 0, 1000, &rc);
        is_int(rc, SSE_EVENT_READER_TOO_BIG, "an event over the cap");
    }

    {
        seen_t s;
        sse_event_reader_t *rd;
        memset(&s, 0, sizeof(s));
        s.stop_after = 1;
        rd = sse_event_reader_create(p, 4096, on_event, &s);
        is_int(sse_event_reader_feed(rd, "data: 1\n\ndata: 2\n\n", 18),
               SSE_EVENT_READER_STOPPED, "the callback stops the reader");
        is_int(s.events, 1, "... before the next event");
        is_int(sse_event_reader_feed(rd, "data: 3\n\n", 9),
               SSE_EVENT_READER_STOPPED, "... and it stays stopped");
    }

    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
