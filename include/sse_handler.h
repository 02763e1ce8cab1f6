/* The "sse-assistant" handler and the process-level hooks it needs (glue). */
#ifndef SSE_HANDLER_H
#define SSE_HANDLER_H

#include <apr_pools.h>

#include <httpd.h>

#include "sse_conf.h"
#include "sse_request.h"
#include "sse_sink.h"

/* Runs one turn for r with the configuration dc (the request's own, or
 * the bridge's target location) and answers as SSE or REST. */
int sse_handler_run(request_rec *r, const sse_dir_conf_t *dc,
                    const sse_prompt_t *prompt);

/* One turn into a transport's own sink (WebSocket: several turns on one
 * connection; the stream slot is the connection's). */
int sse_handler_turn(request_rec *r, const sse_dir_conf_t *dc,
                     const sse_prompt_t *prompt, sse_sink_t *sink);

/* Reads the whole request body, at most max bytes. OK or an HTTP status
 * (413 over the cap, 400, 408). */
int sse_handler_read_body(request_rec *r, apr_off_t max, char **body,
                          apr_size_t *len);

/* A JSON answer before any streaming: status, no-store, body + "\n". */
int sse_handler_reply_json(request_rec *r, int status, const char *json);

void sse_handler_register_hooks(apr_pool_t *p);

#endif
