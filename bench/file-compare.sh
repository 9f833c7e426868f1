#!/usr/bin/env bash
# Static files: the Kevents FileServer sample against nginx with ONE worker, same files, same loopback, loaded
# by wrk. Installs nginx and wrk with apt-get when missing.
#
# Environment knobs:
#   DURATION=5          seconds per wrk run
#   CONNS=64            connections for both runs
#   THREADS=1           wrk threads
#   NGINX_PORT=7580 FS_PORT=7581   loopback ports
#   SKIP_BUILD=0        1: reuse the Release build of samples/FileServer
# Output: a markdown table on stdout.
set -euo pipefail

BENCH_NAME=file-compare
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
NGINX_PORT=${NGINX_PORT:-7580}
FS_PORT=${FS_PORT:-7581}
SKIP_BUILD=${SKIP_BUILD:-0}
raise_fd_limit

need_nginx nginx || exit 1
need wrk wrk || exit 1

bench_tmp; WORK=$BENCH_TMP

mkdir -p "$WORK/site" "$WORK/nginx"
head -c 1024 /dev/urandom > "$WORK/site/1k.bin"
head -c 1048576 /dev/urandom > "$WORK/site/1m.bin"

{ nginx_prelude "$WORK/nginx"; cat <<CONF
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
$(nginx_temp_paths "$WORK/nginx")
    types { application/octet-stream bin; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/site;
    }
}
CONF
} > "$WORK/nginx/nginx.conf"

if [ "$SKIP_BUILD" != 1 ]; then
    build_release "$ROOT/samples/FileServer" "$WORK/build.log" || { cat "$WORK/build.log" >&2; exit 1; }
fi
FS_DLL=$ROOT/samples/FileServer/bin/Release/net10.0/FileServer.dll

"$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
CHILDREN+=($!)
dotnet "$FS_DLL" --root "$WORK/site" --port "$FS_PORT" --bind 127.0.0.1 > "$WORK/fileserver.log" 2>&1 &
CHILDREN+=($!)

wait_http() {   # until the server on port $1 answers a GET
    for _ in $(seq 1 100); do
        if curl -sf -o /dev/null "http://127.0.0.1:$1/1k.bin"; then return 0; fi
        sleep 0.1
    done
    echo "server on port $1 did not come up" >&2
    exit 1
}
wait_http "$NGINX_PORT"
wait_http "$FS_PORT"

# Both servers must serve the same bytes before their speed means anything.
for f in 1k.bin 1m.bin; do
    curl -sf "http://127.0.0.1:$NGINX_PORT/$f" | cmp -s - "$WORK/site/$f" || { echo "nginx served $f wrong" >&2; exit 1; }
    curl -sf "http://127.0.0.1:$FS_PORT/$f" | cmp -s - "$WORK/site/$f" || { echo "FileServer served $f wrong" >&2; exit 1; }
done

# wrk output -> "requests_per_sec bytes_per_sec"
run_wrk() {
    local port=$1 file=$2
    wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/$file" >/dev/null 2>&1 || true   # warm-up (JIT, caches)
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port/$file" 2>&1 | awk '
        /Requests\/sec/ { rps = $2 }
        /Transfer\/sec/ { v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[A-Za-z]+/, "", v);
                          m = 1; if (unit == "KB") m = 1024; else if (unit == "MB") m = 1048576; else if (unit == "GB") m = 1073741824;
                          bps = v * m }
        /Non-2xx|Socket errors/ { err = err " " $0 }
        END { printf "%s %s\n", rps, bps; if (err != "") print "wrk:" err > "/dev/stderr" }'
}

echo
echo "| file | connections | nginx req/s | nginx MiB/s | FileServer req/s | FileServer MiB/s | ratio (FileServer/nginx) | target |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
for spec in "1k.bin:requests/s >= 1.0x" "1m.bin:throughput >= 0.8x"; do
    file=${spec%%:*}; target=${spec#*:}
    read -r n_rps n_bps < <(run_wrk "$NGINX_PORT" "$file")
    read -r f_rps f_bps < <(run_wrk "$FS_PORT" "$file")
    awk -v f="$file" -v c="$CONNS" -v nr="$n_rps" -v nb="$n_bps" -v fr="$f_rps" -v fb="$f_bps" -v t="$target" 'BEGIN {
        printf "| %s | %d | %.0f | %.1f | %.0f | %.1f | %.2fx | %s |\n", f, c, nr, nb / 1048576, fr, fb / 1048576, (nr > 0 ? fr / nr : 0), t }'
done
echo
echo "wrk -t$THREADS -c$CONNS -d${DURATION}s; nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), 1 worker, sendfile on, access_log off; $(nproc) CPUs, $(uname -r)"
