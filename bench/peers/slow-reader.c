/*
 * slow-reader: N clients of 127.0.0.1:PORT that ask for a lot and read it slowly.
 *
 * Used by soak.sh. With -g PATH each connection sends one HTTP GET for PATH (a
 * large file) and then reads the response at RATE bytes per second; without -g
 * it keeps writing to an echo server while reading the echo back at RATE, so the
 * server's output to it backs up. The receive buffer is kept small, so the
 * server really holds unsent data. A connection the server closes or resets, or
 * a response that completes, is replaced by a new one on the next tick. Runs for
 * SECONDS and then exits, printing one key=value line.
 *
 * usage: slow-reader -p PORT -n COUNT -r BYTES_PER_SEC [-g PATH] [-t SECONDS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TICKS_PER_SEC 10

static struct sockaddr_in target;
static const char *path;
static char request[1024];
static int request_len;
static char junk[64 * 1024];

static long long opened, open_errors, server_closes, resets, bytes_read;

struct conn { int fd; int sent; };

static void open_conn(struct conn *c)
{
    c->fd = -1;
    c->sent = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { open_errors++; return; }
    int small = 4096;   /* before connect, so the window stays small */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    /* A full accept queue must not stall every other connection: give up on a connect after 1 s. */
    struct timeval limit = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    if (connect(fd, (struct sockaddr *)&target, sizeof target) != 0) { open_errors++; close(fd); return; }
    int flags = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &flags, sizeof flags);
    c->fd = fd;
    opened++;
    if (path) {
        if (send(fd, request, (size_t)request_len, MSG_NOSIGNAL) != request_len) { open_errors++; close(fd); c->fd = -1; }
        c->sent = 1;
    }
}

static void drop(struct conn *c)
{
    close(c->fd);
    c->fd = -1;
}

int main(int argc, char **argv)
{
    int port = 0, count = 0, opt;
    long rate = 0, seconds = 60;
    while ((opt = getopt(argc, argv, "p:n:r:g:t:")) != -1) {
        if (opt == 'p') port = atoi(optarg);
        else if (opt == 'n') count = atoi(optarg);
        else if (opt == 'r') rate = atol(optarg);
        else if (opt == 'g') path = optarg;
        else if (opt == 't') seconds = atol(optarg);
        else { fprintf(stderr, "usage: %s -p PORT -n COUNT -r BYTES_PER_SEC [-g PATH] [-t SECONDS]\n", argv[0]); return 2; }
    }
    if (port <= 0 || count <= 0 || rate <= 0 || seconds <= 0) {
        fprintf(stderr, "usage: %s -p PORT -n COUNT -r BYTES_PER_SEC [-g PATH] [-t SECONDS]\n", argv[0]);
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (path) request_len = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: soak\r\n\r\n", path);
    memset(junk, 'x', sizeof junk);

    struct conn *conns = calloc((size_t)count, sizeof *conns);
    for (int i = 0; i < count; i++) conns[i].fd = -1;
    long per_tick = rate / TICKS_PER_SEC > 0 ? rate / TICKS_PER_SEC : 1;
    static char buf[1 << 20];
    if (per_tick > (long)sizeof buf) per_tick = sizeof buf;

    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long tick = 0;; tick++) {
        for (int i = 0; i < count; i++) {
            struct conn *c = &conns[i];
            if (c->fd < 0) { open_conn(c); continue; }
            if (!path) {
                /* Echo: keep the server's input full, so its output to us stays backed up. */
                ssize_t w = send(c->fd, junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                    if (errno == ECONNRESET || errno == EPIPE) resets++; else server_closes++;
                    drop(c);
                    continue;
                }
            }
            ssize_t r = recv(c->fd, buf, (size_t)per_tick, MSG_DONTWAIT);
            if (r > 0) bytes_read += r;
            else if (r == 0) { server_closes++; drop(c); }
            else if (errno != EAGAIN && errno != EWOULDBLOCK) { if (errno == ECONNRESET) resets++; else server_closes++; drop(c); }
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        double elapsed = (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
        if (elapsed >= (double)seconds) break;
        /* Sleep to the next tick boundary, so the rate holds however long the work took. */
        double next = (double)(tick + 1) / TICKS_PER_SEC;
        if (next > elapsed) {
            double wait = next - elapsed;
            struct timespec ts = { (time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9) };
            nanosleep(&ts, NULL);
        }
    }
    int open_now = 0;
    for (int i = 0; i < count; i++) if (conns[i].fd >= 0) { open_now++; close(conns[i].fd); }
    printf("slow-reader mode=%s conns=%d rate=%ld opened=%lld open_errors=%lld server_closes=%lld resets=%lld bytes=%lld open_at_end=%d\n",
           path ? "http" : "echo", count, rate, opened, open_errors, server_closes, resets, bytes_read, open_now);
    return 0;
}
