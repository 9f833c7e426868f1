/*
 * fd-flood: open COUNT TCP connections to 127.0.0.1:PORT as fast as possible (or RATE per second), hold them
 * HOLD_MS milliseconds, then see which ones the server closed (shed) and which it kept, and reset them all.
 *
 * Used by fd-flood.sh to flood a server to its descriptor limit. Connections are closed with SO_LINGER 0 (RST),
 * so no TIME_WAIT is left to use up ephemeral ports between rounds. With -q N the first N connections each send
 * REQUEST (an HTTP GET for a large file, say) and never read: the server then holds the file open as well.
 * A connect that does not complete within 5 s (the server's backlog full and SYNs dropped) counts as failed.
 * Prints one line: connected=N failed=F kept=K shed=S.
 *
 * usage: fd-flood -p PORT -n COUNT [-r RATE] [-h HOLD_MS] [-q N -s REQUEST]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

/* Non-blocking connect with a 5 s bound; returns the blocking-mode fd or -1. */
static int connect_bounded(const struct sockaddr_in *sin, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (connect(fd, (const struct sockaddr *)sin, sizeof *sin) != 0 && errno != EINPROGRESS) { close(fd); return -1; }
    struct pollfd p = { fd, POLLOUT, 0 };
    int err = 0;
    socklen_t len = sizeof err;
    if (poll(&p, 1, 5000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) { close(fd); return -1; }
    return fd;
}

int main(int argc, char **argv)
{
    int port = 0, count = 0, rate = 0, hold_ms = 1000, requests = 0, opt;
    const char *request = NULL;
    while ((opt = getopt(argc, argv, "p:n:r:h:q:s:")) != -1) {
        if (opt == 'p') port = atoi(optarg);
        else if (opt == 'n') count = atoi(optarg);
        else if (opt == 'r') rate = atoi(optarg);
        else if (opt == 'h') hold_ms = atoi(optarg);
        else if (opt == 'q') requests = atoi(optarg);
        else if (opt == 's') request = optarg;
        else { fprintf(stderr, "usage: %s -p PORT -n COUNT [-r RATE] [-h HOLD_MS] [-q N -s REQUEST]\n", argv[0]); return 2; }
    }
    if (port <= 0 || count <= 0 || (requests > 0 && request == NULL)) {
        fprintf(stderr, "usage: %s -p PORT -n COUNT [-r RATE] [-h HOLD_MS] [-q N -s REQUEST]\n", argv[0]);
        return 2;
    }
    struct rlimit rl;                           /* use the whole hard fd limit */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }

    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int *fds = calloc((size_t)count, sizeof *fds);
    int connected = 0, failed = 0;
    for (int i = 0; i < count; i++) {
        /* A small receive buffer for the connections that ask for a file: the server's response stalls early. */
        int fd = connect_bounded(&sin, i < requests ? 4096 : 0);
        if (fd < 0) { failed++; fds[i] = -1; continue; }
        fds[i] = fd;
        connected++;
        if (i < requests) {
            ssize_t n = send(fd, request, strlen(request), MSG_NOSIGNAL);
            (void)n;
        }
        if (rate > 0) sleep_us(1000000L / rate);
    }
    sleep_us((long)hold_ms * 1000);

    int kept = 0, shed = 0;
    char buf[4096];
    for (int i = 0; i < count; i++) {
        if (fds[i] < 0) continue;
        struct pollfd p = { fds[i], POLLIN | POLLRDHUP, 0 };
        int closed = 0;
        if (poll(&p, 1, 0) == 1) {
            if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) closed = 1;
            else if (i >= requests) {
                ssize_t n = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
                closed = n == 0 || (n < 0 && errno != EAGAIN);
            }
        }
        if (closed) shed++; else kept++;
        struct linger lg = { 1, 0 };
        setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fds[i]);
    }
    printf("connected=%d failed=%d kept=%d shed=%d\n", connected, failed, kept, shed);
    return 0;
}
