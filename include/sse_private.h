/* Glue only: every httpd-facing file logs under our module's LogLevel. */
#ifndef SSE_PRIVATE_H
#define SSE_PRIVATE_H

#include <httpd.h>
#include <http_log.h>

extern module AP_MODULE_DECLARE_DATA sse_assistant_module;
APLOG_USE_MODULE(sse_assistant);

/* One tag per call site, never reused; next free number in
 * include/sse_lognos.next (make guards checks for duplicates). */
#define SSE_LOGNO(n) "SSEA" #n ": "

#define SSE_HANDLER_ASSISTANT "sse-assistant"

#endif
