/* The REST variant (Accept: application/json): the same turn, answered
 * as one JSON object at the end (glue). */
#ifndef SSE_TRANSPORT_JSON_H
#define SSE_TRANSPORT_JSON_H

#include <httpd.h>

#include "sse_sink.h"
#include "sse_turn.h"

sse_sink_t *sse_transport_json_create(request_rec *r);

/* Writes the answer (200) or the error (502) after the turn. */
int sse_transport_json_finish(sse_sink_t *sink, const char *msgid,
                              const char *conversation,
                              const sse_turn_result_t *result);

#endif
