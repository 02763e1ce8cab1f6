/* One streamed upstream call. libcurl's multi_socket interface with our
 * own poll(): curl_easy_perform polls twice per read (its wait, then a
 * zero-timeout check before reading) and owns a wakeup socketpair; here
 * each token costs one poll and one read. */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_lib.h>
#include <apr_uri.h>
#include <curl/curl.h>

#include "sse_curl.h"

/* An easy handle and the multi handle that drives it: the upstream
 * connection is cached in the multi, so they are pooled together. */
typedef struct handle_t {
    CURL *easy;
    CURLM *multi;
} handle_t;

struct sse_curl_pool_t {
#if APR_HAS_THREADS
    apr_thread_mutex_t *mutex;
#endif
    handle_t *idle;
    int nidle, max_idle;
};

/* at most this many sockets at once (happy eyeballs connects two) */
#define MAX_SOCKETS 4
/* while nothing happens, on_tick still runs this often */
#define TICK_MS 250

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
    struct pollfd socks[MAX_SOCKETS];   /* what curl wants to wait for */
    int nsocks;
    int sock_overflow;
    apr_time_t timer_at;                /* curl's next timeout, 0 = none */
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

static void handle_destroy(handle_t *hd)
{
    if (hd->multi) {
        curl_multi_cleanup(hd->multi);
    }
    if (hd->easy) {
        curl_easy_cleanup(hd->easy);
    }
    hd->easy = hd->multi = NULL;
}

static apr_status_t pool_cleanup(void *data)
{
    sse_curl_pool_t *cp = data;

    while (cp->nidle > 0) {
        handle_destroy(&cp->idle[--cp->nidle]);
    }
    return APR_SUCCESS;
}

sse_curl_pool_t *sse_curl_pool_create(apr_pool_t *p, int max_idle)
{
    sse_curl_pool_t *cp = apr_pcalloc(p, sizeof(*cp));

    cp->max_idle = max_idle > 0 ? max_idle : 1;
    cp->idle = apr_pcalloc(p, sizeof(handle_t) * (apr_size_t)cp->max_idle);
#if APR_HAS_THREADS
    if (apr_thread_mutex_create(&cp->mutex, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS) {
        return NULL;
    }
#endif
    apr_pool_cleanup_register(p, cp, pool_cleanup, apr_pool_cleanup_null);
    return cp;
}

static int handle_acquire(sse_curl_pool_t *cp, handle_t *hd)
{
    hd->easy = NULL;
    hd->multi = NULL;
    if (cp) {
#if APR_HAS_THREADS
        apr_thread_mutex_lock(cp->mutex);
#endif
        if (cp->nidle > 0) {
            *hd = cp->idle[--cp->nidle];
        }
#if APR_HAS_THREADS
        apr_thread_mutex_unlock(cp->mutex);
#endif
    }
    if (!hd->easy) {
        hd->easy = curl_easy_init();
        hd->multi = curl_multi_init();
        if (!hd->easy || !hd->multi) {
            handle_destroy(hd);
            return 0;
        }
    }
    return 1;
}

/* Only handles of clean transfers go back: their connection is reusable. */
static void handle_release(sse_curl_pool_t *cp, handle_t *hd, int reusable)
{
    /* the callbacks' data lived on the caller's stack */
    curl_multi_setopt(hd->multi, CURLMOPT_SOCKETFUNCTION, NULL);
    curl_multi_setopt(hd->multi, CURLMOPT_SOCKETDATA, NULL);
    curl_multi_setopt(hd->multi, CURLMOPT_TIMERFUNCTION, NULL);
    curl_multi_setopt(hd->multi, CURLMOPT_TIMERDATA, NULL);
    if (cp && reusable) {
        curl_easy_reset(hd->easy);
#if APR_HAS_THREADS
        apr_thread_mutex_lock(cp->mutex);
#endif
        if (cp->nidle < cp->max_idle) {
            cp->idle[cp->nidle++] = *hd;
            hd->easy = hd->multi = NULL;
        }
#if APR_HAS_THREADS
        apr_thread_mutex_unlock(cp->mutex);
#endif
    }
    handle_destroy(hd);
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

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *ud,
                     void *sockp)
{
    transfer_t *t = ud;
    int i;

    (void)easy;
    (void)sockp;
    for (i = 0; i < t->nsocks && t->socks[i].fd != fd; ++i) {
    }
    if (what == CURL_POLL_REMOVE) {
        if (i < t->nsocks) {
            t->socks[i] = t->socks[--t->nsocks];
        }
        return 0;
    }
    if (i == t->nsocks) {
        if (t->nsocks == MAX_SOCKETS) {
            t->sock_overflow = 1;
            return -1;
        }
        ++t->nsocks;
    }
    t->socks[i].fd = fd;
    t->socks[i].events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0)
                                 | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *ud)
{
    transfer_t *t = ud;

    (void)multi;
    t->timer_at = timeout_ms < 0 ? 0
                  : apr_time_now() + apr_time_from_msec(timeout_ms);
    return 0;
}

/* Runs the transfer to its end; CURLE_OK or why it failed. */
static CURLcode drive(transfer_t *t, CURLM *multi, CURL *easy)
{
    struct pollfd fds[MAX_SOCKETS];
    CURLMsg *msg;
    CURLcode cc = CURLE_OK;
    CURLMcode mc;
    int running = 1, nfds, n, i, left;

    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, t);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, t);
    if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
        return CURLE_FAILED_INIT;
    }
    mc = curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    while (mc == CURLM_OK && running && !t->aborted && !t->sock_overflow) {
        apr_time_t now = apr_time_now();
        long wait = TICK_MS;

        if (t->timer_at) {
            apr_interval_time_t due = t->timer_at - now;
            if (due < apr_time_from_msec(wait)) {
                /* round up: waking before the timer is due does nothing */
                wait = due <= 0 ? 0 : (long)((due + 999) / 1000);
            }
        }
        /* fds may change inside curl calls: poll a copy */
        nfds = t->nsocks;
        memcpy(fds, t->socks, sizeof(fds[0]) * (apr_size_t)nfds);
        n = poll(fds, (nfds_t)nfds, (int)wait);
        if (n < 0 && errno != EINTR) {
            cc = CURLE_RECV_ERROR;
            break;
        }
        for (i = 0; n > 0 && i < nfds && mc == CURLM_OK; ++i) {
            int mask = 0;
            if (!fds[i].revents) {
                continue;
            }
            if (fds[i].revents & (POLLIN | POLLHUP)) {
                mask |= CURL_CSELECT_IN;
            }
            if (fds[i].revents & POLLOUT) {
                mask |= CURL_CSELECT_OUT;
            }
            if (fds[i].revents & (POLLERR | POLLNVAL)) {
                mask |= CURL_CSELECT_ERR;
            }
            mc = curl_multi_socket_action(multi, fds[i].fd, mask, &running);
        }
        if (mc == CURLM_OK && running && t->timer_at
            && apr_time_now() >= t->timer_at) {
            t->timer_at = 0;
            mc = curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0,
                                          &running);
        }
        /* curl's progress callback ticks on data; a silent upstream
         * must not silence the tick (client gone, heartbeats) */
        if (n == 0 && running && !t->aborted && t->call->on_tick
            && t->call->on_tick(t->call->ctx)) {
            t->aborted = 1;
        }
    }
    if (mc != CURLM_OK || t->sock_overflow) {
        cc = CURLE_FAILED_INIT;
    }
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) {
            cc = msg->data.result;
        }
    }
    /* removing an unfinished transfer closes its connection: the cancel
     * the upstream sees when our client left */
    curl_multi_remove_handle(multi, easy);
    return cc;
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
    handle_t hd;
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

    if (!handle_acquire(cp, &hd)) {
        sse_error_set(&result->error, "server_error", "curl_init",
                      "could not create an upstream connection handle");
        return SSE_CURL_FAILED;
    }
    h = hd.easy;
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
        handle_release(cp, &hd, 0);
        return SSE_CURL_FAILED;
    }

    t.h = h;
    cc = drive(&t, hd.multi, h);
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
    handle_release(cp, &hd, rc == SSE_CURL_OK || rc == SSE_CURL_HTTP_ERROR
                          || rc == SSE_CURL_NOT_A_STREAM);
    return rc;
}
