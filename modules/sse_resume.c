/* Resume buffers in the store. Keys (all short-lived):
 *   sse-rix:<msgid>      "owner\nstate\nbatches\n"  state: live|done|cut
 *                        (written when the turn starts and ends)
 *   sse-rb:<msgid>:<n>   the SSE bytes of batch n (whole events)
 *   sse-rat:<msgid>      a follower's last poll (apr_time_t)
 * Writers never rewrite a batch, so a long turn costs one store write per
 * 250 ms, not one per token. */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <util_filter.h>

#include "sse_event.h"
#include "sse_json.h"
#include "sse_request.h"
#include "sse_owner.h"
#include "sse_private.h"
#include "sse_resume.h"
#include "sse_store.h"
#include "sse_transport_sse.h"

#define FLUSH_EVERY apr_time_from_msec(250)
#define POLL_EVERY  apr_time_from_msec(100)
#define KEEP_FOR    apr_time_from_sec(600)
#define SMALL_VALUE 512         /* index and attach values */
/* shmcb refuses (and logs an error for) entries larger than one of its
 * subcaches: keep batches well below that */
#define BATCH_MAX   (16 * 1024)

struct sse_resume_t {
    request_rec *r;
    const char *msgid;
    const char *owner;
    apr_size_t cap, recorded;
    char *pending;                  /* malloc'd: not the request pool */
    apr_size_t pending_len, pending_cap;
    int batches;
    int cut;                        /* over the cap: no longer resumable */
    apr_time_t last_flush;
    apr_interval_time_t grace;      /* 0: cancel at once when gone */
    apr_time_t detached_at;
    apr_time_t last_attach_check;
    int attached;
    apr_pool_t *scratch;            /* cleared before each store access */
};

static apr_status_t free_pending(void *data)
{
    sse_resume_t *rs = data;

    free(rs->pending);
    rs->pending = NULL;
    return APR_SUCCESS;
}

sse_resume_t *sse_resume_create(request_rec *r, apr_pool_t *pool,
                                const sse_dir_conf_t *dc,
                                const char *msgid, const char *owner)
{
    sse_resume_t *rs;

    if (!owner || !sse_store_available(r->server)
        || sse_conf_resume_buffer(dc) == 0) {
        return NULL;
    }
    rs = apr_pcalloc(pool, sizeof(*rs));
    rs->r = r;
    rs->msgid = apr_pstrdup(pool, msgid);
    rs->owner = owner;
    rs->cap = (apr_size_t)sse_conf_resume_buffer(dc);
    rs->grace = sse_conf_resume(dc) ? sse_conf_resume_grace(dc) : 0;
    rs->last_flush = apr_time_now();
    apr_pool_create(&rs->scratch, pool);
    apr_pool_cleanup_register(pool, rs, free_pending,
                              apr_pool_cleanup_null);
    return rs;
}

static void put_index(sse_resume_t *rs, const char *state);

void sse_resume_start(sse_resume_t *rs)
{
    /* a reconnect may come before the first batch is written */
    if (rs) {
        put_index(rs, "live");
    }
}

/* A long stream writes every 250 ms: keep that off the request pool. */
static void put_index(sse_resume_t *rs, const char *state)
{
    const char *v;

    apr_pool_clear(rs->scratch);
    v = apr_psprintf(rs->scratch, "%s\n%s\n%d\n", rs->owner, state,
                     rs->batches);
    sse_store_put(rs->r->server, apr_pstrcat(rs->scratch, "sse-rix:",
                                             rs->msgid, NULL),
                  v, strlen(v), apr_time_now() + KEEP_FOR, rs->scratch);
}

void sse_resume_flush(sse_resume_t *rs, int force)
{
    apr_status_t rv;

    if (!rs || rs->cut || !rs->pending_len
        || (!force && apr_time_now() - rs->last_flush < FLUSH_EVERY)) {
        return;
    }
    apr_pool_clear(rs->scratch);
    rv = sse_store_put(rs->r->server,
                       apr_psprintf(rs->scratch, "sse-rb:%s:%d", rs->msgid,
                                    rs->batches),
                       rs->pending, rs->pending_len,
                       apr_time_now() + KEEP_FOR, rs->scratch);
    if (rv != APR_SUCCESS) {
        /* a store that is full or down: this turn cannot be resumed */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, rs->r, SSE_LOGNO(00038)
                      "turn %.10s: cannot store %" APR_SIZE_T_FMT " bytes "
                      "of events; it will not be resumable", rs->msgid,
                      rs->pending_len);
        rs->cut = 1;
        put_index(rs, "cut");
        return;
    }
    /* the index is written at start and end only: followers probe for
     * the next batch, which halves the store writes of a live turn */
    ++rs->batches;
    rs->pending_len = 0;
    rs->last_flush = apr_time_now();
}

void sse_resume_record(sse_resume_t *rs, apr_bucket_brigade *bb)
{
    apr_off_t blen = 0;
    apr_size_t n;

    if (!rs || rs->cut || apr_brigade_length(bb, 1, &blen) != APR_SUCCESS) {
        return;
    }
    n = (apr_size_t)blen;
    if (rs->recorded + n > rs->cap || rs->pending_len + n > BATCH_MAX) {
        if (rs->recorded + n > rs->cap) {
            rs->cut = 1;
            put_index(rs, "cut");
            return;
        }
        sse_resume_flush(rs, 1);
    }
    if (rs->pending_len + n > rs->pending_cap) {
        apr_size_t cap = rs->pending_cap ? rs->pending_cap : 4096;
        char *nb;
        while (cap < rs->pending_len + n) {
            cap *= 2;
        }
        if (!(nb = realloc(rs->pending, cap))) {
            rs->cut = 1;
            return;
        }
        rs->pending = nb;
        rs->pending_cap = cap;
    }
    apr_brigade_flatten(bb, rs->pending + rs->pending_len, &n);
    rs->pending_len += n;
    rs->recorded += n;
    sse_resume_flush(rs, 0);
}

int sse_resume_keep_going(sse_resume_t *rs)
{
    apr_time_t now;
    char *v;
    apr_size_t len;

    if (!rs || rs->cut || rs->grace <= 0) {
        return 0;
    }
    now = apr_time_now();
    if (!rs->detached_at) {
        rs->detached_at = now;
        sse_resume_flush(rs, 1);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, rs->r, SSE_LOGNO(00035)
                      "turn %.10s: client gone, generating on for a "
                      "reconnect", rs->msgid);
    }
    if (now - rs->last_attach_check >= FLUSH_EVERY) {
        rs->last_attach_check = now;
        apr_pool_clear(rs->scratch);
        rs->attached = sse_store_get(rs->r->server,
                                     apr_pstrcat(rs->scratch, "sse-rat:",
                                                 rs->msgid, NULL),
                                     SMALL_VALUE, &v, &len, rs->scratch)
                           == APR_SUCCESS
                       && now - apr_atoi64(v) < rs->grace;
    }
    return rs->attached || now - rs->detached_at < rs->grace;
}

void sse_resume_finish(sse_resume_t *rs)
{
    if (!rs || rs->cut) {
        return;
    }
    sse_resume_flush(rs, 1);
    put_index(rs, "done");
}

const char *sse_resume_last_event_id(request_rec *r)
{
    const char *id = apr_table_get(r->headers_in, "Last-Event-ID");
    apr_size_t len;

    if (!id && r->args) {
        sse_form_get(r->pool, r->args, strlen(r->args), "lastEventId", &id,
                     &len);
    }
    return id && *id ? id : NULL;
}

static int resume_error(request_rec *r, const sse_dir_conf_t *dc,
                        sse_sink_t *sink, const char *message)
{
    sse_error_t err;

    sse_error_set(&err, "invalid_request", "cannot_resume", "%s", message);
    sse_transport_sse_error(sink, r->pool, &err);
    return OK;
}

static apr_status_t send_bytes(request_rec *r, apr_bucket_brigade *bb,
                               const char *s, apr_size_t n)
{
    apr_status_t rv;

    apr_brigade_write(bb, NULL, NULL, s, n);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(
                                    r->connection->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    return rv == APR_SUCCESS && !r->connection->aborted ? APR_SUCCESS
                                                        : APR_ECONNABORTED;
}

/* Reads the index of msgid; APR_EACCES when it belongs to another owner
 * (or there is none), APR_NOTFOUND when absent. */
static apr_status_t read_index(request_rec *r, apr_pool_t *p,
                               const char *msgid, const char *owner,
                               const char **state, int *batches)
{
    char *idx, *nl, *st;
    apr_size_t len;
    apr_status_t rv;

    rv = sse_store_get(r->server, apr_pstrcat(p, "sse-rix:", msgid, NULL),
                       SMALL_VALUE, &idx, &len, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!owner || !(nl = strchr(idx, '\n'))) {
        return APR_EACCES;
    }
    *nl = '\0';
    if (strcmp(idx, owner)) {
        return APR_EACCES;
    }
    st = nl + 1;
    if (!(nl = strchr(st, '\n'))) {
        return APR_EGENERAL;
    }
    *nl = '\0';
    *state = st;
    *batches = atoi(nl + 1);
    return APR_SUCCESS;
}

/* 1 when msgid is a finished turn of owner with no event after seq. */
static int nothing_left(request_rec *r, const char *msgid, apr_uint64_t seq,
                        const char *owner)
{
    const char *state;
    char *batch;
    apr_size_t blen;
    int n;

    if (read_index(r, r->pool, msgid, owner, &state, &n) != APR_SUCCESS
        || strcmp(state, "done")) {
        return 0;
    }
    if (n <= 0) {
        return 1;
    }
    return sse_store_get(r->server, apr_psprintf(r->pool, "sse-rb:%s:%d",
                                                 msgid, n - 1),
                         SSE_STORE_MAX_VALUE, &batch, &blen, r->pool)
               == APR_SUCCESS
           && sse_event_find_after(batch, blen, seq) == batch + blen;
}

int sse_resume_serve(request_rec *r, const sse_dir_conf_t *dc,
                     const char *last_event_id)
{
    char msgid[SSE_MSGID_LEN + 1];
    apr_uint64_t seq = 0;
    const char *owner = sse_owner_get(r, 0);
    apr_bucket_brigade *bb;
    apr_pool_t *scratch, *bpool;
    sse_sink_t *sink;
    int next_batch = 0, replaying = 1;
    apr_time_t last_progress = apr_time_now(), last_write = last_progress;
    apr_interval_time_t idle = sse_conf_idle_timeout(dc);
    apr_interval_time_t heartbeat = sse_conf_heartbeat(dc);

    if (!sse_event_parse_id(last_event_id, msgid, &seq)) {
        strcpy(msgid, "msg_00000000000000000000000000000000");
    }
    else if (nothing_left(r, msgid, seq, owner)) {
        /* a finished turn read to its end: 204 stops EventSource's
         * automatic reconnects (anything else would loop, or worse,
         * re-run the prompt as the seed did) */
        return HTTP_NO_CONTENT;
    }
    sink = sse_transport_sse_create(r, msgid, 0);
    if (sse_transport_sse_open(sink, sse_conf_retry_ms(dc)) != APR_SUCCESS) {
        return OK;
    }
    if (!sse_event_parse_id(last_event_id, msgid, &seq)) {
        return resume_error(r, dc, sink, "Cannot resume: malformed "
                            "Last-Event-ID");
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_pool_create(&scratch, r->pool);
    apr_pool_create(&bpool, r->pool);
    for (;;) {
        const char *state;
        char *batch;
        apr_size_t blen;
        int nbatches;
        apr_time_t now = apr_time_now();
        apr_status_t rv;

        apr_pool_clear(scratch);
        rv = read_index(r, scratch, msgid, owner, &state, &nbatches);
        if (rv == APR_EACCES && owner) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SSE_LOGNO(00036)
                          "resume of %.10s refused: another owner", msgid);
        }
        if (rv == APR_EGENERAL) {
            return resume_error(r, dc, sink, "Cannot resume: corrupt state");
        }
        if (rv != APR_SUCCESS) {
            return resume_error(r, dc, sink, "Cannot resume: unknown or "
                                "expired stream");
        }
        if (!strcmp(state, "cut")) {
            return resume_error(r, dc, sink, "Cannot resume: the answer was "
                                "longer than SSEAssistantResumeBuffer");
        }
        for (;;) {
            const char *from;
            apr_pool_clear(bpool);      /* one batch buffer at a time */
            if (sse_store_get(r->server,
                              apr_psprintf(bpool, "sse-rb:%s:%d", msgid,
                                           next_batch), SSE_STORE_MAX_VALUE,
                              &batch, &blen, bpool) != APR_SUCCESS) {
                if (!strcmp(state, "done") && next_batch < nbatches) {
                    return resume_error(r, dc, sink, "Cannot resume: part "
                                        "of the stream has expired");
                }
                break;                  /* live: not written yet */
            }
            from = replaying ? sse_event_find_after(batch, blen, seq) : batch;
            if (from < batch + blen) {
                replaying = 0;
                if (send_bytes(r, bb, from, (apr_size_t)(batch + blen - from))
                    != APR_SUCCESS) {
                    return OK;
                }
                last_write = now;
            }
            ++next_batch;
            last_progress = now;
        }
        if (!strcmp(state, "done")) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SSE_LOGNO(00037)
                          "resume of %.10s after %" APR_UINT64_T_FMT
                          ": complete", msgid, seq);
            return OK;
        }
        if (now - last_progress > idle) {
            return resume_error(r, dc, sink, "Cannot resume: the turn "
                                "stopped producing events");
        }
        /* tell the generating server someone follows, then wait a bit */
        {
            const char *t = apr_psprintf(scratch, "%" APR_TIME_T_FMT, now);
            sse_store_put(r->server, apr_pstrcat(scratch, "sse-rat:", msgid,
                                                 NULL), t, strlen(t),
                          now + KEEP_FOR, scratch);
        }
        if (heartbeat > 0 && now - last_write >= heartbeat) {
            if (send_bytes(r, bb, ": ping\n\n", 8) != APR_SUCCESS) {
                return OK;
            }
            last_write = now;
        }
        if (r->connection->aborted
            || (!r->connection->master
                && sse_transport_client_closed(r->connection))) {
            return OK;
        }
        apr_sleep(POLL_EVERY);
    }
}
