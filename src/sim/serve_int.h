/*
 * serve_int.h - what the parts of rackpower-sim serve share: its state, and
 * the functions each part offers the others. serve.c the loop, the timeline
 * and the physics' log; serve_tcp.c Modbus TCP; serve_rtu.c Modbus RTU on a
 * socat pseudo-terminal pair; serve_unix.c the Unix sockets (control and
 * alerts); serve_ctl.c the control socket's lines (parsed by control.c);
 * serve_args.c the command line. Internal to src/sim: not a library API.
 */
#ifndef SERVE_INT_H
#define SERVE_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <termios.h>

#include "mbsrv.h"
#include "physics.h"
#include "rackfile.h"
#include "simdevs.h"
#include "uart.h"

#define MAX_TCP 64
#define MAX_CTL 16
#define MAX_ALERT 32
#define TCP_OUT_MAX 8192
#define CTL_LINE_MAX 1024
#define MAX_CTL_INPUTS 64
#define DEFAULT_TCP "127.0.0.1:1502"
#define RTU_MIN_SILENCE_NS 5000000LL
#define RTU_OUT_MAX 8 /* answers waiting for their wire time */

/* An RTU answer on its way: written to the pty when its last byte would
 * arrive on a real line (docs/sim-devices.md, "Wire timing"). */
struct rtu_answer {
    int64_t due_ns;
    uint8_t unit;
    size_t len;
    uint8_t b[MBSRV_RTU_MAX];
};

struct serve_opts {
    const char *rack_path, *tcp, *rtu, *alert, *control, *scenario;
    int baud;
    char parity; /* 'N', 'E', 'O' */
    uint64_t seed;
    int64_t overload_ns;
    double ageing_h_per_s;  /* --ageing-rate, 0 none */
    const char *ageing_psu; /* --ageing-psu, NULL: the rack's first PSU */
    int ageing_cause;       /* --ageing-cause, enum fleet_cause */
};

struct tcp_client {
    int fd; /* -1 when free */
    uint8_t in[2 * MBSRV_TCP_MAX];
    size_t inlen;
    uint8_t out[TCP_OUT_MAX];
    size_t outlen;
};

struct ctl_client {
    int fd;
    char in[CTL_LINE_MAX];
    size_t inlen;
    bool skipping; /* a line too long: dropped up to its newline */
};

struct serve {
    struct serve_opts o;
    struct rack rack;
    struct rackfile_timeline tl; /* scenario steps, indexes into rack */
    size_t next_step;
    struct phys ph;
    bool ph_ok;
    struct simdevs dev;
    bool dev_ok;
    int64_t t0, next_tick;

    int tcp_fd;
    char tcp_desc[128];
    struct tcp_client tcp[MAX_TCP];

    int rtu_fd;
    pid_t socat;
    char rtu_sim[4096];
    bool rtu_links; /* the links are ours to remove */
    uint8_t rtu_buf[4 * MBSRV_RTU_MAX];
    size_t rtu_len;
    int64_t rtu_last_ns, silence_ns;
    bool rtu_discard; /* after a bad frame: drop bytes until the line is silent */
    /* The wire: the line's format (--baud, --parity, 8 data bits, 1 stop bit)
     * and the client's, read from its side of the pty (rtu_peer_fd). */
    struct uart_fmt line_fmt;
    int rtu_peer_fd;
    bool rtu_peer_warned;
    int64_t rtu_rx_end_ns; /* when the client's last byte ends on the wire */
    int64_t rtu_tx_end_ns; /* when our last answer ends on the wire */
    struct rtu_answer rtu_out[RTU_OUT_MAX];
    int rtu_nout;

    int ctl_fd;
    struct ctl_client ctl[MAX_CTL];
    int alert_fd;
    int alert[MAX_ALERT];
    bool ctl_path_ours, alert_path_ours;
};

extern volatile sig_atomic_t serve_stop_signal;

/* serve.c */
void serve_say(const struct serve *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void serve_sleep_ms(int ms);
void serve_set_nonblock_cloexec(int fd);
/* Writes 'unit <id>' to every alert listener (unit <= 0: none). */
void serve_alert_unit(struct serve *s, int unit);
/* Logs what the physics reported and raises the alerts it calls for. */
void serve_drain(struct serve *s);
/* Checks, logs and applies one input; -1 when it does not apply now. */
int serve_apply_input(struct serve *s, const struct policy_input *in, const char *source,
                      int64_t now);

/* serve_tcp.c: Modbus TCP */
int serve_tcp_listen(struct serve *s, char *err, size_t errlen);
void serve_tcp_accept(struct serve *s);
void serve_tcp_read(struct serve *s, struct tcp_client *c, int64_t now);
void serve_tcp_flush(struct tcp_client *c);

/* serve_rtu.c: Modbus RTU. serve_baud_speed: 0 for a rate it does not take. */
speed_t serve_baud_speed(int baud);
int serve_rtu_start(struct serve *s, char *err, size_t errlen);
void serve_rtu_stop(struct serve *s);
void serve_rtu_read(struct serve *s, int64_t now);
/* silent: the line has been silent long enough to end a frame */
void serve_rtu_process(struct serve *s, bool silent, int64_t now);
/* Writes the answers whose wire time is over; the next due time, or INT64_MAX. */
int64_t serve_rtu_send_due(struct serve *s, int64_t now);

/* serve_unix.c: Unix stream sockets. opt names the option in messages. */
int serve_unix_listen(const char *path, const char *opt, bool *ours, char *err, size_t errlen);
int serve_accept_one(int lfd);

/* serve_ctl.c: a control client's bytes, lines, replies */
void serve_ctl_read(struct serve *s, struct ctl_client *c, int64_t now);

/* serve_args.c: 0 to serve, 1 when --help was printed, -1 on a bad command
 * line (said on stderr). */
int serve_parse_args(int argc, char **argv, struct serve_opts *o);

#endif
