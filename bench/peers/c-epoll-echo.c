/*
 * c-epoll-echo: the reference echo server for the Kevents comparison.
 *
 * Deliberately plain: one thread, level-triggered epoll, epoll_wait blocks
 * with no timeout, every socket is non-blocking. A readable connection gets
 * one read into a shared buffer which is written straight back. Only when the
 * kernel refuses part of that write does the connection get its own backlog
 * buffer; it then waits for EPOLLOUT and is not read again until the backlog
 * is gone, so a slow reader cannot make the server buffer without bound.
 * Idle connections own no user-space memory at all.
 *
 * usage: c-epoll-echo PORT      (listens on 127.0.0.1 only)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct backlog { size_t len, off; unsigned char data[]; };

static struct backlog **pending;   /* indexed by fd; NULL for almost every connection */
static size_t pending_cap;
static int ep;

static void watch(int fd, uint32_t events, int op)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };
    epoll_ctl(ep, op, fd, &ev);
}

static void hang_up(int fd)
{
    if ((size_t)fd < pending_cap && pending[fd]) { free(pending[fd]); pending[fd] = NULL; }
    close(fd);   /* close also removes it from the epoll set */
}

static void remember(int fd, const unsigned char *rest, size_t len)
{
    if ((size_t)fd >= pending_cap) {
        size_t cap = pending_cap ? pending_cap : 1024;
        while (cap <= (size_t)fd) cap *= 2;
        struct backlog **grown = realloc(pending, cap * sizeof *grown);
        if (!grown) { hang_up(fd); return; }
        memset(grown + pending_cap, 0, (cap - pending_cap) * sizeof *grown);
        pending = grown;
        pending_cap = cap;
    }
    struct backlog *b = malloc(sizeof *b + len);
    if (!b) { hang_up(fd); return; }
    b->len = len; b->off = 0;
    memcpy(b->data, rest, len);
    pending[fd] = b;
    watch(fd, EPOLLOUT, EPOLL_CTL_MOD);
}

static void drain_backlog(int fd)
{
    struct backlog *b = pending[fd];
    while (b->off < b->len) {
        ssize_t w = send(fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
        if (w > 0) { b->off += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        hang_up(fd);
        return;
    }
    free(b);
    pending[fd] = NULL;
    watch(fd, EPOLLIN, EPOLL_CTL_MOD);
}

static unsigned char buf[64 * 1024];

static void echo_once(int fd)
{
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r == 0) { hang_up(fd); return; }
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) hang_up(fd);
        return;
    }
    size_t sent = 0;
    while (sent < (size_t)r) {
        ssize_t w = send(fd, buf + sent, (size_t)r - sent, MSG_NOSIGNAL);
        if (w > 0) { sent += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { remember(fd, buf + sent, (size_t)r - sent); return; }
        hang_up(fd);
        return;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: %s PORT\n", argv[0]); return 2; }
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(lfd, 4096) != 0) {
        perror("bind/listen");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    watch(lfd, EPOLLIN, EPOLL_CTL_ADD);

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 1; }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    watch(c, EPOLLIN, EPOLL_CTL_ADD);
                }
                continue;
            }
            if ((size_t)fd < pending_cap && pending[fd]) {
                if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) drain_backlog(fd);
            } else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                echo_once(fd);
            }
        }
    }
}
