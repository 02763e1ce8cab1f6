/* libcurl client for one streamed upstream call, plus a per-process stack
 * of reusable easy handles (keeps upstream connections alive across
 * requests so the first token pays no TCP/TLS handshake). httpd-free. */
#ifndef SSE_CURL_H
#define SSE_CURL_H

#include <apr_pools.h>
#include <apr_time.h>

#include "sse_json.h"

typedef struct sse_curl_pool_t sse_curl_pool_t;

/* Body bytes of a 2xx answer. Return 0 to continue, non-zero to abort. */
typedef int sse_curl_data_fn(void *ctx, const char *buf, apr_size_t len);
/* Called during the transfer, also while the upstream is silent (libcurl's
 * progress callback: at least about once a second). Non-zero aborts. */
typedef int sse_curl_tick_fn(void *ctx);

typedef struct sse_curl_call_t {
    const char *url;
    const char *api_key;            /* NULL = no Authorization header */
    const char *proxy;              /* NULL/"" = none, environment ignored */
    const char *body;
    apr_size_t body_len;
    const char *const *extra_headers;   /* NULL-terminated, may be NULL */
    apr_interval_time_t connect_timeout;
    apr_interval_time_t idle_timeout;
    apr_size_t max_error_body;      /* cap for a non-2xx body we keep */
    sse_curl_data_fn *on_data;
    sse_curl_tick_fn *on_tick;
    void *ctx;
} sse_curl_call_t;

typedef enum {
    SSE_CURL_OK = 0,            /* 2xx, body delivered to on_data */
    SSE_CURL_HTTP_ERROR,        /* non-2xx: status + error filled */
    SSE_CURL_NOT_A_STREAM,      /* 2xx but not text/event-stream: body kept */
    SSE_CURL_ABORTED,           /* a callback asked to stop */
    SSE_CURL_FAILED             /* transport failure: error filled */
} sse_curl_rc_e;

typedef struct sse_curl_result_t {
    long status;
    sse_error_t error;
    const char *body;               /* kept body (HTTP_ERROR, NOT_A_STREAM) */
    apr_size_t body_len;
    const char *retry_after;        /* upstream Retry-After, if any */
} sse_curl_result_t;

/* Process-wide libcurl setup; call once in the parent (post_config). */
apr_status_t sse_curl_global_init(apr_pool_t *pconf);

/* "libcurl/x.y.z OpenSSL/…" for the startup log line. */
const char *sse_curl_version(void);

/* A stack of at most max_idle idle handles, living in p (the child). */
sse_curl_pool_t *sse_curl_pool_create(apr_pool_t *p, int max_idle);

sse_curl_rc_e sse_curl_perform(sse_curl_pool_t *pool, apr_pool_t *p,
                               const sse_curl_call_t *call,
                               sse_curl_result_t *result);

/* "scheme://host[:port]" of url, without userinfo, path or query: the
 * only part of the upstream URL we ever log or show. */
const char *sse_curl_url_origin(apr_pool_t *p, const char *url);

#endif
