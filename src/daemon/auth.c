/*
 * auth.c - roles, tokens, peer credentials, request checks and the command
 * rate (auth.h).
 */
#define _GNU_SOURCE /* SO_PEERCRED, struct ucred */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_BYTES (1 << 20)
#define MAX_TOKENS 10000

static const char *const role_names[] = {
    [AUTH_NONE] = "none",
    [AUTH_VIEWER] = "viewer",
    [AUTH_OPERATOR] = "operator",
    [AUTH_ADMIN] = "admin",
};

const char *auth_role_name(enum auth_role r)
{
    return (unsigned)r < sizeof(role_names) / sizeof(*role_names) ? role_names[r] : "none";
}

enum auth_role auth_role_parse(const char *s)
{
    for (int r = AUTH_VIEWER; r <= AUTH_ADMIN; r++)
        if (!strcmp(s, role_names[r]))
            return (enum auth_role)r;
    return AUTH_NONE;
}

bool auth_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n >= AUTH_NAME_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9') || strchr("_.-@", name[i])))
            return false;
    return true;
}

/* ---- the tokens file ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Exactly n bytes of hex in s. */
static int unhex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static void tohex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void auth_tokens_free(struct auth_tokens *t)
{
    free(t->v);
    *t = (struct auth_tokens){0};
}

long auth_tokens_find(const struct auth_tokens *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].name, name))
            return (long)i;
    return -1;
}

int auth_tokens_add(struct auth_tokens *t, const struct auth_token *tok, char *err, size_t errlen)
{
    if (auth_tokens_find(t, tok->name) >= 0) {
        snprintf(err, errlen, "a token named '%s' exists already", tok->name);
        return -1;
    }
    if (t->n >= MAX_TOKENS) {
        snprintf(err, errlen, "too many tokens (at most %d)", MAX_TOKENS);
        return -1;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        struct auth_token *v = realloc(t->v, cap * sizeof(*v));
        if (!v) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = *tok;
    return 0;
}

void auth_tokens_remove(struct auth_tokens *t, size_t i)
{
    if (i >= t->n)
        return;
    memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
    t->n--;
}

__attribute__((format(printf, 5, 6))) static int parse_fail(struct auth_tokens *out, char *err,
                                                            size_t errlen, const char *where,
                                                            const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", where, msg);
    auth_tokens_free(out);
    return -1;
}

int auth_tokens_parse(const char *text, size_t len, const char *file, struct auth_tokens *out,
                      char *err, size_t errlen)
{
    *out = (struct auth_tokens){0};
    size_t pos = 0;
    for (int line = 1; pos < len; line++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        char buf[512], where[300];
        snprintf(where, sizeof(where), "%s:%d", file, line);
        if (n >= sizeof(buf))
            return parse_fail(out, err, errlen, where, "line too long");
        memcpy(buf, text + pos, n);
        buf[n] = '\0';
        pos += n + (nl ? 1 : 0);
        if (strlen(buf) != n)
            return parse_fail(out, err, errlen, where, "a NUL byte");
        if (n && buf[n - 1] == '\r')
            buf[--n] = '\0';
        char *words[5], *save = NULL;
        int nw = 0;
        for (char *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
            if (nw == 0 && w[0] == '#')
                break;
            if (nw == 5)
                break;
            words[nw++] = w;
        }
        if (nw == 0)
            continue;
        if (nw != 4)
            return parse_fail(out, err, errlen, where,
                              "expected NAME ROLE SALT HASH (rackpowerctl token add writes them)");
        struct auth_token tok = {0};
        if (!auth_name_ok(words[0]))
            return parse_fail(out, err, errlen, where,
                              "name: expected 1 to 63 of A-Z a-z 0-9 _ . - @");
        snprintf(tok.name, sizeof(tok.name), "%s", words[0]);
        if ((tok.role = auth_role_parse(words[1])) == AUTH_NONE)
            return parse_fail(out, err, errlen, where, "role: expected viewer, operator or admin");
        if (unhex(words[2], tok.salt, sizeof(tok.salt)))
            return parse_fail(out, err, errlen, where, "salt: expected %d hex digits",
                              2 * AUTH_SALT_BYTES);
        if (unhex(words[3], tok.hash, sizeof(tok.hash)))
            return parse_fail(out, err, errlen, where, "hash: expected %d hex digits",
                              2 * AUTH_HASH_BYTES);
        char why[200];
        if (auth_tokens_add(out, &tok, why, sizeof(why)))
            return parse_fail(out, err, errlen, where, "%s", why);
    }
    return 0;
}

int auth_tokens_load(const char *path, uid_t uid, struct auth_tokens *out, bool *missing, char *err,
                     size_t errlen)
{
    *out = (struct auth_tokens){0};
    *missing = false;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        *missing = true;
        return 0;
    }
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = -1;
    char *buf = NULL;
    if (fstat(fd, &st)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
    } else if (st.st_mode & 077) {
        snprintf(err, errlen, "%s: refused: group or others may access it (mode %04o; chmod 600)",
                 path, (unsigned)(st.st_mode & 07777));
    } else if (st.st_uid != 0 && st.st_uid != uid) {
        snprintf(err, errlen, "%s: refused: owned by uid %u, neither root nor rackpowerd's %u",
                 path, (unsigned)st.st_uid, (unsigned)uid);
    } else if (st.st_size > MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: too large (at most %d bytes)", path, MAX_FILE_BYTES);
    } else if (!(buf = malloc((size_t)st.st_size + 1))) {
        snprintf(err, errlen, "out of memory");
    } else {
        size_t len = 0;
        ssize_t n;
        while (len < (size_t)st.st_size && (n = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
            len += (size_t)n;
        rc = auth_tokens_parse(buf, len, path, out, err, errlen);
    }
    free(buf);
    close(fd);
    return rc;
}

int auth_tokens_save(const char *path, const struct auth_tokens *t, char *err, size_t errlen)
{
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", path) >= sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    unlink(tmp); /* a leftover of a write that died */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fchmod(fd, 0600); /* whatever the umask */
    fprintf(f, "# rackpowerd's API tokens: NAME ROLE SALT SHA256(SALT+TOKEN)\n"
               "# Written by rackpowerctl token add|revoke; keep it mode 0600.\n");
    for (size_t i = 0; i < t->n; i++) {
        char salt[2 * AUTH_SALT_BYTES + 1], hash[2 * AUTH_HASH_BYTES + 1];
        tohex(t->v[i].salt, sizeof(t->v[i].salt), salt);
        tohex(t->v[i].hash, sizeof(t->v[i].hash), hash);
        fprintf(f, "%s %s %s %s\n", t->v[i].name, auth_role_name(t->v[i].role), salt, hash);
    }
    bool bad = fflush(f) != 0 || fsync(fd) != 0;
    if (fclose(f) || bad || rename(tmp, path)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int digest(const uint8_t salt[AUTH_SALT_BYTES], const char *secret,
                  uint8_t out[AUTH_HASH_BYTES])
{
    uint8_t buf[AUTH_SALT_BYTES + AUTH_TOKEN_LEN];
    size_t n = strlen(secret);
    if (n >= AUTH_TOKEN_LEN)
        return -1;
    memcpy(buf, salt, AUTH_SALT_BYTES);
    memcpy(buf + AUTH_SALT_BYTES, secret, n);
    return gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, AUTH_SALT_BYTES + n, out) ? -1 : 0;
}

/* Whether a and b hold the same n bytes, in a time that does not depend on
 * where they differ. */
static bool same(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}

const struct auth_token *auth_tokens_verify(const struct auth_tokens *t, const char *secret)
{
    const struct auth_token *found = NULL;
    if (!secret || strlen(secret) != AUTH_TOKEN_LEN - 1)
        return NULL;
    for (size_t i = 0; i < t->n; i++) { /* every entry: no early way out */
        uint8_t h[AUTH_HASH_BYTES];
        if (digest(t->v[i].salt, secret, h))
            return NULL;
        if (same(h, t->v[i].hash, sizeof(h)) && !found)
            found = &t->v[i];
    }
    return found;
}

int auth_token_new(const char *name, enum auth_role role, struct auth_token *tok,
                   char secret[AUTH_TOKEN_LEN], char *err, size_t errlen)
{
    uint8_t raw[AUTH_SECRET_BYTES];
    *tok = (struct auth_token){.role = role};
    if (!auth_name_ok(name)) {
        snprintf(err, errlen, "'%s': a token's name is 1 to 63 of A-Z a-z 0-9 _ . - @", name);
        return -1;
    }
    if (role == AUTH_NONE) {
        snprintf(err, errlen, "a token's role is viewer, operator or admin");
        return -1;
    }
    snprintf(tok->name, sizeof(tok->name), "%s", name);
    if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw)) ||
        gnutls_rnd(GNUTLS_RND_NONCE, tok->salt, sizeof(tok->salt))) {
        snprintf(err, errlen, "no random bytes from GnuTLS");
        return -1;
    }
    memcpy(secret, "rp_", 3);
    tohex(raw, sizeof(raw), secret + 3);
    if (digest(tok->salt, secret, tok->hash)) {
        snprintf(err, errlen, "GnuTLS cannot hash");
        return -1;
    }
    return 0;
}

/* ---- requests ---- */

enum auth_role auth_needs(enum auth_action a)
{
    switch (a) {
    case AUTH_READ:
        return AUTH_VIEWER;
    case AUTH_RAISE:
    case AUTH_LOWER:
        return AUTH_OPERATOR;
    case AUTH_RELOAD:
    case AUTH_SHUTDOWN:
        return AUTH_ADMIN;
    }
    return AUTH_ADMIN;
}

enum auth_role auth_peer_role(uid_t peer_uid, gid_t peer_gid, const gid_t *groups, size_t ngroups,
                              uid_t self_uid, gid_t group, enum auth_role group_role)
{
    if (peer_uid == 0 || peer_uid == self_uid)
        return AUTH_ADMIN;
    if (group == (gid_t)-1)
        return AUTH_NONE;
    bool member = peer_gid == group;
    for (size_t i = 0; i < ngroups && !member; i++)
        member = groups[i] == group;
    return member ? group_role : AUTH_NONE;
}

int auth_peer(int fd, uid_t *uid, gid_t *gid, gid_t *groups, size_t *ngroups)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
        return -1;
    *uid = cred.uid;
    *gid = cred.gid;
    socklen_t glen = (socklen_t)(*ngroups * sizeof(gid_t));
    if (*ngroups && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
        *ngroups = glen / sizeof(gid_t);
    else
        *ngroups = 0; /* too many groups to hold, or an old kernel: the gid alone decides */
    return 0;
}

bool auth_host_ok(const char *host, const char *const *names, size_t n)
{
    if (!host)
        return false;
    const char *end;
    if (host[0] == '[') { /* [v6]:port */
        host++;
        end = strchr(host, ']');
        if (!end || (end[1] && end[1] != ':'))
            return false;
    } else {
        end = strchr(host, ':');
        if (!end)
            end = host + strlen(host);
    }
    size_t len = (size_t)(end - host);
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == len && !strncasecmp(host, names[i], len))
            return true;
    return false;
}

bool auth_origin_ok(const char *origin, const char *const *origins, size_t n)
{
    for (size_t i = 0; origin && i < n; i++)
        if (!strcasecmp(origin, origins[i]))
            return true;
    return false;
}

bool auth_json_type(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, sizeof(want) - 1))
        return false;
    ct += sizeof(want) - 1;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

const char *auth_bearer(const char *h)
{
    if (!h || strncasecmp(h, "Bearer ", 7))
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

/* ---- where things are ---- */

/* The first directory of a systemd list ("a:b"), when set. */
static bool env_dir(const char *name, char *out, size_t len, const char *file)
{
    const char *dir = getenv(name);
    if (!dir || dir[0] != '/')
        return false;
    size_t n = strcspn(dir, ":");
    snprintf(out, len, "%.*s/%s", (int)n, dir, file);
    return true;
}

void auth_socket_default(char *out, size_t len)
{
    if (env_dir("RUNTIME_DIRECTORY", out, len, "rackpowerd.sock"))
        return;
    const char *home = getenv("HOME");
    if (geteuid() == 0)
        snprintf(out, len, "/run/rackpower/rackpowerd.sock");
    else if (env_dir("XDG_RUNTIME_DIR", out, len, "rackpowerd.sock") ||
             env_dir("XDG_STATE_HOME", out, len, "rackpower/rackpowerd.sock"))
        return;
    else if (home && home[0] == '/')
        snprintf(out, len, "%s/.local/state/rackpower/rackpowerd.sock", home);
    else
        snprintf(out, len, "%s", "");
}

void auth_tokens_default(char *out, size_t len)
{
    if (!env_dir("CREDENTIALS_DIRECTORY", out, len, "tokens"))
        snprintf(out, len, "/etc/rackpower/tokens");
}

/* ---- the command rate ---- */

void auth_rate_init(struct auth_rate *r, double rate_per_s, double burst)
{
    *r = (struct auth_rate){.rate_per_s = rate_per_s, .burst = burst < 1 ? 1 : burst};
}

int64_t auth_rate_take(struct auth_rate *r, const char *client, enum auth_action a, int64_t now_ns)
{
    if (a == AUTH_LOWER || r->rate_per_s <= 0)
        return 0;
    struct auth_rate_client *c = NULL;
    size_t oldest = 0;
    for (size_t i = 0; i < r->n && !c; i++) {
        if (!strcmp(r->c[i].name, client))
            c = &r->c[i];
        else if (r->c[i].at_ns < r->c[oldest].at_ns)
            oldest = i;
    }
    if (!c) {
        /* a new client starts with a full bucket; when the table is full the
         * client seen longest ago is forgotten (its bucket had refilled) */
        c = &r->c[r->n < AUTH_RATE_CLIENTS ? r->n++ : oldest];
        snprintf(c->name, sizeof(c->name), "%s", client);
        c->tokens = r->burst;
        c->at_ns = now_ns;
    }
    if (now_ns > c->at_ns) {
        c->tokens += (double)(now_ns - c->at_ns) / 1e9 * r->rate_per_s;
        if (c->tokens > r->burst)
            c->tokens = r->burst;
        c->at_ns = now_ns;
    }
    if (c->tokens >= 1) {
        c->tokens -= 1;
        return 0;
    }
    int64_t ms = (int64_t)((1 - c->tokens) / r->rate_per_s * 1000) + 1;
    return ms;
}
