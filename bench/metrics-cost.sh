#!/usr/bin/env bash
# What observing the loop costs: the EchoServer sample bare against the same server with `--metrics` (an in-process
# MeterListener that enables every instrument of the meter "Kevents", lag histogram included, and collects the
# observable ones once a second, as an exporter would), side by side with the same client: bench/peers/echo-client.c,
# 64 connections, 64-byte messages, one in flight each (the "64 conns" shape of bench/echo-compare.sh).
#
# The two modes alternate, round after round, each on a fresh server, so drift on a shared machine hits both alike;
# the summary compares the medians. Target (issue 10): metrics cost <= 3% of echo throughput.
#
# Environment knobs:
#   ROUNDS=5       rounds (each runs both modes once)
#   DURATION=5     measured seconds per run      WARMUP=1  seconds of load before measuring
#   CONNS=64       client connections            PORT=7470 loopback port
#   SKIP_BUILD=0   1: reuse the builds
# Output: one line per run on stderr, the summary table on stdout, also bench/results/metrics-cost-<date>.md.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64}
PORT=${PORT:-7470}
SKIP_BUILD=${SKIP_BUILD:-0}
BIN=$ROOT/bench/results/bin
OUT=$ROOT/bench/results/metrics-cost-$(date +%Y-%m-%d-%H%M%S).md
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
mkdir -p "$BIN"

log() { echo "[metrics-cost] $*" >&2; }

SERVER_PID=
stop_server() {
    [[ -z $SERVER_PID ]] && return
    kill -INT "$SERVER_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
}
trap stop_server EXIT
trap 'exit 130' INT TERM

DLL=$ROOT/samples/EchoServer/bin/Release/net10.0/EchoServer.dll
if [[ $SKIP_BUILD != 1 || ! -f $DLL || ! -x $BIN/echo-client ]]; then
    gcc -O2 -Wall -o "$BIN/echo-client" "$ROOT/bench/peers/echo-client.c" || exit 1
    dotnet build -c Release -nologo -v quiet "$ROOT/samples/EchoServer/EchoServer.csproj" >"$BIN/build-metrics-cost.log" 2>&1 \
        || { cat "$BIN/build-metrics-cost.log"; log "EchoServer build failed"; exit 1; }
fi

run() {   # $1 mode (bare|metrics); prints messages per second
    local mode=$1 extra= line
    [[ $mode == metrics ]] && extra=--metrics
    # shellcheck disable=SC2086
    dotnet "$DLL" --port "$PORT" --bind 127.0.0.1 $extra >"$BIN/metrics-cost-$mode.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    line=$("$BIN/echo-client" -a 127.0.0.1 -p "$PORT" -c "$CONNS" -s 64 -t "$DURATION" -w "$WARMUP")
    stop_server
    log "$mode: $line"
    [[ $mode == metrics ]] && log "  $(grep '^metrics:' "$BIN/metrics-cost-$mode.log")"
    tr ' ' '\n' <<<"$line" | sed -n 's/^msg_per_s=//p'
}

declare -a BARE METRICS
for r in $(seq "$ROUNDS"); do
    if (( r % 2 )); then
        BARE+=("$(run bare)"); METRICS+=("$(run metrics)")
    else
        METRICS+=("$(run metrics)"); BARE+=("$(run bare)")
    fi
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mb=$(median "${BARE[@]}"); mm=$(median "${METRICS[@]}")
ratio=$(awk -v a="$mm" -v b="$mb" 'BEGIN { printf "%.3f", a / b }')
cost=$(awk -v a="$mm" -v b="$mb" 'BEGIN { printf "%.1f", (1 - a / b) * 100 }')
{
    echo "| server | runs (msg/s) | median msg/s |"
    echo "|---|---|---|"
    echo "| EchoServer (bare) | ${BARE[*]} | $mb |"
    echo "| EchoServer --metrics | ${METRICS[*]} | $mm |"
    echo
    echo "metrics / bare = $ratio (cost $cost%), $CONNS connections, $ROUNDS rounds of $DURATION s, $(date -u +%Y-%m-%dT%H:%MZ)"
} | tee "$OUT"
