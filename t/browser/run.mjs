// Browser tests of htdocs/EventTransportClient.js and the demo page in a real
// headless Chromium. Started by scripts/browser-test.sh, which provides the
// servers through BASE_URL (httpd with the module) and FAKE_URL (the fake
// upstream). Prints TAP and a last line "N passed, N failed".
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const BASE = process.env.BASE_URL;
const FAKE = process.env.FAKE_URL;
const OUT = process.env.OUT_DIR || 't/logs/browser';
const ONLY = process.env.BROWSER_TEST_ONLY ? new RegExp(process.env.BROWSER_TEST_ONLY) : null;
if (!BASE || !FAKE) {
    console.log('Bail out! BASE_URL and FAKE_URL must be set (run scripts/browser-test.sh)');
    console.log('0 passed, 1 failed');
    process.exit(1);
}
mkdirSync(OUT, { recursive: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = Date.now().toString(36);
let tagN = 0;
const tag = (name) => `${name}-${run}-${++tagN}`;
const toks = (n) => Array.from({ length: n }, (_, i) => `tok${i + 1} `).join('');

async function fakeLog(t) {
    const res = await fetch(`${FAKE}/_fake/log?tag=${encodeURIComponent(t)}`);
    return res.json();
}
async function waitFor(what, fn, ms = 10000, step = 50) {
    const end = Date.now() + ms;
    let last;
    while (Date.now() < end) {
        last = await fn();
        if (last) return last;
        await sleep(step);
    }
    throw new Error(`timed out waiting for ${what}` + (last !== undefined ? ` (last: ${JSON.stringify(last)})` : ''));
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
function eq(got, want, msg) {
    if (got !== want) throw new Error(`${msg}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

/*
 * A loopback TCP relay in front of httpd that can cut every connection and
 * refuse new ones for a while: a real network drop (Chromium's offline
 * emulation does not break a response that is already streaming).
 */
function startRelay(target) {
    const u = new URL(target);
    const sockets = new Set();
    let downUntil = 0;
    const server = net.createServer((client) => {
        if (Date.now() < downUntil) { client.destroy(); return; }
        const up = net.connect(+u.port, u.hostname);
        sockets.add(client); sockets.add(up);
        const drop = () => { client.destroy(); up.destroy(); sockets.delete(client); sockets.delete(up); };
        client.on('error', drop); up.on('error', drop);
        client.on('close', drop); up.on('close', drop);
        client.pipe(up); up.pipe(client);
    });
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        cut(ms) { downUntil = Date.now() + ms; for (const s of sockets) s.destroy(); sockets.clear(); },
        close() { for (const s of sockets) s.destroy(); server.close(); },
    })));
}

/* ---------- tiny TAP harness ---------- */
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const latency = {};
let wsAvailable = null;
let wsReason = '';
let wsIds = false;

const launchArgs = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'];
const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: launchArgs, headless: true,
});

async function newPage(opts = {}) {
    const context = await browser.newContext(opts);
    const page = await context.newPage();
    page.on('pageerror', (e) => console.log(`# page error: ${e.message}`));
    return { context, page };
}

/* Runs one turn through the demo page UI; returns demo.last plus what was on screen at the first token. */
async function uiTurn(page, transport, prompt, { afterFirst } = {}) {
    await page.selectOption('#transport', transport);
    await page.fill('#prompt', prompt);
    const before = await page.evaluate(() => window.demo.turns);
    await page.press('#prompt', 'Enter');
    const first = await page.waitForFunction(() => {
        const l = window.demo.last;
        if (!l) return null;
        if (l.firstToken != null) {
            const bubbles = document.querySelectorAll('.assistant .text');
            return { shown: bubbles.length ? bubbles[bubbles.length - 1].textContent : '', busy: window.demo.busy };
        }
        return l.done != null ? { shown: '', busy: false } : null;
    }, null, { polling: 'raf', timeout: 20000 }).then((h) => h.jsonValue());
    if (afterFirst) await afterFirst();
    await page.waitForFunction((n) => window.demo.turns > n, before, { timeout: 30000 });
    const last = await page.evaluate(() => ({ ...window.demo.last }));
    return { ...last, firstShown: first.shown, busyAtFirst: first.busy };
}

/* Runs one turn through EventTransportClient directly; records every callback. */
async function clientTurn(page, options, extra = {}) {
    return page.evaluate(async ({ options, extra }) => {
        const t0 = performance.now();
        const events = [];
        let first = null;
        let text = '';
        const c = new EventTransportClient(options);
        window.lastClient = c;
        let error = null;
        try {
            await c.connect((name, data, id) => {
                events.push(name);
                if (name === 'token') {
                    if (first == null) first = performance.now() - t0;
                    text += data.text;
                }
            });
        } catch (e) { error = { message: e.message, name: e.name, status: e.status }; }
        let second = null;
        if (extra.followUp && !error) {
            let t2 = '';
            const convBefore = c.conversation;
            try {
                c.callback = (name, data) => { if (name === 'token') t2 += data.text; };
                await c.request({ prompt: extra.followUp });
                second = { text: t2, conversation: c.conversation, convBefore };
            } catch (e) { second = { error: e.message }; }
        }
        return { events, first, done: performance.now() - t0, text, error, transport: c.transport,
            attempts: c.attempts, conversation: c.conversation, second };
    }, { options, extra });
}

/* ---------- tests ---------- */

test('ES module entry exports the same class', async () => {
    const { context, page } = await newPage();
    await page.goto(`${BASE}/`);
    const r = await page.evaluate(async () => {
        const m = await import('/EventTransportClient.mjs');
        return { same: m.default === window.EventTransportClient && m.EventTransportClient === m.default,
            type: typeof m.default };
    });
    await context.close();
    assert(r.same, `module exports differ: ${JSON.stringify(r)}`);
});

test('ws availability probe', async () => {
    const { context, page } = await newPage();
    await page.goto(`${BASE}/`);
    const r = await page.evaluate(() => new Promise((resolve) => {
        const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/chatagentstream');
        const t = setTimeout(() => resolve({ open: false, why: 'timeout' }), 5000);
        ws.onopen = () => { ws.send(JSON.stringify({ prompt: '!fake demo=0,tokens=1 probe' })); };
        ws.onmessage = (ev) => {
            clearTimeout(t); ws.close();
            let f = {}; try { f = JSON.parse(ev.data); } catch (e) { /* not JSON */ }
            resolve({ open: true, ids: f.id !== undefined });
        };
        ws.onerror = () => { clearTimeout(t); resolve({ open: false, why: 'the upgrade was refused' }); };
    }));
    await context.close();
    wsAvailable = r.open;
    wsIds = !!r.ids;
    wsReason = r.open ? '' : `WebSocket on /chatagentstream does not open (${r.why}): server without WebSocket support`;
    console.log(`# ws available: ${r.open}${r.open ? ', frames carry event ids: ' + !!r.ids : ' -- ' + r.why}`);
});

for (const transport of ['sse', 'postsse', 'fetch', 'ws', 'rest']) {
    test(`${transport}: demo page streams the answer incrementally, exact text`, async () => {
        if (transport === 'ws' && !wsAvailable) return { skip: wsReason || 'the ws probe did not run' };
        const { context, page } = await newPage({ viewport: { width: 1000, height: 800 } });
        await page.goto(`${BASE}/`);
        const t = tag(`ui-${transport}`);
        const r = await uiTurn(page, transport, `!fake demo=0,tokens=10,delay=150,tag=${t} count for me`);
        eq(r.error, null, 'error');
        eq(r.text, toks(10), 'final text');
        const shown = await page.evaluate(() => [...document.querySelectorAll('.assistant .text')].pop().textContent);
        eq(shown, toks(10), 'text on the page');
        eq(r.events.filter((e) => e === 'token').length, transport === 'rest' ? 1 : 10, 'token callbacks');
        eq(r.events.filter((e) => e === 'done').length, 1, 'done callbacks');
        eq(r.events.filter((e) => e === 'msgid').length, 1, 'msgid callbacks');
        eq(r.used, transport, 'transport used');
        latency[transport] = Math.round(r.firstToken);
        if (transport !== 'rest') {
            // 10 tokens 150 ms apart: the first must be on screen well before the end
            assert(r.done - r.firstToken > 900, `not incremental: first token ${r.firstToken} ms, done ${r.done} ms`);
            assert(r.firstShown.length > 0 && r.firstShown.length < toks(10).length,
                `page showed ${JSON.stringify(r.firstShown)} at the first token`);
        }
        eq((await fakeLog(t)).requests, 1, 'upstream requests');
        console.log(`# ${transport}: first token ${Math.round(r.firstToken)} ms, done ${Math.round(r.done)} ms`);
        await context.close();
    });
}

test('client: one callback per event, follow-up request keeps the conversation (fetch, sse, rest)', async () => {
    const { context, page } = await newPage();
    await page.goto(`${BASE}/`);
    for (const transport of ['fetch', 'sse', 'postsse', 'rest']) {
        const t = tag(`cb-${transport}`);
        const r = await clientTurn(page, { transport, payload: { prompt: `!fake demo=0,tokens=4,tag=${t} hi` } },
            { followUp: `!fake demo=0,tokens=2,tag=${t}b again` });
        eq(r.error, null, `${transport} error`);
        const want = transport === 'rest' ? ['msgid', 'token', 'meta', 'done']
            : ['msgid', 'token', 'token', 'token', 'token', 'meta', 'done'];
        eq(r.events.join(','), want.join(','), `${transport} events`);
        eq(r.text, toks(4), `${transport} text`);
        assert(r.second && !r.second.error, `${transport} follow-up failed: ${JSON.stringify(r.second)}`);
        eq(r.second.text, toks(2), `${transport} follow-up text`);
        eq(r.second.conversation, r.second.convBefore, `${transport} follow-up conversation`);
        const body = (await fakeLog(`${t}b`)).bodies;
        const msgs = body && body.length ? body[body.length - 1].messages : [];
        assert(msgs.length >= 3, `${transport} follow-up sent no memory (${msgs.length} messages)`);
    }
    await context.close();
});

test('client: events option filters the callback, server errors reject with the message', async () => {
    const { context, page } = await newPage();
    await page.goto(`${BASE}/`);
    const t = tag('filter');
    const r = await clientTurn(page, { transport: 'fetch', events: ['token'],
        payload: { prompt: `!fake demo=0,tokens=3,tag=${t} hi` } });
    eq(r.events.join(','), 'token,token,token', 'filtered events');
    for (const transport of ['fetch', 'sse', 'postsse', 'rest']) {
        const t2 = tag(`err-${transport}`);
        const e = await clientTurn(page, { transport,
            payload: { prompt: `!fake demo=0,status=429,tag=${t2} hi` } });
        assert(e.error && /./.test(e.error.message), `${transport}: no rejection`);
        console.log(`# ${transport} upstream 429 -> ${JSON.stringify(e.error.message)}`);
    }
    const bad = await clientTurn(page, { transport: 'fetch', payload: { prompt: '   ' } });
    assert(bad.error && bad.error.status === 400 && /prompt/i.test(bad.error.message),
        `blank prompt: ${JSON.stringify(bad.error)}`);
    await context.close();
});

test('auto: falls back when the WebSocket is refused, and completes', async () => {
    const { context, page } = await newPage();
    await page.goto(`${BASE}/`);
    // a path that is no WebSocket endpoint (404), then a port nobody listens on
    for (const wsUrl of [`${BASE.replace(/^http/, 'ws')}/no-websocket-here`, 'ws://127.0.0.1:9/']) {
        const t = tag('auto');
        const r = await clientTurn(page, { transport: 'auto', wsUrl,
            payload: { prompt: `!fake demo=0,tokens=5,delay=20,tag=${t} hi` } });
        eq(r.error, null, 'error');
        eq(r.text, toks(5), 'text');
        eq(r.attempts[0] && r.attempts[0].transport, 'ws', 'first attempt');
        assert(r.transport && r.transport !== 'ws', `ended on ${r.transport}`);
        eq((await fakeLog(t)).requests, 1, 'upstream requests');
        console.log(`# auto with ${wsUrl}: ${r.attempts.map((a) => a.transport + ' failed (' + a.error + ')').join(', ')}; used ${r.transport}`);
    }
    // and the demo page's own auto choice against this server
    const t = tag('auto-page');
    const r = await uiTurn(page, 'auto', `!fake demo=0,tokens=5,tag=${t} hi`);
    eq(r.error, null, 'page error');
    eq(r.text, toks(5), 'page text');
    console.log(`# demo page auto used ${r.used}`);
    await context.close();
});

for (const transport of ['sse', 'postsse', 'fetch', 'ws']) {
    test(`${transport}: stop (close()) cancels the upstream`, async () => {
        if (transport === 'ws' && !wsAvailable) return { skip: wsReason || 'the ws probe did not run' };
        const { context, page } = await newPage();
        await page.goto(`${BASE}/`);
        // without resume the upstream must go at once; with resume (the demo
        // location) it may finish the grace (5 s) first
        for (const endpoint of ['/chatnoresume', '/chatagentstream']) {
            const t = tag(`stop-${transport}`);
            await page.evaluate(({ transport, endpoint, prompt }) => {
                window.stopRun = { tokens: 0, result: null };
                const c = window.stopClient = new EventTransportClient({ transport, endpoint, payload: { prompt } });
                c.connect((n) => { if (n === 'token') window.stopRun.tokens++; })
                    .then(() => { window.stopRun.result = 'resolved'; }, (e) => { window.stopRun.result = e.name; });
            }, { transport, endpoint, prompt: `!fake demo=0,tokens=200,delay=100,tag=${t} long` });
            await page.waitForFunction(() => window.stopRun.tokens >= 2, null, { timeout: 10000 });
            const closedAt = Date.now();
            await page.evaluate(() => window.stopClient.close());
            const limit = endpoint === '/chatnoresume' ? 3000 : 9000;
            const log = await waitFor(`${t} peer_closed`, async () => {
                const l = await fakeLog(t);
                return l.last && l.last.state === 'peer_closed' ? l : null;
            }, limit);
            const after = Date.now() - closedAt;
            eq(await page.evaluate(() => window.stopRun.result), 'AbortError', 'promise after close()');
            assert(log.last.tokens_sent < 150, `upstream kept going: ${log.last.tokens_sent} tokens`);
            console.log(`# ${transport} ${endpoint}: upstream peer_closed ${after} ms after close()`);
        }
        await context.close();
    });
}

test('demo page: stop button, tool call shown, history restored after reload', async () => {
    const { context, page } = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await page.goto(`${BASE}/`);
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    // a tool call (the location's model calls get_weather when the prompt says weather)
    const tool = await uiTurn(page, 'fetch', 'What is the weather in Paris?');
    eq(tool.error, null, 'tool turn error');
    assert(tool.events.includes('tool.started') && tool.events.includes('tool.finished'), `tool events: ${tool.events}`);
    const toolText = await page.textContent('.tool');
    assert(/Current weather for a city/.test(toolText) && /sunny/.test(toolText), `tool bubble: ${toolText}`);
    const t = tag('ui-stop');
    const stopped = await uiTurn(page, 'sse', `!fake demo=1,tokens=200,delay=60,tag=${t} long story`, {
        afterFirst: async () => { await sleep(500); await page.click('#stop'); },
    });
    eq(stopped.error, 'closed by the client', 'stop result');
    await waitFor('stop reached the upstream', async () => {
        const l = await fakeLog(t);
        return l.last && l.last.state === 'peer_closed';
    }, 9000);
    const shot = join(OUT, 'demo-phone.png');
    await page.screenshot({ path: shot });
    console.log(`# screenshot ${shot}`);
    const before = await page.$$eval('.msg.user, .msg.assistant', (n) => n.length);
    const conv = await page.evaluate(() => localStorage.getItem('sse-conversation'));
    assert(conv && conv.startsWith('conv_'), `conversation in localStorage: ${conv}`);
    await page.reload();
    await page.waitForFunction(() => window.demo.restored !== undefined, null, { timeout: 10000 });
    const users = await page.$$eval('.msg.user', (n) => n.map((x) => x.textContent));
    const answers = await page.$$eval('.msg.assistant .text', (n) => n.map((x) => x.textContent));
    assert(users.includes('What is the weather in Paris?'), `restored user messages: ${JSON.stringify(users)}`);
    assert(answers.some((a) => /sunny/.test(a)), `restored answers: ${JSON.stringify(answers)}`);
    console.log(`# restored ${users.length + answers.length} messages (page had ${before})`);
    await page.screenshot({ path: join(OUT, 'demo-phone-restored.png') });
    await context.close();
});

test('demo page: readable error message', async () => {
    const { context, page } = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await page.goto(`${BASE}/`);
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    const r = await uiTurn(page, 'sse', `!fake demo=0,tokens=3,error_after=2,tag=${tag('uierr')} hi`);
    assert(r.error, 'no error');
    const msg = await page.textContent('.msg.error');
    assert(msg && msg.length > 3 && !/\[object/.test(msg), `error bubble: ${msg}`);
    console.log(`# error shown: ${JSON.stringify(msg)}`);
    await page.screenshot({ path: join(OUT, 'demo-phone-error.png') });
    await context.close();
});

for (const transport of ['sse', 'postsse', 'fetch', 'ws']) {
    test(`${transport}: a network drop mid-answer resumes, no second upstream request, no duplicates`, async () => {
        if (transport === 'ws' && !wsAvailable) return { skip: wsReason || 'the ws probe did not run' };
        if (transport === 'ws' && !wsIds) {
            return { skip: 'TODO: ws frames are {"event","data"} without the event id, so a dropped WebSocket '
                + 'cannot be resumed with Last-Event-ID (the client resumes over HTTP GET once frames carry "id")' };
        }
        const relay = await startRelay(BASE);
        const { context, page } = await newPage();
        await page.goto(`${relay.url}/`);
        const t = tag(`drop-${transport}`);
        const n = 30;
        await page.evaluate(({ transport, prompt }) => {
            window.dropRun = { text: '', tokens: 0, ids: [], result: null, error: null };
            const c = window.dropClient = new EventTransportClient({ transport, payload: { prompt }, reconnectDelay: 300 });
            c.connect((name, data, id) => {
                window.dropRun.ids.push(id);
                if (name === 'token') { window.dropRun.tokens++; window.dropRun.text += data.text; }
            }).then(() => { window.dropRun.result = 'ok'; },
                (e) => { window.dropRun.result = 'error'; window.dropRun.error = e.message; });
        }, { transport, prompt: `!fake demo=0,tokens=${n},delay=150,tag=${t} long` });
        await page.waitForFunction(() => window.dropRun.tokens >= 3, null, { timeout: 10000 });
        relay.cut(1500);
        const offAt = await page.evaluate(() => window.dropRun.tokens);
        await page.waitForFunction(() => window.dropRun.result, null, { timeout: 30000 });
        relay.close();
        const r = await page.evaluate(() => ({ ...window.dropRun, reconnects: window.dropClient.reconnects }));
        eq(r.error, null, 'error');
        assert(r.reconnects >= 1, `the connection was not dropped (reconnects ${r.reconnects})`);
        eq(r.text, toks(n), 'final text');
        const dupes = r.ids.filter((id, i) => id && r.ids.indexOf(id) !== i);
        eq(dupes.length, 0, 'duplicate event ids');
        const log = await fakeLog(t);
        eq(log.requests, 1, 'upstream requests');
        console.log(`# ${transport}: connections cut after ${offAt} tokens, refused for 1.5 s, resumed (${r.reconnects} reconnects) to ${r.tokens} tokens, 1 upstream request`);
        await context.close();
    });
}

test('demo page screenshots (desktop and 390x844 phone)', async () => {
    for (const [name, viewport, mobile] of [['demo-desktop', { width: 1100, height: 760 }, false],
        ['demo-phone-chat', { width: 390, height: 844 }, true]]) {
        const { context, page } = await newPage({ viewport, isMobile: mobile, hasTouch: mobile });
        await page.goto(`${BASE}/`);
        await page.evaluate(() => localStorage.clear());
        await page.reload();
        await uiTurn(page, 'auto', 'Hello! What can you do?');
        await uiTurn(page, 'fetch', 'What is the weather in Paris?');
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
        assert(!overflow, `${name}: horizontal overflow`);
        await page.screenshot({ path: join(OUT, `${name}.png`) });
        console.log(`# screenshot ${join(OUT, name + '.png')}`);
        await context.close();
    }
});

/* ---------- run ---------- */
const selected = tests.filter((t) => !ONLY || ONLY.test(t.name));
console.log(`1..${selected.length}`);
let passed = 0, failed = 0, skipped = 0, i = 0;
for (const t of selected) {
    i++;
    try {
        const r = await t.fn();
        if (r && 'skip' in r) {
            skipped++;
            console.log(`ok ${i} - ${t.name} # SKIP ${r.skip}`);
        } else {
            passed++;
            console.log(`ok ${i} - ${t.name}`);
        }
    } catch (e) {
        failed++;
        console.log(`not ok ${i} - ${t.name}`);
        for (const line of String(e && e.stack || e).split('\n').slice(0, 6)) console.log(`#   ${line}`);
    }
}
await browser.close();
console.log('# first-token latency in the browser (ms, fake upstream tokens=10,delay=150): ' +
    (Object.keys(latency).length ? Object.entries(latency).map(([k, v]) => `${k}=${v}`).join(' ') : 'none'));
if (skipped) console.log(`# ${skipped} skipped`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
