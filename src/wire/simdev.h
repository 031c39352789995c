/*
 * simdev.h - the Modbus register layout of the simulated rack's devices:
 * PSUs (the ORv3 PSU layout, src/wire/orv3.h), one switch module and one
 * chassis module per chassis. rackpower-sim serve speaks it; the daemon's
 * Modbus driver reads and writes it. docs/sim-devices.md is the reference.
 */
#ifndef SIMDEV_H
#define SIMDEV_H

/* Unit ids on the bus (TCP and RTU alike). */
#define SIMDEV_SWITCH_UNIT 1
#define SIMDEV_LOOSE_CHASSIS_UNIT 9 /* servers whose rack file names no chassis */
#define SIMDEV_CHASSIS_UNIT_BASE 10 /* chassis c (rack order) is unit 10 + c */
#define SIMDEV_MAX_CHASSIS 50
#define SIMDEV_MAX_SLOTS 100 /* servers per chassis module */
#define SIMDEV_MAX_PSUS 20

/* PSU i (rack order) answers at the ORv3 PSU addresses in this order:
 * 200-205, 232-237, 240-242, then 243-247 (Modbus unit ids end at 247). */
static const unsigned char simdev_psu_units[SIMDEV_MAX_PSUS] = {
    200, 201, 202, 203, 204, 205, 232, 233, 234, 235,
    236, 237, 240, 241, 242, 243, 244, 245, 246, 247,
};

/*
 * Switch module (unit SIMDEV_SWITCH_UNIT).
 * Coils (0x01 read, 0x05/0x0F write): coil SIMDEV_SW_COIL(psu, bus) is 1
 * while PSU psu is connected to bus bus. Writing 1 connects the PSU to that
 * bus and disconnects it from any other (a switch has one position); writing
 * 0 disconnects it. A bus the PSU is not wired to answers exception 0x03.
 * Holding registers (0x03): register SIMDEV_SW_REG_BUS(psu) = bus + 1, or 0
 * when the PSU is connected to none. Read-only.
 */
#define SIMDEV_SW_COIL(psu, bus) ((psu)*8 + (bus))
#define SIMDEV_SW_REG_BUS(psu) (psu)

/*
 * Chassis module (unit SIMDEV_CHASSIS_UNIT_BASE + c, or the loose unit).
 * A slot is a server of that chassis, in rack-file order. Holding registers
 * (0x03 read; 0x06/0x10 write where said) at SIMDEV_SLOT_REG(slot, field):
 */
enum simdev_slot_field {
    SIMDEV_SLOT_PRESENT = 0,   /* 1 while a server sits in the slot, 0 after removal */
    SIMDEV_SLOT_REQUEST_W = 1, /* watts it asks for: its EEPROM figure */
    SIMDEV_SLOT_STATE = 2,     /* enum simdev_power_state */
    SIMDEV_SLOT_CAP_W = 3,     /* cap in W, written by the controller; 0 = none */
    SIMDEV_SLOT_DRAW_W = 4,    /* measured draw, W */
    SIMDEV_SLOT_ASK = 5,       /* enum simdev_ask; written 0 by the controller once handled */
    SIMDEV_SLOT_CHANGES = 6,   /* counts every change of PRESENT or ASK (wraps at 65536) */
    SIMDEV_SLOT_FIELDS = 8,    /* registers per slot */
};
#define SIMDEV_SLOT_REG(slot, field) ((slot)*SIMDEV_SLOT_FIELDS + (field))

enum simdev_power_state { SIMDEV_OFF = 0, SIMDEV_ON = 1, SIMDEV_CAPPED = 2 };
enum simdev_ask {
    SIMDEV_ASK_NONE = 0,
    SIMDEV_ASK_POWER_ON = 1,  /* the server asks permission to power on */
    SIMDEV_ASK_POWER_OFF = 2, /* the server powered down in order: its power is released */
};

/* Coils: SIMDEV_SLOT_COIL(slot) powers the slot's server: written 1 by the
 * controller to grant (or restore), 0 to shed. Reads back the power state. */
#define SIMDEV_SLOT_COIL(slot) (slot)

#endif
