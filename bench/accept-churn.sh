#!/usr/bin/env bash
# Accept rate: connect churn against the EchoServer sample on each backend, side by side in one run.
# Each client thread connects, sends one byte, reads the echo, closes, and starts over, so every connection is
# accepted, served once and closed by the server; the rate is connections per second over DURATION.
#   DURATION=5 THREADS=4 ROUNDS=3 bash bench/accept-churn.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5}
THREADS=${THREADS:-4}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-7301}
WORK=$(mktemp -d)
trap 'kill ${SERVER:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT

cat > "$WORK/churn.c" <<'C'
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port; static double duration; static atomic_long done; static atomic_long failed;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void *run(void *arg) {
    (void)arg;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    double end = now() + duration;
    while (now() < end) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct linger l = { 1, 0 }; /* RST on close: no TIME_WAIT pile-up on the client's ports */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        char b = 'x';
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 || write(fd, &b, 1) != 1 || read(fd, &b, 1) != 1) failed++;
        else done++;
        close(fd);
    }
    return NULL;
}
int main(int argc, char **argv) {
    port = atoi(argv[1]); duration = atof(argv[2]); int threads = atoi(argv[3]);
    pthread_t t[64];
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, run, NULL);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    printf("%.0f %ld\n", done / duration, (long)failed);
    return 0;
}
C
gcc -O2 -pthread -o "$WORK/churn" "$WORK/churn.c"
DLL=$ROOT/samples/EchoServer/bin/Release/net10.0/EchoServer.dll
[[ -f $DLL ]] || dotnet build "$ROOT/samples/EchoServer/EchoServer.csproj" -c Release >/dev/null

echo "accept churn: $THREADS client threads, ${DURATION}s per run, $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %s\n' backend "connections/s per round (failed)"
for round in $(seq "$ROUNDS"); do
    for backend in epoll io_uring; do
        dotnet "$DLL" --port "$PORT" --backend "$backend" >"$WORK/server.log" 2>&1 &
        SERVER=$!
        for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
        read -r rate failed < <("$WORK/churn" "$PORT" "$DURATION" "$THREADS")
        kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
        printf '%-10s round %d: %s (%s)\n' "$backend" "$round" "$rate" "$failed"
    done
done
