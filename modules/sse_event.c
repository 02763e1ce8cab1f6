/* Server-Sent Events formatting (WHATWG HTML, "Server-sent events"). */
#include <stdlib.h>
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

int sse_event_parse_id(const char *id, char *msgid, apr_uint64_t *seq)
{
    apr_size_t i;
    const char *digits;
    apr_uint64_t v = 0;

    if (!id || strncmp(id, "msg_", 4)) {
        return 0;
    }
    for (i = 4; i < SSE_MSGID_LEN; ++i) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) {
            return 0;
        }
    }
    if (id[SSE_MSGID_LEN] != ':') {
        return 0;
    }
    digits = id + SSE_MSGID_LEN + 1;
    for (i = 0; digits[i]; ++i) {
        if (digits[i] < '0' || digits[i] > '9' || i >= 19) {
            return 0;
        }
        v = v * 10 + (apr_uint64_t)(digits[i] - '0');
    }
    if (i == 0) {
        return 0;
    }
    memcpy(msgid, id, SSE_MSGID_LEN);
    msgid[SSE_MSGID_LEN] = '\0';
    *seq = v;
    return 1;
}

const char *sse_event_find_after(const char *buf, apr_size_t len,
                                 apr_uint64_t seq)
{
    const char *p = buf, *end = buf + len;

    while (p < end) {
        const char *next = NULL, *idl;
        apr_size_t k;

        /* events are separated by a blank line */
        for (k = 0; p + k + 1 < end; ++k) {
            if (p[k] == '\n' && p[k + 1] == '\n') {
                next = p + k + 2;
                break;
            }
        }
        if (!next) {
            next = end;
        }
        for (idl = p; idl + 4 < next; ++idl) {
            if ((idl == p || idl[-1] == '\n') && !memcmp(idl, "id: ", 4)) {
                const char *colon = memchr(idl + 4, ':', (apr_size_t)(next - idl - 4));
                if (colon && strtoull(colon + 1, NULL, 10) > seq) {
                    return p;
                }
                break;
            }
        }
        p = next;
    }
    return end;
}
