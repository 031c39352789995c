/*
 * hwmon.c - one PSU through Linux hwmon: discovery by label, snapshots,
 * debounced health, brownout detection and waiting on alarm notifications.
 *
 * Health is decided by src/wire/pmbus.c: the active alarm files are mapped
 * back onto the PMBus status bits the kernel derived them from, so hwmon and
 * a direct PMBus reader share one set of rules.
 */
#include "hwmon.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "pmbus.h"
#include "pmbus_monitor.h"
#include "grow.h"

#define FILE_LEN 48    /* longest attribute name we track */
#define MAX_SENSORS 64 /* labelled in/curr/power sensors */

enum type { T_IN, T_CURR, T_POWER, T_TEMP, T_FAN, T_NONE };
enum role { R_OTHER, R_VIN, R_VOUT, R_IIN, R_IOUT, R_PIN, R_POUT, R_TEMP, R_FAN };
enum suffix { S_ALARM, S_MIN, S_MAX, S_LCRIT, S_CRIT, S_CAP, S_EMERGENCY, S_FAULT, S_OTHER };

/* An alarm file; its debouncing is the monitor's alarm of the same index. */
struct alarm {
    char file[FILE_LEN];
    int fd;       /* kept open on sysfs for poll(), else -1 */
    bool latched; /* seen set since the last good snapshot */
};

struct hwmon {
    char dir[PATH_MAX - FILE_LEN - 2];
    char id[HWMON_ID_LEN];
    char name[64];
    struct hwmon_config cfg;
    int vin, vout, iin, iout, pin, pout; /* sensor numbers, -1 = absent */
    bool pout_cap, pout_max;
    int ntemps, temps[HWMON_MAX_TEMPS];
    int nfans, fans[HWMON_MAX_FANS];
    int nalarms;
    struct alarm alarms[HWMON_MAX_ALARMS];

    struct pmbus_monitor mon; /* the debouncer (pure: src/wire/pmbus_monitor.h) */
    struct hwmon_snapshot last_good, last_bad;
};

void hwmon_config_default(struct hwmon_config *c)
{
    c->fault_reads = 3;
    c->pgood_reads = 5;
    c->clear_reads = 3;
    c->comm_reads = 3;
    c->derate_pct = 50;
}

/* ---- small file helpers ---- */

static void errno_text(int e, char *buf, size_t len)
{
    if (e == ENODATA)
        snprintf(buf, len, "empty");
    else if (e == EFBIG)
        snprintf(buf, len, "value too long");
    else if (strerror_r(e, buf, len) != 0)
        snprintf(buf, len, "error %d", e);
}

/* Reads a small text file from offset 0 into buf, trailing whitespace cut.
 * Returns 0, or -1 with errno (ENODATA: empty, EFBIG: too long). */
static int read_fd_text(int fd, char *buf, size_t len)
{
    size_t n = 0;
    if (lseek(fd, 0, SEEK_SET) < 0)
        return -1;
    for (;;) {
        ssize_t k = read(fd, buf + n, len - 1 - n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (n == len - 1) {
            char extra;
            ssize_t more = read(fd, &extra, 1);
            if (more != 0) {
                errno = more < 0 ? errno : EFBIG;
                return -1;
            }
            break;
        }
    }
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    if (n == 0) {
        errno = ENODATA;
        return -1;
    }
    return 0;
}

static int read_path_text(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = read_fd_text(fd, buf, len);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* A decimal integer with optional surrounding whitespace. Bounded so that
 * unit conversions cannot overflow: 1e15 µW is a gigawatt. Returns 0, or
 * -1 with a message for file in err. */
static int parse_value(const char *file, const char *s, int64_t *v, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    bool range = errno == ERANGE;
    if (end == s) {
        snprintf(err, errlen, "%s: not a number: \"%.16s\"", file, s);
        return -1;
    }
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0') {
        snprintf(err, errlen, "%s: not a number: \"%.16s\"", file, s);
        return -1;
    }
    if (range || x > 1000000000000000LL || x < -1000000000000000LL) {
        snprintf(err, errlen, "%s: value out of range: \"%.24s\"", file, s);
        return -1;
    }
    *v = x;
    return 0;
}

static bool on_sysfs(int fd)
{
    struct statfs st;
    return fstatfs(fd, &st) == 0 && st.f_type == SYSFS_MAGIC;
}

/* ---- discovery ---- */

static const char *const type_prefix[] = {"in", "curr", "power", "temp", "fan"};

/* "curr2_max_alarm" -> T_CURR, 2, "max_alarm". */
static enum type parse_attr(const char *name, int *no, const char **rest)
{
    for (int t = T_IN; t < T_NONE; t++) {
        size_t len = strlen(type_prefix[t]);
        if (strncmp(name, type_prefix[t], len) != 0 || !isdigit((unsigned char)name[len]))
            continue;
        const char *p = name + len;
        int v = 0, digits = 0;
        while (isdigit((unsigned char)*p) && digits < 5) {
            v = v * 10 + (*p - '0');
            p++;
            digits++;
        }
        if (*p != '_')
            return T_NONE;
        *no = v;
        *rest = p + 1;
        return (enum type)t;
    }
    return T_NONE;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

static enum suffix parse_suffix(const char *rest)
{
    static const struct {
        const char *s;
        enum suffix v;
    } map[] = {
        {"alarm", S_ALARM},
        {"min_alarm", S_MIN},
        {"max_alarm", S_MAX},
        {"lcrit_alarm", S_LCRIT},
        {"crit_alarm", S_CRIT},
        {"cap_alarm", S_CAP},
        {"emergency_alarm", S_EMERGENCY},
        {"fault", S_FAULT},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(rest, map[i].s) == 0)
            return map[i].v;
    return S_OTHER;
}

struct sensor {
    enum type type;
    int no;
    enum role role;
    int rank; /* 0: "vout1", 1: "vout", 2: "vout2".. - the lowest reads for the PSU */
};

static enum role label_role(enum type t, const char *label, int *rank)
{
    static const struct {
        enum type t;
        const char *exact, *plain, *prefix;
        enum role r;
    } map[] = {
        {T_IN, "vin", "vin", "vin", R_VIN},    {T_IN, "vout1", "vout", "vout", R_VOUT},
        {T_CURR, "iin", "iin", "iin", R_IIN},  {T_CURR, "iout1", "iout", "iout", R_IOUT},
        {T_POWER, "pin", "pin", "pin", R_PIN}, {T_POWER, "pout1", "pout", "pout", R_POUT},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].t != t)
            continue;
        if (strcmp(label, map[i].exact) == 0) {
            *rank = 0;
            return map[i].r;
        }
        if (strcmp(label, map[i].plain) == 0) {
            *rank = 1;
            return map[i].r;
        }
        if (strncmp(label, map[i].prefix, strlen(map[i].prefix)) == 0) {
            *rank = 2;
            return map[i].r;
        }
    }
    *rank = 3;
    return R_OTHER;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

struct names {
    char **v;
    size_t n, cap;
};

static void names_free(struct names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
}

static int list_dir(const char *dir, struct names *ns, char *err, size_t errlen)
{
    char et[96];
    DIR *d = opendir(dir);
    if (!d) {
        errno_text(errno, et, sizeof(et));
        snprintf(err, errlen, "%s: %s", dir, et);
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strlen(de->d_name) >= FILE_LEN)
            continue;
        if (grow_to((void **)&ns->v, &ns->cap, ns->n + 1, sizeof(*ns->v), 64, 0))
            goto oom;
        if (!(ns->v[ns->n] = strdup(de->d_name)))
            goto oom;
        ns->n++;
    }
    closedir(d);
    if (ns->n) /* an empty directory has no array: qsort must not see NULL */
        qsort(ns->v, ns->n, sizeof(*ns->v), cmp_str);
    return 0;
oom:
    closedir(d);
    snprintf(err, errlen, "%s: out of memory", dir);
    return -1;
}

static bool names_has(const struct names *ns, const char *name)
{
    return bsearch(&name, ns->v, ns->n, sizeof(*ns->v), cmp_str) != NULL;
}

/* Where an alarm of this sensor and kind lands in the PMBus status registers:
 * its monitor alarm (reg, bit, pgood, input_fault). */
static void map_alarm(struct pmbus_alarm *a, enum role role, enum suffix sfx, int no)
{
    unsigned reg = PMBUS_STATUS_WORD, bit = PMBUS_SW_UNKNOWN;
    switch (role) {
    case R_VIN:
        reg = PMBUS_STATUS_INPUT;
        bit = sfx == S_LCRIT  ? PMBUS_INPUT_VIN_UV_FAULT
              : sfx == S_CRIT ? PMBUS_INPUT_VIN_OV_FAULT
              : sfx == S_MIN  ? PMBUS_INPUT_VIN_UV_WARN
              : sfx == S_MAX  ? PMBUS_INPUT_VIN_OV_WARN
                              : 0;
        a->input_fault = sfx == S_LCRIT || sfx == S_CRIT;
        break;
    case R_VOUT:
        reg = PMBUS_STATUS_VOUT;
        bit = sfx == S_LCRIT  ? PMBUS_VOUT_UV_FAULT
              : sfx == S_CRIT ? PMBUS_VOUT_OV_FAULT
              : sfx == S_MIN  ? PMBUS_VOUT_UV_WARN
              : sfx == S_MAX  ? PMBUS_VOUT_OV_WARN
                              : 0;
        a->pgood = sfx == S_LCRIT;
        break;
    case R_IIN:
        reg = PMBUS_STATUS_INPUT;
        bit = sfx == S_CRIT                    ? PMBUS_INPUT_IIN_OC_FAULT
              : sfx == S_MAX || sfx == S_ALARM ? PMBUS_INPUT_IIN_OC_WARN
                                               : 0;
        break;
    case R_IOUT:
        reg = PMBUS_STATUS_IOUT;
        bit = sfx == S_CRIT                    ? PMBUS_IOUT_OC_FAULT
              : sfx == S_LCRIT                 ? PMBUS_IOUT_UC_FAULT
              : sfx == S_MAX || sfx == S_ALARM ? PMBUS_IOUT_OC_WARN
                                               : 0;
        break;
    case R_PIN:
        reg = PMBUS_STATUS_INPUT;
        bit = sfx == S_MAX || sfx == S_ALARM ? PMBUS_INPUT_PIN_OP_WARN : 0;
        break;
    case R_POUT:
        reg = PMBUS_STATUS_IOUT;
        bit = sfx == S_CRIT                    ? PMBUS_IOUT_POUT_OP_FAULT
              : sfx == S_CAP                   ? PMBUS_IOUT_POWER_LIMITING
              : sfx == S_MAX || sfx == S_ALARM ? PMBUS_IOUT_POUT_OP_WARN
                                               : 0;
        break;
    case R_TEMP:
        reg = PMBUS_STATUS_TEMPERATURE;
        bit = sfx == S_CRIT || sfx == S_EMERGENCY ? PMBUS_TEMP_OT_FAULT
              : sfx == S_LCRIT                    ? PMBUS_TEMP_UT_FAULT
              : sfx == S_MIN                      ? PMBUS_TEMP_UT_WARN
              : sfx == S_MAX || sfx == S_ALARM    ? PMBUS_TEMP_OT_WARN
                                                  : 0;
        break;
    case R_FAN:
        /* STATUS_FANS_1_2 has two fans; fan3.. fold onto them by parity
         * (the alarm file name in events says which fan it was). */
        reg = PMBUS_STATUS_FANS_1_2;
        if (sfx == S_FAULT)
            bit = no % 2 ? PMBUS_FAN1_FAULT : PMBUS_FAN2_FAULT;
        else
            bit = no % 2 ? PMBUS_FAN1_WARN : PMBUS_FAN2_WARN;
        break;
    case R_OTHER:
        break;
    }
    if (bit == 0) {
        /* An alarm kind with no PMBus twin: the summary bit of its class
         * (a warning), or UNKNOWN for sensors of no known role. */
        static const unsigned summary[] = {
            [R_OTHER] = PMBUS_SW_UNKNOWN,  [R_VIN] = PMBUS_SW_INPUT,
            [R_VOUT] = PMBUS_SW_VOUT,      [R_IIN] = PMBUS_SW_INPUT,
            [R_IOUT] = PMBUS_SW_IOUT_POUT, [R_PIN] = PMBUS_SW_INPUT,
            [R_POUT] = PMBUS_SW_IOUT_POUT, [R_TEMP] = PMBUS_SW_TEMPERATURE,
            [R_FAN] = PMBUS_SW_FANS,
        };
        reg = PMBUS_STATUS_WORD;
        bit = summary[role];
    }
    a->reg = reg;
    a->bit = bit;
}

static int check_config(const struct hwmon_config *c, char *err, size_t errlen)
{
    const struct {
        const char *name;
        int v, lo, hi;
    } f[] = {
        {"fault_reads", c->fault_reads, 1, 1000}, {"pgood_reads", c->pgood_reads, 1, 1000},
        {"clear_reads", c->clear_reads, 1, 1000}, {"comm_reads", c->comm_reads, 1, 1000},
        {"derate_pct", c->derate_pct, 0, 100},
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (f[i].v < f[i].lo || f[i].v > f[i].hi) {
            snprintf(err, errlen, "hwmon: %s is %d, must be %d..%d", f[i].name, f[i].v, f[i].lo,
                     f[i].hi);
            return -1;
        }
    return 0;
}

static void path_of(const struct hwmon *h, const char *file, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", h->dir, file);
}

/* Reads one alarm, keeping a sysfs fd open for poll(). Sets latched when set. */
static int read_alarm(struct hwmon *h, struct alarm *a, char *err, size_t errlen)
{
    char buf[32], et[96];
    int64_t v;
    if (a->fd < 0) {
        char path[PATH_MAX];
        path_of(h, a->file, path, sizeof(path));
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            goto fail;
        if (on_sysfs(fd)) {
            a->fd = fd;
        } else {
            int rc = read_fd_text(fd, buf, sizeof(buf));
            int e = errno;
            close(fd);
            errno = e;
            if (rc < 0)
                goto fail;
            goto parse;
        }
    }
    if (read_fd_text(a->fd, buf, sizeof(buf)) < 0) {
        int e = errno;
        close(a->fd); /* reopened by path next time: the device may be new */
        a->fd = -1;
        errno = e;
        goto fail;
    }
parse:
    if (parse_value(a->file, buf, &v, err, errlen) < 0)
        return -1;
    if (v != 0)
        a->latched = true;
    return 0;
fail:
    errno_text(errno, et, sizeof(et));
    snprintf(err, errlen, "%s: %s", a->file, et);
    return -1;
}

struct hwmon *hwmon_open(const char *dir, const char *id, const struct hwmon_config *cfg, char *err,
                         size_t errlen)
{
    struct hwmon_config defcfg;
    if (!cfg) {
        hwmon_config_default(&defcfg);
        cfg = &defcfg;
    }
    if (check_config(cfg, err, errlen) < 0)
        return NULL;
    if (!dir || strlen(dir) >= sizeof(((struct hwmon *)0)->dir)) {
        snprintf(err, errlen, "hwmon: directory name missing or too long");
        return NULL;
    }
    struct hwmon *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "hwmon: out of memory");
        return NULL;
    }
    snprintf(h->dir, sizeof(h->dir), "%s", dir);
    snprintf(h->id, sizeof(h->id), "%s", id ? id : dir);
    h->cfg = *cfg;
    struct pmbus_monitor_config mc = {.fault_reads = cfg->fault_reads,
                                      .pgood_reads = cfg->pgood_reads,
                                      .clear_reads = cfg->clear_reads,
                                      .comm_reads = cfg->comm_reads};
    pmbus_monitor_init(&h->mon, &mc); /* a PSU is assumed healthy until shown otherwise */

    struct names ns = {0};
    struct sensor sens[MAX_SENSORS];
    int nsens = 0;
    char path[PATH_MAX], buf[64], et[96];
    if (list_dir(dir, &ns, err, errlen) < 0)
        goto fail;

    path_of(h, "name", path, sizeof(path));
    if (read_path_text(path, h->name, sizeof(h->name)) < 0) {
        errno_text(errno, et, sizeof(et));
        snprintf(err, errlen, "%s: %s: not a hwmon directory", path, et);
        goto fail;
    }

    /* Labelled in/curr/power sensors, temps and fans that have an _input. */
    for (size_t i = 0; i < ns.n; i++) {
        int no;
        const char *rest;
        enum type t = parse_attr(ns.v[i], &no, &rest);
        if (t == T_NONE || strcmp(rest, "input") != 0)
            continue;
        if (t == T_TEMP) {
            if (h->ntemps < HWMON_MAX_TEMPS)
                h->temps[h->ntemps++] = no;
            continue;
        }
        if (t == T_FAN) {
            if (h->nfans < HWMON_MAX_FANS)
                h->fans[h->nfans++] = no;
            continue;
        }
        if (nsens == MAX_SENSORS)
            continue;
        struct sensor *s = &sens[nsens++];
        s->type = t;
        s->no = no;
        s->role = R_OTHER;
        s->rank = 3;
        char lname[FILE_LEN];
        snprintf(lname, sizeof(lname), "%s%d_label", type_prefix[t], no);
        path_of(h, lname, path, sizeof(path));
        if (names_has(&ns, lname) && read_path_text(path, buf, sizeof(buf)) == 0)
            s->role = label_role(t, buf, &s->rank);
    }
    qsort(h->temps, (size_t)h->ntemps, sizeof(int), cmp_int);
    qsort(h->fans, (size_t)h->nfans, sizeof(int), cmp_int);

    /* The reading sensor of each role: best rank, then lowest number. */
    int *slot[] = {[R_VIN] = &h->vin,   [R_VOUT] = &h->vout, [R_IIN] = &h->iin,
                   [R_IOUT] = &h->iout, [R_PIN] = &h->pin,   [R_POUT] = &h->pout};
    for (int r = R_VIN; r <= R_POUT; r++) {
        int best = -1;
        for (int i = 0; i < nsens; i++)
            if (sens[i].role == (enum role)r &&
                (best < 0 || sens[i].rank < sens[best].rank ||
                 (sens[i].rank == sens[best].rank && sens[i].no < sens[best].no)))
                best = i;
        *slot[r] = best < 0 ? -1 : sens[best].no;
    }
    if (h->vin < 0 && h->vout < 0 && h->iin < 0 && h->iout < 0 && h->pin < 0 && h->pout < 0) {
        snprintf(err, errlen,
                 "%s: no PSU sensors (no in/curr/power files labelled vin, vout1, iin, iout1, "
                 "pin or pout1)",
                 dir);
        goto fail;
    }
    if (h->pout >= 0) {
        char f[FILE_LEN];
        snprintf(f, sizeof(f), "power%d_cap", h->pout);
        h->pout_cap = names_has(&ns, f);
        snprintf(f, sizeof(f), "power%d_max", h->pout);
        h->pout_max = names_has(&ns, f);
    }

    /* Every alarm and fault file. */
    for (size_t i = 0; i < ns.n; i++) {
        int no;
        const char *rest;
        enum type t = parse_attr(ns.v[i], &no, &rest);
        if (t == T_NONE || !(strcmp(rest, "alarm") == 0 || ends_with(rest, "_alarm") ||
                             strcmp(rest, "fault") == 0))
            continue;
        if (h->nalarms == HWMON_MAX_ALARMS) {
            snprintf(err, errlen, "%s: more than %d alarm files", dir, HWMON_MAX_ALARMS);
            goto fail;
        }
        struct alarm *a = &h->alarms[h->nalarms++];
        snprintf(a->file, sizeof(a->file), "%s", ns.v[i]);
        a->fd = -1;
        enum role role = t == T_TEMP ? R_TEMP : t == T_FAN ? R_FAN : R_OTHER;
        for (int k = 0; k < nsens; k++)
            if (sens[k].type == t && sens[k].no == no)
                role = sens[k].role;
        struct pmbus_alarm pa = {0};
        map_alarm(&pa, role, parse_suffix(rest), no);
        /* same capacity as h->alarms: one monitor alarm per file, same index */
        (void)pmbus_monitor_add_alarm(&h->mon, pa.reg, pa.bit, pa.pgood, pa.input_fault);
    }
    names_free(&ns);

    /* Arm the notifications; a failure here shows again in hwmon_read. */
    for (int i = 0; i < h->nalarms; i++)
        (void)read_alarm(h, &h->alarms[i], buf, sizeof(buf));
    return h;
fail:
    names_free(&ns);
    hwmon_close(h);
    return NULL;
}

void hwmon_close(struct hwmon *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->nalarms; i++)
        if (h->alarms[i].fd >= 0)
            close(h->alarms[i].fd);
    free(h);
}

const char *hwmon_id(const struct hwmon *h)
{
    return h->id;
}

const char *hwmon_name(const struct hwmon *h)
{
    return h->name;
}

int hwmon_alarm_count(const struct hwmon *h)
{
    return h->nalarms;
}

const char *hwmon_alarm_name(const struct hwmon *h, int i)
{
    return i >= 0 && i < h->nalarms ? h->alarms[i].file : NULL;
}

/* ---- reading ---- */

/* Reads type<no>_<attr> as an integer. */
static int read_value(const struct hwmon *h, enum type t, int no, const char *attr, int64_t *v,
                      char *err, size_t errlen)
{
    char file[FILE_LEN], path[PATH_MAX], buf[32], et[96];
    snprintf(file, sizeof(file), "%s%d_%s", type_prefix[t], no, attr);
    path_of(h, file, path, sizeof(path));
    if (read_path_text(path, buf, sizeof(buf)) < 0) {
        errno_text(errno, et, sizeof(et));
        snprintf(err, errlen, "%s: %s", file, et);
        return -1;
    }
    return parse_value(file, buf, v, err, errlen);
}

static int64_t uw_to_mw(int64_t uw)
{
    return uw >= 0 ? (uw + 500) / 1000 : -((-uw + 500) / 1000);
}

int hwmon_read(struct hwmon *h, struct hwmon_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    s->vin_mv = s->vout_mv = s->iin_ma = s->iout_ma = HWMON_ABSENT;
    s->pin_mw = s->pout_mw = s->pout_cap_mw = s->pout_max_mw = HWMON_ABSENT;
    char *err = s->err;
    size_t errlen = sizeof(s->err);
    const struct {
        enum type t;
        int no;
        const char *attr;
        int64_t *out;
        bool uw;
    } rd[] = {
        {T_IN, h->vin, "input", &s->vin_mv, false},
        {T_IN, h->vout, "input", &s->vout_mv, false},
        {T_CURR, h->iin, "input", &s->iin_ma, false},
        {T_CURR, h->iout, "input", &s->iout_ma, false},
        {T_POWER, h->pin, "input", &s->pin_mw, true},
        {T_POWER, h->pout, "input", &s->pout_mw, true},
        {T_POWER, h->pout_cap ? h->pout : -1, "cap", &s->pout_cap_mw, true},
        {T_POWER, h->pout_max ? h->pout : -1, "max", &s->pout_max_mw, true},
    };
    for (size_t i = 0; i < sizeof(rd) / sizeof(rd[0]); i++) {
        if (rd[i].no < 0)
            continue;
        if (read_value(h, rd[i].t, rd[i].no, rd[i].attr, rd[i].out, err, errlen) < 0)
            goto fail;
        if (rd[i].uw)
            *rd[i].out = uw_to_mw(*rd[i].out);
    }
    for (int i = 0; i < h->ntemps; i++)
        if (read_value(h, T_TEMP, h->temps[i], "input", &s->temp_mc[i], err, errlen) < 0)
            goto fail;
    s->ntemps = h->ntemps;
    for (int i = 0; i < h->nfans; i++)
        if (read_value(h, T_FAN, h->fans[i], "input", &s->fan_rpm[i], err, errlen) < 0)
            goto fail;
    s->nfans = h->nfans;
    /* Alarms last and all of them even after a failure: each read clears
     * the device's latch, so what was read is kept (latched) for later. */
    int bad = 0;
    for (int i = 0; i < h->nalarms; i++) {
        char aerr[HWMON_REASON_LEN];
        if (read_alarm(h, &h->alarms[i], aerr, sizeof(aerr)) < 0 && !bad++)
            snprintf(err, errlen, "%s", aerr);
    }
    if (bad)
        goto fail;
    s->nalarms = h->nalarms;
    s->status_word = h->nalarms > 0 ? 0 : -1;
    for (int i = 0; i < h->nalarms; i++) {
        s->alarm[i] = h->alarms[i].latched;
        h->alarms[i].latched = false;
        if (s->alarm[i] && h->mon.alarms[i].input_fault)
            s->input_fault = true;
        if (s->alarm[i])
            s->status_word |= pmbus_status_word_bits(h->mon.alarms[i].reg, h->mon.alarms[i].bit);
    }
    s->valid = true;
    return 0;
fail:
    s->valid = false;
    return -1;
}

/* ---- health and debouncing (the monitor's; here the files behind it) ---- */

/* Health of the debounced alarms, and the alarm files behind it. */
static enum pmbus_health evaluate(const struct hwmon *h, char *reason, size_t rlen, char *alarms,
                                  size_t alen)
{
    size_t len = 0;
    if (alarms && alen)
        alarms[0] = '\0';
    for (int i = 0; i < h->nalarms && alarms; i++) {
        if (!h->mon.alarms[i].active || len >= alen)
            continue;
        int k = snprintf(alarms + len, alen - len, "%s%s", len ? " " : "", h->alarms[i].file);
        len = k < 0 ? alen : len + (size_t)k;
    }
    return pmbus_monitor_health(&h->mon, reason, rlen);
}

static void update(struct hwmon *h, const struct hwmon_snapshot *s)
{
    if (!s->valid) {
        h->last_bad = *s;
        pmbus_monitor_feed_fail(&h->mon);
        return;
    }
    h->last_good = *s;
    pmbus_monitor_feed(&h->mon, s->alarm, s->nalarms < h->nalarms ? s->nalarms : h->nalarms);
}

static void fill_event(struct hwmon_event *e, const struct hwmon *h, enum hwmon_event_kind k)
{
    memset(e, 0, sizeof(*e));
    e->kind = k;
    snprintf(e->psu, sizeof(e->psu), "%s", h->id);
    e->derated_mw = -1;
    e->derate_pct = h->cfg.derate_pct;
}

static void fill_health(struct hwmon_event *e, const struct hwmon *h)
{
    static const enum hwmon_event_kind kinds[] = {
        [PMBUS_HEALTH_OK] = HWMON_EV_OK,
        [PMBUS_HEALTH_DEGRADED] = HWMON_EV_DEGRADED,
        [PMBUS_HEALTH_FAILED] = HWMON_EV_FAILED,
    };
    char bits[HWMON_REASON_LEN];
    enum pmbus_health level = h->mon.level;
    fill_event(e, h, kinds[level]);
    e->raw = h->last_good;
    evaluate(h, bits, sizeof(bits), e->alarms, sizeof(e->alarms));
    if (level == PMBUS_HEALTH_OK) {
        snprintf(e->reason, sizeof(e->reason), "%s", bits[0] ? bits : "no alarms");
        return;
    }
    if (level == PMBUS_HEALTH_FAILED) {
        snprintf(e->reason, sizeof(e->reason), "%s", bits);
        return;
    }
    const struct hwmon_snapshot *r = &h->last_good;
    const char *src = NULL;
    if (r->pout_cap_mw != HWMON_ABSENT && r->pout_cap_mw > 0) {
        e->derated_mw = r->pout_cap_mw;
        src = "_cap";
    } else if (r->pout_max_mw != HWMON_ABSENT && r->pout_max_mw > 0) {
        e->derated_mw = r->pout_max_mw;
        src = "_max";
    }
    if (src)
        snprintf(e->reason, sizeof(e->reason), "%s; derated to %lld W (power%d%s)", bits,
                 (long long)(e->derated_mw / 1000), h->pout, src);
    else
        snprintf(e->reason, sizeof(e->reason), "%s; derated to %d %% of rated", bits,
                 h->cfg.derate_pct);
}

/* Emits the monitor's news: what changed since it was last told. */
static size_t report(struct hwmon *h, struct hwmon_event *ev, size_t maxev)
{
    size_t n = 0;
    enum pmbus_news k;
    while (n < maxev && (k = pmbus_monitor_next(&h->mon)) != PMBUS_NEWS_NONE) {
        struct hwmon_event *e = &ev[n++];
        switch (k) {
        case PMBUS_NEWS_COMM_LOST:
            fill_event(e, h, HWMON_EV_COMM_LOST);
            e->raw = h->last_bad;
            snprintf(e->reason, sizeof(e->reason), "%d failed reads: %s", h->mon.failed_reads,
                     h->last_bad.err);
            break;
        case PMBUS_NEWS_COMM_BACK:
            fill_event(e, h, HWMON_EV_COMM_BACK);
            e->raw = h->last_good;
            snprintf(e->reason, sizeof(e->reason), "reads work again");
            break;
        case PMBUS_NEWS_HEALTH:
        case PMBUS_NEWS_NONE:
            fill_health(e, h);
            break;
        }
    }
    return n;
}

size_t hwmon_step(struct hwmon *h, const struct hwmon_snapshot *s, struct hwmon_event *ev,
                  size_t maxev)
{
    update(h, s);
    return report(h, ev, maxev);
}

size_t hwmon_poll(struct hwmon *h, struct hwmon_snapshot *s, struct hwmon_event *ev, size_t maxev)
{
    hwmon_read(h, s);
    return hwmon_step(h, s, ev, maxev);
}

/* ---- brownouts ---- */

void hwmon_host_init(struct hwmon_host *host, const struct hwmon_config *cfg)
{
    struct hwmon_config d;
    if (!cfg) {
        hwmon_config_default(&d);
        cfg = &d;
    }
    struct pmbus_monitor_config mc = {.fault_reads = cfg->fault_reads,
                                      .clear_reads = cfg->clear_reads};
    pmbus_blackout_init(&host->b, &mc);
}

bool hwmon_blackout(const struct hwmon_snapshot *snaps, size_t n)
{
    size_t present = 0;
    for (size_t i = 0; i < n; i++) {
        if (!snaps[i].valid)
            continue;
        present++;
        if (!snaps[i].input_fault)
            return false;
    }
    return present > 0;
}

static void fill_blackout(struct hwmon_event *e, struct hwmon *const *psus,
                          const struct hwmon_snapshot *snaps, size_t n, bool on)
{
    memset(e, 0, sizeof(*e));
    e->kind = on ? HWMON_EV_BLACKOUT : HWMON_EV_BLACKOUT_OVER;
    e->derated_mw = -1;
    size_t rl = 0, al = 0, present = 0;
    if (!on) {
        snprintf(e->reason, sizeof(e->reason), "input faults cleared");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!snaps[i].valid)
            continue;
        present++;
        if (rl < sizeof(e->reason)) {
            int k = snprintf(e->reason + rl, sizeof(e->reason) - rl, "%s%s", rl ? " " : "",
                             psus[i]->id);
            rl = k < 0 ? sizeof(e->reason) : rl + (size_t)k;
        }
        for (int a = 0; a < snaps[i].nalarms && a < psus[i]->nalarms; a++) {
            if (!snaps[i].alarm[a] || !psus[i]->mon.alarms[a].input_fault ||
                al >= sizeof(e->alarms))
                continue;
            int k = snprintf(e->alarms + al, sizeof(e->alarms) - al, "%s%s:%s", al ? " " : "",
                             psus[i]->id, psus[i]->alarms[a].file);
            al = k < 0 ? sizeof(e->alarms) : al + (size_t)k;
        }
    }
    char ids[HWMON_REASON_LEN];
    snprintf(ids, sizeof(ids), "%s", e->reason);
    snprintf(e->reason, sizeof(e->reason), "input fault on all %zu present PSUs: %s", present, ids);
}

size_t hwmon_host_step(struct hwmon_host *host, struct hwmon *const *psus,
                       const struct hwmon_snapshot *snaps, size_t n, struct hwmon_event *ev,
                       size_t maxev)
{
    size_t present = 0, nev = 0;
    for (size_t i = 0; i < n; i++)
        present += snaps[i].valid;
    pmbus_blackout_feed(&host->b, present, hwmon_blackout(snaps, n));
    if (nev < maxev && pmbus_blackout_news(&host->b))
        fill_blackout(&ev[nev++], psus, snaps, n, host->b.active);
    /* Hold per-PSU news while a blackout is suspected, on, or not yet told. */
    bool mute = pmbus_blackout_mute(&host->b);
    for (size_t i = 0; i < n; i++) {
        update(psus[i], &snaps[i]);
        if (!mute)
            nev += report(psus[i], ev + nev, maxev - nev);
    }
    return nev;
}

/* ---- waiting ---- */

static void ack(struct alarm *a)
{
    char buf[32];
    int64_t v;
    if (a->fd < 0)
        return;
    if (read_fd_text(a->fd, buf, sizeof(buf)) < 0) {
        /* Gone (ENODEV after removal): sysfs would report it ready forever. */
        close(a->fd);
        a->fd = -1;
        return;
    }
    char err[HWMON_REASON_LEN];
    if (parse_value(a->file, buf, &v, err, sizeof(err)) == 0 && v != 0)
        a->latched = true;
}

size_t hwmon_fds(const struct hwmon *h, struct pollfd *out, size_t max)
{
    size_t k = 0;
    for (int i = 0; i < h->nalarms; i++) {
        if (h->alarms[i].fd < 0)
            continue;
        if (k < max)
            out[k] = (struct pollfd){.fd = h->alarms[i].fd, .events = POLLPRI | POLLERR};
        k++;
    }
    return k;
}

bool hwmon_notified(struct hwmon *h, const struct pollfd *pfds, size_t n)
{
    bool fired = false;
    for (size_t p = 0; p < n; p++) {
        if (pfds[p].fd < 0 || !(pfds[p].revents & (POLLPRI | POLLERR | POLLNVAL)))
            continue;
        for (int i = 0; i < h->nalarms; i++)
            if (h->alarms[i].fd == pfds[p].fd) {
                ack(&h->alarms[i]);
                fired = true;
                break;
            }
    }
    return fired;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hwmon_wait_many(struct hwmon *const *hs, size_t n, int timeout_ms, int wake_fd, bool *fired)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += hwmon_fds(hs[i], NULL, 0);
    struct pollfd *p = calloc(total + 1, sizeof(*p));
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += hwmon_fds(hs[i], p + k, total - k);
    if (wake_fd >= 0)
        p[k++] = (struct pollfd){.fd = wake_fd, .events = POLLIN};
    if (fired)
        memset(fired, 0, n * sizeof(*fired));

    int64_t deadline = timeout_ms < 0 ? 0 : now_ms() + timeout_ms;
    int left = timeout_ms, rc = HWMON_WAIT_TIMEOUT;
    for (;;) {
        int r = poll(p, (nfds_t)k, left);
        if (r < 0 && errno != EINTR) {
            rc = -1;
            break;
        }
        if (r > 0) {
            bool alarm = false;
            for (size_t i = 0; i < n; i++)
                if (hwmon_notified(hs[i], p, k)) {
                    alarm = true;
                    if (fired)
                        fired[i] = true;
                }
            if (alarm) {
                rc = HWMON_WAIT_ALARM;
                break;
            }
            if (wake_fd >= 0 && (p[k - 1].revents & POLLNVAL)) {
                errno = EBADF;
                rc = -1;
                break;
            }
            if (wake_fd >= 0 && (p[k - 1].revents & (POLLIN | POLLHUP | POLLERR))) {
                rc = HWMON_WAIT_WAKE;
                break;
            }
        }
        if (r == 0) {
            rc = HWMON_WAIT_TIMEOUT;
            break;
        }
        /* Interrupted or a stray revents: wait out what is left. */
        if (timeout_ms >= 0) {
            int64_t rem = deadline - now_ms();
            if (rem <= 0) {
                rc = HWMON_WAIT_TIMEOUT;
                break;
            }
            left = rem > INT_MAX ? INT_MAX : (int)rem;
        }
    }
    int e = errno;
    free(p);
    errno = e;
    return rc;
}

int hwmon_wait(struct hwmon *h, int timeout_ms)
{
    return hwmon_wait_many(&h, 1, timeout_ms, -1, NULL);
}

/* ---- mapping ---- */

int hwmon_event_policy_input(const struct hwmon_event *ev, int psu_index, int64_t rated_mw,
                             struct policy_input *out)
{
    memset(out, 0, sizeof(*out));
    out->index = psu_index;
    switch (ev->kind) {
    case HWMON_EV_FAILED:
        out->kind = POLICY_PSU_FAIL;
        return 1;
    case HWMON_EV_COMM_LOST:
        out->kind = POLICY_PSU_UNKNOWN;
        return 1;
    case HWMON_EV_DEGRADED: {
        int64_t w = ev->derated_mw >= 0 ? ev->derated_mw : rated_mw * ev->derate_pct / 100;
        if (rated_mw > 0 && w > rated_mw)
            w = rated_mw;
        out->kind = POLICY_PSU_DEGRADE;
        out->watts_mw = w < 0 ? 0 : w;
        return 1;
    }
    case HWMON_EV_OK:
        out->kind = POLICY_PSU_REPAIR;
        return 1;
    case HWMON_EV_COMM_BACK:
    case HWMON_EV_BLACKOUT:
    case HWMON_EV_BLACKOUT_OVER:
        break;
    }
    return 0;
}

const char *hwmon_event_name(enum hwmon_event_kind k)
{
    switch (k) {
    case HWMON_EV_OK:
        return "ok";
    case HWMON_EV_DEGRADED:
        return "degraded";
    case HWMON_EV_FAILED:
        return "failed";
    case HWMON_EV_COMM_LOST:
        return "comm_lost";
    case HWMON_EV_COMM_BACK:
        return "comm_back";
    case HWMON_EV_BLACKOUT:
        return "blackout";
    case HWMON_EV_BLACKOUT_OVER:
        return "blackout_over";
    }
    return "unknown";
}
