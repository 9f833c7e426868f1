#!/usr/bin/env bash
# HTTP comparison: the Kevents HttpServer sample (one loop) beside nginx (one worker process) and an ASP.NET Core
# minimal API on Kestrel (bench/peers/KestrelPlaintext), all answering GET /plaintext with "Hello, World!" as
# text/plain, loaded by wrk in one run: -t1 -c64 and -c256, unpipelined and pipelined 16 deep
# (bench/wrk-pipeline.lua). Before the load, LoadGen checks each server's /plaintext byte for byte, pipelined.
# Beside each throughput: the server's CPU time per request, from utime+stime in /proc/PID/stat before and after.
#
# Environment knobs:
#   DURATION=5      seconds measured per load shape (each shape is preceded by a WARMUP-second wrk run)
#   WARMUP=1
#   BASE_PORT=7600  first loopback port; each server gets its own
#   ONLY=""         space-separated subset of: kevents nginx kestrel
#   SKIP_BUILD=0    1: reuse binaries from a previous run
# Output: markdown tables on stdout, also written to bench/results/http-<date>.md (raw wrk output beside it).
# Exit code: 0 when every available server was measured cleanly, 1 when a run failed (a server died, wrk saw
# errors or non-2xx responses, LoadGen's check failed), 2 when setup failed (tools missing and not installable).
set -uo pipefail

BENCH_NAME=http-compare
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
BASE_PORT=${BASE_PORT:-7600}
ONLY=${ONLY:-}
SKIP_BUILD=${SKIP_BUILD:-0}
BIN=$ROOT/bench/results/bin
STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT=$ROOT/bench/results/http-$STAMP.md
RAW=$ROOT/bench/results/http-$STAMP.raw.txt
bench_tmp; TMP=$BENCH_TMP
LOAD_START=$(load_avg)

mkdir -p "$BIN"
raise_fd_limit

# ---------------------------------------------------------------- tools
need wrk wrk || exit 2
need_nginx || exit 2
need dotnet dotnet-sdk-10.0 || exit 2

# ---------------------------------------------------------------- build
KEVENTS_PROJ=$ROOT/samples/HttpServer/HttpServer.csproj
KEVENTS_DLL=$ROOT/samples/HttpServer/bin/Release/net10.0/HttpServer.dll
KESTREL_DLL=$ROOT/bench/peers/KestrelPlaintext/bin/Release/net10.0/KestrelPlaintext.dll
LOADGEN_DLL=$ROOT/samples/LoadGen/bin/Release/net10.0/LoadGen.dll
log "building"
build_dll "$ROOT/samples/LoadGen/LoadGen.csproj" "$LOADGEN_DLL" || exit 2
HAVE_KEVENTS=0
if [[ -f $KEVENTS_PROJ ]]; then
    build_dll "$KEVENTS_PROJ" "$KEVENTS_DLL" && HAVE_KEVENTS=1
else
    log "samples/HttpServer does not exist in this tree: its row is skipped (n/a)"
fi
HAVE_KESTREL=0; build_dll "$ROOT/bench/peers/KestrelPlaintext/KestrelPlaintext.csproj" "$KESTREL_DLL" && HAVE_KESTREL=1

# nginx: one process (no master), one worker's worth of work, the same body and the same headers as the others
# (Content-Type text/plain, Content-Length, Date, Server), keep-alive without a request cap.
write_nginx_conf() {   # $1 port
    mkdir -p "$TMP/nginx"
    { nginx_prelude "$TMP/nginx"; cat <<EOF
events { worker_connections 4096; multi_accept on; }
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
$(nginx_temp_paths "$TMP/nginx")
    server {
        listen 127.0.0.1:$1 backlog=4096;
        location = /plaintext {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
EOF
    } >"$TMP/nginx/nginx.conf"
}

# ---------------------------------------------------------------- servers
# Loopback only: the sample takes --bind if it offers it (asked through its --help, as the flag set may grow).
KEVENTS_BIND=
if [[ $HAVE_KEVENTS == 1 ]] && timeout 60 dotnet "$KEVENTS_DLL" --help 2>&1 | grep -q -- "--bind"; then KEVENTS_BIND=" --bind 127.0.0.1"; fi

SERVERS=(kevents nginx kestrel)
declare -A LABEL=([kevents]="Kevents HttpServer (1 loop)" [nginx]="nginx (1 worker)" [kestrel]="Kestrel minimal API")
declare -A AVAIL=([kevents]=$HAVE_KEVENTS [nginx]=1 [kestrel]=$HAVE_KESTREL)
if [[ -n $ONLY ]]; then
    for id in "${SERVERS[@]}"; do [[ " $ONLY " == *" $id "* ]] || AVAIL[$id]=0; done
fi
server_argv() {   # $1 id, $2 port
    case $1 in
        kevents) echo "dotnet $KEVENTS_DLL --port $2 --loops 1$KEVENTS_BIND" ;;
        nginx)   write_nginx_conf "$2"; echo "$NGINX -p $TMP/nginx -c $TMP/nginx/nginx.conf" ;;
        kestrel) echo "dotnet $KESTREL_DLL $2" ;;
    esac
}

SERVER_PID=
start_server() {   # $1 id, $2 port
    local id=$1 port=$2 argv
    argv=$(server_argv "$id" "$port")
    # shellcheck disable=SC2086
    $argv >"$BIN/http-server-$id.log" 2>&1 &
    SERVER_PID=$!
    CHILDREN+=("$SERVER_PID")
    await_server "$id" "$port" "$SERVER_PID" "$BIN/http-server-$id.log"
}

# ---------------------------------------------------------------- load shapes
SHAPES=(c64 c256 c64p16 c256p16)
declare -A SHAPE_ARGS=([c64]="-c 64" [c256]="-c 256" [c64p16]="-c 64 -s $ROOT/bench/wrk-pipeline.lua" [c256p16]="-c 256 -s $ROOT/bench/wrk-pipeline.lua")
declare -A SHAPE_TAIL=([c64]="" [c256]="" [c64p16]="-- 16" [c256p16]="-- 16")
declare -A SHAPE_TITLE=([c64]="-c64" [c256]="-c256" [c64p16]="-c64 pipelined 16" [c256p16]="-c256 pipelined 16")

declare -A RPS CPU P99 STATUS VERIFY
FAILED=0

run_wrk() {   # $1 port, $2 shape, $3 seconds; prints wrk's output
    local port=$1 shape=$2 secs=$3
    # shellcheck disable=SC2086
    timeout $((secs + 30)) wrk -t1 ${SHAPE_ARGS[$shape]} -d "${secs}s" --latency "http://127.0.0.1:$port/plaintext" ${SHAPE_TAIL[$shape]}
}

run_shape() {   # $1 id, $2 shape, $3 port, $4 pid
    local id=$1 shape=$2 port=$3 pid=$4 out before after requests
    run_wrk "$port" "$shape" "$WARMUP" >/dev/null 2>&1
    before=$(cpu_ticks "$pid")
    out=$(run_wrk "$port" "$shape" "$DURATION" 2>&1)
    after=$(cpu_ticks "$pid")
    { echo "=== $id $shape"; echo "$out"; } >>"$RAW"
    requests=$(awk '/requests in/ { print $1 }' <<<"$out")
    RPS[$id,$shape]=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    P99[$id,$shape]=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    # wrk 4.1 sometimes prints 0.00us for the 99th percentile of pipelined runs (its histogram, not the server).
    [[ ${P99[$id,$shape]} == 0.00us ]] && P99[$id,$shape]="n/a (wrk)"
    if [[ -n $requests && $requests -gt 0 && -n $before && -n $after ]]; then
        CPU[$id,$shape]=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    fi
    if [[ -z ${RPS[$id,$shape]} ]] || grep -qE "Socket errors|Non-2xx" <<<"$out"; then
        STATUS[$id,$shape]="FAIL($(grep -E "Socket errors|Non-2xx" <<<"$out" | tr -s ' ' | head -1))"
        FAILED=1
    else
        STATUS[$id,$shape]=ok
    fi
    log "$id/$shape: ${RPS[$id,$shape]:-?} req/s, ${CPU[$id,$shape]:-?} us CPU/req, p99 ${P99[$id,$shape]:-?} ${STATUS[$id,$shape]}"
}

verify() {   # $1 id, $2 port: LoadGen checks status, framing and every body byte, pipelined 16 deep
    local id=$1 port=$2 line
    line=$(timeout 60 dotnet "$LOADGEN_DLL" --port "$port" --scenario http --path /plaintext --expect-body "Hello, World!" \
        -c 8 --depth 16 --duration 1 --warmup 0.5 --quiet 2>&1 | tail -1)
    echo "=== $id verify: $line" >>"$RAW"
    if [[ $line == *"errors=0 mismatches=0"* ]]; then VERIFY[$id]="ok"; else VERIFY[$id]="FAIL"; FAILED=1; fi
    log "$id: LoadGen check: $line"
}

# ---------------------------------------------------------------- run
# All servers start up front; each shape visits them one after another, so drifts in background load hit all alike.
: >"$RAW"
start_servers
for shape in "${SHAPES[@]}"; do
    for id in "${SERVERS[@]}"; do
        [[ ${AVAIL[$id]} == 1 ]] || continue
        if ! kill -0 "${PID[$id]}" 2>/dev/null; then
            log "$id: server died (see $BIN/http-server-$id.log)"; AVAIL[$id]=0; FAILED=1; continue
        fi
        run_shape "$id" "$shape" "${PORT[$id]}" "${PID[$id]}"
    done
done
for id in "${SERVERS[@]}"; do [[ -n ${PID[$id]:-} ]] && stop_pid "${PID[$id]}"; done

# ---------------------------------------------------------------- report
TABLE_COLUMNS=("${SHAPES[@]}")
title() { echo "${SHAPE_TITLE[$1]}"; }
cell() {   # $1 id, $2 shape
    local id=$1 shape=$2
    [[ -n ${STATUS[$id,$shape]:-} ]] || { echo "n/a"; return; }
    [[ ${STATUS[$id,$shape]} == ok ]] || { echo "${STATUS[$id,$shape]}"; return; }
    echo "$(fmt_rate "${RPS[$id,$shape]}") / ${CPU[$id,$shape]:-?} us"
}
{
    echo "## HTTP /plaintext comparison, $(date '+%Y-%m-%d %H:%M')"
    echo
    echo "$(nproc) CPUs, $(uname -r); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}') -t1, ${DURATION}s per shape after a ${WARMUP}s warm-up;" \
         "servers and client share the machine. Cells: requests/s / server CPU time per request (utime+stime from /proc)."
    echo "Load average (1 min) at the start: ${LOAD_START}; at the end: $(load_avg)."
    echo "Every server's /plaintext body was first checked byte for byte by LoadGen, pipelined 16 deep."
    echo
    server_table
    echo
    echo "Throughput ratios (same run):"
    echo
    ratio_table RPS "kevents nginx" "kevents kestrel" "kestrel nginx"
    echo
    echo "CPU time per request, the peer's over Kevents' (same run; above 1 means Kevents spends less per request). With"
    echo "client and servers sharing the cores, this moves far less with the machine's other work than throughput does:"
    echo
    ratio_table CPU "nginx kevents" "kestrel kevents"
    echo
    echo "p99 latency (wrk):"
    echo
    table_head server
    for id in "${SERVERS[@]}"; do
        row="| ${LABEL[$id]} |"
        for shape in "${SHAPES[@]}"; do row+=" ${P99[$id,$shape]:-n/a} |"; done
        echo "$row"
    done
} | tee "$OUT"
log "written to $OUT (raw wrk output in $RAW)"
exit $FAILED
