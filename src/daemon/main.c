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

#include "engine.h"
#include "log.h"
#include "driver_conf.h"
#include "rackfile.h"

static void usage(FILE *f)
{
    fputs("usage: rackpowerd --config FILE [--sim] [--db PATH] [--foreground] [--check] "
          "[--verbose]\n"
          "  --config FILE  the rack and its devices (docs/daemon.md)\n"
          "  --sim          manage an in-process simulated rack, whatever devices: says\n"
          "  --db PATH      the ledger and journal (default $STATE_DIRECTORY/rackpower.db,\n"
          "                 else /var/lib/rackpower/rackpower.db)\n"
          "  --foreground   stay attached, log to stderr (what systemd runs)\n"
          "  --check        check the config, print what it holds, and exit\n"
          "  --verbose      log debug lines too\n",
          f);
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
 * Returns the write end of the pipe in the child.
 */
static int detach(void)
{
    int fds[2];
    if (pipe(fds))
        fatal("pipe");
    pid_t pid = fork();
    if (pid < 0)
        fatal("fork");
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
    if (setsid() < 0)
        fatal("setsid");
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
    const char *config = NULL, *db = NULL;
    bool sim = false, foreground = false, check = false, verbose = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "--config") || !strcmp(a, "--db")) && i + 1 < argc)
            *(!strcmp(a, "--config") ? &config : &db) = argv[++i];
        else if (!strcmp(a, "--sim"))
            sim = true;
        else if (!strcmp(a, "--foreground") || !strcmp(a, "-f"))
            foreground = true;
        else if (!strcmp(a, "--check"))
            check = true;
        else if (!strcmp(a, "--verbose") || !strcmp(a, "-v"))
            verbose = true;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            if (!strcmp(a, "--config") || !strcmp(a, "--db"))
                fprintf(stderr, "rackpowerd: %s needs a value\n", a);
            else
                fprintf(stderr, "rackpowerd: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "rackpowerd: --config FILE is required\n");
        usage(stderr);
        return 2;
    }
    log_init("rackpowerd", verbose);

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
    if (check) {
        printf("%s: ok: rack %s, %d PSUs, %d buses, %d servers, %zu devices%s, api %s:%d\n", config,
               rack.name, rack.npsus, rack.nbuses, rack.nservers, conf.ndevices,
               conf.ndevices ? "" : " (the simulated rack)", conf.api.listen, conf.api.port);
        rack_free(&rack);
        rackfile_daemon_free(&conf);
        return 0;
    }

    signal(SIGPIPE, SIG_IGN); /* a client that hangs up is an error return, not a death */
    json_object_seed(0);      /* before any thread: jansson's hash seed */
    int parent = foreground ? -1 : detach();
    if (parent >= 0 && chdir("/"))
        log_warn("chdir /");

    struct engine_opts o = {.config_path = config_path, .db_path = db_path, .force_sim = sim};
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
