#!/usr/bin/env bash
# Redis-protocol comparison: the Kevents RespServer sample (one loop) beside redis-server (one I/O thread,
# persistence off) and Garnet (Microsoft's C# server, `dotnet tool install garnet-server`), loaded in one run by
# redis-benchmark -c 50 with PING_INLINE, PING_MBULK, SET and GET, at -P 1 and -P 16. Before the load, LoadGen
# checks each server's PING, SET and GET replies byte for byte, pipelined. Beside each throughput: the server's
# CPU time per request, from utime+stime in /proc/PID/stat before and after each test.
#
# Environment knobs:
#   REQUESTS_P1=200000     requests per test at -P 1
#   REQUESTS_P16=2000000   requests per test at -P 16
#   BASE_PORT=7700         first loopback port; each server gets its own
#   ONLY=""                space-separated subset of: kevents redis garnet
#   SKIP_BUILD=0           1: reuse binaries from a previous run
# Output: markdown tables on stdout, also written to bench/results/resp-<date>.md (raw output beside it).
# Garnet is installed into bench/results/tools (a local tool path, not the global one).
# Exit code: 0 when every available server was measured cleanly, 1 when a run failed, 2 when setup failed.
set -uo pipefail

BENCH_NAME=resp-compare
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REQUESTS_P1=${REQUESTS_P1:-200000}
REQUESTS_P16=${REQUESTS_P16:-2000000}
BASE_PORT=${BASE_PORT:-7700}
ONLY=${ONLY:-}
SKIP_BUILD=${SKIP_BUILD:-0}
BIN=$ROOT/bench/results/bin
TOOLS=$ROOT/bench/results/tools
GARNET_VERSION=${GARNET_VERSION:-}
STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT=$ROOT/bench/results/resp-$STAMP.md
RAW=$ROOT/bench/results/resp-$STAMP.raw.txt
bench_tmp; TMP=$BENCH_TMP
LOAD_START=$(load_avg)

mkdir -p "$BIN" "$TOOLS"
raise_fd_limit

# ---------------------------------------------------------------- tools
need redis-server redis-server || exit 2
need redis-benchmark redis-tools || exit 2
need dotnet dotnet-sdk-10.0 || exit 2
need_dotnet_tool garnet-server "$TOOLS" "$GARNET_VERSION" || exit 2
GARNET=$TOOLS/garnet-server

# ---------------------------------------------------------------- build
KEVENTS_PROJ=$ROOT/samples/RespServer/RespServer.csproj
KEVENTS_DLL=$ROOT/samples/RespServer/bin/Release/net10.0/RespServer.dll
LOADGEN_DLL=$ROOT/samples/LoadGen/bin/Release/net10.0/LoadGen.dll
log "building"
build_dll "$ROOT/samples/LoadGen/LoadGen.csproj" "$LOADGEN_DLL" || exit 2
HAVE_KEVENTS=0
if [[ -f $KEVENTS_PROJ ]]; then
    build_dll "$KEVENTS_PROJ" "$KEVENTS_DLL" && HAVE_KEVENTS=1
else
    log "samples/RespServer does not exist in this tree: its row is skipped (n/a)"
fi

# ---------------------------------------------------------------- servers
# Loopback only: the sample takes --bind if it offers it (asked through its --help, as the flag set may grow).
KEVENTS_BIND=
if [[ $HAVE_KEVENTS == 1 ]] && timeout 60 dotnet "$KEVENTS_DLL" --help 2>&1 | grep -q -- "--bind"; then KEVENTS_BIND=" --bind 127.0.0.1"; fi

SERVERS=(kevents redis garnet)
declare -A LABEL=([kevents]="Kevents RespServer (1 loop)" [redis]="redis-server (1 thread)" [garnet]="Garnet")
declare -A AVAIL=([kevents]=$HAVE_KEVENTS [redis]=1 [garnet]=1)
if [[ -n $ONLY ]]; then
    for id in "${SERVERS[@]}"; do [[ " $ONLY " == *" $id "* ]] || AVAIL[$id]=0; done
fi
server_argv() {   # $1 id, $2 port
    case $1 in
        kevents) echo "dotnet $KEVENTS_DLL --port $2$KEVENTS_BIND" ;;
        redis)   echo "redis-server --port $2 --bind 127.0.0.1 --save '' --appendonly no --io-threads 1 --dir $TMP --daemonize no" ;;
        garnet)  echo "$GARNET --port $2 --bind 127.0.0.1 --memory 1g --index 64m --logger-level Warning" ;;
    esac
}

SERVER_PID=
start_server() {   # $1 id, $2 port
    local id=$1 port=$2
    # eval: redis-server's --save '' must reach it as one empty argument; exec: $! is the server itself.
    eval "exec $(server_argv "$id" "$port")" >"$BIN/resp-server-$id.log" 2>&1 &
    SERVER_PID=$!
    CHILDREN+=("$SERVER_PID")
    for _ in $(seq 300); do
        kill -0 "$SERVER_PID" 2>/dev/null || { log "$id exited early (see $BIN/resp-server-$id.log)"; return 1; }
        if [[ $(timeout 2 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; then return 0; fi
        sleep 0.1
    done
    log "$id did not answer PING on port $port within 30 s"
    return 1
}

# ---------------------------------------------------------------- load
TESTS=(ping_inline ping_mbulk set get)
PIPES=(1 16)
declare -A RPS CPU P50 STATUS VERIFY
FAILED=0

run_test() {   # $1 id, $2 test, $3 pipeline, $4 port, $5 pid
    local id=$1 test=$2 pipe=$3 port=$4 pid=$5 n out before after rps
    n=$REQUESTS_P1; [[ $pipe == 16 ]] && n=$REQUESTS_P16
    before=$(cpu_ticks "$pid")
    out=$(timeout 300 redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n "$n" -P "$pipe" -t "$test" -q 2>&1 | tr '\r' '\n')
    after=$(cpu_ticks "$pid")
    { echo "=== $id $test -P $pipe"; echo "$out"; } >>"$RAW"
    rps=$(awk '/requests per second/ { v = $2 } END { print v }' <<<"$out")
    RPS[$id,$test,$pipe]=$rps
    P50[$id,$test,$pipe]=$(grep -o 'p50=[0-9.]* msec' <<<"$out" | tail -1 | tr -dc '0-9.')
    if [[ -n $rps && -n $before && -n $after ]]; then
        CPU[$id,$test,$pipe]=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    fi
    if [[ -z $rps ]] || grep -qiE "error|refused|reset" <<<"$out"; then
        STATUS[$id,$test,$pipe]="FAIL"
        FAILED=1
    else
        STATUS[$id,$test,$pipe]=ok
    fi
    log "$id/$test -P $pipe: ${rps:-?} req/s, ${CPU[$id,$test,$pipe]:-?} us CPU/req ${STATUS[$id,$test,$pipe]}"
}

verify() {   # $1 id, $2 port: LoadGen checks PING, SET and GET replies, pipelined 16 deep
    local id=$1 port=$2 line ok=ok
    for cmd in ping set get; do
        line=$(timeout 60 dotnet "$LOADGEN_DLL" --port "$port" --scenario resp --resp-command "$cmd" \
            -c 8 --depth 16 --duration 0.5 --warmup 0.2 --quiet 2>&1 | tail -1)
        echo "=== $id verify $cmd: $line" >>"$RAW"
        log "$id: LoadGen $cmd check: $line"
        [[ $line == *"errors=0 mismatches=0"* ]] || ok=FAIL
    done
    VERIFY[$id]=$ok
    [[ $ok == ok ]] || FAILED=1
}

# ---------------------------------------------------------------- run
: >"$RAW"
start_servers
# Each test visits the servers one after another, so drifts in background load hit all alike.
for pipe in "${PIPES[@]}"; do
    for test in "${TESTS[@]}"; do
        for id in "${SERVERS[@]}"; do
            [[ ${AVAIL[$id]} == 1 ]] || continue
            if ! kill -0 "${PID[$id]}" 2>/dev/null; then
                log "$id: server died (see $BIN/resp-server-$id.log)"; AVAIL[$id]=0; FAILED=1; continue
            fi
            run_test "$id" "$test" "$pipe" "${PORT[$id]}" "${PID[$id]}"
        done
    done
done
for id in "${SERVERS[@]}"; do [[ -n ${PID[$id]:-} ]] && stop_pid "${PID[$id]}"; done

# ---------------------------------------------------------------- report
upper() { tr '[:lower:]' '[:upper:]' <<<"$1"; }
cell() {   # $1 id, $2 column ("test,pipe")
    [[ -n ${STATUS[$1,$2]:-} ]] || { echo "n/a"; return; }
    [[ ${STATUS[$1,$2]} == ok ]] || { echo "${STATUS[$1,$2]}"; return; }
    echo "$(fmt_rate "${RPS[$1,$2]}") / ${CPU[$1,$2]:-?} us"
}
TABLE_COLUMNS=()
for pipe in "${PIPES[@]}"; do for test in "${TESTS[@]}"; do TABLE_COLUMNS+=("$test,$pipe"); done; done
title() { echo "$(upper "${1%,*}") -P ${1#*,}"; }
{
    echo "## RESP comparison, $(date '+%Y-%m-%d %H:%M')"
    echo
    echo "$(nproc) CPUs, $(uname -r); $(redis-server --version | awk '{print $1, $2, $3}'); Garnet $("$GARNET" --version 2>/dev/null | head -1);" \
         "redis-benchmark -c 50, $REQUESTS_P1 requests per test at -P 1 and $REQUESTS_P16 at -P 16 (3-byte values, one key);" \
         "servers and client share the machine. Cells: requests/s / server CPU time per request (utime+stime from /proc)."
    echo "Load average (1 min) at the start: ${LOAD_START}; at the end: $(load_avg)."
    echo "Every server's PING, SET and GET replies were first checked byte for byte by LoadGen, pipelined 16 deep."
    echo
    server_table
    echo
    echo "Throughput ratios (same run):"
    echo
    ratio_table RPS "kevents redis" "kevents garnet" "garnet redis"
    echo
    echo "CPU time per request, the peer's over Kevents' (same run; above 1 means Kevents spends less per request). With"
    echo "client and servers sharing the cores, this moves far less with the machine's other work than throughput does:"
    echo
    ratio_table CPU "redis kevents" "garnet kevents"
} | tee "$OUT"
log "written to $OUT (raw output in $RAW)"
exit $FAILED
