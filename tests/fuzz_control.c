/*
 * fuzz_control.c - libFuzzer target for the simulator's control lines
 * (`rackpower-sim serve --control`, "psu_fail ps3", "psu_degrade ps4 1500"):
 * each line of the input is parsed by control_parse (control.h) against the demo rack, and
 * what parses is checked by phys_check and applied by phys_apply to the
 * physics, as the control socket does. Any line must be taken or refused with
 * a message, never crash. The physics start afresh for each input.
 * Run: make fuzz (tests/fuzz/control holds the seeds).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_simrack.h"
#include "control.h"
#include "physics.h"

#define MAX_INPUTS 64 /* as serve_ctl.c's control socket */
#define MAX_LINE 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct phys ph;
    if (phys_init(&ph, fuzz_demo_rack(), 1, 0, 0))
        return 0;
    int64_t now_ns = 0;
    size_t off = 0;
    while (off < size) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t len = nl ? (size_t)(nl - (data + off)) : size - off;
        if (len < MAX_LINE) {
            /* the line alone on the heap, so that reading past its end is a finding */
            char *line = malloc(len + 1);
            if (!line)
                break;
            memcpy(line, data + off, len);
            line[len] = '\0';
            struct policy_input in[MAX_INPUTS];
            size_t n = 0;
            char err[256] = "";
            int rc = control_parse(&ph.r, line, in, MAX_INPUTS, &n, err, sizeof(err));
            if (rc && !err[0])
                __builtin_trap(); /* a refusal says why */
            if (!rc && n > MAX_INPUTS)
                __builtin_trap();
            for (size_t k = 0; rc == 0 && k < n; k++)
                rc = phys_check(&ph, &in[k], err, sizeof(err));
            for (size_t k = 0; rc == 0 && k < n; k++) {
                now_ns += 1000000;
                phys_apply(&ph, &in[k], now_ns, err, sizeof(err));
            }
            ph.nev = 0;
            free(line);
        }
        off += len + 1;
    }
    phys_free(&ph);
    return 0;
}
