/*
 * fuzz_orv3.c - libFuzzer target for ORv3 decoding (src/wire/orv3.c): what a
 * PSU or BBU answers over Modbus is any 16-bit words. The input is a header
 * (device, read plan policy) and then register images, one per read: each is
 * decoded field by field and whole (orv3_psu_decode / orv3_bbu_decode),
 * assessed (a BBU also as a reserve: orv3_bbu_state), and fed to a monitor,
 * with a failed read wherever a header bit says so. Checked beyond "no
 * crash": a device's level is the worst of its causes, a monitor emits at
 * most ORV3_MONITOR_MAX_EVENTS events per read, milli-units agree with the
 * float decoding, a read plan covers every wanted field within the policy,
 * a BBU's reserve figures stay in range and it never both charges and
 * discharges.
 * Run: make fuzz (tests/fuzz/orv3 holds the seeds).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "orv3.h"

/* A BBU's view as a reserve: figures in range whatever the registers say,
 * and never both discharging and charging. */
static void check_bbu_state(const struct orv3_bbu_telemetry *tm)
{
    struct orv3_bbu_state st;
    orv3_bbu_state(tm, &st);
    if (st.charge_pct < -1 || st.charge_pct > 100 || st.runtime_s < -1 ||
        st.runtime_s > 65534LL * 60 || st.watts < -1 || (st.discharging && st.charging) ||
        (!st.discharging && st.watts != 0))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADER 4 /* device and fail mask, max_words, max_hole_words, temp_rising */
#define MAX_SPANS 64

static void check_fields(const struct orv3_table *t, const uint16_t *image, uint8_t cap_byte)
{
    /* a string buffer as small as the input says, on the heap */
    size_t cap = 1 + cap_byte % (ORV3_STRING_MAX + 2);
    char *buf = malloc(cap);
    if (!buf)
        return;
    for (int i = 0; i < t->nfields; i++) {
        const struct orv3_field *f = &t->fields[i];
        const uint16_t *w = image + f->reg;
        if (f->format == ORV3_STRING) {
            size_t n = orv3_decode_string(f, w, buf, cap);
            if (n >= cap || strlen(buf) != n)
                __builtin_trap();
            continue;
        }
        int64_t milli = orv3_decode_milli(f, w);
        double x = orv3_decode_float(f, w);
        (void)orv3_decode_int(f, w);
        if (f->format != ORV3_FLAGS && isfinite(x) && fabs(x) < 1e12 &&
            llabs(milli - (int64_t)llround(x * 1000.0)) > 1)
            __builtin_trap(); /* the integer path and the float path disagree */
    }
    free(buf);
}

static void check_plan(const struct orv3_table *t, uint8_t words_byte, uint8_t hole_byte)
{
    struct orv3_span_policy p = {.max_words = words_byte % 130, .max_hole_words = hole_byte % 130};
    struct orv3_span spans[MAX_SPANS];
    uint32_t groups = (uint32_t)(words_byte ^ hole_byte) & ORV3_ALL_GROUPS;
    int n = orv3_plan_spans(t, groups, &p, spans, MAX_SPANS);
    if (n < 0)
        return;
    for (int i = 0; i < n; i++)
        if (spans[i].words < 1 || spans[i].words > p.max_words ||
            spans[i].start + spans[i].words > t->nregs ||
            (i > 0 && spans[i].start < spans[i - 1].start + spans[i - 1].words))
            __builtin_trap();
    for (int f = 0; f < t->nfields; f++) {
        if (!(groups & ORV3_GROUP_BIT(t->fields[f].group)))
            continue;
        int in = 0;
        for (int i = 0; i < n && !in; i++)
            in = t->fields[f].reg >= spans[i].start &&
                 t->fields[f].reg + t->fields[f].words <= spans[i].start + spans[i].words;
        if (!in)
            __builtin_trap(); /* a wanted field no span reads */
    }
}

static void check_assessment(struct orv3_assessment a)
{
    enum orv3_health worst = ORV3_OK;
    for (int c = 0; c < ORV3_NCAUSES; c++)
        if (a.causes & ORV3_CAUSE_BIT(c) && orv3_cause_level((enum orv3_cause)c) > worst)
            worst = orv3_cause_level((enum orv3_cause)c);
    if (a.level != worst)
        __builtin_trap();
    char text[256];
    if (orv3_causes_format(a.causes, text, sizeof(text)) < 0)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER)
        return 0;
    bool bbu = data[0] & 1;
    uint8_t fails = data[0] >> 1; /* read k fails when bit k is set */
    const struct orv3_table *t = bbu ? &orv3_bbu_table : &orv3_psu_table;
    check_plan(t, data[1], data[2]);
    struct orv3_monitor m;
    orv3_monitor_init(&m, bbu ? ORV3_DEV_BBU : ORV3_DEV_PSU, NULL);
    size_t image_bytes = 2 * (size_t)t->nregs, off = HEADER;
    int64_t now_ns = 0;
    for (int k = 0; off < size && k < 16; k++, off += image_bytes) {
        struct orv3_event ev[ORV3_MONITOR_MAX_EVENTS + 1];
        now_ns += 100000000;
        if (k < 7 && fails & (1u << k)) {
            if (orv3_monitor_feed_fail(&m, now_ns, ev) > ORV3_MONITOR_MAX_EVENTS)
                __builtin_trap();
            continue;
        }
        /* the image alone on the heap, zero past the input's end */
        uint16_t *image = calloc((size_t)t->nregs, sizeof(*image));
        if (!image)
            return 0;
        for (size_t i = 0; i < image_bytes && off + i < size; i++)
            image[i / 2] |= (uint16_t)(data[off + i] << (i % 2 ? 0 : 8));
        check_fields(t, image, data[3]);
        int n;
        if (bbu) {
            struct orv3_bbu_telemetry tm;
            orv3_bbu_decode(image, &tm);
            check_assessment(orv3_bbu_assess(&tm));
            check_bbu_state(&tm);
            n = orv3_monitor_feed_bbu(&m, now_ns, &tm, ev);
        } else {
            struct orv3_psu_telemetry tm;
            orv3_psu_decode(image, &tm);
            check_assessment(orv3_psu_assess(&tm, data[3] & 1));
            n = orv3_monitor_feed_psu(&m, now_ns, &tm, ev);
        }
        if (n < 0 || n > ORV3_MONITOR_MAX_EVENTS)
            __builtin_trap();
        free(image);
    }
    return 0;
}
