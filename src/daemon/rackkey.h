/*
 * rackkey.h - the rack key file (docs/controllers.md, "Messages and keys"):
 * the shared key the rack bus seals its datagrams with (rackbus.h). The
 * encodings in src/wire stay pure; reading the file is the daemon's.
 */
#ifndef RACKKEY_H
#define RACKKEY_H

#include <stddef.h>

#include "rackbus.h"

/* Reads the key file: a regular file whose mode gives its group and others
 * nothing, holding RACKBUS_KEY_MIN_BYTES..RACKBUS_KEY_MAX_BYTES raw bytes
 * (`head -c 32 /dev/urandom > rack.key; chmod 600 rack.key`). -1 and a reason
 * otherwise; *k is then left zeroed. */
int rackkey_load(const char *path, struct rackbus_key *k, char *err, size_t errlen);

#endif
