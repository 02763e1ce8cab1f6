/*
 * EventTransportClient: one browser API for the answers of mod_sse_assistant,
 * over Server-Sent Events (sse), a POST bridged to an EventSource (postsse),
 * a streamed fetch POST (fetch), a WebSocket (ws), a single JSON answer
 * (rest), or the best of those that works (auto).
 *
 *   const client = new EventTransportClient({
 *     endpoint: '/chatagentstream',     // the sse-assistant location
 *     transport: 'auto',                // auto|sse|postsse|fetch|ws|rest
 *     payload: { prompt: 'Hello' },     // the first turn
 *     events: ['token', 'done'],        // optional: names given to the callback
 *   });
 *   await client.connect((event, data) => { ... });   // data is parsed JSON
 *   await client.request({ prompt: 'And then?' });     // same conversation
 *   client.close();                                    // cancels the turn
 *
 * connect()/request() resolve on `done` {"status":"complete"} and reject with
 * an Error carrying the server's message on `error` (err.type, err.code,
 * err.status, err.data) or on a transport failure; after close() they reject
 * with err.name === 'AbortError'. Each event reaches the callback once (events
 * are deduplicated by their id). A dropped connection is resumed with the last
 * event id (EventSource does it itself; fetch and ws reconnect with a GET and
 * Last-Event-ID), never by sending the prompt again. `auto` tries
 * options.order (default ws, fetch, sse, rest) and moves on when a transport
 * fails before its first event; the winner is kept for later turns
 * (client.transport).
 *
 * Plain script: sets window.EventTransportClient. ES module: import from
 * EventTransportClient.mjs (default and named export). No dependencies.
 */
(function (root, factory) {
    'use strict';
    var api = factory();
    if (typeof module === 'object' && module && module.exports) {
        module.exports = api;
        module.exports.default = api;
        module.exports.EventTransportClient = api;
    }
    if (root) root.EventTransportClient = api;
})(typeof globalThis !== 'undefined' ? globalThis
    : typeof self !== 'undefined' ? self : null, function () {
    'use strict';

    var EVENT_NAMES = ['msgid', 'token', 'tool.started', 'tool.finished',
        'tool.error', 'meta', 'error', 'done'];
    var TRANSPORTS = ['sse', 'postsse', 'fetch', 'ws', 'rest'];

    function makeError(message, extra) {
        var err = new Error(message || 'request failed');
        if (extra) {
            for (var k in extra) {
                if (Object.prototype.hasOwnProperty.call(extra, k) && extra[k] !== undefined) {
                    err[k] = extra[k];
                }
            }
        }
        return err;
    }

    function abortError() {
        var err = new Error('closed by the client');
        err.name = 'AbortError';
        return err;
    }

    function parseData(text) {
        if (typeof text !== 'string') return text;
        try { return JSON.parse(text); } catch (e) { return text; }
    }

    function sleep(ms, turn) {
        return new Promise(function (resolve) {
            var t = setTimeout(resolve, ms);
            if (turn) turn.timers.push(t);
        });
    }

    function toQuery(payload) {
        var parts = [];
        Object.keys(payload || {}).forEach(function (k) {
            var v = payload[k];
            if (v === undefined || v === null) return;
            if (typeof v === 'object') v = JSON.stringify(v);
            parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(v)));
        });
        return parts.join('&');
    }

    function withQuery(url, query) {
        if (!query) return url;
        return url + (url.indexOf('?') >= 0 ? '&' : '?') + query;
    }

    /* Reads the error body of a refused request: {"error":{…}} or {"ok":false,"error":"…"} */
    function httpError(res, transport) {
        return res.text().then(function (text) {
            var body = parseData(text), e = body && body.error;
            var info = typeof e === 'object' && e ? e
                : { message: typeof e === 'string' ? e : (res.status + ' ' + res.statusText).trim() };
            return makeError(info.message || ('HTTP ' + res.status), {
                type: info.type, code: info.code, status: res.status, data: info,
                transport: transport,
                /* what another transport could do better than this one */
                fallback: [404, 405, 406, 415, 426, 501].indexOf(res.status) >= 0,
            });
        }, function () {
            return makeError('HTTP ' + res.status, { status: res.status, transport: transport, fallback: true });
        });
    }

    /*
     * Incremental text/event-stream parser (WHATWG rules): LF, CR and CRLF
     * line ends (a CR at the end of a chunk waits for the next one), comments,
     * multi-line data, id/retry fields; chunks may split anything anywhere.
     */
    function SSEParser(onEvent, onRetry) {
        this.buf = '';
        this.data = [];
        this.hasData = false;
        this.type = '';
        this.id = null;            /* id of the event being built */
        this.onEvent = onEvent;
        this.onRetry = onRetry;
    }
    SSEParser.prototype.push = function (text, final) {
        this.buf += text;
        var buf = this.buf, start = 0, i = 0, n = buf.length;
        while (i < n) {
            var c = buf.charCodeAt(i);
            if (c === 10 || c === 13) {
                if (c === 13 && i + 1 === n && !final) break;   /* CR LF split across chunks */
                this.line(buf.slice(start, i));
                if (c === 13 && buf.charCodeAt(i + 1) === 10) i++;
                start = i + 1;
            }
            i++;
        }
        this.buf = buf.slice(start);
        if (final) {
            /* an event not closed by a blank line is dropped (as EventSource does) */
            this.buf = '';
            this.data = []; this.hasData = false; this.type = '';
        }
    };
    SSEParser.prototype.line = function (line) {
        if (line === '') {
            if (this.hasData) {
                this.onEvent(this.type || 'message', this.data.join('\n'), this.id);
            }
            this.data = []; this.hasData = false; this.type = ''; this.id = null;
            return;
        }
        if (line.charCodeAt(0) === 58) return;                  /* ':' comment */
        var colon = line.indexOf(':'), field = line, value = '';
        if (colon >= 0) {
            field = line.slice(0, colon);
            value = line.slice(colon + 1);
            if (value.charCodeAt(0) === 32) value = value.slice(1);
        }
        if (field === 'data') { this.data.push(value); this.hasData = true; }
        else if (field === 'event') this.type = value;
        else if (field === 'id') { if (value.indexOf('\0') < 0) this.id = value; }
        else if (field === 'retry') { if (/^\d+$/.test(value) && this.onRetry) this.onRetry(+value); }
    };

    function EventTransportClient(options) {
        if (!(this instanceof EventTransportClient)) return new EventTransportClient(options);
        options = options || {};
        this.endpoint = options.endpoint || '/chatagentstream';
        this.requested = options.transport || 'auto';
        if (this.requested !== 'auto' && TRANSPORTS.indexOf(this.requested) < 0) {
            throw makeError('unknown transport: ' + this.requested);
        }
        this.payload = options.payload || {};
        this.events = options.events ? [].concat(options.events) : null;
        this.proxy = options.proxy || '/eventtransportpostsseproxy';
        this.wsUrl = options.wsUrl || null;
        this.order = options.order || ['ws', 'fetch', 'sse', 'rest'];
        this.maxReconnects = options.maxReconnects == null ? 8 : options.maxReconnects;
        this.reconnectDelay = options.reconnectDelay == null ? 500 : options.reconnectDelay;
        this.openTimeout = options.openTimeout || 8000;
        this.headers = options.headers || {};
        this.credentials = options.credentials || 'same-origin';
        this.transport = this.requested === 'auto' ? null : this.requested;
        this.conversation = this.payload.conversation || null;
        this.lastEventId = null;
        this.callback = null;
        this.turn = null;
        this.ws = null;
        this.closed = false;
        this.attempts = [];        /* auto: [{transport, error}] of the last turn */
        this.reconnects = 0;       /* resumes after a dropped connection, all turns */
    }

    EventTransportClient.EVENTS = EVENT_NAMES;
    EventTransportClient.TRANSPORTS = TRANSPORTS;
    EventTransportClient.SSEParser = SSEParser;

    EventTransportClient.prototype.connect = function (callback) {
        if (typeof callback === 'function') this.callback = callback;
        this.closed = false;
        return this._start(this.payload);
    };

    EventTransportClient.prototype.request = function (payload) {
        payload = Object.assign({}, payload || {});
        if (this.conversation && payload.conversation == null) payload.conversation = this.conversation;
        this.closed = false;
        return this._start(payload);
    };

    EventTransportClient.prototype.close = function () {
        this.closed = true;
        var turn = this.turn;
        if (turn) this._settle(turn, abortError());
        if (this.ws) {
            try { this.ws.close(1000, 'client closed'); } catch (e) { /* already closed */ }
            this.ws = null;
        }
    };

    EventTransportClient.prototype._start = function (payload) {
        var self = this;
        if (this.turn) return Promise.reject(makeError('a turn is already running; close() it first'));
        var turn = {
            seen: Object.create(null), gotEvent: false, settled: false, cleanups: [],
            timers: [], retry: null, serverError: null,
        };
        turn.promise = new Promise(function (resolve, reject) {
            turn.resolve = resolve; turn.reject = reject;
        });
        this.turn = turn;
        var list = this.transport ? [this.transport]
            : this.order.filter(function (t) { return TRANSPORTS.indexOf(t) >= 0; });
        this.attempts = [];
        var i = 0;
        (function next() {
            if (turn.settled) return;
            var name = list[i++];
            turn.cleanups.forEach(function (f) { try { f(); } catch (e) { /* ignore */ } });
            turn.cleanups = [];
            self._run(name, turn, payload).then(function () {
                self._settle(turn, null);
            }, function (err) {
                if (turn.settled) return;
                err.transport = err.transport || name;
                self.attempts.push({ transport: name, error: err.message });
                var more = self.requested === 'auto' && !self.transport && i < list.length;
                if (more && !turn.gotEvent && err.fallback !== false && !self.closed) {
                    next();
                } else {
                    self._settle(turn, err);
                }
            });
        })();
        return turn.promise;
    };

    EventTransportClient.prototype._run = function (name, turn, payload) {
        turn.transport = name;
        switch (name) {
        case 'sse': return this._sse(turn, withQuery(this.endpoint, toQuery(payload)));
        case 'postsse': return this._postsse(turn, payload);
        case 'fetch': return this._fetch(turn, payload);
        case 'ws': return this._ws(turn, payload);
        case 'rest': return this._rest(turn, payload);
        }
        return Promise.reject(makeError('unknown transport: ' + name));
    };

    EventTransportClient.prototype._settle = function (turn, err) {
        if (turn.settled) return;
        turn.settled = true;
        turn.cleanups.forEach(function (f) { try { f(); } catch (e) { /* ignore */ } });
        turn.cleanups = [];
        turn.timers.forEach(clearTimeout);
        if (this.turn === turn) this.turn = null;
        if (err) {
            turn.reject(err);
        } else {
            if (!this.transport) this.transport = turn.transport;
            turn.resolve({ transport: turn.transport, conversation: this.conversation, lastEventId: this.lastEventId });
        }
    };

    /*
     * One event from any transport. Returns 'done' or an Error when it ends
     * the turn, else null. Duplicates (same id) are dropped.
     */
    EventTransportClient.prototype._event = function (turn, name, data, id) {
        if (turn.settled) return 'done';
        if (id) {
            if (turn.seen[id]) return null;
            turn.seen[id] = true;
            this.lastEventId = id;
            turn.lastId = id;
        }
        if (name !== 'done' || !turn.serverError) turn.gotEvent = true;
        if (name === 'msgid' && data && typeof data === 'object' && data.conversation) {
            this.conversation = data.conversation;
        }
        if (this.callback && (!this.events || this.events.indexOf(name) >= 0)) {
            try { this.callback(name, data, id); } catch (e) {
                setTimeout(function () { throw e; });
            }
        }
        if (name === 'error') {
            var info = data && typeof data === 'object' ? data : { message: String(data) };
            turn.serverError = makeError(info.message || 'server error', {
                type: info.type, code: info.code, data: info, transport: turn.transport, fallback: false,
            });
            return turn.serverError;
        }
        if (name === 'done') {
            if (data && data.status && data.status !== 'complete') {
                return turn.serverError || makeError('the answer ended with status ' + data.status,
                    { data: data, transport: turn.transport, fallback: false });
            }
            return 'done';
        }
        return null;
    };

    /* EventSource: sse and the postsse stream. */
    EventTransportClient.prototype._sse = function (turn, url) {
        var self = this;
        return new Promise(function (resolve, reject) {
            if (typeof EventSource === 'undefined') {
                return reject(makeError('EventSource is not available', { fallback: true }));
            }
            var es = new EventSource(url, { withCredentials: self.credentials === 'include' });
            var failures = 0;
            turn.cleanups.push(function () { es.close(); });
            function handle(name) {
                return function (ev) {
                    if (name === 'error' && !(typeof ev.data === 'string')) return onTransportError();
                    failures = 0;
                    var r = self._event(turn, name, parseData(ev.data), ev.lastEventId || null);
                    if (r === 'done') { es.close(); resolve(); }
                    else if (r instanceof Error) { es.close(); reject(r); }
                };
            }
            function onTransportError() {
                if (turn.settled) return;
                /* CLOSED: refused (HTTP error, wrong type, 204); CONNECTING: it retries with Last-Event-ID */
                if (es.readyState === 0 && turn.gotEvent) self.reconnects++;
                if (es.readyState === 2 || !turn.gotEvent || ++failures > self.maxReconnects) {
                    es.close();
                    reject(makeError(turn.gotEvent ? 'connection lost' : 'could not open the event stream',
                        { fallback: !turn.gotEvent }));
                }
            }
            EVENT_NAMES.forEach(function (name) { es.addEventListener(name, handle(name)); });
            es.onmessage = handle('message');
        });
    };

    EventTransportClient.prototype._postsse = function (turn, payload) {
        var self = this, ac = new AbortController();
        turn.cleanups.push(function () { ac.abort(); });
        return fetch(this.proxy, {
            method: 'POST', credentials: this.credentials, signal: ac.signal,
            headers: Object.assign({ 'Content-Type': 'application/json', Accept: 'application/json' }, this.headers),
            body: JSON.stringify({ endpoint: this.endpoint, payload: payload }),
        }).then(function (res) {
            if (!res.ok) return httpError(res, 'postsse').then(function (e) { throw e; });
            return res.json().then(function (body) {
                if (!body || !body.ok || !body.stream) {
                    throw makeError((body && body.error) || 'the bridge refused the payload', { fallback: false });
                }
                return self._sse(turn, body.stream);
            });
        }, function (err) {
            throw makeError(err.name === 'AbortError' ? 'closed' : 'network error: ' + err.message, { fallback: true });
        });
    };

    /* Reads one SSE response body; resolves 'done', rejects a server error, resolves 'eof' when cut. */
    EventTransportClient.prototype._readBody = function (turn, res) {
        var self = this;
        var reader = res.body.getReader(), decoder = new TextDecoder();
        var outcome = null;
        var parser = new SSEParser(function (name, data, id) {
            if (outcome) return;
            var r = self._event(turn, name, parseData(data), id);
            if (r) outcome = r;
        }, function (ms) { turn.retry = ms; });
        turn.cleanups.push(function () { reader.cancel().catch(function () {}); });
        function pump() {
            return reader.read().then(function (chunk) {
                if (chunk.done) {
                    parser.push(decoder.decode(), true);
                    return outcome || 'eof';
                }
                parser.push(decoder.decode(chunk.value, { stream: true }), false);
                if (outcome) {
                    reader.cancel().catch(function () {});
                    return outcome;
                }
                return pump();
            }, function () { return outcome || 'eof'; });
        }
        return pump().then(function (r) {
            if (r instanceof Error) throw r;
            return r;
        });
    };

    /* After a cut: GET endpoint with Last-Event-ID until done, without re-sending the prompt. */
    EventTransportClient.prototype._resume = function (turn, url) {
        var self = this, tries = 0;
        function again() {
            if (turn.settled) return Promise.resolve();
            if (++tries > self.maxReconnects) {
                return Promise.reject(makeError('connection lost (gave up resuming after ' + self.maxReconnects + ' tries)',
                    { fallback: false }));
            }
            var wait = Math.min(turn.retry || self.reconnectDelay, self.reconnectDelay * tries);
            return sleep(wait, turn).then(function () {
                if (turn.settled) return;
                var ac = new AbortController();
                turn.cleanups.push(function () { ac.abort(); });
                var before = turn.lastId;
                self.reconnects++;
                return fetch(withQuery(url, 'lastEventId=' + encodeURIComponent(turn.lastId)), {
                    method: 'GET', credentials: self.credentials, signal: ac.signal, cache: 'no-store',
                    headers: Object.assign({ Accept: 'text/event-stream', 'Last-Event-ID': turn.lastId }, self.headers),
                }).then(function (res) {
                    if (res.status === 204) throw makeError('the answer ended before it could be resumed', { fallback: false });
                    if (!res.ok) {
                        if (res.status >= 500) return again();
                        return httpError(res, turn.transport).then(function (e) { e.fallback = false; throw e; });
                    }
                    return self._readBody(turn, res).then(function (r) {
                        if (r === 'done') return;
                        if (turn.lastId !== before) tries = 0;
                        return again();
                    });
                }, function () { return again(); });
            });
        }
        return again();
    };

    EventTransportClient.prototype._fetch = function (turn, payload) {
        var self = this, ac = new AbortController();
        turn.cleanups.push(function () { ac.abort(); });
        return fetch(this.endpoint, {
            method: 'POST', credentials: this.credentials, signal: ac.signal, cache: 'no-store',
            headers: Object.assign({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }, this.headers),
            body: JSON.stringify(payload),
        }).then(function (res) {
            if (!res.ok) return httpError(res, 'fetch').then(function (e) { throw e; });
            if (!/^text\/event-stream/i.test(res.headers.get('Content-Type') || '') || !res.body) {
                throw makeError('not an event stream: ' + (res.headers.get('Content-Type') || 'no type'), { fallback: true });
            }
            return self._readBody(turn, res);
        }, function (err) {
            throw makeError('network error: ' + err.message, { fallback: true });
        }).then(function (r) {
            if (r === 'done' || turn.settled) return;
            if (!turn.lastId) throw makeError('the stream ended before any event', { fallback: true });
            return self._resume(turn, self.endpoint);
        });
    };

    EventTransportClient.prototype._wsUrl = function () {
        if (this.wsUrl) return this.wsUrl;
        var loc = typeof location !== 'undefined' ? location : null;
        var url = new URL(this.endpoint, loc ? loc.href : 'http://localhost/');
        url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
        return url.href;
    };

    /* Opens (or reuses) the WebSocket; rejects when it cannot open, never hangs. */
    EventTransportClient.prototype._wsOpen = function () {
        var self = this;
        if (this.ws && this.ws.readyState === 1) return Promise.resolve(this.ws);
        return new Promise(function (resolve, reject) {
            if (typeof WebSocket === 'undefined') return reject(makeError('WebSocket is not available', { fallback: true }));
            var ws;
            try { ws = new WebSocket(self._wsUrl()); } catch (e) {
                return reject(makeError('WebSocket: ' + e.message, { fallback: true }));
            }
            var timer = setTimeout(function () {
                try { ws.close(); } catch (e) { /* ignore */ }
                reject(makeError('WebSocket did not open in time', { fallback: true }));
            }, self.openTimeout);
            ws.onopen = function () { clearTimeout(timer); self.ws = ws; resolve(ws); };
            ws.onerror = ws.onclose = function () {
                clearTimeout(timer);
                reject(makeError('WebSocket could not be opened', { fallback: true }));
            };
        });
    };

    EventTransportClient.prototype._ws = function (turn, payload) {
        var self = this;
        return this._wsOpen().then(function (ws) {
            return new Promise(function (resolve, reject) {
                ws.onmessage = function (ev) {
                    var frame = parseData(ev.data);
                    if (!frame || typeof frame !== 'object' || !frame.event) return;
                    var r = self._event(turn, frame.event, parseData(frame.data), frame.id || null);
                    if (r === 'done') resolve();
                    else if (r instanceof Error) reject(r);
                };
                ws.onerror = function () { /* onclose follows */ };
                ws.onclose = function () {
                    if (self.ws === ws) self.ws = null;
                    if (turn.settled) return;
                    if (turn.lastId) {
                        /* resume the live turn over HTTP; the prompt is not sent again */
                        self._resume(turn, self.endpoint).then(resolve, reject);
                    } else {
                        reject(makeError(turn.gotEvent ? 'connection lost (the WebSocket closed mid-answer)'
                            : 'WebSocket closed before the answer', { fallback: !turn.gotEvent }));
                    }
                };
                turn.cleanups.push(function () {
                    ws.onmessage = null;
                    if (self.closed && ws.readyState <= 1) ws.close(1000, 'client closed');
                });
                try { ws.send(JSON.stringify(payload)); } catch (e) {
                    reject(makeError('WebSocket send failed', { fallback: true }));
                }
            });
        });
    };

    EventTransportClient.prototype._rest = function (turn, payload) {
        var self = this, ac = new AbortController();
        turn.cleanups.push(function () { ac.abort(); });
        return fetch(this.endpoint, {
            method: 'POST', credentials: this.credentials, signal: ac.signal, cache: 'no-store',
            headers: Object.assign({ 'Content-Type': 'application/json', Accept: 'application/json' }, this.headers),
            body: JSON.stringify(payload),
        }).then(function (res) {
            if (!res.ok) {
                return httpError(res, 'rest').then(function (e) {
                    if (!e.fallback) self._event(turn, 'error', e.data || { message: e.message });
                    throw e;
                });
            }
            return res.json().then(function (a) {
                var n = 0, id = a.id || 'rest';
                function emit(name, data) {
                    var r = self._event(turn, name, data, id + ':' + (++n));
                    if (r instanceof Error) throw r;
                }
                emit('msgid', { id: a.id, conversation: a.conversation });
                (a.tool_calls || []).forEach(function (c) {
                    if (c.error !== undefined) emit('tool.error', { tool: c.tool, label: c.label, error: c.error });
                    else emit('tool.finished', { tool: c.tool, label: c.label, result: c.result });
                });
                if (a.content) emit('token', { text: a.content });
                emit('meta', { finish_reason: a.finish_reason, usage: a.usage });
                emit('done', { status: 'complete' });
            });
        }, function (err) {
            throw makeError('network error: ' + err.message, { fallback: true });
        });
    };

    return EventTransportClient;
});
