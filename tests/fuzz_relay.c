/*
 * fuzz_relay.c - libFuzzer target for what another controller forwards over
 * the rack bus (src/daemon/relay.h): a PSU forward (relay_decode) or a
 * command (relay_cmd_decode), by the first byte. Any bytes must decode or
 * fail with a message, never crash, never leak; a forward that decodes names
 * only the rack's PSUs and feeds, a reading kept for the history is a read
 * one of the rack's PSUs, and what the primary makes of it is inputs the
 * policy accepts; a command that decodes is one a secondary forwards,
 * from an operator or an admin, and says who asked via which node.
 * Run: make fuzz (tests/fuzz/relay holds the seeds).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "relay_rack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rack r;
static struct relay *rl;

/* six PSUs on two feeds; this controller reads ps1 and ps2 */
static void rack_once(void)
{
    static const bool own[6] = {true, true, false, false, false, false};
    if (relay_rack_build(&r))
        abort();
    rl = relay_new(&r, own, 500000000);
    if (!rl)
        abort();
    relay_primary(rl, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rl)
        rack_once();
    if (size < 1)
        return 0;
    char err[300] = "";
    if (data[0] & 1) {
        struct hub_cmd c = {0};
        if (relay_cmd_decode((const char *)data + 1, size - 1, 7, &c, err, sizeof(err)) == 0) {
            if (!relay_cmd_forwarded(c.kind) || !strstr(c.who, " via node 7") ||
                (strcmp(c.role, "operator") && strcmp(c.role, "admin")))
                __builtin_trap();
        } else if (!err[0]) {
            __builtin_trap();
        }
        return 0;
    }
    static struct relay_forward f;
    if (relay_decode((const char *)data + 1, size - 1, &r, &f, err, sizeof(err))) {
        if (!err[0])
            __builtin_trap();
        return 0;
    }
    for (size_t k = 0; k < f.npsus; k++) /* kept in the history: a read PSU of the rack */
        if (relay_keep_reading(rl, &f, k) &&
            (f.tel[k].unread || f.tel[k].psu < 0 || f.tel[k].psu >= r.npsus || f.t_ms[k] < -1))
            __builtin_trap();
    const struct relay_inputs *in = relay_heard(rl, 3, &f, &r, 1);
    for (size_t k = 0; k < in->n; k++)
        if (policy_input_check(&r, &in->in[k], err, sizeof(err)))
            __builtin_trap(); /* an input that names nothing of the rack got out */
    return 0;
}
