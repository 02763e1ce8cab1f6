#!/bin/sh
# The demo: installs what is needed, builds, and runs the module in a real
# httpd on 127.0.0.1 (port $DEMO_PORT, default 8080, or the next free one)
# against the fake upstream, so it works without an API key.
# With OPENAI_API_KEY set it talks to OpenAI instead (DEMO_MODEL, default
# gpt-4o-mini; DEMO_UPSTREAM to point elsewhere, e.g. Ollama).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
sh scripts/deps.sh
make -s all

port=${DEMO_PORT:-8080}
if command -v bash >/dev/null 2>&1; then
    while bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; do
        port=$((port + 1))
    done
fi

work=$(mktemp -d /tmp/sse-demo.XXXXXX)
chmod 755 "$work"
fake_pid=""
cleanup() {
    [ -f "$work/run/httpd.pid" ] && kill "$(cat "$work/run/httpd.pid")" 2>/dev/null || true
    [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null || true
    sleep 0.3
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# the fake serves the demo's weather tool, and the answers when no key is set
. scripts/lib.sh
start_fake "$work"
extra="$work/demo.conf"
demo_extra_conf "$work" "$fake_port" "$top" > "$extra"
if [ -n "${OPENAI_API_KEY:-}" ]; then
    upstream=${DEMO_UPSTREAM:-https://api.openai.com/v1}
    cat >> "$extra" <<CONF
<Location /chatagentstream>
    SSEAssistantAPIKeyEnv OPENAI_API_KEY
    SSEAssistantModel ${DEMO_MODEL:-gpt-4o-mini}
    SSEAssistantSystemPrompt "You are a helpful assistant. Use get_weather for weather questions."
</Location>
CONF
else
    upstream="http://127.0.0.1:$fake_port/v1"
    # the stub answers with a canned text; prompts that mention "weather"
    # make it call the get_weather tool first
    cat >> "$extra" <<CONF
<Location /chatagentstream>
    SSEAssistantModel "fake:demo,calls=1,calls_if=weather,tool=get_weather,tokens=42,delay=80,usage"
</Location>
CONF
fi
sh scripts/mkconf.sh "$work" "$port" "$upstream" "$extra"
apache2 -f "$work/httpd.conf" -k start
for _ in 1 2 3 4 5 6 7 8 9 10; do
    [ -f "$work/run/httpd.pid" ] && break
    sleep 0.2
done
if [ ! -f "$work/run/httpd.pid" ]; then
    echo "httpd did not start:"; cat "$work/logs/error_log"; exit 1
fi

cat <<MSG

mod_sse_assistant demo is running (upstream: ${upstream%%/v1*}).

  Open:        http://127.0.0.1:$port/
  Or stream:   curl -N 'http://127.0.0.1:$port/chatagentstream?prompt=Hello'
  With a tool: curl -N 'http://127.0.0.1:$port/chatagentstream?prompt=What+is+the+weather+in+Paris'

Error log: $work/logs/error_log    Stop with Ctrl-C.
MSG
if [ -n "${DEMO_ONCE:-}" ]; then
    curl -sN "http://127.0.0.1:$port/chatagentstream?prompt=Hello"
    exit 0
fi
while kill -0 "$(cat "$work/run/httpd.pid")" 2>/dev/null; do sleep 1; done
