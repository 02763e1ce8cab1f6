# Shared by scripts/demo.sh and scripts/browser-test.sh (sourced, POSIX sh).

# Starts build/fake-openai on a free loopback port; sets fake_pid and
# fake_port. $1: a work dir for the handshake fifo.
start_fake() {
    mkfifo "$1/port"
    build/fake-openai --port 0 --print-port --quiet --parent-pid $$ > "$1/port" &
    fake_pid=$!
    read -r fake_port < "$1/port"
}

# Prints the httpd config of the demo's extras: SQLite memory in $1/db
# (writable by the httpd user) and the weather tool served by the fake.
# $1: work dir, $2: fake port, $3: top of the checkout.
demo_extra_conf() {
    mkdir -p "$1/db"
    [ "$(id -u)" -eq 0 ] && chown www-data "$1/db"
    cat <<CONF
LoadModule dbd_module $(apxs -q LIBEXECDIR)/mod_dbd.so
DBDriver sqlite3
DBDParams "$1/db/memory.sqlite"
DBDInitSQL "PRAGMA journal_mode=WAL"
DBDInitSQL "PRAGMA busy_timeout=5000"
<Location /chatagentstream>
    SSEAssistantTool get_weather "http://127.0.0.1:$2/_fake/tool/weather" "Current weather for a city" "$3/conf/tools/weather.schema.json"
</Location>
CONF
}
