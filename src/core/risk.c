/*
 * risk.c - features, the logistic risk, the model file and its fit (risk.h).
 * Window sums are kept incrementally (add on arrival, subtract on eviction)
 * and recomputed from the ring each time as many readings have left as it
 * holds, so rounding cannot drift and the regression's x stays near zero.
 */
#include "risk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[RISK_NFEATURES] = {
    "rth_c_per_w",          "rth_trend_c_per_w_day", "fan_rpm_per_c",    "efficiency",
    "efficiency_trend_day", "vout_sag_mv_per_a",     "warn_share",       "warn_events",
    "kh_in_service",        "loss_trend_day",        "rise_trend_c_day",
};

static const char *const words[RISK_NFEATURES] = {
    "thermal resistance high",
    "thermal resistance rising",
    "fan slow for its temperature",
    "efficiency low",
    "efficiency falling",
    "output sags under load",
    "warning bits set",
    "warnings raised",
    "hours in service",
    "losses rising at like load",
    "running hotter at like loss",
};

/* The version that added the feature: an older file does without it. */
static int feature_version(int f)
{
    return f == RISK_F_LOSS_TREND || f == RISK_F_RISE_TREND ? 3 : 1;
}

const char *risk_feature_name(int f)
{
    return f >= 0 && f < RISK_NFEATURES ? names[f] : "?";
}

const char *risk_feature_words(int f)
{
    return f >= 0 && f < RISK_NFEATURES ? words[f] : "?";
}

/* ---- ORv3 alarms as STATUS_WORD ---- */

enum {
    SW_VOUT = 1u << 15,
    SW_IOUT = 1u << 14,
    SW_INPUT = 1u << 13,
    SW_MFR = 1u << 12,
    SW_PGOOD_N = 1u << 11,
    SW_FANS = 1u << 10,
    SW_OTHER = 1u << 9,
    SW_OFF = 1u << 6,
    SW_VOUT_OV = 1u << 5,
    SW_IOUT_OC = 1u << 4,
    SW_VIN_UV = 1u << 3,
    SW_TEMP = 1u << 2,
    SW_CML = 1u << 1,
};

struct orv3_bit {
    int reg, bit;
    uint16_t sw;
};

/* docs/prediction.md "ORv3 alarms as STATUS_WORD" is this table. */
static const struct orv3_bit orv3_map[] = {
    {60, 11, SW_FANS},
    {60, 10, SW_TEMP},
    {60, 9, SW_VOUT | SW_PGOOD_N},
    {60, 8, SW_INPUT | SW_PGOOD_N},
    {60, 3, SW_CML},
    {60, 2, SW_TEMP},
    {60, 1, SW_VOUT},
    {60, 0, SW_INPUT},
    {61, 11, SW_INPUT | SW_PGOOD_N},
    {61, 10, SW_INPUT | SW_OFF},
    {61, 9, SW_INPUT},
    {61, 8, SW_INPUT | SW_VIN_UV},
    {61, 5, SW_INPUT},
    {61, 4, SW_INPUT},
    {61, 1, SW_INPUT},
    {61, 0, SW_INPUT | SW_VIN_UV},
    {62, 10, SW_OTHER},
    {62, 9, SW_MFR},
    {62, 8, SW_VOUT | SW_PGOOD_N},
    {62, 3, SW_IOUT | SW_IOUT_OC},
    {62, 2, SW_IOUT | SW_IOUT_OC},
    {62, 1, SW_VOUT | SW_VOUT_OV},
    {62, 0, SW_VOUT},
    {63, 8, SW_FANS},
    {63, 5, SW_TEMP},
    {63, 4, SW_TEMP},
    {63, 3, SW_TEMP},
    {63, 2, SW_TEMP},
    {63, 1, SW_TEMP},
    {63, 0, SW_TEMP},
};

uint16_t risk_orv3_status_word(uint16_t r60, uint16_t r61, uint16_t r62, uint16_t r63, uint16_t r64)
{
    const uint16_t regs[5] = {r60, r61, r62, r63, r64};
    uint16_t sw = 0;
    for (size_t i = 0; i < sizeof(orv3_map) / sizeof(orv3_map[0]); i++)
        if (regs[orv3_map[i].reg - 60] & (1u << orv3_map[i].bit))
            sw |= orv3_map[i].sw;
    if (r64) /* any communication alarm */
        sw |= SW_CML;
    return sw;
}

/* ---- the model file ---- */

/* The next line of text: its start and length (no newline); 0 at the end. */
static int next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *n)
{
    if (*pos >= len)
        return 0;
    const char *p = text + *pos;
    const char *nl = memchr(p, '\n', len - *pos);
    *n = nl ? (size_t)(nl - p) : len - *pos;
    *line = p;
    *pos += *n + (nl ? 1 : 0);
    if (*n > 0 && p[*n - 1] == '\r')
        (*n)--;
    return 1;
}

#define MAX_TOKENS 6

/* Splits a line into space-separated tokens (copied, NUL-terminated). The
 * count, or -1 if a token is too long or there are too many. */
static int tokens(const char *line, size_t n, char tok[MAX_TOKENS][64])
{
    int k = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i >= n)
            break;
        size_t s = i;
        while (i < n && line[i] != ' ' && line[i] != '\t')
            i++;
        if (k >= MAX_TOKENS || i - s >= 64)
            return -1;
        memcpy(tok[k], line + s, i - s);
        tok[k][i - s] = '\0';
        k++;
    }
    return k;
}

static int number(const char *s, double *x)
{
    char *end;
    if (*s == '\0')
        return -1;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' || *p == 'e' ||
              *p == 'E'))
            return -1;
    *x = strtod(s, &end);
    return *end == '\0' && isfinite(*x) ? 0 : -1;
}

static int merr(char *err, size_t errlen, long line, const char *what)
{
    snprintf(err, errlen, "model line %ld: %s", line, what);
    return -1;
}

int risk_model_parse(const char *text, size_t len, struct risk_model *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    if (memchr(text, '\0', len))
        return merr(err, errlen, 0, "a NUL byte in the file");
    size_t pos = 0, n;
    const char *line;
    long lineno = 0;
    int have_magic = 0, have_h = 0, have_w = 0, have_thr = 0, have_b = 0, have_p = 0;
    int version = 0;
    int seen[RISK_NFEATURES] = {0};
    char tok[MAX_TOKENS][64];
    double x;
    while (next_line(text, len, &pos, &line, &n)) {
        lineno++;
        size_t lead = 0;
        while (lead < n && (line[lead] == ' ' || line[lead] == '\t'))
            lead++;
        if (lead < n && line[lead] == '#')
            continue; /* a comment, any length */
        int k = tokens(line, n, tok);
        if (k < 0)
            return merr(err, errlen, lineno, "too many or too long words");
        if (k == 0 || tok[0][0] == '#')
            continue;
        if (!have_magic) {
            if (strcmp(tok[0], "rackpower-psu-risk") != 0 || k != 2)
                return merr(err, errlen, lineno,
                            "not a rackpower PSU risk model (want \"rackpower-psu-risk 1\" first)");
            if (strcmp(tok[1], "1") != 0 && strcmp(tok[1], "2") != 0 && strcmp(tok[1], "3") != 0)
                return merr(err, errlen, lineno,
                            "unknown model version (this reads versions 1 to 3)");
            version = tok[1][0] - '0';
            have_magic = 1;
            continue;
        }
        if (strcmp(tok[0], "horizon_s") == 0 || strcmp(tok[0], "window_s") == 0) {
            int h = tok[0][0] == 'h';
            if (k != 2 || number(tok[1], &x) < 0 || x < 3600 || x > 366 * 86400.0 || x != floor(x))
                return merr(err, errlen, lineno,
                            h ? "horizon_s: whole seconds from 3600 to a year"
                              : "window_s: whole seconds from 3600 to a year");
            if ((h && have_h) || (!h && have_w))
                return merr(err, errlen, lineno, "given twice");
            if (h)
                m->horizon_s = (int64_t)x, have_h = 1;
            else
                m->window_s = (int64_t)x, have_w = 1;
        } else if (strcmp(tok[0], "threshold") == 0) {
            if (k != 2 || number(tok[1], &x) < 0 || x <= 0 || x >= 1)
                return merr(err, errlen, lineno, "threshold: a probability between 0 and 1");
            if (have_thr)
                return merr(err, errlen, lineno, "given twice");
            m->threshold = x, have_thr = 1;
        } else if (strcmp(tok[0], "persist_s") == 0) {
            if (version < 2)
                return merr(err, errlen, lineno, "persist_s: a version 2 key (this file says 1)");
            if (k != 2 || number(tok[1], &x) < 0 || x < 0 || x > 366 * 86400.0 || x != floor(x))
                return merr(err, errlen, lineno, "persist_s: whole seconds from 0 to a year");
            if (have_p)
                return merr(err, errlen, lineno, "given twice");
            m->persist_s = (int64_t)x, have_p = 1;
        } else if (strcmp(tok[0], "intercept") == 0) {
            if (k != 2 || number(tok[1], &x) < 0 || fabs(x) > 1e6)
                return merr(err, errlen, lineno, "intercept: a number");
            if (have_b)
                return merr(err, errlen, lineno, "given twice");
            m->intercept = x, have_b = 1;
        } else if (strcmp(tok[0], "feature") == 0) {
            if (k != 5)
                return merr(err, errlen, lineno, "feature: want \"feature NAME MEAN SCALE COEF\"");
            int f = -1;
            for (int i = 0; i < RISK_NFEATURES; i++)
                if (strcmp(tok[1], names[i]) == 0)
                    f = i;
            if (f < 0)
                return merr(err, errlen, lineno, "unknown feature (docs/prediction.md lists them)");
            if (feature_version(f) > version)
                return merr(err, errlen, lineno,
                            "feature: a version 3 feature (this file says 1 or 2)");
            if (seen[f])
                return merr(err, errlen, lineno, "feature given twice");
            double mean, scale, coef;
            if (number(tok[2], &mean) < 0 || number(tok[3], &scale) < 0 ||
                number(tok[4], &coef) < 0 || fabs(mean) > 1e9 || fabs(coef) > 1e6)
                return merr(err, errlen, lineno, "feature: MEAN, SCALE and COEF are numbers");
            if (!(scale > 0) || scale > 1e9)
                return merr(err, errlen, lineno, "feature: SCALE must be above 0");
            m->mean[f] = mean, m->scale[f] = scale, m->coef[f] = coef;
            seen[f] = 1;
        } else {
            return merr(err, errlen, lineno, "unknown key");
        }
    }
    if (!have_magic)
        return merr(err, errlen, lineno, "empty: not a rackpower PSU risk model");
    if (!have_h || !have_w || !have_thr || !have_b)
        return merr(err, errlen, lineno,
                    !have_h     ? "horizon_s missing"
                    : !have_w   ? "window_s missing"
                    : !have_thr ? "threshold missing"
                                : "intercept missing");
    for (int f = 0; f < RISK_NFEATURES; f++)
        if (!seen[f] && feature_version(f) > version) {
            /* a file older than the feature: it adds nothing */
            m->mean[f] = 0, m->scale[f] = 1, m->coef[f] = 0;
        } else if (!seen[f]) {
            char what[96];
            snprintf(what, sizeof(what), "feature %s missing", names[f]);
            return merr(err, errlen, lineno, what);
        }
    return 0;
}

int risk_model_format(const struct risk_model *m, char *buf, size_t len)
{
    size_t at = 0;
    int w = snprintf(buf, len,
                     "rackpower-psu-risk %d\n"
                     "# risk = 1 / (1 + exp(-(intercept + sum coef * (x - mean) / scale)))\n"
                     "horizon_s %lld\nwindow_s %lld\nthreshold %.6g\n"
                     "# at risk once the risk has held at or above the threshold this long\n"
                     "persist_s %lld\nintercept %.17g\n"
                     "# feature NAME MEAN SCALE COEF\n",
                     RISK_MODEL_VERSION, (long long)m->horizon_s, (long long)m->window_s,
                     m->threshold, (long long)m->persist_s, m->intercept);
    if (w < 0 || (size_t)w >= len)
        return -1;
    at = (size_t)w;
    for (int f = 0; f < RISK_NFEATURES; f++) {
        w = snprintf(buf + at, len - at, "feature %s %.17g %.17g %.17g\n", names[f], m->mean[f],
                     m->scale[f], m->coef[f]);
        if (w < 0 || (size_t)w >= len - at)
            return -1;
        at += (size_t)w;
    }
    return (int)at;
}

/* ---- the window and its features ---- */

static void lin_add(struct risk_lin *l, double x, double y, double sign)
{
    if (isnan(x) || isnan(y))
        return;
    l->n += sign;
    l->sx += sign * x;
    l->sy += sign * y;
    l->sxx += sign * x * x;
    l->sxy += sign * x * y;
}

static double lin_mean(const struct risk_lin *l)
{
    return l->n >= 1 ? l->sy / l->n : NAN;
}

/* The slope, or NaN with fewer than 3 points or x spread below min_var. */
static double lin_slope(const struct risk_lin *l, double min_var)
{
    if (l->n < 3)
        return NAN;
    double var = l->sxx / l->n - (l->sx / l->n) * (l->sx / l->n);
    if (!(var > min_var))
        return NAN;
    double cov = l->sxy / l->n - (l->sx / l->n) * (l->sy / l->n);
    return cov / var;
}

static void lin2_add(struct risk_lin2 *l, double t, double u, double y, double sign)
{
    if (isnan(t) || isnan(u) || isnan(y))
        return;
    l->n += sign;
    l->st += sign * t;
    l->su += sign * u;
    l->sy += sign * y;
    l->stt += sign * t * t;
    l->suu += sign * u * u;
    l->stu += sign * t * u;
    l->sty += sign * t * y;
    l->suy += sign * u * y;
}

static double lin2_mean(const struct risk_lin2 *l)
{
    return l->n >= 1 ? l->sy / l->n : NAN;
}

/* The slope of y in t with u held (least squares of y = a + b u + c t), or
 * NaN with fewer than 3 points or t spread below min_tvar. When u hardly
 * moves (or moves with t) it cannot be held: the slope in t alone. */
static double lin2_slope_t(const struct risk_lin2 *l, double min_tvar)
{
    if (l->n < 3)
        return NAN;
    double n = l->n, mt = l->st / n, mu = l->su / n, my = l->sy / n;
    double ctt = l->stt / n - mt * mt, cuu = l->suu / n - mu * mu;
    double ctu = l->stu / n - mt * mu, cty = l->sty / n - mt * my;
    double cuy = l->suy / n - mu * my;
    if (!(ctt > min_tvar))
        return NAN;
    double det = ctt * cuu - ctu * ctu;
    if (!(cuu > 0) || !(det > 1e-6 * ctt * cuu))
        return cty / ctt;
    return (cty * cuu - cuy * ctu) / det;
}

static void reading_sums(struct risk_psu *p, const struct risk_reading *r, double sign)
{
    double x = (double)r->t / 86400.0 - p->xref_day;
    lin2_add(&p->loss, x, r->pout_kw, r->loss, sign);
    lin2_add(&p->rise, x, r->loss, r->rise, sign);
    lin_add(&p->rth, x, r->rth, sign);
    lin_add(&p->eff, x, r->eff, sign);
    lin_add(&p->sag, r->iout, r->vout, sign);
    if (!isnan(r->fanr))
        p->fan_n += sign, p->fan_sum += sign * r->fanr;
    if (r->status_read)
        p->warn_n += sign, p->warn_sum += sign * r->warn;
    p->raised_sum += sign * r->warn_raised;
}

static void recompute(struct risk_psu *p)
{
    memset(&p->rth, 0, sizeof(p->rth));
    memset(&p->eff, 0, sizeof(p->eff));
    memset(&p->sag, 0, sizeof(p->sag));
    memset(&p->loss, 0, sizeof(p->loss));
    memset(&p->rise, 0, sizeof(p->rise));
    p->fan_n = p->fan_sum = p->warn_n = p->warn_sum = p->raised_sum = 0;
    p->xref_day = p->n ? (double)p->ring[p->head].t / 86400.0 : 0;
    for (size_t i = 0; i < p->n; i++)
        reading_sums(p, &p->ring[(p->head + i) % p->cap], 1.0);
    p->evicted = 0;
}

void risk_fleet_init(struct risk_fleet *f, int64_t window_s)
{
    memset(f, 0, sizeof(*f));
    f->window_s = window_s;
}

void risk_fleet_free(struct risk_fleet *f)
{
    for (size_t i = 0; i < f->npsus; i++)
        free(f->psus[i].ring);
    free(f->psus);
    free(f->slots);
    memset(f, 0, sizeof(*f));
}

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int rehash(struct risk_fleet *f, size_t nslots)
{
    int32_t *s = malloc(nslots * sizeof(*s));
    if (!s)
        return -1;
    for (size_t i = 0; i < nslots; i++)
        s[i] = -1;
    for (size_t i = 0; i < f->npsus; i++) {
        size_t k = hash_id(f->psus[i].id) & (nslots - 1);
        while (s[k] >= 0)
            k = (k + 1) & (nslots - 1);
        s[k] = (int32_t)i;
    }
    free(f->slots);
    f->slots = s;
    f->nslots = nslots;
    return 0;
}

/* The PSU's index, created if new; -1 when out of memory. */
static int psu_index(struct risk_fleet *f, const char *id)
{
    if (f->nslots) {
        size_t k = hash_id(id) & (f->nslots - 1);
        while (f->slots[k] >= 0) {
            if (strcmp(f->psus[f->slots[k]].id, id) == 0)
                return f->slots[k];
            k = (k + 1) & (f->nslots - 1);
        }
    }
    if (f->npsus >= INT32_MAX / 4)
        return -1;
    if ((f->npsus + 1) * 2 > f->nslots && rehash(f, f->nslots ? f->nslots * 2 : 64) < 0)
        return -1;
    if (f->npsus == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct risk_psu *np = realloc(f->psus, cap * sizeof(*np));
        if (!np)
            return -1;
        f->psus = np;
        f->cap = cap;
    }
    struct risk_psu *p = &f->psus[f->npsus];
    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", id);
    p->last_warn = -1;
    size_t k = hash_id(id) & (f->nslots - 1);
    while (f->slots[k] >= 0)
        k = (k + 1) & (f->nslots - 1);
    f->slots[k] = (int32_t)f->npsus;
    return (int)f->npsus++;
}

static void derive(const struct tcsv_row *row, int32_t last_warn, struct risk_reading *r)
{
    const double *v = row->v;
    double loss = v[TCSV_PIN_W] - v[TCSV_POUT_W]; /* NaN if either is not read */
    double rise = v[TCSV_TEMP_C] - v[TCSV_INLET_C];
    r->t = row->t;
    /* below 2 W of loss the ratio is noise over the sensors' resolution */
    r->rth = loss > 2.0 && !isnan(rise) ? rise / loss : NAN;
    r->eff = v[TCSV_PIN_W] > 20.0 && v[TCSV_POUT_W] <= v[TCSV_PIN_W] * 1.05
                 ? v[TCSV_POUT_W] / v[TCSV_PIN_W]
                 : NAN;
    r->fanr = !isnan(v[TCSV_FAN_RPM]) && rise > 1.0 ? v[TCSV_FAN_RPM] / rise : NAN;
    /* as efficiency: below 20 W in, the loss is the sensors' error */
    r->loss = v[TCSV_PIN_W] > 20.0 && loss > -1.0 ? loss : NAN;
    r->pout_kw = v[TCSV_POUT_W] / 1000.0;
    r->rise = rise;
    r->iout = v[TCSV_IOUT_A];
    r->vout = v[TCSV_VOUT_V];
    r->status_read = row->status_word >= 0;
    int warn = r->status_read ? (int)((uint32_t)row->status_word & RISK_WARN_MASK) : 0;
    r->warn = warn != 0;
    /* a bit raised that was clear in the last status read */
    r->warn_raised = r->status_read && last_warn >= 0 && (warn & ~last_warn) != 0;
}

int risk_fleet_add(struct risk_fleet *f, const struct tcsv_row *row, char *err, size_t errlen)
{
    int i = psu_index(f, row->psu);
    if (i < 0) {
        snprintf(err, errlen, "out of memory for PSU %s", row->psu);
        return -1;
    }
    struct risk_psu *p = &f->psus[i];
    if (p->n > 0 && row->t < p->last_t) {
        snprintf(err, errlen, "PSU %s: a reading at %lld after one at %lld (not in time order)",
                 p->id, (long long)row->t, (long long)p->last_t);
        return -1;
    }
    if (p->n == 0 && p->cap == 0)
        p->first_t = row->t;
    /* leave the window */
    while (p->n > 0 && p->ring[p->head].t <= row->t - f->window_s) {
        reading_sums(p, &p->ring[p->head], -1.0);
        p->head = (p->head + 1) % p->cap;
        p->n--;
        p->evicted++;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct risk_reading *nr = malloc(cap * sizeof(*nr));
        if (!nr) {
            snprintf(err, errlen, "out of memory for PSU %s's window", row->psu);
            return -1;
        }
        for (size_t k = 0; k < p->n; k++)
            nr[k] = p->ring[(p->head + k) % p->cap];
        free(p->ring);
        p->ring = nr;
        p->cap = cap;
        p->head = 0;
    }
    struct risk_reading *r = &p->ring[(p->head + p->n) % p->cap];
    derive(row, p->last_warn, r);
    if (r->status_read)
        p->last_warn = (int32_t)((uint32_t)row->status_word & RISK_WARN_MASK);
    p->n++;
    p->last_t = row->t;
    if (p->n == 1 || p->evicted >= p->n)
        recompute(p);
    else
        reading_sums(p, r, 1.0);
    return i;
}

int risk_features(const struct risk_fleet *f, int psu, double x[RISK_NFEATURES])
{
    if (psu < 0 || (size_t)psu >= f->npsus)
        return -1;
    const struct risk_psu *p = &f->psus[psu];
    if (p->n < RISK_MIN_READINGS)
        return -1;
    int64_t span = p->last_t - p->ring[p->head].t;
    if ((double)span < RISK_MIN_SPAN_SHARE * (double)f->window_s)
        return -1;
    double min_day_var = 1.0 / 24 / 24; /* x spread of at least an hour */
    x[RISK_F_RTH] = lin_mean(&p->rth);
    x[RISK_F_RTH_TREND] = lin_slope(&p->rth, min_day_var);
    x[RISK_F_FAN_PER_C] = p->fan_n >= 1 ? p->fan_sum / p->fan_n : NAN;
    x[RISK_F_EFF] = lin_mean(&p->eff);
    x[RISK_F_EFF_TREND] = lin_slope(&p->eff, min_day_var);
    double s = lin_slope(&p->sag, 0.25); /* load must move by half an amp or more */
    x[RISK_F_SAG] = isnan(s) ? NAN : -1000.0 * s;
    x[RISK_F_WARN_SHARE] = p->warn_n >= 1 ? p->warn_sum / p->warn_n : NAN;
    x[RISK_F_WARN_EVENTS] = p->raised_sum;
    x[RISK_F_KH_SERVICE] = (double)(p->last_t - p->first_t) / 3600.0 / 1000.0;
    /* relative to the PSU's own mean loss, so that a unit at a light load and
     * one at a heavy load rising by the same share read alike */
    double loss_mean = lin2_mean(&p->loss);
    double ls = lin2_slope_t(&p->loss, min_day_var);
    x[RISK_F_LOSS_TREND] = loss_mean > 2.0 ? ls / loss_mean : NAN;
    x[RISK_F_RISE_TREND] = lin2_slope_t(&p->rise, min_day_var);
    return 0;
}

/* ---- the risk ---- */

static double sigmoid(double z)
{
    return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

void risk_eval(const struct risk_model *m, const double x[RISK_NFEATURES], struct risk_out *o)
{
    double z = m->intercept, best = 0;
    o->top = -1;
    o->top_x = o->top_sd = NAN;
    for (int f = 0; f < RISK_NFEATURES; f++) {
        if (isnan(x[f]))
            continue;
        double sd = (x[f] - m->mean[f]) / m->scale[f];
        double c = m->coef[f] * sd;
        z += c;
        if (c > best) {
            best = c;
            o->top = f;
            o->top_x = x[f];
            o->top_sd = sd;
        }
    }
    o->risk = sigmoid(z);
    /* Above RISK_TTF_MAX_P the model saturates (a feature tens of sd out
     * gives 1.00) and says nothing more of when: the time to failure stops
     * at that risk's (a 7-day horizon: 1.5 days) rather than run to 0 s. */
    double p = o->risk < 1e-9 ? 1e-9 : o->risk > RISK_TTF_MAX_P ? RISK_TTF_MAX_P : o->risk;
    o->ttf_s = (double)m->horizon_s / -log1p(-p);
}

int risk_alarm_step(struct risk_alarm *a, int64_t t, double risk, double threshold,
                    int64_t persist_s)
{
    if (risk >= threshold) {
        if (!a->above)
            a->above = 1, a->above_t = t;
    } else {
        a->above = 0;
    }
    if (!a->at_risk && a->above && t - a->above_t >= persist_s) {
        a->at_risk = 1;
        return 1;
    }
    if (a->at_risk && risk < threshold - RISK_HYSTERESIS) {
        a->at_risk = 0;
        return -1;
    }
    return 0;
}

int risk_episode_step(int *at_risk, double risk, double threshold)
{
    if (!*at_risk && risk >= threshold) {
        *at_risk = 1;
        return 1;
    }
    if (*at_risk && risk < threshold - RISK_HYSTERESIS) {
        *at_risk = 0;
        return -1;
    }
    return 0;
}

int risk_fleet_step(struct risk_fleet *f, const struct risk_model *m, double threshold,
                    const struct tcsv_row *row, int *psu, struct risk_out *o, char *err,
                    size_t errlen)
{
    o->risk = o->ttf_s = o->top_x = o->top_sd = NAN;
    o->top = -1;
    *psu = risk_fleet_add(f, row, err, errlen);
    if (*psu < 0)
        return -2;
    double x[RISK_NFEATURES];
    if (risk_features(f, *psu, x) < 0)
        return 0;
    risk_eval(m, x, o);
    return risk_alarm_step(&f->psus[*psu].alarm, row->t, o->risk, threshold, m->persist_s);
}

void risk_reason(const struct risk_out *o, char *buf, size_t len)
{
    if (o->top >= 0)
        snprintf(buf, len, "%s: %s=%.6g (%+.1f sd)", risk_feature_words(o->top),
                 risk_feature_name(o->top), o->top_x, o->top_sd);
    else
        snprintf(buf, len, "the model's base rate");
}

/* ---- the fit ---- */

#define NP (RISK_NFEATURES + 1) /* intercept first */

/* Solves a x = b (NP x NP) by Gaussian elimination with partial pivoting. */
static int solve(double a[NP][NP], double b[NP], double xo[NP])
{
    for (int c = 0; c < NP; c++) {
        int piv = c;
        for (int r = c + 1; r < NP; r++)
            if (fabs(a[r][c]) > fabs(a[piv][c]))
                piv = r;
        if (!(fabs(a[piv][c]) > 1e-12))
            return -1;
        if (piv != c) {
            for (int k = 0; k < NP; k++) {
                double t = a[c][k];
                a[c][k] = a[piv][k];
                a[piv][k] = t;
            }
            double t = b[c];
            b[c] = b[piv];
            b[piv] = t;
        }
        for (int r = c + 1; r < NP; r++) {
            double q = a[r][c] / a[c][c];
            for (int k = c; k < NP; k++)
                a[r][k] -= q * a[c][k];
            b[r] -= q * b[c];
        }
    }
    for (int r = NP - 1; r >= 0; r--) {
        double s = b[r];
        for (int k = r + 1; k < NP; k++)
            s -= a[r][k] * xo[k];
        xo[r] = s / a[r][r];
    }
    return 0;
}

static void zrow(const struct risk_model *m, const double *x, double z[NP])
{
    z[0] = 1.0;
    for (int f = 0; f < RISK_NFEATURES; f++)
        z[f + 1] = isnan(x[f]) ? 0.0 : (x[f] - m->mean[f]) / m->scale[f];
}

/* The penalised log-likelihood of w (higher is better). */
static double objective(const struct risk_model *m, const double *x, const uint8_t *y, size_t n,
                        double l2, const double w[NP])
{
    double ll = 0, z[NP];
    for (size_t i = 0; i < n; i++) {
        zrow(m, &x[i * RISK_NFEATURES], z);
        double s = 0;
        for (int k = 0; k < NP; k++)
            s += w[k] * z[k];
        /* log(sigmoid(s)) and log(1 - sigmoid(s)) without overflow */
        double lp = s >= 0 ? -log1p(exp(-s)) : s - log1p(exp(s));
        ll += y[i] ? lp : lp - s;
    }
    for (int k = 1; k < NP; k++)
        ll -= 0.5 * l2 * w[k] * w[k];
    return ll;
}

int risk_fit(const double *x, const uint8_t *y, size_t n, double l2, struct risk_model *m,
             char *err, size_t errlen)
{
    size_t pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += y[i] != 0;
    if (n == 0 || pos == 0 || pos == n) {
        snprintf(err, errlen, "fit: %zu rows, %zu failing within the horizon: both kinds needed", n,
                 pos);
        return -1;
    }
    for (int f = 0; f < RISK_NFEATURES; f++) {
        double s = 0, ss = 0, k = 0;
        for (size_t i = 0; i < n; i++) {
            double v = x[i * RISK_NFEATURES + f];
            if (!isnan(v))
                s += v, ss += v * v, k++;
        }
        double mean = k > 0 ? s / k : 0;
        double var = k > 0 ? ss / k - mean * mean : 0;
        m->mean[f] = mean;
        /* a constant feature keeps scale 1 and gets no weight from the data */
        m->scale[f] = var > 1e-18 ? sqrt(var) : 1.0;
    }
    double w[NP] = {0};
    w[0] = log((double)pos / (double)(n - pos));
    double obj = objective(m, x, y, n, l2, w);
    for (int it = 0; it < 100; it++) {
        double h[NP][NP] = {{0}}, g[NP] = {0}, z[NP];
        for (size_t i = 0; i < n; i++) {
            zrow(m, &x[i * RISK_NFEATURES], z);
            double s = 0;
            for (int k = 0; k < NP; k++)
                s += w[k] * z[k];
            double p = sigmoid(s), q = p * (1 - p);
            if (q < 1e-10)
                q = 1e-10;
            double r = (y[i] ? 1.0 : 0.0) - p;
            for (int a = 0; a < NP; a++) {
                g[a] += r * z[a];
                for (int b = a; b < NP; b++)
                    h[a][b] += q * z[a] * z[b];
            }
        }
        for (int a = 0; a < NP; a++) {
            for (int b = 0; b < a; b++)
                h[a][b] = h[b][a];
            if (a > 0) { /* the penalty: -l2/2 |w|^2, not on the intercept */
                g[a] -= l2 * w[a];
                h[a][a] += l2;
            }
        }
        double step[NP];
        if (solve(h, g, step) < 0) {
            snprintf(err, errlen, "fit: singular system (features constant or collinear)");
            return -1;
        }
        /* Newton's step, halved until the penalised likelihood does not fall:
         * on nearly separable data the full step overshoots */
        double t = 1.0, nw[NP], nobj = obj;
        for (int half = 0; half < 40; half++, t /= 2) {
            for (int k = 0; k < NP; k++)
                nw[k] = w[k] + t * step[k];
            nobj = objective(m, x, y, n, l2, nw);
            if (nobj >= obj - 1e-12 * fabs(obj))
                break;
        }
        double big = 0;
        for (int k = 0; k < NP; k++) {
            if (fabs(nw[k] - w[k]) > big)
                big = fabs(nw[k] - w[k]);
            w[k] = nw[k];
        }
        double gain = nobj - obj;
        obj = nobj;
        if (big < 1e-8 || gain < 1e-10 * (1 + fabs(obj)))
            break;
    }
    for (int k = 0; k < NP; k++)
        if (!isfinite(w[k])) {
            snprintf(err, errlen, "fit: did not converge (classes separable?)");
            return -1;
        }
    m->intercept = w[0];
    for (int f = 0; f < RISK_NFEATURES; f++)
        m->coef[f] = w[f + 1];
    return 0;
}
