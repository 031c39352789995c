/*
 * serve_rtu.c - Modbus RTU on a socat pseudo-terminal pair: socat links the
 * client's path to ours, frames end at the line's silence (mbsrv.h).
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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "monoclock.h"

/* ---- Modbus RTU on a socat pseudo-terminal pair --------------------------- */

speed_t serve_baud_speed(int baud)
{
    static const struct {
        int baud;
        speed_t speed;
    } t[] = {{1200, B1200},   {2400, B2400},   {4800, B4800},   {9600, B9600},
             {19200, B19200}, {38400, B38400}, {57600, B57600}, {115200, B115200}};
    for (size_t k = 0; k < sizeof(t) / sizeof(*t); k++)
        if (t[k].baud == baud)
            return t[k].speed;
    return (speed_t)0;
}

static bool is_link(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

void serve_rtu_stop(struct serve *s)
{
    if (s->rtu_fd >= 0)
        close(s->rtu_fd);
    s->rtu_fd = -1;
    if (s->socat > 0) {
        kill(s->socat, SIGTERM);
        int st;
        bool gone = false;
        for (int k = 0; k < 200 && !gone; k++) {
            gone = waitpid(s->socat, &st, WNOHANG) != 0;
            if (!gone)
                serve_sleep_ms(10);
        }
        if (!gone) {
            kill(s->socat, SIGKILL);
            waitpid(s->socat, &st, 0);
        }
        s->socat = 0;
    }
    if (s->rtu_links) { /* socat removes them when it ends well; make sure */
        if (is_link(s->o.rtu))
            unlink(s->o.rtu);
        if (is_link(s->rtu_sim))
            unlink(s->rtu_sim);
        s->rtu_links = false;
    }
}

int serve_rtu_start(struct serve *s, char *err, size_t errlen)
{
    const char *path = s->o.rtu;
    for (const char *p = path; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("/._-+@", *p))) {
            snprintf(err, errlen,
                     "--rtu %s: use only letters, digits and / . _ - + @ in the path (socat "
                     "address syntax)",
                     path);
            return -1;
        }
    if (snprintf(s->rtu_sim, sizeof(s->rtu_sim), "%s.sim", path) >= (int)sizeof(s->rtu_sim)) {
        snprintf(err, errlen, "--rtu: path too long");
        return -1;
    }
    const char *paths[] = {path, s->rtu_sim};
    for (int k = 0; k < 2; k++) {
        struct stat st;
        if (lstat(paths[k], &st) == 0 && !S_ISLNK(st.st_mode)) {
            snprintf(err, errlen, "--rtu: %s exists and is not a link socat made", paths[k]);
            return -1;
        }
    }
    char a1[4200], a2[4200];
    snprintf(a1, sizeof(a1), "pty,raw,echo=0,link=%s", path);
    snprintf(a2, sizeof(a2), "pty,raw,echo=0,link=%s", s->rtu_sim);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "--rtu: fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* socat goes when we go, even on SIGKILL */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        signal(SIGPIPE, SIG_DFL);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
        }
        execlp("socat", "socat", a1, a2, (char *)NULL);
        fprintf(stderr, "rackpower-sim: cannot run socat: %s\n", strerror(errno));
        _exit(127);
    }
    s->socat = pid;
    s->rtu_links = true;
    for (int k = 0; k < 500; k++) { /* up to 5 s for socat to make the links */
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->socat = 0;
            snprintf(err, errlen, "--rtu %s: socat ended (status %d) before making the links", path,
                     WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
            serve_rtu_stop(s);
            return -1;
        }
        if (is_link(path) && is_link(s->rtu_sim))
            break;
        serve_sleep_ms(10);
    }
    s->rtu_fd = open(s->rtu_sim, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    struct termios t;
    if (s->rtu_fd < 0 || tcgetattr(s->rtu_fd, &t)) {
        snprintf(err, errlen, "--rtu %s: %s", s->rtu_sim, strerror(errno));
        serve_rtu_stop(s);
        return -1;
    }
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON |
                             IXOFF | INPCK);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB);
    t.c_cflag |= CS8 | CREAD | CLOCAL;
    if (s->o.parity != 'N')
        t.c_cflag |= PARENB | (s->o.parity == 'O' ? PARODD : 0);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, serve_baud_speed(s->o.baud));
    cfsetospeed(&t, serve_baud_speed(s->o.baud));
    tcsetattr(s->rtu_fd, TCSANOW, &t);
    tcflush(s->rtu_fd, TCIOFLUSH);
    /* On a pseudo-terminal bytes come in the chunks the client wrote, not at
     * the baud rate; a little more patience than t3.5 keeps a frame that the
     * scheduler split in two from being dropped. */
    s->silence_ns = mbsrv_rtu_silence_ns(s->o.baud);
    if (s->silence_ns < RTU_MIN_SILENCE_NS)
        s->silence_ns = RTU_MIN_SILENCE_NS;
    return 0;
}

static void rtu_frame(struct serve *s, const uint8_t *f, size_t len, int64_t now)
{
    uint8_t unit = f[0];
    /* broadcasts (0) and units nobody serves get no answer, as on a real line */
    if (unit == 0 || simdevs_kind(&s->dev, unit) == SIMDEVS_NONE)
        return;
    uint8_t rsp[MBSRV_RTU_MAX];
    s->dev.now_ns = now;
    size_t n = mbsrv_handle(&simdevs_ops, &s->dev, unit, f + 1, len - 3, rsp + 1);
    serve_drain(s);
    rsp[0] = unit;
    uint16_t crc = mbsrv_crc16(rsp, n + 1);
    rsp[n + 1] = (uint8_t)crc;
    rsp[n + 2] = (uint8_t)(crc >> 8);
    ssize_t w = write(s->rtu_fd, rsp, n + 3);
    if (w != (ssize_t)(n + 3))
        serve_say(s, "rtu: answer to unit %d not sent whole (%s)", unit,
                  w < 0 ? strerror(errno) : "line full");
}

/* Frames on the line: a frame ends when its length (from its function code)
 * is complete, or, for functions of unknown length, at t3.5 of silence. */
void serve_rtu_process(struct serve *s, bool silent, int64_t now)
{
    while (s->rtu_len > 0) {
        int need = mbsrv_rtu_request_len(s->rtu_buf, s->rtu_len);
        if (need > MBSRV_RTU_MAX) {
            s->rtu_discard = true;
            s->rtu_len = 0;
            return;
        }
        if (need > 0 && (size_t)need <= s->rtu_len) {
            uint16_t crc = mbsrv_crc16(s->rtu_buf, (size_t)need - 2);
            if (s->rtu_buf[need - 2] != (uint8_t)crc || s->rtu_buf[need - 1] != (crc >> 8)) {
                s->dev.crc_errors[s->rtu_buf[0]]++;
                serve_say(
                    s, "rtu: bad CRC in a %d-byte frame for unit %d; dropped to the next silence",
                    need, s->rtu_buf[0]);
                s->rtu_discard = !silent;
                s->rtu_len = 0;
                return;
            }
            rtu_frame(s, s->rtu_buf, (size_t)need, now);
            memmove(s->rtu_buf, s->rtu_buf + need, s->rtu_len - (size_t)need);
            s->rtu_len -= (size_t)need;
            continue;
        }
        if (!silent)
            return; /* wait for the rest, or for the silence */
        if (need < 0 && s->rtu_len >= 4) {
            uint16_t crc = mbsrv_crc16(s->rtu_buf, s->rtu_len - 2);
            if (s->rtu_buf[s->rtu_len - 2] == (uint8_t)crc &&
                s->rtu_buf[s->rtu_len - 1] == (crc >> 8)) {
                rtu_frame(s, s->rtu_buf, s->rtu_len, now);
                s->rtu_len = 0;
                return;
            }
        }
        serve_say(s, "rtu: %zu bytes that make no frame dropped at the silence", s->rtu_len);
        /* a request cut short: the addressed PSU counts it (register 77) */
        if (simdevs_kind(&s->dev, s->rtu_buf[0]) == SIMDEVS_PSU)
            s->dev.timeout_errors[s->rtu_buf[0]]++;
        s->rtu_len = 0;
    }
}

void serve_rtu_read(struct serve *s, int64_t now)
{
    for (;;) {
        uint8_t buf[256];
        ssize_t n = read(s->rtu_fd, buf, sizeof(buf));
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                serve_say(s, "rtu: read %s: %s; RTU no longer served", s->rtu_sim, strerror(errno));
                close(s->rtu_fd);
                s->rtu_fd = -1;
            }
            return;
        }
        s->rtu_last_ns = now;
        if (s->rtu_discard)
            continue;
        size_t take = (size_t)n;
        if (s->rtu_len + take > sizeof(s->rtu_buf)) {
            serve_say(s, "rtu: %zu bytes without a frame; dropped", s->rtu_len + take);
            s->rtu_len = 0;
            s->rtu_discard = true;
            continue;
        }
        memcpy(s->rtu_buf + s->rtu_len, buf, take);
        s->rtu_len += take;
        serve_rtu_process(s, false, now);
    }
}
