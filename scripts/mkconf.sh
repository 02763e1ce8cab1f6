#!/bin/sh
# Writes a self-contained httpd.conf for the demo and the bench:
#   mkconf.sh DIR PORT UPSTREAM_URL [EXTRA_CONF]
# DIR gets httpd.conf, logs/ and run/; nothing of the system's Apache
# configuration is read or touched. EXTRA_CONF is Included at the end.
set -eu
dir=$1 port=$2 upstream=$3 extra=${4:-}
top=$(cd "$(dirname "$0")/.." && pwd)
mods=$(apxs -q LIBEXECDIR)
mkdir -p "$dir/logs" "$dir/run"
# the pages are served from DIR: the checkout may sit where the httpd user
# cannot look (/root is 0700)
rm -rf "$dir/htdocs"
cp -R "$top/htdocs" "$dir/htdocs"
chmod -R a+rX "$dir/htdocs"
user=""
if [ "$(id -u)" -eq 0 ]; then
    user="User www-data
Group www-data"
    chown www-data "$dir/logs" "$dir/run"
fi
cat > "$dir/httpd.conf" <<CONF
ServerRoot "$dir"
ServerName localhost
Listen 127.0.0.1:$port
PidFile "$dir/run/httpd.pid"
DefaultRuntimeDir "$dir/run"
ErrorLog "$dir/logs/error_log"
LogLevel warn
$user
LoadModule mpm_event_module   $mods/mod_mpm_event.so
LoadModule authz_core_module  $mods/mod_authz_core.so
LoadModule mime_module        $mods/mod_mime.so
LoadModule dir_module         $mods/mod_dir.so
LoadModule deflate_module     $mods/mod_deflate.so
LoadModule filter_module      $mods/mod_filter.so
LoadModule http2_module       $mods/mod_http2.so
LoadModule proxy_module       $mods/mod_proxy.so
LoadModule proxy_http_module  $mods/mod_proxy_http.so
LoadModule socache_shmcb_module $mods/mod_socache_shmcb.so
LoadModule sse_assistant_module "$top/.libs/mod_sse_assistant.so"
TypesConfig /etc/mime.types
Protocols h2c http/1.1
DocumentRoot "$dir/htdocs"
DirectoryIndex index.html
<Directory "$dir/htdocs">
    Require all granted
</Directory>
AddOutputFilterByType DEFLATE text/html text/css application/javascript

SSEAssistantUpstream $upstream
<Location /chatagentstream>
    SetHandler sse-assistant
</Location>
<Location /eventtransportpostsseproxy>
    SetHandler sse-postsse-proxy
</Location>
<Location /eventtransportpostsse>
    SetHandler sse-postsse-stream
</Location>
CONF
if [ -n "$extra" ]; then
    echo "Include \"$extra\"" >> "$dir/httpd.conf"
fi
