/* WebSocket on the sse-assistant handler (glue): "Upgrade: websocket" on
 * the same location speaks RFC 6455 inside the handler. The client sends
 * {"prompt":…,"conversation":…} text frames; every event goes back as a
 * text frame {"event":…,"data":…}; several turns per connection. */
#ifndef SSE_TRANSPORT_WS_H
#define SSE_TRANSPORT_WS_H

#include <httpd.h>

#include "sse_conf.h"

/* 1 when r asks for a WebSocket upgrade. */
int sse_transport_ws_requested(request_rec *r);

/* Handshake, then frames until the client closes. */
int sse_transport_ws_serve(request_rec *r, const sse_dir_conf_t *dc);

#endif
