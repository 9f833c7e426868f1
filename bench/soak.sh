#!/usr/bin/env bash
# Soak: EchoServer and FileServer under every kind of load at once for MINUTES, watched for growth.
#
#   bench/soak.sh MINUTES          (default 10)
#
# Both servers run in Release with a startup hook (bench/SoakMonitor) that reports their GC heap. After an idle
# baseline, all of this runs against both at once, on 127.0.0.1 only:
#   - steady traffic: LoadGen open loop (echo; http GETs of a 1 KiB file)
#   - churn with resets: LoadGen --churn, part of the connections ending in RST in the middle of a request
#   - slow readers: bench/peers/slow-reader.c, clients reading a big download / their echo at a few KB/s
#   - idle connections: bench/peers/idle-conns.c, held open and replaced every IDLE_ROTATE seconds
#   - a descriptor flood: every FLOOD_PERIOD seconds, FLOOD_CONNS connections to each server, held FLOOD_HOLD s
# Then the load stops and a cooldown follows. bench/SoakMonitor samples RSS, descriptors, threads and GC heap every
# INTERVAL seconds into a CSV, draws a PNG and judges the run (see bench/README.md for the rules). The exit status
# is non-zero if the monitor saw growth or a death, if LoadGen saw a mismatched byte, or if a server did not stop
# cleanly on SIGTERM. Everything started here is stopped when the script exits, including on Ctrl+C.
#
# Environment knobs: ECHO_PORT=7610 FILE_PORT=7611 BASELINE=10 COOLDOWN=30 INTERVAL=2 WARMUP_FRACTION=0.2
#   RATE=2000 (steady msgs/s per server) CHURN_RATE=500 CHURN=4 RESET_FRACTION=0.25
#   SLOW_READERS=32 SLOW_RATE=8192 IDLE_CONNS=500 IDLE_ROTATE=60
#   FLOOD_CONNS=3000 FLOOD_PERIOD=30 FLOOD_HOLD=8 SKIP_BUILD=0 PNG=<results dir>/soak-<date>.png
# Output: bench/results/soak-<date>.{csv,png,md} (bench/results/ is not committed).
set -euo pipefail

MINUTES=${1:-10}
if ! [[ "$MINUTES" =~ ^[0-9]+([.][0-9]+)?$ ]] || [ "$(awk -v m="$MINUTES" 'BEGIN { print (m >= 0.5) }')" != 1 ]; then
    echo "usage: bench/soak.sh MINUTES   (at least 0.5)" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ECHO_PORT=${ECHO_PORT:-7610}
FILE_PORT=${FILE_PORT:-7611}
BASELINE=${BASELINE:-10}
COOLDOWN=${COOLDOWN:-30}
INTERVAL=${INTERVAL:-2}
WARMUP_FRACTION=${WARMUP_FRACTION:-0.2}
RATE=${RATE:-2000}
CHURN_RATE=${CHURN_RATE:-500}
CHURN=${CHURN:-4}
RESET_FRACTION=${RESET_FRACTION:-0.25}
SLOW_READERS=${SLOW_READERS:-32}
SLOW_RATE=${SLOW_RATE:-8192}
IDLE_CONNS=${IDLE_CONNS:-500}
IDLE_ROTATE=${IDLE_ROTATE:-60}
FLOOD_CONNS=${FLOOD_CONNS:-3000}
FLOOD_PERIOD=${FLOOD_PERIOD:-30}
FLOOD_HOLD=${FLOOD_HOLD:-8}
SKIP_BUILD=${SKIP_BUILD:-0}
LOAD=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 }')
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

STAMP=$(date -u +%Y%m%d-%H%M%S)
RESULTS=$ROOT/bench/results
mkdir -p "$RESULTS"
CSV=$RESULTS/soak-$STAMP.csv
PNG=${PNG:-$RESULTS/soak-$STAMP.png}
REPORT=$RESULTS/soak-$STAMP.md
WORK=$(mktemp -d /tmp/kevents-soak.XXXXXX)

PIDS=()
cleanup() {
    local pid
    # Load first (the loops stop their own children on TERM), then the monitor and the servers.
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[soak $(date -u +%H:%M:%S)] $*" >&2; }

# --- build -------------------------------------------------------------------------------------------------------
if [ "$SKIP_BUILD" != 1 ]; then
    log "building (Release)"
    for project in samples/EchoServer samples/FileServer samples/LoadGen bench/SoakMonitor; do
        dotnet build "$ROOT/$project" -c Release -v quiet -nologo >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; exit 1; }
    done
fi
gcc -O2 -o "$WORK/idle-conns" "$ROOT/bench/peers/idle-conns.c"
gcc -O2 -o "$WORK/slow-reader" "$ROOT/bench/peers/slow-reader.c"
ECHO_DLL=$ROOT/samples/EchoServer/bin/Release/net10.0/EchoServer.dll
FILE_DLL=$ROOT/samples/FileServer/bin/Release/net10.0/FileServer.dll
LOADGEN_DLL=$ROOT/samples/LoadGen/bin/Release/net10.0/LoadGen.dll
MONITOR_DLL=$ROOT/bench/SoakMonitor/bin/Release/net10.0/SoakMonitor.dll

# --- files served: small ones for the steady and churning GETs, a large sparse one for the slow readers -------------
mkdir -p "$WORK/site"
head -c 1024 /dev/urandom >"$WORK/site/1k.bin"
head -c 65536 /dev/urandom >"$WORK/site/64k.bin"
truncate -s 1G "$WORK/site/big.bin"

# --- servers -----------------------------------------------------------------------------------------------------
start_server() {  # name dll args...  (sets SERVER_PID)
    local name=$1 dll=$2
    shift 2
    DOTNET_STARTUP_HOOKS=$MONITOR_DLL KEVENTS_SOAK_GC_FILE=$WORK/$name.gc \
        dotnet "$dll" "$@" >"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=($!)
}
wait_port() {  # port pid name
    for _ in $(seq 1 200); do
        kill -0 "$2" 2>/dev/null || { echo "$3 exited at start:" >&2; cat "$WORK/$3.log" >&2; exit 1; }
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "$3 did not listen on port $1" >&2
    exit 1
}
start_server echo "$ECHO_DLL" --port "$ECHO_PORT" --bind 127.0.0.1
ECHO_PID=$SERVER_PID
start_server file "$FILE_DLL" --root "$WORK/site" --port "$FILE_PORT" --bind 127.0.0.1
FILE_PID=$SERVER_PID
wait_port "$ECHO_PORT" "$ECHO_PID" echo
wait_port "$FILE_PORT" "$FILE_PID" file
for _ in $(seq 1 50); do [ -s "$WORK/echo.gc" ] && [ -s "$WORK/file.gc" ] && break; sleep 0.1; done
[ -s "$WORK/echo.gc" ] && [ -s "$WORK/file.gc" ] || { echo "the GC startup hook did not report (is $MONITOR_DLL built?)" >&2; exit 1; }
# What each server's descriptors are ("socket=12 pipe=2 ..."), for the report: before the load and after the cooldown.
fd_kinds() {  # pid
    # A descriptor closed between listing and lstat makes ls fail; the rest of the listing is still good.
    { ls -l "/proc/$1/fd" 2>/dev/null || true; } | awk -v work="$WORK" 'NR > 1 {
        t = $NF; sub(/:\[[0-9]+\]$/, "", t); gsub(work, "WORK", t)
        if (t ~ /\.(dll|so)$/) t = "assembly-images"   # the runtime holds 2 per loaded assembly
        c[t]++ }
        END { for (k in c) printf "%s=%d\n", k, c[k] }' | sort | tr '\n' ' '
}
ECHO_FDS_IDLE=$(fd_kinds "$ECHO_PID")
FILE_FDS_IDLE=$(fd_kinds "$FILE_PID")
log "EchoServer pid $ECHO_PID on $ECHO_PORT, FileServer pid $FILE_PID on $FILE_PORT; ${BASELINE}s idle, ${LOAD}s load, ${COOLDOWN}s cooldown"

dotnet "$MONITOR_DLL" --server "echo=$ECHO_PID:$WORK/echo.gc" --server "file=$FILE_PID:$WORK/file.gc" \
    --csv "$CSV" --png "$PNG" --baseline "$BASELINE" --load "$LOAD" --cooldown "$COOLDOWN" \
    --warmup-fraction "$WARMUP_FRACTION" --interval "$INTERVAL" \
    --title "bench/soak.sh $MINUTES (EchoServer, FileServer)" >"$WORK/monitor.out" 2>&1 &
MONITOR=$!
PIDS+=($MONITOR)
sleep "$BASELINE"

# --- load --------------------------------------------------------------------------------------------------------
LOADS=()
loadgen() {  # name args...
    local name=$1
    shift
    timeout $((LOAD + 60)) dotnet "$LOADGEN_DLL" --warmup 0 --duration "$LOAD" --quiet "$@" >"$WORK/loadgen-$name.out" 2>&1 &
    LOADS+=($!)
    PIDS+=($!)
}
loadgen echo-steady --port "$ECHO_PORT" --connections 32 --rate "$RATE" --size 256
loadgen echo-churn --port "$ECHO_PORT" --connections 16 --rate "$CHURN_RATE" --churn "$CHURN" --reset-fraction "$RESET_FRACTION"
loadgen http-steady --port "$FILE_PORT" --scenario http --path /1k.bin --connections 32 --rate "$RATE"
loadgen http-churn --port "$FILE_PORT" --scenario http --path /64k.bin --connections 16 --rate "$CHURN_RATE" --churn "$CHURN" --reset-fraction "$RESET_FRACTION"

"$WORK/slow-reader" -p "$ECHO_PORT" -n "$SLOW_READERS" -r "$SLOW_RATE" -t "$LOAD" >"$WORK/slow-echo.out" 2>&1 &
LOADS+=($!); PIDS+=($!)
"$WORK/slow-reader" -p "$FILE_PORT" -n "$SLOW_READERS" -r "$SLOW_RATE" -g /big.bin -t "$LOAD" >"$WORK/slow-file.out" 2>&1 &
LOADS+=($!); PIDS+=($!)

END_AT=$(($(date +%s) + LOAD))
# The background helpers below stop their children when cleanup sends them TERM. Sleeps run in the background
# and are waited for, so a TERM is handled at once rather than after the sleep.
pause() {  # seconds
    sleep "$1" &
    SLEEPER=$!
    wait "$SLEEPER" || true
    SLEEPER=
}
hold() {  # seconds command...: runs the command for that long, then stops it
    local seconds=$1
    shift
    "$@" >/dev/null 2>&1 &
    HELD=$!
    trap 'kill $HELD $SLEEPER 2>/dev/null; exit 0' TERM
    pause "$seconds"
    kill "$HELD" 2>/dev/null || true
    wait "$HELD" 2>/dev/null || true
}
hold_both() {  # seconds echo-args -- file-args: one hold against each server at once
    local seconds=$1 a b
    shift
    local -a echo_args=() file_args=()
    while [ "$1" != -- ]; do echo_args+=("$1"); shift; done
    shift
    file_args=("$@")
    hold "$seconds" "$WORK/idle-conns" -p "$ECHO_PORT" "${echo_args[@]}" &
    a=$!
    hold "$seconds" "$WORK/idle-conns" -p "$FILE_PORT" "${file_args[@]}" &
    b=$!
    trap "kill $a $b 2>/dev/null; wait $a $b 2>/dev/null; exit 0" TERM
    wait "$a" "$b" || true
    trap 'kill $SLEEPER 2>/dev/null; exit 0' TERM
}
idle_loop() {
    SLEEPER=
    trap 'kill $SLEEPER 2>/dev/null; exit 0' TERM
    local rounds=0 left
    while left=$((END_AT - $(date +%s))); [ "$left" -gt 0 ]; do
        # One echo on each echo connection, so the server has really served it; none on FileServer's, which
        # meet its header timeout when a rotation holds them longer than that.
        hold_both $((left < IDLE_ROTATE ? left : IDLE_ROTATE)) -n "$IDLE_CONNS" -e -- -n "$IDLE_CONNS"
        rounds=$((rounds + 1))
        echo "$rounds" >"$WORK/idle-rounds"
    done
}
flood_loop() {
    SLEEPER=
    trap 'kill $SLEEPER 2>/dev/null; exit 0' TERM
    local bursts=0
    while true; do
        pause "$FLOOD_PERIOD"
        [ $(($(date +%s) + FLOOD_HOLD)) -lt "$END_AT" ] || break
        hold_both "$FLOOD_HOLD" -n "$FLOOD_CONNS" -- -n "$FLOOD_CONNS"
        bursts=$((bursts + 1))
        echo "$bursts" >"$WORK/flood-bursts"
    done
}
idle_loop &
PIDS+=($!)
flood_loop &
PIDS+=($!)
log "load running: steady + churn/reset LoadGens, $SLOW_READERS slow readers and $IDLE_CONNS idle connections per server, $FLOOD_CONNS-connection floods every ${FLOOD_PERIOD}s"

# LoadGen and the slow readers stop by themselves at the end of the load; the loops stop by the clock.
status=0
for pid in "${LOADS[@]}"; do wait "$pid" || true; done
wait "$MONITOR" || status=$?
log "monitor finished (exit $status)"

ECHO_FDS_END=$(fd_kinds "$ECHO_PID")
FILE_FDS_END=$(fd_kinds "$FILE_PID")

# --- stop the servers and collect --------------------------------------------------------------------------------
kill -TERM "$ECHO_PID" "$FILE_PID" 2>/dev/null || true
# Both drain within 10 s by their own shutdown limits; a server still running after 30 s is killed and fails the run.
(
    trap 'kill $s 2>/dev/null; exit 0' TERM
    sleep 30 &
    s=$!
    wait "$s"
    kill -KILL "$ECHO_PID" "$FILE_PID" 2>/dev/null
) &
WATCHDOG=$!
server_status=0
for pid in "$ECHO_PID" "$FILE_PID"; do
    code=0
    wait "$pid" || code=$?
    [ "$code" -eq 0 ] || { server_status=1; log "server $pid exited with $code"; }
done
kill "$WATCHDOG" 2>/dev/null || true
wait "$WATCHDOG" 2>/dev/null || true

{
    echo "# Soak $STAMP: bench/soak.sh $MINUTES"
    echo
    echo "$(nproc) CPUs, $(uname -r), $(dotnet --version 2>/dev/null || echo '?') SDK; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    cat "$WORK/monitor.out"
    echo
    echo "Load (each line is one client's own summary):"
    echo
    echo '```'
    for f in "$WORK"/loadgen-*.out "$WORK"/slow-*.out; do echo "$(basename "$f" .out): $(tr '\n' ' ' <"$f")"; done
    echo "idle rotations: $(cat "$WORK/idle-rounds" 2>/dev/null || echo '?'), flood bursts: $(cat "$WORK/flood-bursts" 2>/dev/null || echo 0)"
    echo "EchoServer: $(grep -h 'EchoServer:' "$WORK/echo.log" || echo 'no summary (did not stop cleanly)')"
    echo "FileServer: $(grep -h 'FileServer:' "$WORK/file.log" || echo 'no summary (did not stop cleanly)')"
    echo "EchoServer descriptors idle:  $ECHO_FDS_IDLE"
    echo "EchoServer descriptors after: $ECHO_FDS_END"
    echo "FileServer descriptors idle:  $FILE_FDS_IDLE"
    echo "FileServer descriptors after: $FILE_FDS_END"
    echo "server warnings/errors logged: echo $(grep -c -E ' (warn|fail|crit):' "$WORK/echo.log" || true), file $(grep -c -E ' (warn|fail|crit):' "$WORK/file.log" || true)"
    echo '```'
    echo
    echo "CSV: $CSV"
    echo "PNG: $PNG"
} >"$REPORT"
cp "$WORK/echo.log" "$RESULTS/soak-$STAMP.echo.log"
cp "$WORK/file.log" "$RESULTS/soak-$STAMP.file.log"
cat "$REPORT"

mismatches=$(grep -ho 'mismatches=[0-9]*' "$WORK"/loadgen-*.out | awk -F= '{ s += $2 } END { print s + 0 }')
if [ "$mismatches" -gt 0 ]; then
    echo "SOAK FAIL: LoadGen saw $mismatches mismatched answers" >&2
    status=1
fi
if [ "$server_status" -ne 0 ]; then
    echo "SOAK FAIL: a server did not stop cleanly on SIGTERM (see $RESULTS/soak-$STAMP.*.log)" >&2
    status=1
fi
exit "$status"
