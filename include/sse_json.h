/* JSON facade: the only concern that sees jansson (modules/sse_json.c).
 * httpd-free. Ownership: *_new returns memory the caller owns; borrowed
 * pointers inside an sse_chunk_t live until sse_chunk_release(). */
#ifndef SSE_JSON_H
#define SSE_JSON_H

#include <apr_pools.h>
#include <apr_buckets.h>

/* Writes s as a quoted JSON string straight into bb, escaping ", \, control
 * characters and U+2028/U+2029 (JavaScript line terminators). Bytes are not
 * validated: callers pass text that came out of a JSON parser. */
apr_status_t sse_json_write_string(apr_bucket_brigade *bb,
                                   const char *s, apr_size_t len);

/* An OpenAI-style error, copied into fixed buffers so it outlives any
 * parsed document; texts are truncated on a UTF-8 boundary. */
typedef struct sse_error_t {
    char message[512];
    char type[64];
    char code[64];      /* empty = null */
} sse_error_t;

void sse_error_set(sse_error_t *err, const char *type, const char *code,
                   const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* {"message":…,"type":…,"code":…} as a pool string. */
const char *sse_json_error_new(apr_pool_t *p, const sse_error_t *err);

/* {"finish_reason":…,"usage":{…}} ("usage" left out when NULL). */
const char *sse_json_meta_new(apr_pool_t *p, const char *finish_reason,
                              const char *usage_json);

/* One decoded streaming chunk of /chat/completions. */
typedef struct sse_chunk_t {
    const char *content;        /* choices[0].delta.content, or NULL */
    apr_size_t content_len;
    const char *refusal;        /* choices[0].delta.refusal, or NULL */
    apr_size_t refusal_len;
    const char *finish_reason;  /* or NULL */
    char *usage_json;           /* compact dump of "usage" if an object */
    int has_error;              /* the chunk carried an "error" member */
    sse_error_t error;
    void *doc;                  /* the parsed document (owned) */
} sse_chunk_t;

typedef enum {
    SSE_JSON_OK = 0,
    SSE_JSON_INVALID,           /* not JSON */
    SSE_JSON_WRONG_SHAPE        /* JSON, but not a chat.completion.chunk */
} sse_json_rc_e;

sse_json_rc_e sse_chunk_decode(sse_chunk_t *chunk,
                               const char *data, apr_size_t len);
void sse_chunk_release(sse_chunk_t *chunk);

/* Parses an error body of a non-2xx upstream answer: OpenAI's
 * {"error":{…}}, llama.cpp's integer codes, vLLM's flat form, a bare
 * string. Returns 1 when something useful was found. */
int sse_json_decode_error_body(sse_error_t *err,
                               const char *body, apr_size_t len);

/* Decodes a non-streamed chat.completion; returns the assistant text as a
 * pool string, NULL if the body is not one. */
const char *sse_json_decode_completion_text(apr_pool_t *p,
                                            const char *body, apr_size_t len,
                                            const char **finish_reason,
                                            const char **usage_json);

/* The body of a streamed /chat/completions request. */
typedef struct sse_chat_request_t {
    const char *model;
    const char *system_prompt;  /* NULL = none */
    const char *prompt;
    apr_size_t prompt_len;
    int include_usage;
} sse_chat_request_t;

/* Returns a pool copy of the compact request JSON, or NULL when a string is
 * not valid UTF-8. */
const char *sse_json_chat_request_new(apr_pool_t *p,
                                      const sse_chat_request_t *req,
                                      apr_size_t *len);

/* Request bodies of our own routes: {"prompt":…,"conversation":…}.
 * Returns NULL on success, else a static reason. Strings are pool copies. */
const char *sse_json_decode_prompt_body(apr_pool_t *p,
                                        const char *body, apr_size_t len,
                                        const char **prompt,
                                        apr_size_t *prompt_len,
                                        const char **conversation);

/* Seeds jansson's hash function; call before threads start (child_init). */
void sse_json_seed(void);

/* {"error":{"message":…,"type":…,"code":…}} for 4xx/5xx bodies. */
const char *sse_json_error_body_new(apr_pool_t *p, const char *type,
                                    const char *code, const char *message);

/* 1 when buf[0..len) is valid UTF-8 (no NUL). */
int sse_utf8_valid(const char *buf, apr_size_t len);

#endif
