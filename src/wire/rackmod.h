/*
 * rackmod.h - the Modbus register map of the rack's switch and chassis
 * modules (the devices that take the controller's commands: a PSU's bus
 * switch, a slot's power and cap), and the unit ids of a rack's devices:
 * one switch module, one chassis module per chassis, and the PSUs at the
 * ORv3 PSU addresses (their registers are the ORv3 layout, orv3.h). The
 * daemon's Modbus driver (src/drivers/mbdev.c, mbdrv.c) reads and writes
 * it; rackpower-sim serve answers it. docs/sim-devices.md is the reference.
 */
#ifndef RACKMOD_H
#define RACKMOD_H

#include <stdbool.h>
#include <stdint.h>

/* Unit ids on the bus (TCP and RTU alike). */
#define RACKMOD_SWITCH_UNIT 1
#define RACKMOD_LOOSE_CHASSIS_UNIT 9 /* servers whose rack file names no chassis */
#define RACKMOD_CHASSIS_UNIT_BASE 10 /* chassis c (rack order) is unit 10 + c */
#define RACKMOD_MAX_CHASSIS 50
#define RACKMOD_MAX_SLOTS 100 /* servers per chassis module */
#define RACKMOD_MAX_PSUS 20

/* PSU i (rack order) answers at the ORv3 PSU addresses in this order:
 * 200-205, 232-237, 240-242, then 243-247 (Modbus unit ids end at 247). */
static const unsigned char rackmod_psu_units[RACKMOD_MAX_PSUS] = {
    200, 201, 202, 203, 204, 205, 232, 233, 234, 235,
    236, 237, 240, 241, 242, 243, 244, 245, 246, 247,
};

/*
 * Switch module (unit RACKMOD_SWITCH_UNIT).
 * Coils (0x01 read, 0x05/0x0F write): coil RACKMOD_SW_COIL(psu, bus) is 1
 * while PSU psu is connected to bus bus. Writing 1 connects the PSU to that
 * bus and disconnects it from any other (a switch has one position); writing
 * 0 disconnects it. A bus the PSU is not wired to answers exception 0x03.
 * Holding registers (0x03): register RACKMOD_SW_REG_BUS(psu) = bus + 1, or 0
 * when the PSU is connected to none. Read-only.
 */
#define RACKMOD_SW_COIL(psu, bus) ((psu)*8 + (bus))
#define RACKMOD_SW_REG_BUS(psu) (psu)

/*
 * Chassis module (unit RACKMOD_CHASSIS_UNIT_BASE + c, or the loose unit).
 * A slot is a server of that chassis, in rack-file order. Holding registers
 * (0x03 read; 0x06/0x10 write where said) at RACKMOD_SLOT_REG(slot, field):
 */
enum rackmod_slot_field {
    RACKMOD_SLOT_PRESENT = 0,   /* 1 while a server sits in the slot, 0 after removal */
    RACKMOD_SLOT_REQUEST_W = 1, /* watts it asks for: its EEPROM figure */
    RACKMOD_SLOT_STATE = 2,     /* enum rackmod_power_state */
    RACKMOD_SLOT_CAP_W = 3,     /* cap in W, written by the controller; 0 = none */
    RACKMOD_SLOT_DRAW_W = 4,    /* measured draw, W */
    RACKMOD_SLOT_ASK = 5,       /* enum rackmod_ask; written 0 by the controller once handled */
    RACKMOD_SLOT_CHANGES = 6,   /* counts every change of PRESENT or ASK (wraps at 65536) */
    RACKMOD_SLOT_LOST = 7,      /* latch: +1 each time the server lost power without the
                                 * coil being written 0 (brown-out, breaker), saturating at
                                 * 65535; written 0 by the controller once it has seen it */
    RACKMOD_SLOT_FIELDS = 8,    /* registers per slot */
};
#define RACKMOD_SLOT_REG(slot, field) ((slot)*RACKMOD_SLOT_FIELDS + (field))

enum rackmod_power_state { RACKMOD_SLOT_OFF = 0, RACKMOD_SLOT_ON = 1, RACKMOD_SLOT_CAPPED = 2 };
enum rackmod_ask {
    RACKMOD_ASK_NONE = 0,
    RACKMOD_ASK_POWER_ON = 1,  /* the server asks permission to power on */
    RACKMOD_ASK_POWER_OFF = 2, /* the server powered down in order: its power is released */
};

/* Coils: RACKMOD_SLOT_COIL(slot) powers the slot's server: written 1 by the
 * controller to grant (or restore), 0 to shed. Reads back the power state. */
#define RACKMOD_SLOT_COIL(slot) (slot)

/*
 * Fencing (issue 9, docs/sim-devices.md "Fencing"): the switch module and
 * every chassis module hold an owner epoch, the highest controller epoch
 * (design9.md: term << 8 | address; 0 = none) any command to it carried.
 * A command from a controller of a lower epoch (a primary that was replaced
 * and does not know it yet) is refused, so a stale primary can do nothing.
 *
 * Holding registers RACKMOD_OWNER_EPOCH .. +3 read the owner epoch, 64 bits
 * in big-endian words (the first word is the highest). Read-only.
 *
 * A fenced command is one write multiple registers (0x10) request to
 * RACKMOD_FENCED_CMD: the epoch in 4 words as above, then 0 or more
 * commands. The epoch and the command travel together, so no other
 * controller can come between them. Just the 4 epoch words is the fence
 * itself (it raises the owner epoch and commands nothing).
 *   switch module: pairs (psu, position): position bus + 1 connects the PSU
 *     to that bus (and off any other), 0 disconnects it from any bus;
 *   chassis module: triples (slot, op, value), enum rackmod_slot_op.
 * All of a request's commands are checked before any is carried out: a
 * bad one (exception 0x02 or 0x03) changes nothing, the owner epoch
 * neither. An epoch lower than the owner epoch is refused with exception
 * 0x04 (server device failure), changing nothing; an epoch equal or higher
 * is accepted and becomes the owner epoch.
 *
 * Once the owner epoch is not 0, a bare command (0x05/0x0F coil writes, and
 * 0x06/0x10 writes of CAP_W, ASK and LOST) carries no epoch and is refused
 * with exception 0x04. While it is 0 (no controller of a cluster ever spoke
 * to the device), bare commands work: a lone controller sends those.
 */
#define RACKMOD_OWNER_EPOCH 0x1000 /* 4096..4099 */
#define RACKMOD_FENCED_CMD 0x1004  /* 4100..: write only, with 0x10 */
#define RACKMOD_EPOCH_WORDS 4
#define RACKMOD_SW_CMD_WORDS 2   /* psu, bus + 1 or 0 */
#define RACKMOD_SLOT_CMD_WORDS 3 /* slot, op, value */
/* The most commands one request can carry (0x10 writes at most 123 words). */
#define RACKMOD_MAX_SW_CMDS ((123 - RACKMOD_EPOCH_WORDS) / RACKMOD_SW_CMD_WORDS)
#define RACKMOD_MAX_SLOT_CMDS ((123 - RACKMOD_EPOCH_WORDS) / RACKMOD_SLOT_CMD_WORDS)

/*
 * rackpower's extension of an ORv3 PSU (not ORv3: its rectifier has no
 * standby or share register; docs/sim-devices.md "Standby and share, an
 * extension"): the PSU units answer the same owner epoch and fenced command
 * block, commands pairs (op, value), enum rackmod_psu_op, under the rules
 * above; RACKMOD_PSU_STATE .. +1 read back standby (0/1) and the share.
 * The ORv3 registers 94..105 stay bare (they command no power).
 */
#define RACKMOD_PSU_CMD_WORDS 2  /* op, value */
#define RACKMOD_PSU_STATE 0x1100 /* 4352: standby, 4353: share; read-only */
#define RACKMOD_PSU_STATE_WORDS 2
#define RACKMOD_SHARE_SCALE 10000 /* a share's unit: 1/10000 of the bus's load */
#define RACKMOD_MAX_PSU_CMDS ((123 - RACKMOD_EPOCH_WORDS) / RACKMOD_PSU_CMD_WORDS)

enum rackmod_psu_op {
    RACKMOD_PSU_OP_STANDBY = 1, /* value 1: stand by (output off), 0: wake */
    RACKMOD_PSU_OP_SHARE = 2,   /* value: its share of its bus's load in 1/10000, 0 = none */
};

enum rackmod_slot_op {
    RACKMOD_OP_POWER = 1,      /* value 1 powers the slot's server on, 0 off (the coil) */
    RACKMOD_OP_CAP_W = 2,      /* value: the cap in W, 0 = none (CAP_W) */
    RACKMOD_OP_CLEAR_ASK = 3,  /* value 0: the ask was handled (ASK written 0) */
    RACKMOD_OP_CLEAR_LOST = 4, /* value 0: the losses were seen (LOST written 0) */
};

/* The fence rule, the one both the simulated devices and the cluster
 * simulation apply: a command carrying epoch is accepted when epoch is not
 * lower than the owner epoch. */
static inline bool rackmod_fence_check(uint64_t owner_epoch, uint64_t epoch)
{
    return epoch >= owner_epoch;
}

/* Applies the rule to a device's owner epoch: true when accepted, and then
 * the owner epoch is raised to epoch. Refused: unchanged. */
static inline bool rackmod_fence_accept(uint64_t *owner_epoch, uint64_t epoch)
{
    if (!rackmod_fence_check(*owner_epoch, epoch))
        return false;
    *owner_epoch = epoch;
    return true;
}

/* A bare command (no epoch) is accepted only by a device never fenced. */
static inline bool rackmod_bare_ok(uint64_t owner_epoch)
{
    return owner_epoch == 0;
}

static inline void rackmod_epoch_put(uint64_t epoch, uint16_t words[RACKMOD_EPOCH_WORDS])
{
    for (int i = 0; i < RACKMOD_EPOCH_WORDS; i++)
        words[i] = (uint16_t)(epoch >> (16 * (RACKMOD_EPOCH_WORDS - 1 - i)));
}

static inline uint64_t rackmod_epoch_get(const uint16_t words[RACKMOD_EPOCH_WORDS])
{
    uint64_t e = 0;
    for (int i = 0; i < RACKMOD_EPOCH_WORDS; i++)
        e = e << 16 | words[i];
    return e;
}

#endif
