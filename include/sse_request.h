/* What a client asks for: prompt and conversation from a query string, a
 * form body or a JSON body. httpd-free (fuzzed by fuzz/). */
#ifndef SSE_REQUEST_H
#define SSE_REQUEST_H

#include <apr_pools.h>

typedef struct sse_prompt_t {
    const char *prompt;
    apr_size_t prompt_len;
    const char *conversation;       /* NULL when the client sent none */
    const char *action;             /* "clear", or NULL */
    int history;                    /* ?history=1: the stored messages */
} sse_prompt_t;

/* A failed parse: the HTTP status to answer and a machine-readable code;
 * message is for the client. */
typedef struct sse_request_error_t {
    int status;
    const char *code;
    const char *message;
} sse_request_error_t;

/* Looks up key in an application/x-www-form-urlencoded string and decodes
 * it ('+' and %XX). Returns 1 if found; the value is a pool string. Returns
 * -1 for a malformed escape. */
int sse_form_get(apr_pool_t *p, const char *form, apr_size_t form_len,
                 const char *key, const char **value, apr_size_t *value_len);

/* body may be NULL (GET). content_type may be NULL. Returns 1 and fills
 * out, or 0 and fills err. The prompt is validated as UTF-8, not empty
 * after trimming, and at most max_prompt bytes; it is not required with
 * need_prompt 0, nor for history=1 or action=clear. */
int sse_request_parse(apr_pool_t *p, const char *query,
                      const char *content_type,
                      const char *body, apr_size_t body_len,
                      apr_size_t max_prompt, int need_prompt,
                      sse_prompt_t *out, sse_request_error_t *err);

#endif
