/*
 * history_io.c - the history and labels files (history_io.h).
 */
#include "history_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct indexed {
    struct tcsv_row row;
    size_t seq;
};

static int by_time(const void *a, const void *b)
{
    const struct indexed *x = a, *y = b;
    if (x->row.t != y->row.t)
        return x->row.t < y->row.t ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int history_read(const char *path, int skip_bad, struct history *h, char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL, perr[200];
    size_t cap = 0, ncap = 0;
    ssize_t len;
    long lineno = 0;
    struct indexed *v = NULL;
    int sorted = 1, rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)len;
        if (n > 0 && line[n - 1] == '\n')
            n--;
        if (lineno == 1) {
            if (tcsv_check_header(line, n, perr, sizeof(perr)) < 0) {
                snprintf(err, errlen, "%s: %s", path, perr);
                rc = -1;
                break;
            }
            continue;
        }
        if (h->n == ncap) {
            ncap = ncap ? ncap * 2 : 4096;
            struct indexed *nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) {
                snprintf(err, errlen, "%s: out of memory at line %ld", path, lineno);
                rc = -1;
                break;
            }
            v = nv;
        }
        if (tcsv_parse_row(line, n, lineno, &v[h->n].row, perr, sizeof(perr)) < 0) {
            if (!skip_bad) {
                snprintf(err, errlen, "%s: %s", path, perr);
                rc = -1;
                break;
            }
            h->bad++;
            continue;
        }
        v[h->n].seq = h->n;
        if (h->n > 0 && v[h->n].row.t < v[h->n - 1].row.t)
            sorted = 0;
        h->n++;
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && lineno == 0) {
        snprintf(err, errlen, "%s: empty (no header line)", path);
        rc = -1;
    }
    free(line);
    if (f != stdin)
        fclose(f);
    if (rc < 0) {
        free(v);
        h->n = 0;
        return -1;
    }
    if (!sorted)
        qsort(v, h->n, sizeof(*v), by_time);
    h->rows = malloc((h->n ? h->n : 1) * sizeof(*h->rows));
    if (!h->rows) {
        free(v);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (size_t i = 0; i < h->n; i++)
        h->rows[i] = v[i].row;
    free(v);
    return 0;
}

void history_free(struct history *h)
{
    free(h->rows);
    memset(h, 0, sizeof(*h));
}

static int split(char *line, char **fields, int max)
{
    int k = 0;
    char *p = line;
    for (;;) {
        if (k < max)
            fields[k] = p;
        k++;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return k;
}

int labels_read(const char *path, struct labels *ls, char *err, size_t errlen)
{
    memset(ls, 0, sizeof(*ls));
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lcap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)len;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (strlen(line) != n) {
            snprintf(err, errlen, "%s: line %ld: a NUL byte", path, lineno);
            rc = -1;
            break;
        }
        if (lineno == 1) {
            if (strcmp(line, "psu,failure_t,cause,predictable") != 0) {
                snprintf(err, errlen, "%s: line 1: header: expected \"%s\"", path,
                         "psu,failure_t,cause,predictable");
                rc = -1;
            }
            continue;
        }
        char *fl[4];
        int k = split(line, fl, 4);
        if (k != 4) {
            snprintf(err, errlen, "%s: line %ld: %d fields, expected 4", path, lineno, k);
            rc = -1;
            break;
        }
        /* the id as the history checks it: parse a row made of it */
        char probe[96];
        struct tcsv_row r;
        char perr[160];
        snprintf(probe, sizeof(probe), "0,%.40s,,,,,,,,,,", fl[0]);
        if (strlen(fl[0]) >= TCSV_ID_LEN ||
            tcsv_parse_row(probe, strlen(probe), lineno, &r, perr, sizeof(perr)) < 0) {
            snprintf(err, errlen, "%s: line %ld: psu: not a PSU id", path, lineno);
            rc = -1;
            break;
        }
        int64_t ft = -1;
        if (fl[1][0]) {
            char *end;
            errno = 0;
            long long x = strtoll(fl[1], &end, 10);
            if (*end || errno || x < 0 || fl[1][0] == '-' || fl[1][0] == '+' || fl[1][0] == ' ') {
                snprintf(err, errlen, "%s: line %ld: failure_t: not Unix seconds", path, lineno);
                rc = -1;
                break;
            }
            ft = x;
        }
        if (strlen(fl[2]) >= sizeof(ls->l[0].cause)) {
            snprintf(err, errlen, "%s: line %ld: cause: longer than 31 characters", path, lineno);
            rc = -1;
            break;
        }
        int pred = strcmp(fl[3], "1") == 0 || strcmp(fl[3], "yes") == 0;
        if (!pred && strcmp(fl[3], "0") != 0 && strcmp(fl[3], "no") != 0) {
            snprintf(err, errlen, "%s: line %ld: predictable: yes, no, 1 or 0", path, lineno);
            rc = -1;
            break;
        }
        if (labels_find(ls, r.psu)) {
            snprintf(err, errlen, "%s: line %ld: psu %s labelled twice", path, lineno, r.psu);
            rc = -1;
            break;
        }
        if (ls->n == lcap) {
            lcap = lcap ? lcap * 2 : 64;
            struct label *nl = realloc(ls->l, lcap * sizeof(*nl));
            if (!nl) {
                snprintf(err, errlen, "%s: out of memory", path);
                rc = -1;
                break;
            }
            ls->l = nl;
        }
        struct label *l = &ls->l[ls->n++];
        snprintf(l->psu, sizeof(l->psu), "%s", r.psu);
        l->failure_t = ft;
        snprintf(l->cause, sizeof(l->cause), "%s", fl[2]);
        l->predictable = pred;
    }
    if (rc == 0 && lineno == 0) {
        snprintf(err, errlen, "%s: empty (no header line)", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    if (rc < 0)
        labels_free(ls);
    return rc;
}

const struct label *labels_find(const struct labels *ls, const char *psu)
{
    for (size_t i = 0; i < ls->n; i++) /* labels are few: one per failed PSU */
        if (strcmp(ls->l[i].psu, psu) == 0)
            return &ls->l[i];
    return NULL;
}

void labels_free(struct labels *ls)
{
    free(ls->l);
    memset(ls, 0, sizeof(*ls));
}
