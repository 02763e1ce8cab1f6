/*
 * sse-bench -- load generator / latency meter for streaming HTTP responses
 * (Server-Sent Events relayed by mod_sse_assistant, mod_proxy_http, or the
 * fake OpenAI-compatible upstream directly).
 *
 * Build (warning-free):
 *   mkdir -p build && cc -std=c99 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -o build/sse-bench bench/sse_bench.c -lm
 *
 * Usage:
 *   sse-bench --url http://127.0.0.1:PORT/path?query
 *             [--method GET|POST] [--body STRING | --body-file F]
 *             [--header 'K: V']... --concurrency C [--requests R]
 *             [--ramp-ms MS] [--timeout-s S] [--first-token-deadline-ms D]
 *             [--json]
 *
 * Model:
 *   Single thread, one epoll instance, non-blocking sockets, HTTP/1.1, one
 *   request per connection ("Connection: close"; the response ends at EOF).
 *   At most C requests are in flight; when one ends the next one starts until
 *   R requests have been issued.  With --ramp-ms the first min(C,R) starts are
 *   spread evenly over MS milliseconds.
 *
 * Token stamps:
 *   The response body (after de-chunking, if the server used chunked
 *   transfer-encoding) is scanned for "[" + 10..20 decimal digits + "]".  The
 *   digits are a CLOCK_MONOTONIC timestamp in ns written by the upstream.  The
 *   scanner is a byte-wise state machine kept per connection, so a stamp split
 *   across reads (or chunks) is still matched.  For each match:
 *     per-token latency = CLOCK_MONOTONIC at the read that completed the
 *                         match - stamp.
 *   SSE / JSON are never parsed; only the bracketed digits matter.
 *
 * Per request:
 *   connect time   socket()/connect() start -> connection established
 *   TTFT           just before the first write of the request -> read that
 *                  completed the first stamp match (or, if that response had
 *                  no stamps at all, the read that delivered the first body
 *                  byte; the output says which basis was used)
 *   total time     connect start -> EOF
 *   tokens, HTTP status, bytes
 *
 * A request is "ok" when the status is 200 and the response ended at EOF
 * (and, if it was chunked / had a Content-Length, it was complete).
 * Failure reasons: connect, status (!= 200), timeout, reset, truncated,
 * bad_response, io_error, interrupted (SIGINT).
 * served_at_once = number of status-200 requests whose TTFT <= the
 * first-token deadline.
 * TTFT statistics cover every status-200 request that got a first token
 * (or byte); per-token latency statistics cover every token of every request.
 * Percentiles are exact nearest-rank over all stored samples (ns resolution).
 *
 * Exit code: 0 if every request was ok, 1 otherwise (stats are printed
 * anyway), 2 on usage / setup errors.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* small utilities                                                          */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("sse-bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die("out of memory");
    return q;
}

/* growable array of int64 samples (nanoseconds) */
struct vec {
    int64_t *v;
    size_t n, cap;
};

static void vec_push(struct vec *a, int64_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 1024;
        a->v = xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = x;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* nearest-rank percentile on a sorted array, p in (0,1] */
static int64_t pct(const struct vec *a, double p)
{
    size_t k = (size_t)ceil(p * (double)a->n);
    if (k < 1)
        k = 1;
    if (k > a->n)
        k = a->n;
    return a->v[k - 1];
}

/* ------------------------------------------------------------------------ */
/* configuration                                                            */

static struct {
    const char *url;
    char host_hdr[300];     /* value of the Host header */
    char host[256];
    char port[16];
    const char *path;       /* "/path?query" */
    const char *method;
    char *body;
    size_t body_len;
    int have_body;
    char **headers;
    int nheaders;
    long concurrency;
    long requests;
    double ramp_ms;
    double timeout_s;
    double deadline_ms;
    int json;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int family;
} cfg;

static char *req_buf;       /* the complete request, identical for all */
static size_t req_len;

/* ------------------------------------------------------------------------ */
/* per-connection state                                                     */

enum { ST_FREE, ST_CONNECTING, ST_SENDING, ST_HEADERS, ST_BODY };
enum { TE_EOF, TE_CHUNKED, TE_LENGTH };
enum {
    CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF,
    CH_TRAILER_START, CH_TRAILER_LINE, CH_DONE
};

enum {
    FR_CONNECT, FR_STATUS, FR_TIMEOUT, FR_RESET, FR_TRUNCATED, FR_BAD_RESPONSE,
    FR_IO, FR_INTERRUPTED, FR_NREASONS, FR_OK = -1, FR_EOF = -2
};
static const char *const reason_name[FR_NREASONS] = {
    "connect", "status", "timeout", "reset", "truncated", "bad_response",
    "io_error", "interrupted"
};

#define HDR_MAX (64 * 1024)
#define START_BATCH 32

struct conn {
    int fd;
    int state;
    int registered;             /* fd is in the epoll set */
    struct conn *prev, *next;   /* active list, ordered by start time */
    struct conn *free_next;

    int64_t t_start, t_connected, t_send, t_first_tok, t_first_byte;
    size_t sent;

    /* response headers */
    char *hbuf;
    size_t hlen, hcap;
    int status;

    /* framing */
    int te;
    uint64_t clen;              /* TE_LENGTH: declared length */
    int ch_state;
    uint64_t ch_size;
    int ch_ndig;

    uint64_t bytes, body_bytes;
    uint64_t tokens;

    /* stamp scanner: sdig = -1 outside a bracket, else digits seen so far */
    int sdig;
    int sovf;
    uint64_t sval;
};

static struct conn *conns;
static struct conn *free_list;
static struct conn *act_head, *act_tail;
static int epfd;

/* ------------------------------------------------------------------------ */
/* results                                                                  */

static struct {
    long started, done, ok, failed;
    long fail[FR_NREASONS];
    char fail_detail[FR_NREASONS][160];
    long status_codes[1000];
    long status_other;
    long served_at_once;
    long ttft_by_token, ttft_by_byte;
    uint64_t tokens, bytes, body_bytes, future_stamps;
    struct vec connect, ttft, tok_lat, total;
    int64_t t0, t_last_end;
} res;

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ------------------------------------------------------------------------ */
/* request life cycle                                                       */

static void act_unlink(struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        act_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        act_tail = c->prev;
    c->prev = c->next = NULL;
}

static void set_detail(int reason, const char *fmt, ...)
{
    va_list ap;
    if (res.fail_detail[reason][0])
        return;                 /* keep the first one seen */
    va_start(ap, fmt);
    vsnprintf(res.fail_detail[reason], sizeof res.fail_detail[reason], fmt, ap);
    va_end(ap);
}

static int64_t timeout_ns(void)
{
    return (int64_t)(cfg.timeout_s * 1e9);
}

/*
 * End a request.  reason is FR_EOF (clean end of stream; decide here whether
 * it is complete) or one of the failure reasons.
 */
static void finish(struct conn *c, int reason, int64_t now)
{
    int headers_done = c->state == ST_BODY;

    if (reason == FR_EOF) {
        if (!headers_done) {
            reason = FR_TRUNCATED;
            set_detail(FR_TRUNCATED, "EOF after %" PRIu64 " bytes, before end of headers",
                       c->bytes);
        } else if (c->status != 200) {
            reason = FR_STATUS;
        } else if (c->te == TE_CHUNKED && c->ch_state != CH_DONE) {
            reason = FR_TRUNCATED;
            set_detail(FR_TRUNCATED, "EOF before the last chunk");
        } else if (c->te == TE_LENGTH && c->body_bytes < c->clen) {
            reason = FR_TRUNCATED;
            set_detail(FR_TRUNCATED, "EOF after %" PRIu64 " of %" PRIu64 " body bytes",
                       c->body_bytes, c->clen);
        } else {
            reason = FR_OK;
        }
    } else if (headers_done && c->status != 200 && reason != FR_INTERRUPTED) {
        reason = FR_STATUS;      /* a non-200 response is a status failure */
    }
    if (reason == FR_STATUS)
        set_detail(FR_STATUS, "HTTP status %d", c->status);

    if (c->fd >= 0) {
        close(c->fd);           /* also removes it from the epoll set */
        c->fd = -1;
    }
    act_unlink(c);
    c->state = ST_FREE;
    c->free_next = free_list;
    free_list = c;

    res.done++;
    res.t_last_end = now;
    res.tokens += c->tokens;
    res.bytes += c->bytes;
    res.body_bytes += c->body_bytes;
    if (c->status >= 0 && c->status < 1000 && headers_done)
        res.status_codes[c->status]++;
    else if (headers_done)
        res.status_other++;

    if (c->t_connected)
        vec_push(&res.connect, c->t_connected - c->t_start);

    if (headers_done && c->status == 200 && c->t_send) {
        int64_t first = 0;
        if (c->t_first_tok) {
            first = c->t_first_tok;
            res.ttft_by_token++;
        } else if (c->t_first_byte) {
            first = c->t_first_byte;
            res.ttft_by_byte++;
        }
        if (first) {
            int64_t ttft = first - c->t_send;
            vec_push(&res.ttft, ttft);
            if ((double)ttft <= cfg.deadline_ms * 1e6)
                res.served_at_once++;
        }
    }

    if (reason == FR_OK) {
        res.ok++;
        vec_push(&res.total, now - c->t_start);
    } else {
        res.failed++;
        res.fail[reason]++;
    }
}

static void on_token(struct conn *c, uint64_t stamp, int ovf, int64_t now)
{
    c->tokens++;
    if (!c->t_first_tok)
        c->t_first_tok = now;
    if (!ovf && stamp <= (uint64_t)now)
        vec_push(&res.tok_lat, now - (int64_t)stamp);
    else
        res.future_stamps++;    /* not a stamp from this machine's clock */
}

/* body bytes (already de-chunked): count them and scan for [digits] */
static void body_data(struct conn *c, const unsigned char *p, size_t n, int64_t now)
{
    const unsigned char *end = p + n;

    if (n == 0)
        return;
    if (!c->t_first_byte)
        c->t_first_byte = now;
    c->body_bytes += n;

    while (p < end) {
        unsigned ch;
        if (c->sdig < 0) {
            const unsigned char *q = memchr(p, '[', (size_t)(end - p));
            if (!q)
                return;
            p = q + 1;
            c->sdig = 0;
            c->sval = 0;
            c->sovf = 0;
            continue;
        }
        ch = *p++;
        if (ch >= '0' && ch <= '9') {
            uint64_t d = ch - '0';
            if (c->sdig >= 20) {
                c->sdig = -1;   /* too many digits: not a stamp */
                continue;
            }
            if (c->sval > (UINT64_MAX - d) / 10)
                c->sovf = 1;
            else
                c->sval = c->sval * 10 + d;
            c->sdig++;
        } else if (ch == ']' && c->sdig >= 10) {
            on_token(c, c->sval, c->sovf, now);
            c->sdig = -1;
        } else if (ch == '[') {
            c->sdig = 0;
            c->sval = 0;
            c->sovf = 0;
        } else {
            c->sdig = -1;
        }
    }
}

static int hexval(unsigned ch)
{
    if (ch >= '0' && ch <= '9')
        return (int)(ch - '0');
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f')
        return (int)(ch - 'a' + 10);
    return -1;
}

/* feed raw body bytes through the transfer decoding; returns -1 if malformed */
static int body_raw(struct conn *c, const unsigned char *p, size_t n, int64_t now)
{
    const unsigned char *end = p + n;

    if (c->te != TE_CHUNKED) {
        body_data(c, p, n, now);
        return 0;
    }
    while (p < end) {
        unsigned ch;
        if (c->ch_state == CH_DATA) {
            size_t take = (size_t)(end - p);
            if ((uint64_t)take > c->ch_size)
                take = (size_t)c->ch_size;
            body_data(c, p, take, now);
            p += take;
            c->ch_size -= take;
            if (c->ch_size == 0)
                c->ch_state = CH_DATA_CR;
            continue;
        }
        if (c->ch_state == CH_DONE)
            return 0;           /* ignore anything after the last chunk */
        ch = *p++;
        switch (c->ch_state) {
        case CH_SIZE: {
            int h = hexval(ch);
            if (h >= 0) {
                if (c->ch_size > (UINT64_MAX >> 4))
                    return -1;
                c->ch_size = c->ch_size * 16 + (uint64_t)h;
                c->ch_ndig++;
                break;
            }
            if (!c->ch_ndig)
                return -1;
            if (ch == ';' || ch == ' ' || ch == '\t')
                c->ch_state = CH_EXT;
            else if (ch == '\r')
                c->ch_state = CH_SIZE_LF;
            else if (ch == '\n')
                goto size_line_done;
            else
                return -1;
            break;
        }
        case CH_EXT:
            if (ch == '\n')
                goto size_line_done;
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                return -1;
        size_line_done:
            c->ch_state = c->ch_size ? CH_DATA : CH_TRAILER_START;
            break;
        case CH_DATA_CR:
            if (ch == '\r')
                c->ch_state = CH_DATA_LF;
            else if (ch == '\n')
                goto next_chunk;
            else
                return -1;
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                return -1;
        next_chunk:
            c->ch_state = CH_SIZE;
            c->ch_size = 0;
            c->ch_ndig = 0;
            break;
        case CH_TRAILER_START:
            if (ch == '\n')
                c->ch_state = CH_DONE;
            else if (ch != '\r')
                c->ch_state = CH_TRAILER_LINE;
            break;
        case CH_TRAILER_LINE:
            if (ch == '\n')
                c->ch_state = CH_TRAILER_START;
            break;
        }
    }
    return 0;
}

/* case-insensitive search for needle in [s, s+n) */
static int contains_ci(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (strncasecmp(s + i, needle, m) == 0)
            return 1;
    return 0;
}

/*
 * Parse the header block hbuf[0..hend) (hend includes the blank line).
 * Returns 0 on success, -1 if malformed.
 */
static int parse_headers(struct conn *c, size_t hend)
{
    const char *s = c->hbuf, *e = c->hbuf + hend;
    const char *eol;
    int st;

    if (hend < 12 || strncmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ')
        return -1;
    if (s[9] < '0' || s[9] > '9' || s[10] < '0' || s[10] > '9' ||
        s[11] < '0' || s[11] > '9')
        return -1;
    st = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    c->status = st;
    c->te = TE_EOF;

    eol = memchr(s, '\n', (size_t)(e - s));
    while (eol && eol + 1 < e) {
        const char *line = eol + 1, *colon, *v, *ve;
        eol = memchr(line, '\n', (size_t)(e - line));
        if (!eol)
            break;
        ve = eol;
        if (ve > line && ve[-1] == '\r')
            ve--;
        if (ve == line)
            break;              /* blank line: end of headers */
        colon = memchr(line, ':', (size_t)(ve - line));
        if (!colon)
            continue;
        v = colon + 1;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        if ((size_t)(colon - line) == 17 &&
            strncasecmp(line, "Transfer-Encoding", 17) == 0) {
            if (contains_ci(v, (size_t)(ve - v), "chunked"))
                c->te = TE_CHUNKED;
        } else if ((size_t)(colon - line) == 14 &&
                   strncasecmp(line, "Content-Length", 14) == 0 &&
                   c->te != TE_CHUNKED) {
            uint64_t len = 0;
            const char *q = v;
            if (q == ve)
                return -1;
            for (; q < ve && *q >= '0' && *q <= '9'; q++)
                len = len * 10 + (uint64_t)(*q - '0');
            c->te = TE_LENGTH;
            c->clen = len;
        }
    }
    c->ch_state = CH_SIZE;
    c->ch_size = 0;
    c->ch_ndig = 0;
    return 0;
}

/* find the end of the header block; returns offset past it, or 0 */
static size_t find_hdr_end(const char *b, size_t n, size_t from)
{
    size_t i = from > 3 ? from - 3 : 0;
    for (; i < n; i++) {
        if (b[i] != '\n')
            continue;
        if (i + 1 < n && b[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* returns 0 normally, -1 if the request was finished */
static int handle_headers(struct conn *c, const unsigned char *p, size_t n, int64_t now)
{
    size_t old = c->hlen, hend;

    if (c->hlen + n > c->hcap) {
        size_t cap = c->hcap ? c->hcap : 1024;
        while (cap < c->hlen + n)
            cap *= 2;
        if (cap > HDR_MAX)
            cap = HDR_MAX;
        if (c->hlen + n > cap) {
            set_detail(FR_BAD_RESPONSE, "response headers larger than %d bytes", HDR_MAX);
            finish(c, FR_BAD_RESPONSE, now);
            return -1;
        }
        c->hbuf = xrealloc(c->hbuf, cap);
        c->hcap = cap;
    }
    memcpy(c->hbuf + c->hlen, p, n);
    c->hlen += n;

    for (;;) {
        hend = find_hdr_end(c->hbuf, c->hlen, old);
        if (!hend)
            return 0;
        if (parse_headers(c, hend) < 0) {
            set_detail(FR_BAD_RESPONSE, "malformed status line or headers");
            finish(c, FR_BAD_RESPONSE, now);
            return -1;
        }
        if (c->status >= 100 && c->status < 200 && c->status != 101) {
            /* interim response: drop it and look for the real one */
            memmove(c->hbuf, c->hbuf + hend, c->hlen - hend);
            c->hlen -= hend;
            old = 0;
            continue;
        }
        break;
    }
    c->state = ST_BODY;
    if (c->hlen > hend &&
        body_raw(c, (const unsigned char *)c->hbuf + hend, c->hlen - hend, now) < 0) {
        set_detail(FR_BAD_RESPONSE, "malformed chunked encoding");
        finish(c, FR_BAD_RESPONSE, now);
        return -1;
    }
    c->hlen = 0;
    return 0;
}

static void do_read(struct conn *c)
{
    static unsigned char buf[64 * 1024];
    ssize_t n = read(c->fd, buf, sizeof buf);
    int64_t now = mono_ns();

    if (n < 0) {
        int e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
            return;
        if (e == ECONNRESET || e == EPIPE) {
            set_detail(FR_RESET, "read: %s", strerror(e));
            finish(c, FR_RESET, now);
        } else {
            set_detail(FR_IO, "read: %s", strerror(e));
            finish(c, FR_IO, now);
        }
        return;
    }
    if (n == 0) {
        finish(c, FR_EOF, now);
        return;
    }
    c->bytes += (uint64_t)n;
    if (c->state == ST_HEADERS) {
        handle_headers(c, buf, (size_t)n, now);
        return;
    }
    if (body_raw(c, buf, (size_t)n, now) < 0) {
        set_detail(FR_BAD_RESPONSE, "malformed chunked encoding");
        finish(c, FR_BAD_RESPONSE, now);
    }
}

static void do_send(struct conn *c, int64_t now)
{
    if (!c->t_send)
        c->t_send = mono_ns();  /* just before the first write */
    while (c->sent < req_len) {
        ssize_t n = send(c->fd, req_buf + c->sent, req_len - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK)
                break;
            if (e == ECONNRESET || e == EPIPE) {
                set_detail(FR_RESET, "send: %s", strerror(e));
                finish(c, FR_RESET, now);
            } else {
                set_detail(FR_IO, "send: %s", strerror(e));
                finish(c, FR_IO, now);
            }
            return;
        }
        c->sent += (size_t)n;
    }

    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.data.ptr = c;
    if (c->sent < req_len) {
        c->state = ST_SENDING;
        ev.events = EPOLLOUT;
    } else {
        c->state = ST_HEADERS;
        ev.events = EPOLLIN;
    }
    if (epoll_ctl(epfd, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        set_detail(FR_IO, "epoll_ctl: %s", strerror(errno));
        finish(c, FR_IO, now);
        return;
    }
    c->registered = 1;
}

static void on_connected(struct conn *c, int64_t now)
{
    c->t_connected = now;
    do_send(c, now);
}

static void start_request(int64_t now)
{
    struct conn *c = free_list;
    struct epoll_event ev;
    int fd;

    free_list = c->free_next;
    c->fd = -1;
    c->state = ST_CONNECTING;
    c->registered = 0;
    c->t_start = now = mono_ns();
    c->t_connected = c->t_send = c->t_first_tok = c->t_first_byte = 0;
    c->sent = 0;
    c->hlen = 0;
    c->status = -1;
    c->te = TE_EOF;
    c->clen = 0;
    c->ch_state = CH_SIZE;
    c->ch_size = 0;
    c->ch_ndig = 0;
    c->bytes = c->body_bytes = c->tokens = 0;
    c->sdig = -1;
    c->sovf = 0;
    c->sval = 0;
    /* append to the active list (start times are non-decreasing) */
    c->next = NULL;
    c->prev = act_tail;
    if (act_tail)
        act_tail->next = c;
    else
        act_head = c;
    act_tail = c;
    res.started++;

    fd = socket(cfg.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_detail(FR_CONNECT, "socket: %s", strerror(errno));
        finish(c, FR_CONNECT, now);
        return;
    }
    c->fd = fd;
    if (connect(fd, (struct sockaddr *)&cfg.addr, cfg.addrlen) == 0) {
        on_connected(c, mono_ns());
        return;
    }
    if (errno != EINPROGRESS) {
        set_detail(FR_CONNECT, "connect: %s", strerror(errno));
        finish(c, FR_CONNECT, now);
        return;
    }
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLOUT;
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        set_detail(FR_IO, "epoll_ctl: %s", strerror(errno));
        finish(c, FR_IO, now);
        return;
    }
    c->registered = 1;
}

static void handle_event(struct conn *c, uint32_t events)
{
    int64_t now;

    switch (c->state) {
    case ST_CONNECTING: {
        int err = 0;
        socklen_t len = sizeof err;
        now = mono_ns();
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            set_detail(FR_CONNECT, "connect: %s", strerror(err));
            finish(c, FR_CONNECT, now);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        on_connected(c, now);
        return;
    }
    case ST_SENDING:
        do_send(c, mono_ns());
        return;
    case ST_HEADERS:
    case ST_BODY:
        do_read(c);
        return;
    default:
        return;                 /* stale event for a finished request */
    }
}

/* ------------------------------------------------------------------------ */
/* setup                                                                    */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sse-bench --url http://HOST:PORT/path?query [options]\n"
        "  --method GET|POST              request method (default GET, POST if a body is given)\n"
        "  --body STRING                  request body (sent with Content-Length)\n"
        "  --body-file F                  request body read from file F\n"
        "  --header 'K: V'                extra request header (repeatable)\n"
        "  --concurrency C                requests in flight at once (required)\n"
        "  --requests R                   total requests (default C)\n"
        "  --ramp-ms MS                   spread the first C starts evenly over MS ms (default 0)\n"
        "  --timeout-s S                  per-request timeout from connect start (default 60)\n"
        "  --first-token-deadline-ms D    deadline for served_at_once (default 1000)\n"
        "  --json                         print one JSON object instead of text\n"
        "Token stamps: the body is scanned for '[' 10..20 digits ']' (CLOCK_MONOTONIC ns).\n"
        "Exit code: 0 if all requests were ok, 1 otherwise, 2 on usage error.\n");
}

static double parse_num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        die("bad value for %s: '%s' (expected %g..%g)", opt, s, lo, hi);
    return v;
}

static void read_body_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0;
    char *b;
    if (!f)
        die("cannot open %s: %s", path, strerror(errno));
    b = xrealloc(NULL, cap);
    for (;;) {
        size_t r;
        if (n == cap) {
            cap *= 2;
            b = xrealloc(b, cap);
        }
        r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f))
                die("cannot read %s", path);
            break;
        }
    }
    fclose(f);
    cfg.body = b;
    cfg.body_len = n;
    cfg.have_body = 1;
}

static void parse_url(const char *url)
{
    const char *p, *hs, *he, *ps = NULL, *pe;
    size_t hl;

    if (strncasecmp(url, "http://", 7) != 0)
        die("only http:// URLs are supported: %s", url);
    p = url + 7;
    hs = p;
    pe = p + strcspn(p, "/?#");
    if (*hs == '[') {                   /* [v6addr]:port */
        he = memchr(hs, ']', (size_t)(pe - hs));
        if (!he)
            die("bad URL host: %s", url);
        if (he + 1 < pe) {
            if (he[1] != ':')
                die("bad URL host: %s", url);
            ps = he + 2;
        }
        hs++;
    } else {
        he = memchr(hs, ':', (size_t)(pe - hs));
        if (he)
            ps = he + 1;
        else
            he = pe;
    }
    hl = (size_t)(he - hs);
    if (hl == 0 || hl >= sizeof cfg.host)
        die("bad URL host: %s", url);
    memcpy(cfg.host, hs, hl);
    cfg.host[hl] = 0;
    if (ps) {
        size_t pl = (size_t)(pe - ps);
        if (pl == 0 || pl >= sizeof cfg.port)
            die("bad URL port: %s", url);
        memcpy(cfg.port, ps, pl);
        cfg.port[pl] = 0;
    } else {
        strcpy(cfg.port, "80");
    }
    if ((size_t)(pe - p) >= sizeof cfg.host_hdr)
        die("URL authority too long");
    memcpy(cfg.host_hdr, p, (size_t)(pe - p));
    cfg.host_hdr[pe - p] = 0;
    if (*pe == '/') {
        cfg.path = pe;
    } else {                            /* "http://h:p?x" -> "/?x" */
        char *q = xrealloc(NULL, strlen(pe) + 2);
        q[0] = '/';
        strcpy(q + 1, pe);
        cfg.path = q;
    }
    {
        /* drop a #fragment */
        char *frag = strchr(cfg.path, '#');
        if (frag) {
            char *q = xrealloc(NULL, (size_t)(frag - cfg.path) + 1);
            memcpy(q, cfg.path, (size_t)(frag - cfg.path));
            q[frag - cfg.path] = 0;
            cfg.path = q;
        }
    }

    struct addrinfo hints, *ai;
    int rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(cfg.host, cfg.port, &hints, &ai);
    if (rc != 0)
        die("cannot resolve %s:%s: %s", cfg.host, cfg.port, gai_strerror(rc));
    memcpy(&cfg.addr, ai->ai_addr, ai->ai_addrlen);
    cfg.addrlen = ai->ai_addrlen;
    cfg.family = ai->ai_family;
    freeaddrinfo(ai);
}

static int user_has_header(const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < cfg.nheaders; i++)
        if (strncasecmp(cfg.headers[i], name, n) == 0 && cfg.headers[i][n] == ':')
            return 1;
    return 0;
}

static void build_request(void)
{
    size_t cap = 1024 + strlen(cfg.path) + cfg.body_len;
    size_t n = 0;
    char *b;

    for (int i = 0; i < cfg.nheaders; i++)
        cap += strlen(cfg.headers[i]) + 2;
    b = xrealloc(NULL, cap);
#define APPEND(...) (n += (size_t)snprintf(b + n, cap - n, __VA_ARGS__))
    APPEND("%s %s HTTP/1.1\r\n", cfg.method, cfg.path);
    if (!user_has_header("Host"))
        APPEND("Host: %s\r\n", cfg.host_hdr);
    if (!user_has_header("User-Agent"))
        APPEND("User-Agent: sse-bench\r\n");
    if (!user_has_header("Accept"))
        APPEND("Accept: text/event-stream\r\n");
    for (int i = 0; i < cfg.nheaders; i++)
        APPEND("%s\r\n", cfg.headers[i]);
    APPEND("Connection: close\r\n");
    if (cfg.have_body)
        APPEND("Content-Length: %zu\r\n", cfg.body_len);
    APPEND("\r\n");
#undef APPEND
    if (cfg.have_body) {
        memcpy(b + n, cfg.body, cfg.body_len);
        n += cfg.body_len;
    }
    req_buf = b;
    req_len = n;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur != rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY &&
            (rlim_t)cfg.concurrency + 16 > rl.rlim_cur)
            fprintf(stderr, "sse-bench: warning: RLIMIT_NOFILE is %llu, too low for "
                    "concurrency %ld; some connects will fail\n",
                    (unsigned long long)rl.rlim_cur, cfg.concurrency);
    }
}

/* ------------------------------------------------------------------------ */
/* output                                                                   */

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_stats(const char *name, struct vec *a, int last)
{
    printf("  \"%s\": ", name);
    if (!a->n) {
        printf("null%s\n", last ? "" : ",");
        return;
    }
    printf("{\"count\": %zu, \"min\": %.3f, \"median\": %.3f, \"p90\": %.3f, "
           "\"p99\": %.3f, \"max\": %.3f}%s\n",
           a->n, a->v[0] / 1e6, pct(a, 0.50) / 1e6, pct(a, 0.90) / 1e6,
           pct(a, 0.99) / 1e6, a->v[a->n - 1] / 1e6, last ? "" : ",");
}

static void text_stats(const char *name, struct vec *a)
{
    if (!a->n) {
        printf("  %-15s %10s %10s %10s %10s %10s  (n=0)\n", name, "-", "-", "-", "-", "-");
        return;
    }
    printf("  %-15s %10.3f %10.3f %10.3f %10.3f %10.3f  (n=%zu)\n", name,
           a->v[0] / 1e6, pct(a, 0.50) / 1e6, pct(a, 0.90) / 1e6,
           pct(a, 0.99) / 1e6, a->v[a->n - 1] / 1e6, a->n);
}

static const char *ttft_basis(void)
{
    if (res.ttft_by_token && res.ttft_by_byte)
        return "mixed";
    if (res.ttft_by_byte)
        return "first_body_byte";
    if (res.ttft_by_token)
        return "token_stamp";
    return "none";
}

static void report(void)
{
    double wall = res.t_last_end > res.t0 ? (res.t_last_end - res.t0) / 1e9 : 0.0;
    double tps = wall > 0 ? (double)res.tokens / wall : 0.0;
    long not_started = cfg.requests - res.started;
    struct vec *all[] = { &res.connect, &res.ttft, &res.tok_lat, &res.total };

    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->n > 1)
            qsort(all[i]->v, all[i]->n, sizeof(int64_t), cmp_i64);


    if (cfg.json) {
        int first;
        printf("{\n");
        printf("  \"url\": ");
        json_str(cfg.url);
        printf(",\n  \"method\": ");
        json_str(cfg.method);
        printf(",\n  \"concurrency\": %ld,\n", cfg.concurrency);
        printf("  \"requests\": %ld,\n", cfg.requests);
        printf("  \"ramp_ms\": %.3f,\n", cfg.ramp_ms);
        printf("  \"timeout_s\": %.3f,\n", cfg.timeout_s);
        printf("  \"first_token_deadline_ms\": %.3f,\n", cfg.deadline_ms);
        printf("  \"completed\": %ld,\n", res.done);
        printf("  \"not_started\": %ld,\n", not_started);
        printf("  \"ok\": %ld,\n", res.ok);
        printf("  \"failed\": %ld,\n", res.failed + not_started);
        printf("  \"failed_by_reason\": {");
        for (int i = 0; i < FR_NREASONS; i++)
            printf("%s\"%s\": %ld", i ? ", " : "", reason_name[i], res.fail[i]);
        printf("},\n");
        printf("  \"failure_detail\": {");
        first = 1;
        for (int i = 0; i < FR_NREASONS; i++) {
            if (!res.fail[i] || !res.fail_detail[i][0])
                continue;
            printf("%s\"%s\": ", first ? "" : ", ", reason_name[i]);
            json_str(res.fail_detail[i]);
            first = 0;
        }
        printf("},\n");
        printf("  \"status_codes\": {");
        first = 1;
        for (int i = 0; i < 1000; i++) {
            if (!res.status_codes[i])
                continue;
            printf("%s\"%d\": %ld", first ? "" : ", ", i, res.status_codes[i]);
            first = 0;
        }
        if (res.status_other)
            printf("%s\"other\": %ld", first ? "" : ", ", res.status_other);
        printf("},\n");
        printf("  \"served_at_once\": %ld,\n", res.served_at_once);
        printf("  \"ttft_basis\": \"%s\",\n", ttft_basis());
        printf("  \"ttft_by_token_stamp\": %ld,\n", res.ttft_by_token);
        printf("  \"ttft_by_first_body_byte\": %ld,\n", res.ttft_by_byte);
        json_stats("connect_ms", &res.connect, 0);
        json_stats("ttft_ms", &res.ttft, 0);
        json_stats("token_latency_ms", &res.tok_lat, 0);
        json_stats("total_ms", &res.total, 0);
        printf("  \"tokens_total\": %" PRIu64 ",\n", res.tokens);
        printf("  \"tokens_without_latency\": %" PRIu64 ",\n", res.future_stamps);
        printf("  \"bytes_total\": %" PRIu64 ",\n", res.bytes);
        printf("  \"body_bytes_total\": %" PRIu64 ",\n", res.body_bytes);
        printf("  \"wall_s\": %.3f,\n", wall);
        printf("  \"tokens_per_s\": %.1f\n", tps);
        printf("}\n");
        fflush(stdout);
        return;
    }

    printf("sse-bench %s %s\n", cfg.method, cfg.url);
    printf("  concurrency %ld, requests %ld, ramp %.0f ms, timeout %.0f s, "
           "first-token deadline %.0f ms\n",
           cfg.concurrency, cfg.requests, cfg.ramp_ms, cfg.timeout_s, cfg.deadline_ms);
    printf("requests:       %ld ok, %ld failed (of %ld%s)\n", res.ok,
           res.failed + not_started, cfg.requests,
           not_started ? ", some not started" : "");
    if (res.failed || not_started) {
        printf("failed by reason:");
        for (int i = 0; i < FR_NREASONS; i++)
            if (res.fail[i])
                printf(" %s=%ld", reason_name[i], res.fail[i]);
        if (not_started)
            printf(" not_started=%ld", not_started);
        printf("\n");
        for (int i = 0; i < FR_NREASONS; i++)
            if (res.fail[i] && res.fail_detail[i][0])
                printf("  %s: e.g. %s\n", reason_name[i], res.fail_detail[i]);
    }
    printf("status codes:  ");
    {
        int any = 0;
        for (int i = 0; i < 1000; i++)
            if (res.status_codes[i]) {
                printf(" %d=%ld", i, res.status_codes[i]);
                any = 1;
            }
        if (res.status_other) {
            printf(" other=%ld", res.status_other);
            any = 1;
        }
        if (!any)
            printf(" (no response headers received)");
    }
    printf("\n");
    printf("served_at_once: %ld (first token within %.0f ms of sending)\n",
           res.served_at_once, cfg.deadline_ms);
    if (res.ttft_by_byte)
        printf("ttft basis:     %s (%ld responses had no token stamps; their TTFT "
               "is the first body byte)\n", ttft_basis(), res.ttft_by_byte);
    else
        printf("ttft basis:     %s\n", ttft_basis());
    printf("  %-15s %10s %10s %10s %10s %10s\n", "(ms)", "min", "median", "p90", "p99", "max");
    text_stats("connect", &res.connect);
    text_stats("ttft", &res.ttft);
    text_stats("token latency", &res.tok_lat);
    text_stats("total", &res.total);
    printf("tokens:         %" PRIu64 " total", res.tokens);
    if (res.future_stamps)
        printf(" (%" PRIu64 " with a stamp ahead of our clock: no latency)",
               res.future_stamps);
    printf("\n");
    printf("bytes:          %" PRIu64 " received (%" PRIu64 " body)\n",
           res.bytes, res.body_bytes);
    printf("wall time:      %.3f s\n", wall);
    printf("tokens/s:       %.1f\n", tps);
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    enum { O_URL = 1, O_METHOD, O_BODY, O_BODY_FILE, O_HEADER, O_CONC, O_REQS,
           O_RAMP, O_TIMEOUT, O_DEADLINE, O_JSON, O_HELP };
    static const struct option opts[] = {
        {"url", required_argument, NULL, O_URL},
        {"method", required_argument, NULL, O_METHOD},
        {"body", required_argument, NULL, O_BODY},
        {"body-file", required_argument, NULL, O_BODY_FILE},
        {"header", required_argument, NULL, O_HEADER},
        {"concurrency", required_argument, NULL, O_CONC},
        {"requests", required_argument, NULL, O_REQS},
        {"ramp-ms", required_argument, NULL, O_RAMP},
        {"timeout-s", required_argument, NULL, O_TIMEOUT},
        {"first-token-deadline-ms", required_argument, NULL, O_DEADLINE},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0}
    };
    int o;
    enum { MAXEV = 1024 };
    struct epoll_event evs[MAXEV];
    long next = 0;

    cfg.concurrency = 0;
    cfg.requests = -1;
    cfg.ramp_ms = 0;
    cfg.timeout_s = 60;
    cfg.deadline_ms = 1000;

    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_URL: cfg.url = optarg; break;
        case O_METHOD:
            if (!*optarg || strpbrk(optarg, " \t\r\n"))
                die("bad --method '%s'", optarg);
            cfg.method = optarg;
            break;
        case O_BODY:
            if (cfg.have_body)
                die("--body/--body-file given twice");
            cfg.body = optarg;
            cfg.body_len = strlen(optarg);
            cfg.have_body = 1;
            break;
        case O_BODY_FILE:
            if (cfg.have_body)
                die("--body/--body-file given twice");
            read_body_file(optarg);
            break;
        case O_HEADER:
            if (!strchr(optarg, ':') || strpbrk(optarg, "\r\n"))
                die("bad --header '%s' (expected 'Name: value')", optarg);
            cfg.headers = xrealloc(cfg.headers, (size_t)(cfg.nheaders + 1) * sizeof *cfg.headers);
            cfg.headers[cfg.nheaders++] = optarg;
            break;
        case O_CONC: cfg.concurrency = (long)parse_num("--concurrency", optarg, 1, 1000000); break;
        case O_REQS: cfg.requests = (long)parse_num("--requests", optarg, 1, 1e12); break;
        case O_RAMP: cfg.ramp_ms = parse_num("--ramp-ms", optarg, 0, 1e9); break;
        case O_TIMEOUT: cfg.timeout_s = parse_num("--timeout-s", optarg, 0.001, 1e7); break;
        case O_DEADLINE: cfg.deadline_ms = parse_num("--first-token-deadline-ms", optarg, 0, 1e12); break;
        case O_JSON: cfg.json = 1; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sse-bench: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!cfg.url || !cfg.concurrency) {
        fprintf(stderr, "sse-bench: --url and --concurrency are required\n");
        usage(stderr);
        return 2;
    }
    if (cfg.requests < 0)
        cfg.requests = cfg.concurrency;
    if (!cfg.method)
        cfg.method = cfg.have_body ? "POST" : "GET";
    if (cfg.concurrency > cfg.requests)
        cfg.concurrency = cfg.requests;

    parse_url(cfg.url);
    build_request();
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1: %s", strerror(errno));
    conns = calloc((size_t)cfg.concurrency, sizeof *conns);
    if (!conns)
        die("out of memory");
    for (long i = cfg.concurrency - 1; i >= 0; i--) {
        conns[i].fd = -1;
        conns[i].state = ST_FREE;
        conns[i].free_next = free_list;
        free_list = &conns[i];
    }

    const int64_t ramp_ns = (int64_t)(cfg.ramp_ms * 1e6);
    const int64_t tmo_ns = timeout_ns();
    long in_flight;

    res.t0 = mono_ns();
    res.t_last_end = res.t0;

    while (res.done < cfg.requests && !interrupted) {
        int64_t now = mono_ns(), wake = INT64_MAX;
        int n, wait_ms;

        /* start new requests; at most START_BATCH per pass so that events of
         * connections already started are seen promptly (keeps the measured
         * connect time honest when thousands start at once) */
        int started_now = 0, more = 0;
        while (next < cfg.requests && res.started - res.done < cfg.concurrency) {
            if (started_now == START_BATCH) {
                more = 1;
                break;
            }
            if (ramp_ns > 0 && next < cfg.concurrency) {
                int64_t due = res.t0 + (int64_t)((double)ramp_ns * (double)next /
                                                 (double)cfg.concurrency);
                if (now < due) {
                    wake = due;
                    break;
                }
            }
            start_request(now);
            next++;
            started_now++;
        }
        /* expire timed-out requests (the active list is in start order) */
        now = mono_ns();
        while (act_head && now - act_head->t_start >= tmo_ns) {
            set_detail(FR_TIMEOUT, "no EOF within %.3f s", cfg.timeout_s);
            finish(act_head, FR_TIMEOUT, now);
        }
        if (res.done >= cfg.requests)
            break;
        in_flight = res.started - res.done;
        if (in_flight == 0 && wake == INT64_MAX && !more)
            continue;           /* slots freed by immediate failures: start more */

        if (act_head && act_head->t_start + tmo_ns < wake)
            wake = act_head->t_start + tmo_ns;
        if (more) {
            wait_ms = 0;
        } else if (wake == INT64_MAX) {
            wait_ms = -1;
        } else {
            int64_t d = wake - now;
            if (d > 60000000000LL)
                d = 60000000000LL;      /* keep the int in range; just loop */
            wait_ms = d <= 0 ? 0 : (int)((d + 999999) / 1000000);
        }

        n = epoll_wait(epfd, evs, MAXEV, wait_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait: %s", strerror(errno));
        }
        /* New requests only start after the whole batch is handled, so a
         * slot freed here is never reused while stale events point at it. */
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->state != ST_FREE)
                handle_event(c, evs[i].events);
        }
    }

    if (interrupted) {
        int64_t now = mono_ns();
        while (act_head) {
            set_detail(FR_INTERRUPTED, "stopped by signal");
            finish(act_head, FR_INTERRUPTED, now);
        }
    }

    report();
    return (res.ok == cfg.requests) ? 0 : 1;
}
