/*
 * control.c - the simulator's control protocol: a line of the timeline's
 * words and ids becomes policy inputs. Pure (no I/O): the control socket
 * (serve_ctl.c) and the fuzz target call it.
 */
#include "control.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const enum policy_input_kind words[] = {
    POLICY_POWER_ON,    POLICY_POWER_OFF,   POLICY_REMOVE,   POLICY_PSU_FAIL,
    POLICY_PSU_DEGRADE, POLICY_PSU_REPAIR,  POLICY_BUS_FAIL, POLICY_BUS_REPAIR,
    POLICY_FEED_FAIL,   POLICY_FEED_REPAIR, POLICY_REPORT,
};

static int find_id(const struct rack *r, enum policy_input_kind k, const char *id)
{
    switch (policy_input_target(k)) {
    case POLICY_TARGET_SERVER:
        return rack_find_server(r, id);
    case POLICY_TARGET_PSU:
        return rack_find_psu(r, id);
    case POLICY_TARGET_BUS:
        return rack_find_bus(r, id);
    case POLICY_TARGET_FEED:
        return rack_find_feed(r, id);
    case POLICY_TARGET_NONE:
        break;
    }
    return -1;
}

int control_parse(const struct rack *r, const char *line, struct policy_input *in, size_t max,
                  size_t *n, char *err, size_t errlen)
{
    char buf[1024];
    const char *tok[64];
    size_t ntok = 0;
    *n = 0;
    if (strlen(line) >= sizeof(buf)) {
        snprintf(err, errlen, "line too long (at most %zu characters)", sizeof(buf) - 1);
        return -1;
    }
    strcpy(buf, line);
    for (char *p = buf; *p;) {
        while (*p && isspace((unsigned char)*p))
            *p++ = 0;
        if (!*p)
            break;
        if (ntok == sizeof(tok) / sizeof(*tok)) {
            snprintf(err, errlen, "too many words (at most %zu)", sizeof(tok) / sizeof(*tok));
            return -1;
        }
        tok[ntok++] = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
    }
    if (ntok == 0 || tok[0][0] == '#')
        return 0;
    int kind = -1;
    for (size_t k = 0; k < sizeof(words) / sizeof(*words); k++)
        if (strcmp(tok[0], policy_input_name(words[k])) == 0)
            kind = (int)words[k];
    if (kind < 0) {
        snprintf(err, errlen,
                 "unknown command '%.64s' (expected power_on, power_off, remove, psu_fail, "
                 "psu_degrade, psu_repair, bus_fail, bus_repair, feed_fail, feed_repair, report)",
                 tok[0]);
        return -1;
    }
    enum policy_input_kind k = (enum policy_input_kind)kind;
    const char *word = policy_input_name(k);
    if (k == POLICY_PSU_DEGRADE || k == POLICY_REPORT) {
        if (ntok != 3) {
            snprintf(err, errlen, "%s: expected a %s and watts, e.g. '%s'", word,
                     policy_target_name(policy_input_target(k)),
                     k == POLICY_REPORT ? "report db1 612" : "psu_degrade ps4 1500");
            return -1;
        }
    } else if (ntok < 2) {
        snprintf(err, errlen, "%s: expected one or more %s ids", word,
                 policy_target_name(policy_input_target(k)));
        return -1;
    }
    size_t nids = (k == POLICY_PSU_DEGRADE || k == POLICY_REPORT) ? 1 : ntok - 1;
    if (nids > max) {
        snprintf(err, errlen, "%s: too many ids (at most %zu)", word, max);
        return -1;
    }
    int64_t mw = 0;
    if (k == POLICY_PSU_DEGRADE || k == POLICY_REPORT) {
        char *end;
        errno = 0;
        double w = strtod(tok[2], &end);
        if (errno || *end || end == tok[2] || !isfinite(w) || w < 0 || w > 10000000) {
            snprintf(err, errlen, "%s: watts must be a number from 0 to 10000000, got '%.32s'",
                     word, tok[2]);
            return -1;
        }
        mw = llround(w * 1000);
    }
    for (size_t j = 0; j < nids; j++) {
        int idx = find_id(r, k, tok[1 + j]);
        if (idx < 0) {
            snprintf(err, errlen, "%s: unknown %s '%.40s'", word,
                     policy_target_name(policy_input_target(k)), tok[1 + j]);
            return -1;
        }
        in[j] = (struct policy_input){.kind = k, .index = idx, .watts_mw = mw};
    }
    *n = nids;
    return 0;
}
