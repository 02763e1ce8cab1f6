/* One streamed upstream call with libcurl's easy interface. */
#include <string.h>

#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_lib.h>
#include <apr_uri.h>
#include <curl/curl.h>

#include "sse_curl.h"

struct sse_curl_pool_t {
#if APR_HAS_THREADS
    apr_thread_mutex_t *mutex;
#endif
    CURL **idle;
    int nidle, max_idle;
};

typedef struct transfer_t {
    CURL *h;
    const sse_curl_call_t *call;
    apr_pool_t *pool;
    long status;
    int is_stream;
    int headers_done;
    int aborted;
    char *kept;
    apr_size_t kept_len;
    const char *retry_after;
} transfer_t;

static apr_status_t global_cleanup(void *unused)
{
    curl_global_cleanup();
    return APR_SUCCESS;
}

apr_status_t sse_curl_global_init(apr_pool_t *pconf)
{
    /* libcurl counts init/cleanup pairs, so other modules may do the same */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return APR_EGENERAL;
    }
    apr_pool_cleanup_register(pconf, NULL, global_cleanup,
                              apr_pool_cleanup_null);
    return APR_SUCCESS;
}

const char *sse_curl_version(void)
{
    return curl_version();
}

static apr_status_t pool_cleanup(void *data)
{
    sse_curl_pool_t *cp = data;

    while (cp->nidle > 0) {
        curl_easy_cleanup(cp->idle[--cp->nidle]);
    }
    return APR_SUCCESS;
}

sse_curl_pool_t *sse_curl_pool_create(apr_pool_t *p, int max_idle)
{
    sse_curl_pool_t *cp = apr_pcalloc(p, sizeof(*cp));

    cp->max_idle = max_idle > 0 ? max_idle : 1;
    cp->idle = apr_pcalloc(p, sizeof(CURL *) * (apr_size_t)cp->max_idle);
#if APR_HAS_THREADS
    if (apr_thread_mutex_create(&cp->mutex, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS) {
        return NULL;
    }
#endif
    apr_pool_cleanup_register(p, cp, pool_cleanup, apr_pool_cleanup_null);
    return cp;
}

static CURL *handle_acquire(sse_curl_pool_t *cp)
{
    CURL *h = NULL;

    if (cp) {
#if APR_HAS_THREADS
        apr_thread_mutex_lock(cp->mutex);
#endif
        if (cp->nidle > 0) {
            h = cp->idle[--cp->nidle];
        }
#if APR_HAS_THREADS
        apr_thread_mutex_unlock(cp->mutex);
#endif
    }
    return h ? h : curl_easy_init();
}

/* Only handles of clean transfers go back: their connection is reusable. */
static void handle_release(sse_curl_pool_t *cp, CURL *h, int reusable)
{
    if (cp && reusable) {
        curl_easy_reset(h);
#if APR_HAS_THREADS
        apr_thread_mutex_lock(cp->mutex);
#endif
        if (cp->nidle < cp->max_idle) {
            cp->idle[cp->nidle++] = h;
            h = NULL;
        }
#if APR_HAS_THREADS
        apr_thread_mutex_unlock(cp->mutex);
#endif
    }
    if (h) {
        curl_easy_cleanup(h);
    }
}

static void keep_bytes(transfer_t *t, const char *buf, apr_size_t len)
{
    apr_size_t room = t->call->max_error_body - t->kept_len;
    char *nk;

    if (len > room) {
        len = room;
    }
    if (!len) {
        return;
    }
    nk = apr_palloc(t->pool, t->kept_len + len + 1);
    memcpy(nk, t->kept, t->kept_len);
    memcpy(nk + t->kept_len, buf, len);
    t->kept_len += len;
    nk[t->kept_len] = '\0';
    t->kept = nk;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    transfer_t *t = ud;
    size_t len = size * n;

    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
        /* a new response (e.g. after 100-continue): reset what we saw */
        t->is_stream = 0;
        t->retry_after = NULL;
        return len;
    }
    if (len > 13 && !strncasecmp(buf, "content-type:", 13)) {
        const char *v = buf + 13;
        while (v < buf + len && apr_isspace(*v)) {
            ++v;
        }
        t->is_stream = (buf + len - v) >= 17
                       && !strncasecmp(v, "text/event-stream", 17);
    }
    else if (len > 12 && !strncasecmp(buf, "retry-after:", 12)) {
        const char *v = buf + 12;
        apr_size_t vlen;
        while (v < buf + len && apr_isspace(*v)) {
            ++v;
        }
        vlen = (apr_size_t)(buf + len - v);
        while (vlen && apr_isspace(v[vlen - 1])) {
            --vlen;
        }
        if (vlen && vlen < 64) {
            t->retry_after = apr_pstrmemdup(t->pool, v, vlen);
        }
    }
    return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
    transfer_t *t = ud;
    size_t len = size * n;

    if (!t->headers_done) {
        t->headers_done = 1;
        curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &t->status);
    }
    if (t->status >= 200 && t->status < 300 && t->is_stream) {
        if (t->call->on_data(t->call->ctx, buf, len)) {
            t->aborted = 1;
            return 0;
        }
        return len;
    }
    keep_bytes(t, buf, len);
    return len;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    transfer_t *t = ud;

    if (t->call->on_tick && t->call->on_tick(t->call->ctx)) {
        t->aborted = 1;
        return 1;
    }
    return 0;
}

/* Curl wants 0 for "no timeout"; round sub-second values up, never down
 * to 0 (mod_md does the same). */
static long to_ms(apr_interval_time_t t)
{
    long ms = (long)apr_time_as_msec(t);
    return (t > 0 && ms == 0) ? 1L : ms;
}

static long to_s(apr_interval_time_t t)
{
    long s = (long)apr_time_sec(t);
    return (t > 0 && s == 0) ? 1L : s;
}

#define SSE_CURL_SETOPT(h, opt, val)                                       \
    do {                                                                   \
        if (!failed_opt && curl_easy_setopt(h, opt, val) != CURLE_OK) {    \
            failed_opt = #opt;                                             \
        }                                                                  \
    } while (0)

const char *sse_curl_url_origin(apr_pool_t *p, const char *url)
{
    apr_uri_t uri;

    if (apr_uri_parse(p, url, &uri) != APR_SUCCESS || !uri.hostname) {
        return "(unparsable upstream URL)";
    }
    return apr_psprintf(p, "%s://%s%s%s", uri.scheme ? uri.scheme : "http",
                        uri.hostname, uri.port_str ? ":" : "",
                        uri.port_str ? uri.port_str : "");
}

sse_curl_rc_e sse_curl_perform(sse_curl_pool_t *cp, apr_pool_t *p,
                               const sse_curl_call_t *call,
                               sse_curl_result_t *result)
{
    CURL *h;
    CURLcode cc;
    struct curl_slist *headers = NULL;
    transfer_t t;
    char errbuf[CURL_ERROR_SIZE];
    const char *failed_opt = NULL;
    sse_curl_rc_e rc;

    memset(result, 0, sizeof(*result));
    memset(&t, 0, sizeof(t));
    t.call = call;
    t.pool = p;
    errbuf[0] = '\0';

    h = handle_acquire(cp);
    if (!h) {
        sse_error_set(&result->error, "server_error", "curl_init",
                      "could not create an upstream connection handle");
        return SSE_CURL_FAILED;
    }
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: text/event-stream");
    /* no 100-continue round trip before the body */
    headers = curl_slist_append(headers, "Expect:");
    if (call->extra_headers) {
        const char *const *hdr;
        for (hdr = call->extra_headers; *hdr; ++hdr) {
            headers = curl_slist_append(headers, *hdr);
        }
    }
    if (call->api_key && *call->api_key) {
        headers = curl_slist_append(headers,
                                    apr_pstrcat(p, "Authorization: Bearer ",
                                                call->api_key, NULL));
    }

    SSE_CURL_SETOPT(h, CURLOPT_URL, call->url);
    SSE_CURL_SETOPT(h, CURLOPT_NOSIGNAL, 1L);
    SSE_CURL_SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
    SSE_CURL_SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
    SSE_CURL_SETOPT(h, CURLOPT_PROXY, call->proxy ? call->proxy : "");
    SSE_CURL_SETOPT(h, CURLOPT_HTTPHEADER, headers);
    SSE_CURL_SETOPT(h, CURLOPT_POST, 1L);
    SSE_CURL_SETOPT(h, CURLOPT_POSTFIELDS, call->body);
    SSE_CURL_SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    SSE_CURL_SETOPT(h, CURLOPT_TCP_NODELAY, 1L);
    SSE_CURL_SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
    SSE_CURL_SETOPT(h, CURLOPT_HEADERFUNCTION, on_header);
    SSE_CURL_SETOPT(h, CURLOPT_HEADERDATA, &t);
    SSE_CURL_SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
    SSE_CURL_SETOPT(h, CURLOPT_WRITEDATA, &t);
    SSE_CURL_SETOPT(h, CURLOPT_NOPROGRESS, 0L);
    SSE_CURL_SETOPT(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    SSE_CURL_SETOPT(h, CURLOPT_XFERINFODATA, &t);
    SSE_CURL_SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, to_ms(call->connect_timeout));
    if (call->idle_timeout > 0) {
        /* "idle": less than 1 byte/s for that long */
        SSE_CURL_SETOPT(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        SSE_CURL_SETOPT(h, CURLOPT_LOW_SPEED_TIME, to_s(call->idle_timeout));
    }
    if (failed_opt) {
        sse_error_set(&result->error, "server_error", "curl_setopt",
                      "could not configure the upstream request (%s)",
                      failed_opt);
        curl_slist_free_all(headers);
        handle_release(cp, h, 0);
        return SSE_CURL_FAILED;
    }

    t.h = h;
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &result->status);
    curl_slist_free_all(headers);
    result->retry_after = t.retry_after;
    result->body = t.kept;
    result->body_len = t.kept_len;

    if (t.aborted) {
        rc = SSE_CURL_ABORTED;
    }
    else if (cc != CURLE_OK) {
        if (cc == CURLE_OPERATION_TIMEDOUT) {
            if (result->status == 0) {
                sse_error_set(&result->error, "upstream_timeout", "timeout",
                              "upstream timed out while connecting");
            }
            else {
                sse_error_set(&result->error, "upstream_timeout", "timeout",
                              "upstream timed out (no data for %ld s)",
                              to_s(call->idle_timeout));
            }
        }
        else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST
                 || cc == CURLE_COULDNT_RESOLVE_PROXY) {
            sse_error_set(&result->error, "upstream_unreachable",
                          "connect_failed", "upstream unreachable: %s",
                          errbuf[0] ? errbuf : curl_easy_strerror(cc));
        }
        else {
            sse_error_set(&result->error, "upstream_error", "transport",
                          "upstream connection failed: %s",
                          errbuf[0] ? errbuf : curl_easy_strerror(cc));
        }
        rc = SSE_CURL_FAILED;
    }
    else if (result->status < 200 || result->status >= 300) {
        if (!t.kept_len
            || !sse_json_decode_error_body(&result->error, t.kept, t.kept_len)) {
            sse_error_set(&result->error, "upstream_error", NULL,
                          "upstream answered HTTP %ld", result->status);
        }
        if (!result->error.code[0]) {
            apr_snprintf(result->error.code, sizeof(result->error.code),
                         "http_%ld", result->status);
        }
        rc = SSE_CURL_HTTP_ERROR;
    }
    else if (!t.is_stream) {
        rc = SSE_CURL_NOT_A_STREAM;
    }
    else {
        rc = SSE_CURL_OK;
    }
    handle_release(cp, h, rc == SSE_CURL_OK || rc == SSE_CURL_HTTP_ERROR
                          || rc == SSE_CURL_NOT_A_STREAM);
    return rc;
}
