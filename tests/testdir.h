/*
 * testdir.h - a temporary directory holding a database, for the cmocka tests
 * that open a store (test_store, test_ledger, test_commands): made in a
 * setup, removed with everything in it in the teardown.
 */
#ifndef TESTDIR_H
#define TESTDIR_H

#include <stdio.h>
#include <stdlib.h>

/* Makes /tmp/NAME_XXXXXX into dir and puts DIR/rp.db into path. 0, or -1. */
static inline int testdir_make(char *dir, size_t dirlen, char *path, size_t pathlen,
                               const char *name)
{
    snprintf(dir, dirlen, "/tmp/%s_XXXXXX", name);
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, pathlen, "%s/rp.db", dir);
    return 0;
}

/* Removes dir and what it holds. 0, or -1. */
static inline int testdir_remove(const char *dir)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
