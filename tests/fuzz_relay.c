/*
 * fuzz_relay.c - libFuzzer target for what another controller forwards over
 * the rack bus (src/daemon/relay.h): a PSU forward (relay_decode) or a
 * command (relay_cmd_decode), by the first byte. Any bytes must decode or
 * fail with a message, never crash, never leak; a forward that decodes names
 * only the rack's PSUs and feeds, a reading kept for the history is a read
 * one of the rack's PSUs, and what the primary makes of it is inputs the
 * policy accepts; its reserves are the rack's, in range, or all refused
 * with a reason, and forwarded again by a controller that reads them they
 * come back the same within the budget the input's length sets; a command that decodes is one a
 * secondary forwards, from an operator or an admin, and says who asked via which node. Run: make
 * fuzz (tests/fuzz/relay holds the seeds).
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
static struct relay *rl, *sender;

/* six PSUs on two feeds, three reserves; this controller reads ps1, ps2
 * and bbu1; a sender reads every reserve */
static void rack_once(void)
{
    static const bool own[6] = {true, true, false, false, false, false};
    static const bool own_res[3] = {true, false, false}, all[3] = {true, true, true};
    if (relay_rack_build(&r))
        abort();
    rl = relay_new(&r, own, own_res, 500000000);
    sender = relay_new(&r, own, all, 500000000);
    if (!rl || !sender)
        abort();
    relay_primary(rl, 0);
}

/* The decoded reserves, taken by a sender that reads them and forwarded
 * within max_len: they decode again, within it, each reserve as its last
 * reading in f said (the sender keeps earlier inputs' reserves too). */
static void reserves_again(const struct relay_forward *f, size_t max_len)
{
    static struct relay_forward g;
    struct driver_report rep = {0};
    char err[300], *json = NULL;
    size_t left = 0;
    int last[RELAY_MAX_RESERVES]; /* of each reserve, its last reading in f; -1 none */
    for (size_t i = 0; i < sizeof(last) / sizeof(*last); i++)
        last[i] = -1;
    for (size_t k = 0; k < f->nreserves; k++) {
        driver_report_clear(&rep);
        if (driver_report_reserve(&rep, &f->reserves[k]))
            abort();
        relay_take_report(sender, &rep, f->res_t_ms[k]);
        last[f->reserves[k].reserve] = (int)k;
    }
    driver_report_free(&rep);
    if (relay_encode(sender, &r, "d", max_len, &json, &left))
        abort();
    if (relay_decode(json, strlen(json), &r, &g, err, sizeof(err)) || g.reserves_refused[0] ||
        (g.nreserves && strlen(json) > max_len))
        __builtin_trap();
    for (size_t j = 0; j < g.nreserves; j++) {
        int k = last[g.reserves[j].reserve];
        if (k < 0)
            continue;
        const struct driver_reserve_reading *x = &f->reserves[k], *y = &g.reserves[j];
        if (y->charge_pct != x->charge_pct || y->runtime_s != x->runtime_s ||
            y->watts != x->watts || y->flags != x->flags || g.res_t_ms[j] != f->res_t_ms[k])
            __builtin_trap();
    }
    free(json);
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
    if (f.nreserves > RELAY_MAX_RESERVES || (f.reserves_refused[0] && f.nreserves))
        __builtin_trap();
    for (size_t k = 0; k < f.nreserves; k++) {
        const struct driver_reserve_reading *x = &f.reserves[k];
        bool kept = relay_keep_reserve(rl, &f, k);
        if (x->reserve < 0 || x->reserve >= r.nreserves || x->charge_pct < -1 ||
            x->charge_pct > 100 || x->runtime_s < -1 || f.res_t_ms[k] < 0 ||
            (kept && x->reserve == 0)) /* bbu1: its own, never kept from another */
            __builtin_trap();
    }
    reserves_again(&f, size * 3);
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
