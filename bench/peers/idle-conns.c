/*
 * idle-conns: open N TCP connections to 127.0.0.1:PORT and keep them idle.
 *
 * Used by echo-compare.sh to measure server memory per idle connection. With -e
 * every connection first does one 1-byte echo round trip, so the server has
 * really served it (some servers only allocate on the first read). Once all
 * connections are up it prints "ready N" and holds them until it is killed.
 *
 * usage: idle-conns -p PORT -n COUNT [-e]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int port = 0, count = 0, ping = 0, opt;
    while ((opt = getopt(argc, argv, "p:n:e")) != -1) {
        if (opt == 'p') port = atoi(optarg);
        else if (opt == 'n') count = atoi(optarg);
        else if (opt == 'e') ping = 1;
        else { fprintf(stderr, "usage: %s -p PORT -n COUNT [-e]\n", argv[0]); return 2; }
    }
    if (port <= 0 || count <= 0) { fprintf(stderr, "usage: %s -p PORT -n COUNT [-e]\n", argv[0]); return 2; }

    struct rlimit rl;                           /* use the whole hard fd limit */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }

    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int *fds = calloc((size_t)count, sizeof *fds);
    int opened = 0;
    for (; opened < count; opened++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
            perror("idle-conns: connect");
            if (fd >= 0) close(fd);
            break;
        }
        fds[opened] = fd;
        if (ping) {
            char c = 'x', back = 0;
            if (write(fd, &c, 1) != 1 || read(fd, &back, 1) != 1 || back != c) {
                fprintf(stderr, "idle-conns: echo on connection %d failed\n", opened);
                close(fd);
                break;
            }
        }
    }
    printf("ready %d\n", opened);
    fflush(stdout);
    if (opened < count) return 1;

    for (;;) pause();   /* the kernel closes everything when we are killed */
}
