/* Server-Sent Events formatting (WHATWG HTML, "Server-sent events"). */
#include <string.h>

#include <apr_strings.h>

#include "sse_event.h"
#include "sse_json.h"

apr_status_t sse_event_write_open(apr_bucket_brigade *bb, int retry_ms)
{
    char buf[64];
    int n = apr_snprintf(buf, sizeof(buf), "retry: %d\n: stream open\n\n",
                         retry_ms);
    return apr_brigade_write(bb, NULL, NULL, buf, (apr_size_t)n);
}

apr_status_t sse_event_write_comment(apr_bucket_brigade *bb, const char *text)
{
    if (strpbrk(text, "\r\n")) {
        return APR_EINVAL;
    }
    return apr_brigade_putstrs(bb, NULL, NULL, ": ", text, "\n\n", NULL);
}

apr_status_t sse_event_begin(sse_event_stream_t *es, apr_bucket_brigade *bb,
                             const char *event)
{
    char head[128];
    apr_size_t n;
    int m;

    n = strlen(event);
    if (n > 64) {
        return APR_EINVAL;
    }
    memcpy(head, "event: ", 7);
    memcpy(head + 7, event, n);
    m = apr_snprintf(head + 7 + n, sizeof(head) - 7 - n,
                     "\nid: %s:%" APR_UINT64_T_FMT "\ndata: ",
                     es->msgid, ++es->seq);
    return apr_brigade_write(bb, NULL, NULL, head, 7 + n + (apr_size_t)m);
}

apr_status_t sse_event_end(apr_bucket_brigade *bb)
{
    return apr_brigade_write(bb, NULL, NULL, "\n\n", 2);
}

apr_status_t sse_event_write(sse_event_stream_t *es, apr_bucket_brigade *bb,
                             const char *event,
                             const char *data, apr_size_t len)
{
    apr_size_t i, start = 0;
    apr_status_t rv;

    if (strpbrk(event, "\r\n") || memchr(data, '\0', len)) {
        return APR_EINVAL;
    }
    if ((rv = sse_event_begin(es, bb, event)) != APR_SUCCESS) {
        return rv;
    }
    for (i = 0; i < len; ++i) {
        if (data[i] != '\r' && data[i] != '\n') {
            continue;
        }
        rv = apr_brigade_write(bb, NULL, NULL, data + start, i - start);
        if (rv == APR_SUCCESS) {
            rv = apr_brigade_write(bb, NULL, NULL, "\ndata: ", 7);
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') {
            ++i;
        }
        start = i + 1;
    }
    rv = apr_brigade_write(bb, NULL, NULL, data + start, len - start);
    return rv == APR_SUCCESS ? sse_event_end(bb) : rv;
}

apr_status_t sse_event_write_token(sse_event_stream_t *es,
                                   apr_bucket_brigade *bb,
                                   const char *text, apr_size_t len)
{
    apr_status_t rv = sse_event_begin(es, bb, "token");

    if (rv == APR_SUCCESS)
        rv = apr_brigade_write(bb, NULL, NULL, "{\"text\":", 8);
    if (rv == APR_SUCCESS)
        rv = sse_json_write_string(bb, text, len);
    if (rv == APR_SUCCESS)
        rv = apr_brigade_write(bb, NULL, NULL, "}\n\n", 3);
    return rv;
}
