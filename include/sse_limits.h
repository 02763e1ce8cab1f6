/* Server-wide count of open streams, shared by all child processes through
 * anonymous shared memory created in the parent. httpd-free. */
#ifndef SSE_LIMITS_H
#define SSE_LIMITS_H

#include <apr_pools.h>

typedef struct sse_stream_counter_t sse_stream_counter_t;

/* In the parent, before children fork; lives as long as p. */
apr_status_t sse_stream_counter_create(sse_stream_counter_t **counter,
                                       apr_pool_t *p);

/* Takes a slot if fewer than max are open (max <= 0: no limit). The slot is
 * given back when `owner` is destroyed. Returns 1 when taken. */
int sse_stream_counter_acquire(sse_stream_counter_t *counter, int max,
                               apr_pool_t *owner);

apr_uint32_t sse_stream_counter_current(sse_stream_counter_t *counter);

#endif
