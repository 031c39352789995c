/*
 * rackfile_fields.h - what the rack schema (rackfile.c) offers the other
 * schemas built on the field-table engine (conf.h): the daemon config and
 * the drivers' device keys. Fields that name the rack's elements resolve
 * against c->r, the rack loaded before them.
 */
#ifndef RACKFILE_FIELDS_H
#define RACKFILE_FIELDS_H

#include "conf.h"
#include "rackfile.h"

/* The top-level `rack:` mapping into c->r (obj unused). */
conf_setter rackfile_set_rack;
/* The top-level `timeline:` into c->tl; "only allowed in a scenario file"
 * when c->tl is NULL (obj unused). */
conf_setter rackfile_set_timeline;
/* A timeline stored at f->off in obj (a sim device's, say). */
conf_setter rackfile_set_timeline_at;
/* One id of a rack element of kind f->ref, stored as its index (int). */
conf_setter rackfile_set_ref;
/* A list of ids of kind f->ref, each at most once, at least f->min: a
 * struct rackfile_ids. */
conf_setter rackfile_set_ids;
/* The noun of an element kind in messages: "psu", "server". */
const char *rackfile_ref_noun(enum conf_ref ref);
/* Frees the rack schema's indexes in c (not the rack). */
void rackfile_ctx_free(struct conf_ctx *c);

#endif
