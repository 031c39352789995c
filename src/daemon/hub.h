/*
 * hub.h - everything the loop thread shares with the HTTP threads, and the
 * only place where they meet (one mutex):
 *   - the snapshot: immutable JSON texts of the rack, rebuilt by the loop
 *     after each change and swapped in; readers take a reference and never
 *     see the live state or a half-built document;
 *   - the journal's newest event id, which event streams follow;
 *   - commands (power on, out of service ...) that the HTTP side posts to
 *     the loop; a watcher hears of each answer.
 */
#ifndef HUB_H
#define HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rack.h"

/* One kind of element in the snapshot: each one's JSON, and the list. */
struct hub_list {
    size_t n;
    char (*ids)[RACK_ID_LEN];
    char **json; /* json[i]: the object of ids[i] */
    char *all;   /* {"<name>": [ ... every object ... ]} */
};

struct hub_snap {
    char *status; /* GET /v1/status */
    struct hub_list servers, psus, buses;
    char *outage; /* GET /v1/outage */
    int refs;     /* under the hub's mutex */
};

/* Index of id in a list, or -1. */
long hub_list_find(const struct hub_list *l, const char *id);
/* Frees a snapshot that was never published (hub_publish owns the others). */
void hub_snap_free(struct hub_snap *s);

enum hub_cmd_kind {
    HUB_POWER_ON,
    HUB_POWER_OFF,
    HUB_PSU_OUT,
    HUB_PSU_IN,
    HUB_BUS_OUT,
    HUB_BUS_IN,
    HUB_RELOAD,         /* reload the config and the tokens, as SIGHUP does */
    HUB_SHUTDOWN,       /* stop, as SIGTERM does */
    HUB_OUTAGE_START,   /* the operator says the power is out (docs/outage.md) */
    HUB_OUTAGE_END,     /* ... and back */
    HUB_OUTAGE_PLAN,    /* GET /v1/outage/plan: what the planner would do, nothing acts */
    HUB_PSU_RISK_CLEAR, /* the operator says a PSU predicted to fail is not (docs/prediction.md) */
};

struct hub_cmd {
    enum hub_cmd_kind kind;
    char id[RACK_ID_LEN + 32]; /* as asked: may name nothing */
    char note[256];            /* the operator's reason, "" when none */
    char who[80];              /* who asked: a token's name or "uid:N" (the journal says) */
    char role[12];             /* the role the API gave them ("viewer" ...), "" unsaid */
    bool dry_run;              /* out/in service: answer what it would do, do nothing */
    bool force;                /* out of service: even when it sheds or caps someone */
    /* the answer, set by the loop */
    int status; /* HTTP status */
    char *body; /* JSON, malloc'd */
    bool done;  /* under the hub's mutex */
    /* Optional: told of the answer on the answering (loop) thread, before
     * the watcher: a command forwarded by another controller goes back to
     * it this way (relay.h). */
    void (*on_answer)(void *arg, const struct hub_cmd *c);
    void *on_answer_arg;
    int refs; /* the asking thread and the hub: the last one frees */
    struct hub_cmd *next;
};

struct hub;

/* wake(arg) is called (from any thread) when commands are waiting. */
struct hub *hub_new(void (*wake)(void *arg), void *arg);
/* After hub_shutdown and once no other thread uses it. */
void hub_free(struct hub *h);

/* Publishes a new snapshot; the hub owns it from now. */
void hub_publish(struct hub *h, struct hub_snap *s);
/* The current snapshot with a reference, or NULL before the first. */
struct hub_snap *hub_snap_get(struct hub *h);
void hub_snap_put(struct hub *h, struct hub_snap *s);

/* The loop announces the journal's newest id. */
void hub_notify(struct hub *h, int64_t last_id);
/* The newest id, or -1 when the hub is shutting down. */
int64_t hub_last_event(struct hub *h);
/* fn(arg, c) is called after each hub_notify and hub_shutdown (c NULL) and
 * each hub_answer (c the command answered, still referenced), from the
 * calling thread, outside the hub's mutex; it must not block. One watcher. */
void hub_watch(struct hub *h, void (*fn)(void *arg, struct hub_cmd *answered), void *arg);

/* A new command with one reference for the caller. NULL when out of memory.
 * who: who asked (NULL: nobody said). */
struct hub_cmd *hub_cmd_new(enum hub_cmd_kind kind, const char *id, const char *note,
                            const char *who);
/* Drops a reference. */
void hub_cmd_put(struct hub *h, struct hub_cmd *c);
/* Posts c to the loop without waiting: 0, or -1 when the hub is shutting
 * down. The watcher hears of its answer. */
int hub_post(struct hub *h, struct hub_cmd *c);
/* Whether the loop has answered c (status, body set). */
bool hub_cmd_answered(struct hub *h, const struct hub_cmd *c);
/* The loop: takes the waiting commands (oldest first; each holds a reference
 * the loop drops with hub_answer). */
struct hub_cmd *hub_take(struct hub *h);
/* The loop: answers c (body: malloc'd JSON, the hub owns it) and drops its
 * reference. */
void hub_answer(struct hub *h, struct hub_cmd *c, int status, char *body);

/* For good: hub_last_event returns -1, hub_post fails, the watcher is
 * told. */
void hub_shutdown(struct hub *h);
bool hub_is_shutdown(struct hub *h);

#endif
