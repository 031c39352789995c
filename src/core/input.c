/*
 * input.c - what a policy input names, and whether it fits a rack.
 *
 * One definition for the policy, the daemon and the simulator: each used to
 * carry its own switch over the input kinds.
 */
#include "policy.h"

#include <stdio.h>

static const char *const input_names[] = {
    [POLICY_POWER_ON] = "power_on",       [POLICY_POWER_OFF] = "power_off",
    [POLICY_REMOVE] = "remove",           [POLICY_PSU_FAIL] = "psu_fail",
    [POLICY_PSU_DEGRADE] = "psu_degrade", [POLICY_PSU_REPAIR] = "psu_repair",
    [POLICY_BUS_FAIL] = "bus_fail",       [POLICY_BUS_REPAIR] = "bus_repair",
    [POLICY_FEED_FAIL] = "feed_fail",     [POLICY_FEED_REPAIR] = "feed_repair",
    [POLICY_REPORT] = "report",           [POLICY_TICK] = "tick",
    [POLICY_PSU_UNKNOWN] = "psu_unknown", [POLICY_LOST_POWER] = "lost_power",
    [POLICY_OUTAGE_STOP] = "outage_stop", [POLICY_OUTAGE_RELEASE] = "outage_release",
    [POLICY_PSU_AT_RISK] = "psu_at_risk", [POLICY_PSU_RISK_CLEAR] = "psu_risk_clear",
};

static const char *const target_names[] = {
    [POLICY_TARGET_NONE] = "none", [POLICY_TARGET_SERVER] = "server", [POLICY_TARGET_PSU] = "psu",
    [POLICY_TARGET_BUS] = "bus",   [POLICY_TARGET_FEED] = "feed",
};

/* For messages: "2 buses", "1 feed". */
static const char *const target_plurals[] = {
    [POLICY_TARGET_NONE] = "none", [POLICY_TARGET_SERVER] = "servers", [POLICY_TARGET_PSU] = "psus",
    [POLICY_TARGET_BUS] = "buses", [POLICY_TARGET_FEED] = "feeds",
};

const char *policy_input_name(enum policy_input_kind k)
{
    return (unsigned)k < sizeof(input_names) / sizeof(*input_names) && input_names[k]
               ? input_names[k]
               : "?";
}

const char *policy_target_name(enum policy_target t)
{
    return (unsigned)t < sizeof(target_names) / sizeof(*target_names) ? target_names[t] : "?";
}

enum policy_target policy_input_target(enum policy_input_kind k)
{
    switch (k) {
    case POLICY_POWER_ON:
    case POLICY_POWER_OFF:
    case POLICY_REMOVE:
    case POLICY_REPORT:
    case POLICY_LOST_POWER:
    case POLICY_OUTAGE_STOP:
    case POLICY_OUTAGE_RELEASE:
        return POLICY_TARGET_SERVER;
    case POLICY_PSU_FAIL:
    case POLICY_PSU_DEGRADE:
    case POLICY_PSU_REPAIR:
    case POLICY_PSU_UNKNOWN:
    case POLICY_PSU_AT_RISK:
    case POLICY_PSU_RISK_CLEAR:
        return POLICY_TARGET_PSU;
    case POLICY_BUS_FAIL:
    case POLICY_BUS_REPAIR:
        return POLICY_TARGET_BUS;
    case POLICY_FEED_FAIL:
    case POLICY_FEED_REPAIR:
        return POLICY_TARGET_FEED;
    case POLICY_TICK:
        break;
    }
    return POLICY_TARGET_NONE;
}

static int target_count(const struct rack *r, enum policy_target t)
{
    switch (t) {
    case POLICY_TARGET_SERVER:
        return r->nservers;
    case POLICY_TARGET_PSU:
        return r->npsus;
    case POLICY_TARGET_BUS:
        return r->nbuses;
    case POLICY_TARGET_FEED:
        return r->nfeeds;
    case POLICY_TARGET_NONE:
        break;
    }
    return 0;
}

const char *policy_input_subject(const struct rack *r, const struct policy_input *in)
{
    enum policy_target t = policy_input_target(in->kind);
    if (in->index < 0 || in->index >= target_count(r, t))
        return NULL;
    switch (t) {
    case POLICY_TARGET_SERVER:
        return r->servers[in->index].id;
    case POLICY_TARGET_PSU:
        return r->psus[in->index].id;
    case POLICY_TARGET_BUS:
        return r->buses[in->index];
    case POLICY_TARGET_FEED:
        return r->feeds[in->index];
    case POLICY_TARGET_NONE:
        break;
    }
    return NULL;
}

int policy_input_check(const struct rack *r, const struct policy_input *in, char *err, size_t len)
{
    const char *name = policy_input_name(in->kind);
    if ((unsigned)in->kind >= sizeof(input_names) / sizeof(*input_names) ||
        !input_names[in->kind]) {
        snprintf(err, len, "unknown input kind %d", (int)in->kind);
        return -1;
    }
    enum policy_target t = policy_input_target(in->kind);
    if (t == POLICY_TARGET_NONE)
        return 0;
    int n = target_count(r, t);
    if (in->index < 0 || in->index >= n) {
        snprintf(err, len, "%s: no element %d in this rack (%d %s)", name, in->index, n,
                 n == 1 ? target_names[t] : target_plurals[t]);
        return -1;
    }
    const char *id = policy_input_subject(r, in);
    if (in->kind == POLICY_PSU_DEGRADE) {
        int64_t rated = r->psus[in->index].rated_mw;
        if (in->watts_mw <= 0 || in->watts_mw > rated) {
            snprintf(err, len,
                     "psu_degrade %s: capacity must be > 0 and at most its rated %g W, got %g W",
                     id, (double)rated / 1000, (double)in->watts_mw / 1000);
            return -1;
        }
    }
    if (in->kind == POLICY_REPORT && (in->watts_mw < 0 || in->watts_mw > POLICY_MAX_REPORT_MW)) {
        snprintf(err, len, "report %s: draw must be 0 to %g W, got %g W", id,
                 (double)POLICY_MAX_REPORT_MW / 1000, (double)in->watts_mw / 1000);
        return -1;
    }
    return 0;
}
