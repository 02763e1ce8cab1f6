#include <apr_atomic.h>
#include <apr_shm.h>

#include "sse_limits.h"

struct sse_stream_counter_t {
    apr_shm_t *shm;
    volatile apr_uint32_t *open;
};

apr_status_t sse_stream_counter_create(sse_stream_counter_t **counter,
                                       apr_pool_t *p)
{
    sse_stream_counter_t *c = apr_pcalloc(p, sizeof(*c));
    apr_status_t rv;

    /* anonymous: inherited by every child over fork, nothing on disk */
    rv = apr_shm_create(&c->shm, sizeof(apr_uint32_t), NULL, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    c->open = apr_shm_baseaddr_get(c->shm);
    apr_atomic_set32(c->open, 0);
    *counter = c;
    return APR_SUCCESS;
}

static apr_status_t release_slot(void *data)
{
    sse_stream_counter_t *c = data;

    apr_atomic_dec32(c->open);
    return APR_SUCCESS;
}

int sse_stream_counter_acquire(sse_stream_counter_t *c, int max,
                               apr_pool_t *owner)
{
    apr_uint32_t cur;

    if (!c) {
        return 1;
    }
    do {
        cur = apr_atomic_read32(c->open);
        if (max > 0 && cur >= (apr_uint32_t)max) {
            return 0;
        }
    } while (apr_atomic_cas32(c->open, cur + 1, cur) != cur);
    apr_pool_cleanup_register(owner, c, release_slot, apr_pool_cleanup_null);
    return 1;
}

apr_uint32_t sse_stream_counter_current(sse_stream_counter_t *c)
{
    return c ? apr_atomic_read32(c->open) : 0;
}
