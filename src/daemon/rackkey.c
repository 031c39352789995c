/*
 * rackkey.c - reading the rack key file (rackkey.h).
 */
#include "rackkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Who a mode lets at the key, in words, for the refusal: the widest first. */
static const char *who_may(mode_t mode)
{
    static const struct {
        mode_t bit;
        const char *words;
    } bits[] = {
        {S_IROTH, "others read"},    {S_IWOTH, "others write"},    {S_IXOTH, "others execute"},
        {S_IRGRP, "its group read"}, {S_IWGRP, "its group write"}, {S_IXGRP, "its group execute"},
    };
    for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
        if (mode & bits[i].bit)
            return bits[i].words;
    return "nobody else";
}

int rackkey_load(const char *path, struct rackbus_key *k, char *err, size_t errlen)
{
    char why[4400]; /* the path may be in it */
    rackbus_key_wipe(k);
    /* O_NONBLOCK: a FIFO in the key's place must not hang the start; it is
     * refused below as not a regular file. */
    int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(why, sizeof(why), "%s", strerror(errno));
        goto refused;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, sizeof(why), "not a regular file");
        goto refused;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(why, sizeof(why), "mode %04o lets %s it; chmod 600",
                 (unsigned)(st.st_mode & 07777), who_may(st.st_mode));
        goto refused;
    }
    size_t got = 0;
    uint8_t extra;
    for (;;) {
        /* One byte past the largest key, to tell "too long" from "exactly". */
        uint8_t *to = got < sizeof(k->bytes) ? k->bytes + got : &extra;
        size_t want = got < sizeof(k->bytes) ? sizeof(k->bytes) - got : 1;
        ssize_t n = read(fd, to, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(why, sizeof(why), "%s", strerror(errno));
            goto refused;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > sizeof(k->bytes))
            break;
    }
    close(fd);
    fd = -1;
    if (got > RACKBUS_KEY_MAX_BYTES) {
        snprintf(why, sizeof(why), "longer than %d bytes", RACKBUS_KEY_MAX_BYTES);
        goto refused;
    }
    if (got < RACKBUS_KEY_MIN_BYTES) {
        snprintf(why, sizeof(why),
                 "%zu bytes, a key needs at least %d (head -c 32 /dev/urandom > %s)", got,
                 RACKBUS_KEY_MIN_BYTES, path);
        goto refused;
    }
    k->len = got;
    return 0;

refused:
    if (fd >= 0)
        close(fd);
    rackbus_key_wipe(k);
    snprintf(err, errlen, "key file %s: %s", path, why);
    return -1;
}
