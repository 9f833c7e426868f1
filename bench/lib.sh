# Shared pieces of the bench scripts. Sourced, never run:
#     BENCH_NAME=http-compare; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Sets ROOT (the repository), exports the dotnet quiet switches, and defines the helpers below. Nothing here starts a
# process or installs anything until a script calls it.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLK_TCK=$(getconf CLK_TCK)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# Debian installs the servers compared here (nginx, haproxy) in /usr/sbin, which a non-root PATH often lacks.
[[ ":$PATH:" == *:/usr/sbin:* ]] || PATH=$PATH:/usr/sbin

log() { echo "[${BENCH_NAME:-bench}] $*" >&2; }
die() { log "SETUP FAILED: $*"; exit 2; }   # exit code 2: setup failed, as every script's header says

# Many connections at once: the soft descriptor limit up to the hard one.
raise_fd_limit() { ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; }

# 1-minute load average (or the fields given, e.g. 1-3), for the report beside every measurement.
load_avg() { cut -d' ' -f"${1:-1}" /proc/loadavg; }

# ---------------------------------------------------------------- tools
# need COMMAND PACKAGE: installs the Debian package when COMMAND is missing (apt-get update only when the first
# install fails, so a warm cache costs nothing); sudo when not root. 1 when it is still missing.
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    local sudo=
    [[ $(id -u) -ne 0 ]] && sudo=sudo
    log "$1 missing, installing $2"
    { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null 2>&1 \
        || { $sudo apt-get update >/dev/null 2>&1 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null 2>&1; }; } \
        && command -v "$1" >/dev/null 2>&1 || { log "could not install $2"; return 1; }
}

# Sets NGINX to the nginx binary (Debian keeps it in /usr/sbin, often off a user's PATH), installing PACKAGE
# (default nginx-light) when there is none.
need_nginx() {
    [[ -x /usr/sbin/nginx ]] || command -v nginx >/dev/null || need nginx "${1:-nginx-light}" || return 1
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

# need_dotnet_tool NAME DIR [VERSION]: a dotnet tool from NuGet, installed into DIR (a local tool path, not the
# global one) when DIR/NAME is missing; the install log goes to DIR/NAME-install.log. 1 when it failed.
need_dotnet_tool() {
    local name=$1 dir=$2 version=${3:-}
    [[ -x $dir/$name ]] && return 0
    mkdir -p "$dir"
    log "$name missing, installing it into $dir"
    timeout 600 dotnet tool install "$name" --tool-path "$dir" ${version:+--version "$version"} >"$dir/$name-install.log" 2>&1 \
        || { log "could not install $name (see $dir/$name-install.log)"; return 1; }
}

# build_release PROJECT LOG: a Release build of a project (path to a .csproj or its folder), quiet, output in LOG.
# 1 (after saying where the log is) when it failed.
build_release() {
    local proj=$1 out=$2
    mkdir -p "$(dirname "$out")"
    timeout 600 dotnet build -c Release -nologo -v quiet "$proj" >"$out" 2>&1 && return 0
    log "build of $proj failed (see $out)"
    return 1
}

# build_dll PROJECT DLL: build_release unless SKIP_BUILD=1 and DLL is there; the log goes to $BIN/build-<name>.log.
# 0 only when DLL exists afterwards.
build_dll() {
    local proj=$1 dll=$2
    [[ ${SKIP_BUILD:-0} == 1 && -f $dll ]] && return 0
    rm -f "$dll"
    build_release "$proj" "$BIN/build-$(basename "$proj").log" || return 1
    [[ -f $dll ]]
}

# ---------------------------------------------------------------- processes
# wait_port PORT [PID] [TENTHS]: until 127.0.0.1:PORT accepts a connection. 0 when it does, 1 when PID (if given)
# exited first, 2 after TENTHS tenths of a second (default 300).
wait_port() {
    local port=$1 pid=${2:-} tenths=${3:-300}
    for _ in $(seq "$tenths"); do
        [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null && return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    return 2
}

# await_server ID PORT PID LOG: wait_port, saying which way it failed (the server's output is in LOG).
await_server() {
    wait_port "$2" "$3"
    case $? in
        0) return 0 ;;
        1) log "$1 exited early (see $4)" ;;
        *) log "$1 did not accept on port $2 within 30 s" ;;
    esac
    return 1
}

# start_servers: for the side-by-side comparisons. Each id in SERVERS takes the next port from BASE_PORT (PORT[id]);
# each one available (AVAIL[id] == 1) is started with the script's start_server ID PORT (which sets SERVER_PID) and
# then checked with its verify ID PORT; PID[id] is its pid. One that does not start is made unavailable, FAILED=1.
start_servers() {
    declare -gA PORT PID
    local id port=$BASE_PORT
    for id in "${SERVERS[@]}"; do
        PORT[$id]=$port; port=$((port + 1))
        [[ ${AVAIL[$id]} == 1 ]] || { log "$id: not available, row will be n/a"; continue; }
        log "$id: starting on port ${PORT[$id]}"
        if start_server "$id" "${PORT[$id]}"; then PID[$id]=$SERVER_PID; verify "$id" "${PORT[$id]}"
        else AVAIL[$id]=0; FAILED=1; stop_pid "$SERVER_PID"; fi
    done
}

# utime + stime of a process in clock ticks (CLK_TCK a second): fields 14 and 15 of /proc/PID/stat, counted after
# the ")" that ends the name, since the name in field 2 may hold spaces. Empty when the process is gone.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }

# Descriptors a process holds.
fds_of() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# stop_pid PID [TENTHS]: SIGTERM, up to TENTHS tenths of a second (default STOP_TENTHS, 50) for it to go, then
# SIGKILL; reaps it and returns its exit status (a child of this shell only).
STOP_TENTHS=50
stop_pid() {
    local pid=$1 tenths=${2:-$STOP_TENTHS}
    [[ -z $pid ]] && return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq "$tenths"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null
}

# Every background process a script starts goes into CHILDREN; on exit (also after Ctrl-C) each still running is
# stopped, BENCH_TMP (if set) is removed, and the script's own on_cleanup runs first if it defines one.
CHILDREN=()
BENCH_TMP=
# (The "|| true"s keep a script under set -e from leaving its cleanup half done.)
bench_cleanup() {
    if declare -F on_cleanup >/dev/null; then on_cleanup || true; fi
    local pid
    for pid in "${CHILDREN[@]}"; do stop_pid "$pid" || true; done
    [[ -n $BENCH_TMP ]] && rm -rf "$BENCH_TMP"
    return 0
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# A fresh temporary directory, removed on exit: TMP=$(bench_tmp) does not work (subshell), so it sets BENCH_TMP.
bench_tmp() { BENCH_TMP=$(mktemp -d "/tmp/kevents-${BENCH_NAME:-bench}.XXXXXX"); }

# ---------------------------------------------------------------- nginx
# The top of an nginx.conf for one process in the foreground, its pid and error log under DIR ($1), and the http
# block's temporary paths under DIR too (nginx_temp_paths), so nothing needs root or touches /var.
nginx_prelude() {
    cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
EOF
}
nginx_temp_paths() {
    local p
    for p in client_body proxy fastcgi uwsgi scgi; do
        echo "    ${p}_temp_path $1/${p/client_/};"
    done
}

# ---------------------------------------------------------------- report tables of the side-by-side comparisons
# They need the script's TABLE_COLUMNS (column keys), title KEY (a column's heading), cell ID KEY (a server's cell),
# SERVERS, LABEL[id] and VERIFY[id]; measurements are kept in arrays keyed "id,column-key".
fmt_rate() { awk -v v="$1" 'BEGIN { if (v == "") { print "n/a"; exit }
    if (v >= 1e6) printf "%.2fM", v / 1e6; else if (v >= 1e3) printf "%.0fK", v / 1e3; else printf "%.0f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'; }

# table_head FIRST...: the heading row (the given first headings, then every column's title) and its rule.
table_head() {
    local header="|" rule="|" c
    for c in "$@"; do header+=" $c |"; rule+="---|"; done
    for c in "${TABLE_COLUMNS[@]}"; do header+=" $(title "$c") |"; rule+="---|"; done
    echo "$header"; echo "$rule"
}

# server_table: one row per server: its label, its check, and its cell in every column.
server_table() {
    local id c row
    table_head server check
    for id in "${SERVERS[@]}"; do
        row="| ${LABEL[$id]} | ${VERIFY[$id]:-n/a} |"
        for c in "${TABLE_COLUMNS[@]}"; do row+=" $(cell "$id" "$c") |"; done
        echo "$row"
    done
}

# ratio_table ARRAY "A B"...: one row per pair, ARRAY[A,column] / ARRAY[B,column] in every column.
ratio_table() {
    local -n measured=$1
    shift
    local pair a b c row
    table_head ratio
    for pair in "$@"; do
        read -r a b <<<"$pair"
        row="| ${LABEL[$a]%% (*} / ${LABEL[$b]%% (*} |"
        for c in "${TABLE_COLUMNS[@]}"; do row+=" $(ratio "${measured[$a,$c]:-}" "${measured[$b,$c]:-}") |"; done
        echo "$row"
    done
}
