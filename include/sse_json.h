/* JSON facade: the only concern that sees jansson (modules/sse_json.c).
 * httpd-free. Ownership: *_new returns memory the caller owns; borrowed
 * pointers inside an sse_chunk_t live until sse_chunk_release(). */
#ifndef SSE_JSON_H
#define SSE_JSON_H

#include <apr_pools.h>
#include <apr_buckets.h>
#include <apr_tables.h>

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

/* The msgid event: {"id":…,"conversation":…} (conversation may be NULL). */
const char *sse_json_msgid_new(apr_pool_t *p, const char *msgid,
                               const char *conversation);

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
    int ntool;                  /* delta.tool_calls fragments, in order */
    struct {
        long index;             /* -1 when missing */
        const char *id, *name, *args;
        apr_size_t args_len;
    } tool[16];
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

/* A conversation being built for /chat/completions: a pool-bound list of
 * messages (request lifetime, never per token). */
typedef struct sse_msgs_t sse_msgs_t;

struct sse_tool_calls_t;
sse_msgs_t *sse_msgs_create(apr_pool_t *p);
/* role "system", "user" or "assistant"; returns APR_EINVAL for invalid
 * UTF-8. */
apr_status_t sse_msgs_add(sse_msgs_t *m, const char *role,
                          const char *content, apr_size_t len);
/* The assistant's tool-call message (content may be NULL). */
apr_status_t sse_msgs_add_tool_calls(sse_msgs_t *m, const char *content,
                                     const struct sse_tool_calls_t *calls);
apr_status_t sse_msgs_add_tool_result(sse_msgs_t *m, const char *call_id,
                                      const char *content, apr_size_t len);
int sse_msgs_count(const sse_msgs_t *m);
/* A stored message as it was: tool_calls_json (the "tool_calls" array as
 * JSON text) and tool_call_id may be NULL. */
apr_status_t sse_msgs_add_stored(sse_msgs_t *m, const char *role,
                                 const char *content,
                                 const char *tool_calls_json,
                                 const char *tool_call_id);
/* For history lists: appends {id,role,content,timestamp,feedback:null}. */
void sse_msgs_add_history_entry(sse_msgs_t *m, const char *id,
                                const char *role, const char *content,
                                const char *timestamp);
/* The list as compact JSON text. */
const char *sse_msgs_dump(apr_pool_t *p, const sse_msgs_t *m);

/* The "id"s of a stored "tool_calls" array (pool strings); -1 when the
 * text is not such an array. */
int sse_json_tool_call_ids(apr_pool_t *p, const char *tool_calls_json,
                           apr_array_header_t **ids);

/* The "tool_calls" array of an assistant message, as JSON text. */
const char *sse_json_tool_calls_new(apr_pool_t *p,
                                    const struct sse_tool_calls_t *calls);

/* The whole request: model, messages, tools (array of spec JSON texts, may
 * be NULL), stream flag. A pool string, or NULL on failure. */
const char *sse_json_chat_new(apr_pool_t *p, const char *model,
                              const sse_msgs_t *msgs,
                              const char *const *tool_specs, int ntools,
                              int stream, int include_usage,
                              apr_size_t *len);

/* Builds {"type":"function","function":{name,description,parameters}} from
 * a JSON-schema text; NULL and *why on failure. */
const char *sse_json_tool_spec_new(apr_pool_t *p, const char *name,
                                   const char *description,
                                   const char *schema, apr_size_t schema_len,
                                   const char **why);

/* A non-streamed chat.completion: the text (may be ""), tool calls merged
 * into calls. Returns 0, or -1 if the body is not a completion. */
int sse_json_decode_completion(apr_pool_t *p, const char *body,
                               apr_size_t len, const char **text,
                               struct sse_tool_calls_t *calls,
                               const char **finish_reason,
                               const char **usage_json);

/* Tool events: {"tool":…,"label":…,<key>:<value>} where value is the JSON
 * text if it parses, else a string (cut to max bytes on a UTF-8
 * boundary). */
const char *sse_json_tool_event_new(apr_pool_t *p, const char *tool,
                                    const char *label, const char *key,
                                    const char *value, apr_size_t len,
                                    apr_size_t max);

/* Request bodies of our own routes: {"prompt":…,"conversation":…}.
 * Returns NULL on success, else a static reason. Strings are pool copies. */
const char *sse_json_decode_prompt_body(apr_pool_t *p,
                                        const char *body, apr_size_t len,
                                        const char **prompt,
                                        apr_size_t *prompt_len,
                                        const char **conversation,
                                        const char **action);

/* The REST answer: {"id","conversation","role":"assistant","content",
 * "tool_calls":<tool_events, a JSON array text>,"finish_reason","usage"}. */
const char *sse_json_rest_answer_new(apr_pool_t *p, const char *id,
                                     const char *conversation,
                                     const char *content, apr_size_t len,
                                     const char *tool_events,
                                     const char *finish_reason,
                                     const char *usage_json);

/* Seeds jansson's hash function; call before threads start (child_init). */
void sse_json_seed(void);

/* {"error":{"message":…,"type":…,"code":…}} for 4xx/5xx bodies. */
const char *sse_json_error_body_new(apr_pool_t *p, const char *type,
                                    const char *code, const char *message);

/* POST-SSE: {"endpoint":"…","payload":{…}}. NULL on success (endpoint and
 * the payload as compact JSON text set), else the reason. */
const char *sse_json_decode_bridge(apr_pool_t *p, const char *body,
                                   apr_size_t len, const char **endpoint,
                                   const char **payload);
/* {"ok":true,"id":…,"stream":…} and {"ok":false,"error":…} */
const char *sse_json_bridge_ok_new(apr_pool_t *p, const char *id,
                                   const char *stream);
const char *sse_json_bridge_error_new(apr_pool_t *p, const char *message);

/* 1 when buf[0..len) parses as a JSON object. */
int sse_json_is_object_text(const char *buf, apr_size_t len);

/* 1 when buf[0..len) is valid UTF-8 (no NUL). */
int sse_utf8_valid(const char *buf, apr_size_t len);

#endif
