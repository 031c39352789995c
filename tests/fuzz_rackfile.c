/*
 * fuzz_rackfile.c - libFuzzer target for the rack and scenario file loader:
 * any bytes must load or fail with a message, never crash, never leak.
 * Build: cmake -S . -B build-fuzz -DRP_FUZZ=ON -DCMAKE_C_COMPILER=clang
 * Run:   build-fuzz/fuzz_rackfile -max_total_time=60 examples/
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rackfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rack r;
    struct rackfile_timeline tl;
    char err[512];
    if (rackfile_load_string("fuzz.yaml", (const char *)data, size, &r, &tl, err, sizeof(err)) ==
        0) {
        rackfile_timeline_free(&tl);
        rack_free(&r);
    } else if (err[0] == '\0') {
        __builtin_trap(); /* an error must say what is wrong */
    }
    return 0;
}
