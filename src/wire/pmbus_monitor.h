/*
 * pmbus_monitor.h - a PSU's health debounced from its alarm bits, the way
 * deployed PSU monitors do, and a host's brownout debounced across its PSUs.
 *
 * Pure: what one read showed goes in (which alarms were set, or that the
 * read failed), news comes out; no I/O, no clock. The hwmon driver feeds it
 * from sysfs alarm files (src/drivers/hwmon.c), as the Modbus driver feeds
 * orv3_monitor (orv3.h) from registers.
 *
 * An alarm source is one bit of the PMBus status registers (a hwmon alarm
 * file maps onto one). It becomes active after fault_reads consecutive reads
 * that show it (pgood_reads for an output-lost alarm) and inactive after
 * clear_reads clean ones. The health is pmbus_status_health() of the active
 * bits, with one rule on top: an input fault (vin lcrit/crit) fails the PSU,
 * because hwmon does not show STATUS_INPUT's "unit off" nor OFF, and the
 * PMBus default response to VIN UV/OV faults is to shut the converter down.
 * comm_reads failed reads in a row are a comm loss; the first good read
 * after it is comm back, and the health is said again (the policy took the
 * PSU as unknown meanwhile).
 */
#ifndef PMBUS_MONITOR_H
#define PMBUS_MONITOR_H

#include <stdbool.h>
#include <stddef.h>

#include "pmbus.h"

#define PMBUS_MONITOR_MAX_ALARMS 128

struct pmbus_monitor_config {
    int fault_reads; /* consecutive reads showing an alarm before it counts: 3 */
    int pgood_reads; /* same for output-lost alarms (VOUT_UV_FAULT): 5 */
    int clear_reads; /* consecutive clean reads before an alarm is over: 3 */
    int comm_reads;  /* consecutive failed reads before a comm loss: 3 */
};
void pmbus_monitor_config_default(struct pmbus_monitor_config *c);

struct pmbus_alarm {
    unsigned reg;     /* PMBUS_STATUS_WORD or a sub-register it maps to */
    unsigned bit;     /* its bit there */
    bool pgood;       /* output lost: needs pgood_reads */
    bool input_fault; /* vin fault: fails the PSU, counts for brownouts */
    int on, off;      /* consecutive reads set / clear */
    bool active;      /* debounced */
};

/* What changed since it was last told, in this order. */
enum pmbus_news {
    PMBUS_NEWS_NONE,
    PMBUS_NEWS_COMM_LOST, /* comm_reads failed reads in a row */
    PMBUS_NEWS_COMM_BACK, /* a good read after a comm loss; the health follows */
    PMBUS_NEWS_HEALTH,    /* the debounced health changed: pmbus_monitor_health */
};

struct pmbus_monitor {
    struct pmbus_monitor_config cfg;
    int nalarms;
    struct pmbus_alarm alarms[PMBUS_MONITOR_MAX_ALARMS];
    int failed_reads;
    bool comm_lost;
    enum pmbus_health level; /* of the debounced alarms */
    bool told_comm_lost;     /* what the news last said */
    int told_level;          /* enum pmbus_health, or -1 to say it again */
};

/* cfg NULL: defaults. Values below 1 are taken as 1. The PSU is taken as
 * healthy until its reads show otherwise (nothing to tell at first). */
void pmbus_monitor_init(struct pmbus_monitor *m, const struct pmbus_monitor_config *cfg);
/* Adds an alarm source; returns its index (the order of set[] below), or -1
 * when there are PMBUS_MONITOR_MAX_ALARMS already. */
int pmbus_monitor_add_alarm(struct pmbus_monitor *m, unsigned reg, unsigned bit, bool pgood,
                            bool input_fault);

/* One good read: set[i] says whether alarm i showed (n of them; alarms
 * beyond n were not read and keep their state). */
void pmbus_monitor_feed(struct pmbus_monitor *m, const bool *set, int n);
/* One read that failed. */
void pmbus_monitor_feed_fail(struct pmbus_monitor *m);

/* The next news, marked as told; PMBUS_NEWS_NONE when nothing is new. While
 * the comm loss lasts the health is not told (it is not known). */
enum pmbus_news pmbus_monitor_next(struct pmbus_monitor *m);

/* Health of the debounced alarms (the rule above); reason as
 * pmbus_status_health (may be NULL). */
enum pmbus_health pmbus_monitor_health(const struct pmbus_monitor *m, char *reason, size_t len);

/*
 * A brownout across the PSUs of one host: a round is one when at least one
 * PSU read fine and every PSU that read fine shows an input fault. Debounced
 * like a fault: fault_reads such rounds make it active, clear_reads other
 * rounds end it. Rounds where no PSU reads fine change nothing.
 */
struct pmbus_blackout {
    int fault_reads, clear_reads;
    int on_rounds, off_rounds;
    bool active;   /* debounced */
    bool reported; /* what the last news said */
};
void pmbus_blackout_init(struct pmbus_blackout *b, const struct pmbus_monitor_config *cfg);
/* One round: present PSUs read fine, all_fault whether every one of them
 * showed an input fault. */
void pmbus_blackout_feed(struct pmbus_blackout *b, size_t present, bool all_fault);
/* True when the debounced state differs from what was last told (b->active
 * says which); it is then marked told. */
bool pmbus_blackout_news(struct pmbus_blackout *b);
/* Per-PSU news should wait: a blackout is suspected, on, or not yet told
 * over (the PSUs' own news catch up once it is). */
bool pmbus_blackout_mute(const struct pmbus_blackout *b);

#endif
