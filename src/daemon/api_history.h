/*
 * api_history.h - GET /v1/history/psu/{id}?from=&to=&step= (docs/api.md,
 * docs/history.md): a PSU's history as JSON, read from the history's file
 * with a read-only connection of the request's own. Apart from api.c so
 * that it is tested without HTTP.
 */
#ifndef API_HISTORY_H
#define API_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_HISTORY_MAX_ROWS 20000

/* A time: Unix seconds ("1764614400", "1764614400.5"), "now", or before now
 * ("-90s", "-15m", "-24h", "-7d"). now_ms: the clock. 0 and *ms, or -1. */
int api_history_time(const char *s, int64_t now_ms, int64_t *ms);
/* A step: seconds ("60", "0.5") or with a unit ("10s", "1m", "1h", "1d");
 * 0 for the raw readings. 0 and *ms, or -1. */
int api_history_step(const char *s, int64_t *ms);

/*
 * The answer to a request for psu's history; the parameters as they came
 * (NULL: absent). in_rack: whether the rack has that PSU. Returns the HTTP
 * status and *body: the JSON (200) or the error message (4xx, 5xx), malloc'd.
 * Defaults: to now, from an hour before to, step by the span (up to 6 h raw
 * readings, up to 7 days minutes, else hours).
 */
int api_history_psu(const char *hist_path, const char *psu, bool in_rack, const char *from,
                    const char *to, const char *step, int64_t now_ms, char **body);

#endif
