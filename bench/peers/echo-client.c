/*
 * echo-client: closed-loop TCP echo load generator for the Kevents benchmarks.
 *
 * One thread drives every connection through a single epoll instance. Each
 * connection keeps DEPTH messages of SIZE bytes outstanding: whenever a full
 * message has come back, a new one is queued (a sliding window, so latency is
 * measured per message, from queueing to the arrival of its last byte).
 *
 * The bytes of connection i at stream offset k are tbl[(k + i * 977) % PERIOD],
 * so every byte the server returns is checked against what it must be.
 *
 * Output: one line of key=value pairs. Exit status is 0 only when messages
 * completed and there were neither errors nor mismatching bytes.
 *
 * usage: echo-client -p PORT [-a ADDR] [-c CONNS] [-s SIZE] [-d DEPTH]
 *                    [-t SECONDS] [-w WARMUP_SECONDS]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PERIOD 65521u            /* prime, so it never lines up with SIZE */
#define RXBUF (256u * 1024u)

struct peer {
    int fd;
    uint64_t queued;     /* stream bytes handed to the send side so far */
    uint64_t written;    /* stream bytes the kernel accepted */
    uint64_t received;   /* stream bytes that came back */
    uint64_t done;       /* messages fully echoed */
    uint64_t *stamp;     /* DEPTH ring of queue times, indexed by message number */
    unsigned shift;      /* per-connection offset into the pattern table */
    int want_out;        /* EPOLLOUT currently registered */
};

/* Latency histogram: 32 linear sub-buckets per power of two of nanoseconds. */
#define SUB 32
#define NBUCKETS (64 * SUB)
static uint64_t hist[NBUCKETS];

static unsigned bucket_of(uint64_t ns)
{
    if (ns < SUB) return (unsigned)ns;
    unsigned top = 63u - (unsigned)__builtin_clzll(ns);          /* >= 5 */
    unsigned sub = (unsigned)(ns >> (top - 5)) & (SUB - 1);
    return (top - 4) * SUB + sub;
}

static double bucket_mid_ns(unsigned b)
{
    if (b < SUB) return b;
    unsigned top = b / SUB + 4, sub = b % SUB;
    double lo = (double)((uint64_t)(SUB + sub) << (top - 5));
    return lo + (double)(1ull << (top - 5)) / 2.0;
}

static double percentile_us(uint64_t total, double q)
{
    if (total == 0) return 0;
    uint64_t rank = (uint64_t)(q * (double)total), seen = 0;
    for (unsigned b = 0; b < NBUCKETS; b++) {
        seen += hist[b];
        if (seen > rank) return bucket_mid_ns(b) / 1000.0;
    }
    return bucket_mid_ns(NBUCKETS - 1) / 1000.0;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned char *tbl;   /* PERIOD + max window bytes, so slices never wrap */
static size_t msg_size;
static unsigned depth;
static int epfd;
static long long n_errors, n_mismatch, n_msgs;
static int counting;         /* 0 during warm-up */

static void drop(struct peer *p)
{
    if (p->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, p->fd, NULL);
        close(p->fd);
        p->fd = -1;
    }
}

static void set_out(struct peer *p, int on, uint32_t idx)
{
    if (p->want_out == on) return;
    struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u32 = idx };
    epoll_ctl(epfd, EPOLL_CTL_MOD, p->fd, &ev);
    p->want_out = on;
}

/* Push queued-but-unwritten bytes. Returns -1 on a broken connection. */
static int flush(struct peer *p, uint32_t idx)
{
    while (p->written < p->queued) {
        size_t off = (size_t)((p->written + p->shift) % PERIOD);
        size_t len = (size_t)(p->queued - p->written);
        ssize_t w = send(p->fd, tbl + off, len, MSG_NOSIGNAL);
        if (w > 0) { p->written += (uint64_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { set_out(p, 1, idx); return 0; }
        return -1;
    }
    set_out(p, 0, idx);
    return 0;
}

static void queue_msg(struct peer *p, uint64_t now)
{
    uint64_t n = p->queued / msg_size;           /* number of the new message */
    p->stamp[n % depth] = now;
    p->queued += msg_size;
}

static unsigned char rx[RXBUF];

/* Read what is available, verify it, account finished messages and refill. */
static int on_readable(struct peer *p, uint32_t idx, int refill)
{
    for (;;) {
        ssize_t r = recv(p->fd, rx, sizeof rx, 0);
        if (r == 0) return -1;                                  /* peer closed */
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -1;
        }
        if ((uint64_t)r > p->written - p->received) {            /* more than we sent */
            n_mismatch += (long long)r;
            return -1;
        }
        size_t off = (size_t)((p->received + p->shift) % PERIOD);
        if (memcmp(rx, tbl + off, (size_t)r) != 0) {
            for (ssize_t i = 0; i < r; i++)
                if (rx[i] != tbl[off + (size_t)i]) n_mismatch++;
        }
        p->received += (uint64_t)r;

        uint64_t now = 0;
        while (p->received >= (p->done + 1) * msg_size) {
            if (!now) now = mono_ns();
            if (counting) {
                hist[bucket_of(now - p->stamp[p->done % depth])]++;
                n_msgs++;
            }
            p->done++;
            if (refill) queue_msg(p, now);
        }
        if (now && flush(p, idx) < 0) return -1;
        if ((size_t)r < sizeof rx) return 0;   /* drained; level-triggered will call again */
    }
}

static void usage(const char *me)
{
    fprintf(stderr, "usage: %s -p PORT [-a ADDR] [-c CONNS] [-s SIZE] [-d DEPTH] "
                    "[-t SECONDS] [-w WARMUP_SECONDS]\n", me);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    int port = 0, conns = 1, opt;
    double secs = 5, warm = 0;
    msg_size = 64; depth = 1;
    while ((opt = getopt(argc, argv, "a:p:c:s:d:t:w:")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 's': msg_size = (size_t)atol(optarg); break;
        case 'd': depth = (unsigned)atoi(optarg); break;
        case 't': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        default: usage(argv[0]);
        }
    }
    if (port <= 0 || conns <= 0 || msg_size == 0 || depth == 0 || secs <= 0) usage(argv[0]);
    signal(SIGPIPE, SIG_IGN);

    size_t window = msg_size * depth;
    tbl = malloc(PERIOD + window);
    if (!tbl) { perror("malloc"); return 2; }
    uint32_t x = 0x9e3779b9u;                         /* xorshift fill */
    for (size_t i = 0; i < PERIOD; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        tbl[i] = (unsigned char)(x >> 11);
    }
    for (size_t i = 0; i < window; i++) tbl[PERIOD + i] = tbl[i % PERIOD];

    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", addr); return 2; }

    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct peer *peers = calloc((size_t)conns, sizeof *peers);
    uint64_t *stamps = calloc((size_t)conns * depth, sizeof *stamps);
    if (epfd < 0 || !peers || !stamps) { perror("setup"); return 2; }

    int live = 0;
    for (int i = 0; i < conns; i++) {
        struct peer *p = &peers[i];
        p->fd = -1;
        p->stamp = stamps + (size_t)i * depth;
        p->shift = (unsigned)(((uint64_t)i * 977u) % PERIOD);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
            perror("connect");
            if (fd >= 0) close(fd);
            n_errors++;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        p->fd = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
        live++;
    }

    uint64_t t_begin = mono_ns();
    uint64_t t_count = t_begin + (uint64_t)(warm * 1e9);
    uint64_t t_end = t_count + (uint64_t)(secs * 1e9);
    counting = warm <= 0;

    for (int i = 0; i < conns; i++) {
        struct peer *p = &peers[i];
        if (p->fd < 0) continue;
        for (unsigned k = 0; k < depth; k++) queue_msg(p, t_begin);
        if (flush(p, (uint32_t)i) < 0) { n_errors++; drop(p); live--; }
    }

    struct epoll_event evs[512];
    uint64_t now = mono_ns();
    while (live > 0 && now < t_end) {
        int timeout_ms = (int)((t_end - now) / 1000000u) + 1;
        int n = epoll_wait(epfd, evs, 512, timeout_ms);
        if (n < 0 && errno != EINTR) { perror("epoll_wait"); break; }
        now = mono_ns();
        if (!counting && now >= t_count) counting = 1;
        int refill = now < t_end;
        for (int k = 0; k < n; k++) {
            uint32_t idx = evs[k].data.u32;
            struct peer *p = &peers[idx];
            if (p->fd < 0) continue;
            int bad = 0;
            if (evs[k].events & EPOLLOUT) bad = flush(p, idx) < 0;
            if (!bad && (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                bad = on_readable(p, idx, refill) < 0;
            if (bad) { n_errors++; drop(p); live--; }
        }
    }
    uint64_t t_stop = mono_ns();
    double measured = (double)(t_stop - (t_count < t_stop ? t_count : t_stop)) / 1e9;
    if (measured <= 0) measured = 1e-9;

    uint64_t total = 0;
    for (unsigned b = 0; b < NBUCKETS; b++) total += hist[b];
    printf("conns=%d size=%zu depth=%u secs=%.2f msgs=%lld msg_per_s=%.0f MBps=%.2f "
           "p50_us=%.1f p99_us=%.1f p999_us=%.1f errors=%lld mismatches=%lld\n",
           conns, msg_size, depth, measured, n_msgs, (double)n_msgs / measured,
           (double)n_msgs * (double)msg_size / measured / 1e6,
           percentile_us(total, 0.50), percentile_us(total, 0.99), percentile_us(total, 0.999),
           n_errors, n_mismatch);

    for (int i = 0; i < conns; i++) if (peers[i].fd >= 0) close(peers[i].fd);
    return (n_mismatch || n_errors || n_msgs == 0) ? 1 : 0;
}
