/* mod_sse_assistant: streams LLM answers to browsers over Server-Sent
 * Events. The module record, the command table and hook registration;
 * everything else lives in modules/. */
#include <httpd.h>
#include <http_config.h>

#include "sse_conf.h"
#include "sse_bridge.h"
#include "sse_handler.h"
#include "sse_memory.h"
#include "sse_owner.h"
#include "sse_status.h"
#include "sse_store.h"

static void sse_register_hooks(apr_pool_t *p)
{
    sse_handler_register_hooks(p);
    sse_owner_register_hooks(p);
    sse_memory_register_hooks(p);
    sse_store_register_hooks(p);
    sse_bridge_register_hooks(p);
    sse_status_register_hooks(p);
}

AP_DECLARE_MODULE(sse_assistant) = {
    STANDARD20_MODULE_STUFF,
    sse_conf_create_dir,
    sse_conf_merge_dir,
    sse_conf_create_srv,
    sse_conf_merge_srv,
    sse_conf_cmds,
    sse_register_hooks,
    AP_MODULE_FLAG_NONE
};
