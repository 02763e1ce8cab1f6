/* Conversation memory in a database through mod_dbd (SQLite by default,
 * PostgreSQL for several servers). Glue. A pooled connection is taken
 * around each short phase (load, append, clear), never held for a stream. */
#ifndef SSE_MEMORY_H
#define SSE_MEMORY_H

#include <httpd.h>

#include "sse_json.h"
#include "sse_turn.h"

typedef struct sse_memory_t sse_memory_t;

/* NULL when memory is off (SSEAssistantMemory off, mod_dbd absent or not
 * configured for this server). Allocations go to pool. */
sse_memory_t *sse_memory_open(request_rec *r, apr_pool_t *pool,
                              const char *owner,
                              const char *conversation, const char *key);

/* Appends the last `limit` messages to msgs, never starting inside a tool
 * call's results. */
apr_status_t sse_memory_load(sse_memory_t *m, sse_msgs_t *msgs, int limit);

/* Stores the user's message. */
apr_status_t sse_memory_add_user(sse_memory_t *m, const char *text,
                                 apr_size_t len);

/* Callbacks that store tool calls, tool results and the answer as the turn
 * runs. */
void sse_memory_turn_hooks(sse_memory_t *m, sse_turn_memory_t *hooks);

/* The conversation for page reloads: [{id,role,content,timestamp,
 * feedback}] as JSON text. */
const char *sse_memory_history_json(sse_memory_t *m);

/* Deletes the conversation; returns the number of rows or -1. */
int sse_memory_clear(sse_memory_t *m);

void sse_memory_register_hooks(apr_pool_t *p);

#endif
