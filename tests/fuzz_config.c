/*
 * fuzz_config.c - libFuzzer target for rackpowerd's config file (a rack file
 * plus `devices:` and `api:`, src/conf/daemonconf.c, with every driver's keys
 * as rackpowerd loads it): any bytes must load or fail with a message, never
 * crash, never leak.
 * Run: make fuzz (tests/fuzz/config holds the seeds, with examples/ and contrib/).
 */
#include <stddef.h>
#include <stdint.h>

#include "daemonconf.h"
#include "driver_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rack r;
    struct rackfile_daemon d;
    char err[512];
    if (rackfile_load_config_string("fuzz.yaml", (const char *)data, size, driver_conf_keys, &r, &d,
                                    err, sizeof(err)) == 0) {
        rackfile_daemon_free(&d);
        rack_free(&r);
    } else if (err[0] == '\0') {
        __builtin_trap(); /* an error must say what is wrong */
    }
    return 0;
}
