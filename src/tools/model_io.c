/*
 * model_io.c - the model file from disk (model_io.h).
 */
#include "model_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODEL_MAX_BYTES (1 << 20) /* a model is a few hundred bytes */

int model_read(const char *path, struct risk_model *m, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(MODEL_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = fread(buf, 1, MODEL_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > MODEL_MAX_BYTES) {
        snprintf(err, errlen, "%s: %s", path, bad ? "read error" : "larger than 1 MiB");
        free(buf);
        return -1;
    }
    char perr[200];
    int rc = risk_model_parse(buf, n, m, perr, sizeof(perr));
    free(buf);
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", path, perr);
    return rc;
}

const char *model_default_path(void)
{
    if (access(RP_MODEL_INSTALLED, R_OK) == 0)
        return RP_MODEL_INSTALLED;
    return RP_MODEL_SOURCE;
}
