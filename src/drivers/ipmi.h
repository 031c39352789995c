/*
 * ipmi.h - the `ipmi` driver (driver.h): one server's BMC over IPMI 2.0 LAN
 * (RMCP+), through libfreeipmi (docs/outage.md "Hard power and caps through
 * the BMCs").
 *
 * One instance is one `kind: ipmi` entry of the config: one BMC, one rack
 * server. It reads the chassis power state every poll (Get Chassis Status)
 * and carries out the decisions about its server: shed and release power the
 * server off (Chassis Control power down, hard); grant and restore power it
 * on; soft_off asks for an ACPI soft shutdown (Chassis Control 05h); a cap
 * sets and activates the DCMI power limit where the BMC has one (a BMC
 * without DCMI is said so in the device's counters, and the cap is left to
 * the other devices). A stage OB LB to its server (the server's own upsmon
 * shuts it down) makes its going off expected, not a loss.
 *
 * It has no owner-epoch register: its commands carry no fence. With node:,
 * the daemon decides whether it may send them (docs/outage.md "Several
 * controllers").
 */
#ifndef IPMI_H
#define IPMI_H

#include "driver.h"

extern const struct driver_ops ipmi_ops;

/* Reads an IPMI password from path into buf (at most 20 bytes, IPMI 2.0):
 * the file holds it alone (one trailing newline allowed), is a regular file,
 * and its owner alone may read it (mode 0600 or 0400). 0, or -1 with err. */
int ipmi_read_password(const char *path, char *buf, size_t len, char *err, size_t errlen);

#endif
