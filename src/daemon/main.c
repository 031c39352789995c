/*
 * rackpowerd - the rack power controller daemon (docs/daemon.md).
 *
 * main: arguments, the config, detaching, then the engine until a signal.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <getopt.h>

#include "democonf.h"
#include "engine.h"
#include "log.h"
#include "driver_conf.h"
#include "rackfile.h"
#include "sizing.h"

static void usage(FILE *f)
{
    fputs("usage: rackpowerd --config FILE [--sim] [--db PATH] [--foreground] [--check] "
          "[--verbose]\n"
          "       rackpowerd --sim [--db PATH] [--foreground]   (the built-in demo rack)\n"
          "  --config FILE    the rack and its devices (docs/daemon.md)\n"
          "  --sim            manage an in-process simulated rack, whatever devices: says;\n"
          "                   with no --config, the built-in demo rack (contrib/rackpower.yaml)\n"
          "  --db PATH        the ledger and journal (default $STATE_DIRECTORY/rackpower.db;\n"
          "                   else /var/lib/rackpower/rackpower.db as root, and\n"
          "                   $XDG_STATE_HOME/rackpower/rackpower.db or\n"
          "                   ~/.local/state/rackpower/rackpower.db as another user)\n"
          "  -f, --foreground stay attached, log to stderr (what systemd runs)\n"
          "  --check          check the config, print what it holds, its sizing figures and\n"
          "                   warnings, and exit (0: valid, even with warnings)\n"
          "  -v, --verbose    log debug lines too\n"
          "  -h, --help       this text\n",
          f);
}

enum opt { OPT_CONFIG = 256, OPT_DB, OPT_SIM, OPT_CHECK };

static const struct option options[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"db", required_argument, NULL, OPT_DB},
    {"sim", no_argument, NULL, OPT_SIM},
    {"foreground", no_argument, NULL, 'f'},
    {"check", no_argument, NULL, OPT_CHECK},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct args {
    const char *config, *db;
    bool sim, foreground, check, verbose;
};

/* Parses argv into a: 0, 1 when --help was printed, -1 after a message on
 * stderr. */
static int parse_args(int argc, char **argv, struct args *a)
{
    int c;
    opterr = 0; /* our messages, not getopt's */
    while ((c = getopt_long(argc, argv, ":fvh", options, NULL)) != -1) {
        switch (c) {
        case OPT_CONFIG:
            a->config = optarg;
            break;
        case OPT_DB:
            a->db = optarg;
            break;
        case OPT_SIM:
            a->sim = true;
            break;
        case 'f':
            a->foreground = true;
            break;
        case OPT_CHECK:
            a->check = true;
            break;
        case 'v':
            a->verbose = true;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case ':':
            fprintf(stderr, "rackpowerd: %s needs a value\n", argv[optind - 1]);
            usage(stderr);
            return -1;
        default:
            fprintf(stderr, "rackpowerd: unknown argument '%s'\n", argv[optind - 1]);
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rackpowerd: unknown argument '%s'\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    if (!a->config && !a->sim) {
        fprintf(stderr, "rackpowerd: --config FILE is required (or --sim alone, for the "
                        "built-in demo rack)\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

/* An absolute path: the daemon changes to / and rereads the config on SIGHUP. */
static int absolute(const char *path, char *out, size_t len)
{
    char cwd[PATH_MAX];
    if (path[0] == '/' || !strcmp(path, ":memory:"))
        return snprintf(out, len, "%s", path) < (int)len ? 0 : -1;
    if (!getcwd(cwd, sizeof(cwd)))
        return -1;
    return snprintf(out, len, "%s/%s", cwd, path) < (int)len ? 0 : -1;
}

/* mkdir -p for the default database's directory; the last part 0700. */
static int make_dirs(char *dir)
{
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(dir, 0755);
        *p = '/';
        if (rc && errno != EEXIST)
            return -1;
    }
    return mkdir(dir, 0700) && errno != EEXIST ? -1 : 0;
}

/*
 * Where the database goes when --db is not given: systemd's StateDirectory=,
 * else /var/lib/rackpower for root, else the user's state directory (XDG), so
 * that a newcomer's first run as themselves works. Creates the directory.
 * 0, or -1 and a message in err.
 */
static int default_db(char *out, size_t len, char *err, size_t errlen)
{
    const char *dir = getenv("STATE_DIRECTORY"), *xdg = getenv("XDG_STATE_HOME"),
               *home = getenv("HOME");
    char d[PATH_MAX];
    int n;
    if (dir && *dir)
        n = snprintf(d, sizeof(d), "%.*s", (int)strcspn(dir, ":"), dir);
    else if (geteuid() == 0)
        n = snprintf(d, sizeof(d), "/var/lib/rackpower");
    else if (xdg && xdg[0] == '/') /* the XDG spec: a relative one is ignored */
        n = snprintf(d, sizeof(d), "%s/rackpower", xdg);
    else if (home && home[0] == '/')
        n = snprintf(d, sizeof(d), "%s/.local/state/rackpower", home);
    else {
        snprintf(err, errlen, "no --db, and no HOME to keep the database under: give --db PATH");
        return -1;
    }
    if (n < 0 || (size_t)n >= sizeof(d) || snprintf(out, len, "%s/rackpower.db", d) >= (int)len) {
        snprintf(err, errlen, "the database path is too long: give --db PATH");
        return -1;
    }
    if (make_dirs(d)) {
        snprintf(err, errlen, "cannot create %s for the database: %s (or give --db PATH)", d,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * Detaches: the parent waits until the child serves (exit 0) or says why it
 * could not (that text on stderr, exit 1). Done before any thread starts.
 * Returns the write end of the pipe in the child, or -1 (logged) when the
 * system refused.
 */
static int detach(void)
{
    int fds[2];
    if (pipe(fds)) {
        log_warn("pipe");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("fork");
        return -1;
    }
    if (pid > 0) {
        char buf[1024];
        size_t len = 0;
        ssize_t n;
        close(fds[1]);
        while ((n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
            len += (size_t)n;
        buf[len] = '\0';
        if (len && strcmp(buf, "ok")) {
            fprintf(stderr, "rackpowerd: %s\n", buf);
            exit(1);
        }
        if (!len) {
            int st;
            waitpid(pid, &st, 0);
            fprintf(stderr, "rackpowerd: exited while starting\n");
            exit(1);
        }
        exit(0);
    }
    close(fds[0]);
    if (setsid() < 0) {
        log_warn("setsid");
        return -1;
    }
    log_to_syslog();
    return fds[1];
}

static void tell_parent(int fd, const char *msg)
{
    if (fd < 0)
        return;
    size_t len = strlen(msg);
    if (write(fd, msg, len) != (ssize_t)len)
        log_warn("cannot tell the parent");
    close(fd);
    if (strcmp(msg, "ok"))
        return;
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
}

int main(int argc, char **argv)
{
    struct args a = {0};
    int parsed = parse_args(argc, argv, &a);
    if (parsed)
        return parsed > 0 ? 0 : 2;
    const char *config = a.config, *db = a.db;
    log_init("rackpowerd", a.verbose);

    char config_path[PATH_MAX] = "built-in demo rack (contrib/rackpower.yaml)", db_path[PATH_MAX],
         err[1024];
    if ((config && absolute(config, config_path, sizeof(config_path))) ||
        (db && absolute(db, db_path, sizeof(db_path)))) {
        fprintf(stderr, "rackpowerd: path too long\n");
        return 1;
    }
    struct engine_opts o = {.config_path = config_path, .force_sim = a.sim};
    if (!config) {
        o.config_text = rp_demo_config;
        o.config_len = rp_demo_config_len;
    }
    struct rack rack;
    struct rackfile_daemon conf;
    if (engine_load_config(&o, &rack, &conf, err, sizeof(err))) {
        fprintf(stderr, "rackpowerd: %s\n", err);
        return 1;
    }
    if (a.check) {
        printf("%s: ok: rack %s, %d PSUs, %d buses, %d servers, %zu devices%s, api %s:%d\n",
               config ? config : config_path, rack.name, rack.npsus, rack.nbuses, rack.nservers,
               conf.ndevices, conf.ndevices ? "" : " (the simulated rack)", conf.api.listen,
               conf.api.port);
        /* the figures and warnings: a rack that cannot work is still a valid file */
        struct sizing *sz = malloc(sizeof(*sz));
        if (!sz || sizing_check(&rack, sz))
            printf("sizing: out of memory\n");
        else
            sizing_print(stdout, &rack, sz);
        free(sz);
        rack_free(&rack);
        rackfile_daemon_free(&conf);
        return 0;
    }

    if (!db && default_db(db_path, sizeof(db_path), err, sizeof(err))) {
        fprintf(stderr, "rackpowerd: %s\n", err);
        rack_free(&rack);
        rackfile_daemon_free(&conf);
        return 1;
    }
    o.db_path = db_path;

    signal(SIGPIPE, SIG_IGN); /* a client that hangs up is an error return, not a death */
    json_object_seed(0);      /* before any thread: jansson's hash seed */
    int parent = -1;
    if (!a.foreground && (parent = detach()) < 0) {
        rack_free(&rack);
        rackfile_daemon_free(&conf);
        return 1;
    }
    if (parent >= 0 && chdir("/"))
        log_warn("chdir /");

    struct engine *e = engine_new(&o, &rack, &conf, err, sizeof(err));
    rack_free(&rack);
    rackfile_daemon_free(&conf);
    if (!e) {
        log_warnx("%s", err);
        tell_parent(parent, err);
        return 1;
    }
    tell_parent(parent, "ok");
    int rc = engine_run(e);
    engine_free(e);
    return rc;
}
