/*
 * fuzz_tokens.c - libFuzzer target for rackpowerd's tokens file
 * (auth_tokens_parse, src/daemon/auth.c) and the request headers auth.c
 * reads (Host, Content-Type, Authorization): any bytes must parse or fail
 * with a message, never crash, never leak; a file that parses checks a
 * token without trouble and lists no name twice.
 * Run: make fuzz (tests/fuzz/tokens holds the seeds).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct auth_tokens t;
    char err[512] = "";
    if (auth_tokens_parse((const char *)data, size, "fuzz", &t, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < t.n; i++) {
            if (!auth_name_ok(t.v[i].name) || t.v[i].role == AUTH_NONE ||
                auth_tokens_find(&t, t.v[i].name) != (long)i)
                __builtin_trap(); /* a bad name or role, or a name twice, got in */
        }
        if (auth_tokens_verify(
                &t, "rp_0000000000000000000000000000000000000000000000000000000000000000") &&
            t.n == 0)
            __builtin_trap();
        auth_tokens_free(&t);
    } else if (err[0] == '\0') {
        __builtin_trap(); /* an error must say what is wrong */
    }
    /* the same bytes as header values */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    static const char *const names[] = {"127.0.0.1", "localhost", "rack.test"};
    (void)auth_host_ok(s, names, 3);
    (void)auth_json_type(s);
    const char *b = auth_bearer(s);
    if (b && (b < s || b > s + size))
        __builtin_trap();
    free(s);
    return 0;
}
