/*
 * auth.h - who may do what on rackpowerd's API (docs/security.md).
 *
 * Roles: a viewer reads; an operator also powers servers on and off and takes
 * PSUs and buses out of and back into service; an admin also reloads and
 * shuts the daemon down.
 *
 * Credentials: bearer tokens, kept in a file as "NAME ROLE SALT HASH" lines
 * (SHA-256 of the salt and the token, hex), each token 32 random bytes shown
 * once when made; on the local socket, the peer's uid or gid (SO_PEERCRED).
 *
 * Pure apart from auth_tokens_load (reads a file), auth_token_new (draws
 * random bytes) and auth_peer (asks the kernel): no clock, no log. Errors are
 * -1 and a message.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum auth_role { AUTH_NONE, AUTH_VIEWER, AUTH_OPERATOR, AUTH_ADMIN };

/* "viewer", "operator", "admin" ("none" for AUTH_NONE). */
const char *auth_role_name(enum auth_role r);
/* The role named s, or AUTH_NONE. */
enum auth_role auth_role_parse(const char *s);

#define AUTH_NAME_LEN 64 /* a token's name, with its NUL */
#define AUTH_SALT_BYTES 16
#define AUTH_HASH_BYTES 32 /* SHA-256 */
#define AUTH_SECRET_BYTES 32
#define AUTH_TOKEN_LEN (3 + 2 * AUTH_SECRET_BYTES + 1) /* "rp_" + hex, with its NUL */

struct auth_token {
    char name[AUTH_NAME_LEN];
    enum auth_role role;
    uint8_t salt[AUTH_SALT_BYTES];
    uint8_t hash[AUTH_HASH_BYTES];
};

struct auth_tokens {
    size_t n, cap;
    struct auth_token *v;
};

/* A token's name: 1 to 63 of A-Z a-z 0-9 _ . - @ (it goes in the journal). */
bool auth_name_ok(const char *name);

/* Parses a tokens file's text: one "NAME ROLE SALT HASH" per line, '#'
 * comments and blank lines ignored. file names it in messages
 * ("file:line: ..."). 0, or -1 with err (out is left empty). */
int auth_tokens_parse(const char *text, size_t len, const char *file, struct auth_tokens *out,
                      char *err, size_t errlen);
/* Reads and parses the file at path. Refused when group or others may read
 * or write it, or when its owner is neither root nor uid. A missing file is
 * no tokens (0, *missing set). 0, or -1 with err. */
int auth_tokens_load(const char *path, uid_t uid, struct auth_tokens *out, bool *missing, char *err,
                     size_t errlen);
/* Writes the tokens to path (mode 0600, through a temporary file and a
 * rename). 0, or -1 with err. */
int auth_tokens_save(const char *path, const struct auth_tokens *t, char *err, size_t errlen);
void auth_tokens_free(struct auth_tokens *t);
/* The index of the token named name, or -1. */
long auth_tokens_find(const struct auth_tokens *t, const char *name);
/* Adds one (its name must be new). 0, or -1 with err. */
int auth_tokens_add(struct auth_tokens *t, const struct auth_token *tok, char *err, size_t errlen);
/* Removes the token at index i. */
void auth_tokens_remove(struct auth_tokens *t, size_t i);

/* The token whose hash the secret matches, compared in constant time over
 * every entry; NULL when none does. */
const struct auth_token *auth_tokens_verify(const struct auth_tokens *t, const char *secret);

/* A new token named name with role: its entry in *tok and the secret
 * (shown once) in secret. 0, or -1 with err. */
int auth_token_new(const char *name, enum auth_role role, struct auth_token *tok,
                   char secret[AUTH_TOKEN_LEN], char *err, size_t errlen);

/* ---- requests ---- */

/* What a request wants done. */
enum auth_action {
    AUTH_READ,     /* GET, HEAD */
    AUTH_RAISE,    /* power-on, in-service: may raise power */
    AUTH_LOWER,    /* power-off, out-of-service: lowers power */
    AUTH_RELOAD,   /* reload the config */
    AUTH_SHUTDOWN, /* stop the daemon */
};

/* The least role that may do a. */
enum auth_role auth_needs(enum auth_action a);

/* The role of a peer on the local socket: root and the daemon's own uid are
 * admin; a peer whose gid, or one of whose groups, is group (a gid; (gid_t)-1
 * for none) gets group_role; anyone else none. */
enum auth_role auth_peer_role(uid_t peer_uid, gid_t peer_gid, const gid_t *groups, size_t ngroups,
                              uid_t self_uid, gid_t group, enum auth_role group_role);

/* The uid, gid and supplementary groups of the peer of a connected Unix
 * socket (SO_PEERCRED, SO_PEERGROUPS). *ngroups: in, the room in groups;
 * out, how many were filled. 0, or -1 with errno. */
int auth_peer(int fd, uid_t *uid, gid_t *gid, gid_t *groups, size_t *ngroups);

/*
 * Whether a Host header names this server: its host part (without the port,
 * IPv6 literals in brackets) equals one of names (n of them, compared
 * without case). A browser led to us by DNS rebinding sends the attacker's
 * name: refused.
 */
bool auth_host_ok(const char *host, const char *const *names, size_t n);
/* Whether an Origin header is one of origins (exactly, without case). */
bool auth_origin_ok(const char *origin, const char *const *origins, size_t n);
/* Whether a Content-Type is application/json (parameters after ';' allowed). */
bool auth_json_type(const char *content_type);
/* The token of an "Authorization: Bearer TOKEN" header, or NULL. */
const char *auth_bearer(const char *authorization);

/* ---- where things are ---- */

/* Where the local socket is when the config does not say: the first of
 * $RUNTIME_DIRECTORY/rackpowerd.sock (systemd's RuntimeDirectory=),
 * /run/rackpower/rackpowerd.sock as root, $XDG_RUNTIME_DIR/rackpowerd.sock,
 * $XDG_STATE_HOME/rackpower/rackpowerd.sock,
 * $HOME/.local/state/rackpower/rackpowerd.sock (beside a user's database);
 * "" when none applies. Reads the environment. */
void auth_socket_default(char *out, size_t len);
/* The tokens file when the config does not say: $CREDENTIALS_DIRECTORY/tokens
 * (systemd's LoadCredential=tokens:...), else /etc/rackpower/tokens. */
void auth_tokens_default(char *out, size_t len);

/* ---- the per-client command rate ---- */

/*
 * A token bucket per client (its name: a token's or "uid:N"): rate_per_s
 * commands a second on average, burst at once. Commands that lower power
 * (auth_needs: AUTH_LOWER) are never held back and take nothing from the
 * bucket: a rate limit never delays a power-off or an out-of-service.
 */
#define AUTH_RATE_CLIENTS 256

struct auth_rate_client {
    char name[AUTH_NAME_LEN];
    double tokens;
    int64_t at_ns;
};

struct auth_rate {
    double rate_per_s, burst;
    size_t n;
    struct auth_rate_client c[AUTH_RATE_CLIENTS];
};

void auth_rate_init(struct auth_rate *r, double rate_per_s, double burst);
/* 0 when client may go on with a at now_ns; else the milliseconds to wait
 * before it may (the answer's Retry-After). rate_per_s <= 0: no limit. */
int64_t auth_rate_take(struct auth_rate *r, const char *client, enum auth_action a, int64_t now_ns);

#endif
