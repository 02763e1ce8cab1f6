/* Incremental text/event-stream reader. */
#include <string.h>

#include "sse_event_reader.h"

/* longer event types are cut: sse_event_begin() writes at most 64 */
#define MAX_TYPE 64

struct sse_event_reader_t {
    apr_pool_t *pool;
    sse_event_reader_fn *fn;
    void *ctx;
    apr_size_t max_bytes;

    char *line;                 /* the current, incomplete line */
    apr_size_t line_len, line_cap;
    char *data;                 /* "data:" lines of the current event */
    apr_size_t data_len, data_cap;
    int has_data;
    char type[MAX_TYPE + 1];    /* "" = message */
    int skip_lf;                /* last byte was CR: a leading LF belongs to it */
    sse_event_reader_rc_e rc;
};

sse_event_reader_t *sse_event_reader_create(apr_pool_t *p,
                                            apr_size_t max_bytes,
                                            sse_event_reader_fn *fn,
                                            void *ctx)
{
    sse_event_reader_t *rd = apr_pcalloc(p, sizeof(*rd));

    rd->pool = p;
    rd->fn = fn;
    rd->ctx = ctx;
    rd->max_bytes = max_bytes < 256 ? 256 : max_bytes;
    rd->line_cap = rd->max_bytes < 4096 ? rd->max_bytes : 4096;
    rd->line = apr_palloc(p, rd->line_cap);
    rd->data_cap = rd->line_cap;
    rd->data = apr_palloc(p, rd->data_cap);
    return rd;
}

/* Grows buf to hold need bytes, doubling, within max_bytes. Growth happens
 * a handful of times per stream, so pool memory stays O(1) per event. */
static int reserve(sse_event_reader_t *rd, char **buf, apr_size_t *cap,
                   apr_size_t used, apr_size_t need)
{
    apr_size_t ncap = *cap;
    char *nbuf;

    if (need <= *cap) {
        return 1;
    }
    if (need > rd->max_bytes) {
        return 0;
    }
    while (ncap < need) {
        ncap *= 2;
    }
    if (ncap > rd->max_bytes) {
        ncap = rd->max_bytes;
    }
    nbuf = apr_palloc(rd->pool, ncap);
    memcpy(nbuf, *buf, used);
    *buf = nbuf;
    *cap = ncap;
    return 1;
}

static void dispatch(sse_event_reader_t *rd)
{
    int has_data = rd->has_data;

    rd->has_data = 0;
    if (has_data && rd->fn(rd->ctx, rd->type[0] ? rd->type : "message",
                           rd->data, rd->data_len)) {
        rd->rc = SSE_EVENT_READER_STOPPED;
    }
    rd->data_len = 0;
    rd->type[0] = '\0';
}

/* One complete line (without its terminator). */
static void take_line(sse_event_reader_t *rd, const char *s, apr_size_t n)
{
    const char *field = s, *colon;
    apr_size_t field_len, need;

    if (n == 0) {
        dispatch(rd);
        return;
    }
    if (*s == ':') {
        return;                 /* comment */
    }
    colon = memchr(s, ':', n);
    field_len = colon ? (apr_size_t)(colon - s) : n;
    /* the value: after the colon and one optional space */
    s += field_len;
    n -= field_len;
    if (n) {
        ++s;
        --n;
        if (n && *s == ' ') {
            ++s;
            --n;
        }
    }
    if (field_len == 5 && !memcmp(field, "event", 5)) {
        apr_size_t keep = n < MAX_TYPE ? n : MAX_TYPE;
        memcpy(rd->type, s, keep);
        rd->type[keep] = '\0';
        return;
    }
    if (field_len != 4 || memcmp(field, "data", 4)) {
        return;                 /* id:, retry:, unknown fields */
    }
    need = rd->data_len + n + (rd->has_data ? 1 : 0);
    if (!reserve(rd, &rd->data, &rd->data_cap, rd->data_len, need)) {
        rd->rc = SSE_EVENT_READER_TOO_BIG;
        return;
    }
    if (rd->has_data) {
        rd->data[rd->data_len++] = '\n';
    }
    memcpy(rd->data + rd->data_len, s, n);
    rd->data_len += n;
    rd->has_data = 1;
}

sse_event_reader_rc_e sse_event_reader_feed(sse_event_reader_t *rd,
                                            const char *buf,
                                            apr_size_t len)
{
    apr_size_t i = 0, start;

    if (rd->rc != SSE_EVENT_READER_MORE) {
        return rd->rc;
    }
    if (len && rd->skip_lf) {
        rd->skip_lf = 0;
        if (buf[0] == '\n') {
            i = 1;
        }
    }
    start = i;
    while (i < len && rd->rc == SSE_EVENT_READER_MORE) {
        const char *eol = NULL;
        apr_size_t k;

        for (k = i; k < len; ++k) {
            if (buf[k] == '\n' || buf[k] == '\r') {
                eol = buf + k;
                break;
            }
        }
        if (!eol) {
            break;
        }
        if (rd->line_len) {
            /* the line began in an earlier piece */
            if (!reserve(rd, &rd->line, &rd->line_cap, rd->line_len,
                         rd->line_len + (k - start))) {
                return rd->rc = SSE_EVENT_READER_TOO_BIG;
            }
            memcpy(rd->line + rd->line_len, buf + start, k - start);
            rd->line_len += k - start;
            take_line(rd, rd->line, rd->line_len);
            rd->line_len = 0;
        }
        else {
            take_line(rd, buf + start, k - start);
        }
        i = k + 1;
        if (*eol == '\r') {
            if (i < len) {
                if (buf[i] == '\n') {
                    ++i;
                }
            }
            else {
                rd->skip_lf = 1;
            }
        }
        start = i;
    }
    if (rd->rc == SSE_EVENT_READER_MORE && start < len) {
        if (!reserve(rd, &rd->line, &rd->line_cap, rd->line_len,
                     rd->line_len + (len - start))) {
            return rd->rc = SSE_EVENT_READER_TOO_BIG;
        }
        memcpy(rd->line + rd->line_len, buf + start, len - start);
        rd->line_len += len - start;
    }
    return rd->rc;
}

sse_event_reader_rc_e sse_event_reader_finish(sse_event_reader_t *rd)
{
    if (rd->rc != SSE_EVENT_READER_MORE) {
        return rd->rc;
    }
    if (rd->line_len) {
        take_line(rd, rd->line, rd->line_len);
        rd->line_len = 0;
    }
    if (rd->rc == SSE_EVENT_READER_MORE) {
        dispatch(rd);
    }
    return rd->rc;
}
