#!/bin/sh
# make install DESTDIR=<temp>: the module, .load and .conf land under it
# (nothing outside), and httpd accepts the installed .load + annotated
# .conf as a2enmod would enable them.
cd "$(dirname "$0")/../.."
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
libexec=$(apxs -q LIBEXECDIR)
rc=0
if make -s install DESTDIR="$dest" >"$dest/install.log" 2>&1; then
    echo "ok - make install DESTDIR=... succeeds"
else
    echo "FAIL - make install DESTDIR=...: $(tail -n 3 "$dest/install.log")"; exit 1
fi
for f in "$libexec/mod_sse_assistant.so" \
         /etc/apache2/mods-available/sse_assistant.load \
         /etc/apache2/mods-available/sse_assistant.conf; do
    if [ -f "$dest$f" ]; then echo "ok - installs $f"
    else echo "FAIL - $f not installed under DESTDIR"; rc=1; fi
done
mods=$libexec
sed "s|$libexec/mod_sse_assistant.so|$dest$libexec/mod_sse_assistant.so|" \
    "$dest/etc/apache2/mods-available/sse_assistant.load" > "$dest/load.conf"
cat > "$dest/httpd.conf" <<CONF
ServerRoot "$dest"
ServerName localhost
# httpd -t binds nothing: any port will do
Listen 127.0.0.1:8529
PidFile "$dest/httpd.pid"
DefaultRuntimeDir "$dest"
ErrorLog "$dest/error_log"
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule socache_shmcb_module $mods/mod_socache_shmcb.so
Include "$dest/load.conf"
Include "$dest/etc/apache2/mods-available/sse_assistant.conf"
CONF
if out=$(apache2 -t -f "$dest/httpd.conf" 2>&1); then
    echo "ok - httpd -t accepts the installed .load and .conf"
else
    echo "FAIL - httpd -t on the installed files: $out"; rc=1
fi
exit $rc
