#include <string.h>

#include <apr_general.h>

#include "sse_id.h"

apr_status_t sse_id_random(char *out, apr_size_t cap, const char *prefix)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[SSE_ID_HEX_LEN / 2];
    apr_size_t plen = strlen(prefix), i;
    apr_status_t rv;

    if (cap < plen + SSE_ID_HEX_LEN + 1) {
        return APR_ENOSPC;
    }
    if ((rv = apr_generate_random_bytes(raw, sizeof(raw))) != APR_SUCCESS) {
        return rv;
    }
    memcpy(out, prefix, plen);
    for (i = 0; i < sizeof(raw); ++i) {
        out[plen + 2 * i] = hex[raw[i] >> 4];
        out[plen + 2 * i + 1] = hex[raw[i] & 0xF];
    }
    out[plen + SSE_ID_HEX_LEN] = '\0';
    return APR_SUCCESS;
}
