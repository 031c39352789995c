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

#include "engine.h"
#include "log.h"
#include "driver_conf.h"
#include "rackfile.h"

static void usage(FILE *f)
{
    fputs("usage: rackpowerd --config FILE [--sim] [--db PATH] [--foreground] [--check] "
          "[--verbose]\n"
          "  --config FILE    the rack and its devices (docs/daemon.md)\n"
          "  --sim            manage an in-process simulated rack, whatever devices: says\n"
          "  --db PATH        the ledger and journal (default $STATE_DIRECTORY/rackpower.db,\n"
          "                   else /var/lib/rackpower/rackpower.db)\n"
          "  -f, --foreground stay attached, log to stderr (what systemd runs)\n"
          "  --check          check the config, print what it holds, and exit\n"
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
    if (!a->config) {
        fprintf(stderr, "rackpowerd: --config FILE is required\n");
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

static void default_db(char *out, size_t len)
{
    const char *dir = getenv("STATE_DIRECTORY"); /* systemd's StateDirectory= */
    if (dir && *dir) {
        size_t n = strcspn(dir, ":");
        snprintf(out, len, "%.*s/rackpower.db", (int)n, dir);
    } else {
        snprintf(out, len, "/var/lib/rackpower/rackpower.db");
    }
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

    char config_path[PATH_MAX], db_path[PATH_MAX], err[1024];
    if (!db)
        default_db(db_path, sizeof(db_path));
    if (absolute(config, config_path, sizeof(config_path)) ||
        (db && absolute(db, db_path, sizeof(db_path)))) {
        fprintf(stderr, "rackpowerd: path too long\n");
        return 1;
    }
    struct rack rack;
    struct rackfile_daemon conf;
    if (rackfile_load_config(config_path, driver_conf_keys, &rack, &conf, err, sizeof(err))) {
        fprintf(stderr, "rackpowerd: %s\n", err);
        return 1;
    }
    if (a.check) {
        printf("%s: ok: rack %s, %d PSUs, %d buses, %d servers, %zu devices%s, api %s:%d\n", config,
               rack.name, rack.npsus, rack.nbuses, rack.nservers, conf.ndevices,
               conf.ndevices ? "" : " (the simulated rack)", conf.api.listen, conf.api.port);
        rack_free(&rack);
        rackfile_daemon_free(&conf);
        return 0;
    }

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

    struct engine_opts o = {.config_path = config_path, .db_path = db_path, .force_sim = a.sim};
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
