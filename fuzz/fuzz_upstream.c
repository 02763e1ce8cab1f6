/* libFuzzer target: the upstream SSE/JSON parser, fed the input in pieces
 * whose sizes come from the input itself. */
#include <stdint.h>
#include <string.h>

#include <apr_general.h>

#include "sse_upstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_token(void *ctx, const char *text, apr_size_t len)
{
    /* touch every byte so ASan sees out-of-bounds tokens */
    volatile char sink = 0;
    apr_size_t i;

    for (i = 0; i < len; ++i) {
        sink ^= text[i];
    }
    (void)sink;
    (void)ctx;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialized;
    apr_pool_t *p;
    sse_upstream_parser_t *up;
    size_t off = 0;

    if (!initialized) {
        apr_initialize();
        initialized = 1;
    }
    if (size < 1) {
        return 0;
    }
    apr_pool_create(&p, NULL);
    up = sse_upstream_parser_create(p, 4096, on_token, NULL);
    /* first byte: the piece size pattern */
    {
        size_t step = (size_t)(data[0] % 17) + 1;
        ++off;
        while (off < size) {
            size_t n = size - off < step ? size - off : step;
            sse_upstream_feed(up, (const char *)data + off, n);
            off += n;
            step = step % 7 + 1;
        }
    }
    sse_upstream_finish(up);
    apr_pool_destroy(p);
    return 0;
}
