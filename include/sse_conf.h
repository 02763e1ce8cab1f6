/* Configuration: per-server and per-directory records, directive setters,
 * and accessors that apply the defaults (glue). */
#ifndef SSE_CONF_H
#define SSE_CONF_H

#include <httpd.h>
#include <http_config.h>

#include "sse_curl.h"
#include "sse_limits.h"

#include <apr_global_mutex.h>

#define SSE_DEFAULT_UPSTREAM        "https://api.openai.com/v1"
#define SSE_DEFAULT_MODEL           "gpt-4o-mini"
#define SSE_DEFAULT_HEARTBEAT       apr_time_from_sec(15)
#define SSE_DEFAULT_RETRY_MS        3000
#define SSE_DEFAULT_CONNECT_TIMEOUT apr_time_from_sec(10)
#define SSE_DEFAULT_IDLE_TIMEOUT    apr_time_from_sec(120)
#define SSE_DEFAULT_MAX_BODY        65536
#define SSE_DEFAULT_MAX_PROMPT      32768
#define SSE_DEFAULT_MAX_LINE        (1024 * 1024)
#define SSE_DEFAULT_MAX_STREAMS     0
#define SSE_DEFAULT_TOOL_TIMEOUT    apr_time_from_sec(30)
#define SSE_DEFAULT_MAX_TOOL_ROUNDS 5
#define SSE_DEFAULT_MEMORY_LIMIT    20
#define SSE_DEFAULT_MEMORY_KEY      "assistant"
#define SSE_DEFAULT_POSTSSE_TTL     apr_time_from_sec(60)
#define SSE_DEFAULT_POSTSSE_STREAM  "/eventtransportpostsse"
#define SSE_DEFAULT_RESUME_GRACE    apr_time_from_sec(10)
#define SSE_DEFAULT_RESUME_BUFFER   (512 * 1024)

/* Process-wide state, set up by the post_config and child_init hooks and
 * shared by every server_rec's config. */
typedef struct sse_runtime_t {
    int max_streams;                        /* -1 = unset */
    sse_stream_counter_t *streams;          /* parent, shared memory */
    sse_curl_pool_t *curl_pool;             /* per child */
    volatile apr_uint32_t schema_ready;     /* per child: migrations ran */
    const struct ap_socache_provider_t *store_provider;
    struct ap_socache_instance_t *store;
    const char *store_name;
    apr_global_mutex_t *store_mutex;        /* for NOTMPSAFE providers */
} sse_runtime_t;

typedef struct sse_srv_conf_t {
    sse_runtime_t *rt;
} sse_srv_conf_t;

typedef struct sse_dir_conf_t {
    const char *upstream;                   /* base URL, no trailing '/' */
    const char *api_key;                    /* read at startup */
    const char *api_key_source;             /* for error messages */
    const char *model;
    const char *system_prompt;
    const char *proxy;
    int stream_usage;                       /* -1 = unset */
    apr_interval_time_t heartbeat;          /* -1 = unset, 0 = off */
    int retry_ms;
    apr_interval_time_t connect_timeout;
    apr_interval_time_t idle_timeout;
    apr_off_t max_body;
    apr_off_t max_prompt;
    apr_off_t max_line;
    apr_array_header_t *tools;              /* sse_tool_t; NULL = unset */
    apr_interval_time_t tool_timeout;
    int max_tool_rounds;
    int tool_phase;                         /* sse_tool_phase_e */
    int memory;                             /* -1 = unset */
    int memory_limit;
    const char *memory_key;
    apr_interval_time_t postsse_ttl;
    const char *postsse_stream;             /* path of the stream handler */
    apr_array_header_t *postsse_targets;    /* allowed relay URL prefixes */
    apr_array_header_t *allow_origins;      /* extra Origins for POST */
    int resume;                             /* -1 = unset */
    apr_interval_time_t resume_grace;
    apr_off_t resume_buffer;
} sse_dir_conf_t;

extern const command_rec sse_conf_cmds[];

void *sse_conf_create_dir(apr_pool_t *p, char *dir);
void *sse_conf_merge_dir(apr_pool_t *p, void *base, void *add);
void *sse_conf_create_srv(apr_pool_t *p, server_rec *s);
void *sse_conf_merge_srv(apr_pool_t *p, void *base, void *add);

sse_runtime_t *sse_conf_runtime(server_rec *s);
sse_dir_conf_t *sse_conf_dir(request_rec *r);

const char *sse_conf_upstream(const sse_dir_conf_t *dc);
const char *sse_conf_model(const sse_dir_conf_t *dc);
int sse_conf_stream_usage(const sse_dir_conf_t *dc);
apr_interval_time_t sse_conf_heartbeat(const sse_dir_conf_t *dc);
int sse_conf_retry_ms(const sse_dir_conf_t *dc);
apr_interval_time_t sse_conf_connect_timeout(const sse_dir_conf_t *dc);
apr_interval_time_t sse_conf_idle_timeout(const sse_dir_conf_t *dc);
apr_off_t sse_conf_max_body(const sse_dir_conf_t *dc);
apr_off_t sse_conf_max_prompt(const sse_dir_conf_t *dc);
apr_off_t sse_conf_max_line(const sse_dir_conf_t *dc);
int sse_conf_max_streams(const sse_runtime_t *rt);
apr_interval_time_t sse_conf_tool_timeout(const sse_dir_conf_t *dc);
int sse_conf_max_tool_rounds(const sse_dir_conf_t *dc);
int sse_conf_tool_phase(const sse_dir_conf_t *dc);
int sse_conf_memory(const sse_dir_conf_t *dc);
int sse_conf_memory_limit(const sse_dir_conf_t *dc);
const char *sse_conf_memory_key(const sse_dir_conf_t *dc);
apr_interval_time_t sse_conf_postsse_ttl(const sse_dir_conf_t *dc);
const char *sse_conf_postsse_stream(const sse_dir_conf_t *dc);
int sse_conf_resume(const sse_dir_conf_t *dc);
apr_interval_time_t sse_conf_resume_grace(const sse_dir_conf_t *dc);
apr_off_t sse_conf_resume_buffer(const sse_dir_conf_t *dc);

#endif
