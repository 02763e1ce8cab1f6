/* mod_status report: how many answers are streaming, against the cap
 * (glue). */
#ifndef SSE_STATUS_H
#define SSE_STATUS_H

#include <apr_pools.h>

void sse_status_register_hooks(apr_pool_t *p);

#endif
