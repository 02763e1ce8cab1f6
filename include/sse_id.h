/* Random identifiers (128 bits from APR's CSPRNG, lowercase hex). */
#ifndef SSE_ID_H
#define SSE_ID_H

#include <apr_errno.h>

#define SSE_ID_HEX_LEN 32

/* Writes prefix + 32 hex digits + NUL into out (cap bytes). */
apr_status_t sse_id_random(char *out, apr_size_t cap, const char *prefix);

#endif
