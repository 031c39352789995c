/*
 * bench_abuse - clients that try to silence rackpowerd's API (issue 7, part
 * 4), and the figures of what they achieve. Prints figures; never judges
 * (tests/daemon_abuse.sh judges the behaviour with the hold mode).
 *
 *   bench-abuse hold HOST PORT --from ADDR -n N
 *       opens N slowloris connections from ADDR: each sends the start of a
 *       request, then one more byte of a header that never ends every 5 s.
 *       After they are open (and 1 s), prints "held K of N", then holds
 *       them until killed, printing the count again every 5 s.
 *   bench-abuse status HOST PORT --from ADDR [-n N] [--interval-ms MS]
 *       N GET /v1/status, each on a new connection, MS apart: p50, p99, max
 *       of the answer time and the failures.
 *   bench-abuse follow HOST PORT [--from ADDR]
 *       opens /v1/events/stream and copies what comes to stdout until the
 *       server ends it or the process is killed (never closes its side
 *       first, as a client that half-closes could be taken for gone).
 *   bench-abuse run HOST PORT [--seconds S] [--slow N] [--clients C] [--pid PID]
 *                   [--abuse "slow flood churn commands"]
 *       S seconds of status alone (the baseline), then S seconds of: N
 *       slowloris connections from 127.0.0.2, a connection flood (connect
 *       and close at once, 4 threads from 127.0.0.4), event stream churn
 *       (open /v1/events/stream, read its first bytes, close, from
 *       127.0.0.5), C clients each sending power-off and power-on of its
 *       servers (s1..s48 in turn) as fast as answered, one connection per
 *       command (127.0.0.6); and GET /v1/status from 127.0.0.3 every 20 ms
 *       throughout (--abuse: which of them run). Prints commands/s, the status latency (p50, p99,
 * max, failures) in each phase, and PID's VmRSS every 5 s.
 *
 * Every connection of a kind comes from its own loopback address, so the
 * server's per-address limit applies to each kind alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "monoclock.h"

#define NS_PER_MS 1000000LL
#define MAX_SAMPLES 100000
#define SLOW_BYTE_S 5 /* under the server's 10 s idle timeout: each byte renews it */

static const char *host;
static int port;
static atomic_bool stop_abuse;

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * NS_PER_MS};
    nanosleep(&ts, NULL);
}

/* A TCP connection from the address from (NULL: any) to host:port, or -1. */
static int dial(const char *from)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &to.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (from) {
        struct sockaddr_in me = {.sin_family = AF_INET};
        inet_pton(AF_INET, from, &me.sin_addr);
        if (bind(fd, (struct sockaddr *)&me, sizeof(me))) {
            close(fd);
            return -1;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&to, sizeof(to))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One request on a new connection from from; the status code of its answer
 * (its whole body read), or -1. Gives up after timeout_ms. */
static int request(const char *from, const char *method, const char *path, int timeout_ms)
{
    int fd = dial(from);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char req[640], rsp[65536], authz[200] = "";
    const char *token = getenv("RACKPOWER_TOKEN"); /* commands over TCP need one */
    if (token && *token)
        snprintf(authz, sizeof(authz), "Authorization: Bearer %s\r\n", token);
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                     "%sContent-Length: 0\r\nConnection: close\r\n\r\n",
                     method, path, host, authz);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    ssize_t r;
    while (got < sizeof(rsp) - 1 && (r = recv(fd, rsp + got, sizeof(rsp) - 1 - got, 0)) > 0)
        got += (size_t)r; /* Connection: close: the answer ends with the connection */
    close(fd);
    rsp[got] = '\0';
    int status;
    if (sscanf(rsp, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    return status;
}

/* ---- latency samples ---- */

struct samples {
    int64_t v[MAX_SAMPLES];
    size_t n;
    unsigned failed;
};

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* nearest rank */
static double pct_ms(const struct samples *s, double p)
{
    size_t k = (size_t)(p * (double)s->n + 0.999999);
    if (k < 1)
        k = 1;
    return (double)s->v[k - 1] / NS_PER_MS;
}

static void print_samples(const char *what, struct samples *s)
{
    if (!s->n) {
        printf("%s: no answer at all (%u failed)\n", what, s->failed);
        return;
    }
    qsort(s->v, s->n, sizeof(*s->v), cmp64);
    printf("%s: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%zu answers, %u failed)\n", what,
           pct_ms(s, 0.50), pct_ms(s, 0.99), (double)s->v[s->n - 1] / NS_PER_MS, s->n, s->failed);
}

/* One timed GET /v1/status into s. */
static void probe(const char *from, struct samples *s)
{
    int64_t t = mono_ns();
    int st = request(from, "GET", "/v1/status", 5000);
    if (st != 200 || s->n == MAX_SAMPLES)
        s->failed++;
    else
        s->v[s->n++] = mono_ns() - t;
}

/* ---- slowloris ---- */

struct slow {
    const char *from;
    int n;
    int *fds;
};

static int open_slow(struct slow *w)
{
    static const char start[] = "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    int opened = 0;
    for (int i = 0; i < w->n; i++) {
        w->fds[i] = dial(w->from);
        if (w->fds[i] >= 0 && send(w->fds[i], start, sizeof(start) - 1, MSG_NOSIGNAL) < 0) {
            close(w->fds[i]);
            w->fds[i] = -1;
        }
        opened += w->fds[i] >= 0;
    }
    return opened;
}

/* How many are still open: the server closes a refused one at once (EOF). */
static int count_held(struct slow *w)
{
    int held = 0;
    for (int i = 0; i < w->n; i++) {
        if (w->fds[i] < 0)
            continue;
        struct pollfd p = {.fd = w->fds[i], .events = POLLIN};
        if (poll(&p, 1, 0) > 0) { /* the server said something: it closed, or answered */
            close(w->fds[i]);
            w->fds[i] = -1;
            continue;
        }
        held++;
    }
    return held;
}

static void trickle(struct slow *w)
{
    for (int i = 0; i < w->n; i++)
        if (w->fds[i] >= 0 && send(w->fds[i], "a", 1, MSG_NOSIGNAL) < 0) {
            close(w->fds[i]);
            w->fds[i] = -1;
        }
}

static void *slow_thread(void *arg)
{
    struct slow *w = arg;
    int64_t next = mono_ns() + SLOW_BYTE_S * MONO_NS_PER_S;
    while (!atomic_load(&stop_abuse)) {
        sleep_ms(100);
        if (mono_ns() >= next) {
            trickle(w);
            next += SLOW_BYTE_S * MONO_NS_PER_S;
        }
    }
    return NULL;
}

/* ---- the other abusers ---- */

static atomic_long flood_n, churn_n, cmd_ok, cmd_other, cmd_failed;

static void *flood_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_abuse)) {
        int fd = dial("127.0.0.4");
        if (fd >= 0) {
            close(fd);
            atomic_fetch_add(&flood_n, 1);
        } else {
            sleep_ms(1);
        }
    }
    return NULL;
}

static void *churn_thread(void *arg)
{
    (void)arg;
    static const char req[] =
        "GET /v1/events/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n";
    while (!atomic_load(&stop_abuse)) {
        int fd = dial("127.0.0.5");
        if (fd < 0) {
            sleep_ms(1);
            continue;
        }
        char buf[512];
        struct timeval tv = {.tv_sec = 2};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) > 0 && recv(fd, buf, sizeof(buf), 0) > 0)
            atomic_fetch_add(&churn_n, 1);
        close(fd);
    }
    return NULL;
}

static void *command_thread(void *arg)
{
    int k = (int)(intptr_t)arg, round = 0;
    while (!atomic_load(&stop_abuse)) {
        char path[64];
        int server = 1 + (k + 16 * (round / 2)) % 48;
        snprintf(path, sizeof(path), "/v1/servers/s%d/%s", server,
                 round % 2 ? "power-on" : "power-off");
        int st = request("127.0.0.6", "POST", path, 15000);
        if (st >= 200 && st < 300)
            atomic_fetch_add(&cmd_ok, 1);
        else if (st > 0)
            atomic_fetch_add(&cmd_other, 1);
        else
            atomic_fetch_add(&cmd_failed, 1);
        round++;
    }
    return NULL;
}

static long rss_kib(int pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* ---- modes ---- */

static void more_files(void)
{
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl)) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int hold(const char *from, int n)
{
    struct slow w = {.from = from, .n = n, .fds = calloc((size_t)n, sizeof(int))};
    if (!w.fds)
        return 1;
    int opened = open_slow(&w);
    sleep_ms(1000);
    printf("held %d of %d (%d connected)\n", count_held(&w), n, opened);
    fflush(stdout);
    for (;;) {
        for (int i = 0; i < SLOW_BYTE_S; i++)
            sleep_ms(1000);
        trickle(&w);
        printf("held %d of %d\n", count_held(&w), n);
        fflush(stdout);
    }
}

static int follow(const char *from)
{
    static const char req[] = "GET /v1/events/stream HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = dial(from);
    if (fd < 0 || send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) < 0) {
        perror("bench-abuse: follow");
        return 1;
    }
    char buf[4096];
    ssize_t r;
    while ((r = recv(fd, buf, sizeof(buf), 0)) > 0) {
        fwrite(buf, 1, (size_t)r, stdout);
        fflush(stdout);
    }
    return 0;
}

static int status_mode(const char *from, int n, int interval_ms)
{
    static struct samples s;
    for (int i = 0; i < n; i++) {
        probe(from, &s);
        if (interval_ms)
            sleep_ms(interval_ms);
    }
    print_samples("status", &s);
    return 0;
}

static int run(int seconds, int nslow, int clients, int pid, const char *kinds)
{
    bool flood = strstr(kinds, "flood") != NULL, churn = strstr(kinds, "churn") != NULL;
    if (!strstr(kinds, "slow"))
        nslow = 0;
    if (!strstr(kinds, "commands"))
        clients = 0;
    static struct samples quiet, loud;
    printf("status from 127.0.0.3 every 20 ms, alone for %d s\n", seconds);
    int64_t end = mono_ns() + seconds * MONO_NS_PER_S;
    while (mono_ns() < end) {
        probe("127.0.0.3", &quiet);
        sleep_ms(20);
    }
    print_samples("  status, quiet", &quiet);
    long rss0 = pid ? rss_kib(pid) : -1;

    struct slow w = {
        .from = "127.0.0.2", .n = nslow, .fds = calloc((size_t)nslow + 1, sizeof(int))};
    if (!w.fds)
        return 1;
    int opened = open_slow(&w);
    sleep_ms(1000);
    printf("abuse for %d s: %d slowloris connections from 127.0.0.2 (%d held), %s, %s, %d "
           "command clients\n",
           seconds, nslow, count_held(&w), flood ? "a connection flood (4 threads)" : "no flood",
           churn ? "event stream churn" : "no stream churn", clients);
    (void)opened;
    pthread_t th[64];
    int nth = 0;
    pthread_create(&th[nth++], NULL, slow_thread, &w);
    for (int i = 0; flood && i < 4; i++)
        pthread_create(&th[nth++], NULL, flood_thread, NULL);
    if (churn)
        pthread_create(&th[nth++], NULL, churn_thread, NULL);
    for (int i = 0; i < clients && nth < 64; i++)
        pthread_create(&th[nth++], NULL, command_thread, (void *)(intptr_t)i);
    int64_t t0 = mono_ns(), next_rss = t0;
    end = t0 + seconds * MONO_NS_PER_S;
    if (pid)
        printf("  VmRSS before: %.1f MiB\n", rss0 / 1024.0);
    while (mono_ns() < end) {
        if (pid && mono_ns() >= next_rss) {
            printf("  VmRSS at %2lld s: %.1f MiB (%d slowloris held)\n",
                   (long long)((mono_ns() - t0) / MONO_NS_PER_S), rss_kib(pid) / 1024.0,
                   count_held(&w));
            fflush(stdout);
            next_rss += 5 * MONO_NS_PER_S;
        }
        probe("127.0.0.3", &loud);
        sleep_ms(20);
    }
    double took = (double)(mono_ns() - t0) / MONO_NS_PER_S;
    int held = count_held(&w);
    atomic_store(&stop_abuse, true);
    for (int i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    print_samples("  status, under abuse", &loud);
    printf("  commands: %.0f/s answered 2xx (%ld), %ld other answers, %ld without answer\n",
           (double)atomic_load(&cmd_ok) / took, atomic_load(&cmd_ok), atomic_load(&cmd_other),
           atomic_load(&cmd_failed));
    printf("  flood: %.0f connections/s; event streams opened and dropped: %.0f/s; slowloris "
           "still held at the end: %d\n",
           (double)atomic_load(&flood_n) / took, (double)atomic_load(&churn_n) / took, held);
    for (int i = 0; i < nslow; i++)
        if (w.fds[i] >= 0)
            close(w.fds[i]);
    if (pid) {
        sleep_ms(2000);
        printf("  VmRSS 2 s after: %.1f MiB\n", rss_kib(pid) / 1024.0);
    }
    free(w.fds);
    return 0;
}

static void usage(void)
{
    fputs("usage: bench-abuse hold HOST PORT --from ADDR -n N\n"
          "       bench-abuse follow HOST PORT [--from ADDR]\n"
          "       bench-abuse status HOST PORT --from ADDR [-n N] [--interval-ms MS]\n"
          "       bench-abuse run HOST PORT [--seconds S] [--slow N] [--clients C] [--pid PID]\n"
          "                       [--abuse \"slow flood churn commands\"]\n",
          stderr);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        usage();
        return 2;
    }
    const char *mode = argv[1], *from = "127.0.0.1";
    host = argv[2];
    port = atoi(argv[3]);
    int n = 100, interval_ms = 0, seconds = 20, nslow = 500, clients = 16, pid = 0;
    const char *kinds = "slow flood churn commands";
    for (int i = 4; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        if (!strcmp(a, "--from"))
            from = v;
        else if (!strcmp(a, "-n"))
            n = atoi(v);
        else if (!strcmp(a, "--interval-ms"))
            interval_ms = atoi(v);
        else if (!strcmp(a, "--seconds"))
            seconds = atoi(v);
        else if (!strcmp(a, "--slow"))
            nslow = atoi(v);
        else if (!strcmp(a, "--clients"))
            clients = atoi(v);
        else if (!strcmp(a, "--pid"))
            pid = atoi(v);
        else if (!strcmp(a, "--abuse"))
            kinds = v;
        else {
            usage();
            return 2;
        }
        i++;
    }
    more_files();
    if (!strcmp(mode, "hold"))
        return hold(from, n);
    if (!strcmp(mode, "follow"))
        return follow(from);
    if (!strcmp(mode, "status"))
        return status_mode(from, n, interval_ms);
    if (!strcmp(mode, "run"))
        return run(seconds, nslow, clients, pid, kinds);
    usage();
    return 2;
}
