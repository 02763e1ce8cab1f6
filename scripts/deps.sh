#!/bin/sh
# Installs the Debian 12 packages mod_sse_assistant needs to build, test
# and run its demo; skips what is already there. Run as root (or via sudo).
set -eu

PACKAGES="
make gcc pkg-config perl procps curl ca-certificates
apache2 apache2-dev
libcurl4-openssl-dev libjansson-dev
libaprutil1-dbd-sqlite3 libaprutil1-dbd-pgsql postgresql
libapache2-mod-perl2 libwww-perl
nghttp2-client redis-server memcached
chromium nodejs npm
"

# a command that is already there counts (e.g. a nodejs build that
# bundles npm, which then conflicts with Debian's npm package)
provided() {
    case $1 in
        nodejs) command -v node >/dev/null 2>&1 ;;
        npm) command -v npm >/dev/null 2>&1 ;;
        *) return 1 ;;
    esac
}

missing=""
for pkg in $PACKAGES; do
    if ! provided "$pkg" \
       && ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    echo "deps: all packages present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo sh "$0" "$@"
    fi
    echo "deps: missing:$missing -- run this script as root" >&2
    exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# the apache2 package must not start (or restart) the system's httpd
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    created_policy=1
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
[ "$created_policy" -eq 1 ] && rm -f "$policy"
echo "deps: done"
