/*
 * nut_probe.c - the nut driver (src/drivers/nut.c) driven by hand, for
 * tests/driver_nut.sh: loads a daemon config, opens the driver of its first
 * `kind: nut` device as rackpowerd's device worker would, and then does what
 * each line of stdin says, printing one answer line each (flushed):
 *   poll             -> "poll rc=R ms=T err=E", one "reserve ID unread=U
 *                       flags=F status=S charge=C runtime=R watts=W" per
 *                       reading, one "note N" when the report has a note
 *   stage SERVER ST  -> "stage rc=R ms=T err=E" (ST: OL, OB or OB_LB)
 *   other KIND       -> "other rc=R": an action the driver does not execute
 *   quit
 * Its first line is "open ok", or "open failed: ERR" (exit 2).
 * Usage: nut_probe CONFIG [TIMEOUT_MS]
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemonconf.h"
#include "driver.h"
#include "driver_conf.h"
#include "monoclock.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: nut_probe CONFIG [TIMEOUT_MS]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* as rackpowerd: a upsd that hangs up is an error return */
    struct rack r;
    struct rackfile_daemon d;
    char err[512];
    if (rackfile_load_config(argv[1], driver_conf_keys, &r, &d, err, sizeof(err))) {
        printf("open failed: %s\n", err);
        return 2;
    }
    const struct rackfile_device *dev = NULL;
    for (size_t i = 0; i < d.ndevices && !dev; i++)
        if (d.devices[i].kind == RACKFILE_DEV_NUT)
            dev = &d.devices[i];
    const struct driver_ops *ops = driver_find(RACKFILE_DEV_NUT);
    if (!dev || !ops) {
        printf("open failed: no nut device in %s\n", argv[1]);
        return 2;
    }
    int timeout_ms = argc > 2 ? atoi(argv[2]) : (int)(dev->timeout_ns / 1000000);
    err[0] = '\0';
    void *inst = ops->open(dev, &r, err, sizeof(err));
    if (!inst) {
        printf("open failed: %s\n", err);
        fflush(stdout);
        rackfile_daemon_free(&d);
        rack_free(&r);
        return 2;
    }
    printf("open ok\n");
    fflush(stdout);
    struct driver_report rep = {0};
    char line[256];
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        char cmd[32] = "", a1[64] = "", a2[64] = "";
        if (sscanf(line, "%31s %63s %63s", cmd, a1, a2) < 1)
            continue;
        err[0] = '\0';
        int64_t t0 = mono_ns();
        if (!strcmp(cmd, "quit")) {
            break;
        } else if (!strcmp(cmd, "poll")) {
            driver_report_clear(&rep);
            int rc = ops->poll(inst, timeout_ms, &rep, err, sizeof(err));
            printf("poll rc=%d ms=%" PRId64 " err=%s\n", rc, (mono_ns() - t0) / 1000000, err);
            for (size_t k = 0; k < rep.nreserves; k++) {
                const struct driver_reserve_reading *x = &rep.reserves[k];
                printf("reserve %s unread=%d flags=0x%02x status=%s charge=%d runtime=%" PRId64
                       " watts=%g\n",
                       r.reserves[x->reserve].id, x->unread, x->flags,
                       x->status[0] ? x->status : "-", x->charge_pct, x->runtime_s, x->watts);
            }
            if (rep.note[0])
                printf("note %s\n", rep.note);
        } else if (!strcmp(cmd, "stage")) {
            int s = rack_find_server(&r, a1);
            int st = !strcmp(a2, "OL")      ? POLICY_STAGE_OL
                     : !strcmp(a2, "OB")    ? POLICY_STAGE_OB
                     : !strcmp(a2, "OB_LB") ? POLICY_STAGE_OB_LB
                                            : atoi(a2);
            struct policy_action a = {
                .kind = POLICY_ACT_STAGE, .server = s, .psu = -1, .stage = st};
            int rc = ops->act(inst, &a, err, sizeof(err));
            printf("stage rc=%d ms=%" PRId64 " err=%s\n", rc, (mono_ns() - t0) / 1000000, err);
        } else if (!strcmp(cmd, "other")) {
            int s = rack_find_server(&r, a1);
            struct policy_action a = {.kind = POLICY_ACT_SHED, .server = s, .psu = -1};
            printf("other rc=%d\n", ops->act(inst, &a, err, sizeof(err)));
        } else {
            printf("unknown %s\n", cmd);
        }
        fflush(stdout);
    }
    ops->close(inst);
    driver_report_free(&rep);
    rackfile_daemon_free(&d);
    rack_free(&r);
    return 0;
}
