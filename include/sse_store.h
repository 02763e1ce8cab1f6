/* Short-lived shared slots through ap_socache (glue): shmcb inside one
 * server (default), redis or memcache across several. Used for POST-SSE
 * payloads. */
#ifndef SSE_STORE_H
#define SSE_STORE_H

#include <httpd.h>
#include <http_config.h>

#define SSE_STORE_MUTEX "sse-assistant"
#define SSE_STORE_MAX_VALUE (256 * 1024)

/* SSEAssistantStore provider[:args] */
const char *sse_store_set(cmd_parms *cmd, void *unused, const char *arg);

apr_status_t sse_store_put(server_rec *s, const char *key,
                           const char *value, apr_size_t len,
                           apr_time_t expiry, apr_pool_t *p);

/* Retrieve and remove in one step (single use). For providers that are
 * not multi-process safe (shmcb) both happen under the global mutex, so
 * two concurrent takes of one key get it once. For redis/memcache the
 * socache API has no atomic take: a concurrent retrieve may win a small
 * window before the remove (see README). APR_NOTFOUND when absent. With
 * prefix, a value that does not start with it is left in place and
 * APR_EACCES returned (another owner cannot use up someone's slot). */
apr_status_t sse_store_take(server_rec *s, const char *key,
                            const char *prefix, char **value,
                            apr_size_t *len, apr_pool_t *p);

/* Retrieve without removing a value of at most max bytes (a larger one
 * looks absent with shmcb). APR_NOTFOUND when absent. */
apr_status_t sse_store_get(server_rec *s, const char *key, apr_size_t max,
                           char **value, apr_size_t *len, apr_pool_t *p);

/* 1 when a store is configured and initialised. */
int sse_store_available(server_rec *s);

void sse_store_register_hooks(apr_pool_t *p);

#endif
