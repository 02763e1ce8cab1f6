#!/bin/sh
# Runs every test: guards, httpd-free unit tests (ASan/UBSan), the
# Apache-Test suite against a real httpd with the fake upstream, and the
# browser client in headless Chromium. Installs missing Debian packages
# first. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

sh scripts/deps.sh || exit 1

# The test server's children run as nobody and read the tree (pages, the
# SQLite dir): a checkout under a 0700 directory such as /root would make
# every request fail. Then the tests run in a world-readable copy.
if [ "$(id -u)" -eq 0 ] && [ -z "${SSE_TEST_IN_COPY:-}" ] \
   && ! runuser -u nobody -- test -r "$top/t/htdocs/static.html" 2>/dev/null; then
    copy=$(mktemp -d /tmp/sse-assistant-test.XXXXXX)
    chmod 755 "$copy"
    echo "note: nobody cannot read $top; running the tests in a copy at $copy"
    (cd "$top" && tar cf - --exclude=./node_modules --exclude=./.git .) \
        | (cd "$copy" && tar xf -)
    chmod -R a+rX "$copy"
    SSE_TEST_IN_COPY=1 sh "$copy/scripts/test.sh"
    rc=$?
    mkdir -p "$top/t/logs"
    cp -R "$copy/t/logs/." "$top/t/logs/" 2>/dev/null
    rm -rf "$copy"
    exit $rc
fi

make -s all || { echo "0 passed, 1 failed"; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0

run_suite() {       # name, command...
    name=$1; shift
    echo "== $name"
    if "$@" >"$out/$name.log" 2>&1; then
        cat "$out/$name.log"
    else
        cat "$out/$name.log"
        echo "== $name FAILED"
        status=1
    fi
}

run_suite guards make -s guards
run_suite unit make -s unit
# Apache-Test: its own httpd on a free port, logs in t/logs
perl t/TEST.PL -clean >/dev/null 2>&1
run_suite apache perl t/TEST.PL -port select
# the browser client in headless Chromium against a real httpd
run_suite browser sh scripts/browser-test.sh

# one closing line over all suites (prove prints one per suite)
total=0; failed=0
for log in "$out"/unit.log "$out"/apache.log; do
    t=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/.* \([0-9]*\)\/[0-9]* subtests failed.*/\1/p' "$log" | tail -n 1)
    total=$((total + ${t:-0}))
    failed=$((failed + ${f:-0}))
done
g_failed=$(grep -c '^FAIL' "$out/guards.log" || true)
g_total=$(grep -c '^\(ok\|FAIL\)' "$out/guards.log" || true)
total=$((total + g_total)); failed=$((failed + g_failed))
b_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out/browser.log" | tail -n 1)
b_pass=$(echo "$b_line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
b_fail=$(echo "$b_line" | sed -n 's/.*, \([0-9]*\) failed.*/\1/p')
total=$((total + ${b_pass:-0} + ${b_fail:-0}))
failed=$((failed + ${b_fail:-0}))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1        # a suite died without counting (httpd did not start…)
fi
echo "$((total - failed)) passed, $failed failed"
exit $status
