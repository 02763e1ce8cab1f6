#!/bin/sh
# Browser tests: the demo page and htdocs/EventTransportClient.js in a real
# headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core;
# no browser is downloaded) against a real httpd with the module, the fake
# upstream, SQLite memory, the weather tool and resumable streams.
# Prints TAP and ends with "N passed, N failed"; exit status 1 on failure.
# Screenshots go to t/logs/browser/.
#   BROWSER_TEST_KEEP=1   keep the servers running after the tests (Ctrl-C)
#   CHROMIUM=/path        another Chromium binary
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

fail() { echo "Bail out! $*"; echo "0 passed, 1 failed"; exit 1; }

make -s all || fail "make failed"
command -v node >/dev/null 2>&1 || fail "node is not installed (apt-get install nodejs npm)"
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || fail "no Chromium at $chromium (apt-get install chromium)"
if [ ! -f node_modules/playwright-core/package.json ]; then
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error >/dev/null || fail "npm ci failed"
    else
        npm install --no-audit --no-fund --loglevel=error >/dev/null || fail "npm install failed"
    fi
fi

free_port() {
    p=$1
    while bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}
port=$(free_port $((20000 + $$ % 20000)))

work=$(mktemp -d /tmp/sse-browser.XXXXXX)
chmod 755 "$work"
fake_pid=""
cleanup() {
    if [ -f "$work/run/httpd.pid" ]; then
        apache2 -f "$work/httpd.conf" -k stop 2>/dev/null ||
            kill "$(cat "$work/run/httpd.pid")" 2>/dev/null || true
    fi
    [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null || true
    sleep 0.3
    if [ -s "$work/logs/error_log" ]; then
        mkdir -p t/logs/browser && cp "$work/logs/error_log" t/logs/browser/error_log
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. scripts/lib.sh
start_fake "$work"
extra="$work/browser.conf"
demo_extra_conf "$work" "$fake_port" "$top" > "$extra"
cat >> "$extra" <<CONF
<Location /chatagentstream>
    SSEAssistantModel "fake:demo,calls=1,calls_if=weather,tool=get_weather,tokens=42,delay=40,usage"
    SSEAssistantResume on
    SSEAssistantResumeGrace 5
</Location>
# the same without resume: close() must cancel the upstream at once
<Location /chatnoresume>
    SetHandler sse-assistant
    SSEAssistantModel "fake:demo,usage"
</Location>
<Location /eventtransportpostsse>
    SSEAssistantResume on
    SSEAssistantResumeGrace 5
</Location>
CONF
sh scripts/mkconf.sh "$work" "$port" "http://127.0.0.1:$fake_port/v1" "$extra"
apache2 -f "$work/httpd.conf" -k start || fail "httpd did not start"
for _ in $(seq 1 25); do
    [ -f "$work/run/httpd.pid" ] && break
    sleep 0.2
done
[ -f "$work/run/httpd.pid" ] || { cat "$work/logs/error_log"; fail "httpd did not start"; }

mkdir -p t/logs/browser
BASE_URL="http://127.0.0.1:$port" FAKE_URL="http://127.0.0.1:$fake_port" \
CHROMIUM="$chromium" OUT_DIR="$top/t/logs/browser" \
    node t/browser/run.mjs
status=$?
if [ -n "${BROWSER_TEST_KEEP:-}" ]; then
    echo "# servers kept: http://127.0.0.1:$port/ (fake http://127.0.0.1:$fake_port) -- Ctrl-C to stop"
    while kill -0 "$(cat "$work/run/httpd.pid")" 2>/dev/null; do sleep 1; done
fi
exit $status
