#!/usr/bin/env bash
# Scale-out behind HAProxy: three EchoServer processes on loopback ports behind HAProxy in TCP mode with health
# checks, loaded by LoadGen through the proxy; one backend is stopped (SIGTERM) in the middle of the run.
#
# What it proves, and how:
#   1. Every backend serves: HAProxy's own per-server counters (the CSV of its stats page, `show stat`) show
#      current and total sessions on each of the three.
#   2. Connections already established to the surviving backends lose nothing. The long-lived run ("established",
#      its own frontend) keeps CONNS connections open for the whole run. LoadGen lists every connection that
#      failed with its local address (`error_connections` in --json); HAProxy logs every session with the
#      client's address and the server it chose. Joining the two attributes each failure to a backend: every one
#      must be on the stopped backend, and none may be missing from the log. The survivors' sessions must also
#      have moved bytes (so "no errors" is not "no traffic").
#   3. New connections go to the survivors: once HAProxy has marked the stopped backend DOWN, a second LoadGen
#      run ("fresh", its own frontend) opens new connections; it must be clean, the stopped backend's session
#      total must not move, and every one of its sessions in the log must be on a survivor.
# Exit code 0 when all three hold, 1 otherwise (2 for a setup failure). Every process it started is stopped on
# exit, however it exits.
#
# Environment knobs:
#   CONNS=60        established connections (kept open for the whole run)
#   FRESH_CONNS=30  new connections opened after the stop
#   DURATION=14     measured seconds of the established run (after 1 s of warm-up)
#   STOP_AT=4       seconds after the established run's connections are all up when backend s2 gets SIGTERM
#   SKIP_BUILD=0    1: reuse the Release build
# Output: the figures on stdout; the logs, the stats and LoadGen's HTML report (haproxy-<stamp>.html, with
# HAProxy's own CPU and memory) in bench/results/.
set -uo pipefail

BENCH_NAME=haproxy
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STOP_TENTHS=60
CONNS=${CONNS:-60}
FRESH_CONNS=${FRESH_CONNS:-30}
DURATION=${DURATION:-14}
STOP_AT=${STOP_AT:-4}
SKIP_BUILD=${SKIP_BUILD:-0}
STAMP=$(date +%Y-%m-%d-%H%M%S)
RESULTS=$ROOT/bench/results
WORK=$RESULTS/haproxy-$STAMP
REPORT=$RESULTS/haproxy-$STAMP.html

# ---------------------------------------------------------------- tools
# The package's own service is not wanted here (this script runs its own HAProxy): where the package starts it, it
# only listens on what /etc/haproxy/haproxy.cfg names, which is nothing by default.
for tool in haproxy curl jq; do need "$tool" "$tool" || die "apt-get install $tool failed"; done
log "$(haproxy -v | head -1)"

mkdir -p "$WORK"
raise_fd_limit
if [[ $SKIP_BUILD != 1 ]]; then
    log "building the samples (Release)"
    for project in samples/EchoServer samples/LoadGen; do
        build_release "$ROOT/$project" "$WORK/build.log" || { cat "$WORK/build.log" >&2; die "build of $project failed"; }
    done
fi
ECHO_DLL=$(ls "$ROOT"/samples/EchoServer/bin/Release/net*/EchoServer.dll | head -1)
LOADGEN_DLL=$(ls "$ROOT"/samples/LoadGen/bin/Release/net*/LoadGen.dll | head -1)
[[ -f $ECHO_DLL && -f $LOADGEN_DLL ]] || die "no Release build of EchoServer and LoadGen (run without SKIP_BUILD=1)"

# A loopback port nothing listens on (connect refused), for HAProxy's own listeners. Taken below the kernel's
# ephemeral range: a port in it may be the local end of some client connection (or of thousands in TIME-WAIT on a
# machine other loads share), which refuses a connect and still makes HAProxy's bind fail with EADDRINUSE.
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % (EPHEMERAL_LOW - 20000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
    done
    die "no free loopback port found"
}

# ---------------------------------------------------------------- backends
declare -A BACKEND_PID BACKEND_PORT
for name in s1 s2 s3; do
    dotnet "$ECHO_DLL" --port 0 >"$WORK/$name.log" 2>&1 &
    pid=$!
    CHILDREN+=("$pid")
    BACKEND_PID[$name]=$pid
done
for name in s1 s2 s3; do
    # --port 0: the kernel picks the port, and the server logs the address it bound.
    for _ in $(seq 200); do
        port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$WORK/$name.log" | head -1 | sed 's/.*://')
        [[ -n $port ]] && break
        kill -0 "${BACKEND_PID[$name]}" 2>/dev/null || { cat "$WORK/$name.log" >&2; die "EchoServer $name exited"; }
        sleep 0.1
    done
    [[ -n $port ]] || die "EchoServer $name did not report its port"
    BACKEND_PORT[$name]=$port
    log "backend $name: EchoServer pid ${BACKEND_PID[$name]} on 127.0.0.1:$port"
done

# ---------------------------------------------------------------- HAProxy
FRONT_ESTABLISHED=$(free_port)
FRONT_FRESH=$(free_port)
STATS_PORT=$(free_port)
CFG=$WORK/haproxy.cfg
cat >"$CFG" <<EOF
global
    # Twice this in descriptors (client and server side), within a common 20000-descriptor limit.
    maxconn 4000
    # One line per session, on HAProxy's stdout (captured in haproxy.log).
    log stdout format raw local0

defaults
    mode tcp
    log global
    # client address, frontend, backend/server, termination state, bytes to the client, bytes from the client
    log-format "%ci:%cp %ft %b/%s %ts %B %U"
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # A connect refused by a backend that is going down is retried, on another server.
    retries 2
    option redispatch

# Two doors to the same pool, so the log tells the long-lived connections from the ones opened after the stop.
frontend established
    bind 127.0.0.1:$FRONT_ESTABLISHED
    default_backend echoes

frontend fresh
    bind 127.0.0.1:$FRONT_FRESH
    default_backend echoes

backend echoes
    balance roundrobin
    # A TCP connect every 500 ms; 2 failures mark a server DOWN, 2 successes bring it back.
    default-server check inter 500ms fall 2 rise 2
    server s1 127.0.0.1:${BACKEND_PORT[s1]}
    server s2 127.0.0.1:${BACKEND_PORT[s2]}
    server s3 127.0.0.1:${BACKEND_PORT[s3]}

listen stats
    mode http
    bind 127.0.0.1:$STATS_PORT
    stats enable
    stats uri /
EOF
haproxy -c -q -f "$CFG" || die "HAProxy rejected $CFG"
haproxy -db -f "$CFG" >"$WORK/haproxy.log" 2>&1 &
HAPROXY_PID=$!
CHILDREN+=("$HAPROXY_PID")

# HAProxy's per-server counters as "name scur stot status" lines (the stats page's CSV, what `show stat` prints on
# the runtime socket: field 5 is current sessions, 8 total sessions, 18 status).
haproxy_stat() { curl -fsS "http://127.0.0.1:$STATS_PORT/;csv" | awk -F, '$1=="echoes" && $2 ~ /^s[0-9]$/ {print $2, $5, $8, $18}'; }
stat_field() { haproxy_stat | awk -v s="$1" -v f="$2" '$1==s {print $f}'; }
wait_status() { # server status timeout_s
    for _ in $(seq $(($3 * 10))); do [[ $(stat_field "$1" 4 2>/dev/null) == "$2" ]] && return 0; sleep 0.1; done
    return 1
}
for name in s1 s2 s3; do wait_status "$name" UP 10 || die "HAProxy never saw backend $name UP"; done
log "HAProxy pid $HAPROXY_PID: frontends established=127.0.0.1:$FRONT_ESTABLISHED fresh=127.0.0.1:$FRONT_FRESH, stats http://127.0.0.1:$STATS_PORT/"

# ---------------------------------------------------------------- the run
FAIL=0
check() { # condition-status message
    if [[ $1 == 0 ]]; then echo "PASS  $2"; else echo "FAIL  $2"; FAIL=1; fi
}

log "established run: $CONNS connections for 1 s warm-up + $DURATION s; s2 gets SIGTERM ${STOP_AT} s after they are up"
dotnet "$LOADGEN_DLL" --port "$FRONT_ESTABLISHED" --connections "$CONNS" --depth 1 --size 64 --warmup 1 --duration "$DURATION" \
    --quiet --json --report "$REPORT" --server-pid "$HAPROXY_PID" >"$WORK/established.json" 2>"$WORK/established.err" &
ESTABLISHED_PID=$!
CHILDREN+=("$ESTABLISHED_PID")
# Counted from the moment all its connections are through the proxy, however long a busy machine takes to start it.
for _ in $(seq 300); do
    [[ $(haproxy_stat | awk '{sum += $2} END {print sum + 0}') -ge $CONNS ]] && break
    kill -0 "$ESTABLISHED_PID" 2>/dev/null || break
    sleep 0.1
done
sleep "$STOP_AT"

echo "== before the stop: HAProxy's view (server, current sessions, total sessions, status) =="
haproxy_stat | tee "$WORK/stat-before.txt"
for name in s1 s2 s3; do
    cur=$(awk -v s="$name" '$1==s {print $2}' "$WORK/stat-before.txt")
    [[ ${cur:-0} -gt 0 ]]; check $? "backend $name serves: ${cur:-0} established sessions before the stop"
done

log "SIGTERM to s2 (pid ${BACKEND_PID[s2]})"
kill -TERM "${BACKEND_PID[s2]}"
STOPPED_AT=$(date +%s.%N)
wait_status s2 DOWN 10; check $? "HAProxy marked s2 DOWN after the stop (health checks every 500 ms, fall 2)"
DOWN_AFTER=$(awk -v a="$STOPPED_AT" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
s2_total_before=$(stat_field s2 3)

log "fresh run: $FRESH_CONNS new connections, 2 s, while the established run goes on"
dotnet "$LOADGEN_DLL" --port "$FRONT_FRESH" --connections "$FRESH_CONNS" --depth 1 --size 64 --warmup 0 --duration 2 \
    --quiet --json >"$WORK/fresh.json" 2>"$WORK/fresh.err"
fresh_rc=$?
echo "== after the fresh run =="
haproxy_stat | tee "$WORK/stat-after-fresh.txt"
s2_total_after=$(stat_field s2 3)

wait "$ESTABLISHED_PID"
established_rc=$?
# Sessions are logged as they end; the last ones end as LoadGen closes them.
sleep 1
haproxy_stat >"$WORK/stat-end.txt"

# ---------------------------------------------------------------- verdict
echo "== LoadGen, established run (exit $established_rc) =="
jq -c 'del(.error_connections)' "$WORK/established.json"
echo "== LoadGen, fresh run (exit $fresh_rc) =="
jq -c 'del(.error_connections)' "$WORK/fresh.json"

# client address -> server, per frontend, from HAProxy's session log.
grep -E '^[0-9.]+:[0-9]+ (established|fresh) echoes/' "$WORK/haproxy.log" >"$WORK/sessions.txt"
jq -r '.error_connections // [] | .[] | .local' "$WORK/established.json" | LC_ALL=C sort >"$WORK/failed-locals.txt"
awk '$2=="established" {split($3, b, "/"); print $1, b[2]}' "$WORK/sessions.txt" | LC_ALL=C sort >"$WORK/established-sessions.txt"
LC_ALL=C join "$WORK/failed-locals.txt" "$WORK/established-sessions.txt" >"$WORK/failed-by-server.txt"

failed=$(wc -l <"$WORK/failed-locals.txt")
errors=$(jq '.errors' "$WORK/established.json")
attributed=$(wc -l <"$WORK/failed-by-server.txt")
on_survivors=$(awk '$2!="s2"' "$WORK/failed-by-server.txt" | wc -l)
on_s2=$(awk '$2=="s2"' "$WORK/failed-by-server.txt" | wc -l)
echo "== established run, per backend (sessions from HAProxy's log; failures joined by client address) =="
for name in s1 s2 s3; do
    sessions=$(awk -v s="$name" '$2==s' "$WORK/established-sessions.txt" | wc -l)
    bytes=$(awk -v s="echoes/$name" '$2=="established" && $3==s {sum += $5} END {print sum + 0}' "$WORK/sessions.txt")
    failures=$(awk -v s="$name" '$2==s' "$WORK/failed-by-server.txt" | wc -l)
    echo "$name: $sessions connections, $bytes bytes echoed to clients, $failures failed"
done
[[ $errors == "$failed" ]]; check $? "every error of the established run is listed with its connection ($errors errors, $failed listed)"
[[ $attributed == "$failed" ]]; check $? "every failed connection is found in HAProxy's log ($attributed of $failed)"
[[ $on_survivors == 0 ]]; check $? "0 errors on connections established to the surviving backends s1 and s3 ($on_s2 on s2, $on_survivors elsewhere)"
[[ $(jq '.connect_errors + .mismatches' "$WORK/established.json") == 0 ]]; check $? "no connect errors and no mismatched bytes in the established run"
survivor_bytes=$(awk '$2=="established" && ($3=="echoes/s1" || $3=="echoes/s3") {sum += $5} END {print sum + 0}' "$WORK/sessions.txt")
[[ $survivor_bytes -gt 0 ]]; check $? "the survivors' established connections carried traffic ($survivor_bytes bytes)"

fresh_total=$(awk '$2=="fresh"' "$WORK/sessions.txt" | wc -l)
fresh_on_s2=$(awk '$2=="fresh" && $3=="echoes/s2"' "$WORK/sessions.txt" | wc -l)
echo "== fresh run, per backend =="
for name in s1 s2 s3; do
    echo "$name: $(awk -v s="echoes/$name" '$2=="fresh" && $3==s' "$WORK/sessions.txt" | wc -l) connections"
done
[[ $fresh_rc == 0 && $(jq '.errors + .mismatches' "$WORK/fresh.json") == 0 ]]; check $? "the fresh run is clean (exit $fresh_rc)"
[[ $s2_total_after == "$s2_total_before" && $fresh_on_s2 == 0 && $fresh_total == "$FRESH_CONNS" ]]
check $? "new connections go to the survivors: $fresh_total of $FRESH_CONNS logged, $fresh_on_s2 on s2 (s2's session total $s2_total_before -> $s2_total_after)"

echo "== backends' own summaries =="
stop_pid "${BACKEND_PID[s1]}"; stop_pid "${BACKEND_PID[s3]}"; stop_pid "${BACKEND_PID[s2]}"
for name in s1 s2 s3; do echo "$name: $(grep -E '^EchoServer:' "$WORK/$name.log" || echo '(no summary)')"; done
echo "s2 was marked DOWN ${DOWN_AFTER} s after its SIGTERM"
echo "report: $REPORT"
echo "logs:   $WORK"
if [[ $FAIL == 0 ]]; then echo "PASS"; else echo "FAIL"; fi
exit "$FAIL"
