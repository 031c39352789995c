/*
 * bench_auth.c - what the API's checks of who may cost per request
 * (src/daemon/auth.h, docs/benchmarks.md): a token checked against files of
 * 1 to 1000 tokens (every entry is hashed every time, found or not), and the
 * per-client command rate with its table full. Prints figures; not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "monoclock.h"

static double now_s(void)
{
    return (double)mono_ns() / MONO_NS_PER_S;
}

static int verify(size_t ntokens)
{
    struct auth_tokens t = {0};
    char secret[AUTH_TOKEN_LEN], first[AUTH_TOKEN_LEN] = "", err[256], name[32];
    for (size_t i = 0; i < ntokens; i++) {
        struct auth_token tok;
        snprintf(name, sizeof(name), "t%zu", i);
        if (auth_token_new(name, AUTH_OPERATOR, &tok, secret, err, sizeof(err)) ||
            auth_tokens_add(&t, &tok, err, sizeof(err))) {
            fprintf(stderr, "bench-auth: %s\n", err);
            return 1;
        }
        if (i == 0)
            memcpy(first, secret, sizeof(first));
    }
    char wrong[AUTH_TOKEN_LEN];
    memcpy(wrong, first, sizeof(wrong));
    wrong[3] = wrong[3] == 'a' ? 'b' : 'a';
    long n = ntokens >= 100 ? 2000 : 20000, found = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        found += auth_tokens_verify(&t, i % 2 ? first : wrong) != NULL;
    double dt = now_s() - t0;
    printf("  %4zu tokens: %8.2f us a check (%ld checks, half of them good: %ld found)\n", ntokens,
           dt / (double)n * 1e6, n, found);
    auth_tokens_free(&t);
    return found == n / 2 ? 0 : 1;
}

int main(void)
{
    printf("bench-auth: a bearer token checked against the tokens file (salted SHA-256, GnuTLS)\n");
    static const size_t sizes[] = {1, 10, 100, 1000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++)
        if (verify(sizes[i]))
            return 1;
    struct auth_rate *r = malloc(sizeof(*r));
    if (!r)
        return 1;
    auth_rate_init(r, 10, 20);
    char name[32];
    long n = 1000000, held = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "uid:%ld", i % AUTH_RATE_CLIENTS);
        held += auth_rate_take(r, name, AUTH_RAISE, (int64_t)i * 1000) > 0;
    }
    double dt = now_s() - t0;
    printf("command rate, %d clients in the table: %.3f us a command (%ld commands, %ld held "
           "back)\n",
           AUTH_RATE_CLIENTS, dt / (double)n * 1e6, n, held);
    free(r);
    return 0;
}
