/*
 * physics.h - the simulated rack's hardware in real time, without a policy:
 * servers that draw power while their slot is powered, PSUs sharing the load
 * of the bus they are switched onto, temperatures and fans following the
 * load, alarm registers following health, and the brown-out of servers whose
 * buses carry more than their PSUs deliver for longer than the hold-up.
 *
 * The controller acts through the device registers (simdevs.h), faults and
 * servers' requests come as inputs (the timeline's words). Pure: time comes
 * in as now_ns, what happened goes out as events for the caller to log and
 * to alert on. docs/sim-devices.md describes the model.
 */
#ifndef PHYSICS_H
#define PHYSICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet.h"
#include "orv3.h"
#include "policy.h"
#include "rack.h"

#define PHYS_TICK_NS 100000000LL              /* the caller steps at least this often */
#define PHYS_DEFAULT_OVERLOAD_NS 1000000000LL /* hold-up and batteries carry an overload */
/* A server set to power on after AC loss boots this long after power returns. */
#define PHYS_AC_RESTART_NS 1000000000LL
#define PHYS_VOUT_MV 51000 /* output voltage at no load */
#define PHYS_VIN_MV 230000
#define PHYS_VBULK_MV 400000
#define PHYS_FREQ_HZ 50
#define PHYS_AMBIENT_C 25.0

struct phys_server {
    bool present;      /* sits in its slot (0 after remove) */
    bool powered;      /* slot coil: the controller granted power */
    uint16_t ask;      /* enum rackmod_ask */
    uint16_t changes;  /* +1 for each event that changes present or ask */
    int64_t cap_mw;    /* cap written by the controller, 0 = none */
    int64_t report_mw; /* a reported fixed draw, -1 = the power model */
    int64_t draw_mw;   /* what it draws now, 0 unless powered */
    uint16_t lost;     /* latch: losses of power the controller did not order (RACKMOD_SLOT_LOST) */
    bool ac_lost;      /* lost power with its coil on: a server set to power on after AC
                        * loss boots again when power returns (until the coil is written) */
    int64_t ac_lost_ns; /* when it lost it */
    double u;           /* utilisation, a slow random walk in 0..1 */
};

struct phys_psu {
    int64_t out_mw; /* power delivered now */
    int64_t vout_mv, iout_ma, pin_mw, vin_mv, iin_ma, vbulk_mv;
    int64_t ishare_ma; /* current-share current: the share the bus asks of it */
    int freq_hz;
    double pf, thd; /* ratios */
    double inlet_c, outlet_c, max_c, min_c;
    double fan_rpm[2];
    uint16_t alarm[ORV3_PSU_NALARMS]; /* registers 60..64, orv3.h's bits */
    uint32_t fault_count;             /* psu_fail events */
    uint32_t ac_cycles;               /* power-ups: 1 at start, +1 per feed repair */
    uint32_t ac_outages;              /* feed failures */
    int64_t up_ns;                    /* time with AC since start */
    int pending_bus;                  /* switch moving: the bus it reaches (-1 none), or -2 */
    int64_t pending_at_ns;            /* when it gets there */
    uint16_t settings[11];            /* registers 94..104 as last written */
    struct fleet_age age;             /* its ageing (phys_set_ageing), 0 when new */
    uint16_t age_status;              /* the STATUS_WORD warnings of that age (fleet.h) */
};

/* A BBU reserve (rack reserve of kind bbu): its energy is the rack copy's
 * wh_left, watts and discharging (struct rack_reserve); the rest is here. */
#define PHYS_BBU_CHARGE_DIV 10 /* it recharges at max_w / 10 while its bus has mains */
struct phys_bbu {
    bool charging;
    uint32_t cycles; /* discharges begun */
    uint16_t status; /* register 104 as injected (phys_bbu_fault); a bit of
                      * ORV3_BBU_CANNOT_DISCHARGE keeps it from carrying its bus */
};

enum phys_event_kind {
    PHYS_EV_NOTE,  /* a line for the log */
    PHYS_EV_ERROR, /* a refused input, for the log */
    PHYS_EV_PSU,   /* PSU index: its alarm registers changed */
    PHYS_EV_SLOT,  /* server index: the controller should read its slot (ask, removal, brown-out) */
    PHYS_EV_BBU,   /* reserve index: a BBU began or ended a discharge, ran empty, is full */
};

#define PHYS_MSG_LEN 256
struct phys_event {
    enum phys_event_kind kind;
    int index;
    char msg[PHYS_MSG_LEN];
};

struct phys {
    struct rack r; /* copy: PSU health and switch positions, failed feeds and buses */
    struct phys_server *srv;
    struct phys_psu *psu;
    struct phys_bbu *bbu;                /* per rack reserve (used for kind bbu) */
    int64_t bus_cap_mw[RACK_MAX_BUSES];  /* what the PSUs switched onto each bus deliver, and
                                          * the BBUs while mains cannot carry the load */
    int64_t bus_psu_mw[RACK_MAX_BUSES];  /* ... the PSUs alone */
    int64_t bus_load_mw[RACK_MAX_BUSES]; /* what each bus carries */
    int64_t overload_ns;                 /* how long an overload is carried before the brown-out */
    int64_t overload_since_ns;           /* INT64_MIN while there is none */
    int64_t now_ns, start_ns;
    uint64_t rng;
    /* Ageing (phys_set_ageing): hours of ageing per second of time, the unit
     * with a defect (-1 none), its cause and its defect's rate at 40 °C. */
    double ageing_h_per_s;
    int ageing_psu;
    enum fleet_cause ageing_cause;
    double ageing_rate_per_h;
    struct phys_event *ev;
    size_t nev, evcap, dropped;
};

/*
 * Copies the rack (servers start present, off, asking nothing; PSUs as the
 * file says). seed drives the servers' utilisation. Returns 0, -1 when out
 * of memory.
 */
int phys_init(struct phys *ph, const struct rack *r, uint64_t seed, int64_t overload_ns,
              int64_t now_ns);
void phys_free(struct phys *ph);

/*
 * Ages the PSUs h_per_s hours per second of time by the fleet simulator's
 * model (fleet.h): all of them wear slowly; PSU psu (-1: none) has a defect
 * of cause c (capacitor, fan or efficiency) that runs from new to its failure
 * in PHYS_DEFECT_H hours of ageing at 40 °C, sooner when hot. Its hot spot
 * (outlet temperature), fans, efficiency (input power) and output voltage
 * drift as it ages; warnings show in registers 60 and 63; at the end it fails
 * as after psu_fail. 0, or -1 with a message (bad unit, cause or rate).
 */
#define PHYS_DEFECT_H 168.0
int phys_set_ageing(struct phys *ph, int psu, enum fleet_cause c, double h_per_s, char *err,
                    size_t errlen);

/* Advances to now_ns (>= the last time): switches that arrive, draws,
 * loads, brown-outs, readings and alarms. Call at least every PHYS_TICK_NS. */
void phys_step(struct phys *ph, int64_t now_ns);
/* The next moment something happens by itself (a switch arrives, an overload
 * outlasts the hold-up), or INT64_MAX. */
int64_t phys_next_deadline(const struct phys *ph);

/*
 * Inputs with the timeline's words (POLICY_POWER_ON .. POLICY_REPORT, indexes
 * into ph->r). phys_check tells whether an input applies now (-1 and err when
 * it names nothing or does not fit the state: a server already on, a PSU not
 * failed ...); phys_apply checks, then applies it at now_ns and settles.
 */
int phys_check(const struct phys *ph, const struct policy_input *in, char *err, size_t errlen);
int phys_apply(struct phys *ph, const struct policy_input *in, int64_t now_ns, char *err,
               size_t errlen);
/* "psu_fail ps3" as the timeline's name and its subject. */
void phys_describe(const struct rack *r, const struct policy_input *in, char *buf, size_t len);

/*
 * The controller's side, from the device registers. Each logs one line,
 * "<why>: <what happened>" (why: the write, e.g. "write unit 1 coil 16 = 1").
 *
 * phys_switch connects psu to bus (connect) or disconnects it from bus; -1
 * when the PSU is not wired to that bus. A move between buses takes the
 * switch's time, during which the PSU is on no bus.
 */
int phys_switch(struct phys *ph, int psu, int bus, bool connect, int64_t now_ns, const char *why);
/* The bus psu's switch is on or moving to; -1 for none. */
int phys_switch_target(const struct phys *ph, int psu);
/*
 * Balancing (docs/sim-devices.md "Standby and share"): a PSU standing by
 * delivers nothing and draws its model's standby_w; it wakes by itself when
 * its bus's awake PSUs cannot carry the load (cold redundancy: the bus
 * sags). share_ppm (0 to PHYS_PPM) is the share of its bus's load it
 * carries; while the awake PSUs' shares on a bus sum to less than half of
 * PHYS_PPM they share in proportion to capacity. -1 for a bad PSU or share.
 */
#define PHYS_PPM 1000000LL
int phys_standby(struct phys *ph, int psu, bool standby, int64_t now_ns, const char *why);
int phys_share(struct phys *ph, int psu, int64_t share_ppm, int64_t now_ns, const char *why);
/* Powers a slot on (a grant; it clears a power-on ask) or off (a shed); -1
 * to power on an empty slot. */
int phys_power(struct phys *ph, int server, bool on, int64_t now_ns, const char *why);
void phys_cap(struct phys *ph, int server, int64_t cap_mw, int64_t now_ns, const char *why);
/* The controller handled the ask: it goes back to none. */
void phys_clear_ask(struct phys *ph, int server, int64_t now_ns, const char *why);
/* The controller saw the losses of power latched in the slot: the latch goes back to 0. */
void phys_clear_lost(struct phys *ph, int server, int64_t now_ns, const char *why);

/*
 * BBUs (docs/sim-devices.md "BBU"): a reserve of kind bbu carries the bus it
 * is directed to (its own unless to_bus) when mains cannot carry the load
 * there, up to max_w, while it has energy; it drains by outage_cell_w (the
 * planner's energy model) and recharges at max_w / PHYS_BBU_CHARGE_DIV
 * while a live PSU feeds its bus. phys_bbu_fault sets register 104's bits
 * (0 clears them); -1 when reserve is not a BBU.
 */
int phys_bbu_fault(struct phys *ph, int reserve, uint16_t status, int64_t now_ns, const char *why);
/* The bus a BBU carries (its own or the one it is directed to), or -1. */
int phys_bbu_bus(const struct phys *ph, int reserve);

/* Appends an event (the log line is printf-formatted). */
void phys_event(struct phys *ph, enum phys_event_kind kind, int index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The published server power model: idle + (peak - idle)(2u - u^1.4), idle
 * half the peak. */
int64_t phys_model_mw(int64_t peak_mw, double u);

#endif
