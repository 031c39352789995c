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
    if (s->rtu_peer_fd >= 0)
        close(s->rtu_peer_fd);
    s->rtu_peer_fd = -1;
    s->rtu_nout = 0;
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
    s->line_fmt = (struct uart_fmt){s->o.baud, 8, s->o.parity, 1};
    /* The client's side of the pty, opened only to read the termios its
     * client sets (a pty ignores baud and parity; uart.h models them). It
     * is never read: the bytes stay the client's. */
    s->rtu_peer_fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (s->rtu_peer_fd < 0)
        serve_say(s, "rtu: %s: %s; every client is taken to match the line", path, strerror(errno));
    return 0;
}

/* The client's line format now; the line's own when it cannot be read. A
 * speed uart.h does not know (B0, B500000) comes back as baud 0: it matches
 * nothing, and such a client hears and is heard as nothing. */
static struct uart_fmt client_fmt(struct serve *s, tcflag_t *iflag)
{
    struct termios t;
    struct uart_fmt f;
    *iflag = 0;
    if (s->rtu_peer_fd >= 0 && tcgetattr(s->rtu_peer_fd, &t) == 0) {
        uart_fmt_from_pty_termios(&t, &f);
        *iflag = t.c_iflag;
        return f;
    }
    if (!s->rtu_peer_warned && s->rtu_peer_fd >= 0)
        serve_say(s, "rtu: the client's line settings cannot be read (%s); taken to match",
                  strerror(errno));
    s->rtu_peer_warned = true;
    return s->line_fmt;
}

static void rtu_frame(struct serve *s, const uint8_t *f, size_t len, int64_t now)
{
    uint8_t unit = f[0];
    /* broadcasts (0) and units nobody serves get no answer, as on a real line */
    if (unit == 0 || !simdevs_answers(&s->dev, unit))
        return;
    uint8_t rsp[MBSRV_RTU_MAX];
    s->dev.now_ns = now;
    size_t n = mbsrv_handle(&simdevs_ops, &s->dev, unit, f + 1, len - 3, rsp + 1);
    serve_drain(s);
    rsp[0] = unit;
    uint16_t crc = mbsrv_crc16(rsp, n + 1);
    rsp[n + 1] = (uint8_t)crc;
    rsp[n + 2] = (uint8_t)(crc >> 8);
    if (s->rtu_nout == RTU_OUT_MAX) {
        serve_say(s, "rtu: %d answers already wait for the line; unit %d's dropped", RTU_OUT_MAX,
                  unit);
        return;
    }
    /* The answer starts t3.5 after the request's last character (and after
     * our previous answer), and is read when its last character arrives. */
    int64_t t35 = mbsrv_rtu_silence_ns(s->line_fmt.baud);
    int64_t start = s->rtu_rx_end_ns + t35;
    if (s->rtu_tx_end_ns + t35 > start)
        start = s->rtu_tx_end_ns + t35;
    if (start < now)
        start = now;
    struct rtu_answer *a = &s->rtu_out[s->rtu_nout++];
    a->due_ns = start + (int64_t)(n + 3) * uart_char_ns(&s->line_fmt);
    a->unit = unit;
    a->len = n + 3;
    memcpy(a->b, rsp, n + 3);
    s->rtu_tx_end_ns = a->due_ns;
}

/* One answer onto the pty, as a client set to its own format reads it. */
static void rtu_send(struct serve *s, const struct rtu_answer *a)
{
    tcflag_t iflag;
    struct uart_fmt cf = client_fmt(s, &iflag);
    const uint8_t *bytes = a->b;
    size_t len = a->len;
    uint8_t garbled[3 * MBSRV_RTU_MAX];
    if (!uart_fmt_match(&s->line_fmt, &cf)) {
        struct uart_char c[2 * MBSRV_RTU_MAX];
        size_t nc = uart_receive(&s->line_fmt, &cf, a->b, a->len, c, sizeof(c) / sizeof(*c));
        len = uart_tty_bytes(c, nc, iflag, garbled, sizeof(garbled));
        bytes = garbled;
        char l[32], cl[32];
        uart_fmt_name(&s->line_fmt, l, sizeof(l));
        uart_fmt_name(&cf, cl, sizeof(cl));
        serve_say(s,
                  "rtu: answer of unit %d sent at %s reaches a client at %s as %zu bytes of "
                  "garbage",
                  a->unit, l, cl, len);
    }
    if (len == 0)
        return;
    ssize_t w = write(s->rtu_fd, bytes, len);
    if (w != (ssize_t)len)
        serve_say(s, "rtu: answer to unit %d not sent whole (%s)", a->unit,
                  w < 0 ? strerror(errno) : "line full");
}

int64_t serve_rtu_send_due(struct serve *s, int64_t now)
{
    int k = 0;
    while (k < s->rtu_nout && s->rtu_out[k].due_ns <= now) {
        if (s->rtu_fd >= 0)
            rtu_send(s, &s->rtu_out[k]);
        k++;
    }
    if (k > 0) {
        memmove(s->rtu_out, s->rtu_out + k, (size_t)(s->rtu_nout - k) * sizeof(*s->rtu_out));
        s->rtu_nout -= k;
    }
    return s->rtu_nout ? s->rtu_out[0].due_ns : INT64_MAX;
}

/* Frames on the line: a frame ends when its length (from its function code)
 * is complete, or, for functions of unknown length, at t3.5 of silence. */
void serve_rtu_process(struct serve *s, bool silent, int64_t now)
{
    while (s->rtu_len > 0) {
        size_t n;
        switch (mbsrv_rtu_cut(s->rtu_buf, s->rtu_len, silent, &n)) {
        case MBSRV_RTU_WAIT:
            return; /* wait for the rest, or for the silence */
        case MBSRV_RTU_FRAME:
            rtu_frame(s, s->rtu_buf, n, now);
            memmove(s->rtu_buf, s->rtu_buf + n, s->rtu_len - n);
            s->rtu_len -= n;
            continue;
        case MBSRV_RTU_BAD_CRC:
            s->dev.crc_errors[s->rtu_buf[0]]++;
            serve_say(s,
                      "rtu: bad CRC in a %zu-byte frame for unit %d; dropped to the next silence",
                      n, s->rtu_buf[0]);
            s->rtu_discard = !silent;
            break;
        case MBSRV_RTU_TOO_LONG:
            s->rtu_discard = true;
            break;
        case MBSRV_RTU_NO_FRAME:
            serve_say(s, "rtu: %zu bytes that make no frame dropped at the silence", s->rtu_len);
            /* a request cut short: the addressed PSU counts it (register 77) */
            if (simdevs_kind(&s->dev, s->rtu_buf[0]) == SIMDEVS_PSU)
                s->dev.timeout_errors[s->rtu_buf[0]]++;
            break;
        }
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
        /* On the wire the client's bytes follow its previous ones at its own
         * rate: the line is busy until the last of them has arrived. */
        tcflag_t iflag;
        struct uart_fmt cf = client_fmt(s, &iflag);
        if (s->rtu_rx_end_ns < now)
            s->rtu_rx_end_ns = now;
        s->rtu_rx_end_ns += (int64_t)n * uart_char_ns(&cf);
        s->rtu_last_ns = s->rtu_rx_end_ns;
        if (s->rtu_nout > 0) {
            /* RS-485 is half duplex: a client that talks while an answer is
             * on the wire (it gave up waiting) collides with it; the two
             * are lost, as the garbage they make on a real line would be. */
            serve_say(s,
                      "rtu: collision: %zd bytes from the client while %d answer(s) (unit %d) "
                      "were on the wire; both lost",
                      n, s->rtu_nout, s->rtu_out[0].unit);
            s->rtu_nout = 0;
            s->rtu_tx_end_ns = now;
            s->rtu_len = 0;
            s->rtu_discard = true;
            continue;
        }
        if (s->rtu_discard)
            continue;
        if (!uart_fmt_match(&cf, &s->line_fmt)) {
            /* what our UART makes of a client set to another baud or parity */
            struct uart_char c[2 * sizeof(buf)];
            size_t nc = uart_receive(&cf, &s->line_fmt, buf, (size_t)n, c, sizeof(c) / sizeof(*c));
            size_t bad = 0;
            for (size_t k = 0; k < nc; k++)
                bad += c[k].errors != 0;
            char l[32], cl[32];
            uart_fmt_name(&s->line_fmt, l, sizeof(l));
            uart_fmt_name(&cf, cl, sizeof(cl));
            if (bad) {
                /* a device drops a frame with parity or framing errors */
                serve_say(s,
                          "rtu: %zd bytes from a client at %s on a %s line: %zu parity/framing "
                          "errors; dropped to the next silence",
                          n, cl, l, bad);
                s->rtu_len = 0;
                s->rtu_discard = true;
                continue;
            }
            serve_say(s, "rtu: %zd bytes from a client at %s on a %s line read as %zu others", n,
                      cl, l, nc);
            n = (ssize_t)(nc < sizeof(buf) ? nc : sizeof(buf));
            for (size_t k = 0; k < (size_t)n; k++)
                buf[k] = c[k].value;
        }
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
