/* ap_socache glue, the mod_authn_socache way: provider lookup at
 * pre_config (and in the directive), instance init in post_config, a
 * global mutex for providers that need one, re-attached in child_init. */
#include <string.h>

#include <apr_strings.h>

#include <ap_provider.h>
#include <ap_socache.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_core.h>
#include <util_mutex.h>

#include "sse_conf.h"
#include "sse_private.h"
#include "sse_store.h"

#define DEFAULT_SHMCB_SIZE "(8388608)"

static int store_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp)
{
    apr_status_t rv = ap_mutex_register(pconf, SSE_STORE_MUTEX, NULL,
                                        APR_LOCK_DEFAULT, 0);
    if (rv != APR_SUCCESS) {
        ap_log_perror(APLOG_MARK, APLOG_CRIT, rv, plog, SSE_LOGNO(00023)
                      "cannot register the %s mutex type", SSE_STORE_MUTEX);
        return 500;
    }
    return OK;
}

const char *sse_store_set(cmd_parms *cmd, void *unused, const char *arg)
{
    sse_runtime_t *rt = sse_conf_runtime(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *sep, *name, *args;

    if (err) {
        return err;
    }
    sep = ap_strchr_c(arg, ':');
    name = sep ? apr_pstrmemdup(cmd->pool, arg, (apr_size_t)(sep - arg))
               : arg;
    args = sep ? sep + 1 : NULL;
    rt->store_provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name,
                                            AP_SOCACHE_PROVIDER_VERSION);
    if (!rt->store_provider) {
        return apr_psprintf(cmd->pool, "%s: unknown socache provider '%s' "
                            "(load mod_socache_%s)", cmd->cmd->name, name,
                            name);
    }
    err = rt->store_provider->create(&rt->store, args, cmd->temp_pool,
                                     cmd->pool);
    if (err) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    }
    rt->store_name = name;
    return NULL;
}

static apr_status_t store_destroy(void *data)
{
    server_rec *s = data;
    sse_runtime_t *rt = sse_conf_runtime(s);

    if (rt->store && rt->store_provider) {
        rt->store_provider->destroy(rt->store, s);
        rt->store = NULL;
    }
    return APR_SUCCESS;
}

static int store_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    sse_runtime_t *rt = sse_conf_runtime(s);
    struct ap_socache_hints hints;
    const char *err;
    apr_status_t rv;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (!rt->store) {
        /* the embedded default: shared memory, nothing to run */
        rt->store_provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP,
                                                "shmcb",
                                                AP_SOCACHE_PROVIDER_VERSION);
        if (!rt->store_provider) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, SSE_LOGNO(00024)
                         "no shmcb socache provider (mod_socache_shmcb not "
                         "loaded): POST-SSE is off");
            return OK;
        }
        err = rt->store_provider->create(
            &rt->store, apr_pstrcat(ptemp, ap_runtime_dir_relative(
                ptemp, "sse-assistant-store"), DEFAULT_SHMCB_SIZE, NULL),
            ptemp, pconf);
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, SSE_LOGNO(00025)
                         "cannot create the shmcb store: %s", err);
            return 500;
        }
        rt->store_name = "shmcb";
    }
    if (rt->store_provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) {
        rv = ap_global_mutex_create(&rt->store_mutex, NULL, SSE_STORE_MUTEX,
                                    NULL, s, pconf, 0);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, SSE_LOGNO(00026)
                         "cannot create the %s mutex", SSE_STORE_MUTEX);
            return 500;
        }
    }
    memset(&hints, 0, sizeof(hints));
    hints.avg_id_len = 36;
    hints.avg_obj_size = 2048;
    hints.expiry_interval = apr_time_from_sec(30);
    rv = rt->store_provider->init(rt->store, "sse-assistant", &hints, s,
                                  pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, SSE_LOGNO(00027)
                     "cannot initialise the %s store", rt->store_name);
        return 500;
    }
    apr_pool_cleanup_register(pconf, s, store_destroy, apr_pool_cleanup_null);
    return OK;
}

static void store_child_init(apr_pool_t *pchild, server_rec *s)
{
    sse_runtime_t *rt = sse_conf_runtime(s);
    apr_status_t rv;

    if (!rt->store_mutex) {
        return;
    }
    rv = apr_global_mutex_child_init(&rt->store_mutex,
                                     apr_global_mutex_lockfile(
                                         rt->store_mutex), pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, SSE_LOGNO(00028)
                     "cannot re-attach the %s mutex in a child",
                     SSE_STORE_MUTEX);
    }
}

static int lock(sse_runtime_t *rt)
{
    return !rt->store_mutex
           || apr_global_mutex_lock(rt->store_mutex) == APR_SUCCESS;
}

static void unlock(sse_runtime_t *rt)
{
    if (rt->store_mutex) {
        apr_global_mutex_unlock(rt->store_mutex);
    }
}

apr_status_t sse_store_put(server_rec *s, const char *key,
                           const char *value, apr_size_t len,
                           apr_time_t expiry, apr_pool_t *p)
{
    sse_runtime_t *rt = sse_conf_runtime(s);
    apr_status_t rv;

    if (!rt->store) {
        return APR_ENOTIMPL;
    }
    if (len > SSE_STORE_MAX_VALUE) {
        return APR_ENOSPC;
    }
    if (!lock(rt)) {
        return APR_EGENERAL;
    }
    rv = rt->store_provider->store(rt->store, s, (const unsigned char *)key,
                                   (unsigned int)strlen(key), expiry,
                                   (unsigned char *)value, (unsigned int)len,
                                   p);
    unlock(rt);
    return rv;
}

/* Retrieves key (and removes it with take), all under the lock. The
 * buffer is sized to max: shmcb reports a larger entry as "not found". */
static apr_status_t retrieve(server_rec *s, const char *key, apr_size_t max,
                             const char *prefix, int take, char **value,
                             apr_size_t *len, apr_pool_t *p)
{
    sse_runtime_t *rt = sse_conf_runtime(s);
    unsigned char *buf;
    unsigned int n = (unsigned int)max;
    apr_status_t rv;

    if (!rt->store) {
        return APR_ENOTIMPL;
    }
    buf = apr_palloc(p, max + 1);
    if (!lock(rt)) {
        return APR_EGENERAL;
    }
    rv = rt->store_provider->retrieve(rt->store, s,
                                      (const unsigned char *)key,
                                      (unsigned int)strlen(key), buf, &n, p);
    if (rv == APR_SUCCESS && prefix
        && (n < strlen(prefix) || memcmp(buf, prefix, strlen(prefix)))) {
        rv = APR_EACCES;
    }
    else if (rv == APR_SUCCESS && take) {
        rt->store_provider->remove(rt->store, s, (const unsigned char *)key,
                                   (unsigned int)strlen(key), p);
    }
    unlock(rt);
    if (rv != APR_SUCCESS) {
        return APR_STATUS_IS_NOTFOUND(rv) ? APR_NOTFOUND : rv;
    }
    buf[n] = '\0';
    *value = (char *)buf;
    *len = n;
    return APR_SUCCESS;
}

apr_status_t sse_store_take(server_rec *s, const char *key,
                            const char *prefix, char **value,
                            apr_size_t *len, apr_pool_t *p)
{
    return retrieve(s, key, SSE_STORE_MAX_VALUE, prefix, 1, value, len, p);
}

apr_status_t sse_store_get(server_rec *s, const char *key, apr_size_t max,
                           char **value, apr_size_t *len, apr_pool_t *p)
{
    return retrieve(s, key, max, NULL, 0, value, len, p);
}

int sse_store_available(server_rec *s)
{
    return sse_conf_runtime(s)->store != NULL;
}

void sse_store_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(store_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(store_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(store_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
