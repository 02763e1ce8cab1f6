/* Resumable streams (glue). Every event of a turn is also kept in the
 * store, in batches (one per 250 ms, never one write per token), so a
 * reconnect carrying Last-Event-ID replays what it missed and follows the
 * live turn — on any server sharing the store — without re-running the
 * prompt. */
#ifndef SSE_RESUME_H
#define SSE_RESUME_H

#include <apr_buckets.h>
#include <httpd.h>

#include "sse_conf.h"

typedef struct sse_resume_t sse_resume_t;

/* NULL when resume is off (no store, SSEAssistantResumeBuffer 0). Lives
 * in pool (the request's, or a WebSocket turn's). */
sse_resume_t *sse_resume_create(request_rec *r, apr_pool_t *pool,
                                const sse_dir_conf_t *dc,
                                const char *msgid, const char *owner);

/* Announces the turn in the store (before the first event leaves). */
void sse_resume_start(sse_resume_t *rs);

/* bb holds exactly one formatted event: keep a copy. */
void sse_resume_record(sse_resume_t *rs, apr_bucket_brigade *bb);

/* Writes the pending batch if it is due (or now, with force). */
void sse_resume_flush(sse_resume_t *rs, int force);

/* The client is gone: 1 while the turn should go on (SSEAssistantResume
 * on, within SSEAssistantResumeGrace, or a reconnect is following it). */
int sse_resume_keep_going(sse_resume_t *rs);

/* The turn ended: last batch written, followers stop after it. */
void sse_resume_finish(sse_resume_t *rs);

/* Last-Event-ID from the header, else ?lastEventId= (a fresh EventSource
 * cannot set the header). NULL when none. */
const char *sse_resume_last_event_id(request_rec *r);

/* Answers a reconnect: the events after last_event_id, then the live turn
 * until done. */
int sse_resume_serve(request_rec *r, const sse_dir_conf_t *dc,
                     const char *last_event_id);

#endif
