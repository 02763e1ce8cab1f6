/* Tool calls in parallel with libcurl's multi interface: POST the
 * arguments JSON to the tool's configured URL (never one from the model or
 * the request), keep a capped body, report each outcome. */
#include <string.h>

#include <apr_strings.h>
#include <curl/curl.h>

#include "sse_json.h"
#include "sse_tool_exec.h"

typedef struct job_t {
    const sse_tool_exec_t *ex;
    apr_pool_t *pool;
    CURL *h;
    struct curl_slist *headers;
    char *body;
    apr_size_t len;
    int truncated;
    char errbuf[CURL_ERROR_SIZE];
} job_t;

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
    job_t *j = ud;
    apr_size_t len = size * n, room = j->ex->max_result - j->len;
    char *nb;

    if (len > room) {
        j->truncated = 1;
        len = room;
    }
    if (len) {
        nb = apr_palloc(j->pool, j->len + len + 1);
        if (j->len) {
            memcpy(nb, j->body, j->len);
        }
        memcpy(nb + j->len, buf, len);
        j->len += len;
        nb[j->len] = '\0';
        j->body = nb;
    }
    return size * n;
}

static void fail(sse_tool_outcome_t *o, apr_pool_t *p, const char *msg)
{
    o->ok = 0;
    o->result = msg;
    o->result_len = strlen(msg);
    (void)p;
}

static long to_ms(apr_interval_time_t t)
{
    long ms = (long)apr_time_as_msec(t);
    return (t > 0 && ms == 0) ? 1L : ms;
}

int sse_tool_exec_run(apr_pool_t *p, const sse_tool_exec_t *ex,
                      const sse_tool_calls_t *calls,
                      sse_tool_outcome_t *outcomes)
{
    CURLM *multi = curl_multi_init();
    job_t jobs[SSE_TOOL_MAX_CALLS];
    const sse_tool_t *tools[SSE_TOOL_MAX_CALLS];
    int i, running = 0, stopped = 0;

    memset(jobs, 0, sizeof(jobs));
    for (i = 0; i < calls->n; ++i) {
        const sse_tool_call_t *c = &calls->calls[i];
        job_t *j = &jobs[i];

        tools[i] = sse_tool_find(ex->tools, c->name);
        ex->started(ex->ctx, c, tools[i]);
        if (!tools[i]) {
            fail(&outcomes[i], p, apr_psprintf(p, "there is no tool named "
                                               "\"%s\"", c->name));
            ex->finished(ex->ctx, c, tools[i], &outcomes[i]);
            continue;
        }
        if (!sse_json_is_object_text(c->args, c->args_len)) {
            fail(&outcomes[i], p, "the model sent arguments that are not a "
                                  "JSON object");
            ex->finished(ex->ctx, c, tools[i], &outcomes[i]);
            continue;
        }
        j->ex = ex;
        j->pool = p;
        j->h = curl_easy_init();
        if (!j->h || !multi) {
            if (j->h) {
                curl_easy_cleanup(j->h);
                j->h = NULL;
            }
            fail(&outcomes[i], p, "could not start the tool call");
            ex->finished(ex->ctx, c, tools[i], &outcomes[i]);
            continue;
        }
        j->headers = curl_slist_append(NULL, "Content-Type: application/json");
        j->headers = curl_slist_append(j->headers, "Accept: application/json");
        j->headers = curl_slist_append(j->headers, "Expect:");
        curl_easy_setopt(j->h, CURLOPT_URL, tools[i]->url);
        curl_easy_setopt(j->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(j->h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(j->h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(j->h, CURLOPT_PROXY, ex->proxy ? ex->proxy : "");
        curl_easy_setopt(j->h, CURLOPT_HTTPHEADER, j->headers);
        curl_easy_setopt(j->h, CURLOPT_POSTFIELDS, c->args);
        curl_easy_setopt(j->h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)c->args_len);
        curl_easy_setopt(j->h, CURLOPT_TIMEOUT_MS, to_ms(ex->timeout));
        curl_easy_setopt(j->h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(j->h, CURLOPT_WRITEDATA, j);
        curl_easy_setopt(j->h, CURLOPT_ERRORBUFFER, j->errbuf);
        curl_easy_setopt(j->h, CURLOPT_PRIVATE, (char *)j);
        curl_multi_add_handle(multi, j->h);
    }

    do {
        CURLMsg *msg;
        int left;

        if (multi && curl_multi_perform(multi, &running) != CURLM_OK) {
            break;
        }
        while (multi && (msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg == CURLMSG_DONE) {
                for (i = 0; i < calls->n; ++i) {
                    if (jobs[i].h == msg->easy_handle) {
                        break;
                    }
                }
                if (i < calls->n) {
                    job_t *j = &jobs[i];
                    long status = 0;
                    curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &status);
                    if (msg->data.result == CURLE_OPERATION_TIMEDOUT) {
                        fail(&outcomes[i], p, apr_psprintf(p, "the tool did "
                             "not answer within %ld ms", to_ms(ex->timeout)));
                    }
                    else if (msg->data.result != CURLE_OK) {
                        fail(&outcomes[i], p, apr_psprintf(p, "the tool could "
                             "not be reached: %s", j->errbuf[0] ? j->errbuf
                             : curl_easy_strerror(msg->data.result)));
                    }
                    else if (status < 200 || status >= 300) {
                        fail(&outcomes[i], p, apr_psprintf(p, "the tool "
                             "answered HTTP %ld%s%.*s", status,
                             j->len ? ": " : "", (int)(j->len > 300 ? 300
                             : j->len), j->body ? j->body : ""));
                    }
                    else if (j->truncated || !j->body
                             || !sse_json_is_object_text(j->body, j->len)) {
                        fail(&outcomes[i], p, j->truncated
                             ? "the tool's answer is larger than allowed"
                             : "the tool answered with something that is "
                               "not a JSON object");
                    }
                    else {
                        outcomes[i].ok = 1;
                        outcomes[i].result = j->body;
                        outcomes[i].result_len = j->len;
                    }
                    curl_multi_remove_handle(multi, j->h);
                    curl_easy_cleanup(j->h);
                    curl_slist_free_all(j->headers);
                    j->h = NULL;
                    ex->finished(ex->ctx, &calls->calls[i], tools[i],
                                 &outcomes[i]);
                }
            }
        }
        if (running) {
            /* short waits so heartbeats and disconnects are seen */
            curl_multi_poll(multi, NULL, 0, 250, NULL);
            if (ex->tick(ex->ctx)) {
                stopped = 1;
                break;
            }
        }
    } while (running);

    for (i = 0; i < calls->n; ++i) {
        if (jobs[i].h) {                    /* stopped early */
            curl_multi_remove_handle(multi, jobs[i].h);
            curl_easy_cleanup(jobs[i].h);
            curl_slist_free_all(jobs[i].headers);
        }
    }
    if (multi) {
        curl_multi_cleanup(multi);
    }
    return stopped ? -1 : 0;
}
