/*
 * simdevs.h - the simulated rack's Modbus devices over struct phys, with the
 * register layout of src/wire/rackmod.h: an ORv3 PSU per PSU (its registers
 * from shared/reference/orv3-modbus.md), the switch module, and a chassis
 * module per chassis (plus one for servers whose rack file names none).
 * docs/sim-devices.md is the reference. Pure: serve.c moves the bytes.
 */
#ifndef SIMDEVS_H
#define SIMDEVS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mbsrv.h"
#include "physics.h"

#define SIMDEVS_PSU_NREGS 110        /* registers 0..109 (ORV3_PSU_EXT_NREGS) */
#define SIMDEVS_PSU_SETTINGS 94      /* 94..105: written by the controller, stored */
#define SIMDEVS_PSU_SETTINGS_END 106 /* 106..109 (bootloader revision) are read-only */
#define SIMDEVS_NSETTINGS (SIMDEVS_PSU_SETTINGS_END - SIMDEVS_PSU_SETTINGS)
#define SIMDEVS_VOUT_TIMER_DEFAULT 60 /* register 105 until written */
#define SIMDEVS_FBL_REV "0.9.2"       /* registers 106..109, bootloader firmware revision */

enum simdevs_kind { SIMDEVS_NONE, SIMDEVS_PSU, SIMDEVS_SWITCH, SIMDEVS_CHASSIS, SIMDEVS_BBU };

struct simdevs {
    struct phys *ph;
    int64_t now_ns; /* the caller sets it before each request */
    uint8_t kind[256];
    int index[256];                   /* PSU index; chassis index (-1: the loose unit) */
    int slot_first[256], nslots[256]; /* chassis units: their servers in slot_server */
    int *slot_server;
    int *server_unit, *server_slot; /* per server; unit 0 when not served */
    int npsus;                      /* PSUs served (at most RACKMOD_MAX_PSUS) */
    int nbbus;                      /* BBUs served (at most ORV3_NBBU_UNITS) */
    int *reserve_unit;              /* per rack reserve: its BBU unit, 0 when not served */
    /* Units that answer nothing (a BBU whose readings are lost: `reserve_lost`
     * on the control socket): no answer on RTU, exception 0x0B on TCP. */
    bool silent[256];
    uint16_t (*settings)[SIMDEVS_NSETTINGS];
    /* When the unix time (98..99) was last written, per PSU; 0 = never: the
     * PSU's clock then counts on from the written value. */
    int64_t *clock_set_ns;
    uint32_t crc_errors[256];     /* RTU frames with a bad CRC, by address byte */
    uint32_t timeout_errors[256]; /* RTU frames cut short (ended at the silence), by address */
    int unserved_psus, unserved_servers, unserved_bbus;
    /* Switch and chassis units: the highest epoch a command carried
     * (rackmod.h "Fencing"); 0 until fenced. Kept for as long as the
     * simulator runs, lost when it restarts. */
    uint64_t owner_epoch[256];
};

/* Assigns unit ids (rackmod.h; the BBU reserves, in rack order, at the ORv3 BBU
 * addresses 64-69, 80-82, 96-101). baud is shown in PSU register 95. Returns
 * 0, -1 when out of memory. PSUs, chassis, slots or BBUs beyond these limits
 * are not served; unserved_psus, unserved_servers and unserved_bbus count them. */
int simdevs_init(struct simdevs *d, struct phys *ph, int baud);
void simdevs_free(struct simdevs *d);

enum simdevs_kind simdevs_kind(const struct simdevs *d, int unit);
/* Whether unit answers requests: served and not silent. */
bool simdevs_answers(const struct simdevs *d, int unit);
/* Unit of BBU reserve k (rack reserve index), or 0 when not served. */
int simdevs_bbu_unit(const struct simdevs *d, int reserve);
/* Makes BBU reserve k's unit silent (lost) or answer again; -1 when it is not served. */
int simdevs_bbu_silence(struct simdevs *d, int reserve, bool silent);
/* Unit of PSU i, or 0 when not served. */
int simdevs_psu_unit(const struct simdevs *d, int psu);
/* Unit of server i's chassis module and its slot there, or 0. */
int simdevs_server_unit(const struct simdevs *d, int server, int *slot);
/* The owner epoch of a switch or chassis unit; 0 for any other unit. */
uint64_t simdevs_owner_epoch(const struct simdevs *d, int unit);
/* "ps1=200 ps2=201 switch=1 c1=10 c2=11" */
void simdevs_describe(const struct simdevs *d, char *buf, size_t len);

/* The Modbus face of the devices; ctx is a struct simdevs. */
extern const struct mbsrv_ops simdevs_ops;

/* PSU psu's registers 0..109 as a client reads them at now_ns. */
void simdevs_psu_image(const struct simdevs *d, int psu, uint16_t img[SIMDEVS_PSU_NREGS]);

/* BBU reserve k's registers 0..313 (ORV3_BBU_NREGS) at the physics' state
 * (docs/sim-devices.md "BBU"). */
void simdevs_bbu_image(const struct simdevs *d, int reserve, uint16_t img[ORV3_BBU_NREGS]);

/*
 * ORv3 encodings (shared/reference/orv3-modbus.md). FLOAT: raw = value *
 * 2^precision rounded, two's complement when signed, saturated to the word.
 * STRING: two characters a word, high byte first, space-padded, truncated.
 */

#endif
