/* Assembly of streamed tool-call deltas. Servers differ (see
 * shared/notes/openai-chat-streaming.md §4): OpenAI sends id/name only on
 * the first fragment, Ollama whole calls at once, some omit "index",
 * LiteLLM repeats ids and sends a trailing "summary" of the arguments. */
#include <string.h>

#include <apr_strings.h>

#include "sse_tools.h"

void sse_tool_calls_init(sse_tool_calls_t *tc, apr_pool_t *p,
                         apr_size_t max_args)
{
    memset(tc, 0, sizeof(*tc));
    tc->pool = p;
    tc->max_args = max_args;
    tc->last = -1;
}

static int slot_for(sse_tool_calls_t *tc, long index, const char *id)
{
    int i;

    if (index >= 0) {
        for (i = 0; i < tc->n; ++i) {
            if (tc->calls[i].index == index) {
                /* a different id on a slot that has arguments: a new call
                 * that reuses the index (seen with speculative decoding) */
                if (id && *id && tc->calls[i].id[0]
                    && strcmp(tc->calls[i].id, id) && tc->calls[i].args_len) {
                    continue;
                }
                return i;
            }
        }
    }
    else if (id && *id) {
        for (i = 0; i < tc->n; ++i) {
            if (!strcmp(tc->calls[i].id, id)) {
                return i;
            }
        }
    }
    else if (tc->last >= 0) {
        return tc->last;
    }
    if (tc->n == SSE_TOOL_MAX_CALLS) {
        return -1;
    }
    memset(&tc->calls[tc->n], 0, sizeof(tc->calls[0]));
    tc->calls[tc->n].index = index;
    return tc->n++;
}

static int append_args(sse_tool_calls_t *tc, sse_tool_call_t *c,
                       const char *s, apr_size_t n)
{
    if (!n) {
        return 0;
    }
    if (c->args_len + n > tc->max_args) {
        return -1;
    }
    if (c->args_len + n + 1 > c->args_cap) {
        apr_size_t cap = c->args_cap ? c->args_cap : 128;
        char *nb;
        while (cap < c->args_len + n + 1) {
            cap *= 2;
        }
        nb = apr_palloc(tc->pool, cap);
        if (c->args_len) {
            memcpy(nb, c->args, c->args_len);
        }
        c->args = nb;
        c->args_cap = cap;
    }
    memcpy(c->args + c->args_len, s, n);
    c->args_len += n;
    c->args[c->args_len] = '\0';
    return 0;
}

int sse_tool_calls_add(sse_tool_calls_t *tc, long index, const char *id,
                       const char *name, const char *args,
                       apr_size_t args_len)
{
    int slot = slot_for(tc, index, id);
    sse_tool_call_t *c;

    if (slot < 0) {
        return -1;
    }
    c = &tc->calls[slot];
    tc->last = slot;
    if (id && *id && !c->id[0]) {
        apr_cpystrn(c->id, id, sizeof(c->id));
    }
    if (name && *name && !c->name[0]) {
        apr_cpystrn(c->name, name, sizeof(c->name));
    }
    /* LiteLLM's trailing summary repeats the whole argument text */
    if (args_len && args_len == c->args_len && c->args_len > 1
        && !memcmp(args, c->args, args_len)) {
        return 0;
    }
    return append_args(tc, c, args, args_len);
}

int sse_tool_calls_finish(sse_tool_calls_t *tc)
{
    int i, k = 0;

    for (i = 0; i < tc->n; ++i) {
        sse_tool_call_t *c = &tc->calls[i];
        if (!c->name[0]) {
            continue;           /* nothing we could call */
        }
        if (!c->id[0]) {
            apr_snprintf(c->id, sizeof(c->id), "call_%d", i);
        }
        if (!c->args_len) {
            append_args(tc, c, "{}", 2);
        }
        if (k != i) {
            tc->calls[k] = *c;
        }
        ++k;
    }
    tc->n = k;
    return k;
}

const sse_tool_t *sse_tool_find(const apr_array_header_t *tools,
                                const char *name)
{
    int i;

    for (i = 0; tools && i < tools->nelts; ++i) {
        const sse_tool_t *t = &APR_ARRAY_IDX(tools, i, sse_tool_t);
        if (!strcmp(t->name, name)) {
            return t;
        }
    }
    return NULL;
}
