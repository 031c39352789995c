/*
 * democonf.h - contrib/rackpower.yaml, built into rackpowerd at build time
 * (cmake/tools/embed_text.cmake): what `rackpowerd --sim` runs when no
 * --config is given, so a newcomer's first command needs no file.
 */
#ifndef RP_DEMOCONF_H
#define RP_DEMOCONF_H

#include <stddef.h>

extern const char rp_demo_config[]; /* NUL-terminated */
extern const size_t rp_demo_config_len;

#endif
