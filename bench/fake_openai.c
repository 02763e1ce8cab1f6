/*
 * fake-openai: a fake OpenAI-compatible Chat Completions server.
 *
 * Speaks the wire format of OpenAI's streaming Chat Completions API
 * (Server-Sent Events over chunked HTTP/1.1) with scripted behaviour
 * ("scenarios") chosen through the model name or a "!fake ..." prefix in the
 * last user message.  Used by the Apache-Test suite, the demo and the
 * benchmark of mod_sse_assistant.  Single-threaded, epoll driven.
 *
 * Build:
 *   mkdir -p build && cc -std=c99 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -o build/fake-openai bench/fake_openai.c $(pkg-config --cflags --libs jansson)
 *
 * Usage:
 *   fake-openai [--listen ADDR] [--port N] [--print-port] [--parent-pid PID] [--quiet]
 *
 * Routes:
 *   POST <anything>/chat/completions   the API
 *   GET  /_fake/log?tag=T              per-tag request log (JSON)
 *   GET  /_fake/health                 {"ok":true}
 *   GET  /_fake/stats                  global counters (JSON)
 *   POST /_fake/reset                  clears the log
 *   POST /_fake/tool/NAME[?tag=T]      fake tools (see below)
 *
 * Scenario parameters: model "fake:key=value,key,..." and/or a last user
 * message starting with "!fake key=value,... rest of prompt" (overrides).
 *   tokens=N [5]  delay=MS [0]  first_delay=MS [0]  stamp  echo  text=WORD
 *   utf8  demo  usage  finish=REASON [stop]  crlf  split=K  split_delay=MS
 *   comments  filter  status=CODE  plain  error_after=N  close_after=N
 *   nodone  badjson_after=N  hang  hang_after=N  tag=STR [default]
 * Values may use %XX escapes (e.g. text=a%2Cb).  Delays accept fractions.
 *
 * Tool calling (OpenAI wire format):
 *   calls=N [0]  rounds=R [1]  tool=NAME  args=JSON  argsplit=K [8]
 *   calls_if=WORD  (call tools only when the last user message has WORD)
 *   interleave  text_before=WORD
 * The answer is N tool calls when the request has a non-empty "tools" array,
 * calls > 0 and fewer than R assistant messages with tool_calls follow the
 * last user message; otherwise text.  Names: tool=NAME, else the request's
 * tools cycled in order.  Ids call_fake<round>_<i>.  Arguments: args=, else
 * {"city":"Berlin","unit":"celsius"} (plus "n":<i> when N > 1), streamed in
 * K-byte pieces (never inside a UTF-8 character; K <= 0: one piece), calls
 * sequential or, with interleave, round-robin.  Every fragment (and the
 * text_before token) counts as one token for delay, *_after, usage and the
 * log.  finish_reason is "tool_calls" unless finish= is given.  A text
 * answer to a request with role "tool" messages after the last user message
 * is "Tool results: ", each tool content, " Done." (one token each, tokens=
 * ignored) unless stamp, echo, text, utf8 or demo is set.
 *
 * Tools (log under ?tag=T, "tool_requests" and "tool_bodies"):
 *   weather  {"city":<body.city|"unknown">,"temp_c":21,"sky":"sunny"}
 *   echo     the body, as application/json
 *   fail     500 {"error":"weather service down"}
 *   text     200 text/plain "not json at all"
 *   slow     like weather, after ?ms=N milliseconds (timer)
 *   big      {"data":"<100000 characters>"}
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define MAX_BODY      (4u << 20)    /* request body limit (413 above) */
#define MAX_HDR       (64u << 10)   /* request head limit (431 above) */
#define IN_HARD_MAX   (16u << 20)   /* buffered input limit per connection */
#define OUT_HIWAT     (64u << 10)   /* stop generating above this */
#define DRIVE_BUDGET  512           /* generator steps per wake-up */
#define READ_BUDGET   (1u << 20)    /* bytes read per wake-up */
#define TAG_MAX       4096
#define TAG_HASH      8192
#define LINGER_NS     (2000ull * 1000000ull)
#define LOG_BODIES    10            /* request bodies kept per tag */
#define MAX_CALLS     256           /* calls= limit */
#define BIG_TOOL_LEN  100000        /* /_fake/tool/big string length */

/* ------------------------------------------------------------------ */
/* utilities                                                           */

static void die(const char *what)
{
    fprintf(stderr, "fake-openai: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* wall clock seconds, truncated to microseconds */
static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000) / 1e6;
}

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t extra)
{
    size_t nc;
    char *np;
    if (b->len + extra <= b->cap)
        return;
    nc = b->cap ? b->cap : 256;
    while (nc < b->len + extra)
        nc *= 2;
    np = realloc(b->p, nc);
    if (!np) {
        errno = ENOMEM;
        die("realloc");
    }
    b->p = np;
    b->cap = nc;
}

static void buf_add(buf_t *b, const void *d, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void buf_adds(buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_printf(buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    size_t avail;
    buf_reserve(b, 256);
    avail = b->cap - b->len;
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, avail, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= avail) {
        buf_reserve(b, (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

static void buf_free(buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static size_t u64dec(char *dst, uint64_t v)
{
    char tmp[24];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    return n;
}

static void buf_u64(buf_t *b, uint64_t v)
{
    buf_reserve(b, 24);
    b->len += u64dec(b->p + b->len, v);
}

/* JSON string body escaping: only '"', '\\' and control characters;
 * non-ASCII UTF-8 is passed through raw (as OpenAI does). */
static void buf_json_esc(buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;
    char *o;
    buf_reserve(b, n * 6);
    o = b->p + b->len;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            *o++ = (char)ch;
            continue;
        }
        *o++ = '\\';
        switch (ch) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        default:
            *o++ = 'u'; *o++ = '0'; *o++ = '0';
            *o++ = hex[ch >> 4]; *o++ = hex[ch & 15];
        }
    }
    b->len = (size_t)(o - b->p);
}

static void buf_json_str(buf_t *b, const char *s)
{
    buf_add(b, "\"", 1);
    buf_json_esc(b, s, strlen(s));
    buf_add(b, "\"", 1);
}

/* bounded string copy, always NUL-terminated */
static void scopy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

static int ieq(const char *a, size_t al, const char *b)
{
    size_t bl = strlen(b);
    return al == bl && strncasecmp(a, b, al) == 0;
}

static int is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
           ch == '\f' || ch == '\v';
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* percent-decode s[0..n) into out (NUL-terminated, truncated to cap-1) */
static void pct_decode(const char *s, size_t n, char *out, size_t cap, int plus)
{
    size_t i, o = 0;
    for (i = 0; i < n && o + 1 < cap; i++) {
        if (s[i] == '%' && i + 2 < n &&
            hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (plus && s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = 0;
}

static long count_words(const char *p, size_t n)
{
    long w = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && is_ws(p[i]))
            i++;
        if (i >= n)
            break;
        w++;
        while (i < n && !is_ws(p[i]))
            i++;
    }
    return w;
}

/* ------------------------------------------------------------------ */
/* log: per-tag records                                                */

enum { RS_STREAMING, RS_FINISHED, RS_PEER_CLOSED, RS_SERVER_CLOSED, RS_HUNG };
static const char *const rs_names[] = {
    "streaming", "finished", "peer_closed", "server_closed", "hung"
};

typedef struct reqrec {
    int refs;
    int state;
    int stream;
    unsigned long id;
    long tokens;
    double started, first, last, ended, hung_at;
    char *auth;
    json_t *body;
} reqrec;

typedef struct tagrec {
    int refs;           /* 1 for table membership + 1 per open stream */
    int in_table;
    char *tag;
    unsigned long long requests, tokens_sent, tool_requests;
    long streams_open;
    reqrec *last;
    json_t *bodies, *tool_bodies;   /* last LOG_BODIES, oldest first */
    struct tagrec *hnext, *lprev, *lnext;
} tagrec;

static tagrec *g_tags[TAG_HASH];
static tagrec *g_lru_head, *g_lru_tail;
static int g_tag_count;

static void rec_unref(reqrec *r)
{
    if (!r || --r->refs > 0)
        return;
    free(r->auth);
    json_decref(r->body);
    free(r);
}

static void tag_unref(tagrec *t)
{
    if (!t || --t->refs > 0)
        return;
    rec_unref(t->last);
    json_decref(t->bodies);
    json_decref(t->tool_bodies);
    free(t->tag);
    free(t);
}

static unsigned tag_hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 16777619u;
    }
    return h % TAG_HASH;
}

static tagrec *tag_find(const char *name)
{
    tagrec *t;
    for (t = g_tags[tag_hash(name)]; t; t = t->hnext)
        if (strcmp(t->tag, name) == 0)
            return t;
    return NULL;
}

static void lru_unlink(tagrec *t)
{
    if (t->lprev) t->lprev->lnext = t->lnext; else g_lru_head = t->lnext;
    if (t->lnext) t->lnext->lprev = t->lprev; else g_lru_tail = t->lprev;
    t->lprev = t->lnext = NULL;
}

static void lru_append(tagrec *t)
{
    t->lprev = g_lru_tail;
    t->lnext = NULL;
    if (g_lru_tail) g_lru_tail->lnext = t; else g_lru_head = t;
    g_lru_tail = t;
}

static void tag_evict(tagrec *t)
{
    tagrec **pp = &g_tags[tag_hash(t->tag)];
    while (*pp && *pp != t)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = t->hnext;
    t->hnext = NULL;
    lru_unlink(t);
    t->in_table = 0;
    g_tag_count--;
    tag_unref(t);
}

/* find or create; marks the tag most recently used */
static tagrec *tag_touch(const char *name)
{
    tagrec *t = tag_find(name);
    if (t) {
        lru_unlink(t);
        lru_append(t);
        return t;
    }
    while (g_tag_count >= TAG_MAX && g_lru_head)
        tag_evict(g_lru_head);
    t = calloc(1, sizeof *t);
    if (!t) die("calloc");
    t->tag = strdup(name);
    if (!t->tag) die("strdup");
    t->refs = 1;
    t->in_table = 1;
    {
        unsigned h = tag_hash(name);
        t->hnext = g_tags[h];
        g_tags[h] = t;
    }
    lru_append(t);
    g_tag_count++;
    return t;
}

static void tags_reset(void)
{
    while (g_lru_head)
        tag_evict(g_lru_head);
}

/* append v (reference stolen) to *arr, keeping the last LOG_BODIES */
static void ring_push(json_t **arr, json_t *v)
{
    if (!v)
        return;
    if (!*arr) {
        *arr = json_array();
        if (!*arr) {
            json_decref(v);
            return;
        }
    }
    json_array_append_new(*arr, v);
    while (json_array_size(*arr) > LOG_BODIES)
        json_array_remove(*arr, 0);
}

/* ------------------------------------------------------------------ */
/* scenario                                                            */

enum { TK_DEFAULT, TK_STAMP, TK_ECHO, TK_TEXT, TK_UTF8 };

typedef struct {
    long tokens;
    uint64_t delay_ns, first_delay_ns, split_delay_ns;
    int stamp, echo, utf8, has_text, demo;
    char text[512];
    char finish[128];
    char tag[256];
    int usage, crlf, comments, filter, plain, nodone;
    long split;
    int status;
    long error_after, close_after, badjson_after, hang_after;
    /* tool calling */
    long calls, rounds, argsplit;
    int interleave, has_tool, has_args, has_finish;
    char tool[256];
    char text_before[256];
    char calls_if[64];
    char args[2048];
} scen_t;

static void scen_defaults(scen_t *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->tokens = 5;
    strcpy(sc->finish, "stop");
    strcpy(sc->tag, "default");
    sc->error_after = sc->close_after = sc->badjson_after = sc->hang_after = -1;
    sc->rounds = 1;
    sc->argsplit = 8;
}

static int parse_num(const char *v, double *out)
{
    char *end;
    double d;
    errno = 0;
    d = strtod(v, &end);
    if (end == v || *end || errno || d != d)
        return 0;
    *out = d;
    return 1;
}

static uint64_t ms_to_ns(double ms)
{
    if (ms <= 0)
        return 0;
    if (ms > 1e9)
        ms = 1e9;
    return (uint64_t)(ms * 1e6);
}

static long to_count(double d)
{
    if (d < 0) return -1;
    if (d > 1e12) return (long)1e12;
    return (long)d;
}

static void scen_set(scen_t *sc, const char *k, size_t kl, const char *v)
{
    double d = 0;
    int num = parse_num(v, &d);
    int flag = num ? d != 0 : 1;

    if (ieq(k, kl, "tokens")) { if (num && d >= 0) sc->tokens = to_count(d); }
    else if (ieq(k, kl, "delay")) { if (num) sc->delay_ns = ms_to_ns(d); }
    else if (ieq(k, kl, "first_delay")) { if (num) sc->first_delay_ns = ms_to_ns(d); }
    else if (ieq(k, kl, "split_delay")) { if (num) sc->split_delay_ns = ms_to_ns(d); }
    else if (ieq(k, kl, "stamp")) sc->stamp = flag;
    else if (ieq(k, kl, "echo")) sc->echo = flag;
    else if (ieq(k, kl, "utf8")) sc->utf8 = flag;
    else if (ieq(k, kl, "demo")) sc->demo = flag;
    else if (ieq(k, kl, "text")) {
        scopy(sc->text, sizeof sc->text, v);
        sc->has_text = 1;
    }
    else if (ieq(k, kl, "usage")) sc->usage = flag;
    else if (ieq(k, kl, "finish")) {
        scopy(sc->finish, sizeof sc->finish, v);
        sc->has_finish = 1;
    }
    else if (ieq(k, kl, "crlf")) sc->crlf = flag;
    else if (ieq(k, kl, "split")) { if (num) sc->split = d > 0 ? to_count(d) : 0; }
    else if (ieq(k, kl, "comments")) sc->comments = flag;
    else if (ieq(k, kl, "filter")) sc->filter = flag;
    else if (ieq(k, kl, "status")) {
        if (num && d >= 200 && d <= 599) sc->status = (int)d;
        else if (num && d == 0) sc->status = 0;
    }
    else if (ieq(k, kl, "plain")) sc->plain = flag;
    else if (ieq(k, kl, "nodone")) sc->nodone = flag;
    else if (ieq(k, kl, "error_after")) { if (num) sc->error_after = to_count(d); }
    else if (ieq(k, kl, "close_after")) { if (num) sc->close_after = to_count(d); }
    else if (ieq(k, kl, "badjson_after")) { if (num) sc->badjson_after = to_count(d); }
    else if (ieq(k, kl, "hang_after")) { if (num) sc->hang_after = to_count(d); }
    else if (ieq(k, kl, "hang")) sc->hang_after = flag ? 0 : -1;
    else if (ieq(k, kl, "tag")) {
        if (*v)
            scopy(sc->tag, sizeof sc->tag, v);
    }
    else if (ieq(k, kl, "calls")) {
        if (num && d >= 0) sc->calls = d > MAX_CALLS ? MAX_CALLS : (long)d;
    }
    else if (ieq(k, kl, "rounds")) { if (num && d >= 0) sc->rounds = to_count(d); }
    else if (ieq(k, kl, "argsplit")) { if (num) sc->argsplit = d > 0 ? to_count(d) : 0; }
    else if (ieq(k, kl, "interleave")) sc->interleave = flag;
    else if (ieq(k, kl, "calls_if")) scopy(sc->calls_if, sizeof sc->calls_if, v);
    else if (ieq(k, kl, "tool")) {
        if (*v) {
            scopy(sc->tool, sizeof sc->tool, v);
            sc->has_tool = 1;
        }
    }
    else if (ieq(k, kl, "args")) {
        scopy(sc->args, sizeof sc->args, v);
        sc->has_args = 1;
    }
    else if (ieq(k, kl, "text_before")) scopy(sc->text_before, sizeof sc->text_before, v);
    /* unknown keys are ignored */
}

static void scen_apply(scen_t *sc, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i, ks, ke, vs, ve;
        const char *eq;
        char val[2048];
        while (j < n && s[j] != ',')
            j++;
        eq = memchr(s + i, '=', j - i);
        ks = i;
        ke = eq ? (size_t)(eq - s) : j;
        while (ks < ke && is_ws(s[ks])) ks++;
        while (ke > ks && is_ws(s[ke - 1])) ke--;
        if (ke > ks) {
            if (eq) {
                vs = (size_t)(eq - s) + 1;
                ve = j;
                while (vs < ve && is_ws(s[vs])) vs++;
                while (ve > vs && is_ws(s[ve - 1])) ve--;
                pct_decode(s + vs, ve - vs, val, sizeof val, 0);
            } else {
                strcpy(val, "1");
            }
            scen_set(sc, s + ks, ke - ks, val);
        }
        i = j + 1;
    }
}

/* ------------------------------------------------------------------ */
/* connections and streams                                             */

enum { C_READ, C_BUSY, C_CLOSING, C_DRAIN };
enum {
    PH_START, PH_TOKEN, PH_FINISH, PH_END, PH_CLOSE, PH_HANG, PH_IDLE,
    PH_STATUS, PH_NS_RESPOND
};
enum { CK_SIZE, CK_DATA, CK_CRLF, CK_TRAILER };

typedef struct { size_t off, len; } span_t;

typedef struct {
    span_t name, args;      /* into stream.xbuf */
} tcall_t;

typedef struct {
    unsigned call;          /* index of the call */
    int first;              /* the id/name fragment */
    size_t off, len;        /* argument piece, into the call's args */
} tfrag_t;

typedef struct stream {
    scen_t sc;
    int is_stream;
    int phase;
    int open;           /* counted in streams_open */
    int kick;           /* wants to continue as soon as writable */
    long k;             /* content tokens sent */
    uint64_t wait_ns;   /* wait before the next step */
    long prompt_tokens;
    unsigned long id;
    long long created;
    char *model;
    const char *eol;
    size_t eol_len;
    buf_t tokpre, toksuf, common, ev, tok;
    buf_t pend;         /* split mode: queued event bytes */
    size_t pend_pos, *uends, nunits, capunits, ucur;
    char *echo;         /* echo words */
    size_t *wofs, *wlen, nwords;
    /* tool calling: either tool calls out, or a text about tool results */
    int toolmode;       /* answer with tool calls */
    long round;         /* 1-based round number, for call ids */
    buf_t xbuf;         /* names, arguments, tool result texts */
    tcall_t *calls;
    size_t ncalls;
    tfrag_t *frags;
    size_t nfrags;
    span_t *tres;       /* tool result texts (text answer) */
    size_t ntres;
    tagrec *tag;
    reqrec *rec;
} stream_t;

typedef struct conn {
    int fd;
    uint32_t ev;
    int state;
    int dead, eof, close_after_flush, abrupt, linger;
    buf_t in, out;
    size_t out_off;
    long hidx;
    uint64_t deadline;
    /* request being parsed */
    int hdr_done;
    size_t hdr_len, scan;
    char method[16];
    char *target;
    int minor;
    long long clen;
    int chunked, keepalive, expect100, sent100;
    char *auth;
    int ck_state;
    size_t ck_pos, ck_rem;
    buf_t body;
    int resp_chunked;
    stream_t *st;
    int tool_wait;      /* a delayed /_fake/tool answer is in tool_resp */
    buf_t tool_resp;
    struct conn *dead_next;
} conn;

static int g_ep = -1, g_lfd = -1, g_sfd = -1, g_reserve_fd = -1, g_quiet;
static pid_t g_parent;
static unsigned long g_next_id;
static conn *g_dead;
static char g_listen_tag, g_signal_tag;
static struct {
    unsigned long long conns_open, conns_total, streams_open, tokens, requests;
} g_stats;

/* ---- timer heap ---- */
static conn **g_heap;
static size_t g_heap_n, g_heap_cap;

static void heap_set(size_t i, conn *c)
{
    g_heap[i] = c;
    c->hidx = (long)i;
}

static void heap_up(size_t i)
{
    conn *c = g_heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (g_heap[p]->deadline <= c->deadline)
            break;
        heap_set(i, g_heap[p]);
        i = p;
    }
    heap_set(i, c);
}

static void heap_down(size_t i)
{
    conn *c = g_heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m;
        if (l >= g_heap_n)
            break;
        m = (r < g_heap_n && g_heap[r]->deadline < g_heap[l]->deadline) ? r : l;
        if (g_heap[m]->deadline >= c->deadline)
            break;
        heap_set(i, g_heap[m]);
        i = m;
    }
    heap_set(i, c);
}

static void timer_clear(conn *c)
{
    size_t i;
    conn *last;
    if (c->hidx < 0)
        return;
    i = (size_t)c->hidx;
    c->hidx = -1;
    last = g_heap[--g_heap_n];
    if (i == g_heap_n)
        return;
    heap_set(i, last);
    heap_up(i);
    heap_down((size_t)last->hidx);
}

static void timer_set(conn *c, uint64_t deadline)
{
    timer_clear(c);
    if (g_heap_n == g_heap_cap) {
        size_t nc = g_heap_cap ? g_heap_cap * 2 : 1024;
        conn **nh = realloc(g_heap, nc * sizeof *nh);
        if (!nh) die("realloc");
        g_heap = nh;
        g_heap_cap = nc;
    }
    c->deadline = deadline;
    heap_set(g_heap_n, c);
    g_heap_n++;
    heap_up(g_heap_n - 1);
}

/* ---- output ---- */

static void out_reserve(conn *c, size_t n)
{
    if (c->out_off) {
        if (c->out_off == c->out.len) {
            c->out_off = c->out.len = 0;
        } else if (c->out.len + n > c->out.cap && c->out_off * 2 >= c->out.len) {
            memmove(c->out.p, c->out.p + c->out_off, c->out.len - c->out_off);
            c->out.len -= c->out_off;
            c->out_off = 0;
        }
    }
    buf_reserve(&c->out, n);
}

static void out_add(conn *c, const void *p, size_t n)
{
    out_reserve(c, n);
    memcpy(c->out.p + c->out.len, p, n);
    c->out.len += n;
}

static void out_adds(conn *c, const char *s)
{
    out_add(c, s, strlen(s));
}

static size_t out_pending(const conn *c)
{
    return c->out.len - c->out_off;
}

/* one HTTP chunk (or raw bytes when the response is not chunked) */
static void out_chunk(conn *c, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char hdr[24];
    size_t h = 0;
    int shift;
    if (n == 0)
        return;
    if (!c->resp_chunked) {
        out_add(c, p, n);
        return;
    }
    for (shift = 60; shift > 0 && ((n >> shift) & 15) == 0; shift -= 4)
        ;
    for (; shift >= 0; shift -= 4)
        hdr[h++] = hex[(n >> shift) & 15];
    hdr[h++] = '\r';
    hdr[h++] = '\n';
    out_reserve(c, h + n + 2);
    memcpy(c->out.p + c->out.len, hdr, h);
    memcpy(c->out.p + c->out.len + h, p, n);
    memcpy(c->out.p + c->out.len + h + n, "\r\n", 2);
    c->out.len += h + n + 2;
}

/* ---- stream record helpers ---- */

static void stream_free(stream_t *s)
{
    if (!s)
        return;
    buf_free(&s->tokpre);
    buf_free(&s->toksuf);
    buf_free(&s->common);
    buf_free(&s->ev);
    buf_free(&s->tok);
    buf_free(&s->pend);
    free(s->uends);
    free(s->echo);
    free(s->wofs);
    free(s->wlen);
    buf_free(&s->xbuf);
    free(s->calls);
    free(s->frags);
    free(s->tres);
    free(s->model);
    rec_unref(s->rec);
    tag_unref(s->tag);
    free(s);
}

static void rec_end(stream_t *s, int state)
{
    if (s->open) {
        s->open = 0;
        s->tag->streams_open--;
        g_stats.streams_open--;
    }
    s->rec->state = state;
    s->rec->ended = wall_now();
}

static void rec_tokens(stream_t *s, long n)
{
    double now = wall_now();
    s->k += n;
    s->rec->tokens += n;
    s->tag->tokens_sent += (unsigned long long)n;
    g_stats.tokens += (unsigned long long)n;
    if (!s->rec->first)
        s->rec->first = now;
    s->rec->last = now;
}

/* ---- closing ---- */

static void conn_close(conn *c, int rstate)
{
    if (c->dead)
        return;
    if (c->st) {
        rec_end(c->st, rstate);
        stream_free(c->st);
        c->st = NULL;
    }
    timer_clear(c);
    close(c->fd);
    c->fd = -1;
    c->dead = 1;
    c->dead_next = g_dead;
    g_dead = c;
    g_stats.conns_open--;
}

static void conn_free(conn *c)
{
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->body);
    buf_free(&c->tool_resp);
    free(c->target);
    free(c->auth);
    free(c);
}

static void update_interest(conn *c)
{
    uint32_t want = 0;
    if (c->dead)
        return;
    if (!c->eof)
        want |= EPOLLIN | EPOLLRDHUP;
    if (c->state != C_DRAIN &&
        (out_pending(c) || (c->st && c->st->kick)))
        want |= EPOLLOUT;
    if (want != c->ev) {
        struct epoll_event e;
        memset(&e, 0, sizeof e);
        e.events = want;
        e.data.ptr = c;
        if (epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
            c->ev = want;
    }
}

static void conn_flush(conn *c)
{
    if (c->dead || c->state == C_DRAIN)
        return;
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off,
                         MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        conn_close(c, RS_PEER_CLOSED);
        return;
    }
    c->out_off = c->out.len = 0;
    if (c->close_after_flush) {
        if (c->linger && !c->abrupt && !c->eof) {
            /* let the peer read our error response before the FIN/RST */
            shutdown(c->fd, SHUT_WR);
            c->state = C_DRAIN;
            c->close_after_flush = 0;
            timer_set(c, mono_ns() + LINGER_NS);
            update_interest(c);
        } else {
            conn_close(c, RS_SERVER_CLOSED);
        }
    }
}

/* ------------------------------------------------------------------ */
/* simple responses                                                    */

static const char *reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

static void send_simple(conn *c, int code, const char *ctype,
                        const char *body, size_t blen, const char *extra)
{
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: no-cache\r\n"
                     "Connection: %s\r\n"
                     "%s"
                     "\r\n",
                     code, reason(code), ctype, blen,
                     c->keepalive ? "keep-alive" : "close", extra ? extra : "");
    out_add(c, hdr, (size_t)n);
    out_add(c, body, blen);
    if (!c->keepalive)
        c->close_after_flush = 1;
}

static void send_json(conn *c, int code, const char *json, const char *extra)
{
    send_simple(c, code, "application/json", json, strlen(json), extra);
}

static void send_oai_error(conn *c, int code, const char *msg, const char *type,
                           const char *ecode, const char *extra)
{
    buf_t b = {0};
    buf_adds(&b, "{\"error\":{\"message\":");
    buf_json_str(&b, msg);
    buf_adds(&b, ",\"type\":");
    buf_json_str(&b, type);
    buf_adds(&b, ",\"param\":null,\"code\":");
    if (ecode)
        buf_json_str(&b, ecode);
    else
        buf_adds(&b, "null");
    buf_adds(&b, "}}\n");
    send_simple(c, code, "application/json", b.p, b.len, extra);
    buf_free(&b);
}

/* protocol error: answer and close (lingering so the answer survives) */
static void send_error_close(conn *c, int code, const char *msg)
{
    c->keepalive = 0;
    c->linger = 1;
    send_oai_error(c, code, msg, "invalid_request_error", NULL, NULL);
    c->state = C_CLOSING;
    c->close_after_flush = 1;
}

/* ------------------------------------------------------------------ */
/* the API                                                             */

static const char *const UTF8_TOKS[] = {
    /* grüße→😀 */
    "gr" "\xC3\xBC" "\xC3\x9F" "e" "\xE2\x86\x92" "\xF0\x9F\x98\x80" " ",
    /* naïve€🎉 */
    "na" "\xC3\xAF" "ve" "\xE2\x82\xAC" "\xF0\x9F\x8E\x89" " ",
    /* 日本é🚀 */
    "\xE6\x97\xA5" "\xE6\x9C\xAC" "\xC3\xA9" "\xF0\x9F\x9A\x80" " ",
};

/* the demo's answer, one word per token, so a newcomer sees streaming */
static const char *const DEMO_WORDS[] = {
    "Hello!", "This", "answer", "comes", "from", "the", "fake", "upstream,",
    "one", "word", "per", "token,", "relayed", "by", "mod_sse_assistant",
    "inside", "httpd:", "no", "PHP,", "no", "buffering,", "no", "worker",
    "per", "stream", "in", "an", "interpreter.", "Point",
    "SSEAssistantUpstream", "at", "OpenAI,", "Ollama,", "llama.cpp", "or",
    "vLLM", "to", "talk", "to", "a", "real", "model.",
};

/* text of token i (1-based) into s->tok */
static void token_text(stream_t *s, long i)
{
    s->tok.len = 0;
    if (s->sc.stamp) {
        buf_add(&s->tok, "[", 1);
        buf_u64(&s->tok, mono_ns());
        buf_add(&s->tok, "]", 1);
    } else if (s->sc.echo && s->nwords) {
        size_t w = (size_t)(i - 1) % s->nwords;
        buf_add(&s->tok, s->echo + s->wofs[w], s->wlen[w]);
        buf_add(&s->tok, " ", 1);
    } else if (s->sc.has_text) {
        buf_adds(&s->tok, s->sc.text);
    } else if (s->sc.utf8) {
        buf_adds(&s->tok, UTF8_TOKS[(size_t)(i - 1) % 3]);
    } else if (s->sc.demo && !s->ntres) {
        size_t nw = sizeof(DEMO_WORDS) / sizeof(DEMO_WORDS[0]);
        buf_adds(&s->tok, DEMO_WORDS[(size_t)(i - 1) % nw]);
        buf_add(&s->tok, " ", 1);
    } else if (s->ntres) {
        /* "Tool results: ", each tool message content, " Done." */
        if (i <= 1) {
            buf_adds(&s->tok, "Tool results: ");
        } else if ((size_t)(i - 2) < s->ntres) {
            const span_t *sp = &s->tres[i - 2];
            buf_add(&s->tok, s->xbuf.p + sp->off, sp->len);
        } else {
            buf_adds(&s->tok, " Done.");
        }
    } else {
        buf_add(&s->tok, "tok", 3);
        buf_u64(&s->tok, (uint64_t)i);
        buf_add(&s->tok, " ", 1);
    }
}

static void emit_unit(conn *c, const char *p, size_t n)
{
    stream_t *s = c->st;
    if (s->sc.split <= 0) {
        out_chunk(c, p, n);
        return;
    }
    buf_add(&s->pend, p, n);
    if (s->nunits == s->capunits) {
        size_t nc = s->capunits ? s->capunits * 2 : 8;
        size_t *nu = realloc(s->uends, nc * sizeof *nu);
        if (!nu) die("realloc");
        s->uends = nu;
        s->capunits = nc;
    }
    s->uends[s->nunits++] = s->pend.len;
}

/* emit s->ev (a complete SSE block) preceded by a comment if asked */
static void emit_ev(conn *c)
{
    stream_t *s = c->st;
    if (s->sc.comments) {
        char cm[32];
        size_t n = 0;
        memcpy(cm, ": keep-alive", 12);
        n = 12;
        memcpy(cm + n, s->eol, s->eol_len);
        n += s->eol_len;
        memcpy(cm + n, s->eol, s->eol_len);
        n += s->eol_len;
        emit_unit(c, cm, n);
    }
    emit_unit(c, s->ev.p, s->ev.len);
}

static void ev_begin(stream_t *s)
{
    s->ev.len = 0;
    buf_add(&s->ev, "data: ", 6);
}

static void ev_end(conn *c)
{
    stream_t *s = c->st;
    buf_add(&s->ev, s->eol, s->eol_len);
    buf_add(&s->ev, s->eol, s->eol_len);
    emit_ev(c);
}

static void emit_piece(conn *c)
{
    stream_t *s = c->st;
    size_t end = s->uends[s->ucur];
    size_t n = end - s->pend_pos;
    if (n > (size_t)s->sc.split)
        n = (size_t)s->sc.split;
    out_chunk(c, s->pend.p + s->pend_pos, n);
    s->pend_pos += n;
    if (s->pend_pos == end)
        s->ucur++;
    if (s->pend_pos >= s->pend.len) {
        s->pend.len = s->pend_pos = 0;
        s->nunits = s->ucur = 0;
    }
}

static void request_done(conn *c, int rstate)
{
    stream_t *s = c->st;
    rec_end(s, rstate);
    stream_free(s);
    c->st = NULL;
    c->state = C_READ;
    if (!c->keepalive)
        c->close_after_flush = 1;
}

static void server_close(conn *c)
{
    rec_end(c->st, RS_SERVER_CLOSED);
    stream_free(c->st);
    c->st = NULL;
    c->state = C_CLOSING;
    c->close_after_flush = 1;
    c->abrupt = 1;
}

static void after_tokens(conn *c, long k)
{
    stream_t *s = c->st;
    if (s->sc.badjson_after == k) {
        s->ev.len = 0;
        buf_adds(&s->ev, "data: {\"choices\":[{\"delta\":{\"content\":");
        ev_end(c);
    }
    if (s->sc.close_after == k) {
        s->phase = PH_CLOSE;
        return;
    }
    if (s->sc.error_after == k) {
        ev_begin(s);
        buf_adds(&s->ev, "{\"error\": {\"message\": \"The server had an error while "
                         "processing your request. Sorry about that!\", "
                         "\"type\": \"server_error\"}}");
        ev_end(c);
        s->phase = PH_END;
        return;
    }
    if (s->sc.hang_after == k) {
        s->phase = PH_HANG;
        return;
    }
    if (k >= s->sc.tokens) {
        s->phase = PH_FINISH;
        return;
    }
    s->phase = PH_TOKEN;
    s->wait_ns = k == 0 ? s->sc.first_delay_ns : s->sc.delay_ns;
}

static void send_status_error(conn *c)
{
    stream_t *s = c->st;
    int code = s->sc.status;
    char msg[64];
    const char *m, *type, *ecode = NULL, *extra = NULL;
    if (s->sc.plain) {
        static const char txt[] = "upstream exploded";
        send_simple(c, code, "text/plain", txt, sizeof txt - 1,
                    code == 429 ? "Retry-After: 20\r\n" : NULL);
        return;
    }
    switch (code) {
    case 401:
        m = "Incorrect API key provided: sk-fake***. You can find your API key "
            "at https://platform.openai.com/account/api-keys.";
        type = "invalid_request_error";
        ecode = "invalid_api_key";
        break;
    case 429:
        m = "Rate limit reached for requests. Please try again in 20s.";
        type = "requests";
        ecode = "rate_limit_exceeded";
        extra = "Retry-After: 20\r\n";
        break;
    case 500:
        m = "The server had an error while processing your request. Sorry about that!";
        type = "server_error";
        break;
    case 503:
        m = "The engine is currently overloaded, please try again later";
        type = "server_error";
        break;
    default:
        snprintf(msg, sizeof msg, "fake error %d", code);
        m = msg;
        type = "api_error";
    }
    send_oai_error(c, code, m, type, ecode, extra);
}

/* non-streaming answer with tool calls */
static json_t *ns_tool_response(stream_t *s)
{
    json_t *arr = json_array(), *fin, *content;
    size_t i;
    char id[48];
    if (!arr)
        return NULL;
    for (i = 0; i < s->ncalls; i++) {
        const tcall_t *tc = &s->calls[i];
        json_t *one;
        snprintf(id, sizeof id, "call_fake%ld_%zu", s->round, i);
        one = json_pack("{s:s, s:s, s:{s:s%, s:s%}}",
                        "id", id,
                        "type", "function",
                        "function",
                        "name", s->xbuf.p + tc->name.off, tc->name.len,
                        "arguments", s->xbuf.p + tc->args.off, tc->args.len);
        if (!one || json_array_append_new(arr, one) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    fin = strcmp(s->sc.finish, "null") == 0 ? json_null() : json_string(s->sc.finish);
    if (!fin)
        fin = json_string("tool_calls");
    content = s->sc.text_before[0] ? json_string(s->sc.text_before) : json_null();
    if (!content)
        content = json_null();
    snprintf(id, sizeof id, "chatcmpl-fake%lu", s->id);
    return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:o, s:o, s:n}, s:n, s:o}],"
                     " s:{s:I, s:I, s:I}, s:n}",
                     "id", id,
                     "object", "chat.completion",
                     "created", (json_int_t)s->created,
                     "model", s->model,
                     "choices",
                     "index", 0,
                     "message", "role", "assistant",
                     "content", content,
                     "tool_calls", arr,
                     "refusal",
                     "logprobs",
                     "finish_reason", fin,
                     "usage",
                     "prompt_tokens", (json_int_t)s->prompt_tokens,
                     "completion_tokens", (json_int_t)s->sc.tokens,
                     "total_tokens", (json_int_t)(s->prompt_tokens + s->sc.tokens),
                     "system_fingerprint");
}

static void ns_respond(conn *c)
{
    stream_t *s = c->st;
    buf_t content = {0};
    json_t *o, *fin;
    char *dump;
    long i;

    if (s->sc.hang_after >= 0) {
        s->phase = PH_HANG;
        return;
    }
    if (s->sc.close_after >= 0) {
        s->phase = PH_CLOSE;
        return;
    }
    if (s->toolmode) {
        o = ns_tool_response(s);
        goto respond;
    }
    for (i = 1; i <= s->sc.tokens; i++) {
        token_text(s, i);
        buf_add(&content, s->tok.p, s->tok.len);
    }
    fin = strcmp(s->sc.finish, "null") == 0 ? json_null() : json_string(s->sc.finish);
    if (!fin)
        fin = json_string("stop");
    {
        char id[48];
        snprintf(id, sizeof id, "chatcmpl-fake%lu", s->id);
        o = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s%, s:n}, s:n, s:o}],"
                      " s:{s:I, s:I, s:I}, s:n}",
                      "id", id,
                      "object", "chat.completion",
                      "created", (json_int_t)s->created,
                      "model", s->model,
                      "choices",
                      "index", 0,
                      "message", "role", "assistant",
                      "content", content.p ? content.p : "", content.len,
                      "refusal",
                      "logprobs",
                      "finish_reason", fin,
                      "usage",
                      "prompt_tokens", (json_int_t)s->prompt_tokens,
                      "completion_tokens", (json_int_t)s->sc.tokens,
                      "total_tokens", (json_int_t)(s->prompt_tokens + s->sc.tokens),
                      "system_fingerprint");
    }
    buf_free(&content);
respond:
    dump = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!dump) {
        send_oai_error(c, 500, "fake-openai could not build the response",
                       "server_error", NULL, NULL);
        request_done(c, RS_FINISHED);
        return;
    }
    send_json(c, 200, dump, NULL);
    free(dump);
    if (s->sc.tokens > 0)
        rec_tokens(s, s->sc.tokens);
    request_done(c, RS_FINISHED);
}

static void write_stream_headers(conn *c)
{
    stream_t *s = c->st;
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 200 OK\r\n"
                     "Content-Type: text/event-stream\r\n"
                     "%s"
                     "Cache-Control: no-cache\r\n"
                     "Connection: %s\r\n"
                     "X-Request-Id: req_fake%lu\r\n"
                     "\r\n",
                     c->resp_chunked ? "Transfer-Encoding: chunked\r\n" : "",
                     c->keepalive ? "keep-alive" : "close", s->id);
    out_add(c, hdr, (size_t)n);
}

/* one tool-calling unit: the text_before token or a tool_calls fragment */
static void tool_unit(conn *c)
{
    stream_t *s = c->st;
    size_t u = (size_t)s->k;
    const tfrag_t *f;
    const tcall_t *tc;
    if (s->sc.text_before[0]) {
        if (u == 0) {
            s->ev.len = 0;
            buf_add(&s->ev, s->tokpre.p, s->tokpre.len);
            buf_json_esc(&s->ev, s->sc.text_before, strlen(s->sc.text_before));
            buf_add(&s->ev, s->toksuf.p, s->toksuf.len);
            emit_ev(c);
            return;
        }
        u--;
    }
    if (u >= s->nfrags)
        return;
    f = &s->frags[u];
    tc = &s->calls[f->call];
    ev_begin(s);
    buf_add(&s->ev, s->common.p, s->common.len);
    buf_adds(&s->ev, "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":");
    buf_u64(&s->ev, f->call);
    if (f->first) {
        buf_adds(&s->ev, ",\"id\":\"call_fake");
        buf_u64(&s->ev, (uint64_t)s->round);
        buf_add(&s->ev, "_", 1);
        buf_u64(&s->ev, f->call);
        buf_adds(&s->ev, "\",\"type\":\"function\",\"function\":{\"name\":\"");
        buf_json_esc(&s->ev, s->xbuf.p + tc->name.off, tc->name.len);
        buf_adds(&s->ev, "\",\"arguments\":\"\"}}");
    } else {
        buf_adds(&s->ev, ",\"function\":{\"arguments\":\"");
        buf_json_esc(&s->ev, s->xbuf.p + tc->args.off + f->off, f->len);
        buf_adds(&s->ev, "\"}}");
    }
    buf_adds(&s->ev, "]},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}");
    ev_end(c);
}

static void step(conn *c)
{
    stream_t *s = c->st;
    switch (s->phase) {
    case PH_STATUS:
        send_status_error(c);
        request_done(c, RS_FINISHED);
        return;
    case PH_NS_RESPOND:
        ns_respond(c);
        return;
    case PH_START:
        write_stream_headers(c);
        if (s->sc.filter) {
            ev_begin(s);
            buf_adds(&s->ev, "{\"id\":\"\",\"object\":\"\",\"created\":0,\"model\":\"\","
                             "\"choices\":[],\"prompt_filter_results\":[]}");
            ev_end(c);
        }
        ev_begin(s);
        buf_add(&s->ev, s->common.p, s->common.len);
        if (s->toolmode)
            buf_adds(&s->ev, "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                             "\"content\":null},\"logprobs\":null,"
                             "\"finish_reason\":null}],\"usage\":null}");
        else
            buf_adds(&s->ev, "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                             "\"content\":\"\",\"refusal\":null},\"logprobs\":null,"
                             "\"finish_reason\":null}],\"usage\":null}");
        ev_end(c);
        after_tokens(c, 0);
        return;
    case PH_TOKEN:
        if (s->toolmode) {
            tool_unit(c);
            rec_tokens(s, 1);
            after_tokens(c, s->k);
            return;
        }
        token_text(s, s->k + 1);
        s->ev.len = 0;
        buf_add(&s->ev, s->tokpre.p, s->tokpre.len);
        buf_json_esc(&s->ev, s->tok.p, s->tok.len);
        buf_add(&s->ev, s->toksuf.p, s->toksuf.len);
        emit_ev(c);
        rec_tokens(s, 1);
        after_tokens(c, s->k);
        return;
    case PH_FINISH:
        ev_begin(s);
        buf_add(&s->ev, s->common.p, s->common.len);
        buf_adds(&s->ev, "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                         "\"finish_reason\":");
        if (strcmp(s->sc.finish, "null") == 0)
            buf_adds(&s->ev, "null");
        else
            buf_json_str(&s->ev, s->sc.finish);
        buf_adds(&s->ev, "}],\"usage\":null}");
        ev_end(c);
        if (s->sc.usage) {
            ev_begin(s);
            buf_add(&s->ev, s->common.p, s->common.len);
            buf_printf(&s->ev, "\"choices\":[],\"usage\":{\"prompt_tokens\":%ld,"
                               "\"completion_tokens\":%ld,\"total_tokens\":%ld}}",
                       s->prompt_tokens, s->k, s->prompt_tokens + s->k);
            ev_end(c);
        }
        if (!s->sc.nodone) {
            ev_begin(s);
            buf_adds(&s->ev, "[DONE]");
            ev_end(c);
        }
        s->phase = PH_END;
        return;
    case PH_END:
        if (c->resp_chunked)
            out_add(c, "0\r\n\r\n", 5);
        request_done(c, RS_FINISHED);
        return;
    case PH_CLOSE:
        server_close(c);
        return;
    case PH_HANG:
        s->rec->state = RS_HUNG;
        s->rec->hung_at = wall_now();
        s->phase = PH_IDLE;
        return;
    case PH_IDLE:
    default:
        return;
    }
}

/* run the generator as far as it can go right now */
static void drive(conn *c)
{
    stream_t *s = c->st;
    int budget = DRIVE_BUDGET;
    if (!s)
        return;
    s->kick = 0;
    for (;;) {
        if (c->dead || c->st != s)
            return;
        if (c->hidx >= 0)
            return;             /* waiting for a timer */
        if (out_pending(c) >= OUT_HIWAT) {
            conn_flush(c);
            if (c->dead || out_pending(c) >= OUT_HIWAT)
                return;         /* EPOLLOUT resumes us */
        }
        if (budget-- <= 0) {
            s->kick = 1;        /* EPOLLOUT (writable) resumes us */
            return;
        }
        if (s->pend_pos < s->pend.len) {
            emit_piece(c);
            if (s->pend_pos < s->pend.len && s->sc.split_delay_ns) {
                timer_set(c, mono_ns() + s->sc.split_delay_ns);
                return;
            }
            continue;
        }
        if (s->wait_ns) {
            timer_set(c, mono_ns() + s->wait_ns);
            s->wait_ns = 0;
            return;
        }
        if (s->phase == PH_IDLE)
            return;
        step(c);
    }
}

/* the k-th usable function name in the request's tools (cycled) */
static const char *tool_name_at(json_t *tools, size_t k, size_t *len)
{
    size_t ix, nvalid = 0;
    json_t *t;
    json_array_foreach(tools, ix, t) {
        json_t *nm = json_object_get(json_object_get(t, "function"), "name");
        if (json_is_string(nm))
            nvalid++;
    }
    if (nvalid) {
        k %= nvalid;
        json_array_foreach(tools, ix, t) {
            json_t *nm = json_object_get(json_object_get(t, "function"), "name");
            if (!json_is_string(nm))
                continue;
            if (k-- == 0) {
                *len = json_string_length(nm);
                return json_string_value(nm);
            }
        }
    }
    *len = strlen("unknown_tool");
    return "unknown_tool";
}

/* end of the argument piece starting at off: k bytes, extended to a
 * UTF-8 character boundary; k <= 0 means everything */
static size_t arg_cut(const char *p, size_t len, size_t off, long k)
{
    size_t e;
    if (k <= 0 || (size_t)k >= len - off)
        return len;
    e = off + (size_t)k;
    while (e < len && ((unsigned char)p[e] & 0xC0) == 0x80)
        e++;
    return e;
}

/* prepares an answer with s->sc.calls tool calls */
static void tool_setup(stream_t *s, json_t *tools, long rounds_done)
{
    size_t n = (size_t)s->sc.calls, i, nf = 0, k = 0, *cur;
    s->toolmode = 1;
    s->round = rounds_done + 1;
    s->ncalls = n;
    s->calls = calloc(n, sizeof *s->calls);
    cur = malloc(n * sizeof *cur);
    if (!s->calls || !cur) die("calloc");
    for (i = 0; i < n; i++) {
        tcall_t *tc = &s->calls[i];
        const char *nm;
        size_t nl, off;
        if (s->sc.has_tool) {
            nm = s->sc.tool;
            nl = strlen(nm);
        } else {
            nm = tool_name_at(tools, i, &nl);
        }
        tc->name.off = s->xbuf.len;
        tc->name.len = nl;
        buf_add(&s->xbuf, nm, nl);
        tc->args.off = s->xbuf.len;
        if (s->sc.has_args)
            buf_adds(&s->xbuf, s->sc.args);
        else if (n > 1)
            buf_printf(&s->xbuf, "{\"city\":\"Berlin\",\"unit\":\"celsius\",\"n\":%zu}", i);
        else
            buf_adds(&s->xbuf, "{\"city\":\"Berlin\",\"unit\":\"celsius\"}");
        tc->args.len = s->xbuf.len - tc->args.off;
        nf++;                                   /* id/name fragment */
        for (off = 0; off < tc->args.len; nf++)
            off = arg_cut(s->xbuf.p + tc->args.off, tc->args.len, off, s->sc.argsplit);
    }
    s->frags = calloc(nf, sizeof *s->frags);
    if (!s->frags) die("calloc");
    s->nfrags = nf;
    for (i = 0; i < n; i++)
        cur[i] = SIZE_MAX;                      /* first fragment pending */
    i = 0;
    while (k < nf) {
        tcall_t *tc = &s->calls[i];
        if (cur[i] == SIZE_MAX || cur[i] < tc->args.len) {
            tfrag_t *f = &s->frags[k++];
            f->call = (unsigned)i;
            if (cur[i] == SIZE_MAX) {
                f->first = 1;
                cur[i] = 0;
            } else {
                size_t e = arg_cut(s->xbuf.p + tc->args.off, tc->args.len, cur[i],
                                   s->sc.argsplit);
                f->off = cur[i];
                f->len = e - cur[i];
                cur[i] = e;
            }
            if (!s->sc.interleave)
                continue;
        }
        i = (i + 1) % n;
    }
    free(cur);
    s->sc.tokens = (long)nf + (s->sc.text_before[0] ? 1 : 0);
    if (!s->sc.has_finish)
        strcpy(s->sc.finish, "tool_calls");
}

/* text of a message's content: string verbatim, text parts joined by a
 * space, anything else as compact JSON */
static void content_text(buf_t *b, json_t *content)
{
    if (json_is_string(content)) {
        buf_add(b, json_string_value(content), json_string_length(content));
    } else if (json_is_array(content)) {
        size_t jx, start = b->len;
        json_t *part;
        json_array_foreach(content, jx, part) {
            json_t *t = json_object_get(part, "text");
            if (json_is_string(t)) {
                if (b->len > start)
                    buf_add(b, " ", 1);
                buf_add(b, json_string_value(t), json_string_length(t));
            }
        }
    } else if (content && !json_is_null(content)) {
        char *d = json_dumps(content, JSON_COMPACT | JSON_ENCODE_ANY);
        if (d) {
            buf_adds(b, d);
            free(d);
        }
    }
}

/* prepares the "Tool results: ..." text answer */
static void tres_setup(stream_t *s, json_t *msgs, size_t start, size_t ntool)
{
    size_t ix;
    s->tres = calloc(ntool, sizeof *s->tres);
    if (!s->tres) die("calloc");
    for (ix = start; ix < json_array_size(msgs) && s->ntres < ntool; ix++) {
        json_t *m = json_array_get(msgs, ix);
        json_t *role = json_object_get(m, "role");
        span_t *sp;
        if (!json_is_string(role) || strcmp(json_string_value(role), "tool") != 0)
            continue;
        sp = &s->tres[s->ntres++];
        sp->off = s->xbuf.len;
        content_text(&s->xbuf, json_object_get(m, "content"));
        sp->len = s->xbuf.len - sp->off;
    }
    s->sc.tokens = (long)s->ntres + 2;
}

/* builds the stream object for an API request */
static void api_request(conn *c, const char *body, size_t blen)
{
    json_error_t jerr;
    json_t *root, *msgs, *m, *so;
    const char *model = "", *colon;
    scen_t sc;
    stream_t *s;
    buf_t last = {0}, one = {0};
    const char *echo_p = NULL;
    size_t echo_n = 0, ix, last_user = 0, ntools, ntool_msgs = 0;
    long prompt = 0, rounds_done = 0;
    int is_stream, include_usage = 0, have_user = 0, toolmode = 0;
    json_t *tools;

    root = json_loadb(body, blen, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        send_oai_error(c, 400, "We could not parse the JSON body of your request.",
                       "invalid_request_error", NULL, NULL);
        return;
    }
    if (json_is_string(json_object_get(root, "model")))
        model = json_string_value(json_object_get(root, "model"));
    is_stream = json_is_true(json_object_get(root, "stream"));
    so = json_object_get(root, "stream_options");
    if (json_is_object(so) && json_is_true(json_object_get(so, "include_usage")))
        include_usage = 1;

    scen_defaults(&sc);
    colon = strchr(model, ':');
    if (colon)
        scen_apply(&sc, colon + 1, strlen(colon + 1));

    msgs = json_object_get(root, "messages");
    if (json_is_array(msgs)) {
        json_array_foreach(msgs, ix, m) {
            json_t *content = json_object_get(m, "content");
            json_t *role = json_object_get(m, "role");
            one.len = 0;
            if (json_is_string(content)) {
                buf_add(&one, json_string_value(content), json_string_length(content));
            } else if (json_is_array(content)) {
                size_t jx;
                json_t *part;
                json_array_foreach(content, jx, part) {
                    json_t *t = json_object_get(part, "text");
                    if (json_is_string(t)) {
                        if (one.len)
                            buf_add(&one, " ", 1);
                        buf_add(&one, json_string_value(t), json_string_length(t));
                    }
                }
            }
            prompt += count_words(one.p, one.len);
            if (json_is_string(role) && strcmp(json_string_value(role), "user") == 0) {
                last.len = 0;
                buf_add(&last, one.p ? one.p : "", one.len);
                have_user = 1;
                last_user = ix;
            }
        }
    }
    if (have_user) {
        echo_p = last.p;
        echo_n = last.len;
        if (last.len > 6 && memcmp(last.p, "!fake", 5) == 0 && is_ws(last.p[5])) {
            size_t ps = 6, pe = 6;
            while (pe < last.len && !is_ws(last.p[pe]))
                pe++;
            scen_apply(&sc, last.p + ps, pe - ps);
            while (pe < last.len && is_ws(last.p[pe]))
                pe++;
            echo_p = last.p + pe;
            echo_n = last.len - pe;
        }
    }
    if (include_usage)
        sc.usage = 1;

    /* tool calling: what happened since the last user message */
    tools = json_object_get(root, "tools");
    ntools = json_is_array(tools) ? json_array_size(tools) : 0;
    if (json_is_array(msgs)) {
        for (ix = have_user ? last_user + 1 : 0; ix < json_array_size(msgs); ix++) {
            json_t *mm = json_array_get(msgs, ix);
            json_t *role = json_object_get(mm, "role");
            json_t *tcs = json_object_get(mm, "tool_calls");
            if (!json_is_string(role))
                continue;
            if (strcmp(json_string_value(role), "assistant") == 0 &&
                json_is_array(tcs) && json_array_size(tcs) > 0)
                rounds_done++;
            else if (strcmp(json_string_value(role), "tool") == 0)
                ntool_msgs++;
        }
    }
    toolmode = sc.calls > 0 && ntools > 0 && rounds_done < sc.rounds;
    /* calls_if=WORD: only prompts that mention WORD need the tool (demo) */
    if (toolmode && sc.calls_if[0]) {
        size_t wl = strlen(sc.calls_if), k;
        int found = 0;
        for (k = 0; !found && echo_p && k + wl <= echo_n; k++)
            found = strncasecmp(echo_p + k, sc.calls_if, wl) == 0;
        toolmode = found;
    }

    s = calloc(1, sizeof *s);
    if (!s) die("calloc");
    s->sc = sc;
    s->is_stream = is_stream;
    s->prompt_tokens = prompt;
    s->id = ++g_next_id;
    s->created = (long long)time(NULL);
    s->model = strdup(model);
    if (!s->model) die("strdup");
    s->eol = sc.crlf ? "\r\n" : "\n";
    s->eol_len = sc.crlf ? 2 : 1;

    if (sc.echo && echo_n) {
        size_t i = 0, cap = 0;
        s->echo = malloc(echo_n);
        if (!s->echo) die("malloc");
        memcpy(s->echo, echo_p, echo_n);
        while (i < echo_n) {
            size_t st;
            while (i < echo_n && is_ws(s->echo[i]))
                i++;
            if (i >= echo_n)
                break;
            st = i;
            while (i < echo_n && !is_ws(s->echo[i]))
                i++;
            if (s->nwords == cap) {
                cap = cap ? cap * 2 : 16;
                s->wofs = realloc(s->wofs, cap * sizeof *s->wofs);
                s->wlen = realloc(s->wlen, cap * sizeof *s->wlen);
                if (!s->wofs || !s->wlen) die("realloc");
            }
            s->wofs[s->nwords] = st;
            s->wlen[s->nwords] = i - st;
            s->nwords++;
        }
    }
    buf_free(&last);
    buf_free(&one);

    if (toolmode)
        tool_setup(s, tools, rounds_done);
    else if (ntool_msgs && !sc.stamp && !sc.echo && !sc.has_text && !sc.utf8)
        tres_setup(s, msgs, have_user ? last_user + 1 : 0, ntool_msgs);

    /* prebuilt JSON pieces */
    buf_printf(&s->common, "{\"id\":\"chatcmpl-fake%lu\",\"object\":\"chat.completion.chunk\","
                           "\"created\":%lld,\"model\":", s->id, s->created);
    buf_json_str(&s->common, model);
    buf_adds(&s->common, ",\"system_fingerprint\":null,");
    buf_add(&s->tokpre, "data: ", 6);
    buf_add(&s->tokpre, s->common.p, s->common.len);
    buf_adds(&s->tokpre, "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");
    buf_adds(&s->toksuf, "\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}");
    buf_add(&s->toksuf, s->eol, s->eol_len);
    buf_add(&s->toksuf, s->eol, s->eol_len);

    /* log record */
    s->tag = tag_touch(sc.tag);
    s->tag->refs++;
    s->tag->requests++;
    s->tag->streams_open++;
    s->open = 1;
    g_stats.streams_open++;
    g_stats.requests++;
    s->rec = calloc(1, sizeof *s->rec);
    if (!s->rec) die("calloc");
    s->rec->refs = 2;       /* stream + tag->last */
    s->rec->state = RS_STREAMING;
    s->rec->stream = is_stream;
    s->rec->id = s->id;
    s->rec->started = wall_now();
    if (c->auth) {
        s->rec->auth = strdup(c->auth);
        if (!s->rec->auth) die("strdup");
    }
    s->rec->body = root;    /* takes our reference */
    ring_push(&s->tag->bodies, json_incref(root));
    rec_unref(s->tag->last);
    s->tag->last = s->rec;

    c->st = s;
    c->state = C_BUSY;
    c->resp_chunked = c->minor >= 1;
    if (sc.status) {
        s->phase = PH_STATUS;
        s->wait_ns = sc.first_delay_ns;
    } else if (is_stream) {
        if (!c->resp_chunked)
            c->keepalive = 0;   /* HTTP/1.0: body ends with the connection */
        s->phase = PH_START;
    } else {
        s->phase = PH_NS_RESPOND;
        s->wait_ns = sc.first_delay_ns;
    }
}

/* ------------------------------------------------------------------ */
/* log endpoint                                                        */

static json_t *time_json(double t)
{
    return t ? json_real(t) : json_null();
}

/* value of query parameter key (the last one wins); 1 if present */
static int query_param(const char *query, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    int found = 0;
    const char *p = query;
    if (!p)
        return 0;
    while (*p) {
        const char *e = strchr(p, '&');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > kl && memcmp(p, key, kl) == 0 && p[kl] == '=') {
            pct_decode(p + kl + 1, n - kl - 1, out, cap, 1);
            found = 1;
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return found;
}

static void query_tag(const char *query, char *tag, size_t cap)
{
    scopy(tag, cap, "default");
    if (query_param(query, "tag", tag, cap) && !*tag)
        scopy(tag, cap, "default");
}

/* a log array, or an empty one */
static json_t *log_array(json_t *a)
{
    return a ? json_incref(a) : json_array();
}

static void log_request(conn *c, const char *query)
{
    char tag[256];
    tagrec *t;
    json_t *o;
    char *dump;

    query_tag(query, tag, sizeof tag);
    t = tag_find(tag);
    o = json_object();
    json_object_set_new(o, "tag", json_string(tag));
    if (!t) {
        json_object_set_new(o, "requests", json_integer(0));
        json_object_set_new(o, "bodies", json_array());
        json_object_set_new(o, "tool_requests", json_integer(0));
        json_object_set_new(o, "tool_bodies", json_array());
    } else {
        json_object_set_new(o, "requests", json_integer((json_int_t)t->requests));
        json_object_set_new(o, "streams_open", json_integer(t->streams_open));
        json_object_set_new(o, "tokens_sent", json_integer((json_int_t)t->tokens_sent));
        if (t->last) {
            reqrec *r = t->last;
            json_t *l = json_object();
            char id[48];
            snprintf(id, sizeof id, "chatcmpl-fake%lu", r->id);
            json_object_set_new(l, "state", json_string(rs_names[r->state]));
            json_object_set_new(l, "tokens_sent", json_integer(r->tokens));
            json_object_set_new(l, "started_at", time_json(r->started));
            json_object_set_new(l, "first_token_at", time_json(r->first));
            json_object_set_new(l, "last_token_at", time_json(r->last));
            json_object_set_new(l, "ended_at", time_json(r->ended));
            json_object_set_new(l, "hung_at", time_json(r->hung_at));
            json_object_set_new(l, "id", json_string(id));
            json_object_set_new(l, "stream", json_boolean(r->stream));
            json_object_set_new(l, "authorization",
                                r->auth ? json_string(r->auth) : json_null());
            if (!json_object_get(l, "authorization"))   /* invalid UTF-8 */
                json_object_set_new(l, "authorization", json_null());
            json_object_set(l, "body", r->body ? r->body : json_null());
            json_object_set_new(o, "last", l);
        } else {
            json_object_set_new(o, "last", json_null());
        }
        json_object_set_new(o, "bodies", log_array(t->bodies));
        json_object_set_new(o, "tool_requests",
                            json_integer((json_int_t)t->tool_requests));
        json_object_set_new(o, "tool_bodies", log_array(t->tool_bodies));
    }
    dump = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(16));
    json_decref(o);
    if (!dump) {
        send_json(c, 500, "{\"error\":{\"message\":\"log dump failed\",\"type\":\"server_error\",\"param\":null,\"code\":null}}", NULL);
        return;
    }
    send_json(c, 200, dump, NULL);
    free(dump);
}

static void stats_request(conn *c)
{
    char b[512];
    snprintf(b, sizeof b,
             "{\"connections_open\":%llu,\"connections_total\":%llu,"
             "\"streams_open\":%llu,\"requests\":%llu,\"tokens_sent\":%llu,"
             "\"tags\":%d}",
             g_stats.conns_open, g_stats.conns_total, g_stats.streams_open,
             g_stats.requests, g_stats.tokens, g_tag_count);
    send_json(c, 200, b, NULL);
}

/* ------------------------------------------------------------------ */
/* fake tools                                                          */

/* {"city":...,"temp_c":21,"sky":"sunny"} for a request body */
static void weather_json(buf_t *b, json_t *req)
{
    json_t *city = json_object_get(req, "city");
    buf_adds(b, "{\"city\":");
    if (json_is_string(city)) {
        buf_add(b, "\"", 1);
        buf_json_esc(b, json_string_value(city), json_string_length(city));
        buf_add(b, "\"", 1);
    } else {
        buf_adds(b, "\"unknown\"");
    }
    buf_adds(b, ",\"temp_c\":21,\"sky\":\"sunny\"}");
}

static void tool_request(conn *c, const char *name, const char *query,
                         const char *body, size_t blen)
{
    char tag[256], ms[64];
    tagrec *t;
    json_t *req;
    buf_t b = {0};

    query_tag(query, tag, sizeof tag);
    t = tag_touch(tag);
    t->tool_requests++;
    req = json_loadb(body, blen, JSON_DECODE_ANY, NULL);
    {
        json_t *logged = req ? json_incref(req) : json_stringn(body, blen);
        ring_push(&t->tool_bodies, logged ? logged : json_null());  /* bad UTF-8: null */
    }

    if (strcmp(name, "weather") == 0) {
        weather_json(&b, req);
        send_simple(c, 200, "application/json", b.p, b.len, NULL);
    } else if (strcmp(name, "echo") == 0) {
        send_simple(c, 200, "application/json", body, blen, NULL);
    } else if (strcmp(name, "fail") == 0) {
        send_json(c, 500, "{\"error\":\"weather service down\"}", NULL);
    } else if (strcmp(name, "text") == 0) {
        send_simple(c, 200, "text/plain", "not json at all", 15, NULL);
    } else if (strcmp(name, "slow") == 0) {
        double d = 0;
        uint64_t ns = 0;
        if (query_param(query, "ms", ms, sizeof ms) && parse_num(ms, &d))
            ns = ms_to_ns(d);
        weather_json(&b, req);
        if (ns) {
            c->tool_resp.len = 0;
            buf_add(&c->tool_resp, b.p, b.len);
            c->tool_wait = 1;
            c->state = C_BUSY;
            timer_set(c, mono_ns() + ns);
        } else {
            send_simple(c, 200, "application/json", b.p, b.len, NULL);
        }
    } else if (strcmp(name, "big") == 0) {
        size_t i;
        buf_reserve(&b, BIG_TOOL_LEN + 16);
        buf_adds(&b, "{\"data\":\"");
        for (i = 0; i < BIG_TOOL_LEN; i++)
            b.p[b.len + i] = (char)('a' + i % 26);
        b.len += BIG_TOOL_LEN;
        buf_adds(&b, "\"}");
        send_simple(c, 200, "application/json", b.p, b.len, NULL);
    } else {
        send_oai_error(c, 404, "Unknown fake tool", "invalid_request_error",
                       "not_found", NULL);
    }
    json_decref(req);
    buf_free(&b);
}

/* the delayed answer of /_fake/tool/slow, once its timer has fired */
static void tool_answer(conn *c)
{
    c->tool_wait = 0;
    c->state = C_READ;
    send_simple(c, 200, "application/json", c->tool_resp.p ? c->tool_resp.p : "",
                c->tool_resp.len, NULL);
    c->tool_resp.len = 0;
    if (c->tool_resp.cap > (1u << 20))
        buf_free(&c->tool_resp);
}

/* ------------------------------------------------------------------ */
/* HTTP request parsing                                                */

static void in_consume(conn *c, size_t n)
{
    if (n >= c->in.len) {
        c->in.len = 0;
    } else {
        memmove(c->in.p, c->in.p + n, c->in.len - n);
        c->in.len -= n;
    }
    c->scan = 0;
}

static void req_reset(conn *c)
{
    c->hdr_done = 0;
    c->hdr_len = 0;
    c->scan = 0;
    c->method[0] = 0;
    free(c->target);
    c->target = NULL;
    free(c->auth);
    c->auth = NULL;
    c->clen = 0;
    c->chunked = c->expect100 = c->sent100 = 0;
    c->ck_state = CK_SIZE;
    c->ck_pos = c->ck_rem = 0;
    c->body.len = 0;
    if (c->body.cap > (1u << 20))
        buf_free(&c->body);
}

/* parse the request head in c->in[0..hdr_len); returns 0 or an HTTP code */
static int parse_head(conn *c)
{
    char *p = c->in.p, *end = c->in.p + c->hdr_len;
    char *nl, *line, *sp1, *sp2, *ver;
    size_t ll;
    int have_cl = 0;

    nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return 400;
    line = p;
    ll = (size_t)(nl - p);
    if (ll && line[ll - 1] == '\r')
        ll--;
    line[ll] = 0;
    p = nl + 1;
    sp1 = strchr(line, ' ');
    if (!sp1 || (size_t)(sp1 - line) >= sizeof c->method || sp1 == line)
        return 400;
    memcpy(c->method, line, (size_t)(sp1 - line));
    c->method[sp1 - line] = 0;
    while (*sp1 == ' ')
        sp1++;
    sp2 = strchr(sp1, ' ');
    if (!sp2)
        return 400;
    *sp2 = 0;
    ver = sp2 + 1;
    while (*ver == ' ')
        ver++;
    if (strncmp(ver, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)ver[7]))
        return 400;
    c->minor = ver[7] - '0';
    c->keepalive = c->minor >= 1;
    c->target = strdup(sp1);
    if (!c->target) die("strdup");

    while (p < end) {
        char *colon, *v, *ve;
        size_t nlen;
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        line = p;
        ll = (size_t)(nl - p);
        p = nl + 1;
        if (ll && line[ll - 1] == '\r')
            ll--;
        if (ll == 0)
            break;
        line[ll] = 0;
        colon = memchr(line, ':', ll);
        if (!colon)
            continue;
        nlen = (size_t)(colon - line);
        v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        ve = line + ll;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            *--ve = 0;
        if (ieq(line, nlen, "content-length")) {
            char *e;
            long long n;
            errno = 0;
            n = strtoll(v, &e, 10);
            if (e == v || *e || errno || n < 0)
                return 400;
            if (have_cl && n != c->clen)
                return 400;
            have_cl = 1;
            c->clen = n;
        } else if (ieq(line, nlen, "transfer-encoding")) {
            if (strcasestr(v, "chunked"))
                c->chunked = 1;
        } else if (ieq(line, nlen, "connection")) {
            if (strcasestr(v, "close"))
                c->keepalive = 0;
            else if (strcasestr(v, "keep-alive"))
                c->keepalive = 1;
        } else if (ieq(line, nlen, "authorization")) {
            free(c->auth);
            c->auth = strdup(v);
            if (!c->auth) die("strdup");
        } else if (ieq(line, nlen, "expect")) {
            if (strcasecmp(v, "100-continue") == 0)
                c->expect100 = 1;
        }
    }
    if (c->chunked)
        c->clen = 0;
    return 0;
}

/* incremental chunked decoder; 1 = complete, 0 = need more, <0 = -HTTP code */
static int dechunk(conn *c)
{
    for (;;) {
        char *base = c->in.p;
        size_t len = c->in.len;
        char *nl;
        switch (c->ck_state) {
        case CK_SIZE: {
            size_t v = 0, i;
            int digits = 0;
            nl = c->ck_pos < len ? memchr(base + c->ck_pos, '\n', len - c->ck_pos) : NULL;
            if (!nl)
                return len - c->ck_pos > 4096 ? -400 : 0;
            for (i = c->ck_pos; base + i < nl && hexval(base[i]) >= 0; i++) {
                v = v * 16 + (size_t)hexval(base[i]);
                if (++digits > 8)
                    return -413;
            }
            if (!digits)
                return -400;
            c->ck_pos = (size_t)(nl - base) + 1;
            if (v == 0) {
                c->ck_state = CK_TRAILER;
            } else {
                if (c->body.len + v > MAX_BODY)
                    return -413;
                c->ck_rem = v;
                c->ck_state = CK_DATA;
            }
            break;
        }
        case CK_DATA: {
            size_t n = len - c->ck_pos;
            if (n > c->ck_rem)
                n = c->ck_rem;
            if (n == 0)
                return 0;
            buf_add(&c->body, base + c->ck_pos, n);
            c->ck_pos += n;
            c->ck_rem -= n;
            if (!c->ck_rem)
                c->ck_state = CK_CRLF;
            break;
        }
        case CK_CRLF:
            nl = c->ck_pos < len ? memchr(base + c->ck_pos, '\n', len - c->ck_pos) : NULL;
            if (!nl)
                return len - c->ck_pos > 2 ? -400 : 0;
            if (nl - (base + c->ck_pos) > 1)
                return -400;
            c->ck_pos = (size_t)(nl - base) + 1;
            c->ck_state = CK_SIZE;
            break;
        case CK_TRAILER: {
            size_t ll;
            nl = c->ck_pos < len ? memchr(base + c->ck_pos, '\n', len - c->ck_pos) : NULL;
            if (!nl)
                return len - c->ck_pos > 8192 ? -400 : 0;
            ll = (size_t)(nl - (base + c->ck_pos));
            c->ck_pos = (size_t)(nl - base) + 1;
            if (ll == 0 || (ll == 1 && nl[-1] == '\r'))
                return 1;
            break;
        }
        }
    }
}

static void dispatch(conn *c, const char *body, size_t blen)
{
    char *path = c->target, *q;
    const char *query = NULL;
    size_t pl;
    int get = strcmp(c->method, "GET") == 0;
    int post = strcmp(c->method, "POST") == 0;

    if (!g_quiet)
        fprintf(stderr, "fake-openai: %s %s\n", c->method, c->target);

    /* absolute-form: http://host/path */
    if (strncasecmp(path, "http://", 7) == 0 || strncasecmp(path, "https://", 8) == 0) {
        char *sl = strchr(strstr(path, "//") + 2, '/');
        path = sl ? sl : (char *)"/";
    }
    q = strchr(path, '?');
    if (q) {
        *q = 0;
        query = q + 1;
    }
    pl = strlen(path);
    if (post && pl >= 17 && strcmp(path + pl - 17, "/chat/completions") == 0) {
        api_request(c, body, blen);
    } else if (get && strcmp(path, "/_fake/health") == 0) {
        send_json(c, 200, "{\"ok\":true}", NULL);
    } else if (get && strcmp(path, "/_fake/log") == 0) {
        log_request(c, query);
    } else if (get && strcmp(path, "/_fake/stats") == 0) {
        stats_request(c);
    } else if (post && strcmp(path, "/_fake/reset") == 0) {
        tags_reset();
        send_json(c, 200, "{\"ok\":true}", NULL);
    } else if (post && strncmp(path, "/_fake/tool/", 12) == 0) {
        tool_request(c, path + 12, query, body, blen);
    } else {
        send_oai_error(c, 404, "Unknown route", "invalid_request_error", "not_found", NULL);
    }
}

/* 1 = a request was dispatched, 0 = need more input / stop */
static int parse_request(conn *c)
{
    const char *body;
    size_t blen, consumed;

    if (!c->hdr_done) {
        size_t skip = 0, from;
        char *e1, *e2, *e;
        int code;
        while (skip < c->in.len && (c->in.p[skip] == '\r' || c->in.p[skip] == '\n'))
            skip++;
        if (skip)
            in_consume(c, skip);
        if (!c->in.len)
            return 0;
        from = c->scan > 3 ? c->scan - 3 : 0;
        e1 = memmem(c->in.p + from, c->in.len - from, "\r\n\r\n", 4);
        e2 = memmem(c->in.p + from, c->in.len - from, "\n\n", 2);
        e = e1;
        if (e2 && (!e || e2 < e))
            e = e2;
        if (!e) {
            c->scan = c->in.len;
            if (c->in.len > MAX_HDR) {
                send_error_close(c, 431, "Request header fields too large");
                return 0;
            }
            return 0;
        }
        c->hdr_len = (size_t)(e - c->in.p) + (e == e1 ? 4 : 2);
        if (c->hdr_len > MAX_HDR) {
            send_error_close(c, 431, "Request header fields too large");
            return 0;
        }
        code = parse_head(c);
        if (code) {
            send_error_close(c, code, "Malformed request");
            return 0;
        }
        c->hdr_done = 1;
        if (!c->chunked && c->clen > (long long)MAX_BODY) {
            send_error_close(c, 413, "Request body too large (limit 4 MiB)");
            return 0;
        }
        if (c->chunked) {
            /* the head is no longer needed: drop it */
            in_consume(c, c->hdr_len);
            c->hdr_len = 0;
            c->ck_pos = 0;
        }
    }

    if (c->chunked) {
        int r = dechunk(c);
        in_consume(c, c->ck_pos);
        c->ck_pos = 0;
        if (r < 0) {
            send_error_close(c, -r, -r == 413 ? "Request body too large (limit 4 MiB)"
                                              : "Malformed chunked request body");
            return 0;
        }
        if (r == 0)
            goto need_more;
        body = c->body.p ? c->body.p : "";
        blen = c->body.len;
        consumed = 0;
    } else {
        if (c->in.len - c->hdr_len < (size_t)c->clen)
            goto need_more;
        body = c->in.p + c->hdr_len;
        blen = (size_t)c->clen;
        consumed = c->hdr_len + (size_t)c->clen;
    }
    dispatch(c, body, blen);
    in_consume(c, consumed);
    req_reset(c);
    return 1;

need_more:
    if (c->expect100 && !c->sent100) {
        c->sent100 = 1;
        out_adds(c, "HTTP/1.1 100 Continue\r\n\r\n");
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* event handling                                                      */

static void conn_read(conn *c)
{
    size_t total = 0;
    if (c->state == C_DRAIN) {
        static char sink[65536];
        for (;;) {
            ssize_t n = recv(c->fd, sink, sizeof sink, 0);
            if (n > 0) {
                total += (size_t)n;
                if (total > READ_BUDGET)
                    return;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            c->eof = 1;
            return;
        }
    }
    for (;;) {
        ssize_t n;
        if (c->in.len >= IN_HARD_MAX) {
            conn_close(c, RS_PEER_CLOSED);
            return;
        }
        buf_reserve(&c->in, 16384);
        n = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            total += (size_t)n;
            if (total >= READ_BUDGET)
                return;
            continue;
        }
        if (n == 0) {
            c->eof = 1;
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        c->eof = 1;
        return;
    }
}

static void conn_progress(conn *c)
{
    for (;;) {
        if (c->dead)
            return;
        if (c->state == C_READ && !c->close_after_flush) {
            if (parse_request(c))
                continue;
            break;
        }
        if (c->state == C_BUSY && c->tool_wait) {
            if (c->hidx >= 0)
                break;          /* the timer has not fired yet */
            tool_answer(c);
            continue;
        }
        if (c->state == C_BUSY) {
            drive(c);
            if (c->dead)
                return;
            if (c->state == C_READ)
                continue;
        }
        break;
    }
    if (c->eof && c->state != C_DRAIN) {
        if (c->st) {
            conn_close(c, RS_PEER_CLOSED);
            return;
        }
        c->close_after_flush = 1;
        c->linger = 0;
    }
    conn_flush(c);
    if (c->dead)
        return;
    update_interest(c);
}

static void conn_event(conn *c, uint32_t e)
{
    if (c->dead)
        return;
    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        conn_read(c);
        if (c->dead)
            return;
        if (c->state == C_DRAIN) {
            if (c->eof)
                conn_close(c, RS_SERVER_CLOSED);
            return;
        }
        if ((e & (EPOLLHUP | EPOLLERR)) && !c->eof)
            c->eof = 1;
    }
    if (e & EPOLLOUT) {
        conn_flush(c);
        if (c->dead)
            return;
    }
    conn_progress(c);
}

static void timer_fire(conn *c)
{
    if (c->dead)
        return;
    if (c->state == C_DRAIN) {
        conn_close(c, RS_SERVER_CLOSED);
        return;
    }
    conn_progress(c);
}

static void accept_all(void)
{
    int i;
    for (i = 0; i < 512; i++) {
        int one = 1, fd;
        conn *c;
        struct epoll_event e;
        fd = accept4(g_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE) && g_reserve_fd >= 0) {
                /* shed one connection so the listen queue does not spin */
                close(g_reserve_fd);
                fd = accept(g_lfd, NULL, NULL);
                if (fd >= 0)
                    close(fd);
                g_reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                fprintf(stderr, "fake-openai: out of file descriptors\n");
            }
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c = calloc(1, sizeof *c);
        if (!c) die("calloc");
        c->fd = fd;
        c->hidx = -1;
        c->state = C_READ;
        c->keepalive = 1;
        memset(&e, 0, sizeof e);
        e.events = EPOLLIN | EPOLLRDHUP;
        e.data.ptr = c;
        if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &e) < 0) {
            close(fd);
            free(c);
            continue;
        }
        c->ev = e.events;
        g_stats.conns_open++;
        g_stats.conns_total++;
    }
}

/* ------------------------------------------------------------------ */
/* main                                                                */

static void usage(void)
{
    fprintf(stderr,
            "usage: fake-openai [--listen ADDR] [--port N] [--print-port]\n"
            "                   [--parent-pid PID] [--quiet]\n");
    exit(2);
}

static int open_listener(const char *addr, const char *port)
{
    struct addrinfo hints, *res, *ai;
    int fd = -1, rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(addr, port, &hints, &res);
    if (rc) {
        fprintf(stderr, "fake-openai: %s: %s\n", addr, gai_strerror(rc));
        exit(1);
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1;
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        die("bind/listen");
    return fd;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1", *port = "0";
    int print_port = 0, i;
    struct rlimit rl;
    sigset_t mask;
    struct epoll_event e, evs[1024];
    uint64_t parent_next = 0;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--listen") == 0 && i + 1 < argc) addr = argv[++i];
        else if (strcmp(a, "--port") == 0 && i + 1 < argc) port = argv[++i];
        else if (strcmp(a, "--print-port") == 0) print_port = 1;
        else if (strcmp(a, "--parent-pid") == 0 && i + 1 < argc) g_parent = (pid_t)atol(argv[++i]);
        else if (strcmp(a, "--quiet") == 0) g_quiet = 1;
        else if (strncmp(a, "--listen=", 9) == 0) addr = a + 9;
        else if (strncmp(a, "--port=", 7) == 0) port = a + 7;
        else if (strncmp(a, "--parent-pid=", 13) == 0) g_parent = (pid_t)atol(a + 13);
        else usage();
    }
    {
        char *e2;
        long pn = strtol(port, &e2, 10);
        if (*e2 || pn < 0 || pn > 65535)
            usage();
    }

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    g_sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (g_sfd < 0)
        die("signalfd");
    g_reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    g_lfd = open_listener(addr, port);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0)
        die("epoll_create1");
    memset(&e, 0, sizeof e);
    e.events = EPOLLIN;
    e.data.ptr = &g_listen_tag;
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, g_lfd, &e) < 0)
        die("epoll_ctl");
    e.data.ptr = &g_signal_tag;
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, g_sfd, &e) < 0)
        die("epoll_ctl");

    {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int bound = 0;
        if (getsockname(g_lfd, (struct sockaddr *)&ss, &sl) == 0) {
            if (ss.ss_family == AF_INET)
                bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            else if (ss.ss_family == AF_INET6)
                bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
        if (print_port) {
            printf("%d\n", bound);
            fflush(stdout);
        }
        if (!g_quiet)
            fprintf(stderr, "fake-openai: listening on %s port %d\n", addr, bound);
    }

    if (g_parent > 0)
        parent_next = mono_ns() + 1000000000ull;

    for (;;) {
        uint64_t now = mono_ns();
        int timeout = -1, n, k;

        if (g_heap_n) {
            uint64_t d = g_heap[0]->deadline;
            timeout = d <= now ? 0 : (int)((d - now + 999999) / 1000000);
        }
        if (g_parent > 0) {
            int pt = parent_next <= now ? 0
                     : (int)((parent_next - now + 999999) / 1000000);
            if (timeout < 0 || pt < timeout)
                timeout = pt;
        }
        n = epoll_wait(g_ep, evs, (int)(sizeof evs / sizeof evs[0]), timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (k = 0; k < n; k++) {
            void *p = evs[k].data.ptr;
            if (p == &g_listen_tag) {
                accept_all();
            } else if (p == &g_signal_tag) {
                struct signalfd_siginfo si;
                if (read(g_sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                    if (!g_quiet)
                        fprintf(stderr, "fake-openai: signal %u, exiting\n", si.ssi_signo);
                    close(g_lfd);
                    return 0;
                }
            } else {
                conn_event((conn *)p, evs[k].events);
            }
        }
        now = mono_ns();
        while (g_heap_n && g_heap[0]->deadline <= now) {
            conn *c = g_heap[0];
            timer_clear(c);
            timer_fire(c);
        }
        if (g_parent > 0 && parent_next <= now) {
            parent_next = now + 1000000000ull;
            if (kill(g_parent, 0) < 0 && errno == ESRCH) {
                if (!g_quiet)
                    fprintf(stderr, "fake-openai: parent %ld gone, exiting\n",
                            (long)g_parent);
                close(g_lfd);
                return 0;
            }
        }
        while (g_dead) {
            conn *c = g_dead;
            g_dead = c->dead_next;
            conn_free(c);
        }
    }
}
