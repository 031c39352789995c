/*
 * commands.h - the API's commands (power on and off, out of service and
 * back, a prediction cleared) and the operator's out-of-service overlay.
 *
 * The overlay: an operator may take a PSU or a bus out of service; the
 * policy then sees it failed whatever its device says. What the devices
 * say meanwhile is kept, so that "back in service" becomes what they last
 * said: a repair, a derating, or nothing (it stays failed, and the journal
 * says why). The flags are kept in the ledger (ledger.h).
 *
 * A command is decided and journaled through the decider (decide.h) and
 * answered as the API's JSON body (docs/api.md). Loop thread only.
 */
#ifndef COMMANDS_H
#define COMMANDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "decide.h"
#include "hub.h"
#include "policy.h"
#include "rack.h"

/* What the devices say about a PSU's health, apart from the operator. */
struct commands_psu_seen {
    bool failed;
    bool unknown;       /* its health cannot be read */
    int64_t derated_mw; /* 0: full capacity */
};

struct commands_overlay {
    bool *psu_oos;                        /* per PSU: out of service by the operator */
    bool bus_oos[RACK_MAX_BUSES];         /* per bus */
    struct commands_psu_seen *psu_seen;   /* per PSU: the devices' word */
    bool bus_seen_failed[RACK_MAX_BUSES]; /* per bus: the devices' word */
};

/* For rack r: every element in service, healthy as far as anyone said.
 * 0, or -1 when out of memory. */
int commands_overlay_init(struct commands_overlay *ov, const struct rack *r);
void commands_overlay_fini(struct commands_overlay *ov);

/*
 * Whether a device's word about health (psu and bus fail, degrade, repair)
 * reaches the policy: not while the operator holds the element out of
 * service; the word is kept for when it comes back. Other inputs pass; an
 * input naming no element does not.
 */
bool commands_pass_health(struct commands_overlay *ov, const struct rack *r,
                          const struct policy_input *in);

/*
 * Runs an operator's command: decides and journals it, and returns the
 * HTTP status with *body the JSON answer (malloc'd; NULL when out of
 * memory): 200 with the events journaled, 404 when c names nothing, 409
 * when it cannot be done as asked (an out of service that would shed
 * without force, a prediction cleared on a PSU not at risk), 503 when the
 * journal could not be written (nothing was done). HUB_PSU_RISK_CLEAR
 * tells only the policy: the caller forgets the predictor's window.
 */
int commands_run(struct decider *d, struct commands_overlay *ov, const struct hub_cmd *c,
                 char **body);

/*
 * What a decision caused, as a command's answer lists it (docs/api.md
 * "consequences"): one object per action of acts but an ignored one, named
 * in rack r; a shed, cap, restore or release says in was_w what its server
 * drew in before (the rack before the decision; NULL: not said). NULL when
 * out of memory.
 */
json_t *commands_consequences(const struct rack *r, const struct policy_actions *acts,
                              const struct rack *before);

#endif
