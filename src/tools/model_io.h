/*
 * model_io.h - reading a risk model file (src/core/risk.c parses it).
 */
#ifndef MODEL_IO_H
#define MODEL_IO_H

#include <stddef.h>

#include "risk.h"

/* Reads and parses path; 0, or -1 with err naming the file (and the line). */
int model_read(const char *path, struct risk_model *m, char *err, size_t errlen);
/* The default model's path: the installed one if it exists, else the
 * source tree's (a build run in place). */
const char *model_default_path(void);

#endif
