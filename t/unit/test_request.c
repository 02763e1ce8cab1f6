/* Request parsing: query, form and JSON bodies, and every rejection. */
#include <apr_general.h>
#include <apr_strings.h>

#include "sse_request.h"
#include "tap.h"

static const char *code_of(apr_pool_t *p, const char *q, const char *ct,
                           const char *body, apr_size_t max)
{
    sse_prompt_t out;
    sse_request_error_t err;

    if (sse_request_parse(p, q, ct, body, body ? strlen(body) : 0, max, 1,
                          &out, &err)) {
        return apr_pstrcat(p, "ok:", out.prompt, "|",
                           out.conversation ? out.conversation : "-", NULL);
    }
    return apr_psprintf(p, "%d:%s", err.status, err.code);
}

int main(void)
{
    apr_pool_t *p;
    const char *v;
    apr_size_t n;

    apr_initialize();
    apr_pool_create(&p, NULL);

    is_int(sse_form_get(p, "a=1&prompt=hi+there%21&b", 23, "prompt", &v, &n),
           1, "form key found");
    is_str(v, "hi there!", "+ and %XX decoded");
    is_int(sse_form_get(p, "prompt", 6, "prompt", &v, &n), 1,
           "key without value");
    is_str(v, "", "... is empty");
    is_int(sse_form_get(p, "prompter=x", 10, "prompt", &v, &n), 0,
           "prefix of another key is not a match");
    is_int(sse_form_get(p, "prompt=%4", 9, "prompt", &v, &n), -1,
           "truncated escape");
    is_int(sse_form_get(p, "prompt=%zz", 10, "prompt", &v, &n), -1,
           "non-hex escape");
    is_int(sse_form_get(p, "prompt=a%00b", 12, "prompt", &v, &n), 1,
           "%00 decodes");
    is_int(n, 3, "... keeping its length");

    is_str(code_of(p, "prompt=Hi&conversation=c1", NULL, NULL, 100),
           "ok:Hi|c1", "GET query");
    is_str(code_of(p, NULL, "application/json; charset=utf-8",
                   "{\"prompt\":\"J\",\"conversation\":\"c2\"}", 100),
           "ok:J|c2", "JSON body");
    is_str(code_of(p, "prompt=fromquery", "application/x-www-form-urlencoded",
                   "prompt=frombody", 100), "ok:frombody|-",
           "body wins over query");
    is_str(code_of(p, NULL, NULL, NULL, 100), "400:missing_prompt",
           "no prompt");
    is_str(code_of(p, "prompt=+%20%09", NULL, NULL, 100),
           "400:missing_prompt", "blank prompt");
    is_str(code_of(p, NULL, "application/json", "{\"prompt\":", 100),
           "400:invalid_json", "truncated JSON");
    is_str(code_of(p, NULL, "application/json", "[1]", 100),
           "400:invalid_json", "JSON not an object");
    is_str(code_of(p, NULL, "application/json", "{\"prompt\":[]}", 100),
           "400:invalid_json", "prompt not a string");
    is_str(code_of(p, NULL, "application/json",
                   "{\"prompt\":\"a\",\"conversation\":5}", 100),
           "400:invalid_json", "conversation not a string");
    is_str(code_of(p, NULL, "text/plain", "hello", 100),
           "415:unsupported_media_type", "other content types");
    is_str(code_of(p, "prompt=%C3%28", NULL, NULL, 100), "400:invalid_utf8",
           "invalid UTF-8");
    is_str(code_of(p, "prompt=%ED%A0%80", NULL, NULL, 100),
           "400:invalid_utf8", "UTF-16 surrogate in UTF-8");
    is_str(code_of(p, "prompt=%C0%AF", NULL, NULL, 100), "400:invalid_utf8",
           "overlong UTF-8");
    is_str(code_of(p, "prompt=a%00b", NULL, NULL, 100), "400:invalid_utf8",
           "NUL in prompt");
    is_str(code_of(p, "prompt=0123456789", NULL, NULL, 5),
           "413:prompt_too_long", "prompt over the cap");
    is_str(code_of(p, "prompt=x&conversation=", NULL, NULL, 100),
           "400:invalid_conversation", "empty conversation id");
    is_str(code_of(p, "prompt=%F0%9F%98%80", NULL, NULL, 100),
           "ok:\xf0\x9f\x98\x80|-", "4-byte UTF-8 accepted");

    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
