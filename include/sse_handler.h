/* The "sse-assistant" handler and the process-level hooks it needs (glue). */
#ifndef SSE_HANDLER_H
#define SSE_HANDLER_H

#include <apr_pools.h>

void sse_handler_register_hooks(apr_pool_t *p);

#endif
