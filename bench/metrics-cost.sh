#!/usr/bin/env bash
# What observing the loop costs: the EchoServer sample bare against the same server with `--metrics` (an in-process
# MeterListener that enables every instrument of the meter "Kevents", lag histogram included, and collects the
# observable ones once a second, as an exporter would), side by side with the same client: bench/peers/echo-client.c,
# 64 connections, 64-byte messages, one in flight each (the "64 conns" shape of bench/echo-compare.sh).
#
# The two modes alternate, round after round, each on a fresh server, so drift on a shared machine hits both alike;
# the summary compares the medians. Target (issue 10): metrics cost <= 3% of echo throughput.
#
# Two measures per run: messages per second (what the target is about; on a machine shared with other work it swings
# far more than 3% from run to run), and the server's CPU time per echoed message (user + system from /proc, over the
# measured window), which other work on the machine disturbs much less. Each server first serves WARMUP seconds of the
# same load, so the JIT has settled before either is measured.
#
# Environment knobs:
#   ROUNDS=5       rounds (each runs both modes once)
#   DURATION=5     measured seconds per run      WARMUP=1  seconds of load before measuring
#   CONNS=64       client connections            PORT=7470 loopback port
#   SKIP_BUILD=0   1: reuse the builds
#   SECOND=metrics  the second server: `metrics` (EchoServer --metrics) or `hosted` (samples/HostedEchoServer, the
#                  same echo handler on the generic host with one loop, its health listener, and --Metrics=true: what
#                  hosting and observing cost together)
#   METRICS_FLAG=--metrics   what the second server gets; METRICS_FLAG= runs the bare server twice (an A/A run shows
#                  how far two identical servers differ on this machine, the noise floor of the comparison)
# Output: one line per run on stderr, the summary table on stdout, also bench/results/metrics-cost-<date>.md.
set -uo pipefail

BENCH_NAME=metrics-cost
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64}
PORT=${PORT:-7470}
SKIP_BUILD=${SKIP_BUILD:-0}
METRICS_FLAG=${METRICS_FLAG---metrics}
SECOND=${SECOND:-metrics}
BIN=$ROOT/bench/results/bin
OUT=$ROOT/bench/results/metrics-cost-$(date +%Y-%m-%d-%H%M%S).md
mkdir -p "$BIN"

SERVER_PID=
# SIGTERM (stop_pid), not SIGINT: a background job of a non-interactive shell starts with SIGINT ignored.
stop_server() { stop_pid "$SERVER_PID"; SERVER_PID=; }
on_cleanup() { stop_server; }

DLL=$ROOT/samples/EchoServer/bin/Release/net10.0/EchoServer.dll
HOSTED_DLL=$ROOT/samples/HostedEchoServer/bin/Release/net10.0/HostedEchoServer.dll
if [[ $SKIP_BUILD != 1 || ! -f $DLL || ! -f $HOSTED_DLL || ! -x $BIN/echo-client ]]; then
    gcc -O2 -Wall -o "$BIN/echo-client" "$ROOT/bench/peers/echo-client.c" || exit 1
    for project in EchoServer HostedEchoServer; do
        build_release "$ROOT/samples/$project/$project.csproj" "$BIN/build-metrics-cost.log" \
            || { cat "$BIN/build-metrics-cost.log"; exit 1; }
    done
fi

TICK_US=$((1000000 / CLK_TCK))

run() {   # $1 mode (bare|metrics); prints "messages-per-second cpu-us-per-message"
    local mode=$1 extra= line cpu0 cpu1 msgs
    [[ $mode == metrics ]] && extra=$METRICS_FLAG
    if [[ $mode == metrics && $SECOND == hosted ]]; then
        dotnet "$HOSTED_DLL" --Kevents:Loops=1 --Kevents:Listeners:echo:EndPoint="127.0.0.1:$PORT" \
            --Kevents:Listeners:health:EndPoint=127.0.0.1:0 ${METRICS_FLAG:+--Metrics=true} >"$BIN/metrics-cost-$mode.log" 2>&1 &
    else
        # shellcheck disable=SC2086
        dotnet "$DLL" --port "$PORT" --bind 127.0.0.1 $extra >"$BIN/metrics-cost-$mode.log" 2>&1 &
    fi
    SERVER_PID=$!
    wait_port "$PORT"
    "$BIN/echo-client" -a 127.0.0.1 -p "$PORT" -c "$CONNS" -s 64 -t "$WARMUP" -w 0 >/dev/null
    cpu0=$(cpu_ticks "$SERVER_PID")
    line=$("$BIN/echo-client" -a 127.0.0.1 -p "$PORT" -c "$CONNS" -s 64 -t "$DURATION" -w 0)
    cpu1=$(cpu_ticks "$SERVER_PID")
    stop_server
    msgs=$(tr ' ' '\n' <<<"$line" | sed -n 's/^msgs=//p')
    log "$mode: $line server_cpu_s=$(awk -v t=$((cpu1 - cpu0)) -v u="$TICK_US" 'BEGIN { printf "%.2f", t * u / 1e6 }')"
    [[ $mode == metrics ]] && log "  $(grep '^metrics:' "$BIN/metrics-cost-$mode.log")"
    echo "$(tr ' ' '\n' <<<"$line" | sed -n 's/^msg_per_s=//p') $(awk -v t=$((cpu1 - cpu0)) -v u="$TICK_US" -v m="$msgs" 'BEGIN { printf "%.3f", t * u / m }')"
}

declare -a BARE METRICS BARE_CPU METRICS_CPU
for r in $(seq "$ROUNDS"); do
    for mode in $( (( r % 2 )) && echo bare metrics || echo metrics bare); do
        read -r tput cpu < <(run "$mode")
        if [[ $mode == bare ]]; then BARE+=("$tput"); BARE_CPU+=("$cpu"); else METRICS+=("$tput"); METRICS_CPU+=("$cpu"); fi
    done
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mb=$(median "${BARE[@]}"); mm=$(median "${METRICS[@]}")
cb=$(median "${BARE_CPU[@]}"); cm=$(median "${METRICS_CPU[@]}")
ratio=$(awk -v a="$mm" -v b="$mb" 'BEGIN { printf "%.3f", a / b }')
cpu_ratio=$(awk -v a="$cm" -v b="$cb" 'BEGIN { printf "%.3f", a / b }')
{
    echo "| server | runs (msg/s) | median msg/s | runs (server CPU us/msg) | median CPU us/msg |"
    echo "|---|---|---|---|---|"
    echo "| EchoServer (bare) | ${BARE[*]} | $mb | ${BARE_CPU[*]} | $cb |"
    echo "| $([[ $SECOND == hosted ]] && echo "HostedEchoServer (generic host, 1 loop)" || echo EchoServer) ${METRICS_FLAG:-(bare again)} | ${METRICS[*]} | $mm | ${METRICS_CPU[*]} | $cm |"
    echo
    echo "throughput metrics/bare = $ratio; CPU per message metrics/bare = $cpu_ratio;" \
        "$CONNS connections, $ROUNDS rounds of $DURATION s after $WARMUP s warm-up, $(date -u +%Y-%m-%dT%H:%MZ)"
} | tee "$OUT"
