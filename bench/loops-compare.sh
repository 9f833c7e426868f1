#!/usr/bin/env bash
# Loops comparison: server CPU per echoed message and the spread of connections over loops, for the Kevents
# EchoServer with one loop, with two loops in each distribution mode, and for the C epoll reference, measured side by
# side in one run with the repository's C load client (bench/peers/echo-client.c).
#
# CPU per message = (utime + stime of the server process, from /proc/PID/stat, after minus before the measured window)
# / (messages the client counted in that window). On a 2-core machine shared by client and server, throughput cannot
# show what a second loop adds; CPU per message can, and it is the figure that carries to a bigger machine.
#
# Each (shape, server) pair runs against a freshly started server, so the server's per-loop connection counts in its
# exit summary ("connections per loop: a/b") are that shape's spread. Pairs run shape by shape and server by server,
# ROUNDS times, so background noise hits every server alike; the table reports the median of the rounds.
#
# Environment knobs:
#   DURATION=5      seconds measured per run
#   WARMUP=1        seconds of load before measuring (JIT, connection set-up)
#   ROUNDS=3        repetitions of the whole grid; medians are reported
#   BASE_PORT=7500  first loopback port
#   SKIP_BUILD=0    1: reuse binaries from a previous run
#   SPIN_US=        EchoServer's --spin-us (empty: the sample's default, 50); spinning is server CPU too
#   REPORT=1        finish with one LoadGen run against `--loops 2 --distribution acceptor` that writes an HTML report
#                   (throughput, latency percentiles, the server's CPU and RSS) to bench/results/loops-<date>.html; 0 skips it
#   ONLY=           space-separated subset of servers to run (c k1 k2rp k2acc k2cpu)
# Output: markdown tables on stdout, also written to bench/results/loops-<date>.md (raw lines beside it).
# Exit status: non-zero when a client saw an error or a mismatched byte, or a server did not stop cleanly.
set -uo pipefail

BENCH_NAME=loops-compare
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STOP_TENTHS=100   # stop_pid: a server gets 10 s to stop after SIGTERM (its exit status is part of the verdict)
PEERS=$ROOT/bench/peers
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
BASE_PORT=${BASE_PORT:-7500}
SKIP_BUILD=${SKIP_BUILD:-0}
SPIN_US=${SPIN_US:-}
ONLY=${ONLY:-}
REPORT=${REPORT:-1}
BIN=$ROOT/bench/results/bin
STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT=$ROOT/bench/results/loops-$STAMP.md
RAW=$ROOT/bench/results/loops-$STAMP.raw.txt

mkdir -p "$BIN"
raise_fd_limit

need gcc gcc || exit 1
command -v dotnet >/dev/null || { log "dotnet is needed"; exit 1; }

if [[ $SKIP_BUILD != 1 || ! -x $BIN/echo-client || ! -x $BIN/c-epoll-echo ]]; then
    log "compiling C programs"
    gcc -O2 -Wall -o "$BIN/echo-client" "$PEERS/echo-client.c" || exit 1
    gcc -O2 -Wall -o "$BIN/c-epoll-echo" "$PEERS/c-epoll-echo.c" || exit 1
fi
KEVENTS_DLL=$ROOT/samples/EchoServer/bin/Release/net10.0/EchoServer.dll
LOADGEN_DLL=$ROOT/samples/LoadGen/bin/Release/net10.0/LoadGen.dll
if [[ $SKIP_BUILD != 1 || ! -f $KEVENTS_DLL || ! -f $LOADGEN_DLL ]]; then
    log "building EchoServer and LoadGen"
    for project in EchoServer LoadGen; do
        build_release "$ROOT/samples/$project/$project.csproj" "$BIN/build-loops.log" || exit 1
    done
fi
NCPU=$(nproc)

# ---------------------------------------------------------------- servers
SERVERS=(c k1 k2rp k2acc k2cpu)
# shellcheck disable=SC2206
[[ -n $ONLY ]] && SERVERS=($ONLY)
declare -A LABEL=(
    [c]="C epoll (reference, 1 thread)"
    [k1]="EchoServer --loops 1"
    [k2rp]="EchoServer --loops 2 reuseport"
    [k2acc]="EchoServer --loops 2 acceptor"
    [k2cpu]="EchoServer --loops $NCPU reuseport-cpu"
)
server_argv() {   # $1 id, $2 port
    local k="dotnet $KEVENTS_DLL --bind 127.0.0.1 --port $2${SPIN_US:+ --spin-us $SPIN_US}"
    case $1 in
        c)     echo "$BIN/c-epoll-echo $2" ;;
        k1)    echo "$k" ;;
        k2rp)  echo "$k --loops 2 --distribution reuseport" ;;
        k2acc) echo "$k --loops 2 --distribution acceptor" ;;
        # The CPU-local program maps CPU i to loop i, so it needs one loop per CPU.
        k2cpu) echo "$k --loops $NCPU --distribution reuseport-cpu" ;;
    esac
}

SERVER_PID=
start_server() {   # $1 id, $2 port
    # shellcheck disable=SC2046
    $(server_argv "$1" "$2") >"$BIN/loops-server-$1.log" 2>&1 &
    SERVER_PID=$!
    CHILDREN+=("$SERVER_PID")
    for _ in $(seq 300); do
        kill -0 "$SERVER_PID" 2>/dev/null || { log "$1 exited early (see $BIN/loops-server-$1.log)"; return 1; }
        # EchoServer says "listening on" once every loop's listener is open; a TCP probe alone would pass as soon as
        # the first of them listens, and a client started then would find only that one (all connections on loop 0).
        if [[ $1 != c ]] && ! grep -q "listening on" "$BIN/loops-server-$1.log" 2>/dev/null; then sleep 0.1; continue; fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "$1 did not accept on port $2 within 30 s"
    return 1
}

field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

SHAPES=(c64 c1000)
declare -A SHAPE_ARGS=([c64]="-c 64 -s 64" [c1000]="-c 1000 -s 64")
declare -A SHAPE_TITLE=([c64]="64 conns" [c1000]="1000 conns")

FAILED=0
declare -A CPUMSG SPREAD TPUT   # key "id,shape,round"
run_one() {   # $1 id, $2 shape, $3 round, $4 port
    local id=$1 shape=$2 round=$3 port=$4 client before after line rc msgs ticks summary
    start_server "$id" "$port" || { FAILED=1; stop_pid "$SERVER_PID"; return; }
    # shellcheck disable=SC2086
    "$BIN/echo-client" -a 127.0.0.1 -p "$port" ${SHAPE_ARGS[$shape]} -t "$DURATION" -w "$WARMUP" >"$BIN/loops-client.out" 2>>"$RAW" &
    client=$!
    CHILDREN+=("$client")
    sleep "$WARMUP"
    before=$(cpu_ticks "$SERVER_PID")
    wait "$client"; rc=$?
    after=$(cpu_ticks "$SERVER_PID")
    line=$(cat "$BIN/loops-client.out")
    msgs=$(field "$line" msgs)
    ticks=$((after - before))
    if [[ $rc != 0 || -z $msgs || $msgs == 0 ]]; then
        log "$id/$shape: client failed (rc=$rc): $line"; FAILED=1
    else
        # microseconds of server CPU per echoed message
        CPUMSG[$id,$shape,$round]=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v m="$msgs" 'BEGIN { printf "%.3f", t / hz * 1e6 / m }')
        TPUT[$id,$shape,$round]=$(field "$line" msg_per_s)
    fi
    # The C reference takes SIGTERM's default action (status 143); EchoServer must drain and exit 0.
    stop_pid "$SERVER_PID"; rc=$?
    if [[ $id != c && $rc != 0 ]]; then log "$id did not exit cleanly after SIGTERM (status $rc)"; FAILED=1; fi
    summary=$(grep -h "connections per loop:" "$BIN/loops-server-$id.log" 2>/dev/null | sed 's/.*connections per loop: //')
    SPREAD[$id,$shape,$round]=$summary
    echo "round=$round id=$id shape=$shape rc=$rc server_ticks=$ticks tck=$CLK_TCK per_loop=${summary:-n/a} $line" >>"$RAW"
    log "round $round $id/$shape: ${CPUMSG[$id,$shape,$round]:-n/a} us CPU/msg, ${TPUT[$id,$shape,$round]:-n/a} msg/s, per loop ${summary:-n/a}"
}

: >"$RAW"
port=$BASE_PORT
for round in $(seq "$ROUNDS"); do
    for shape in "${SHAPES[@]}"; do
        for id in "${SERVERS[@]}"; do
            # A fresh port per run: no TIME_WAIT or lingering listener from the run before can interfere.
            run_one "$id" "$shape" "$round" "$port"
            port=$((port + 1))
        done
    done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "" } else if (NR % 2) { print v[(NR + 1) / 2] } else { printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'; }
med() {   # $1 array name, $2 id, $3 shape
    local -n arr=$1
    for r in $(seq "$ROUNDS"); do [[ -n ${arr[$2,$3,$r]:-} ]] && echo "${arr[$2,$3,$r]}"; done | median
}
ratio() { [[ -n $1 && -n $2 ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }' || echo "n/a"; }
# Largest deviation of a loop's count from the mean, in percent, e.g. "33/31" -> 3.1
deviation() { awk -F/ '{ n = NF; s = 0; for (i = 1; i <= n; i++) s += $i; m = s / n; d = 0; for (i = 1; i <= n; i++) { x = ($i - m) / m * 100; if (x < 0) x = -x; if (x > d) d = x } printf "%.0f", d }' <<<"$1"; }

{
    echo "Loops comparison, $(date -u '+%Y-%m-%d %H:%M UTC'), DURATION=$DURATION WARMUP=$WARMUP ROUNDS=$ROUNDS, $NCPU CPUs, $(uname -r)"
    echo
    echo "Server CPU per echoed message (us, median of $ROUNDS rounds; lower is better) and ratios:"
    echo
    echo "| server | ${SHAPE_TITLE[c64]} | vs 1 loop | vs C | msg/s | ${SHAPE_TITLE[c1000]} | vs 1 loop | vs C | msg/s |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for id in "${SERVERS[@]}"; do
        row="| ${LABEL[$id]}"
        for shape in "${SHAPES[@]}"; do
            v=$(med CPUMSG "$id" "$shape"); k1=$(med CPUMSG k1 "$shape"); c=$(med CPUMSG c "$shape"); t=$(med TPUT "$id" "$shape")
            row+=" | ${v:-n/a} | $(ratio "$v" "$k1") | $(ratio "$v" "$c") | ${t:-n/a}"
        done
        echo "$row |"
    done
    echo
    echo "Connections per loop (from each server's exit summary; one extra connection per run is the script's readiness probe),"
    echo "every round, and the largest deviation from an even share:"
    echo
    echo "| server | shape | per loop, each round | worst deviation |"
    echo "|---|---|---|---|"
    for id in k2rp k2acc k2cpu; do
        for shape in "${SHAPES[@]}"; do
            cells=""; worst=0
            for r in $(seq "$ROUNDS"); do
                s=${SPREAD[$id,$shape,$r]:-}
                [[ -z $s ]] && continue
                cells+="$s "
                d=$(deviation "$s"); (( d > worst )) && worst=$d
            done
            echo "| ${LABEL[$id]} | ${SHAPE_TITLE[$shape]} | ${cells% } | ${worst}% |"
        done
    done
} | tee "$OUT"
log "results: $OUT (raw: $RAW)"

# One run that people can look at: LoadGen drives EchoServer with two loops and writes its HTML report, the server's
# CPU and RSS included (from its PID).
if [[ $REPORT == 1 ]]; then
    port=$((BASE_PORT + 99))
    if start_server k2acc "$port"; then
        html=$ROOT/bench/results/loops-$STAMP.html
        if dotnet "$LOADGEN_DLL" --port "$port" --connections 64 --duration "$DURATION" --warmup "$WARMUP" --quiet \
            --report "$html" --server-pid "$SERVER_PID" >>"$RAW" 2>&1; then
            log "report: $html"
        else
            log "LoadGen report run failed (see $RAW)"; FAILED=1
        fi
        stop_pid "$SERVER_PID" || FAILED=1
    else
        FAILED=1
    fi
fi
exit $FAILED
