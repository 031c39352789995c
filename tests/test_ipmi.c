/*
 * test_ipmi.c - the ipmi driver (src/drivers/ipmi.c) against real BMCs:
 * ipmi_sim processes started by tests/lib_ipmi.sh, whose chassis control
 * script keeps each host's power in DIR/NAME/power and records every power
 * command in DIR/NAME/power.log. The driver opens real RMCP+ sessions with
 * libfreeipmi; every check reads what the BMC carried out, or what the
 * driver reported of what the BMC said.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemonconf.h"
#include "driver.h"
#include "driver_conf.h"
#include "ipmi.h"

#define PASS "s3cret-pw"

/* One BMC: a shell running lib_ipmi.sh's bmc_start, waiting until killed
 * (its cleanup then kills ipmi_sim). */
struct bmc {
    pid_t sh;
    int port;
    char name[32];
};

static char dir[256];    /* the test's directory: BMC files, password files */
static char pwfile[300]; /* the right password, mode 0600 */
static int bmc_seq;
static pid_t shells[32]; /* every BMC shell started: teardown stops those left */
static size_t nshells;

static int free_udp_port(void)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* Starts the BMC b (name and port set) with BMC_SOFT_OFF_S soft_s; returns
 * once it answers an RMCP ping, true, or false when it did not start. */
static bool bmc_try(struct bmc *b, const char *soft_s)
{
    const char *src = getenv("RP_SOURCE_DIR");
    assert_non_null(src);
    int p[2];
    assert_int_equal(pipe(p), 0);
    char port[16];
    snprintf(port, sizeof(port), "%d", b->port);
    b->sh = fork();
    assert_true(b->sh >= 0);
    if (b->sh == 0) {
        /* a test that fails half-way leaves no BMC behind */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        setenv("BMC_SOFT_OFF_S", soft_s, 1);
        execl("/bin/sh", "sh", "-c",
              ". \"$1/tests/lib.sh\"; . \"$1/tests/lib_ipmi.sh\"; test_begin bmc; "
              "bmc_start \"$2\" \"$3\" \"$4\" rp \"$5\" >&2; echo ready; wait",
              "bmc", src, dir, b->name, port, PASS, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    if (nshells < sizeof(shells) / sizeof(shells[0]))
        shells[nshells++] = b->sh;
    char line[256] = "";
    FILE *f = fdopen(p[0], "r");
    assert_non_null(f);
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    fclose(f);
    return strncmp(line, "ready", 5) == 0;
}

static void bmc_run(struct bmc *b, const char *soft_s)
{
    if (!bmc_try(b, soft_s))
        fail_msg("bmc %s did not start", b->name);
}

/* Whether BMC b's ipmi_sim could not bind its port: the free port found
 * was taken before it bound it (another test's socket, on a shared machine). */
static bool port_taken(const struct bmc *b)
{
    char path[400], line[256];
    snprintf(path, sizeof(path), "%s/%s/sim.log", dir, b->name);
    FILE *f = fopen(path, "r");
    bool taken = false;
    while (f && !taken && fgets(line, sizeof(line), f))
        taken = strstr(line, "Address already in use") != NULL;
    if (f)
        fclose(f);
    return taken;
}

/* A new BMC on a free port; another port (and name) when the one found was
 * taken before ipmi_sim bound it, up to 5 tries. */
static void bmc_start(struct bmc *b, const char *soft_s)
{
    for (int tries = 0;; tries++) {
        snprintf(b->name, sizeof(b->name), "bmc%d", ++bmc_seq);
        b->port = free_udp_port();
        if (bmc_try(b, soft_s))
            return;
        if (tries == 4 || !port_taken(b))
            fail_msg("bmc %s did not start", b->name);
    }
}

static void bmc_kill(struct bmc *b)
{
    if (b->sh <= 0)
        return;
    kill(b->sh, SIGTERM);
    waitpid(b->sh, NULL, 0);
    for (size_t i = 0; i < nshells; i++)
        if (shells[i] == b->sh)
            shells[i] = 0;
    b->sh = 0;
}

/* The host's power as the chassis script keeps it: '1', '0' or 's' (soft). */
static char host_power(const struct bmc *b)
{
    char path[400], c = '?';
    snprintf(path, sizeof(path), "%s/%s/power", dir, b->name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    if (fread(&c, 1, 1, f) != 1)
        c = '?';
    fclose(f);
    return c;
}

static void set_host_power(const struct bmc *b, int on)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s/power", dir, b->name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%d\n", on);
    fclose(f);
}

/* The power commands the BMC carried out, as "off,on,soft-off"; a command
 * carried out twice in a row counts once: FreeIPMI sends a request again when
 * its answer is late (a loaded machine: the chassis script is a process), and
 * ipmi_sim carries out each copy. *count: how many times what was carried
 * out (NULL: not counted). */
static const char *power_log_count(const struct bmc *b, const char *what, int *count)
{
    static char out[1024];
    char path[400], line[256], last[64] = "";
    snprintf(path, sizeof(path), "%s/%s/power.log", dir, b->name);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        char *w = strrchr(line, ' ');
        assert_non_null(w);
        w[strcspn(w, "\n")] = '\0';
        if (count && !strcmp(w + 1, what))
            ++*count;
        if (!strcmp(w + 1, last))
            continue;
        snprintf(last, sizeof(last), "%s", w + 1);
        if (out[0])
            strcat(out, ",");
        strncat(out, w + 1, sizeof(out) - strlen(out) - 2);
    }
    fclose(f);
    return out;
}

static const char *power_log(const struct bmc *b)
{
    return power_log_count(b, "", NULL);
}

/* A rack of two servers (db1, web1) with one ipmi device for db1. */
struct fix {
    struct rack r;
    struct rackfile_daemon d;
    void *inst;
    struct driver_report rep;
    char err[512];
};

static int load(struct fix *x, const char *device_yaml)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "rack:\n  name: t\n  protection: none\n  feeds: [F1]\n  buses: [A]\n"
             "  psus:\n    - {id: ps1, capacity_w: 3000, feed: F1, buses: [A], bus: A}\n"
             "  servers:\n    - {id: db1, power_w: 500, priority: 1, buses: [A]}\n"
             "    - {id: web1, power_w: 400, priority: 2, buses: [A]}\n"
             "devices:\n%s",
             device_yaml);
    return rackfile_load_config_string("t.yaml", text, strlen(text), driver_conf_keys, &x->r, &x->d,
                                       x->err, sizeof(x->err));
}

static void fix_open(struct fix *x, const struct bmc *b, const char *pw, int server_state)
{
    char dev[1024];
    snprintf(dev, sizeof(dev),
             "  - {kind: ipmi, server: db1, host: 127.0.0.1, port: %d, user: rp,\n"
             "     password_file: %s, timeout_ms: 4000, workarounds: [opensesspriv]}\n",
             b->port, pw);
    memset(x, 0, sizeof(*x));
    if (load(x, dev))
        fail_msg("config: %s", x->err);
    struct rack_server *s = &x->r.servers[0];
    s->state = server_state;
    s->alloc_mw = !rack_server_draws(s)             ? 0
                  : server_state == RACK_SRV_CAPPED ? 300000
                                                    : s->power_mw;
    const struct driver_ops *ops = driver_find(RACKFILE_DEV_IPMI);
    assert_non_null(ops);
    x->inst = ops->open(&x->d.devices[0], &x->r, x->err, sizeof(x->err));
    if (!x->inst)
        fail_msg("open: %s", x->err);
}

static void fix_close(struct fix *x)
{
    if (x->inst)
        ipmi_ops.close(x->inst);
    driver_report_free(&x->rep);
    rack_free(&x->r);
    rackfile_daemon_free(&x->d);
}

static int poll_once(struct fix *x)
{
    driver_report_clear(&x->rep);
    x->err[0] = '\0';
    int rc = ipmi_ops.poll(x->inst, 2000, &x->rep, x->err, sizeof(x->err));
    if (rc)
        print_message("poll: %s\n", x->err); /* shown when a check fails */
    return rc;
}

static int act(struct fix *x, enum policy_action_kind k, int64_t watts_mw, int stage)
{
    struct policy_action a = {
        .kind = k, .server = 0, .psu = -1, .watts_mw = watts_mw, .stage = stage};
    x->err[0] = '\0';
    int rc = ipmi_ops.act(x->inst, &a, x->err, sizeof(x->err));
    if (rc)
        print_message("act: %s\n", x->err);
    return rc;
}

/* How many inputs of kind k the last poll reported for db1. */
static int inputs(const struct fix *x, enum policy_input_kind k)
{
    int n = 0;
    for (size_t i = 0; i < x->rep.ninputs; i++)
        n += x->rep.inputs[i].kind == k && x->rep.inputs[i].index == 0;
    return n;
}

static bool read_db1(const struct fix *x)
{
    for (size_t i = 0; i < x->rep.nread; i++)
        if (x->rep.read[i] == 0)
            return true;
    return false;
}

static const char *unit_error(const struct fix *x)
{
    return x->rep.nunits ? x->rep.units[x->rep.nunits - 1].last_error : "";
}

/* What most tests start from (their cmocka state): one BMC, and the driver
 * open on it for db1 in the rack's state given. The teardown closes the
 * driver and stops the BMC, also after a failed check. */
struct rig_want {
    const char *soft_s;   /* BMC_SOFT_OFF_S: "0" the OS obeys at once, "-1" never */
    int server_state;     /* db1's state in the rack (RACK_SRV_*) */
    const char *password; /* the password file under dir; NULL: the right one */
};
struct rig {
    struct bmc b;
    struct fix x;
};

static int rig_up(void **state)
{
    const struct rig_want *w = *state;
    struct rig *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    *state = r;
    char pw[300];
    snprintf(pw, sizeof(pw), "%s/%s", dir, w->password ? w->password : "rp.pw");
    bmc_start(&r->b, w->soft_s);
    fix_open(&r->x, &r->b, pw, w->server_state);
    return 0;
}

static int rig_down(void **state)
{
    struct rig *r = *state;
    if (r) {
        fix_close(&r->x);
        bmc_kill(&r->b);
        free(r);
    }
    return 0;
}

static const struct rig_want db1_off = {"0", RACK_SRV_OFF, NULL};
static const struct rig_want db1_on = {"0", RACK_SRV_ON, NULL};
static const struct rig_want db1_on_os_ignores_acpi = {"-1", RACK_SRV_ON, NULL};
static const struct rig_want db1_on_wrong_password = {"0", RACK_SRV_ON, "wrong.pw"};

/* ---- the tests ---------------------------------------------------------------- */

static void test_shed_restore_and_soft_off_are_carried_out_by_the_bmc(void **state)
{
    struct rig *r = *state;
    /* the rack has it off, the BMC on: it asks for power, and is read */
    assert_int_equal(poll_once(&r->x), 0);
    assert_true(read_db1(&r->x));
    assert_int_equal(inputs(&r->x, POLICY_POWER_ON), 1);
    /* granted while on: no power command */
    assert_int_equal(act(&r->x, POLICY_ACT_GRANT, 500000, 0), 0);
    assert_string_equal(power_log(&r->b), "");
    assert_int_equal(act(&r->x, POLICY_ACT_SHED, 0, 0), 0);
    assert_string_equal(power_log(&r->b), "off");
    assert_int_equal(host_power(&r->b), '0');
    assert_int_equal(poll_once(&r->x), 0);
    assert_int_equal(r->x.rep.ninputs, 0); /* its own decision: no loss, no ask */
    assert_int_equal(act(&r->x, POLICY_ACT_RESTORE, 500000, 0), 0);
    assert_string_equal(power_log(&r->b), "off,on");
    assert_int_equal(host_power(&r->b), '1');
    assert_int_equal(poll_once(&r->x), 0);
    assert_int_equal(r->x.rep.ninputs, 0);
    /* the soft-off: the OS obeys at once here, and its power going off is
     * what was asked, not a loss */
    assert_int_equal(act(&r->x, POLICY_ACT_SOFT_OFF, 0, 0), 0);
    assert_string_equal(power_log(&r->b), "off,on,soft-off");
    assert_int_equal(poll_once(&r->x), 0);
    assert_int_equal(r->x.rep.ninputs, 0);
    assert_int_equal(host_power(&r->b), '0');
    /* the shed that follows is a hard power off all the same */
    assert_int_equal(act(&r->x, POLICY_ACT_SHED, 0, 0), 0);
    assert_string_equal(power_log(&r->b), "off,on,soft-off,off");
    assert_true(r->x.rep.nunits == 1 && !strcmp(r->x.rep.units[0].kind, "ipmi-bmc") &&
                !strcmp(r->x.rep.units[0].state, "live"));
}

static void test_soft_off_is_not_forced_while_the_os_shuts_down(void **state)
{
    struct rig *r = *state; /* an OS that ignores the ACPI request */
    assert_int_equal(poll_once(&r->x), 0);
    assert_int_equal(r->x.rep.ninputs, 0);
    assert_int_equal(r->x.rep.nfound, 0);
    assert_int_equal(act(&r->x, POLICY_ACT_SOFT_OFF, 0, 0), 0);
    assert_int_equal(poll_once(&r->x), 0);
    assert_int_equal(poll_once(&r->x), 0);
    assert_string_equal(power_log(&r->b), "soft-off"); /* nothing forced */
    assert_int_equal(host_power(&r->b), '1');
    assert_int_equal(act(&r->x, POLICY_ACT_SHED, 0, 0), 0); /* soft_off_s later */
    assert_string_equal(power_log(&r->b), "soft-off,off");
    assert_int_equal(host_power(&r->b), '0');
}

static void test_granted_server_off_without_a_decision_lost_power(void **state)
{
    struct rig *r = *state;
    assert_int_equal(poll_once(&r->x), 0);
    set_host_power(&r->b, 0); /* a breaker, a crash */
    assert_int_equal(poll_once(&r->x), 0);
    assert_int_equal(inputs(&r->x, POLICY_LOST_POWER), 1);
    assert_int_equal(poll_once(&r->x), 0); /* told once */
    assert_int_equal(r->x.rep.ninputs, 0);
    assert_string_equal(power_log(&r->b), ""); /* not powered back on to match its grant */
}

static void test_off_after_stage_ob_lb_is_expected_not_a_loss(void **state)
{
    struct rig *r = *state;
    assert_int_equal(poll_once(&r->x), 0);
    assert_int_equal(act(&r->x, POLICY_ACT_STAGE, 0, POLICY_STAGE_OB_LB), 0);
    set_host_power(&r->b, 0); /* its upsmon shut it down */
    assert_int_equal(poll_once(&r->x), 0);
    assert_int_equal(r->x.rep.ninputs, 0);
    assert_int_equal(act(&r->x, POLICY_ACT_SOFT_OFF, 0, 0), 0); /* off already: nothing sent */
    assert_string_equal(power_log(&r->b), "");
}

static void test_shed_server_that_comes_back_on_is_powered_off_again(void **state)
{
    struct rig *r = *state;
    assert_int_equal(poll_once(&r->x), 0);
    assert_int_equal(act(&r->x, POLICY_ACT_SHED, 0, 0), 0);
    int offs = 0;
    assert_string_equal(power_log_count(&r->b, "off", &offs), "off");
    set_host_power(&r->b, 1); /* its power button */
    assert_int_equal(poll_once(&r->x), 0);
    int again = 0;
    assert_string_equal(power_log_count(&r->b, "off", &again), "off");
    assert_true(again > offs); /* powered off once more */
    assert_int_equal(host_power(&r->b), '0');
}

static void test_server_the_rack_had_drawing_found_off_stays_off(void **state)
{
    struct rig *r = *state;
    set_host_power(&r->b, 0);
    assert_int_equal(poll_once(&r->x), 0);
    assert_int_equal(r->x.rep.nfound, 1);
    assert_int_equal(r->x.rep.found[0].server, 0);
    assert_int_equal(r->x.rep.found[0].cap_mw, 0);
    assert_int_equal(r->x.rep.ninputs, 0);
    assert_int_equal(poll_once(&r->x), 0);
    assert_string_equal(power_log(&r->b), ""); /* never raised to match the rack */
}

static void test_actions_for_other_servers_are_not_sent(void **state)
{
    struct rig *r = *state;
    struct policy_action a = {.kind = POLICY_ACT_SHED, .server = 1, .psu = -1};
    assert_int_equal(ipmi_ops.act(r->x.inst, &a, r->x.err, sizeof(r->x.err)), 0);
    a = (struct policy_action){.kind = POLICY_ACT_SWITCH, .server = -1, .psu = 0, .to_bus = 0};
    assert_int_equal(ipmi_ops.act(r->x.inst, &a, r->x.err, sizeof(r->x.err)), 0);
    assert_string_equal(power_log(&r->b), "");
}

static void test_cap_on_a_bmc_without_dcmi_is_said_not_pretended(void **state)
{
    struct rig *r = *state;
    assert_int_equal(poll_once(&r->x), 0);
    assert_int_equal(act(&r->x, POLICY_ACT_CAP, 300000, 0), 0);
    assert_int_equal(poll_once(&r->x), 0);
    assert_non_null(strstr(unit_error(&r->x), "has no DCMI power limit"));
    assert_non_null(strstr(unit_error(&r->x), "caps are not enforced"));
    assert_string_equal(power_log(&r->b), ""); /* a cap powers nothing off */
    assert_int_equal(host_power(&r->b), '1');
    fix_close(&r->x);
    /* a server the rack had capped: its cap is put back at the first read */
    fix_open(&r->x, &r->b, pwfile, RACK_SRV_CAPPED);
    assert_int_equal(poll_once(&r->x), 0);
    assert_non_null(strstr(unit_error(&r->x), "has no DCMI power limit"));
    assert_string_equal(power_log(&r->b), "");
}

static void test_wrong_password_is_a_clear_error(void **state)
{
    struct rig *r = *state; /* opened with wrong.pw */
    assert_int_equal(poll_once(&r->x), -1);
    assert_non_null(strstr(r->x.err, "bmc of db1 at 127.0.0.1:"));
    assert_non_null(strstr(r->x.err, "cannot open a session"));
    assert_non_null(strstr(r->x.err, "check user and password_file"));
    /* a command is refused the same way, and nothing is carried out */
    assert_int_equal(act(&r->x, POLICY_ACT_SHED, 0, 0), -1);
    assert_non_null(strstr(r->x.err, "check user and password_file"));
    assert_string_equal(power_log(&r->b), "");
}

static void test_bmc_gone_is_an_error_and_it_is_used_again_when_back(void **state)
{
    struct rig *r = *state;
    assert_int_equal(poll_once(&r->x), 0);
    bmc_kill(&r->b);
    assert_int_equal(poll_once(&r->x), -1);
    assert_non_null(strstr(r->x.err, "bmc of db1"));
    assert_int_equal(r->x.rep.nunits, 1);
    assert_true(r->x.rep.units[0].timeouts >= 1);
    /* a shed while it is gone fails, and is sent once it is back */
    assert_int_equal(act(&r->x, POLICY_ACT_SHED, 0, 0), -1);
    assert_int_equal(poll_once(&r->x), -1);
    bmc_run(&r->b, "0"); /* the same BMC again: a new process, the old session unknown */
    int rc = -1;
    for (int i = 0; i < 5 && rc; i++) /* the first poll may spend itself on the old session */
        rc = poll_once(&r->x);
    assert_int_equal(rc, 0);
    assert_string_equal(power_log(&r->b), "off");
    assert_int_equal(host_power(&r->b), '0');
}

/* Several BMC devices each poll on their own worker thread in the daemon:
 * libfreeipmi sessions opened and used at once from two threads. */
struct worker {
    struct fix x;
    int ok;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 5; i++) {
        driver_report_clear(&w->x.rep);
        if (ipmi_ops.poll(w->x.inst, 2000, &w->x.rep, w->x.err, sizeof(w->x.err)) == 0)
            w->ok++;
    }
    return NULL;
}

static void test_two_bmcs_polled_from_two_threads_at_once(void **state)
{
    (void)state;
    struct bmc b[2] = {{0}, {0}};
    struct worker w[2];
    pthread_t t[2];
    for (int k = 0; k < 2; k++) {
        bmc_start(&b[k], "0");
        fix_open(&w[k].x, &b[k], pwfile, RACK_SRV_ON);
        w[k].ok = 0;
    }
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_create(&t[k], NULL, work, &w[k]), 0);
    for (int k = 0; k < 2; k++)
        pthread_join(t[k], NULL);
    for (int k = 0; k < 2; k++) {
        if (w[k].ok != 5)
            fail_msg("bmc %d: %d of 5 polls answered (%s)", k, w[k].ok, w[k].x.err);
        fix_close(&w[k].x);
        bmc_kill(&b[k]);
    }
}

static void test_password_file_readable_by_others_is_refused(void **state)
{
    (void)state;
    char p[300], buf[32], err[256];
    snprintf(p, sizeof(p), "%s/open.pw", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, PASS, strlen(PASS)), (ssize_t)strlen(PASS));
    close(fd);
    assert_int_equal(chmod(p, 0644), 0);
    assert_int_equal(ipmi_read_password(p, buf, sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "chmod 600"));
    assert_int_equal(chmod(p, 0600), 0);
    assert_int_equal(ipmi_read_password(p, buf, sizeof(buf), err, sizeof(err)), 0);
    assert_string_equal(buf, PASS);
    /* more than IPMI's 20 bytes, or two lines: not a password */
    fd = open(p, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "123456789012345678901", 21), 21);
    close(fd);
    assert_int_equal(ipmi_read_password(p, buf, sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "1 to 20 bytes"));
    fd = open(p, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "a\nb\n", 4), 4);
    close(fd);
    assert_int_equal(ipmi_read_password(p, buf, sizeof(buf), err, sizeof(err)), -1);
    snprintf(p, sizeof(p), "%s/none.pw", dir);
    assert_int_equal(ipmi_read_password(p, buf, sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "No such file"));
}

/* The device lines (printf's FMT and what follows) are refused, and the
 * error says WHY. */
static void refused(const char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refused(const char *why, const char *fmt, ...)
{
    struct fix x;
    char dev[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dev, sizeof(dev), fmt, ap);
    va_end(ap);
    memset(&x, 0, sizeof(x));
    assert_int_equal(load(&x, dev), -1);
    if (!strstr(x.err, why))
        fail_msg("refused with '%s', not for '%s'", x.err, why);
}

static void test_config_keys_and_one_bmc_per_server(void **state)
{
    (void)state;
    struct fix x;
    char dev[1024];
    memset(&x, 0, sizeof(x));
    snprintf(
        dev, sizeof(dev),
        "  - {kind: ipmi, server: web1, host: bmc-web1.example, user: rp, password_file: %s}\n",
        pwfile);
    assert_int_equal(load(&x, dev), 0);
    const struct rackfile_device *d = &x.d.devices[0];
    assert_int_equal(d->kind, RACKFILE_DEV_IPMI);
    assert_int_equal(d->server, 1);
    assert_int_equal(d->port, 623);
    assert_int_equal(d->privilege, 3); /* operator */
    assert_int_equal(d->cipher_suite, 3);
    assert_int_equal(d->poll_ns, 5000000000LL);
    assert_string_equal(d->user, "rp");
    rack_free(&x.r);
    rackfile_daemon_free(&x.d);

    refused("a server has one BMC",
            "  - {kind: ipmi, server: db1, host: h1, user: rp, password_file: %s,"
            " privilege: admin}\n"
            "  - {kind: ipmi, server: db1, host: h2, user: rp, password_file: %s}\n",
            pwfile, pwfile);
    refused("password_file", "  - {kind: ipmi, server: db1, host: h1, user: rp}\n");
    refused("1 to 16 characters",
            "  - {kind: ipmi, server: db1, host: h1, user: a-name-longer-than-16, "
            "password_file: %s}\n",
            pwfile);
    refused("privilege",
            "  - {kind: ipmi, server: db1, host: h1, user: rp, password_file: %s, "
            "privilege: root}\n",
            pwfile);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof(dir), "/tmp/test_ipmi.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(pwfile, sizeof(pwfile), "%s/rp.pw", dir);
    int fd = open(pwfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, PASS "\n", strlen(PASS) + 1) < 0)
        return -1;
    close(fd);
    char wrong[300]; /* for db1_on_wrong_password */
    snprintf(wrong, sizeof(wrong), "%s/wrong.pw", dir);
    fd = open(wrong, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "not-it\n", 7) != 7)
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < nshells; i++)
        if (shells[i] > 0 && kill(shells[i], SIGTERM) == 0)
            waitpid(shells[i], NULL, 0);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* a test run on a rig (rig_up, rig_down) of the rig_want given */
#define rig_test(test, want)                                                                       \
    cmocka_unit_test_prestate_setup_teardown(test, rig_up, rig_down, (void *)&(want))

int main(void)
{
    const struct CMUnitTest tests[] = {
        rig_test(test_shed_restore_and_soft_off_are_carried_out_by_the_bmc, db1_off),
        rig_test(test_soft_off_is_not_forced_while_the_os_shuts_down, db1_on_os_ignores_acpi),
        rig_test(test_granted_server_off_without_a_decision_lost_power, db1_on),
        rig_test(test_off_after_stage_ob_lb_is_expected_not_a_loss, db1_on),
        rig_test(test_shed_server_that_comes_back_on_is_powered_off_again, db1_on),
        rig_test(test_server_the_rack_had_drawing_found_off_stays_off, db1_on),
        rig_test(test_actions_for_other_servers_are_not_sent, db1_on),
        rig_test(test_cap_on_a_bmc_without_dcmi_is_said_not_pretended, db1_on),
        rig_test(test_wrong_password_is_a_clear_error, db1_on_wrong_password),
        rig_test(test_bmc_gone_is_an_error_and_it_is_used_again_when_back, db1_on),
        cmocka_unit_test(test_two_bmcs_polled_from_two_threads_at_once),
        cmocka_unit_test(test_password_file_readable_by_others_is_refused),
        cmocka_unit_test(test_config_keys_and_one_bmc_per_server),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
