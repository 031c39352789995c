/*
 * serve_unix.c - the Unix stream sockets of the control and alert paths,
 * and the alert lines ('unit <id>') to every listener.
 */
#include "serve_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/un.h>

int serve_unix_listen(const char *path, const char *opt, bool *ours, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "%s %s: path too long (at most %zu bytes)", opt, path,
                 sizeof(sa.sun_path) - 1);
        return -1;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s %s: exists and is not a socket", opt, path);
            return -1;
        }
        unlink(path); /* left by an earlier run */
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16)) {
        snprintf(err, errlen, "%s %s: %s", opt, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *ours = true;
    serve_set_nonblock_cloexec(fd);
    return fd;
}

int serve_accept_one(int lfd)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0)
        serve_set_nonblock_cloexec(fd);
    return fd;
}

void serve_alert_unit(struct serve *s, int unit)
{
    if (unit <= 0)
        return;
    char line[16];
    int n = snprintf(line, sizeof(line), "unit %d\n", unit);
    for (int k = 0; k < MAX_ALERT; k++) {
        if (s->alert[k] < 0)
            continue;
        ssize_t w = send(s->alert[k], line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w != n) {
            /* a partial line would garble the stream: a client that does not read goes */
            serve_say(s, "alerts: a listener %s; disconnected",
                      w < 0 && errno != EAGAIN ? "went away" : "does not read");
            close(s->alert[k]);
            s->alert[k] = -1;
        }
    }
}
