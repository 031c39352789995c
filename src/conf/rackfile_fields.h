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
/* Resolves the id in v (of key) to the index of an element of kind ref in
 * c->r, or fails naming the key and the unknown id. */
int rackfile_lookup(struct conf_ctx *c, enum conf_ref ref, const char *key, const yaml_node_t *v,
                    int *out);
/* A list of buses, each at most once, at least one: a uint32_t mask. */
conf_setter rackfile_set_busmask;

/* ---- outages (rackfile_outage.c, docs/outage.md "The model") ---- */
/* The rack's qos_classes:, activities:, reserves: and outage: (obj: the rack). */
conf_setter rackfile_set_qos_classes;
conf_setter rackfile_set_activities;
conf_setter rackfile_set_reserves;
conf_setter rackfile_set_outage;
/* A timeline step's mains_fail, mains_return, outage, reserve_lost or
 * reserve_back (obj: the struct rackfile_step, events allocated). */
conf_setter rackfile_set_event;
/* Once the rack is read: each server's priority from its activities (a
 * server without any needs priority:, one with them may not contradict
 * them) and own_priority. servers: the servers: list node, or NULL. */
int rackfile_outage_priorities(struct conf_ctx *c, const yaml_node_t *servers);

/* The noun of an element kind in messages: "psu", "server". */
const char *rackfile_ref_noun(enum conf_ref ref);
/* Frees the rack schema's indexes in c (not the rack). */
void rackfile_ctx_free(struct conf_ctx *c);

#endif
