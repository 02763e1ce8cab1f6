/* POST-SSE bridge (glue): "sse-postsse-proxy" stores a POSTed payload
 * under a one-time id, "sse-postsse-stream" streams the endpoint's answer
 * for that id — in-process for this module's own locations, relayed with
 * libcurl for allowlisted targets. */
#ifndef SSE_BRIDGE_H
#define SSE_BRIDGE_H

#include <apr_pools.h>

#define SSE_HANDLER_POSTSSE_PROXY  "sse-postsse-proxy"
#define SSE_HANDLER_POSTSSE_STREAM "sse-postsse-stream"

void sse_bridge_register_hooks(apr_pool_t *p);

#endif
