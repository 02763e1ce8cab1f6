/* JSON facade over jansson. Everything here is httpd-free. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>
#include <jansson.h>

#include "sse_json.h"
#include "sse_tools.h"

static const char hexdigits[] = "0123456789abcdef";

apr_status_t sse_json_write_string(apr_bucket_brigade *bb,
                                   const char *s, apr_size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    apr_size_t i, run = 0;
    char esc[8];
    apr_status_t rv;

    if ((rv = apr_brigade_putc(bb, NULL, NULL, '"')) != APR_SUCCESS) {
        return rv;
    }
    for (i = 0; i < len; ++i) {
        unsigned char ch = p[i];
        const char *rep = NULL;
        apr_size_t replen = 2, skip = 1;

        if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != 0xE2) {
            continue;
        }
        switch (ch) {
        case '"':  rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        case '\b': rep = "\\b"; break;
        case '\f': rep = "\\f"; break;
        case 0xE2:
            /* U+2028/U+2029 are valid JSON but end lines in JavaScript. */
            if (i + 2 < len && p[i + 1] == 0x80
                && (p[i + 2] == 0xA8 || p[i + 2] == 0xA9)) {
                memcpy(esc, p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
                rep = esc;
                replen = 6;
                skip = 3;
                break;
            }
            continue;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hexdigits[ch >> 4];
            esc[5] = hexdigits[ch & 0xF];
            rep = esc;
            replen = 6;
        }
        if (i > run
            && (rv = apr_brigade_write(bb, NULL, NULL, s + run, i - run))
               != APR_SUCCESS) {
            return rv;
        }
        if ((rv = apr_brigade_write(bb, NULL, NULL, rep, replen))
            != APR_SUCCESS) {
            return rv;
        }
        i += skip - 1;
        run = i + 1;
    }
    if (len > run
        && (rv = apr_brigade_write(bb, NULL, NULL, s + run, len - run))
           != APR_SUCCESS) {
        return rv;
    }
    return apr_brigade_putc(bb, NULL, NULL, '"');
}

int sse_utf8_valid(const char *buf, apr_size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    apr_size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        apr_size_t n, k;
        unsigned long cp;

        if (c == 0) {
            return 0;
        }
        if (c < 0x80) {
            ++i;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)      { n = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
        else return 0;
        if (len - i <= n) {
            return 0;
        }
        for (k = 1; k <= n; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* overlong forms, surrogates and beyond U+10FFFF */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)
            || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}

/* Copies src into a fixed buffer, cutting on a UTF-8 boundary. */
static void copy_trunc(char *dst, apr_size_t cap, const char *src)
{
    apr_size_t n = strlen(src);

    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) {
            --n;
        }
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void sse_error_set(sse_error_t *err, const char *type, const char *code,
                   const char *fmt, ...)
{
    va_list ap;
    char buf[sizeof(err->message)];

    va_start(ap, fmt);
    apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    copy_trunc(err->message, sizeof(err->message), buf);
    copy_trunc(err->type, sizeof(err->type), type ? type : "");
    copy_trunc(err->code, sizeof(err->code), code ? code : "");
}

/* Dumps doc (stolen) compactly into a pool string. */
static const char *dump_take(apr_pool_t *p, json_t *doc)
{
    char *dump = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)
                     : NULL;
    const char *out = dump ? apr_pstrdup(p, dump) : NULL;

    free(dump);
    json_decref(doc);
    return out;
}

const char *sse_json_error_new(apr_pool_t *p, const sse_error_t *err)
{
    json_t *doc = json_object();
    json_t *msg = json_string(err->message);

    /* json_string() refuses invalid UTF-8: never lose the event over it */
    if (!msg) {
        msg = json_string("upstream error (text was not valid UTF-8)");
    }
    json_object_set_new(doc, "message", msg);
    json_object_set_new(doc, "type", json_string(err->type[0] ? err->type
                                                 : "error"));
    json_object_set_new(doc, "code", err->code[0] ? json_string(err->code)
                                                  : json_null());
    return dump_take(p, doc);
}

const char *sse_json_meta_new(apr_pool_t *p, const char *finish_reason,
                              const char *usage_json)
{
    json_t *doc = json_object();
    json_error_t jerr;

    json_object_set_new(doc, "finish_reason",
                        finish_reason ? json_string(finish_reason)
                                      : json_null());
    if (usage_json) {
        json_t *usage = json_loads(usage_json, 0, &jerr);
        if (usage) {
            json_object_set_new(doc, "usage", usage);
        }
    }
    return dump_take(p, doc);
}

/* Reads an error member that may be an object, a string, or (vLLM's old
 * flat form) the top-level object itself. */
static int error_from_json(sse_error_t *err, json_t *e)
{
    json_t *v;
    char code[32];

    if (json_is_string(e)) {
        sse_error_set(err, "upstream_error", NULL, "%s", json_string_value(e));
        return 1;
    }
    if (!json_is_object(e)) {
        return 0;
    }
    v = json_object_get(e, "message");
    if (!json_is_string(v) || !json_string_length(v)) {
        return 0;
    }
    sse_error_set(err, NULL, NULL, "%s", json_string_value(v));
    v = json_object_get(e, "type");
    copy_trunc(err->type, sizeof(err->type),
               json_is_string(v) ? json_string_value(v) : "upstream_error");
    v = json_object_get(e, "code");
    if (json_is_string(v)) {
        copy_trunc(err->code, sizeof(err->code), json_string_value(v));
    }
    else if (json_is_integer(v)) {
        snprintf(code, sizeof(code), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
        copy_trunc(err->code, sizeof(err->code), code);
    }
    return 1;
}

sse_json_rc_e sse_chunk_decode(sse_chunk_t *chunk,
                               const char *data, apr_size_t len)
{
    json_error_t jerr;
    json_t *doc, *choices, *choice, *delta, *v;

    memset(chunk, 0, sizeof(*chunk));
    doc = json_loadb(data, len, 0, &jerr);
    if (!doc) {
        return SSE_JSON_INVALID;
    }
    chunk->doc = doc;
    if (!json_is_object(doc)) {
        return SSE_JSON_WRONG_SHAPE;
    }
    v = json_object_get(doc, "error");
    if (v && !json_is_null(v)) {
        chunk->has_error = 1;
        if (!error_from_json(&chunk->error, v)) {
            sse_error_set(&chunk->error, "upstream_error", NULL,
                          "upstream reported an error without a message");
        }
        return SSE_JSON_OK;
    }
    v = json_object_get(doc, "usage");
    if (json_is_object(v)) {
        chunk->usage_json = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    choices = json_object_get(doc, "choices");
    if (!choices || json_is_null(choices)) {
        return chunk->usage_json ? SSE_JSON_OK : SSE_JSON_WRONG_SHAPE;
    }
    if (!json_is_array(choices)) {
        return SSE_JSON_WRONG_SHAPE;
    }
    choice = json_array_get(choices, 0);
    if (!choice) {
        return SSE_JSON_OK;     /* usage-only or content-filter chunk */
    }
    if (!json_is_object(choice)) {
        return SSE_JSON_WRONG_SHAPE;
    }
    delta = json_object_get(choice, "delta");
    if (json_is_object(delta)) {
        json_t *calls = json_object_get(delta, "tool_calls");
        size_t i;
        json_t *tcall;
        json_array_foreach(calls, i, tcall) {
            json_t *fn = json_object_get(tcall, "function");
            json_t *idx = json_object_get(tcall, "index");
            json_t *id = json_object_get(tcall, "id");
            json_t *name = json_object_get(fn, "name");
            json_t *args = json_object_get(fn, "arguments");
            if (chunk->ntool == (int)(sizeof(chunk->tool)
                                      / sizeof(chunk->tool[0]))) {
                break;
            }
            chunk->tool[chunk->ntool].index =
                json_is_integer(idx) && json_integer_value(idx) >= 0
                ? (long)json_integer_value(idx) : -1;
            chunk->tool[chunk->ntool].id =
                json_is_string(id) ? json_string_value(id) : NULL;
            chunk->tool[chunk->ntool].name =
                json_is_string(name) ? json_string_value(name) : NULL;
            chunk->tool[chunk->ntool].args =
                json_is_string(args) ? json_string_value(args) : "";
            chunk->tool[chunk->ntool].args_len =
                json_is_string(args) ? json_string_length(args) : 0;
            ++chunk->ntool;
        }
        v = json_object_get(delta, "content");
        if (json_is_string(v)) {
            chunk->content = json_string_value(v);
            chunk->content_len = json_string_length(v);
        }
        v = json_object_get(delta, "refusal");
        if (json_is_string(v)) {
            chunk->refusal = json_string_value(v);
            chunk->refusal_len = json_string_length(v);
        }
    }
    else if (delta && !json_is_null(delta)) {
        return SSE_JSON_WRONG_SHAPE;
    }
    v = json_object_get(choice, "finish_reason");
    if (json_is_string(v)) {
        chunk->finish_reason = json_string_value(v);
    }
    return SSE_JSON_OK;
}

void sse_chunk_release(sse_chunk_t *chunk)
{
    if (chunk->usage_json) {
        free(chunk->usage_json);
        chunk->usage_json = NULL;
    }
    json_decref((json_t *)chunk->doc);
    chunk->doc = NULL;
}

int sse_json_decode_error_body(sse_error_t *err,
                               const char *body, apr_size_t len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, 0, &jerr);
    int found = 0;

    if (doc) {
        json_t *e = json_is_object(doc) ? json_object_get(doc, "error") : NULL;
        found = (e && error_from_json(err, e)) || error_from_json(err, doc);
        json_decref(doc);
    }
    return found;
}

const char *sse_json_decode_prompt_body(apr_pool_t *p,
                                        const char *body, apr_size_t len,
                                        const char **prompt,
                                        apr_size_t *prompt_len,
                                        const char **conversation,
                                        const char **action)
{
    json_error_t jerr;
    json_t *doc, *v;
    const char *why = NULL;

    *action = NULL;
    *prompt = NULL;
    *prompt_len = 0;
    *conversation = NULL;
    doc = json_loadb(body, len, 0, &jerr);
    if (!doc) {
        return "request body is not valid JSON";
    }
    if (!json_is_object(doc)) {
        why = "request body must be a JSON object";
        goto cleanup;
    }
    v = json_object_get(doc, "prompt");
    if (v && !json_is_string(v) && !json_is_null(v)) {
        why = "\"prompt\" must be a string";
        goto cleanup;
    }
    if (json_is_string(v)) {
        *prompt_len = json_string_length(v);
        *prompt = apr_pstrmemdup(p, json_string_value(v), *prompt_len);
    }
    v = json_object_get(doc, "conversation");
    if (v && !json_is_string(v) && !json_is_null(v)) {
        why = "\"conversation\" must be a string";
        goto cleanup;
    }
    if (json_is_string(v)) {
        *conversation = apr_pstrdup(p, json_string_value(v));
    }
    v = json_object_get(doc, "action");
    if (json_is_string(v)) {
        *action = apr_pstrdup(p, json_string_value(v));
    }
cleanup:
    json_decref(doc);
    return why;
}

void sse_json_seed(void)
{
    json_object_seed(0);
}

const char *sse_json_error_body_new(apr_pool_t *p, const char *type,
                                    const char *code, const char *message)
{
    return dump_take(p, json_pack("{s:{s:s,s:s,s:s}}", "error",
                                  "message", message, "type", type,
                                  "code", code));
}

struct sse_msgs_t {
    json_t *list;
};

static apr_status_t msgs_cleanup(void *data)
{
    json_decref(((sse_msgs_t *)data)->list);
    return APR_SUCCESS;
}

sse_msgs_t *sse_msgs_create(apr_pool_t *p)
{
    sse_msgs_t *m = apr_palloc(p, sizeof(*m));

    m->list = json_array();
    apr_pool_cleanup_register(p, m, msgs_cleanup, apr_pool_cleanup_null);
    return m;
}

apr_status_t sse_msgs_add(sse_msgs_t *m, const char *role,
                          const char *content, apr_size_t len)
{
    json_t *c = json_stringn(content, len);

    if (!c) {
        return APR_EINVAL;
    }
    json_array_append_new(m->list, json_pack("{s:s,s:o}", "role", role,
                                             "content", c));
    return APR_SUCCESS;
}

static json_t *tool_calls_array(const sse_tool_calls_t *calls)
{
    json_t *arr = json_array();
    int i;

    for (i = 0; i < calls->n; ++i) {
        const sse_tool_call_t *c = &calls->calls[i];
        json_t *call = json_pack("{s:s,s:s,s:{s:s,s:s%}}", "id", c->id,
                                 "type", "function", "function",
                                 "name", c->name, "arguments", c->args,
                                 c->args_len);
        if (!call) {
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, call);
    }
    return arr;
}

apr_status_t sse_msgs_add_tool_calls(sse_msgs_t *m, const char *content,
                                     const sse_tool_calls_t *calls)
{
    json_t *arr = tool_calls_array(calls), *msg;
    json_t *text = content && *content ? json_string(content) : json_null();

    msg = arr && text ? json_pack("{s:s,s:o,s:o}", "role", "assistant",
                                  "content", text, "tool_calls", arr) : NULL;
    if (!msg) {
        return APR_EINVAL;
    }
    json_array_append_new(m->list, msg);
    return APR_SUCCESS;
}

const char *sse_json_tool_calls_new(apr_pool_t *p,
                                    const sse_tool_calls_t *calls)
{
    return dump_take(p, tool_calls_array(calls));
}

apr_status_t sse_msgs_add_stored(sse_msgs_t *m, const char *role,
                                 const char *content,
                                 const char *tool_calls_json,
                                 const char *tool_call_id)
{
    json_t *msg = json_pack("{s:s}", "role", role);
    json_error_t err;

    json_object_set_new(msg, "content", content ? json_string(content)
                                                : json_null());
    if (tool_calls_json && *tool_calls_json) {
        json_t *calls = json_loads(tool_calls_json, 0, &err);
        if (json_is_array(calls)) {
            json_object_set_new(msg, "tool_calls", calls);
        }
        else {
            json_decref(calls);
        }
    }
    if (tool_call_id && *tool_call_id) {
        json_object_set_new(msg, "tool_call_id", json_string(tool_call_id));
    }
    json_array_append_new(m->list, msg);
    return APR_SUCCESS;
}

apr_status_t sse_msgs_add_tool_result(sse_msgs_t *m, const char *call_id,
                                      const char *content, apr_size_t len)
{
    json_t *c = json_stringn(content, len);

    if (!c) {
        c = json_string("(the tool answered with text that is not UTF-8)");
    }
    json_array_append_new(m->list, json_pack("{s:s,s:s,s:o}", "role", "tool",
                                             "tool_call_id", call_id,
                                             "content", c));
    return APR_SUCCESS;
}

int sse_msgs_count(const sse_msgs_t *m)
{
    return (int)json_array_size(m->list);
}

const char *sse_json_chat_new(apr_pool_t *p, const char *model,
                              const sse_msgs_t *msgs,
                              const char *const *tool_specs, int ntools,
                              int stream, int include_usage,
                              apr_size_t *len)
{
    json_t *doc = json_object();
    char *dump;
    const char *out = NULL;
    int i;

    json_object_set_new(doc, "model", json_string(model));
    /* a copy: the list stays owned by msgs */
    json_object_set_new(doc, "messages", json_deep_copy(msgs->list));
    if (ntools > 0) {
        json_t *tools = json_array();
        json_error_t err;
        for (i = 0; i < ntools; ++i) {
            json_t *spec = json_loads(tool_specs[i], 0, &err);
            if (spec) {
                json_array_append_new(tools, spec);
            }
        }
        json_object_set_new(doc, "tools", tools);
    }
    json_object_set_new(doc, "stream", json_boolean(stream));
    if (stream && include_usage) {
        json_object_set_new(doc, "stream_options",
                            json_pack("{s:b}", "include_usage", 1));
    }
    dump = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (dump) {
        *len = strlen(dump);
        out = apr_pstrmemdup(p, dump, *len);
        free(dump);
    }
    json_decref(doc);
    return out;
}

const char *sse_json_tool_spec_new(apr_pool_t *p, const char *name,
                                   const char *description,
                                   const char *schema, apr_size_t schema_len,
                                   const char **why)
{
    json_error_t err;
    json_t *params = json_loadb(schema, schema_len, 0, &err);

    if (!params) {
        *why = apr_psprintf(p, "not JSON (line %d: %s)", err.line, err.text);
        return NULL;
    }
    if (!json_is_object(params)) {
        json_decref(params);
        *why = "the schema must be a JSON object";
        return NULL;
    }
    return dump_take(p, json_pack("{s:s,s:{s:s,s:s,s:o}}", "type", "function",
                                  "function", "name", name, "description",
                                  description, "parameters", params));
}

int sse_json_decode_completion(apr_pool_t *p, const char *body,
                               apr_size_t len, const char **text,
                               sse_tool_calls_t *calls,
                               const char **finish_reason,
                               const char **usage_json)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, 0, &jerr);
    json_t *choice, *msg, *v, *tcall;
    size_t i;

    *text = NULL;
    *finish_reason = NULL;
    *usage_json = NULL;
    choice = json_array_get(json_object_get(doc, "choices"), 0);
    msg = json_object_get(choice, "message");
    if (!json_is_object(msg)) {
        json_decref(doc);
        return -1;
    }
    v = json_object_get(msg, "content");
    *text = json_is_string(v) ? apr_pstrmemdup(p, json_string_value(v),
                                               json_string_length(v)) : "";
    json_array_foreach(json_object_get(msg, "tool_calls"), i, tcall) {
        json_t *fn = json_object_get(tcall, "function");
        json_t *id = json_object_get(tcall, "id");
        json_t *name = json_object_get(fn, "name");
        json_t *args = json_object_get(fn, "arguments");
        /* "arguments" is a JSON string; a few servers send an object */
        char *dumped = json_is_object(args)
                       ? json_dumps(args, JSON_COMPACT) : NULL;
        sse_tool_calls_add(calls, (long)i,
                           json_is_string(id) ? json_string_value(id) : NULL,
                           json_is_string(name) ? json_string_value(name)
                                                : NULL,
                           dumped ? dumped : json_is_string(args)
                               ? json_string_value(args) : "",
                           dumped ? strlen(dumped) : json_is_string(args)
                               ? json_string_length(args) : 0);
        free(dumped);
    }
    v = json_object_get(choice, "finish_reason");
    if (json_is_string(v)) {
        *finish_reason = apr_pstrdup(p, json_string_value(v));
    }
    v = json_object_get(doc, "usage");
    if (json_is_object(v)) {
        char *dump = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        *usage_json = dump ? apr_pstrdup(p, dump) : NULL;
        free(dump);
    }
    json_decref(doc);
    return 0;
}

const char *sse_json_tool_event_new(apr_pool_t *p, const char *tool,
                                    const char *label, const char *key,
                                    const char *value, apr_size_t len,
                                    apr_size_t max)
{
    json_error_t err;
    json_t *v = NULL;

    if (len <= max) {
        v = json_loadb(value, len, JSON_DECODE_ANY, &err);
    }
    if (!v) {
        apr_size_t n = len > max ? max : len;
        while (n > 0 && n < len && ((unsigned char)value[n] & 0xC0) == 0x80) {
            --n;
        }
        v = json_stringn(value, n);
        if (v && n < len) {
            json_t *cut = json_sprintf("%s… (%" APR_SIZE_T_FMT " bytes)",
                                       json_string_value(v), len);
            json_decref(v);
            v = cut;
        }
        if (!v) {
            v = json_string("(not UTF-8)");
        }
    }
    return dump_take(p, json_pack("{s:s,s:s,s:o}", "tool", tool, "label",
                                  label ? label : tool, key, v));
}

int sse_json_is_object_text(const char *buf, apr_size_t len)
{
    json_error_t err;
    json_t *doc = json_loadb(buf, len, 0, &err);
    int is_object = json_is_object(doc);

    json_decref(doc);
    return is_object;
}

void sse_msgs_add_history_entry(sse_msgs_t *m, const char *id,
                                const char *role, const char *content,
                                const char *timestamp)
{
    json_t *text = json_string(content ? content : "");

    json_array_append_new(m->list,
                          json_pack("{s:s,s:s,s:o,s:s,s:n}", "id", id,
                                    "role", role, "content",
                                    text ? text : json_string(""),
                                    "timestamp", timestamp, "feedback"));
}

const char *sse_msgs_dump(apr_pool_t *p, const sse_msgs_t *m)
{
    return dump_take(p, json_incref(m->list));
}

const char *sse_json_rest_answer_new(apr_pool_t *p, const char *id,
                                     const char *conversation,
                                     const char *content, apr_size_t len,
                                     const char *tool_events,
                                     const char *finish_reason,
                                     const char *usage_json)
{
    json_error_t err;
    json_t *doc = json_object(), *v;

    json_object_set_new(doc, "id", json_string(id));
    if (conversation) {
        json_object_set_new(doc, "conversation", json_string(conversation));
    }
    json_object_set_new(doc, "role", json_string("assistant"));
    v = json_stringn(content ? content : "", content ? len : 0);
    json_object_set_new(doc, "content", v ? v : json_string(""));
    v = tool_events ? json_loads(tool_events, 0, &err) : NULL;
    json_object_set_new(doc, "tool_calls", v ? v : json_array());
    json_object_set_new(doc, "finish_reason", finish_reason
                        ? json_string(finish_reason) : json_null());
    v = usage_json ? json_loads(usage_json, 0, &err) : NULL;
    json_object_set_new(doc, "usage", v ? v : json_null());
    return dump_take(p, doc);
}

const char *sse_json_msgid_new(apr_pool_t *p, const char *msgid,
                               const char *conversation)
{
    json_t *doc = json_pack("{s:s}", "id", msgid);

    if (conversation) {
        json_object_set_new(doc, "conversation", json_string(conversation));
    }
    return dump_take(p, doc);
}

const char *sse_json_decode_bridge(apr_pool_t *p, const char *body,
                                   apr_size_t len, const char **endpoint,
                                   const char **payload)
{
    json_error_t err;
    json_t *doc = json_loadb(body, len, 0, &err), *ep, *pl;
    const char *why = NULL;

    *endpoint = *payload = NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return doc ? "body must be a JSON object" : "body is not valid JSON";
    }
    ep = json_object_get(doc, "endpoint");
    pl = json_object_get(doc, "payload");
    if (!json_is_string(ep) || !json_string_length(ep)) {
        why = "\"endpoint\" (a string) is required";
    }
    else if (pl && !json_is_object(pl)) {
        why = "\"payload\" must be a JSON object";
    }
    else {
        *endpoint = apr_pstrdup(p, json_string_value(ep));
        *payload = pl ? dump_take(p, json_incref(pl)) : "{}";
    }
    json_decref(doc);
    return why;
}

const char *sse_json_bridge_ok_new(apr_pool_t *p, const char *id,
                                   const char *stream)
{
    return dump_take(p, json_pack("{s:b,s:s,s:s}", "ok", 1, "id", id,
                                  "stream", stream));
}

const char *sse_json_bridge_error_new(apr_pool_t *p, const char *message)
{
    return dump_take(p, json_pack("{s:b,s:s}", "ok", 0, "error", message));
}

int sse_json_tool_call_ids(apr_pool_t *p, const char *tool_calls_json,
                           apr_array_header_t **ids)
{
    json_error_t err;
    json_t *arr = json_loads(tool_calls_json, 0, &err), *call;
    size_t i;

    if (!json_is_array(arr)) {
        json_decref(arr);
        return -1;
    }
    *ids = apr_array_make(p, (int)json_array_size(arr) + 1,
                          sizeof(const char *));
    json_array_foreach(arr, i, call) {
        json_t *id = json_object_get(call, "id");
        APR_ARRAY_PUSH(*ids, const char *) =
            apr_pstrdup(p, json_is_string(id) ? json_string_value(id) : "");
    }
    json_decref(arr);
    return 0;
}
