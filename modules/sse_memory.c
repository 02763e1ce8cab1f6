/* Conversation memory through mod_dbd. Portable SQL for the sqlite3 and
 * pgsql drivers; every data statement is prepared. Not through
 * ap_dbd_prepare(): mod_dbd prepares those when it opens a connection,
 * before our schema exists (SQLite refuses to prepare against a missing
 * table). We prepare them on each pooled connection the first time we use
 * it, after the schema check, into that connection's own table. */
#include <string.h>

#include <apr_atomic.h>
#include <apr_dbd.h>
#include <apr_optional.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <mod_dbd.h>

#include "sse_conf.h"
#include "sse_id.h"
#include "sse_memory.h"
#include "sse_private.h"

#define HISTORY_MAX 1000

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;

#define COLS "id, role, content, tool_calls, tool_call_id, status, created"

static const struct {
    const char *label;
    const char *sql;
} statements[] = {
    { "sse_assistant_insert",
      "INSERT INTO sse_assistant_messages (id, conversation, owner, memkey, "
      "role, content, tool_calls, tool_call_id, status, created) VALUES "
      "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %lld)" },
    { "sse_assistant_recent",
      "SELECT " COLS " FROM (SELECT " COLS " FROM sse_assistant_messages "
      "WHERE owner = %s AND memkey = %s AND conversation = %s "
      "ORDER BY created DESC LIMIT %d) recent ORDER BY created ASC" },
    { "sse_assistant_all",
      "SELECT " COLS " FROM sse_assistant_messages WHERE owner = %s AND "
      "memkey = %s AND conversation = %s ORDER BY created ASC LIMIT %d" },
    { "sse_assistant_clear",
      "DELETE FROM sse_assistant_messages WHERE owner = %s AND memkey = %s "
      "AND conversation = %s" },
};

/* Versioned schema: each step runs once; CREATE … IF NOT EXISTS keeps a
 * race between two processes harmless. */
static const struct {
    int version;
    const char *sql;
} migrations[] = {
    { 1, "CREATE TABLE IF NOT EXISTS sse_assistant_messages ("
         "id VARCHAR(48) PRIMARY KEY, conversation VARCHAR(128) NOT NULL, "
         "owner VARCHAR(200) NOT NULL, memkey VARCHAR(128) NOT NULL, "
         "role VARCHAR(16) NOT NULL, content TEXT NOT NULL, "
         "tool_calls TEXT NOT NULL, tool_call_id VARCHAR(128) NOT NULL, "
         "status VARCHAR(16) NOT NULL, created BIGINT NOT NULL)" },
    { 1, "CREATE INDEX IF NOT EXISTS sse_assistant_messages_conv ON "
         "sse_assistant_messages (owner, memkey, conversation, created)" },
};

struct sse_memory_t {
    request_rec *r;
    apr_pool_t *pool;               /* the turn's (per turn on WebSockets) */
    const char *owner, *conversation, *key;
    apr_time_t last_created;
    const char *pending_tool_content;
};

/* Brings the schema up to date; 0 with *why on failure. */
static int migrate(request_rec *r, ap_dbd_t *db, const char **why)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int version = 0, nrows, i, rc;
    const char *v;

    rc = apr_dbd_query(db->driver, db->handle, &nrows,
                       "CREATE TABLE IF NOT EXISTS sse_assistant_schema "
                       "(version INTEGER PRIMARY KEY)");
    if (rc) {
        *why = apr_dbd_error(db->driver, db->handle, rc);
        return 0;
    }
    if (!apr_dbd_select(db->driver, r->pool, db->handle, &res,
                        "SELECT MAX(version) FROM sse_assistant_schema", 0)
        && !apr_dbd_get_row(db->driver, r->pool, res, &row, -1)) {
        v = apr_dbd_get_entry(db->driver, row, 0);
        version = v ? atoi(v) : 0;
        while (apr_dbd_get_row(db->driver, r->pool, res, &row, -1) != -1) {
        }
    }
    for (i = 0; i < (int)(sizeof(migrations) / sizeof(migrations[0])); ++i) {
        if (migrations[i].version <= version) {
            continue;
        }
        rc = apr_dbd_query(db->driver, db->handle, &nrows, migrations[i].sql);
        if (rc) {
            *why = apr_psprintf(r->pool, "migration %d: %s",
                                migrations[i].version,
                                apr_dbd_error(db->driver, db->handle, rc));
            return 0;
        }
        if (i + 1 == (int)(sizeof(migrations) / sizeof(migrations[0]))
            || migrations[i + 1].version != migrations[i].version) {
            /* a concurrent process may have recorded it first: fine */
            apr_dbd_query(db->driver, db->handle, &nrows,
                          apr_psprintf(r->pool, "INSERT INTO "
                                       "sse_assistant_schema (version) "
                                       "VALUES (%d)", migrations[i].version));
        }
    }
    return 1;
}

static int schema_ready(request_rec *r, ap_dbd_t *db)
{
    sse_runtime_t *rt = sse_conf_runtime(r->server);
    const char *why = NULL;
    int attempt;

    if (apr_atomic_read32(&rt->schema_ready)) {
        return 1;
    }
    /* processes starting together race on the DDL; SQLite then reports
     * "database schema has changed" to the loser: try again */
    for (attempt = 0; attempt < 3; ++attempt) {
        if (migrate(r, db, &why)) {
            apr_atomic_set32(&rt->schema_ready, 1);
            return 1;
        }
        apr_sleep(apr_time_from_msec(20 * (attempt + 1)));
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SSE_LOGNO(00014)
                  "conversation memory: cannot create or migrate the "
                  "schema: %s", why ? why : "unknown error");
    return 0;
}

/* Statements live as long as the pooled connection (db->pool). */
static int prepare_all(request_rec *r, ap_dbd_t *db)
{
    int i, rc;

    for (i = 0; i < (int)(sizeof(statements) / sizeof(statements[0])); ++i) {
        apr_dbd_prepared_t *st = NULL;
        if (apr_hash_get(db->prepared, statements[i].label,
                         APR_HASH_KEY_STRING)) {
            continue;
        }
        rc = apr_dbd_prepare(db->driver, db->pool, db->handle,
                             statements[i].sql, statements[i].label, &st);
        if (rc) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SSE_LOGNO(00021)
                          "conversation memory: cannot prepare %s: %s",
                          statements[i].label,
                          apr_dbd_error(db->driver, db->handle, rc));
            return 0;
        }
        apr_hash_set(db->prepared, statements[i].label, APR_HASH_KEY_STRING,
                     st);
    }
    return 1;
}

static ap_dbd_t *db_open(sse_memory_t *m)
{
    ap_dbd_t *db = dbd_open(m->r->pool, m->r->server);

    if (!db) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, m->r, SSE_LOGNO(00016)
                      "conversation memory: no database connection "
                      "(check DBDriver/DBDParams)");
        return NULL;
    }
    if (!schema_ready(m->r, db) || !prepare_all(m->r, db)) {
        dbd_close(m->r->server, db);
        return NULL;
    }
    return db;
}

static apr_dbd_prepared_t *statement(sse_memory_t *m, ap_dbd_t *db,
                                     const char *label)
{
    apr_dbd_prepared_t *st = apr_hash_get(db->prepared, label,
                                          APR_HASH_KEY_STRING);
    if (!st) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, m->r, SSE_LOGNO(00017)
                      "conversation memory: statement %s is not prepared "
                      "(is DBDriver set for this virtual host?)", label);
    }
    return st;
}

sse_memory_t *sse_memory_open(request_rec *r, apr_pool_t *pool,
                              const char *owner,
                              const char *conversation, const char *key)
{
    sse_dir_conf_t *dc = sse_conf_dir(r);
    sse_memory_t *m;

    if (!sse_conf_memory(dc) || !dbd_open || !owner || !conversation) {
        return NULL;
    }
    m = apr_pcalloc(pool, sizeof(*m));
    m->r = r;
    m->pool = pool;
    m->owner = owner;
    m->conversation = conversation;
    m->key = key;
    return m;
}

/* Strictly increasing timestamps keep the order of one turn's rows. */
static const char *next_created(sse_memory_t *m)
{
    apr_time_t now = apr_time_now();

    if (now <= m->last_created) {
        now = m->last_created + 1;
    }
    m->last_created = now;
    return apr_psprintf(m->pool, "%" APR_TIME_T_FMT, now);
}

static apr_status_t insert(sse_memory_t *m, const char *role,
                           const char *content, apr_size_t len,
                           const char *tool_calls, const char *tool_call_id,
                           const char *status)
{
    ap_dbd_t *db = db_open(m);
    apr_dbd_prepared_t *st;
    char id[SSE_ID_HEX_LEN + 8];
    int nrows = 0, rc;

    if (!db) {
        return APR_EGENERAL;
    }
    if (!(st = statement(m, db, "sse_assistant_insert"))
        || sse_id_random(id, sizeof(id), "m_") != APR_SUCCESS) {
        dbd_close(m->r->server, db);
        return APR_EGENERAL;
    }
    rc = apr_dbd_pvquery(db->driver, m->pool, db->handle, &nrows, st,
                         id, m->conversation, m->owner, m->key, role,
                         apr_pstrmemdup(m->pool, content ? content : "",
                                        content ? len : 0),
                         tool_calls ? tool_calls : "",
                         tool_call_id ? tool_call_id : "", status,
                         next_created(m), NULL);
    if (rc) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, m->r, SSE_LOGNO(00018)
                      "conversation memory: insert failed: %s",
                      apr_dbd_error(db->driver, db->handle, rc));
    }
    dbd_close(m->r->server, db);
    return rc ? APR_EGENERAL : APR_SUCCESS;
}

apr_status_t sse_memory_add_user(sse_memory_t *m, const char *text,
                                 apr_size_t len)
{
    return insert(m, "user", text, len, NULL, NULL, "complete");
}

typedef struct row_t {
    const char *id, *role, *content, *tool_calls, *tool_call_id, *status;
    apr_time_t created;
} row_t;

/* Runs a select; rows come back in a pool array. */
static apr_array_header_t *select_rows(sse_memory_t *m, const char *label,
                                       int limit)
{
    ap_dbd_t *db = db_open(m);
    apr_dbd_prepared_t *st;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *dbrow = NULL;
    apr_array_header_t *rows;
    int rc;

    if (!db) {
        return NULL;
    }
    if (!(st = statement(m, db, label))) {
        dbd_close(m->r->server, db);
        return NULL;
    }
    rc = apr_dbd_pvselect(db->driver, m->pool, db->handle, &res, st, 0,
                          m->owner, m->key, m->conversation,
                          apr_itoa(m->pool, limit), NULL);
    if (rc) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, m->r, SSE_LOGNO(00019)
                      "conversation memory: select failed: %s",
                      apr_dbd_error(db->driver, db->handle, rc));
        dbd_close(m->r->server, db);
        return NULL;
    }
    rows = apr_array_make(m->pool, 16, sizeof(row_t));
    while (apr_dbd_get_row(db->driver, m->pool, res, &dbrow, -1) == 0) {
        row_t *row = apr_array_push(rows);
        const char *created;
        row->id = apr_pstrdup(m->pool, apr_dbd_get_entry(db->driver, dbrow, 0));
        row->role = apr_pstrdup(m->pool, apr_dbd_get_entry(db->driver, dbrow, 1));
        row->content = apr_pstrdup(m->pool, apr_dbd_get_entry(db->driver, dbrow, 2));
        row->tool_calls = apr_pstrdup(m->pool, apr_dbd_get_entry(db->driver, dbrow, 3));
        row->tool_call_id = apr_pstrdup(m->pool, apr_dbd_get_entry(db->driver, dbrow, 4));
        row->status = apr_pstrdup(m->pool, apr_dbd_get_entry(db->driver, dbrow, 5));
        created = apr_dbd_get_entry(db->driver, dbrow, 6);
        row->created = created ? apr_atoi64(created) : 0;
    }
    dbd_close(m->r->server, db);
    return rows;
}

/* The tool rows right after rows[at] answer every call of its group. */
static int complete_group(apr_pool_t *p, const apr_array_header_t *rows,
                          int at)
{
    const row_t *call_row = &APR_ARRAY_IDX(rows, at, row_t);
    apr_array_header_t *ids;
    int k, j, found;

    if (sse_json_tool_call_ids(p, call_row->tool_calls, &ids) || !ids->nelts) {
        return 0;
    }
    for (k = 0; k < ids->nelts; ++k) {
        const char *id = APR_ARRAY_IDX(ids, k, const char *);
        found = 0;
        for (j = at + 1; j < rows->nelts && !found
                         && !strcmp(APR_ARRAY_IDX(rows, j, row_t).role,
                                    "tool"); ++j) {
            found = !strcmp(APR_ARRAY_IDX(rows, j, row_t).tool_call_id, id);
        }
        if (!found) {
            return 0;
        }
    }
    return 1;
}

apr_status_t sse_memory_load(sse_memory_t *m, sse_msgs_t *msgs, int limit)
{
    apr_array_header_t *rows;
    int i, in_group = 0;

    if (limit <= 0) {
        return APR_SUCCESS;
    }
    rows = select_rows(m, "sse_assistant_recent", limit);
    if (!rows) {
        return APR_EGENERAL;
    }
    for (i = 0; i < rows->nelts; ++i) {
        const row_t *row = &APR_ARRAY_IDX(rows, i, row_t);
        if (!strcmp(row->role, "tool")) {
            /* only right behind its own, complete call group */
            if (in_group) {
                sse_msgs_add_stored(msgs, row->role, row->content, NULL,
                                    row->tool_call_id);
            }
            continue;
        }
        in_group = 0;
        if (*row->tool_calls) {
            /* a group is whole when every call id has its result behind
             * it; the window's edge, or a turn that died mid-tools (some
             * parallel results missing), leaves it out: upstreams refuse
             * a tool call without its result */
            if (!complete_group(m->pool, rows, i)) {
                continue;
            }
            in_group = 1;
        }
        sse_msgs_add_stored(msgs, row->role, row->content, row->tool_calls,
                            NULL);
    }
    return APR_SUCCESS;
}

const char *sse_memory_history_json(sse_memory_t *m)
{
    apr_array_header_t *rows = select_rows(m, "sse_assistant_all",
                                           HISTORY_MAX);
    sse_msgs_t *list = sse_msgs_create(m->pool);
    int i;

    if (!rows) {
        return NULL;
    }
    for (i = 0; i < rows->nelts; ++i) {
        const row_t *row = &APR_ARRAY_IDX(rows, i, row_t);
        char ts[APR_RFC822_DATE_LEN + 8];
        apr_time_exp_t t;
        apr_size_t n;
        if (strcmp(row->role, "user") && strcmp(row->role, "assistant")) {
            continue;
        }
        if (!*row->content) {
            continue;           /* a pure tool-call message */
        }
        apr_time_exp_gmt(&t, row->created);
        apr_strftime(ts, &n, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &t);
        sse_msgs_add_history_entry(list, row->id, row->role, row->content,
                                   apr_psprintf(m->pool, "%s.%03dZ", ts,
                                                t.tm_usec / 1000));
    }
    return sse_msgs_dump(m->pool, list);
}

int sse_memory_clear(sse_memory_t *m)
{
    ap_dbd_t *db = db_open(m);
    apr_dbd_prepared_t *st;
    int nrows = 0, rc;

    if (!db) {
        return -1;
    }
    if (!(st = statement(m, db, "sse_assistant_clear"))) {
        dbd_close(m->r->server, db);
        return -1;
    }
    rc = apr_dbd_pvquery(db->driver, m->pool, db->handle, &nrows, st,
                         m->owner, m->key, m->conversation, NULL);
    if (rc) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, m->r, SSE_LOGNO(00020)
                      "conversation memory: delete failed: %s",
                      apr_dbd_error(db->driver, db->handle, rc));
    }
    dbd_close(m->r->server, db);
    return rc ? -1 : nrows;
}

static void on_tool_calls(void *ctx, const char *content,
                          const sse_tool_calls_t *calls)
{
    sse_memory_t *m = ctx;

    insert(m, "assistant", content, content ? strlen(content) : 0,
           sse_json_tool_calls_new(m->pool, calls), NULL, "complete");
}

static void on_tool_result(void *ctx, const sse_tool_call_t *call,
                           const char *content, apr_size_t len)
{
    sse_memory_t *m = ctx;

    insert(m, "tool", content, len, NULL, call->id, "complete");
}

static void on_answer(void *ctx, const char *text, apr_size_t len,
                      int interrupted)
{
    sse_memory_t *m = ctx;

    insert(m, "assistant", text, len, NULL, NULL,
           interrupted ? "interrupted" : "complete");
}

void sse_memory_turn_hooks(sse_memory_t *m, sse_turn_memory_t *hooks)
{
    memset(hooks, 0, sizeof(*hooks));
    hooks->tool_calls = on_tool_calls;
    hooks->tool_result = on_tool_result;
    hooks->answer = on_answer;
    hooks->ctx = m;
}

static void retrieve_optional_fns(void)
{
    dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (!dbd_close) {
        dbd_open = NULL;
    }
}

void sse_memory_register_hooks(apr_pool_t *p)
{
    ap_hook_optional_fn_retrieve(retrieve_optional_fns, NULL, NULL,
                                 APR_HOOK_MIDDLE);
}
