#!/usr/bin/env bash
# Echo comparison: the Kevents EchoServer sample against a hand-written C epoll server,
# a C thread-per-connection server (blocking threads, 64 KiB stacks), a plain .NET Socket
# server, Kestrel's ConnectionHandler and Node's net module, all driven by the repository's
# own C load client (bench/peers/echo-client.c). Besides throughput and latency it reports
# each server's CPU time per message (utime+stime from /proc/PID/stat over the measured
# window) and its RSS per idle connection.
#
# Environment knobs:
#   DURATION=5      seconds measured per load shape
#   WARMUP=1        seconds of load before measuring (lets the JITs settle)
#   IDLE_CONNS=10000  connections opened for the memory-per-idle-connection column
#   PIN=0           1: servers on CPU SERVER_CPU, client on CPU CLIENT_CPU; 0: let the scheduler
#                   place them (default: on a 2-core box shared with other work, pinning each side
#                   to one core made every figure far noisier)
#   SERVER_CPU=1 CLIENT_CPU=0
#   BASE_PORT=7400  first loopback port; each server gets its own
#   SKIP_BUILD=0    1: reuse binaries from a previous run
#   ONLY="c kevents kpipe"  run only these servers (ids: c thread kevents kpipe kuring kpipeuring socket kestrel
#                   node; default all; kuring and kpipeuring are the stream and pipe APIs on the io_uring backend;
#                   kusend is kuring with ring sends, KEVENTS_IO_URING_SENDS=1, kusend32 the same submitting every
#                   32 connections' sends mid-turn, KEVENTS_IO_URING_SENDS_BATCH=32; neither in the default set)
#   SHAPES_ONLY="c64 d16"  run only these load shapes (lat1 c64 c1000 d16 k4; default all)
#   BASELINE_DIR=   a directory holding another build of EchoServer.dll (e.g. of main): adds the rows
#                   kbase and kpipebase (stream and pipe API of that build) for before/after in one run
#   SKIP_IDLE=0     1: leave out the memory column (no idle-connection runs)
#   SKIP_LOAD=0     1: only the memory column (no load shapes); with IDLE_CONNS=19000 it is the pipe-memory
#                   measurement of bench/README.md (the idle client is its own process, so each side stays
#                   under a 20,000-descriptor limit)
# Output: a markdown table on stdout, also written to bench/results/echo-<date>.md.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=$ROOT/bench/peers
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
IDLE_CONNS=${IDLE_CONNS:-10000}
PIN=${PIN:-0}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
BASE_PORT=${BASE_PORT:-7400}
SKIP_BUILD=${SKIP_BUILD:-0}
BIN=$ROOT/bench/results/bin
STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT=$ROOT/bench/results/echo-$STAMP.md
RAW=$ROOT/bench/results/echo-$STAMP.raw.txt

# Every .NET peer gets one runtime socket-engine (epoll) thread, like the single-threaded peers.
export DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT=${DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT:-1}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

mkdir -p "$BIN"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log() { echo "[echo-compare] $*" >&2; }

# ---------------------------------------------------------------- cleanup
CHILDREN=()
stop_pid() {
    local pid=$1
    [[ -z $pid ]] && return
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
}
cleanup() { for pid in "${CHILDREN[@]}"; do stop_pid "$pid"; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

server_cmd() { if [[ $PIN == 1 ]]; then echo "taskset -c $SERVER_CPU"; fi; }
client_cmd() { if [[ $PIN == 1 ]]; then echo "taskset -c $CLIENT_CPU"; fi; }

# ---------------------------------------------------------------- tools
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    log "$1 missing, installing $2"
    apt-get install -y "$2" >/dev/null || { log "could not install $2"; return 1; }
}
need gcc gcc || exit 1
need node nodejs || log "node unavailable: its row will be n/a"
need dotnet dotnet-sdk-10.0 || log "dotnet unavailable: .NET rows will be n/a"
[[ $PIN == 1 ]] && { need taskset util-linux || PIN=0; }

# ---------------------------------------------------------------- build
build_dotnet() {   # $1 csproj, $2 expected dll; prints nothing, returns 0 when the dll is fresh
    local proj=$1 dll=$2
    [[ $SKIP_BUILD == 1 && -f $dll ]] && return 0
    command -v dotnet >/dev/null || return 1
    [[ -f $proj ]] || { log "$proj not found"; return 1; }
    rm -f "$dll"
    if ! dotnet build -c Release -nologo -v quiet "$proj" >"$BIN/build-$(basename "$proj").log" 2>&1; then
        log "build of $proj failed (see $BIN/build-$(basename "$proj").log)"
        return 1
    fi
    [[ -f $dll ]]
}

if [[ $SKIP_BUILD != 1 || ! -x $BIN/echo-client ]]; then
    log "compiling C programs"
    gcc -O2 -Wall -o "$BIN/echo-client" "$PEERS/echo-client.c" || exit 1
    gcc -O2 -Wall -o "$BIN/idle-conns" "$PEERS/idle-conns.c" || exit 1
    gcc -O2 -Wall -o "$BIN/c-epoll-echo" "$PEERS/c-epoll-echo.c" || exit 1
    gcc -O2 -Wall -pthread -o "$BIN/c-thread-echo" "$PEERS/c-thread-echo.c" || exit 1
fi

KEVENTS_DLL=$ROOT/samples/EchoServer/bin/Release/net10.0/EchoServer.dll
SOCKET_DLL=$PEERS/DotnetSocketEcho/bin/Release/net10.0/DotnetSocketEcho.dll
KESTREL_DLL=$PEERS/KestrelEcho/bin/Release/net10.0/KestrelEcho.dll
log "building .NET servers"
HAVE_KEVENTS=0; build_dotnet "$ROOT/samples/EchoServer/EchoServer.csproj" "$KEVENTS_DLL" && HAVE_KEVENTS=1
HAVE_SOCKET=0;  build_dotnet "$PEERS/DotnetSocketEcho/DotnetSocketEcho.csproj" "$SOCKET_DLL" && HAVE_SOCKET=1
HAVE_KESTREL=0; build_dotnet "$PEERS/KestrelEcho/KestrelEcho.csproj" "$KESTREL_DLL" && HAVE_KESTREL=1
HAVE_BASE=0; [[ -n ${BASELINE_DIR:-} && -f ${BASELINE_DIR:-}/EchoServer.dll ]] && HAVE_BASE=1
HAVE_NODE=0; command -v node >/dev/null && HAVE_NODE=1

# ---------------------------------------------------------------- servers
# id | label | available | command (PORT is substituted)
SERVERS=(c thread kevents kpipe kuring kpipeuring socket kestrel node)
# shellcheck disable=SC2206
[[ -n ${ONLY:-} ]] && SERVERS=($ONLY)
declare -A LABEL=(
    [c]="C epoll (reference)"
    [thread]="C thread per connection"
    [kevents]="Kevents EchoServer"
    [kpipe]="Kevents EchoServer --api pipe"
    [kuring]="Kevents EchoServer --backend io_uring"
    [kpipeuring]="Kevents EchoServer --api pipe --backend io_uring"
    [kusend]="Kevents EchoServer --backend io_uring, ring sends"
    [kusend32]="Kevents EchoServer --backend io_uring, ring sends in groups of 32"
    [kbase]="Kevents EchoServer (baseline)"
    [kpipebase]="Kevents EchoServer --api pipe (baseline)"
    [socket]=".NET Socket async/await"
    [kestrel]="Kestrel ConnectionHandler"
    [node]="Node.js net"
)
declare -A AVAIL=([c]=1 [thread]=1 [kevents]=$HAVE_KEVENTS [kpipe]=$HAVE_KEVENTS [kuring]=$HAVE_KEVENTS [kpipeuring]=$HAVE_KEVENTS [kusend]=$HAVE_KEVENTS [kusend32]=$HAVE_KEVENTS [kbase]=$HAVE_BASE [kpipebase]=$HAVE_BASE [socket]=$HAVE_SOCKET [kestrel]=$HAVE_KESTREL [node]=$HAVE_NODE)
# The sample accepts 10,000 connections by default; the idle column may ask for more.
KEVENTS_LIMIT="--max-connections $((IDLE_CONNS > 10000 ? IDLE_CONNS + 100 : 10000))"
server_argv() {   # $1 id, $2 port
    case $1 in
        c)       echo "$BIN/c-epoll-echo $2" ;;
        thread)  echo "$BIN/c-thread-echo $2 64" ;;
        kevents) echo "dotnet $KEVENTS_DLL --port $2 --bind 127.0.0.1 $KEVENTS_LIMIT" ;;
        kpipe)   echo "dotnet $KEVENTS_DLL --port $2 --bind 127.0.0.1 --api pipe $KEVENTS_LIMIT" ;;
        kuring)  echo "dotnet $KEVENTS_DLL --port $2 --bind 127.0.0.1 --backend io_uring $KEVENTS_LIMIT" ;;
        kpipeuring) echo "dotnet $KEVENTS_DLL --port $2 --bind 127.0.0.1 --api pipe --backend io_uring $KEVENTS_LIMIT" ;;
        # env: the word-split command line cannot carry an assignment prefix; env execs dotnet, keeping the PID.
        kusend)  echo "env KEVENTS_IO_URING_SENDS=1 dotnet $KEVENTS_DLL --port $2 --bind 127.0.0.1 --backend io_uring $KEVENTS_LIMIT" ;;
        kusend32) echo "env KEVENTS_IO_URING_SENDS=1 KEVENTS_IO_URING_SENDS_BATCH=32 dotnet $KEVENTS_DLL --port $2 --bind 127.0.0.1 --backend io_uring $KEVENTS_LIMIT" ;;
        kbase)   echo "dotnet $BASELINE_DIR/EchoServer.dll --port $2 --bind 127.0.0.1 $KEVENTS_LIMIT" ;;
        kpipebase) echo "dotnet $BASELINE_DIR/EchoServer.dll --port $2 --bind 127.0.0.1 --api pipe $KEVENTS_LIMIT" ;;
        socket)  echo "dotnet $SOCKET_DLL $2" ;;
        kestrel) echo "dotnet $KESTREL_DLL $2" ;;
        node)    echo "node $PEERS/node-echo.js $2" ;;
    esac
}

SERVER_PID=
start_server() {   # $1 id, $2 port; sets SERVER_PID, returns non-zero if it never accepts
    local id=$1 port=$2
    # shellcheck disable=SC2046
    $(server_cmd) $(server_argv "$id" "$port") >"$BIN/server-$id.log" 2>&1 &
    SERVER_PID=$!
    CHILDREN+=("$SERVER_PID")
    for _ in $(seq 300); do
        kill -0 "$SERVER_PID" 2>/dev/null || { log "$id exited early (see $BIN/server-$id.log)"; return 1; }
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "$id did not accept on port $port within 30 s"
    return 1
}

# ---------------------------------------------------------------- load shapes
# key | client arguments | what the table reports
SHAPES=(lat1 c64 c1000 d16 k4)
# shellcheck disable=SC2206
[[ -n ${SHAPES_ONLY:-} ]] && SHAPES=($SHAPES_ONLY)
[[ ${SKIP_LOAD:-0} == 1 ]] && SHAPES=()
declare -A SHAPE_ARGS=(
    [lat1]="-c 1 -s 64"
    [c64]="-c 64 -s 64"
    [c1000]="-c 1000 -s 64"
    [d16]="-c 64 -s 64 -d 16"
    [k4]="-c 64 -s 4096"
)
declare -A SHAPE_TITLE=(
    [lat1]="1 conn p50"
    [c64]="64 conns"
    [c1000]="1000 conns"
    [d16]="64 conns depth 16"
    [k4]="64 conns 4 KiB"
)

declare -A TPUT P50 P99 STATUS RSS CPU THREADS
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# The server's CPU time so far, all threads, user + system, in clock ticks (fields 14 and 15 of /proc/PID/stat;
# the command name in field 2 may hold spaces, so count from the closing parenthesis).
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }
now_ns() { date +%s%N; }

FAILED=0
run_shape() {   # $1 id, $2 shape, $3 port, $4 server pid
    local id=$1 shape=$2 port=$3 spid=$4 line rc out cpid c0 c1 t0 t1
    out=$BIN/client-$id-$shape.out
    # shellcheck disable=SC2046,SC2086
    $(client_cmd) "$BIN/echo-client" -a 127.0.0.1 -p "$port" ${SHAPE_ARGS[$shape]} \
        -t "$DURATION" -w "$WARMUP" >"$out" 2>>"$RAW" &
    cpid=$!
    # Server CPU over (about) the client's measured window: after its warm-up, for DURATION seconds. Messages in
    # that window are the client's rate times the window actually sampled.
    sleep "$WARMUP"; c0=$(cpu_ticks "$spid"); t0=$(now_ns)
    sleep "$DURATION"; c1=$(cpu_ticks "$spid"); t1=$(now_ns)
    wait "$cpid"
    rc=$?
    line=$(cat "$out")
    echo "$id $shape rc=$rc $line server_cpu_ticks=$((c1 - c0)) window_ns=$((t1 - t0))" >>"$RAW"
    TPUT[$id,$shape]=$(field "$line" msg_per_s)
    CPU[$id,$shape]=$(awk -v dc="$((c1 - c0))" -v hz="$CLK_TCK" -v r="${TPUT[$id,$shape]}" -v w="$((t1 - t0))" \
        'BEGIN { if (r == "" || r + 0 == 0 || w + 0 == 0) exit; printf "%.2f", dc / hz * 1e6 / (r * w / 1e9) }')
    P50[$id,$shape]=$(field "$line" p50_us)
    P99[$id,$shape]=$(field "$line" p99_us)
    if [[ $rc != 0 ]]; then
        STATUS[$id,$shape]="FAIL(errors=$(field "$line" errors) mismatches=$(field "$line" mismatches))"
        FAILED=1
        log "$id/$shape: client reported a failure: $line"
    else
        STATUS[$id,$shape]=ok
    fi
    log "$id/$shape: $line"
}

vmrss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

measure_idle() {   # $1 id, $2 port; fresh server, sets RSS[id] in KB per connection
    local id=$1 port=$2 before after fds0 helper ready
    start_server "$id" "$port" || { stop_pid "$SERVER_PID"; return; }
    # shellcheck disable=SC2046
    $(client_cmd) "$BIN/echo-client" -p "$port" -c 4 -t 0.5 >/dev/null 2>&1   # warm the echo path
    sleep 0.5
    before=$(vmrss_kb "$SERVER_PID"); fds0=$(fd_count "$SERVER_PID")
    # shellcheck disable=SC2046
    $(client_cmd) "$BIN/idle-conns" -p "$port" -n "$IDLE_CONNS" -e >"$BIN/idle-$id.out" 2>&1 &
    helper=$!
    CHILDREN+=("$helper")
    ready=0
    for _ in $(seq 600); do
        if grep -q "^ready" "$BIN/idle-$id.out" 2>/dev/null; then ready=1; break; fi
        kill -0 "$helper" 2>/dev/null || break
        sleep 0.1
    done
    if [[ $ready == 1 ]] && grep -q "^ready $IDLE_CONNS\$" "$BIN/idle-$id.out"; then
        # wait until the server really holds the sockets, then let it settle
        for _ in $(seq 100); do
            (( $(fd_count "$SERVER_PID") >= fds0 + IDLE_CONNS )) && break
            sleep 0.1
        done
        sleep 1
        after=$(vmrss_kb "$SERVER_PID")
        THREADS[$id]=$(awk '/^Threads:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null)
        RSS[$id]=$(awk -v a="$after" -v b="$before" -v n="$IDLE_CONNS" 'BEGIN { printf "%.2f", (a - b) / n }')
        log "$id idle: VmRSS ${before} kB -> ${after} kB over $IDLE_CONNS connections = ${RSS[$id]} KB/conn"
        echo "$id idle before_kb=$before after_kb=$after conns=$IDLE_CONNS per_conn_kb=${RSS[$id]} threads=${THREADS[$id]}" >>"$RAW"
    else
        log "$id idle: helper failed: $(cat "$BIN/idle-$id.out")"
        FAILED=1
    fi
    stop_pid "$helper"
    stop_pid "$SERVER_PID"
}

# ---------------------------------------------------------------- run
# All servers are started up front and each load shape visits them one after another, so slow
# drifts in background load hit every server alike instead of whichever happened to run last.
: >"$RAW"
declare -A PORT PID
port=$BASE_PORT
for id in "${SERVERS[@]}"; do
    PORT[$id]=$port; port=$((port + 1))
    if [[ ${AVAIL[$id]} != 1 ]]; then log "$id: not available, row will be n/a"; continue; fi
    log "$id: starting on port ${PORT[$id]}"
    if start_server "$id" "${PORT[$id]}"; then PID[$id]=$SERVER_PID; else AVAIL[$id]=0; stop_pid "$SERVER_PID"; fi
done
for shape in "${SHAPES[@]}"; do
    for id in "${SERVERS[@]}"; do
        [[ ${AVAIL[$id]} == 1 ]] || continue
        if ! kill -0 "${PID[$id]}" 2>/dev/null; then
            log "$id: server died (see $BIN/server-$id.log)"; AVAIL[$id]=0; FAILED=1; continue
        fi
        run_shape "$id" "$shape" "${PORT[$id]}" "${PID[$id]}"
    done
done
for id in "${SERVERS[@]}"; do [[ -n ${PID[$id]:-} ]] && stop_pid "${PID[$id]}"; done

# Memory: a fresh instance of each server, one at a time, so nothing else competes for RSS.
for id in "${SERVERS[@]}"; do
    [[ ${AVAIL[$id]} == 1 && ${SKIP_IDLE:-0} != 1 ]] && measure_idle "$id" "$port"
    port=$((port + 1))
done

# ---------------------------------------------------------------- report
fmt_rate() { awk -v v="$1" 'BEGIN { if (v == "") { print "n/a"; exit }
    if (v >= 1e6) printf "%.2fM", v / 1e6; else if (v >= 1e3) printf "%.0fK", v / 1e3; else printf "%.0f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'; }

cell() {   # $1 id, $2 shape
    local id=$1 shape=$2
    [[ -n ${STATUS[$id,$shape]:-} ]] || { echo "n/a"; return; }
    [[ ${STATUS[$id,$shape]} != ok ]] && { echo "${STATUS[$id,$shape]}"; return; }
    local v ref txt
    if [[ $shape == lat1 ]]; then
        v=${P50[$id,$shape]}; ref=${P50[c,lat1]:-}; txt="$v us"
    else
        v=${TPUT[$id,$shape]}; ref=${TPUT[c,$shape]:-}; txt=$(fmt_rate "$v")
    fi
    if [[ $id == c ]]; then echo "$txt"; else echo "$txt ($(ratio "$v" "$ref"))"; fi
}

{
    echo "## Echo comparison, $(date '+%Y-%m-%d %H:%M')"
    echo
    echo "$(nproc) CPUs, $(uname -r); DURATION=${DURATION}s (after ${WARMUP}s warm-up) per shape;" \
         "pinning: $([[ $PIN == 1 ]] && echo "server CPU $SERVER_CPU, client CPU $CLIENT_CPU" || echo off);" \
         "client: bench/peers/echo-client.c, every echoed byte verified."
    echo "Ratios are to the C epoll server measured in this run (latency: lower is better; throughput: higher is better)."
    echo
    header="| server |"; rule="|---|"
    for shape in "${SHAPES[@]}"; do
        if [[ $shape == lat1 ]]; then header+=" ${SHAPE_TITLE[$shape]} |"; else header+=" ${SHAPE_TITLE[$shape]} (msg/s) |"; fi
        rule+="---|"
    done
    header+=" RSS per idle conn (${IDLE_CONNS}) |"; rule+="---|"
    echo "$header"; echo "$rule"
    for id in "${SERVERS[@]}"; do
        row="| ${LABEL[$id]} |"
        for shape in "${SHAPES[@]}"; do row+=" $(cell "$id" "$shape") |"; done
        if [[ -n ${RSS[$id]:-} ]]; then row+=" ${RSS[$id]} KB |"; else row+=" n/a |"; fi
        echo "$row"
    done
    echo
    echo "Server CPU time per message (microseconds of utime+stime over the measured window, all threads; ratio to C" \
         "epoll; lower is better), and the server's threads while holding the idle connections:"
    echo
    echo "| server | $(for s in "${SHAPES[@]}"; do printf '%s | ' "${SHAPE_TITLE[$s]}"; done)threads (${IDLE_CONNS} idle) |"
    echo "|---|$(for _ in "${SHAPES[@]}"; do printf -- '---|'; done)---|"
    for id in "${SERVERS[@]}"; do
        row="| ${LABEL[$id]} |"
        for shape in "${SHAPES[@]}"; do
            if [[ -n ${CPU[$id,$shape]:-} ]]; then
                if [[ $id == c ]]; then row+=" ${CPU[$id,$shape]} |"
                else row+=" ${CPU[$id,$shape]} ($(ratio "${CPU[$id,$shape]}" "${CPU[c,$shape]:-}")) |"; fi
            else row+=" n/a |"; fi
        done
        row+=" ${THREADS[$id]:-n/a} |"
        echo "$row"
    done
    echo
    echo "Latency detail (p50 / p99, microseconds):"
    echo
    echo "| server | $(for s in "${SHAPES[@]}"; do printf '%s | ' "${SHAPE_TITLE[$s]}"; done)"
    echo "|---|$(for _ in "${SHAPES[@]}"; do printf -- '---|'; done)"
    for id in "${SERVERS[@]}"; do
        row="| ${LABEL[$id]} |"
        for shape in "${SHAPES[@]}"; do
            if [[ -n ${P50[$id,$shape]:-} ]]; then row+=" ${P50[$id,$shape]} / ${P99[$id,$shape]} |"
            else row+=" n/a |"; fi
        done
        echo "$row"
    done
} | tee "$OUT"

log "written to $OUT (raw client lines in $RAW)"
exit $FAILED
