/* libFuzzer target: request parsing (query string, form and JSON bodies). */
#include <stdint.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "sse_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialized;
    static const char *types[] = {
        NULL, "application/json", "application/x-www-form-urlencoded",
        "text/plain"
    };
    apr_pool_t *p;
    sse_prompt_t out;
    sse_request_error_t err;
    const char *query;

    if (!initialized) {
        apr_initialize();
        initialized = 1;
    }
    if (size < 1) {
        return 0;
    }
    apr_pool_create(&p, NULL);
    /* the query string is NUL-terminated in httpd; the body is not */
    query = apr_pstrmemdup(p, (const char *)data + 1, size - 1);
    sse_request_parse(p, query, types[data[0] % 4], NULL, 0, 1024, 1, &out, &err);
    sse_request_parse(p, NULL, types[data[0] % 4], (const char *)data + 1,
                      size - 1, 1024, 1, &out, &err);
    apr_pool_destroy(p);
    return 0;
}
