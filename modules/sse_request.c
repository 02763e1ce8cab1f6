#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "sse_json.h"
#include "sse_request.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int sse_form_get(apr_pool_t *p, const char *form, apr_size_t form_len,
                 const char *key, const char **value, apr_size_t *value_len)
{
    apr_size_t klen = strlen(key), i = 0;

    while (i < form_len) {
        apr_size_t end = i, eq;
        while (end < form_len && form[end] != '&' && form[end] != ';') {
            ++end;
        }
        eq = i;
        while (eq < end && form[eq] != '=') {
            ++eq;
        }
        if (eq - i == klen && !memcmp(form + i, key, klen)) {
            const char *v = eq < end ? form + eq + 1 : form + end;
            apr_size_t vlen = eq < end ? end - eq - 1 : 0, k, o = 0;
            char *out = apr_palloc(p, vlen + 1);

            for (k = 0; k < vlen; ++k) {
                if (v[k] == '+') {
                    out[o++] = ' ';
                }
                else if (v[k] == '%') {
                    int hi, lo;
                    if (vlen - k < 3) {
                        return -1;
                    }
                    hi = hexval((unsigned char)v[k + 1]);
                    lo = hexval((unsigned char)v[k + 2]);
                    if (hi < 0 || lo < 0) {
                        return -1;
                    }
                    out[o++] = (char)((hi << 4) | lo);
                    k += 2;
                }
                else {
                    out[o++] = v[k];
                }
            }
            out[o] = '\0';
            *value = out;
            *value_len = o;
            return 1;
        }
        i = end + 1;
    }
    return 0;
}

static int failed(sse_request_error_t *err, int status, const char *code,
                  const char *message)
{
    err->status = status;
    err->code = code;
    err->message = message;
    return 0;
}

static int is_blank(const char *s, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; ++i) {
        if (!apr_isspace(s[i])) {
            return 0;
        }
    }
    return 1;
}

int sse_request_parse(apr_pool_t *p, const char *query,
                      const char *content_type,
                      const char *body, apr_size_t body_len,
                      apr_size_t max_prompt, int need_prompt,
                      sse_prompt_t *out, sse_request_error_t *err)
{
    const char *conv = NULL;
    apr_size_t conv_len = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (body && body_len) {
        if (content_type && !strncasecmp(content_type, "application/json", 16)) {
            const char *why = sse_json_decode_prompt_body(
                p, body, body_len, &out->prompt, &out->prompt_len,
                &out->conversation, &out->action);
            if (why) {
                return failed(err, 400, "invalid_json", why);
            }
        }
        else if (!content_type
                 || !strncasecmp(content_type,
                                 "application/x-www-form-urlencoded", 33)) {
            rc = sse_form_get(p, body, body_len, "prompt", &out->prompt,
                              &out->prompt_len);
            if (rc >= 0) {
                rc = sse_form_get(p, body, body_len, "conversation", &conv,
                                  &conv_len);
            }
            if (rc >= 0) {
                apr_size_t alen;
                rc = sse_form_get(p, body, body_len, "action", &out->action,
                                  &alen);
            }
            if (rc < 0) {
                return failed(err, 400, "invalid_form",
                              "request body has a malformed %-escape");
            }
            out->conversation = conv;
        }
        else {
            return failed(err, 415, "unsupported_media_type",
                          "send the prompt as application/json or "
                          "application/x-www-form-urlencoded");
        }
    }
    if (!out->prompt && query) {
        rc = sse_form_get(p, query, strlen(query), "prompt", &out->prompt,
                          &out->prompt_len);
        if (rc >= 0 && !out->conversation) {
            rc = sse_form_get(p, query, strlen(query), "conversation", &conv,
                              &conv_len);
            out->conversation = conv;
        }
        if (rc < 0) {
            return failed(err, 400, "invalid_query",
                          "query string has a malformed %-escape");
        }
    }
    if (query) {
        const char *v;
        apr_size_t vlen;
        if (!out->conversation
            && sse_form_get(p, query, strlen(query), "conversation", &v,
                            &vlen) > 0) {
            out->conversation = v;
        }
        if (!out->action
            && sse_form_get(p, query, strlen(query), "action", &v, &vlen) > 0) {
            out->action = v;
        }
        out->history = sse_form_get(p, query, strlen(query), "history", &v,
                                    &vlen) > 0 && !strcmp(v, "1");
    }
    if (out->action && strcmp(out->action, "clear")) {
        return failed(err, 400, "invalid_action",
                      "action must be \"clear\"");
    }
    if (out->conversation
        && (!*out->conversation || strlen(out->conversation) > 128
            || !sse_utf8_valid(out->conversation,
                               strlen(out->conversation)))) {
        return failed(err, 400, "invalid_conversation",
                      "conversation must be 1 to 128 bytes of UTF-8");
    }
    if (out->history || out->action || !need_prompt) {
        return 1;
    }
    if (!out->prompt || is_blank(out->prompt, out->prompt_len)) {
        return failed(err, 400, "missing_prompt",
                      "prompt is missing or empty");
    }
    if (out->prompt_len > max_prompt) {
        return failed(err, 413, "prompt_too_long",
                      "prompt is longer than SSEAssistantMaxPrompt allows");
    }
    if (!sse_utf8_valid(out->prompt, out->prompt_len)) {
        return failed(err, 400, "invalid_utf8",
                      "prompt is not valid UTF-8");
    }
    return 1;
}
