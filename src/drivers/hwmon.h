/*
 * hwmon.h - one PSU through the Linux hwmon interface (drivers/hwmon/pmbus),
 * its readings, and its health debounced the way deployed PSU monitors do.
 *
 * A struct hwmon is one /sys/class/hwmon/hwmonN directory (or a fixture tree
 * laid out the same way): `name`, in*_input/label (mV), curr*_input/label
 * (mA), power*_input/label (µW), temp*_input (m°C), fan*_input (RPM), and
 * every *_alarm and fan*_fault file. Sensors are found by label: vin, vout1,
 * iin, iout1, pin, pout1 (later pages' alarms count too).
 *
 * ALARM OWNERSHIP: reading an alarm file clears the latched status bit in
 * the device. Exactly one reader may own a PSU's alarms: this driver, in one
 * thread. Anything else (a status page, a shell, sensors(1)) that reads
 * *_alarm or *_fault files of the same device steals alarms from it. Readers
 * other than the owner take the snapshots this driver publishes.
 *
 * Threads: a struct hwmon is used by one thread at a time; blocking is
 * expected (run it in a worker). Nothing here asserts on what the files
 * hold: a missing file, an I/O error or a value that is not a number is a
 * failed read with a message.
 *
 * The usual worker loop, per host:
 *     for (;;) {
 *         for each psu i: hwmon_read(h[i], &snap[i]);
 *         n = hwmon_host_step(&host, h, snap, npsus, ev, maxev);  -> post ev
 *         hwmon_wait_many(h, npsus, 1000, wake_fd, NULL);
 *     }
 */
#ifndef HWMON_H
#define HWMON_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pmbus_monitor.h"
#include "policy.h"

#define HWMON_MAX_TEMPS 8
#define HWMON_MAX_FANS 8
#define HWMON_MAX_ALARMS 128
#define HWMON_ABSENT INT64_MIN /* a reading the device does not have */
#define HWMON_REASON_LEN 128
#define HWMON_ALARMS_LEN 256
#define HWMON_ID_LEN 32

/* Debounce and derating knobs; hwmon_config_default gives the defaults. */
struct hwmon_config {
    int fault_reads; /* consecutive reads showing an alarm before it counts: 3 */
    int pgood_reads; /* same for output-lost alarms (vout lcrit = VOUT_UV_FAULT): 5 */
    int clear_reads; /* consecutive clean reads before an alarm is over: 3 */
    int comm_reads;  /* consecutive failed reads before COMM_LOST: 3 */
    int derate_pct;  /* capacity of a degraded PSU whose device gives no figure: 50 */
};
void hwmon_config_default(struct hwmon_config *c);

/* One read of every file. Values are HWMON_ABSENT where the device has no
 * such sensor. */
struct hwmon_snapshot {
    bool valid; /* every file read; false: err says which failed and why */
    char err[HWMON_REASON_LEN];
    int64_t vin_mv, vout_mv;
    int64_t iin_ma, iout_ma;
    int64_t pin_mw, pout_mw;          /* hwmon gives µW; rounded to mW */
    int64_t pout_cap_mw, pout_max_mw; /* pout's power*_cap and power*_max */
    int ntemps;
    int64_t temp_mc[HWMON_MAX_TEMPS]; /* temp1.. in file order */
    int nfans;
    int64_t fan_rpm[HWMON_MAX_FANS];
    int nalarms;
    bool alarm[HWMON_MAX_ALARMS]; /* alarm i was set (hwmon_alarm_name) */
    bool input_fault;             /* a vin fault alarm (lcrit or crit) is set in this read */
    /* STATUS_WORD as far as the alarm files show it (pmbus_status_word_bits
     * of those set in this read); -1 when the device has no alarm files.
     * hwmon does not expose STATUS_WORD itself (docs/daemon.md "PSU readings"). */
    int32_t status_word;
};

enum hwmon_event_kind {
    HWMON_EV_OK,            /* the PSU is healthy again (after DEGRADED/FAILED/COMM_BACK) */
    HWMON_EV_DEGRADED,      /* delivering less: derated_mw / derate_pct */
    HWMON_EV_FAILED,        /* not delivering, or about to stop */
    HWMON_EV_COMM_LOST,     /* comm_reads consecutive reads failed */
    HWMON_EV_COMM_BACK,     /* a read succeeded again; a health event follows */
    HWMON_EV_BLACKOUT,      /* every present PSU of a host shows an input fault */
    HWMON_EV_BLACKOUT_OVER, /* the blackout is over; per-PSU events catch up after it */
};

/*
 * One event per episode: raised once when the debounced state changes,
 * cleared once when it changes back. It carries the reading that settled it.
 */
struct hwmon_event {
    enum hwmon_event_kind kind;
    char psu[HWMON_ID_LEN]; /* the id given to hwmon_open; "" for BLACKOUT* */
    /* DEGRADED: the device's own figure, pout's power*_cap, else power*_max
     * (mW), or -1 when it gives none: then derate_pct of the rated capacity. */
    int64_t derated_mw;
    int derate_pct;
    char reason[HWMON_REASON_LEN]; /* PMBus names of the active conditions, or the error */
    char alarms[HWMON_ALARMS_LEN]; /* the alarm files behind it: "temp1_crit_alarm fan1_fault" */
    struct hwmon_snapshot raw;     /* the read that completed the episode; empty for BLACKOUT* */
};

struct hwmon;

/*
 * Opens the hwmon directory dir for the PSU called id, finds its files and
 * reads every alarm once (arming the notifications; what it reads counts in
 * the first snapshot). cfg NULL takes the defaults. Returns NULL with a
 * message in err when dir is not a readable hwmon directory, has no `name`,
 * has none of the labelled sensors, has too many alarm files, or cfg is out
 * of range.
 */
struct hwmon *hwmon_open(const char *dir, const char *id, const struct hwmon_config *cfg, char *err,
                         size_t errlen);
void hwmon_close(struct hwmon *h);

const char *hwmon_id(const struct hwmon *h);
const char *hwmon_name(const struct hwmon *h); /* contents of `name`, e.g. "pmbus" */
int hwmon_alarm_count(const struct hwmon *h);
const char *hwmon_alarm_name(const struct hwmon *h, int i); /* "in2_lcrit_alarm" */

/*
 * Reads every file into s. Returns 0, or -1 with s->valid false and the
 * reason in s->err (the first file that could not be read or parsed).
 * An alarm seen by hwmon_wait since the last successful read is reported
 * set here even if the device has cleared it since.
 */
int hwmon_read(struct hwmon *h, struct hwmon_snapshot *s);

/*
 * Feeds one read (valid or not) to the debouncer and writes at most maxev
 * events (2 are enough: COMM_BACK and a health event). Returns how many.
 * An event that does not fit is not lost: it comes out of the next step.
 */
size_t hwmon_step(struct hwmon *h, const struct hwmon_snapshot *s, struct hwmon_event *ev,
                  size_t maxev);
/* hwmon_read then hwmon_step. */
size_t hwmon_poll(struct hwmon *h, struct hwmon_snapshot *s, struct hwmon_event *ev, size_t maxev);

/*
 * Brownout detection across the PSUs of one host. hwmon_blackout says
 * whether this round is one: at least one PSU read fine and every PSU that
 * read fine has input_fault set. hwmon_host_step steps each PSU and
 * debounces the blackout like a fault (fault_reads on, clear_reads off): it
 * writes one BLACKOUT event instead of N per-PSU failures, holds back the
 * per-PSU events while a blackout is suspected or on, and lets them catch up
 * (only where a PSU's state really differs) after BLACKOUT_OVER. Room for
 * 2 + 2 * n events avoids deferring any. Rounds where no PSU reads fine do
 * not change the blackout state. PSUs stepped here must not also be passed
 * to hwmon_step (each read would count twice).
 */
struct hwmon_host {
    struct pmbus_blackout b; /* the debouncing (pure: pmbus_monitor.h) */
};
void hwmon_host_init(struct hwmon_host *host, const struct hwmon_config *cfg);
bool hwmon_blackout(const struct hwmon_snapshot *snaps, size_t n);
size_t hwmon_host_step(struct hwmon_host *host, struct hwmon *const *psus,
                       const struct hwmon_snapshot *snaps, size_t n, struct hwmon_event *ev,
                       size_t maxev);

/*
 * Waiting without polling. The kernel wakes poll() with POLLPRI|POLLERR on
 * an alarm file when the device's SMBALERT# line is wired to an interrupt;
 * otherwise nothing ever fires and the timeout is the poll interval. Only
 * alarm files on sysfs are watched (a regular file, as in test fixtures, is
 * "no notifier"), so nothing spins. After a wake the fired files are read
 * again from offset 0 (re-arming them); what they say is kept for the next
 * hwmon_read.
 *
 * hwmon_wait_many waits on several PSUs at once, and on wake_fd (>= 0:
 * readable wakes it, e.g. a pipe for shutdown; it is not drained). fired, if
 * not NULL, gets per PSU whether one of its alarms fired. timeout_ms < 0
 * waits forever. Returns HWMON_WAIT_TIMEOUT, HWMON_WAIT_ALARM,
 * HWMON_WAIT_WAKE, or -1 (out of memory, poll failed) with errno set.
 */
enum { HWMON_WAIT_TIMEOUT = 0, HWMON_WAIT_ALARM = 1, HWMON_WAIT_WAKE = 2 };
int hwmon_wait(struct hwmon *h, int timeout_ms);
int hwmon_wait_many(struct hwmon *const *hs, size_t n, int timeout_ms, int wake_fd, bool *fired);

/*
 * For a caller's own loop (libuv, epoll): hwmon_fds writes up to max pollfds
 * (events POLLPRI|POLLERR) and returns how many h has; the set may change
 * after hwmon_read, so ask again after each. hwmon_notified takes the
 * polled array back (it ignores fds that are not h's), re-arms what fired
 * and returns true when one of h's alarms fired.
 */
size_t hwmon_fds(const struct hwmon *h, struct pollfd *out, size_t max);
bool hwmon_notified(struct hwmon *h, const struct pollfd *pfds, size_t n);

/*
 * What the policy should hear: FAILED -> POLICY_PSU_FAIL, COMM_LOST ->
 * POLICY_PSU_UNKNOWN (a PSU that cannot be read most likely still delivers:
 * it keeps serving but does not count for protection), DEGRADED -> POLICY_PSU_DEGRADE
 * at derated_mw, or derate_pct of rated_mw when the device gives no figure
 * (never above rated_mw), OK -> POLICY_PSU_REPAIR. COMM_BACK says nothing by
 * itself (the health event after it does); BLACKOUT* are the daemon's to map
 * onto the host's feeds. Returns 1 when *out was filled, 0 otherwise.
 */
int hwmon_event_policy_input(const struct hwmon_event *ev, int psu_index, int64_t rated_mw,
                             struct policy_input *out);

const char *hwmon_event_name(enum hwmon_event_kind k); /* "ok", "degraded", ... */

#endif
