/*
 * c-thread-echo: the other side of the 2007 debate, for the echo comparison.
 *
 * One blocking thread per connection, the way servers were written before
 * event loops: the main thread blocks in accept(), and every accepted socket
 * gets its own detached pthread that loops on a blocking recv() and writes
 * everything it read straight back with blocking send()s. The kernel's
 * scheduler does the multiplexing that an event loop does in user space.
 *
 * Stacks are small (64 KiB, against glibc's default of 8 MiB of address space)
 * so thousands of threads fit; the receive buffer (16 KiB) lives on that stack.
 * An idle connection therefore costs one thread: its stack pages actually
 * touched, its kernel task and kernel stack, and the socket.
 *
 * usage: c-thread-echo PORT [STACK_KIB]   (listens on 127.0.0.1 only)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (16 * 1024)

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    unsigned char buf[BUF_SIZE];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0) break;
        if (r < 0) { if (errno == EINTR) continue; break; }
        ssize_t sent = 0;
        while (sent < r) {
            ssize_t w = send(fd, buf + sent, (size_t)(r - sent), MSG_NOSIGNAL);
            if (w > 0) { sent += w; continue; }
            if (w < 0 && errno == EINTR) continue;
            goto done;
        }
    }
done:
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) { fprintf(stderr, "usage: %s PORT [STACK_KIB]\n", argv[0]); return 2; }
    size_t stack_kib = argc == 3 ? (size_t)atoi(argv[2]) : 64;
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(lfd, 4096) != 0) {
        perror("bind/listen");
        return 1;
    }

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack_kib * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);

    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) { usleep(10000); continue; }
            perror("accept4");
            return 1;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        int rc = pthread_create(&t, &attr, serve, (void *)(intptr_t)c);
        if (rc != 0) {
            /* Out of threads (RLIMIT_NPROC, memory): refuse this connection, keep serving the others. */
            fprintf(stderr, "pthread_create: %d\n", rc);
            close(c);
        }
    }
}
