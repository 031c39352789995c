/*
 * ipmi.c - the ipmi driver: one server's BMC behind the driver vtable
 * (ipmi.h), through libfreeipmi's out-of-band IPMI 2.0 (RMCP+) context.
 *
 * The session. Opened at the first poll, not at open: a BMC that does not
 * answer when rackpowerd starts is an error of that poll, tried again at the
 * next, and does not keep the daemon from starting. Kept across polls (a
 * session costs several round trips; the poll every poll_ms keeps it alive
 * at the BMC), and dropped when a command times out or the BMC no longer
 * knows it (restarted): the next poll or act opens a new one.
 *
 * What the controller wants of the server (want) is kept as a state, as
 * mbdev.c does for a chassis slot:
 *   - undecided until the controller decides about the server (the rack
 *     had it off or waiting at open): the driver follows the BMC, and a
 *     server that is on, or comes on by itself, asks for power
 *     (POLICY_POWER_ON); one that goes off by itself releases it
 *     (POLICY_POWER_OFF);
 *   - on (grant, restore, cap): a server that goes off without a decision
 *     lost power (POLICY_LOST_POWER: the policy sheds it and restores it
 *     after its back-off), unless its stage is OB LB (its upsmon shuts it
 *     down: expected); it is not powered back on to match the grant;
 *   - off (shed, release): a server that comes back on against it is
 *     powered off again (lowering power needs no proof);
 *   - soft (soft_off): the OS is shutting down; nothing is forced until the
 *     shed that follows (docs/outage.md: soft_off_s later).
 * At the first read after open the BMC is compared with the rack: a server
 * the rack had drawing that is off is reported found off (driver.h), and
 * the lower power stands; one the rack had shed that is on is powered off;
 * one the rack had capped has its cap put back (DCMI).
 * A command that could not be sent (no session) is sent again at the next
 * poll, when the state still wants it.
 */
#define _DEFAULT_SOURCE /* explicit_bzero: the password does not stay in freed memory */
#include "ipmi.h"

#include <errno.h>
#include <fcntl.h>
#include <freeipmi/freeipmi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monoclock.h"

#define IPMI_PASSWORD_MAX 20 /* IPMI 2.0 passwords are at most 20 bytes */

enum want { WANT_UNDECIDED, WANT_ON, WANT_OFF, WANT_SOFT };

struct ipmi {
    ipmi_ctx_t ctx; /* NULL: no session */
    int server;
    char server_id[RACK_ID_LEN];
    int64_t power_mw;
    char host[300]; /* "host:port", as FreeIPMI takes it */
    char user[17];
    char password[IPMI_PASSWORD_MAX + 1];
    uint8_t privilege, cipher;
    unsigned timeout_ms;
    unsigned workarounds; /* IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_* */
    int seen;             /* the power state at the last read: -1 never read, 0 off, 1 on */
    enum want want;
    bool first;      /* no read since open: compare the BMC with the rack */
    bool drew;       /* at open the rack had the server drawing */
    bool shed;       /* ... or shed */
    bool expect_off; /* its stage is OB LB: its upsmon powers it off */
    bool resend;     /* a command of want was not carried out: send it again */
    int64_t cap_mw;  /* the cap wanted, 0 none */
    bool cap_active; /* a DCMI power limit is active at the BMC */
    int dcmi;        /* -1 not tried, 0 the BMC has no DCMI power limit, 1 it has */
    struct driver_unit_stats st;
    fiid_obj_t status_rs, control_rs, limit_rs, activate_rs;
};

int ipmi_read_password(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errlen, "password_file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    char b[IPMI_PASSWORD_MAX + 3];
    ssize_t n = -1;
    if (fstat(fd, &sb)) {
        snprintf(err, errlen, "password_file %s: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "password_file %s: not a regular file", path);
    } else if (sb.st_mode & 077) {
        snprintf(err, errlen,
                 "password_file %s: mode %04o lets others read it: its owner alone may (chmod 600)",
                 path, (unsigned)(sb.st_mode & 07777));
    } else if ((n = read(fd, b, sizeof(b) - 1)) < 0) {
        snprintf(err, errlen, "password_file %s: %s", path, strerror(errno));
    }
    close(fd);
    if (n < 0)
        return -1;
    b[n] = '\0';
    if (n > 0 && b[n - 1] == '\n')
        b[--n] = '\0';
    if (n == 0 || strlen(b) != (size_t)n || strchr(b, '\n') || (size_t)n > IPMI_PASSWORD_MAX ||
        (size_t)n >= len) {
        snprintf(err, errlen,
                 "password_file %s: expected the password alone, 1 to %d bytes (IPMI 2.0)", path,
                 IPMI_PASSWORD_MAX);
        explicit_bzero(b, sizeof(b));
        return -1;
    }
    memcpy(buf, b, (size_t)n + 1);
    explicit_bzero(b, sizeof(b));
    return 0;
}

static void drop_session(struct ipmi *d)
{
    if (!d->ctx)
        return;
    ipmi_ctx_close(d->ctx);
    ipmi_ctx_destroy(d->ctx);
    d->ctx = NULL;
    snprintf(d->st.state, sizeof(d->st.state), "absent");
}

static void ipmi_close(void *inst)
{
    struct ipmi *d = inst;
    if (!d)
        return;
    drop_session(d);
    fiid_obj_destroy(d->status_rs);
    fiid_obj_destroy(d->control_rs);
    fiid_obj_destroy(d->limit_rs);
    fiid_obj_destroy(d->activate_rs);
    explicit_bzero(d->password, sizeof(d->password));
    free(d);
}

static void *ipmi_open(const struct rackfile_device *dev, const struct rack *r, char *err,
                       size_t errlen)
{
    if (dev->server < 0 || dev->server >= r->nservers) {
        snprintf(err, errlen, "server index %d is not in the rack", dev->server);
        return NULL;
    }
    struct ipmi *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const struct rack_server *s = &r->servers[dev->server];
    d->server = dev->server;
    snprintf(d->server_id, sizeof(d->server_id), "%s", s->id);
    d->power_mw = s->power_mw;
    /* FreeIPMI reads "host:port"; an IPv6 address is written in brackets */
    snprintf(d->host, sizeof(d->host), strchr(dev->host, ':') ? "[%s]:%d" : "%s:%d", dev->host,
             dev->port > 0 ? dev->port : 623);
    snprintf(d->user, sizeof(d->user), "%s", dev->user);
    d->privilege = (uint8_t)(dev->privilege ? dev->privilege : IPMI_PRIVILEGE_LEVEL_OPERATOR);
    d->cipher = (uint8_t)(dev->cipher_suite ? dev->cipher_suite : 3);
    static const unsigned wa[][2] = {
        {RACKFILE_IPMI_WA_OPENSESSPRIV, IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE},
        {RACKFILE_IPMI_WA_INTEL20, IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_INTEL_2_0_SESSION},
        {RACKFILE_IPMI_WA_SUPERMICRO20, IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_SUPERMICRO_2_0_SESSION},
        {RACKFILE_IPMI_WA_SUN20, IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_SUN_2_0_SESSION}};
    for (size_t k = 0; k < sizeof(wa) / sizeof(wa[0]); k++)
        if (dev->ipmi_workarounds & wa[k][0])
            d->workarounds |= wa[k][1];
    int64_t t = dev->timeout_ns > 0 ? dev->timeout_ns / 1000000 : 5000;
    d->timeout_ms = (unsigned)(t < 100 ? 100 : t);
    d->seen = -1;
    d->first = true;
    d->drew = rack_server_draws(s);
    d->shed = s->state == RACK_SRV_SHED;
    d->want = d->drew ? WANT_ON : d->shed ? WANT_OFF : WANT_UNDECIDED;
    d->cap_mw = s->state == RACK_SRV_CAPPED ? s->alloc_mw : 0;
    d->dcmi = -1;
    d->st.unit = 0;
    snprintf(d->st.kind, sizeof(d->st.kind), "ipmi-bmc");
    snprintf(d->st.state, sizeof(d->st.state), "absent");
    d->st.last_ok_ns = INT64_MIN;
    char perr[256];
    if (ipmi_read_password(dev->password_file, d->password, sizeof(d->password), perr,
                           sizeof(perr))) {
        snprintf(err, errlen, "bmc of %s: %s", d->server_id, perr);
        ipmi_close(d);
        return NULL;
    }
    if (!(d->status_rs = fiid_obj_create(tmpl_cmd_get_chassis_status_rs)) ||
        !(d->control_rs = fiid_obj_create(tmpl_cmd_chassis_control_rs)) ||
        !(d->limit_rs = fiid_obj_create(tmpl_cmd_dcmi_set_power_limit_rs)) ||
        !(d->activate_rs = fiid_obj_create(tmpl_cmd_dcmi_activate_deactivate_power_limit_rs))) {
        snprintf(err, errlen, "out of memory");
        ipmi_close(d);
        return NULL;
    }
    return d;
}

/* The last error, for the device's counters and the caller's err. */
static void say(struct ipmi *d, char *err, size_t errlen, const char *what, const char *why)
{
    snprintf(err, errlen, "bmc of %s at %s: %s%s", d->server_id, d->host, what, why);
    snprintf(d->st.last_error, sizeof(d->st.last_error), "%s", err);
}

/* A failed command's error: whether the session is still good (the BMC
 * answered with a completion code) or must be opened again. */
static bool session_lost(int e)
{
    return e == IPMI_ERR_SESSION_TIMEOUT || e == IPMI_ERR_CONNECTION_TIMEOUT ||
           e == IPMI_ERR_MESSAGE_TIMEOUT || e == IPMI_ERR_DEVICE_NOT_OPEN ||
           e == IPMI_ERR_SYSTEM_ERROR || e == IPMI_ERR_INTERNAL_ERROR ||
           e == IPMI_ERR_BAD_RMCPPLUS_STATUS_CODE || e == IPMI_ERR_IPMI_ERROR;
}

static const char *hint(int e)
{
    switch (e) {
    case IPMI_ERR_USERNAME_INVALID:
    case IPMI_ERR_PASSWORD_INVALID:
    case IPMI_ERR_PASSWORD_VERIFICATION_TIMEOUT:
        return " (check user and password_file)";
    case IPMI_ERR_PRIVILEGE_LEVEL_CANNOT_BE_OBTAINED:
        return " (the BMC user needs the privilege given, operator by default; some BMCs, "
               "ipmi_sim among them, need workarounds: [opensesspriv])";
    case IPMI_ERR_PRIVILEGE_LEVEL_INSUFFICIENT:
        return " (the BMC user needs the privilege given, operator by default)";
    case IPMI_ERR_CIPHER_SUITE_ID_UNAVAILABLE:
        return " (set cipher_suite to one the BMC offers)";
    default:
        return "";
    }
}

static int session(struct ipmi *d, char *err, size_t errlen)
{
    if (d->ctx)
        return 0;
    if (!(d->ctx = ipmi_ctx_create())) {
        say(d, err, errlen, "cannot open a session", ": out of memory");
        return -1;
    }
    /* FreeIPMI retransmits within the session timeout: four tries */
    unsigned retrans = d->timeout_ms / 4;
    if (ipmi_ctx_open_outofband_2_0(d->ctx, d->host, d->user, d->password, NULL, 0, d->privilege,
                                    d->cipher, d->timeout_ms, retrans ? retrans : 1, d->workarounds,
                                    IPMI_FLAGS_DEFAULT) < 0) {
        int e = ipmi_ctx_errnum(d->ctx);
        char why[200];
        snprintf(why, sizeof(why), ": %s%s", ipmi_ctx_errormsg(d->ctx), hint(e));
        say(d, err, errlen, "cannot open a session", why);
        if (e == IPMI_ERR_SESSION_TIMEOUT || e == IPMI_ERR_CONNECTION_TIMEOUT)
            d->st.timeouts++;
        ipmi_ctx_destroy(d->ctx);
        d->ctx = NULL;
        return -1;
    }
    snprintf(d->st.state, sizeof(d->st.state), "live");
    return 0;
}

/* After a command failed: its error in err; the session dropped when it is
 * no longer good. Returns -1. */
static int failed(struct ipmi *d, const char *what, char *err, size_t errlen)
{
    int e = ipmi_ctx_errnum(d->ctx);
    char why[200];
    snprintf(why, sizeof(why), ": %s%s", ipmi_ctx_errormsg(d->ctx), hint(e));
    say(d, err, errlen, what, why);
    if (e == IPMI_ERR_SESSION_TIMEOUT || e == IPMI_ERR_MESSAGE_TIMEOUT ||
        e == IPMI_ERR_CONNECTION_TIMEOUT)
        d->st.timeouts++;
    else
        d->st.exceptions++;
    if (session_lost(e))
        drop_session(d);
    return -1;
}

/* Reads the chassis power state into *on. */
static int read_power(struct ipmi *d, int *on, char *err, size_t errlen)
{
    if (session(d, err, errlen))
        return -1;
    uint64_t v = 0;
    if (fiid_obj_clear(d->status_rs) < 0 || ipmi_cmd_get_chassis_status(d->ctx, d->status_rs) < 0)
        return failed(d, "get chassis status", err, errlen);
    if (FIID_OBJ_GET(d->status_rs, "current_power_state.power_is_on", &v) < 0) {
        say(d, err, errlen, "get chassis status", ": no power state in the answer");
        d->st.exceptions++;
        return -1;
    }
    *on = v ? 1 : 0;
    d->st.ok++;
    d->st.last_ok_ns = mono_ns();
    return 0;
}

static const char *control_name(uint8_t c)
{
    return c == IPMI_CHASSIS_CONTROL_POWER_UP     ? "chassis power on"
           : c == IPMI_CHASSIS_CONTROL_POWER_DOWN ? "chassis power off"
                                                  : "chassis soft-shutdown";
}

static int control(struct ipmi *d, uint8_t c, char *err, size_t errlen)
{
    d->st.writes++;
    if (session(d, err, errlen)) {
        d->st.write_errors++;
        return -1;
    }
    if (fiid_obj_clear(d->control_rs) < 0 ||
        ipmi_cmd_chassis_control(d->ctx, c, d->control_rs) < 0) {
        d->st.write_errors++;
        return failed(d, control_name(c), err, errlen);
    }
    d->st.ok++;
    d->st.last_ok_ns = mono_ns();
    return 0;
}

/* A BMC without the DCMI power limit: said in the device's counters (every
 * poll shows it), and the cap left to the other devices. Not an error. */
static bool no_dcmi(struct ipmi *d, const char *what)
{
    int e = ipmi_ctx_errnum(d->ctx);
    if (e != IPMI_ERR_COMMAND_INVALID_OR_UNSUPPORTED && e != IPMI_ERR_BAD_COMPLETION_CODE &&
        e != IPMI_ERR_PRIVILEGE_LEVEL_INSUFFICIENT)
        return false;
    d->dcmi = 0;
    snprintf(d->st.last_error, sizeof(d->st.last_error),
             "bmc of %s has no DCMI power limit (%s: %s): caps are not enforced by it",
             d->server_id, what, ipmi_ctx_errormsg(d->ctx));
    return true;
}

/* The DCMI power limit: set and activated at cap_mw, or deactivated (0). */
static int set_limit(struct ipmi *d, int64_t cap_mw, char *err, size_t errlen)
{
    if (d->dcmi == 0 || (cap_mw == 0 && !d->cap_active))
        return 0;
    d->st.writes++;
    if (session(d, err, errlen)) {
        d->st.write_errors++;
        return -1;
    }
    if (cap_mw > 0) {
        int64_t w = (cap_mw + 999) / 1000; /* the BMC takes whole watts: never below the cap */
        if (w > IPMI_DCMI_POWER_LIMIT_REQUESTED_MAX)
            w = IPMI_DCMI_POWER_LIMIT_REQUESTED_MAX;
        /* above the limit for the correction time: log it, never power off
         * (shedding is the controller's decision) */
        if (fiid_obj_clear(d->limit_rs) < 0 ||
            ipmi_cmd_dcmi_set_power_limit(d->ctx, IPMI_DCMI_EXCEPTION_ACTION_LOG_EVENT_TO_SEL_ONLY,
                                          (uint16_t)w, 1000, 1, d->limit_rs) < 0) {
            if (no_dcmi(d, "set power limit"))
                return 0;
            d->st.write_errors++;
            return failed(d, "set power limit", err, errlen);
        }
    }
    uint8_t act = cap_mw > 0 ? IPMI_DCMI_POWER_LIMIT_ACTIVATION_ACTIVATE_POWER_LIMIT
                             : IPMI_DCMI_POWER_LIMIT_ACTIVATION_DEACTIVATE_POWER_LIMIT;
    if (fiid_obj_clear(d->activate_rs) < 0 ||
        ipmi_cmd_dcmi_activate_deactivate_power_limit(d->ctx, act, d->activate_rs) < 0) {
        if (no_dcmi(d, "activate power limit"))
            return 0;
        d->st.write_errors++;
        return failed(d, "activate power limit", err, errlen);
    }
    d->dcmi = 1;
    d->cap_active = cap_mw > 0;
    d->st.ok++;
    return 0;
}

/* Sends what want asks of a server whose power is seen (-1 unknown). */
static int apply(struct ipmi *d, int seen, char *err, size_t errlen)
{
    int rc = 0;
    switch (d->want) {
    case WANT_ON:
        if (seen != 1)
            rc = control(d, IPMI_CHASSIS_CONTROL_POWER_UP, err, errlen);
        if (!rc)
            rc = set_limit(d, d->cap_mw, err, errlen);
        break;
    case WANT_OFF:
        /* sent even when seen off: a hard power off is what a shed is */
        rc = control(d, IPMI_CHASSIS_CONTROL_POWER_DOWN, err, errlen);
        break;
    case WANT_SOFT:
        if (seen != 0)
            rc = control(d, IPMI_CHASSIS_CONTROL_INITIATE_SOFT_SHUTDOWN, err, errlen);
        break;
    case WANT_UNDECIDED:
        break;
    }
    d->resend = rc != 0;
    return rc;
}

static int ipmi_act(void *inst, const struct policy_action *a, char *err, size_t errlen)
{
    struct ipmi *d = inst;
    if (a->server != d->server)
        return 0;
    switch (a->kind) {
    case POLICY_ACT_GRANT:
    case POLICY_ACT_RESTORE:
    case POLICY_ACT_CAP:
        d->want = WANT_ON;
        d->expect_off = false;
        d->cap_mw = a->watts_mw > 0 && (a->kind == POLICY_ACT_CAP || a->watts_mw < d->power_mw)
                        ? a->watts_mw
                        : 0;
        /* on already (as last read) needs no power command; a grant to a
         * server seen off powers it on */
        return apply(d, a->kind == POLICY_ACT_CAP ? 1 : d->seen, err, errlen);
    case POLICY_ACT_SHED:
    case POLICY_ACT_RELEASE:
        d->want = WANT_OFF;
        d->cap_mw = 0;
        /* a release of a server seen off (it shut down by itself) needs no
         * command; a shed is always sent */
        if (a->kind == POLICY_ACT_RELEASE && d->seen == 0)
            return 0;
        return apply(d, d->seen, err, errlen);
    case POLICY_ACT_SOFT_OFF:
        d->want = WANT_SOFT;
        return apply(d, d->seen, err, errlen);
    case POLICY_ACT_STAGE:
        d->expect_off = a->stage == POLICY_STAGE_OB_LB;
        return 0;
    default:
        return 0;
    }
}

/* What a read of the BMC tells, from the power seen before (prev) to now. */
static void on_read(struct ipmi *d, int prev, int on, struct driver_report *out)
{
    (void)driver_report_read(out, d->server); /* out of memory: older for a poll */
    if (d->first) {
        d->first = false;
        if (d->drew && !on) {
            d->want = WANT_OFF; /* the lower power stands until the policy decides */
            (void)driver_report_found(out, d->server, 0);
        } else if (d->want == WANT_ON && on && d->cap_mw > 0) {
            d->resend = true; /* the rack's cap is put back at the BMC */
        } else if (d->want == WANT_UNDECIDED && on) {
            (void)driver_report_input_note(out, POLICY_POWER_ON, d->server, 0,
                                           "its BMC shows it on");
        }
        return;
    }
    if (prev == on)
        return;
    switch (d->want) {
    case WANT_UNDECIDED:
        (void)driver_report_input_note(out, on ? POLICY_POWER_ON : POLICY_POWER_OFF, d->server, 0,
                                       "its BMC shows it %s by itself", on ? "on" : "off");
        break;
    case WANT_ON:
        if (!on && !d->expect_off) {
            d->want = WANT_OFF; /* not powered back on to match the grant */
            (void)driver_report_input_note(out, POLICY_LOST_POWER, d->server, 0,
                                           "its BMC shows it off without a decision");
        }
        break;
    case WANT_OFF:
    case WANT_SOFT:
        break;
    }
}

static int ipmi_poll(void *inst, int timeout_ms, struct driver_report *out, char *err,
                     size_t errlen)
{
    (void)timeout_ms; /* bounded by the session's own timeout (timeout_ms of the entry) */
    struct ipmi *d = inst;
    int on = -1;
    int rc = read_power(d, &on, err, errlen);
    if (!rc) {
        int prev = d->seen;
        d->seen = on;
        on_read(d, prev, on, out);
        /* a server on against a shed is powered off again; a command that
         * could not be sent is sent now */
        if ((d->want == WANT_OFF && on) || d->resend)
            rc = apply(d, on, err, errlen);
    }
    (void)driver_report_unit(out, &d->st);
    return rc;
}

const struct driver_ops ipmi_ops = {
    .kind = "ipmi",
    .open = ipmi_open,
    .poll = ipmi_poll,
    .act = ipmi_act,
    .close = ipmi_close,
};
