#!/usr/bin/env bash
# Repeated floods to the descriptor limit, for real: the Kevents samples run at the machine's hard
# RLIMIT_NOFILE and are flooded past it, round after round (unpaced, then paced), while a well-behaved client keeps
# making requests on one keep-alive connection. Passes when every server survives every round, sheds what it
# cannot hold without ever reaching the limit (no "Out of file descriptors", no runtime abort), answers the good
# client every time, comes back to its baseline after each round and exits 0 on SIGTERM.
#
# Servers flooded:
#   echo        EchoServer (stream API) with --max-connections 100000: only the descriptor reserve stops it
#   file        FileServer; the first FILE_REQUESTS connections of each flood client ask for a 64 MiB file and
#               never read, so the server holds a file open beside each of them
#
# Environment knobs:
#   ROUNDS=4            floods per server
#   FLOOD=24000         connections per round (over FLOOD_CLIENTS processes; more than the limit)
#   FLOOD_CLIENTS=3
#   PACED_RATE=4000     connections per second per client in paced rounds
#   HOLD_MS=2000        how long each flood holds its connections
#   FILE_REQUESTS=3400  per flood client, file server only (3 x 3400 is more than FileServer admits)
#   SERVERS="echo file"
#   PORT=7590
#   SKIP_BUILD=0        1: reuse the Release builds
# Output: one line per round and a verdict; exit status 1 on any failure.
set -euo pipefail

BENCH_NAME=fd-flood
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROUNDS=${ROUNDS:-4}
FLOOD=${FLOOD:-24000}
FLOOD_CLIENTS=${FLOOD_CLIENTS:-3}
PACED_RATE=${PACED_RATE:-4000}
HOLD_MS=${HOLD_MS:-2000}
FILE_REQUESTS=${FILE_REQUESTS:-3400}
SERVERS=${SERVERS:-"echo file"}
PORT=${PORT:-7590}
SKIP_BUILD=${SKIP_BUILD:-0}
raise_fd_limit
LIMIT=$(ulimit -n)

bench_tmp; WORK=$BENCH_TMP

if [ "$SKIP_BUILD" != 1 ]; then
    for project in EchoServer FileServer; do
        build_release "$ROOT/samples/$project" "$ROOT/bench/results/bin/build-fd-flood.log" || exit 1
    done
fi
gcc -O2 -o "$WORK/fd-flood" "$ROOT/bench/peers/fd-flood.c"
mkdir -p "$WORK/site"
head -c 4096 /dev/urandom > "$WORK/site/small.bin"
head -c $((64 * 1024 * 1024)) /dev/zero > "$WORK/site/big.bin"

# From here on failures are counted, not fatal: a server that dies must still be reported.
set +e


# The well-behaved client: one keep-alive connection, a request every 50 ms, reconnecting if it is ever closed.
# Writes "ok N failed F max_ms M" to its output file when told to stop (SIGTERM).
good_client() {
    exec python3 - "$1" "$2" "$3" <<'EOF'
import signal, socket, sys, time
kind, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ok = failed = 0; worst = 0.0; running = True
def stop(*_):
    global running
    running = False
signal.signal(signal.SIGTERM, stop)
def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5); s.settimeout(5); return s
def exchange(s):
    if kind == "echo":
        s.sendall(b"ping"); got = b""
        while len(got) < 4:
            b = s.recv(4 - len(got))
            if not b: raise EOFError("closed")
            got += b
        return got == b"ping"
    s.sendall(b"GET /small.bin HTTP/1.1\r\nHost: x\r\n\r\n"); data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(65536)
        if not b: raise EOFError("closed")
        data += b
    head, body = data.split(b"\r\n\r\n", 1)
    while len(body) < 4096:
        b = s.recv(65536)
        if not b: raise EOFError("closed")
        body += b
    return head.startswith(b"HTTP/1.1 200 ") and len(body) == 4096
s = None
while running:
    started = time.monotonic()
    try:
        if s is None: s = connect()
        if exchange(s): ok += 1
        else: failed += 1
    except Exception as e:
        failed += 1; sys.stderr.write(f"good client: {e!r}\n")
        if s is not None: s.close()
        s = None
    worst = max(worst, (time.monotonic() - started) * 1000)
    time.sleep(0.05)
with open(out, "w") as f: f.write(f"ok {ok} failed {failed} max_ms {worst:.0f}\n")
EOF
}

status=0
for server in $SERVERS; do
    port=$PORT; PORT=$((PORT + 1))
    log="$WORK/$server.log"
    if [ "$server" = echo ]; then
        dotnet "$ROOT/samples/EchoServer/bin/Release/net10.0/EchoServer.dll" --port "$port" --max-connections 100000 >"$log" 2>&1 &
        request=""; requests=0
    else
        dotnet "$ROOT/samples/FileServer/bin/Release/net10.0/FileServer.dll" --root "$WORK/site" --port "$port" >"$log" 2>&1 &
        request=$'GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n'; requests=$FILE_REQUESTS
    fi
    spid=$!; CHILDREN+=("$spid")
    wait_port "$port" "" 100
    sleep 0.5
    good_client "$server" "$port" "$WORK/$server.good" 2>"$WORK/$server.good.err" &
    gpid=$!; CHILDREN+=("$gpid")
    sleep 1
    baseline=$(fds_of "$spid")
    echo "== $server server (pid $spid), RLIMIT_NOFILE $LIMIT, baseline $baseline descriptors"
    for round in $(seq "$ROUNDS"); do
        rate=0; shape=unpaced
        if [ $((round % 2)) = 0 ]; then rate=$PACED_RATE; shape="paced $PACED_RATE/s per client"; fi
        per=$((FLOOD / FLOOD_CLIENTS))
        cpids=()
        for c in $(seq "$FLOOD_CLIENTS"); do
            "$WORK/fd-flood" -p "$port" -n "$per" -r "$rate" -h "$HOLD_MS" -q "$requests" -s "$request" >"$WORK/flood.$c" &
            cpids+=("$!")
        done
        peak=0
        while kill -0 "${cpids[@]}" 2>/dev/null; do
            n=$(fds_of "$spid"); [ "$n" -gt "$peak" ] && peak=$n
            sleep 0.05
        done
        for pid in "${cpids[@]}"; do wait "$pid" || true; done
        kept=0; shed=0; failed=0
        for c in $(seq "$FLOOD_CLIENTS"); do
            line=$(cat "$WORK/flood.$c")
            for kv in $line; do
                case $kv in kept=*) kept=$((kept + ${kv#kept=}));; shed=*) shed=$((shed + ${kv#shed=}));; failed=*) failed=$((failed + ${kv#failed=}));; esac
            done
        done
        back=0
        for _ in $(seq 300); do
            n=$(fds_of "$spid")
            if [ "$n" -le $((baseline + 8)) ]; then back=1; break; fi
            sleep 0.1
        done
        alive=yes; kill -0 "$spid" 2>/dev/null || alive=NO
        echo "round $round ($shape): $FLOOD tried, $kept kept, $shed shed, $failed not connected in 5 s; peak $peak of $LIMIT descriptors; back to baseline: $([ $back = 1 ] && echo yes || echo NO, $(fds_of "$spid")); alive: $alive"
        if [ "$alive" != yes ] || [ "$back" != 1 ]; then status=1; break; fi
    done
    kill -TERM "$gpid"; wait "$gpid" || true
    good=$(cat "$WORK/$server.good" 2>/dev/null || echo "no report")
    echo "good client: $good"
    case $good in *" failed 0 "*) ;; *) status=1; head -5 "$WORK/$server.good.err" ;; esac
    kill -TERM "$spid" 2>/dev/null || true
    code=0; wait "$spid" || code=$?
    echo "exit code $code; $(grep -c 'descriptors are free in this process' "$log" || true) shedding reports, $(grep -c 'Out of file descriptors' "$log" || true) EMFILE reports"
    grep -E 'EchoServer: |FileServer: ' "$log" || true
    if [ "$code" != 0 ] || grep -qE 'terminate called|PAL_SEHException|Out of file descriptors' "$log"; then
        status=1
        tail -20 "$log"
    fi
done
echo "verdict: $([ $status = 0 ] && echo PASS || echo FAIL)"
exit $status
