/*
 * pmbus_monitor.c - debouncing a PSU's alarm bits and a host's brownout
 * (pmbus_monitor.h).
 */
#include "pmbus_monitor.h"

#include <string.h>

#define MAX_COUNT 1000000 /* counters stop here: no overflow on a long episode */

void pmbus_monitor_config_default(struct pmbus_monitor_config *c)
{
    c->fault_reads = 3;
    c->pgood_reads = 5;
    c->clear_reads = 3;
    c->comm_reads = 3;
}

static int at_least_1(int v)
{
    return v < 1 ? 1 : v;
}

void pmbus_monitor_init(struct pmbus_monitor *m, const struct pmbus_monitor_config *cfg)
{
    memset(m, 0, sizeof(*m));
    if (cfg)
        m->cfg = *cfg;
    else
        pmbus_monitor_config_default(&m->cfg);
    m->cfg.fault_reads = at_least_1(m->cfg.fault_reads);
    m->cfg.pgood_reads = at_least_1(m->cfg.pgood_reads);
    m->cfg.clear_reads = at_least_1(m->cfg.clear_reads);
    m->cfg.comm_reads = at_least_1(m->cfg.comm_reads);
    m->level = PMBUS_HEALTH_OK;
    m->told_level = PMBUS_HEALTH_OK;
}

int pmbus_monitor_add_alarm(struct pmbus_monitor *m, unsigned reg, unsigned bit, bool pgood,
                            bool input_fault)
{
    if (m->nalarms == PMBUS_MONITOR_MAX_ALARMS)
        return -1;
    struct pmbus_alarm *a = &m->alarms[m->nalarms];
    memset(a, 0, sizeof(*a));
    a->reg = reg;
    a->bit = bit;
    a->pgood = pgood;
    a->input_fault = input_fault;
    return m->nalarms++;
}

static void count_up(int *c)
{
    if (*c < MAX_COUNT)
        (*c)++;
}

static void set_status(struct pmbus_status *st, unsigned reg, unsigned bit)
{
    switch (reg) {
    case PMBUS_STATUS_VOUT:
        st->vout |= (uint8_t)bit;
        st->word |= PMBUS_SW_VOUT;
        break;
    case PMBUS_STATUS_IOUT:
        st->iout |= (uint8_t)bit;
        st->word |= PMBUS_SW_IOUT_POUT;
        break;
    case PMBUS_STATUS_INPUT:
        st->input |= (uint8_t)bit;
        st->word |= PMBUS_SW_INPUT;
        break;
    case PMBUS_STATUS_TEMPERATURE:
        st->temperature |= (uint8_t)bit;
        st->word |= PMBUS_SW_TEMPERATURE;
        break;
    case PMBUS_STATUS_FANS_1_2:
        st->fans |= (uint8_t)bit;
        st->word |= PMBUS_SW_FANS;
        break;
    default:
        st->word |= (uint16_t)bit;
        break;
    }
}

enum pmbus_health pmbus_monitor_health(const struct pmbus_monitor *m, char *reason, size_t len)
{
    struct pmbus_status st = {.have = PMBUS_HAVE_ALL};
    bool input_fault = false;
    for (int i = 0; i < m->nalarms; i++) {
        const struct pmbus_alarm *a = &m->alarms[i];
        if (!a->active)
            continue;
        set_status(&st, a->reg, a->bit);
        input_fault |= a->input_fault;
    }
    enum pmbus_health h = pmbus_status_health(&st, reason, len);
    return input_fault ? PMBUS_HEALTH_FAILED : h;
}

void pmbus_monitor_feed(struct pmbus_monitor *m, const bool *set, int n)
{
    m->failed_reads = 0;
    m->comm_lost = false;
    for (int i = 0; i < m->nalarms && i < n; i++) {
        struct pmbus_alarm *a = &m->alarms[i];
        int need = a->pgood ? m->cfg.pgood_reads : m->cfg.fault_reads;
        if (set[i]) {
            a->off = 0;
            count_up(&a->on);
            if (a->on >= need)
                a->active = true;
        } else {
            a->on = 0;
            count_up(&a->off);
            if (a->off >= m->cfg.clear_reads)
                a->active = false;
        }
    }
    m->level = pmbus_monitor_health(m, NULL, 0);
}

void pmbus_monitor_feed_fail(struct pmbus_monitor *m)
{
    count_up(&m->failed_reads);
    if (m->failed_reads >= m->cfg.comm_reads)
        m->comm_lost = true;
}

enum pmbus_news pmbus_monitor_next(struct pmbus_monitor *m)
{
    if (m->comm_lost && !m->told_comm_lost) {
        m->told_comm_lost = true;
        return PMBUS_NEWS_COMM_LOST;
    }
    if (!m->comm_lost && m->told_comm_lost) {
        m->told_comm_lost = false;
        m->told_level = -1; /* say the health again: the comm loss made it unknown */
        return PMBUS_NEWS_COMM_BACK;
    }
    if (!m->comm_lost && m->told_level != (int)m->level) {
        m->told_level = (int)m->level;
        return PMBUS_NEWS_HEALTH;
    }
    return PMBUS_NEWS_NONE;
}

/* ---- brownouts ---- */

void pmbus_blackout_init(struct pmbus_blackout *b, const struct pmbus_monitor_config *cfg)
{
    struct pmbus_monitor_config d;
    if (!cfg) {
        pmbus_monitor_config_default(&d);
        cfg = &d;
    }
    memset(b, 0, sizeof(*b));
    b->fault_reads = at_least_1(cfg->fault_reads);
    b->clear_reads = at_least_1(cfg->clear_reads);
}

void pmbus_blackout_feed(struct pmbus_blackout *b, size_t present, bool all_fault)
{
    if (present == 0)
        return;
    if (all_fault) {
        b->off_rounds = 0;
        count_up(&b->on_rounds);
        if (b->on_rounds >= b->fault_reads)
            b->active = true;
    } else {
        b->on_rounds = 0;
        count_up(&b->off_rounds);
        if (b->off_rounds >= b->clear_reads)
            b->active = false;
    }
}

bool pmbus_blackout_news(struct pmbus_blackout *b)
{
    if (b->active == b->reported)
        return false;
    b->reported = b->active;
    return true;
}

bool pmbus_blackout_mute(const struct pmbus_blackout *b)
{
    return b->active || b->reported || b->on_rounds > 0;
}
