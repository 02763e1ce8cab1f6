#!/bin/sh
# bench/run.sh -- the benchmark of mod_sse_assistant (`make bench`).
#
# Starts the fake OpenAI upstream (build/fake-openai) and one httpd
# (scripts/mkconf.sh + conf/mpm_event_streams.conf), then measures, side by
# side for the fake directly, the module and mod_proxy_http (ProxyPass
# /proxy/ ... flushpackets=on):
#   1. time to first token (sequential requests)
#   2. per-token relay latency at 1 / 100 / 500 streams
#   3. httpd CPU per relayed token (/proc/<pid>/stat)
#   4. waves of 100 / 500 / 2000 streams: served at once, PSS per stream
#   5. RSS of the serving child over one 100,000-token answer
#   6. tool phase: SSEAssistantToolPhase stream vs separate (module only),
#      model answering without tools / calling one tool: TTFT, upstream
#      calls and completion tokens per turn (from the fake's /_fake/log)
#   7. POST-SSE time to first token: GET /chatagentstream vs POST to
#      /eventtransportpostsseproxy + GET of its stream URL (bench/postsse_ttft.pl)
# Writes bench/RESULTS.md (overwritten) and prints the same tables on stdout;
# progress goes to stderr.  Exit status 1 if any request failed.
#
# Env: BENCH_QUICK=1   smaller and faster (smoke test; waves 100/500 only)
#      BENCH_KEEP=1    keep the work directory (logs, raw JSON) afterwards
# Needs: make all (build/sse-bench, build/fake-openai, .libs/*.so), apache2,
#        perl, curl.  Loopback only.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$top/build/sse-bench
FAKE=$top/build/fake-openai
PROCSTAT="perl $top/bench/procstat.pl"
QUICK=${BENCH_QUICK:-0}
T_START=$(date +%s)
SO=$top/.libs/mod_sse_assistant.so
so_sum() { md5sum "$1" | cut -c1-12; }

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "ERROR: $*"; exit 2; }

for f in "$BENCH" "$FAKE" "$SO"; do
    [ -x "$f" ] || [ -f "$f" ] || die "$f missing: run make all"
done
command -v apache2 >/dev/null || die "apache2 not found"

# ---------------------------------------------------------------- sizes
if [ "$QUICK" = 1 ]; then
    TTFT_N=100; WARM_N=10
    LAT_STREAMS="1 100 500"; LAT_REQ_1=2; LAT_ROUNDS=1
    WAVES="100 500"
    LONG_TOKENS=20000
    TP_N=50; TP_WARM=5; TP_FD_N=5
    PS_N=100; PS_WARM=10
else
    TTFT_N=300; WARM_N=20
    LAT_STREAMS="1 100 500"; LAT_REQ_1=8; LAT_ROUNDS=3
    WAVES="100 500 2000"
    LONG_TOKENS=100000
    TP_N=200; TP_WARM=20; TP_FD_N=20
    PS_N=300; PS_WARM=20
fi
RAMP_MS=1000
# the module relays a delay=0 answer at >100k tokens/s, so 100,000 tokens
# last about a second: sample the serving child's RSS every 20 ms
LONG_SAMPLE_MS=20
DEADLINE_MS=1000
STREAM_PARAMS="tokens=50,delay=20,stamp"
TTFT_PARAMS="tokens=5,delay=0,stamp"
# 6. tool phase: answer size, and the upstream first-byte latency of the
# "with upstream latency" rows (every upstream call waits that long)
TP_TOKENS=20
TP_FIRST_DELAY=50

# ---------------------------------------------------------------- work dir
W=$(mktemp -d /tmp/sse-bench.XXXXXX)
chmod 755 "$W"
R=$W/res
mkdir -p "$R"
: > "$R/notes.txt"
# httpd loads a copy of the module taken now, so a rebuild in the tree while
# the bench runs (others may be working on it) cannot mix two builds or
# break an httpd restart half-way
cp -p "$SO" "$W/mod_sse_assistant.so"
SO_START=$(so_sum "$W/mod_sse_assistant.so")
note() { say "note: $*"; printf '%s\n' "$*" >> "$R/notes.txt"; }

fake_pid=""
httpd_parent=""
sampler_pid=""

stop_httpd() {
    local pid=""
    [ -f "$W/h/run/httpd.pid" ] && pid=$(cat "$W/h/run/httpd.pid" 2>/dev/null || true)
    [ -n "$pid" ] || pid=$httpd_parent
    [ -n "$pid" ] || return 0
    if [ -d "/proc/$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 150); do
            [ -d "/proc/$pid" ] || break
            sleep 0.1
        done
        if [ -d "/proc/$pid" ]; then
            say "httpd $pid did not stop in 15 s; SIGKILL"
            pkill -KILL -P "$pid" 2>/dev/null || true
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$W/h/run/httpd.pid"
    httpd_parent=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null || true
    stop_httpd || true
    if [ -n "$fake_pid" ]; then
        kill "$fake_pid" 2>/dev/null || true
        wait "$fake_pid" 2>/dev/null || true
    fi
    if [ "$rc" -ge 2 ] || [ "${BENCH_KEEP:-0}" = 1 ]; then
        [ -f "$W/h/logs/error_log" ] && { say "httpd error_log (tail):"; tail -n 20 "$W/h/logs/error_log" >&2; }
        say "work directory kept: $W"
    else
        rm -rf "$W"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- limits
# file descriptors: sse-bench, the fake and httpd inherit ours.
want_nofile=65536
ulimit -Hn "$want_nofile" 2>/dev/null || true
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge "$want_nofile" ]; then
    ulimit -n "$want_nofile"
else
    ulimit -n "$hard"
    note "RLIMIT_NOFILE hard limit is $hard here (raising it needs CAP_SYS_RESOURCE, which this environment lacks); soft limit set to $hard, enough for 2,000 streams (≈2 fds per stream on the client, ≈2 per stream across httpd)."
fi
NOFILE=$(ulimit -n)
# accept queue: ListenBacklog 4096 below is capped by net.core.somaxconn
if [ "$(id -u)" -eq 0 ]; then
    for kv in net.core.somaxconn=4096; do
        k=${kv%=*} v=${kv#*=}
        cur=$(sysctl -n "$k" 2>/dev/null || echo "")
        if [ -n "$cur" ] && [ "$cur" -lt "$v" ]; then
            if sysctl -qw "$k=$v" 2>/dev/null; then
                note "sysctl $k changed from $cur to $v (so 2,000 connects in 1 s fit the accept/SYN queues)."
            else
                note "sysctl $k is $cur (could not raise it to $v)."
            fi
        fi
    done
fi
SOMAXCONN=$(sysctl -n net.core.somaxconn 2>/dev/null || echo '?')
SYNBACKLOG=$(sysctl -n net.ipv4.tcp_max_syn_backlog 2>/dev/null || echo '?')

free_port() {
    perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(Listen => 1,
        LocalAddr => "127.0.0.1", LocalPort => 0, ReuseAddr => 1) or die $!;
        print $s->sockport, "\n"'
}

# ---------------------------------------------------------------- fake
"$FAKE" --listen 127.0.0.1 --port 0 --print-port --quiet --parent-pid $$ \
    > "$W/fake.port" 2> "$W/fake.err" &
fake_pid=$!
for _ in $(seq 1 50); do
    [ -s "$W/fake.port" ] && break
    sleep 0.1
done
FP=$(head -n1 "$W/fake.port" 2>/dev/null || true)
[ -n "$FP" ] || die "fake-openai did not report its port: $(cat "$W/fake.err")"
say "fake-openai pid $fake_pid on 127.0.0.1:$FP"

# ---------------------------------------------------------------- httpd
HP=$(free_port)
# Bench-only additions after the tuned mpm conf (conf/ is not edited):
#  StartServers 16: all 16 x 128 threads exist before a wave.  With the
#    conf's StartServers 2, mpm_event forks the other 14 children at its
#    maintenance rate (1, 2, 4, 8 ... per second), so a 2,000-stream burst
#    meets 256 threads and a full accept queue; connects then wait for SYN
#    retransmits (1 s, 3 s) and the wave is not served at once.
#  ListenBacklog 4096: the default 511 overflows in a 2,000-connect burst.
cat > "$W/extra.conf" <<EOF
Include "$top/conf/mpm_event_streams.conf"
<IfModule mpm_event_module>
    StartServers 16
</IfModule>
ListenBacklog 4096
ProxyPass /proxy/ http://127.0.0.1:$FP/ flushpackets=on
EOF
# 6. tool phase: one Location per SSEAssistantToolPhase, same tool (the
# fake's weather endpoint; its ?tag= counts the tool calls per mode)
for mode in stream separate; do
    cat >> "$W/extra.conf" <<EOF
<Location /bench-tools-$mode>
    SetHandler sse-assistant
    SSEAssistantMemory off
    SSEAssistantToolPhase $mode
    SSEAssistantMaxToolRounds 2
    SSEAssistantTool get_weather "http://127.0.0.1:$FP/_fake/tool/weather?tag=tp_tool_$mode" "Current weather" "$top/t/conf/weather.schema.json"
</Location>
EOF
done
sh "$top/scripts/mkconf.sh" "$W/h" "$HP" "http://127.0.0.1:$FP/v1" "$W/extra.conf"
sed -i "s|\"$SO\"|\"$W/mod_sse_assistant.so\"|" "$W/h/httpd.conf"
grep -qF "$W/mod_sse_assistant.so" "$W/h/httpd.conf" || die "could not point httpd.conf at the module copy"
apache2 -t -f "$W/h/httpd.conf" > "$W/configtest" 2>&1 \
    || die "httpd config test failed (module build in .libs broken?): $(tail -n 3 "$W/configtest")"
SERVERS=16
THREADS=$(awk '/^[[:space:]]*ThreadsPerChild/ {print $2}' "$top/conf/mpm_event_streams.conf")
THREADS=${THREADS:-128}

start_httpd() {
    apache2 -f "$W/h/httpd.conf" -k start \
        || die "apache2 did not start: $(tail -n 5 "$W/h/logs/error_log" 2>/dev/null)"
    local ok=0 c
    for _ in $(seq 1 200); do
        if [ -s "$W/h/run/httpd.pid" ]; then
            httpd_parent=$(cat "$W/h/run/httpd.pid")
            c=$($PROCSTAT count "$httpd_parent" 2>/dev/null || echo "0 0")
            # every child up with at least all its worker threads
            if [ "${c% *}" -ge "$SERVERS" ] && [ "${c#* }" -ge $((SERVERS * THREADS)) ] \
               && curl -fsS -o /dev/null "http://127.0.0.1:$HP/"; then
                ok=1
                break
            fi
        fi
        sleep 0.1
    done
    [ "$ok" = 1 ] || die "httpd not ready in 20 s (children/threads: ${c:-?})"
    sleep 0.5      # let the last threads settle before idle readings
}

restart_httpd() { stop_httpd; start_httpd; }

start_httpd
say "httpd pid $httpd_parent on 127.0.0.1:$HP ($SERVERS x $THREADS threads)"

# ---------------------------------------------------------------- targets
urlenc() { perl -MURI::Escape -e 'print uri_escape($ARGV[0])' "$1" 2>/dev/null \
           || perl -e '(my $s = $ARGV[0]) =~ s/([^A-Za-z0-9_.~-])/sprintf("%%%02X", ord $1)/ge; print $s' "$1"; }

# sets ARGS to the sse-bench options of target $1 with fake params $2
target_args() {
    local body="{\"model\":\"fake:$2\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
    case $1 in
    direct) ARGS=(--url "http://127.0.0.1:$FP/v1/chat/completions" --method POST
                  --header 'Content-Type: application/json' --body "$body") ;;
    module) ARGS=(--url "http://127.0.0.1:$HP/chatagentstream?prompt=$(urlenc "!fake $2 hi")") ;;
    proxy)  ARGS=(--url "http://127.0.0.1:$HP/proxy/v1/chat/completions" --method POST
                  --header 'Content-Type: application/json' --body "$body") ;;
    tools_stream|tools_separate)
            ARGS=(--url "http://127.0.0.1:$HP/bench-tools-${1#tools_}?prompt=$(urlenc "!fake $2 What is the weather?")") ;;
    esac
}

# bench NAME TARGET PARAMS sse-bench-options...: JSON in $R/NAME.json,
# httpd CPU ticks used during the run in $R/NAME.cpu
bench() {
    local name=$1 target=$2 params=$3 a b rc=0
    shift 3
    target_args "$target" "$params"
    a=$($PROCSTAT cpu "$httpd_parent")
    "$BENCH" "${ARGS[@]}" "$@" --json > "$R/$name.json" 2> "$R/$name.err" || rc=$?
    b=$($PROCSTAT cpu "$httpd_parent")
    echo $((b - a)) > "$R/$name.cpu"
    if [ "$rc" -ge 2 ] || [ ! -s "$R/$name.json" ]; then
        die "sse-bench failed for $name: $(cat "$R/$name.err")"
    fi
    perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>);
        printf STDERR "[bench]   %-16s ok %d failed %d served_at_once %d tokens %d\n",
            $ARGV[0], @$j{qw(ok failed served_at_once tokens_total)}' "$name" < "$R/$name.json"
}

# ---------------------------------------------------------------- 1. TTFT
say "1. time to first token: $TTFT_N sequential requests per path ($TTFT_PARAMS)"
for t in direct module proxy; do
    bench "warm_$t" "$t" "$TTFT_PARAMS" --concurrency 1 --requests "$WARM_N"
    bench "ttft_$t" "$t" "$TTFT_PARAMS" --concurrency 1 --requests "$TTFT_N"
done

# ---------------------------------------------------------------- 2+3. latency, CPU
for n in $LAT_STREAMS; do
    if [ "$n" = 1 ]; then req=$LAT_REQ_1; ramp=0; else req=$((n * LAT_ROUNDS)); ramp=$RAMP_MS; fi
    say "2. per-token latency: $n streams, $req requests ($STREAM_PARAMS)"
    for t in direct module proxy; do
        bench "lat${n}_$t" "$t" "$STREAM_PARAMS" --concurrency "$n" --requests "$req" \
            --ramp-ms "$ramp"
    done
done

# ---------------------------------------------------------------- 4. waves
# Each module/proxy wave starts from a freshly started httpd, so the idle
# PSS right before it is the same cold baseline and no wave reuses memory
# an earlier wave left in malloc/APR free lists.
for n in $WAVES; do
    for t in direct module proxy; do
        say "4. wave of $n streams: $t"
        if [ "$t" != direct ]; then
            restart_httpd
            $PROCSTAT pss "$httpd_parent" > "$R/wave${n}_$t.pss_idle"
            $PROCSTAT peak "$httpd_parent" $(( (RAMP_MS + 1000) / 1000 + 1 )) 100 \
                > "$R/wave${n}_$t.pss_peak" &
            sampler_pid=$!
        fi
        bench "wave${n}_$t" "$t" "$STREAM_PARAMS" --concurrency "$n" --requests "$n" \
            --ramp-ms "$RAMP_MS" --first-token-deadline-ms "$DEADLINE_MS"
        if [ -n "$sampler_pid" ]; then
            wait "$sampler_pid" || true
            sampler_pid=""
        fi
        sleep 0.5
    done
done

# ---------------------------------------------------------------- 5. long answer
say "5. one module stream of $LONG_TOKENS tokens (delay=0), RSS every $LONG_SAMPLE_MS ms"
restart_httpd
$PROCSTAT watch "$httpd_parent" "$R/long.watch" "$LONG_SAMPLE_MS" &
sampler_pid=$!
sleep 0.5
bench long module "tokens=$LONG_TOKENS,delay=0,stamp" --concurrency 1 --requests 1
sleep 0.5
kill -TERM "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
$PROCSTAT flat "$R/long.watch" > "$R/long.flat" || note "long answer: could not find the serving child in the RSS samples"

# ---------------------------------------------------------------- 6. tool phase
# The same turn through SSEAssistantToolPhase stream and separate.  Each
# measured run has its own fake tag, so /_fake/log?tag= gives exactly its
# upstream calls ("requests"), completion tokens the fake generated for it
# ("tokens_sent": answer tokens plus tool-call argument fragments, streamed
# or not) and the last bodies (stream flag, tools sent); the tool endpoint's
# tag (one per mode) and /_fake/stats are read before and after the run.
fake_get() { curl -fsS "http://127.0.0.1:$FP$1" > "$2" || die "GET $1 from the fake failed"; }
tool_phase() {
    local sc=$1 n=$2 warm=$3 params=$4 mode name
    for mode in stream separate; do
        name="tp_${sc}_$mode"
        say "6. tool phase $mode, $sc: $n sequential turns after $warm warm-up ($params)"
        [ "$warm" -gt 0 ] && bench "warm_$name" "tools_$mode" "$params,tag=${name}_warm" \
            --concurrency 1 --requests "$warm"
        fake_get "/_fake/log?tag=tp_tool_$mode" "$R/$name.tool_before"
        fake_get /_fake/stats "$R/$name.stats_before"
        bench "$name" "tools_$mode" "$params,tag=$name" --concurrency 1 --requests "$n"
        fake_get /_fake/stats "$R/$name.stats_after"
        fake_get "/_fake/log?tag=tp_tool_$mode" "$R/$name.tool_after"
        fake_get "/_fake/log?tag=$name" "$R/$name.log"
        printf '%s\n' "$params" > "$R/$name.params"
    done
}
TP_BASE="tokens=$TP_TOKENS,delay=0,stamp"
tool_phase notool    "$TP_N"    "$TP_WARM" "calls=0,$TP_BASE"
tool_phase tool      "$TP_N"    "$TP_WARM" "calls=1,tool=get_weather,$TP_BASE"
tool_phase notool_fd "$TP_FD_N" 2 "calls=0,$TP_BASE,first_delay=$TP_FIRST_DELAY"
tool_phase tool_fd   "$TP_FD_N" 2 "calls=1,tool=get_weather,$TP_BASE,first_delay=$TP_FIRST_DELAY"

# ---------------------------------------------------------------- 7. POST-SSE
# Same perl client for both paths, turns alternating which goes first.
say "7. POST-SSE time to first token: $PS_N sequential turns after $PS_WARM warm-up ($TTFT_PARAMS)"
ps_rc=0
perl "$top/bench/postsse_ttft.pl" "$HP" "$PS_N" "$PS_WARM" "!fake $TTFT_PARAMS hi" \
    > "$R/postsse.ttft" 2> "$R/postsse.err" || ps_rc=$?
[ -s "$R/postsse.ttft" ] || die "postsse_ttft.pl failed: $(cat "$R/postsse.err")"
[ "$ps_rc" = 0 ] || say "postsse_ttft.pl: some turns failed (see RESULTS.md)"

# fake-side sanity: no stream left open upstream
curl -fsS "http://127.0.0.1:$FP/_fake/stats" > "$R/fake_stats.json" 2>/dev/null || true

# ---------------------------------------------------------------- report
T_END=$(date +%s)
[ "$(so_sum "$SO")" = "$SO_START" ] || note ".libs/mod_sse_assistant.so was rebuilt during this run (md5 now $(so_sum "$SO")); every httpd start used the copy taken at the start (md5 $SO_START), so all tables are from that build."
{
    printf 'cpu\t%s\n' "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    printf 'nproc\t%s\n' "$(nproc)"
    printf 'mem\t%s\n' "$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    printf 'kernel\t%s\n' "$(uname -r)"
    printf 'os\t%s\n' "$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
    printf 'apache\t%s\n' "$(apache2 -v | sed -n 's/^Server version: //p')"
    printf 'curl\t%s\n' "$(curl-config --version 2>/dev/null || pkg-config --modversion libcurl)"
    printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'duration\t%s\n' "$((T_END - T_START))"
    printf 'quick\t%s\n' "$QUICK"
    printf 'module\t%s\n' "git $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$top" diff --quiet HEAD -- modules include mod_sse_assistant.c 2>/dev/null || echo ' + uncommitted changes'), .so built $(date -u -r "$W/mod_sse_assistant.so" '+%Y-%m-%d %H:%M:%S UTC'), md5 $SO_START"
    printf 'clk_tck\t%s\n' "$(getconf CLK_TCK)"
    printf 'nofile\t%s\n' "$NOFILE"
    printf 'somaxconn\t%s\n' "$SOMAXCONN"
    printf 'synbacklog\t%s\n' "$SYNBACKLOG"
    printf 'ttft_n\t%s\n' "$TTFT_N"
    printf 'warm_n\t%s\n' "$WARM_N"
    printf 'lat_streams\t%s\n' "$LAT_STREAMS"
    printf 'waves\t%s\n' "$WAVES"
    printf 'long_tokens\t%s\n' "$LONG_TOKENS"
    printf 'long_sample_ms\t%s\n' "$LONG_SAMPLE_MS"
    printf 'servers\t%s\n' "$SERVERS"
    printf 'threads\t%s\n' "$THREADS"
    printf 'tp_n\t%s\n' "$TP_N"
    printf 'tp_warm\t%s\n' "$TP_WARM"
    printf 'tp_fd_n\t%s\n' "$TP_FD_N"
    printf 'tp_tokens\t%s\n' "$TP_TOKENS"
    printf 'tp_first_delay\t%s\n' "$TP_FIRST_DELAY"
    printf 'ps_n\t%s\n' "$PS_N"
    printf 'ps_warm\t%s\n' "$PS_WARM"
} > "$R/meta.tsv"

rc=0
perl "$top/bench/report.pl" "$R" > "$W/RESULTS.md" || rc=$?
[ "$rc" -le 1 ] || die "report.pl failed"
cp "$W/RESULTS.md" "$top/bench/RESULTS.md"
cat "$W/RESULTS.md"
say "wrote bench/RESULTS.md in $((T_END - T_START)) s"
exit "$rc"
