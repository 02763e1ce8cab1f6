/* Who owns a conversation or a stream (glue): the authenticated user, else
 * the mod_session session, else a cookie of this module. */
#ifndef SSE_OWNER_H
#define SSE_OWNER_H

#include <httpd.h>

#define SSE_OWNER_COOKIE "sse_owner"

/* "user:<name>", "session:<id>" or "cookie:<32 hex>". With create, a
 * missing session value or cookie is made (the cookie is set on the
 * response); without, NULL when there is none yet. */
const char *sse_owner_get(request_rec *r, int create);

void sse_owner_register_hooks(apr_pool_t *p);

#endif
