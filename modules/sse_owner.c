/* Owner of conversations and streams. No one reads, continues or clears
 * another owner's conversation: every query is scoped by this value. */
#include <string.h>

#include <apr_lib.h>
#include <apr_optional.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <mod_session.h>
#include <util_cookies.h>

#include "sse_id.h"
#include "sse_owner.h"
#include "sse_private.h"

#define SESSION_KEY "sse_assistant_owner"

static APR_OPTIONAL_FN_TYPE(ap_session_load) *session_load;
static APR_OPTIONAL_FN_TYPE(ap_session_get) *session_get;
static APR_OPTIONAL_FN_TYPE(ap_session_set) *session_set;

static int is_hex_id(const char *s)
{
    int i;

    for (i = 0; i < SSE_ID_HEX_LEN; ++i) {
        if (!apr_isxdigit(s[i])) {
            return 0;
        }
    }
    return s[i] == '\0';
}

static const char *from_session(request_rec *r, int create)
{
    session_rec *z = NULL;
    const char *id = NULL;
    char fresh[SSE_ID_HEX_LEN + 1];

    if (!session_load || session_load(r, &z) != APR_SUCCESS || !z) {
        return NULL;
    }
    session_get(r, z, SESSION_KEY, &id);
    if ((!id || !is_hex_id(id)) && create
        && sse_id_random(fresh, sizeof(fresh), "") == APR_SUCCESS) {
        id = apr_pstrdup(r->pool, fresh);
        session_set(r, z, SESSION_KEY, id);
    }
    return id && is_hex_id(id) ? apr_pstrcat(r->pool, "session:", id, NULL)
                               : NULL;
}

static const char *from_cookie(request_rec *r, int create)
{
    const char *val = NULL;
    char fresh[SSE_ID_HEX_LEN + 1];
    const char *attrs;

    ap_cookie_read(r, SSE_OWNER_COOKIE, &val, 0);
    if (val && is_hex_id(val)) {
        return apr_pstrcat(r->pool, "cookie:", val, NULL);
    }
    if (!create || sse_id_random(fresh, sizeof(fresh), "") != APR_SUCCESS) {
        return NULL;
    }
    attrs = !strcasecmp(ap_http_scheme(r), "https")
            ? "Path=/;HttpOnly;SameSite=Lax;Secure;Max-Age=31536000"
            : "Path=/;HttpOnly;SameSite=Lax;Max-Age=31536000";
    ap_cookie_write(r, SSE_OWNER_COOKIE, fresh, attrs, 0,
                    r->err_headers_out, NULL);
    /* later lookups in this request see the new owner */
    apr_table_setn(r->notes, "sse-owner",
                   apr_pstrcat(r->pool, "cookie:", fresh, NULL));
    return apr_table_get(r->notes, "sse-owner");
}

const char *sse_owner_get(request_rec *r, int create)
{
    const char *owner = apr_table_get(r->notes, "sse-owner");

    if (owner) {
        return owner;
    }
    if (r->user && *r->user) {
        owner = apr_pstrcat(r->pool, "user:", r->user, NULL);
    }
    else if (!(owner = from_session(r, create))) {
        owner = from_cookie(r, create);
    }
    if (owner) {
        apr_table_setn(r->notes, "sse-owner", owner);
    }
    return owner;
}

static void retrieve_optional_fns(void)
{
    session_load = APR_RETRIEVE_OPTIONAL_FN(ap_session_load);
    session_get = APR_RETRIEVE_OPTIONAL_FN(ap_session_get);
    session_set = APR_RETRIEVE_OPTIONAL_FN(ap_session_set);
    if (!session_get || !session_set) {
        session_load = NULL;
    }
}

void sse_owner_register_hooks(apr_pool_t *p)
{
    ap_hook_optional_fn_retrieve(retrieve_optional_fns, NULL, NULL,
                                 APR_HOOK_MIDDLE);
}
