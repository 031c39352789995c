/*
 * rackkey.c - reading the rack key file (rackkey.h).
 */
#include "rackkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

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
    rackbus_key_wipe(k);
    /* O_NONBLOCK: a FIFO in the key's place must not hang the start; it is
     * refused below as not a regular file. */
    int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, "key file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return fail(err, errlen, "key file %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, "key file %s: not a regular file", path);
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        return fail(err, errlen, "key file %s: mode %04o lets %s it; chmod 600", path,
                    (unsigned)(st.st_mode & 07777), who_may(st.st_mode));
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
            int e = errno;
            close(fd);
            rackbus_key_wipe(k);
            return fail(err, errlen, "key file %s: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > sizeof(k->bytes))
            break;
    }
    close(fd);
    if (got > RACKBUS_KEY_MAX_BYTES) {
        rackbus_key_wipe(k);
        return fail(err, errlen, "key file %s: longer than %d bytes", path, RACKBUS_KEY_MAX_BYTES);
    }
    if (got < RACKBUS_KEY_MIN_BYTES) {
        rackbus_key_wipe(k);
        return fail(err, errlen,
                    "key file %s: %zu bytes, a key needs at least %d "
                    "(head -c 32 /dev/urandom > %s)",
                    path, got, RACKBUS_KEY_MIN_BYTES, path);
    }
    k->len = got;
    return 0;
}
