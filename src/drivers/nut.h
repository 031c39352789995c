/*
 * nut.h - the `nut` driver (driver.h): a Network UPS Tools upsd, spoken to
 * with libupsclient (docs/outage.md "Graceful stops through upsd and upsmon").
 *
 * One instance is one `kind: nut` entry of the config: one upsd, and on it
 *  - UPSes that are reserves of kind ups: each poll reads their ups.status,
 *    battery.charge, battery.runtime and ups.realpower into a
 *    driver_reserve_reading (unread when upsd or the UPS does not answer);
 *  - UPSes that stand for servers (dummy-ups "UPSes" whose status rackpowerd
 *    sets): POLICY_ACT_STAGE publishes the server's stage as ups.status "OL",
 *    "OB" or "OB LB" with SET VAR, and the upsmon on that server, a secondary
 *    on it, shuts the server down at OB LB. Never FSD (upsd latches it).
 * Every call blocks at most the config's timeout_ms in I/O (plus at most a
 * second when upsd's answer arrives in pieces: libupsclient counts in
 * seconds). A upsd that does not answer is connected again at the next poll.
 *
 * At open, every published server is set back to OL at the first connection
 * unless the rack says an outage is on (a feed on reserve, a reserve
 * discharging, a server held): then the driver leaves upsd as it is until
 * the engine sends stages. A lone controller's driver keeps what it
 * published: when upsd says otherwise (a dummy-ups restarted from its file,
 * someone's upsrw), the next poll publishes it again. A controller of a
 * cluster (dev->clustered) publishes only what the engine sends, never on
 * its own: a stale primary's driver must not fight the new primary's.
 */
#ifndef NUT_H
#define NUT_H

#include "driver.h"

extern const struct driver_ops nut_ops;

/* Whether the rack, as a driver gets it at open, says an outage is on: a
 * feed on reserve, a reserve discharging or a server held. */
bool nut_rack_in_outage(const struct rack *r);

#endif
