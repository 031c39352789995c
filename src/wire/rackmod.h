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

#endif
