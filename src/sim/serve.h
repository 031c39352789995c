/*
 * serve.h - rackpower-sim serve: a simulated rack served over the real
 * protocols (Modbus TCP and RTU) in real time, so the daemon, tests and
 * outside tools (mbpoll) talk to it like to a real power shelf. Faults come
 * from a scenario timeline or a control socket; alerts (the model of an
 * ALERT#/SMBALERT# line) go out on a socket. docs/sim-devices.md.
 */
#ifndef SERVE_H
#define SERVE_H

/*
 * Runs the serve subcommand: argv[0] is "serve", then RACK.yaml and options
 * (docs/sim-devices.md, or --help). Returns the exit status: 0 stopped by
 * SIGTERM/SIGINT (or --help), 1 the rack, scenario or a transport could not
 * be set up, 2 bad command line.
 */
int serve_main(int argc, char **argv);

#endif
