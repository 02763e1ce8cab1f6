/* Runs the model's tool calls against the configured HTTP tools, in
 * parallel (libcurl multi), reporting each start and end. httpd-free. */
#ifndef SSE_TOOL_EXEC_H
#define SSE_TOOL_EXEC_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "sse_tools.h"

typedef struct sse_tool_outcome_t {
    int ok;                     /* the tool answered 2xx */
    const char *result;         /* body (ok) or error text (failed) */
    apr_size_t result_len;
} sse_tool_outcome_t;

typedef struct sse_tool_exec_t {
    const apr_array_header_t *tools;    /* sse_tool_t */
    apr_interval_time_t timeout;
    apr_size_t max_result;              /* bytes kept of a tool's answer */
    const char *proxy;
    /* called before the calls start, one per call, with the tool found
     * (NULL for an unknown name) */
    void (*started)(void *ctx, const sse_tool_call_t *call,
                    const sse_tool_t *tool);
    void (*finished)(void *ctx, const sse_tool_call_t *call,
                     const sse_tool_t *tool,
                     const sse_tool_outcome_t *outcome);
    /* while waiting; non-zero = stop (client gone) */
    int (*tick)(void *ctx);
    void *ctx;
} sse_tool_exec_t;

/* Returns 0, or -1 when tick asked to stop (outcomes then incomplete). */
int sse_tool_exec_run(apr_pool_t *p, const sse_tool_exec_t *ex,
                      const sse_tool_calls_t *calls,
                      sse_tool_outcome_t *outcomes);

#endif
