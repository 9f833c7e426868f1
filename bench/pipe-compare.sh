#!/usr/bin/env bash
# The pipe API against the stream API: the EchoServer sample with `--api pipe` and with the default stream API, in the
# four throughput shapes of bench/echo-compare.sh, with Kestrel's ConnectionHandler (bench/peers/KestrelEcho) beside
# them, all driven by bench/peers/echo-client.c. Target (issue 12): pipe >= 0.9x stream in every shape, >= 1.5x Kestrel.
#
# All servers run for the whole script; round after round, each shape visits every server in turn (the order rotates
# each round), so drift in background load hits all alike; the summary gives medians over the rounds. Two measures per
# run: messages per second, and the server's CPU time per echoed message (user + system of the whole process from
# /proc/PID/stat over the measured window), which other work on a shared machine disturbs much less than throughput.
#
# Environment knobs:
#   ROUNDS=3        rounds                      DURATION=3  measured seconds per run
#   WARMUP=2        seconds of load per server and shape before the first round
#   BASE_PORT=7700  first loopback port         SKIP_BUILD=0  1: reuse the builds
#   BASELINE_DIR=   a directory holding another build of EchoServer.dll (e.g. of main): adds its pipe and stream
#                   rows, so before and after are measured side by side in one run
#   ONLY="stream pipe kestrel"  servers (add stream0 pipe0 for the baseline build)
#   SHAPES_ONLY="c64 c1000 d16 k4"
# Output: one line per run on stderr, the tables on stdout, also bench/results/pipe-compare-<date>.md.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-2}
BASE_PORT=${BASE_PORT:-7700}
SKIP_BUILD=${SKIP_BUILD:-0}
BASELINE_DIR=${BASELINE_DIR:-}
BIN=$ROOT/bench/results/bin
OUT=$ROOT/bench/results/pipe-compare-$(date +%Y-%m-%d-%H%M%S).md
export DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT=${DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT:-1}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
mkdir -p "$BIN"

log() { echo "[pipe-compare] $*" >&2; }

DLL=$ROOT/samples/EchoServer/bin/Release/net10.0/EchoServer.dll
KESTREL_DLL=$ROOT/bench/peers/KestrelEcho/bin/Release/net10.0/KestrelEcho.dll
if [[ $SKIP_BUILD != 1 || ! -f $DLL || ! -f $KESTREL_DLL || ! -x $BIN/echo-client ]]; then
    gcc -O2 -Wall -o "$BIN/echo-client" "$ROOT/bench/peers/echo-client.c" || exit 1
    for proj in "$ROOT/samples/EchoServer/EchoServer.csproj" "$ROOT/bench/peers/KestrelEcho/KestrelEcho.csproj"; do
        dotnet build -c Release -nologo -v quiet "$proj" >"$BIN/build-pipe-compare.log" 2>&1 \
            || { cat "$BIN/build-pipe-compare.log"; log "build of $proj failed"; exit 1; }
    done
fi

DEFAULT=(stream pipe kestrel)
[[ -n $BASELINE_DIR ]] && DEFAULT=(stream0 pipe0 stream pipe kestrel)
# shellcheck disable=SC2206
SERVERS=(${ONLY:-${DEFAULT[*]}})
# shellcheck disable=SC2206
SHAPES=(${SHAPES_ONLY:-c64 c1000 d16 k4})
declare -A SHAPE_ARGS=([c64]="-c 64 -s 64" [c1000]="-c 1000 -s 64" [d16]="-c 64 -s 64 -d 16" [k4]="-c 64 -s 4096")
declare -A SHAPE_TITLE=([c64]="64 conns" [c1000]="1000 conns" [d16]="64 x depth 16" [k4]="64 x 4 KiB")
declare -A LABEL=([stream]="EchoServer (stream API)" [pipe]="EchoServer --api pipe"
    [stream0]="EchoServer (stream API), baseline build" [pipe0]="EchoServer --api pipe, baseline build"
    [kestrel]="Kestrel ConnectionHandler")
argv() {   # $1 id, $2 port
    case $1 in
        stream)  echo "dotnet $DLL --port $2 --bind 127.0.0.1" ;;
        pipe)    echo "dotnet $DLL --port $2 --bind 127.0.0.1 --api pipe" ;;
        stream0) echo "dotnet $BASELINE_DIR/EchoServer.dll --port $2 --bind 127.0.0.1" ;;
        pipe0)   echo "dotnet $BASELINE_DIR/EchoServer.dll --port $2 --bind 127.0.0.1 --api pipe" ;;
        kestrel) echo "dotnet $KESTREL_DLL $2" ;;
    esac
}

declare -A PID PORT
stop_all() {
    for id in "${!PID[@]}"; do kill -TERM "${PID[$id]}" 2>/dev/null; done
    for id in "${!PID[@]}"; do
        for _ in $(seq 50); do kill -0 "${PID[$id]}" 2>/dev/null || break; sleep 0.1; done
        kill -9 "${PID[$id]}" 2>/dev/null; wait "${PID[$id]}" 2>/dev/null
    done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

port=$BASE_PORT
for id in "${SERVERS[@]}"; do
    PORT[$id]=$port; port=$((port + 1))
    # shellcheck disable=SC2046
    $(argv "$id" "${PORT[$id]}") >"$BIN/pipe-compare-$id.log" 2>&1 &
    PID[$id]=$!
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$id]}") 2>/dev/null && break
        sleep 0.1
    done
done

TICK_US=$((1000000 / $(getconf CLK_TCK)))
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

for shape in "${SHAPES[@]}"; do
    for id in "${SERVERS[@]}"; do
        # shellcheck disable=SC2086
        "$BIN/echo-client" -a 127.0.0.1 -p "${PORT[$id]}" ${SHAPE_ARGS[$shape]} -t "$WARMUP" -w 0 >/dev/null
    done
done

declare -A TPUT CPU
FAILED=0
for r in $(seq "$ROUNDS"); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    for shape in "${SHAPES[@]}"; do
        n=${#SERVERS[@]}
        for k in $(seq 0 $((n - 1))); do
            id=${SERVERS[$(( (k + r) % n ))]}
            cpu0=$(cpu_ticks "${PID[$id]}")
            # shellcheck disable=SC2086
            line=$("$BIN/echo-client" -a 127.0.0.1 -p "${PORT[$id]}" ${SHAPE_ARGS[$shape]} -t "$DURATION" -w 0)
            rc=$?
            cpu1=$(cpu_ticks "${PID[$id]}")
            [[ $rc != 0 ]] && { FAILED=1; log "$id/$shape failed: $line"; continue; }
            msgs=$(field "$line" msgs)
            cpu=$(awk -v t=$((cpu1 - cpu0)) -v u="$TICK_US" -v m="$msgs" 'BEGIN { printf "%.3f", t * u / m }')
            TPUT[$id,$shape]+="$(field "$line" msg_per_s) "
            CPU[$id,$shape]+="$cpu "
            log "round $r load $load $id/$shape: $(field "$line" msg_per_s) msg/s, $cpu us CPU/msg"
        done
    done
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'; }
declare -A MT MC
for id in "${SERVERS[@]}"; do for shape in "${SHAPES[@]}"; do
    # shellcheck disable=SC2086
    MT[$id,$shape]=$(median ${TPUT[$id,$shape]:-}); MC[$id,$shape]=$(median ${CPU[$id,$shape]:-})
done; done
ref() { for c in stream pipe; do [[ " ${SERVERS[*]} " == *" $c "* ]] && { echo "$c"; return; }; done; echo "${SERVERS[0]}"; }
R=$(ref)
{
    echo "Medians of $ROUNDS rounds, $DURATION s each; $(nproc) CPUs; load average at the end $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)."
    echo
    echo "Throughput, msg/s (ratio to ${LABEL[$R]}):"
    echo
    echo "| server |$(for s in "${SHAPES[@]}"; do printf ' %s |' "${SHAPE_TITLE[$s]}"; done)"
    echo "|---|$(for _ in "${SHAPES[@]}"; do printf -- '---|'; done)"
    for id in "${SERVERS[@]}"; do
        row="| ${LABEL[$id]} |"
        for s in "${SHAPES[@]}"; do row+=" ${MT[$id,$s]} ($(ratio "${MT[$id,$s]}" "${MT[$R,$s]}")) |"; done
        echo "$row"
    done
    echo
    echo "Server CPU per message, us (ratio to ${LABEL[$R]}; lower is better):"
    echo
    echo "| server |$(for s in "${SHAPES[@]}"; do printf ' %s |' "${SHAPE_TITLE[$s]}"; done)"
    echo "|---|$(for _ in "${SHAPES[@]}"; do printf -- '---|'; done)"
    for id in "${SERVERS[@]}"; do
        row="| ${LABEL[$id]} |"
        for s in "${SHAPES[@]}"; do row+=" ${MC[$id,$s]} ($(ratio "${MC[$id,$s]}" "${MC[$R,$s]}")) |"; done
        echo "$row"
    done
    if [[ " ${SERVERS[*]} " == *" pipe "* && " ${SERVERS[*]} " == *" kestrel "* ]]; then
        echo
        echo "Pipe API against Kestrel: throughput $(for s in "${SHAPES[@]}"; do printf '%s %s; ' "${SHAPE_TITLE[$s]}" "$(ratio "${MT[pipe,$s]}" "${MT[kestrel,$s]}")"; done)" \
             "CPU per message $(for s in "${SHAPES[@]}"; do printf '%s %s; ' "${SHAPE_TITLE[$s]}" "$(ratio "${MC[pipe,$s]}" "${MC[kestrel,$s]}")"; done)"
    fi
} | tee "$OUT"
exit $FAILED
