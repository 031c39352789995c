/*
 * fleet_main.h - rackpower-sim fleet (fleet_main.c): argv[0] is "fleet".
 */
#ifndef FLEET_MAIN_H
#define FLEET_MAIN_H

int fleet_main(int argc, char **argv);

#endif
