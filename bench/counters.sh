#!/usr/bin/env bash
# Shows the Kevents meter live: starts the EchoServer sample, drives it with LoadGen for a few seconds, and records
# every instrument of the meter "Kevents" with `dotnet-counters collect` (CSV). Prints, per instrument and tag set,
# the first and last value seen, so one can check that each moves while the loop works.
#
# Installs dotnet-counters (a dotnet tool from NuGet) into bench/results/tools when it is not on PATH.
#
# Environment knobs:
#   DURATION=6     seconds of load (and of collection)
#   CONNS=64       LoadGen connections
#   PORT=7460      loopback port for EchoServer
#   SKIP_BUILD=0   1: reuse the Release builds of EchoServer and LoadGen
# Output: bench/results/counters-<date>.csv (the raw collection) and the summary on stdout.
set -uo pipefail

BENCH_NAME=counters
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DURATION=${DURATION:-6}
CONNS=${CONNS:-64}
PORT=${PORT:-7460}
SKIP_BUILD=${SKIP_BUILD:-0}
RESULTS=$ROOT/bench/results
TOOLS=$RESULTS/tools
STAMP=$(date +%Y-%m-%d-%H%M%S)
CSV=$RESULTS/counters-$STAMP.csv
mkdir -p "$RESULTS"

SERVER_PID= LOAD_PID=
on_cleanup() { stop_pid "$LOAD_PID"; stop_pid "$SERVER_PID"; }

# ---------------------------------------------------------------- dotnet-counters
COUNTERS=$(command -v dotnet-counters || true)
if [[ -z $COUNTERS ]]; then
    need_dotnet_tool dotnet-counters "$TOOLS" || exit 1
    COUNTERS=$TOOLS/dotnet-counters
fi

# ---------------------------------------------------------------- build
SERVER=$ROOT/samples/EchoServer/bin/Release/net10.0/EchoServer
LOADGEN=$ROOT/samples/LoadGen/bin/Release/net10.0/LoadGen.dll
if [[ $SKIP_BUILD != 1 || ! -x $SERVER || ! -f $LOADGEN ]]; then
    for proj in samples/EchoServer/EchoServer.csproj samples/LoadGen/LoadGen.csproj; do
        build_release "$ROOT/$proj" "$RESULTS/build-counters.log" || { cat "$RESULTS/build-counters.log"; exit 1; }
    done
fi

# ---------------------------------------------------------------- run
# The apphost, not `dotnet EchoServer.dll`: the process is then named EchoServer, as `-n EchoServer` expects.
"$SERVER" --port "$PORT" --bind 127.0.0.1 >"$RESULTS/counters-server.log" 2>&1 &
SERVER_PID=$!
wait_port "$PORT" "$SERVER_PID"
[[ $? == 1 ]] && { cat "$RESULTS/counters-server.log"; log "EchoServer exited"; exit 1; }

dotnet "$LOADGEN" --port "$PORT" -c "$CONNS" --warmup 0 --duration "$((DURATION + 2))" --quiet >"$RESULTS/counters-loadgen.log" 2>&1 &
LOAD_PID=$!
sleep 0.5
log "collecting the Kevents meter of EchoServer (pid $SERVER_PID) for $DURATION s"
"$COUNTERS" collect -n EchoServer --counters Kevents --refresh-interval 1 --format csv -o "$CSV" \
    --duration "00:00:00:$(printf %02d "$DURATION")" >"$RESULTS/counters-collect.log" 2>&1 \
    || { cat "$RESULTS/counters-collect.log"; log "dotnet-counters collect failed"; exit 1; }
wait "$LOAD_PID"; LOAD_PID=
stop_pid "$SERVER_PID"; SERVER_PID=

[[ -s $CSV ]] || { log "no data in $CSV"; exit 1; }
# CSV columns: Timestamp,Provider,Counter Name,Counter Type,Mean/Increment. dotnet-counters shows the tags inside the
# counter name ("kevents.loop.kevents ({kevent} / 1 sec)[kevents.filter=read,kevents.loop=echo]").
echo "| instrument (as dotnet-counters names it) | first | last | samples |"
echo "|---|---|---|---|"
awk -F, 'NR > 1 && $2 == "Kevents" {
    name = $3; for (i = 4; i < NF - 1; i++) name = name "," $i
    value = $NF
    if (!(name in first)) { first[name] = value; order[++n] = name }
    last[name] = value; count[name]++
}
function fmt(v) { return (v >= 1000 || v == int(v)) ? sprintf("%.0f", v) : sprintf("%.4g", v) }
END { for (i = 1; i <= n; i++) printf "| `%s` | %s | %s | %d |\n", order[i], fmt(first[order[i]]), fmt(last[order[i]]), count[order[i]] }' "$CSV"
log "raw collection: $CSV"
log "LoadGen: $(tail -n 3 "$RESULTS/counters-loadgen.log" | tr '\n' ' ')"
