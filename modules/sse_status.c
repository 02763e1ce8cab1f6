/* Adds our numbers to mod_status's page, so an operator can see how close
 * the server is to SSEAssistantMaxStreams before clients get 503s. */
#include <apr_optional.h>

#include <httpd.h>
#include <http_config.h>
#include <http_protocol.h>
#include <mod_status.h>

#include "sse_conf.h"
#include "sse_limits.h"
#include "sse_status.h"

static int status_report(request_rec *r, int flags)
{
    sse_runtime_t *rt = sse_conf_runtime(r->server);
    apr_uint32_t open = sse_stream_counter_current(rt->streams);
    int max = sse_conf_max_streams(rt);

    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "SSEAssistantStreams: %u\n", open);
        ap_rprintf(r, "SSEAssistantMaxStreams: %d\n", max);
        return OK;
    }
    ap_rputs("<hr />\n<h2>mod_sse_assistant</h2>\n<dl>\n", r);
    if (max > 0) {
        ap_rprintf(r, "<dt>Answers streaming: %u of %d "
                   "(SSEAssistantMaxStreams)</dt>\n", open, max);
    }
    else {
        ap_rprintf(r, "<dt>Answers streaming: %u (no limit)</dt>\n", open);
    }
    ap_rputs("</dl>\n", r);
    return OK;
}

void sse_status_register_hooks(apr_pool_t *p)
{
    (void)p;
    APR_OPTIONAL_HOOK(ap, status_hook, status_report, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
