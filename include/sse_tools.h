/* Tool calls: assembling streamed tool-call deltas by index, and the
 * configured HTTP tools the module may call. httpd-free. */
#ifndef SSE_TOOLS_H
#define SSE_TOOLS_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#define SSE_TOOL_MAX_CALLS 16           /* per model answer */

/* One call the model asked for. */
typedef struct sse_tool_call_t {
    long index;                         /* as sent; -1 when missing */
    char id[96];
    char name[72];
    char *args;                         /* JSON text, NUL-terminated */
    apr_size_t args_len, args_cap;
} sse_tool_call_t;

typedef struct sse_tool_calls_t {
    apr_pool_t *pool;
    apr_size_t max_args;                /* cap per call's arguments */
    sse_tool_call_t calls[SSE_TOOL_MAX_CALLS];
    int n;
    int last;                           /* slot of the latest fragment */
} sse_tool_calls_t;

void sse_tool_calls_init(sse_tool_calls_t *tc, apr_pool_t *p,
                         apr_size_t max_args);

/* Merges one fragment of choices[0].delta.tool_calls[]: index < 0 means
 * the sender left it out. id/name may be NULL. Returns 0, or -1 when a
 * limit (calls, argument bytes) is exceeded. */
int sse_tool_calls_add(sse_tool_calls_t *tc, long index, const char *id,
                       const char *name, const char *args,
                       apr_size_t args_len);

/* Call at the end of an answer: fills missing ids, turns "" arguments into
 * "{}", drops calls without a name. Returns the number of calls. */
int sse_tool_calls_finish(sse_tool_calls_t *tc);

/* A tool from the configuration (SSEAssistantTool). */
typedef struct sse_tool_t {
    const char *name;
    const char *url;
    const char *label;                  /* the description */
    const char *spec_json;              /* {"type":"function","function":…} */
} sse_tool_t;

const sse_tool_t *sse_tool_find(const apr_array_header_t *tools,
                                const char *name);

#endif
