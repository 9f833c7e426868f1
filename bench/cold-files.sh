#!/usr/bin/env bash
# Cold files: does one download of a file that is not in the page cache stall everybody else? Hot 1 KiB requests'
# latency (wrk --latency, p99) alone, then while other clients download 100 MB files evicted from the page cache
# (posix_fadvise(DONTNEED) before each round of downloads), for:
#   - samples/FileServer --cold-files threadlet  (default: a threadlet reads cold ranges into the cache off the loop)
#   - samples/FileServer --cold-files inline     (sendfile on the loop, which waits for the disk)
#   - nginx, sendfile on, aio threads             (sendfile offloaded to a thread pool: needs nginx built --with-threads)
#   - nginx, sendfile on, no aio                  (sendfile in the worker)
#   - apart: the hot requests go to one FileServer (threadlet) and the downloads to a second one, in a process of its
#     own: the same work for the machine, none of it for the hot server's loop. The difference between this row and
#     the threadlet row is what serving the downloads costs the loop; what this row adds over its value alone is what
#     the downloads cost the machine (two CPUs shared by wrk, curl, the servers and their cache-miss threads).
# each with one loop / one worker, on 127.0.0.1, one after the other in one run. Before the servers it measures the
# disk: O_DIRECT sequential and 4 KiB random reads (dd iflag=direct), and a buffered read cold and cached.
#
# Environment knobs:
#   DURATION=10      seconds of hot load per measurement (after a 2 s warm-up)
#   HOT_CONNS=8      wrk connections for the hot file (wrk -t1)
#   COLD_FILES=4     100 MB files, all downloaded in parallel in each round (COLD_MB sets the size)
#   COLD_MB=100
#   DIR=bench/results/cold-site   where the files live: it must be on a disk (eviction does nothing on tmpfs)
#   BASE_PORT=7800
#   ONLY=""          subset of: threadlet inline nginx-aio nginx apart
#   SKIP_BUILD=0
#   DISK_MBPS=""     a slower disk: the servers run in a block-I/O cgroup whose reads from DIR's device are limited to
#                    this many MB/s (cgroup v1 blkio.throttle or v2 io.max). A virtual disk that the host caches reads
#                    an evicted file nearly as fast as a cached one; this shows what a real disk's wait does.
#   NICE=-10         nice value for the servers, wrk and curl (all alike), so other work on a shared machine disturbs
#                    the percentiles less; 0 to run at the default priority
# Output: a markdown table on stdout and in bench/results/cold-files-<date>.md (raw wrk output beside it).
# Exit code: 0 when every configuration was measured, 1 when a run failed, 2 when setup failed.
set -uo pipefail

BENCH_NAME=cold-files
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DURATION=${DURATION:-10}
HOT_CONNS=${HOT_CONNS:-8}
COLD_FILES=${COLD_FILES:-4}
COLD_MB=${COLD_MB:-100}
DIR=${DIR:-$ROOT/bench/results/cold-site}
BASE_PORT=${BASE_PORT:-7800}
ONLY=${ONLY:-}
SKIP_BUILD=${SKIP_BUILD:-0}
NICE=${NICE:--10}
RUN=(nice -n "$NICE")
BIN=$ROOT/bench/results/bin
STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT=$ROOT/bench/results/cold-files-$STAMP.md
RAW=$ROOT/bench/results/cold-files-$STAMP.raw.txt
bench_tmp; TMP=$BENCH_TMP

mkdir -p "$BIN" "$DIR"
raise_fd_limit

on_cleanup() { [[ -n ${CGROUP_DIR:-} ]] && rmdir "$CGROUP_DIR" 2>/dev/null; }

need wrk wrk || exit 2
need curl curl || exit 2
need gcc gcc || exit 2
need_nginx || exit 2
NGINX_THREADS=0
"$NGINX" -V 2>&1 | grep -q -- "--with-threads" && NGINX_THREADS=1

# ---------------------------------------------------------------- eviction helper
# posix_fadvise(DONTNEED) per file: the kernel drops the file's clean pages, so the next read goes to the disk.
cat >"$TMP/evict.c" <<'EOF'
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0 || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) { perror(argv[i]); failed = 1; }
        if (fd >= 0) close(fd);
    }
    return failed;
}
EOF
gcc -O2 -o "$BIN/evict" "$TMP/evict.c" || { log "could not build the eviction helper"; exit 2; }

# ---------------------------------------------------------------- files
COLD=()
for i in $(seq 0 $((COLD_FILES - 1))); do
    f=$DIR/cold$i.bin
    if [[ ! -f $f || $(stat -c %s "$f") -ne $((COLD_MB * 1024 * 1024)) ]]; then
        log "creating $f ($COLD_MB MB)"
        head -c "$((COLD_MB * 1024 * 1024))" /dev/urandom >"$f"
    fi
    COLD+=("$f")
done
head -c 1024 /dev/urandom >"$DIR/hot.bin"
sync
FSTYPE=$(stat -f -c %T "$DIR")
[[ $FSTYPE == tmpfs ]] && log "WARNING: $DIR is on tmpfs: eviction does nothing there, every file stays hot"

# ---------------------------------------------------------------- the disk
DISK_NOTES=()
"$BIN/evict" "${COLD[@]}"
seq_direct=$(dd if="${COLD[0]}" of=/dev/null bs=1M iflag=direct 2>&1 | awk '/copied/ { print $(NF-1), $NF }')
rand_direct=$(dd if="${COLD[0]}" of=/dev/null bs=4k count=2000 skip=7000 iflag=direct 2>&1 | awk '/copied/ { printf "%.0f us per 4 KiB read", $(NF-3) / 2000 * 1e6 }')
"$BIN/evict" "${COLD[0]}"
cold_read=$(dd if="${COLD[0]}" of=/dev/null bs=1M 2>&1 | awk '/copied/ { print $(NF-1), $NF }')
hot_read=$(dd if="${COLD[0]}" of=/dev/null bs=1M 2>&1 | awk '/copied/ { print $(NF-1), $NF }')
DISK_NOTES+=("O_DIRECT sequential 1 MiB reads: $seq_direct; O_DIRECT random: $rand_direct")
DISK_NOTES+=("buffered read of an evicted $COLD_MB MB file: $cold_read; the same file cached: $hot_read")
log "${DISK_NOTES[0]}"
log "${DISK_NOTES[1]}"
"$BIN/evict" "${COLD[@]}"

# ---------------------------------------------------------------- a slower disk (optional)
CGROUP_PROCS=
CGROUP_DIR=
if [[ -n ${DISK_MBPS:-} ]]; then
    DEV=$(findmnt -no MAJ:MIN -T "$DIR" | tr -d ' ')
    BPS=$((DISK_MBPS * 1000 * 1000))
    if [[ -d /sys/fs/cgroup/blkio ]]; then
        CGROUP_DIR=/sys/fs/cgroup/blkio/kevents-cold-$$
        mkdir -p "$CGROUP_DIR" && echo "$DEV $BPS" >"$CGROUP_DIR/blkio.throttle.read_bps_device" && CGROUP_PROCS=$CGROUP_DIR/cgroup.procs
    elif grep -qw io /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
        echo "+io" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
        CGROUP_DIR=/sys/fs/cgroup/kevents-cold-$$
        mkdir -p "$CGROUP_DIR" && echo "$DEV rbps=$BPS" >"$CGROUP_DIR/io.max" && CGROUP_PROCS=$CGROUP_DIR/cgroup.procs
    fi
    if [[ -z $CGROUP_PROCS ]]; then
        log "DISK_MBPS: no block-I/O cgroup controller could be set up here"; exit 2
    fi
    log "servers' reads from $DEV limited to $DISK_MBPS MB/s ($CGROUP_DIR)"
    DISK_NOTES+=("servers' reads limited to $DISK_MBPS MB/s by a block-I/O cgroup (a slower disk)")
fi
# A command prefix that moves the command into the throttled cgroup (when there is one) and execs it, so $! is its pid.
CG=()
if [[ -n $CGROUP_PROCS ]]; then
    CG=(sh -c 'echo $$ >"$0" && exec "$@"' "$CGROUP_PROCS")
    "$BIN/evict" "${COLD[1]:-${COLD[0]}}"
    slow_read=$("${CG[@]}" dd if="${COLD[1]:-${COLD[0]}}" of=/dev/null bs=1M count=100 2>&1 | awk '/copied/ { print $(NF-1), $NF }')
    DISK_NOTES+=("buffered read of an evicted file in that cgroup: $slow_read")
    log "${DISK_NOTES[-1]}"
fi

# ---------------------------------------------------------------- servers
FS_DLL=$ROOT/samples/FileServer/bin/Release/net10.0/FileServer.dll
if [[ $SKIP_BUILD != 1 || ! -f $FS_DLL ]]; then
    log "building samples/FileServer"
    build_release "$ROOT/samples/FileServer/FileServer.csproj" "$BIN/build-cold-files.log" || exit 2
fi

write_nginx_conf() {   # $1 port, $2 extra directives for the location
    mkdir -p "$TMP/nginx"
    { nginx_prelude "$TMP/nginx"; cat <<EOF
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
$(nginx_temp_paths "$TMP/nginx")
    server {
        listen 127.0.0.1:$1 backlog=4096;
        root $DIR;
        location / { $2 }
    }
}
EOF
    } >"$TMP/nginx/nginx.conf"
}

CONFIGS=(threadlet inline nginx-aio nginx apart)
declare -A LABEL=([threadlet]="FileServer --cold-files threadlet" [inline]="FileServer --cold-files inline"
    [nginx-aio]="nginx, sendfile + aio threads" [nginx]="nginx, sendfile, no aio"
    [apart]="FileServer, downloads from a second FileServer")
declare -A AVAIL=([threadlet]=1 [inline]=1 [nginx-aio]=$NGINX_THREADS [nginx]=1 [apart]=1)
if [[ -n $ONLY ]]; then
    for id in "${CONFIGS[@]}"; do [[ " $ONLY " == *" $id "* ]] || AVAIL[$id]=0; done
fi
[[ $NGINX_THREADS == 0 ]] && log "this nginx was built without --with-threads: no 'aio threads' row"

SERVER_PID=
SECOND_PID=
start_server() {   # $1 id, $2 port
    local id=$1 port=$2
    case $id in
        threadlet|inline)
            "${CG[@]}" "${RUN[@]}" dotnet "$FS_DLL" --root "$DIR" --port "$port" --bind 127.0.0.1 --cold-files "$id" >"$BIN/cold-server-$id.log" 2>&1 & ;;
        apart)
            "${CG[@]}" "${RUN[@]}" dotnet "$FS_DLL" --root "$DIR" --port "$((port + 100))" --bind 127.0.0.1 >"$BIN/cold-server-$id-downloads.log" 2>&1 &
            SECOND_PID=$!
            CHILDREN+=("$SECOND_PID")
            await_server "$id-downloads" "$((port + 100))" "$SECOND_PID" "$BIN/cold-server-$id-downloads.log" || return 1
            "${CG[@]}" "${RUN[@]}" dotnet "$FS_DLL" --root "$DIR" --port "$port" --bind 127.0.0.1 >"$BIN/cold-server-$id.log" 2>&1 & ;;
        nginx-aio)
            write_nginx_conf "$port" "aio threads;"
            "${CG[@]}" "${RUN[@]}" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$BIN/cold-server-$id.log" 2>&1 & ;;
        nginx)
            write_nginx_conf "$port" ""
            "${CG[@]}" "${RUN[@]}" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$BIN/cold-server-$id.log" 2>&1 & ;;
    esac
    SERVER_PID=$!
    CHILDREN+=("$SERVER_PID")
    await_server "$id" "$port" "$SERVER_PID" "$BIN/cold-server-$id.log"
}

# Downloads every cold file in parallel, evicts them all, again, until $TMP/stop exists; appends bytes to $1.
download_loop() {   # $1 port, $2 byte log
    local port=$1 bytes=$2 f pids
    while [[ ! -e $TMP/stop ]]; do
        "$BIN/evict" "${COLD[@]}"
        pids=()
        for f in "${COLD[@]}"; do
            "${RUN[@]}" curl -s -o /dev/null -w '%{size_download}\n' "http://127.0.0.1:$port/$(basename "$f")" >>"$bytes" &
            pids+=($!)
        done
        wait "${pids[@]}"
    done
}

hot_wrk() {   # $1 port, $2 seconds
    timeout $(($2 + 30)) "${RUN[@]}" wrk -t1 -c "$HOT_CONNS" -d "${2}s" --latency "http://127.0.0.1:$1/hot.bin"
}

to_us() {   # wrk's "123.45us" / "1.23ms" / "1.02s" -> microseconds
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /ms$/) n *= 1000; else if (v ~ /[0-9]s$/ && v !~ /us$/) n *= 1000000; printf "%.0f", n }'
}

declare -A ALONE WITH RPS_ALONE RPS_WITH MBS STATUS COLDREADS
FAILED=0
port=$BASE_PORT
for id in "${CONFIGS[@]}"; do
    [[ ${AVAIL[$id]} == 1 ]] || continue
    port=$((port + 1))
    log "$id: starting on port $port"
    if ! start_server "$id" "$port"; then STATUS[$id]=FAIL; FAILED=1; continue; fi
    sum=$(curl -s "http://127.0.0.1:$port/hot.bin" | md5sum | cut -c1-32)
    [[ $sum == $(md5sum <"$DIR/hot.bin" | cut -c1-32) ]] || { log "$id: hot.bin differs"; STATUS[$id]="FAIL(bytes)"; FAILED=1; }
    sum=$(curl -s "http://127.0.0.1:$port/cold0.bin" | md5sum | cut -c1-32)
    [[ $sum == $(md5sum <"${COLD[0]}" | cut -c1-32) ]] || { log "$id: cold0.bin differs"; STATUS[$id]="FAIL(bytes)"; FAILED=1; }

    hot_wrk "$port" 2 >/dev/null 2>&1
    out=$(hot_wrk "$port" "$DURATION" 2>&1)
    { echo "=== $id alone"; echo "$out"; } >>"$RAW"
    ALONE[$id]=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    RPS_ALONE[$id]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
    grep -qE "Socket errors|Non-2xx" <<<"$out" && { STATUS[$id]="FAIL(wrk alone)"; FAILED=1; }

    rm -f "$TMP/stop" "$TMP/bytes"
    download_port=$port
    [[ $id == apart ]] && download_port=$((port + 100))
    download_loop "$download_port" "$TMP/bytes" &
    loader=$!
    CHILDREN+=("$loader")
    sleep 1
    started=$(date +%s.%N)
    out=$(hot_wrk "$port" "$DURATION" 2>&1)
    ended=$(date +%s.%N)
    touch "$TMP/stop"
    wait "$loader" 2>/dev/null
    { echo "=== $id with cold downloads"; echo "$out"; } >>"$RAW"
    WITH[$id]=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    RPS_WITH[$id]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
    grep -qE "Socket errors|Non-2xx" <<<"$out" && { STATUS[$id]="FAIL(wrk with downloads)"; FAILED=1; }
    # Whole downloads finished while wrk ran plus the second before (the loop runs a little longer): a rate, roughly.
    MBS[$id]=$(awk -v s="$started" -v e="$ended" '{ b += $1 } END { printf "%.0f", b / 1048576 / (e - s + 1) }' "$TMP/bytes")
    stop_pid "$SERVER_PID"
    if [[ $id == threadlet || $id == inline ]]; then
        COLDREADS[$id]=$(grep -o '[0-9]* cold reads' "$BIN/cold-server-$id.log" | cut -d' ' -f1)
    fi
    if [[ $id == apart ]]; then
        stop_pid "$SECOND_PID"
        COLDREADS[$id]=$(grep -o '[0-9]* cold reads' "$BIN/cold-server-$id-downloads.log" | cut -d' ' -f1)
    fi
    STATUS[$id]=${STATUS[$id]:-ok}
    log "$id: hot p99 alone ${ALONE[$id]}, with cold downloads ${WITH[$id]}; ${MBS[$id]} MiB/s downloaded; ${STATUS[$id]}"
done

{
    echo "Cold files, $(date -u +%Y-%m-%d' '%H:%M) UTC, $(nproc) CPUs, Linux $(uname -r), load average $(load_avg 1-3)"
    echo "wrk -t1 -c$HOT_CONNS -d${DURATION}s on a 1 KiB file, nice $NICE; $COLD_FILES x $COLD_MB MB files downloaded in parallel rounds, evicted before each round ($FSTYPE)"
    for note in "${DISK_NOTES[@]}"; do echo "disk: $note"; done
    echo
    echo "| server | hot p99 alone | hot p99 with cold downloads | ratio | hot req/s alone | hot req/s with | cold MiB/s | cold reads | status |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    for id in "${CONFIGS[@]}"; do
        [[ ${AVAIL[$id]} == 1 ]] || continue
        ratio=n/a
        if [[ -n ${ALONE[$id]:-} && -n ${WITH[$id]:-} ]]; then
            ratio=$(awk -v a="$(to_us "${ALONE[$id]}")" -v w="$(to_us "${WITH[$id]}")" 'BEGIN { if (a > 0) printf "%.2fx", w / a; else print "n/a" }')
        fi
        echo "| ${LABEL[$id]} | ${ALONE[$id]:-?} | ${WITH[$id]:-?} | $ratio | ${RPS_ALONE[$id]:-?} | ${RPS_WITH[$id]:-?} | ${MBS[$id]:-?} | ${COLDREADS[$id]:--} | ${STATUS[$id]:-?} |"
    done
} | tee "$OUT"
exit $FAILED
