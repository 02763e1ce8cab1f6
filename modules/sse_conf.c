/* Directives, config records and their defaults. */
#include <stdlib.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uri.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>

#include "sse_conf.h"
#include "sse_directives.h"
#include "sse_private.h"
#include "sse_json.h"
#include "sse_tools.h"
#include "sse_turn.h"
#include "sse_store.h"

#define UNSET -1

void *sse_conf_create_dir(apr_pool_t *p, char *dir)
{
    sse_dir_conf_t *dc = apr_pcalloc(p, sizeof(*dc));

    dc->stream_usage = UNSET;
    dc->heartbeat = UNSET;
    dc->retry_ms = UNSET;
    dc->connect_timeout = UNSET;
    dc->idle_timeout = UNSET;
    dc->max_body = UNSET;
    dc->max_prompt = UNSET;
    dc->max_line = UNSET;
    dc->tool_timeout = UNSET;
    dc->max_tool_rounds = UNSET;
    dc->tool_phase = UNSET;
    dc->memory = UNSET;
    dc->memory_limit = UNSET;
    dc->postsse_ttl = UNSET;
    dc->resume = UNSET;
    dc->resume_grace = UNSET;
    dc->resume_buffer = UNSET;
    return dc;
}

#define MERGE_PTR(f) dc->f = add->f ? add->f : base->f
#define MERGE_NUM(f) dc->f = add->f != UNSET ? add->f : base->f

void *sse_conf_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    sse_dir_conf_t *base = basev, *add = addv;
    sse_dir_conf_t *dc = apr_pcalloc(p, sizeof(*dc));

    MERGE_PTR(upstream);
    MERGE_PTR(model);
    MERGE_PTR(system_prompt);
    MERGE_PTR(proxy);
    if (add->api_key_source) {
        dc->api_key = add->api_key;
        dc->api_key_source = add->api_key_source;
    }
    else {
        dc->api_key = base->api_key;
        dc->api_key_source = base->api_key_source;
    }
    MERGE_NUM(stream_usage);
    MERGE_NUM(heartbeat);
    MERGE_NUM(retry_ms);
    MERGE_NUM(connect_timeout);
    MERGE_NUM(idle_timeout);
    MERGE_NUM(max_body);
    MERGE_NUM(max_prompt);
    MERGE_NUM(max_line);
    MERGE_PTR(tools);
    MERGE_NUM(tool_timeout);
    MERGE_NUM(max_tool_rounds);
    MERGE_NUM(tool_phase);
    MERGE_NUM(memory);
    MERGE_NUM(memory_limit);
    MERGE_PTR(memory_key);
    MERGE_NUM(postsse_ttl);
    MERGE_PTR(postsse_stream);
    MERGE_PTR(postsse_targets);
    MERGE_PTR(allow_origins);
    MERGE_NUM(resume);
    MERGE_NUM(resume_grace);
    MERGE_NUM(resume_buffer);
    return dc;
}

void *sse_conf_create_srv(apr_pool_t *p, server_rec *s)
{
    sse_srv_conf_t *sc = apr_pcalloc(p, sizeof(*sc));

    sc->rt = apr_pcalloc(p, sizeof(*sc->rt));
    sc->rt->max_streams = UNSET;
    return sc;
}

/* All virtual hosts share the main server's runtime record. */
void *sse_conf_merge_srv(apr_pool_t *p, void *basev, void *addv)
{
    sse_srv_conf_t *base = basev;
    sse_srv_conf_t *sc = apr_pcalloc(p, sizeof(*sc));

    sc->rt = base->rt;
    return sc;
}

sse_runtime_t *sse_conf_runtime(server_rec *s)
{
    sse_srv_conf_t *sc = ap_get_module_config(s->module_config,
                                              &sse_assistant_module);
    return sc->rt;
}

sse_dir_conf_t *sse_conf_dir(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &sse_assistant_module);
}

const char *sse_conf_upstream(const sse_dir_conf_t *dc)
{
    return dc->upstream ? dc->upstream : SSE_DEFAULT_UPSTREAM;
}

const char *sse_conf_model(const sse_dir_conf_t *dc)
{
    return dc->model ? dc->model : SSE_DEFAULT_MODEL;
}

int sse_conf_stream_usage(const sse_dir_conf_t *dc)
{
    return dc->stream_usage != UNSET ? dc->stream_usage : 1;
}

apr_interval_time_t sse_conf_heartbeat(const sse_dir_conf_t *dc)
{
    return dc->heartbeat != UNSET ? dc->heartbeat : SSE_DEFAULT_HEARTBEAT;
}

int sse_conf_retry_ms(const sse_dir_conf_t *dc)
{
    return dc->retry_ms != UNSET ? dc->retry_ms : SSE_DEFAULT_RETRY_MS;
}

apr_interval_time_t sse_conf_connect_timeout(const sse_dir_conf_t *dc)
{
    return dc->connect_timeout != UNSET ? dc->connect_timeout
                                        : SSE_DEFAULT_CONNECT_TIMEOUT;
}

apr_interval_time_t sse_conf_idle_timeout(const sse_dir_conf_t *dc)
{
    return dc->idle_timeout != UNSET ? dc->idle_timeout
                                     : SSE_DEFAULT_IDLE_TIMEOUT;
}

apr_off_t sse_conf_max_body(const sse_dir_conf_t *dc)
{
    return dc->max_body != UNSET ? dc->max_body : SSE_DEFAULT_MAX_BODY;
}

apr_off_t sse_conf_max_prompt(const sse_dir_conf_t *dc)
{
    return dc->max_prompt != UNSET ? dc->max_prompt : SSE_DEFAULT_MAX_PROMPT;
}

apr_off_t sse_conf_max_line(const sse_dir_conf_t *dc)
{
    return dc->max_line != UNSET ? dc->max_line : SSE_DEFAULT_MAX_LINE;
}

int sse_conf_max_streams(const sse_runtime_t *rt)
{
    return rt->max_streams != UNSET ? rt->max_streams
                                    : SSE_DEFAULT_MAX_STREAMS;
}

apr_interval_time_t sse_conf_tool_timeout(const sse_dir_conf_t *dc)
{
    return dc->tool_timeout != UNSET ? dc->tool_timeout
                                     : SSE_DEFAULT_TOOL_TIMEOUT;
}

int sse_conf_max_tool_rounds(const sse_dir_conf_t *dc)
{
    return dc->max_tool_rounds != UNSET ? dc->max_tool_rounds
                                        : SSE_DEFAULT_MAX_TOOL_ROUNDS;
}

int sse_conf_tool_phase(const sse_dir_conf_t *dc)
{
    return dc->tool_phase != UNSET ? dc->tool_phase : SSE_TOOL_PHASE_STREAM;
}

int sse_conf_memory(const sse_dir_conf_t *dc)
{
    return dc->memory != UNSET ? dc->memory : 1;
}

int sse_conf_memory_limit(const sse_dir_conf_t *dc)
{
    return dc->memory_limit != UNSET ? dc->memory_limit
                                     : SSE_DEFAULT_MEMORY_LIMIT;
}

const char *sse_conf_memory_key(const sse_dir_conf_t *dc)
{
    return dc->memory_key ? dc->memory_key : SSE_DEFAULT_MEMORY_KEY;
}

apr_interval_time_t sse_conf_postsse_ttl(const sse_dir_conf_t *dc)
{
    return dc->postsse_ttl != UNSET ? dc->postsse_ttl
                                    : SSE_DEFAULT_POSTSSE_TTL;
}

const char *sse_conf_postsse_stream(const sse_dir_conf_t *dc)
{
    return dc->postsse_stream ? dc->postsse_stream
                              : SSE_DEFAULT_POSTSSE_STREAM;
}

int sse_conf_resume(const sse_dir_conf_t *dc)
{
    return dc->resume != UNSET ? dc->resume : 0;
}

apr_interval_time_t sse_conf_resume_grace(const sse_dir_conf_t *dc)
{
    return dc->resume_grace != UNSET ? dc->resume_grace
                                     : SSE_DEFAULT_RESUME_GRACE;
}

apr_off_t sse_conf_resume_buffer(const sse_dir_conf_t *dc)
{
    return dc->resume_buffer != UNSET ? dc->resume_buffer
                                      : SSE_DEFAULT_RESUME_BUFFER;
}

/* --- setters: every one validates, every error names the directive --- */

#define URL_PATH  1
#define URL_QUERY 2

static const char *set_url(cmd_parms *cmd, const char *arg,
                           const char **dst, int allow)
{
    apr_uri_t uri;
    apr_size_t n;
    char *url;

    if (apr_uri_parse(cmd->pool, arg, &uri) != APR_SUCCESS || !uri.scheme
        || (strcasecmp(uri.scheme, "http") && strcasecmp(uri.scheme, "https"))
        || !uri.hostname || !*uri.hostname) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not an http:// or "
                            "https:// URL", cmd->cmd->name, arg);
    }
    if (uri.fragment || (uri.query && !(allow & URL_QUERY))
        || (!(allow & URL_PATH) && uri.path && strcmp(uri.path, "/"))) {
        return apr_psprintf(cmd->pool, "%s: '%s' must not have a %s",
                            cmd->cmd->name, arg,
                            (allow & URL_PATH) ? "query or fragment" : "path");
    }
    url = apr_pstrdup(cmd->pool, arg);
    n = strlen(url);
    while (!uri.query && n > 0 && url[n - 1] == '/') {
        url[--n] = '\0';
    }
    *dst = url;
    return NULL;
}

static const char *set_upstream(cmd_parms *cmd, void *dcv, const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    return set_url(cmd, arg, &dc->upstream, URL_PATH);
}

static const char *set_proxy(cmd_parms *cmd, void *dcv, const char *arg)
{
    sse_dir_conf_t *dc = dcv;

    if (!strcasecmp(arg, "none")) {
        dc->proxy = "";
        return NULL;
    }
    return set_url(cmd, arg, &dc->proxy, 0);
}

/* Trailing whitespace and newlines of key files are not part of the key. */
static const char *check_key(cmd_parms *cmd, char *key, const char *source)
{
    apr_size_t n = strlen(key), i;

    while (n > 0 && apr_isspace(key[n - 1])) {
        key[--n] = '\0';
    }
    if (n == 0) {
        return apr_psprintf(cmd->pool, "%s: %s holds no key",
                            cmd->cmd->name, source);
    }
    for (i = 0; i < n; ++i) {
        if (!apr_isgraph(key[i])) {
            return apr_psprintf(cmd->pool, "%s: the key in %s contains "
                                "whitespace or control characters",
                                cmd->cmd->name, source);
        }
    }
    return NULL;
}

static const char *set_key_file(cmd_parms *cmd, void *dcv, const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    apr_size_t len;
    char *key;

    if (!path) {
        return apr_psprintf(cmd->pool, "%s: invalid path '%s'",
                            cmd->cmd->name, arg);
    }
    /* read now, as root, so the key file can stay readable by root only */
    rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, cmd->temp_pool);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
        if (rv == APR_SUCCESS && fi.size > 4096) {
            apr_file_close(f);
            return apr_psprintf(cmd->pool, "%s: %s is larger than 4 KiB; "
                                "is it really an API key?", cmd->cmd->name,
                                path);
        }
        len = rv == APR_SUCCESS ? (apr_size_t)fi.size : 0;
        key = apr_pcalloc(cmd->pool, len + 1);
        if (rv == APR_SUCCESS && len) {
            rv = apr_file_read_full(f, key, len, &len);
        }
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS) {
        char buf[120];
        return apr_psprintf(cmd->pool, "%s: cannot read %s: %s",
                            cmd->cmd->name, path,
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    dc->api_key_source = apr_pstrcat(cmd->pool, "file ", path, NULL);
    dc->api_key = key;
    return check_key(cmd, key, dc->api_key_source);
}

static const char *set_key_env(cmd_parms *cmd, void *dcv, const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    const char *v = getenv(arg);

    dc->api_key_source = apr_pstrcat(cmd->pool, "environment variable ", arg,
                                     NULL);
    if (!v) {
        return apr_psprintf(cmd->pool, "%s: environment variable %s is not "
                            "set in httpd's environment (Debian: "
                            "/etc/apache2/envvars)", cmd->cmd->name, arg);
    }
    dc->api_key = apr_pstrdup(cmd->pool, v);
    return check_key(cmd, (char *)dc->api_key, dc->api_key_source);
}

static const char *set_text(cmd_parms *cmd, void *dcv, const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    int offset = (int)(long)cmd->info;

    if (!*arg) {
        return apr_psprintf(cmd->pool, "%s: must not be empty",
                            cmd->cmd->name);
    }
    *(const char **)((char *)dc + offset) = arg;
    return NULL;
}

static const char *set_flag(cmd_parms *cmd, void *dcv, int on)
{
    sse_dir_conf_t *dc = dcv;
    int offset = (int)(long)cmd->info;

    *(int *)((char *)dc + offset) = on;
    return NULL;
}


/* Durations: "15", "15s", "500ms", "2min"; bounds inclusive. */
static const char *parse_duration(cmd_parms *cmd, const char *arg,
                                  apr_interval_time_t min,
                                  apr_interval_time_t max,
                                  apr_interval_time_t *out)
{
    apr_interval_time_t t;

    /* ap_timeout_parameter_parse() reads "soon" as 0 s: demand a digit */
    if (!apr_isdigit(*arg)
        || ap_timeout_parameter_parse(arg, &t, "s") != APR_SUCCESS || t < 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a duration (e.g. "
                            "15, 15s, 500ms, 2min)", cmd->cmd->name, arg);
    }
    if (t < min || t > max) {
        return apr_psprintf(cmd->pool, "%s: '%s' is out of range "
                            "(%" APR_TIME_T_FMT " ms to %" APR_TIME_T_FMT
                            " s)", cmd->cmd->name, arg,
                            apr_time_as_msec(min), apr_time_sec(max));
    }
    *out = t;
    return NULL;
}

static const char *set_heartbeat(cmd_parms *cmd, void *dcv, const char *arg)
{
    sse_dir_conf_t *dc = dcv;

    if (!strcasecmp(arg, "off")) {
        dc->heartbeat = 0;
        return NULL;
    }
    return parse_duration(cmd, arg, apr_time_from_sec(1),
                          apr_time_from_sec(3600), &dc->heartbeat);
}

static const char *set_connect_timeout(cmd_parms *cmd, void *dcv,
                                       const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    return parse_duration(cmd, arg, apr_time_from_msec(1),
                          apr_time_from_sec(300), &dc->connect_timeout);
}

static const char *set_idle_timeout(cmd_parms *cmd, void *dcv,
                                    const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    return parse_duration(cmd, arg, apr_time_from_sec(1),
                          apr_time_from_sec(86400), &dc->idle_timeout);
}

static const char *parse_size(cmd_parms *cmd, const char *arg,
                              apr_off_t min, apr_off_t max, apr_off_t *out)
{
    char *end;
    apr_off_t v;

    if (apr_strtoff(&v, arg, &end, 10) != APR_SUCCESS || end == arg
        || v < 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a number of bytes "
                            "(suffixes K and M allowed)", cmd->cmd->name,
                            arg);
    }
    if (*end == 'k' || *end == 'K') {
        v *= 1024;
        ++end;
    }
    else if (*end == 'm' || *end == 'M') {
        v *= 1024 * 1024;
        ++end;
    }
    if (*end) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a number of bytes "
                            "(suffixes K and M allowed)", cmd->cmd->name,
                            arg);
    }
    if (v < min || v > max) {
        return apr_psprintf(cmd->pool, "%s: '%s' is out of range (%"
                            APR_OFF_T_FMT " to %" APR_OFF_T_FMT " bytes)",
                            cmd->cmd->name, arg, min, max);
    }
    *out = v;
    return NULL;
}

static const char *set_max_body(cmd_parms *cmd, void *dcv, const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    return parse_size(cmd, arg, 16, 64 * 1024 * 1024, &dc->max_body);
}

static const char *set_max_prompt(cmd_parms *cmd, void *dcv, const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    return parse_size(cmd, arg, 1, 16 * 1024 * 1024, &dc->max_prompt);
}

static const char *set_max_line(cmd_parms *cmd, void *dcv, const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    return parse_size(cmd, arg, 4096, 64 * 1024 * 1024, &dc->max_line);
}

static const char *parse_int(cmd_parms *cmd, const char *arg, long min,
                             long max, long *out)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (end == arg || *end || v < min || v > max) {
        return apr_psprintf(cmd->pool, "%s: '%s' must be a whole number from "
                            "%ld to %ld", cmd->cmd->name, arg, min, max);
    }
    *out = v;
    return NULL;
}

static const char *set_memory_limit(cmd_parms *cmd, void *dcv,
                                    const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    long v = 0;
    const char *err = parse_int(cmd, arg, 0, 1000, &v);

    if (!err) {
        dc->memory_limit = (int)v;
    }
    return err;
}

static const char *set_retry(cmd_parms *cmd, void *dcv, const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    long v = 0;
    const char *err = parse_int(cmd, arg, 0, 3600000, &v);

    if (!err) {
        dc->retry_ms = (int)v;
    }
    return err;
}

static const char *set_max_streams(cmd_parms *cmd, void *unused,
                                   const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long v = 0;

    if (err) {
        return err;
    }
    if (!(err = parse_int(cmd, arg, 0, 1000000, &v))) {
        sse_conf_runtime(cmd->server)->max_streams = (int)v;
    }
    return err;
}

/* SSEAssistantTool name url "description" schema-file */
static const char *set_tool(cmd_parms *cmd, void *dcv, int argc,
                            char *const argv[])
{
    sse_dir_conf_t *dc = dcv;
    sse_tool_t *tool;
    const char *err, *why = NULL, *path;
    apr_size_t i;
    char *schema;
    apr_size_t len;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;

    if (argc != 4) {
        return apr_psprintf(cmd->pool, "%s: takes 4 arguments: name url "
                            "\"description\" json-schema-file",
                            cmd->cmd->name);
    }
    for (i = 0; argv[0][i]; ++i) {
        if (!apr_isalnum(argv[0][i]) && argv[0][i] != '_'
            && argv[0][i] != '-') {
            break;
        }
    }
    if (argv[0][i] || i == 0 || i > 64) {
        return apr_psprintf(cmd->pool, "%s: tool name '%s' must be 1 to 64 "
                            "letters, digits, '_' or '-'", cmd->cmd->name,
                            argv[0]);
    }
    if (dc->tools && sse_tool_find(dc->tools, argv[0])) {
        return apr_psprintf(cmd->pool, "%s: tool '%s' is defined twice here",
                            cmd->cmd->name, argv[0]);
    }
    if (!dc->tools) {
        dc->tools = apr_array_make(cmd->pool, 4, sizeof(sse_tool_t));
    }
    tool = apr_array_push(dc->tools);
    tool->name = argv[0];
    tool->label = argv[2];
    if ((err = set_url(cmd, argv[1], &tool->url, URL_PATH | URL_QUERY))) {
        return err;
    }
    path = ap_server_root_relative(cmd->pool, argv[3]);
    rv = path ? apr_file_open(&f, path, APR_FOPEN_READ, 0, cmd->temp_pool)
              : APR_EBADPATH;
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
        len = rv == APR_SUCCESS ? (apr_size_t)fi.size : 0;
        if (len > 1024 * 1024) {
            apr_file_close(f);
            return apr_psprintf(cmd->pool, "%s: schema %s is larger than "
                                "1 MiB", cmd->cmd->name, path);
        }
        schema = apr_palloc(cmd->temp_pool, len + 1);
        if (rv == APR_SUCCESS && len) {
            rv = apr_file_read_full(f, schema, len, &len);
        }
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS) {
        char buf[120];
        return apr_psprintf(cmd->pool, "%s: cannot read schema %s: %s",
                            cmd->cmd->name, argv[3],
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    tool->spec_json = sse_json_tool_spec_new(cmd->pool, tool->name,
                                             tool->label, schema, len, &why);
    if (!tool->spec_json) {
        return apr_psprintf(cmd->pool, "%s: schema %s: %s", cmd->cmd->name,
                            path, why ? why : "invalid");
    }
    return NULL;
}

static const char *set_tool_timeout(cmd_parms *cmd, void *dcv,
                                    const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    return parse_duration(cmd, arg, apr_time_from_msec(1),
                          apr_time_from_sec(600), &dc->tool_timeout);
}

static const char *set_max_tool_rounds(cmd_parms *cmd, void *dcv,
                                       const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    long v = 0;
    const char *err = parse_int(cmd, arg, 0, 20, &v);

    if (!err) {
        dc->max_tool_rounds = (int)v;
    }
    return err;
}

static const char *set_tool_phase(cmd_parms *cmd, void *dcv,
                                  const char *arg)
{
    sse_dir_conf_t *dc = dcv;

    if (!strcasecmp(arg, "stream")) {
        dc->tool_phase = SSE_TOOL_PHASE_STREAM;
    }
    else if (!strcasecmp(arg, "separate")) {
        dc->tool_phase = SSE_TOOL_PHASE_SEPARATE;
    }
    else {
        return apr_psprintf(cmd->pool, "%s: '%s' must be 'stream' or "
                            "'separate'", cmd->cmd->name, arg);
    }
    return NULL;
}

static const char *set_postsse_ttl(cmd_parms *cmd, void *dcv,
                                   const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    return parse_duration(cmd, arg, apr_time_from_sec(1),
                          apr_time_from_sec(3600), &dc->postsse_ttl);
}

static const char *set_postsse_target(cmd_parms *cmd, void *dcv,
                                      const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    const char *url, *err = set_url(cmd, arg, &url, URL_PATH);

    if (err) {
        return err;
    }
    if (!dc->postsse_targets) {
        dc->postsse_targets = apr_array_make(cmd->pool, 4, sizeof(char *));
    }
    APR_ARRAY_PUSH(dc->postsse_targets, const char *) = arg;
    return NULL;
}

static const char *set_allow_origin(cmd_parms *cmd, void *dcv,
                                    const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    const char *origin, *err = set_url(cmd, arg, &origin, 0);

    if (err) {
        return err;
    }
    if (!dc->allow_origins) {
        dc->allow_origins = apr_array_make(cmd->pool, 4, sizeof(char *));
    }
    APR_ARRAY_PUSH(dc->allow_origins, const char *) = origin;
    return NULL;
}

static const char *set_postsse_stream(cmd_parms *cmd, void *dcv,
                                      const char *arg)
{
    sse_dir_conf_t *dc = dcv;

    if (arg[0] != '/' || arg[1] == '/' || ap_strchr_c(arg, '?')) {
        return apr_psprintf(cmd->pool, "%s: '%s' must be a path on this "
                            "server, e.g. /eventtransportpostsse",
                            cmd->cmd->name, arg);
    }
    dc->postsse_stream = arg;
    return NULL;
}

static const char *set_resume_grace(cmd_parms *cmd, void *dcv,
                                    const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    return parse_duration(cmd, arg, apr_time_from_sec(1),
                          apr_time_from_sec(600), &dc->resume_grace);
}

static const char *set_resume_buffer(cmd_parms *cmd, void *dcv,
                                     const char *arg)
{
    sse_dir_conf_t *dc = dcv;
    return parse_size(cmd, arg, 0, 64 * 1024 * 1024, &dc->resume_buffer);
}

#define DIR_SCOPE (RSRC_CONF | ACCESS_CONF)

const command_rec sse_conf_cmds[] = {
    AP_INIT_TAKE1(SSE_CMD_UPSTREAM, set_upstream, NULL, DIR_SCOPE,
                  "Base URL of the OpenAI-compatible API, e.g. "
                  "https://api.openai.com/v1"),
    AP_INIT_TAKE1(SSE_CMD_API_KEY_FILE, set_key_file, NULL, DIR_SCOPE,
                  "File holding the upstream API key (read at startup)"),
    AP_INIT_TAKE1(SSE_CMD_API_KEY_ENV, set_key_env, NULL, DIR_SCOPE,
                  "Environment variable holding the upstream API key"),
    AP_INIT_TAKE1(SSE_CMD_MODEL, set_text,
                  (void *)APR_OFFSETOF(sse_dir_conf_t, model), DIR_SCOPE,
                  "Model name sent upstream"),
    AP_INIT_TAKE1(SSE_CMD_SYSTEM_PROMPT, set_text,
                  (void *)APR_OFFSETOF(sse_dir_conf_t, system_prompt),
                  DIR_SCOPE, "System prompt sent before the user's prompt"),
    AP_INIT_FLAG(SSE_CMD_MEMORY, set_flag,
                 (void *)APR_OFFSETOF(sse_dir_conf_t, memory), DIR_SCOPE,
                 "Conversation memory through mod_dbd"),
    AP_INIT_TAKE1(SSE_CMD_MEMORY_LIMIT, set_memory_limit, NULL, DIR_SCOPE,
                  "Messages of history sent upstream"),
    AP_INIT_TAKE1(SSE_CMD_MEMORY_KEY, set_text,
                  (void *)APR_OFFSETOF(sse_dir_conf_t, memory_key), DIR_SCOPE,
                  "Memory key: locations with the same key share "
                  "conversations"),
    AP_INIT_FLAG(SSE_CMD_STREAM_USAGE, set_flag,
                 (void *)APR_OFFSETOF(sse_dir_conf_t, stream_usage), DIR_SCOPE,
                 "Ask the upstream for token usage (stream_options)"),
    AP_INIT_TAKE1(SSE_CMD_PROXY, set_proxy, NULL, DIR_SCOPE,
                  "HTTP proxy for upstream calls, or 'none'"),
    AP_INIT_TAKE1(SSE_CMD_HEARTBEAT, set_heartbeat, NULL, DIR_SCOPE,
                  "Comment sent after this long without output, or 'off'"),
    AP_INIT_TAKE1(SSE_CMD_RETRY, set_retry, NULL, DIR_SCOPE,
                  "Reconnect delay in ms announced to EventSource clients"),
    AP_INIT_TAKE1(SSE_CMD_CONNECT_TIMEOUT, set_connect_timeout, NULL,
                  DIR_SCOPE, "Timeout for connecting to the upstream"),
    AP_INIT_TAKE1(SSE_CMD_IDLE_TIMEOUT, set_idle_timeout, NULL, DIR_SCOPE,
                  "Upstream silence after which the turn fails"),
    AP_INIT_TAKE1(SSE_CMD_MAX_BODY, set_max_body, NULL, DIR_SCOPE,
                  "Largest request body accepted (bytes)"),
    AP_INIT_TAKE1(SSE_CMD_MAX_PROMPT, set_max_prompt, NULL, DIR_SCOPE,
                  "Longest prompt accepted (bytes)"),
    AP_INIT_TAKE1(SSE_CMD_MAX_LINE, set_max_line, NULL, DIR_SCOPE,
                  "Longest upstream line or event accepted (bytes)"),
    AP_INIT_TAKE_ARGV(SSE_CMD_TOOL, set_tool, NULL, DIR_SCOPE,
                      "An HTTP tool: name url \"description\" "
                      "json-schema-file"),
    AP_INIT_TAKE1(SSE_CMD_TOOL_TIMEOUT, set_tool_timeout, NULL, DIR_SCOPE,
                  "Time a tool may take to answer"),
    AP_INIT_TAKE1(SSE_CMD_MAX_TOOL_ROUNDS, set_max_tool_rounds, NULL,
                  DIR_SCOPE, "Rounds of tool calls before the model must "
                  "answer"),
    AP_INIT_TAKE1(SSE_CMD_TOOL_PHASE, set_tool_phase, NULL, DIR_SCOPE,
                  "stream (every call streamed with tools) or separate "
                  "(non-streamed tool rounds, then a streamed answer)"),
    AP_INIT_TAKE1(SSE_CMD_STORE, sse_store_set, NULL, RSRC_CONF,
                  "socache provider[:args] for POST-SSE slots (shmcb, "
                  "redis, memcache)"),
    AP_INIT_ITERATE(SSE_CMD_ALLOW_ORIGIN, set_allow_origin, NULL, DIR_SCOPE,
                    "Origins besides this server allowed to POST"),
    AP_INIT_TAKE1(SSE_CMD_POSTSSE_TTL, set_postsse_ttl, NULL, DIR_SCOPE,
                  "How long a POST-SSE stream id stays valid"),
    AP_INIT_ITERATE(SSE_CMD_POSTSSE_TARGET, set_postsse_target, NULL,
                    DIR_SCOPE, "URL prefixes POST-SSE may relay to"),
    AP_INIT_TAKE1(SSE_CMD_POSTSSE_STREAM, set_postsse_stream, NULL,
                  DIR_SCOPE, "Path of the sse-postsse-stream location"),
    AP_INIT_FLAG(SSE_CMD_RESUME, set_flag,
                 (void *)APR_OFFSETOF(sse_dir_conf_t, resume), DIR_SCOPE,
                 "Keep generating for a while after the client vanished"),
    AP_INIT_TAKE1(SSE_CMD_RESUME_GRACE, set_resume_grace, NULL, DIR_SCOPE,
                  "How long a turn without client waits for a reconnect"),
    AP_INIT_TAKE1(SSE_CMD_RESUME_BUFFER, set_resume_buffer, NULL, DIR_SCOPE,
                  "Bytes of events kept per turn for Last-Event-ID (0 off)"),
    AP_INIT_TAKE1(SSE_CMD_MAX_STREAMS, set_max_streams, NULL, RSRC_CONF,
                  "Streams open at once across all processes (0 = no "
                  "limit of our own)"),
    {NULL}
};
