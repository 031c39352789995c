/*
 * test_guard.c - the replay guard: the sequence window per verified boot,
 * challenges for unknown boots, and a peer restarted without its disk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"

#define MS 1000000LL

static struct rackbus_msg msg(uint8_t from, uint64_t boot, uint64_t seq)
{
    struct rackbus_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RACKBUS_HEARTBEAT;
    m.from = from;
    m.boot_id = boot;
    m.seq = seq;
    return m;
}

static struct rackbus_msg response(uint8_t from, uint64_t boot, uint64_t seq, uint64_t nonce)
{
    struct rackbus_msg m = msg(from, boot, seq);
    m.type = RACKBUS_RESPONSE;
    m.u.response.nonce = nonce;
    return m;
}

static enum guard_verdict check(struct guard *g, uint8_t from, uint64_t boot, uint64_t seq,
                                int64_t now)
{
    struct rackbus_msg m = msg(from, boot, seq);
    return guard_check(g, &m, now);
}

/* Verifies addr's boot as the daemon would: its first message is refused,
 * challenged, answered with seq, heard. */
static void verify(struct guard *g, uint8_t addr, uint64_t boot, uint64_t seq, int64_t now)
{
    assert_int_equal(check(g, addr, boot, seq, now), GUARD_UNVERIFIED);
    assert_true(guard_challenge(g, addr, 0x5eed0000 + seq, now));
    struct rackbus_msg r = response(addr, boot, seq + 1, 0x5eed0000 + seq);
    assert_int_equal(guard_check(g, &r, now + MS), GUARD_ACCEPT);
}

static void test_seen_sequence_is_a_replay(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g);
    verify(&g, 2, 77, 1, 0);
    assert_int_equal(check(&g, 2, 77, 3, 10 * MS), GUARD_ACCEPT);
    assert_int_equal(check(&g, 2, 77, 3, 11 * MS), GUARD_REPLAY);
    assert_int_equal(check(&g, 2, 77, 4, 12 * MS), GUARD_ACCEPT);
    assert_int_equal(check(&g, 2, 77, 3, 13 * MS), GUARD_REPLAY);
    assert_int_equal(check(&g, 2, 77, 4, 14 * MS), GUARD_REPLAY);
    assert_int_equal(g.count.replayed, 3);
    /* the response itself (seq 2) was heard too */
    assert_int_equal(check(&g, 2, 77, 2, 15 * MS), GUARD_REPLAY);
}

static void test_out_of_order_within_the_window_is_accepted_once(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g);
    verify(&g, 2, 77, 1, 0);
    assert_int_equal(check(&g, 2, 77, 100, MS), GUARD_ACCEPT);
    /* 37 .. 99 are within the 64 below 100 and were never seen */
    assert_int_equal(check(&g, 2, 77, 99, MS), GUARD_ACCEPT);
    assert_int_equal(check(&g, 2, 77, 37, MS), GUARD_ACCEPT);
    assert_int_equal(check(&g, 2, 77, 50, MS), GUARD_ACCEPT);
    assert_int_equal(check(&g, 2, 77, 50, MS), GUARD_REPLAY);
    assert_int_equal(check(&g, 2, 77, 37, MS), GUARD_REPLAY);
    assert_int_equal(check(&g, 2, 77, 99, MS), GUARD_REPLAY);
    /* the window slides with the highest: 101 keeps 99 seen */
    assert_int_equal(check(&g, 2, 77, 101, MS), GUARD_ACCEPT);
    assert_int_equal(check(&g, 2, 77, 99, MS), GUARD_REPLAY);
    assert_int_equal(check(&g, 2, 77, 98, MS), GUARD_ACCEPT);
}

static void test_older_than_the_window_is_refused(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g);
    verify(&g, 2, 77, 1, 0);
    assert_int_equal(check(&g, 2, 77, 1000, MS), GUARD_ACCEPT);
    assert_int_equal(check(&g, 2, 77, 1000 - GUARD_WINDOW, MS), GUARD_REPLAY);
    assert_int_equal(check(&g, 2, 77, 3, MS), GUARD_REPLAY);
    assert_int_equal(check(&g, 2, 77, 1000 - GUARD_WINDOW + 1, MS), GUARD_ACCEPT);
    /* a jump beyond the window forgets the old bits but not the top */
    assert_int_equal(check(&g, 2, 77, UINT64_MAX, MS), GUARD_ACCEPT);
    assert_int_equal(check(&g, 2, 77, UINT64_MAX, MS), GUARD_REPLAY);
    assert_int_equal(check(&g, 2, 77, UINT64_MAX - 1, MS), GUARD_ACCEPT);
    assert_int_equal(check(&g, 2, 77, 1001, MS), GUARD_REPLAY);
}

static void test_unknown_boot_is_challenged_at_most_once_per_gap(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g);
    assert_int_equal(check(&g, 4, 9, 1, 0), GUARD_UNVERIFIED);
    assert_true(guard_challenge(&g, 4, 111, 0));
    assert_int_equal(check(&g, 4, 9, 2, 50 * MS), GUARD_UNVERIFIED);
    assert_false(guard_challenge(&g, 4, 222, 50 * MS));
    assert_int_equal(check(&g, 4, 9, 3, GUARD_CHALLENGE_GAP_NS), GUARD_UNVERIFIED);
    assert_true(guard_challenge(&g, 4, 333, GUARD_CHALLENGE_GAP_NS));
    assert_int_equal(g.count.unverified, 3);
    assert_int_equal(g.count.challenged, 2);
    /* another address is challenged on its own */
    assert_true(guard_challenge(&g, 5, 444, GUARD_CHALLENGE_GAP_NS));
    /* nothing of 4 was heard */
    assert_int_equal(g.count.accepted, 0);
}

static void test_challenge_passes_without_verification(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g);
    struct rackbus_msg c = msg(6, 1, 1);
    c.type = RACKBUS_CHALLENGE;
    c.u.challenge.nonce = 5;
    assert_int_equal(guard_check(&g, &c, 0), GUARD_ACCEPT);
    assert_int_equal(guard_check(&g, &c, 0), GUARD_ACCEPT); /* answered again: harmless */
    /* and it verifies nothing */
    assert_int_equal(check(&g, 6, 1, 2, 0), GUARD_UNVERIFIED);
}

static void test_response_with_the_right_nonce_verifies_the_boot(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g);
    assert_int_equal(check(&g, 3, 0xb007, 5, 0), GUARD_UNVERIFIED);
    assert_true(guard_challenge(&g, 3, 0xabcdef, 0));
    struct rackbus_msg r = response(3, 0xb007, 8, 0xabcdef);
    assert_int_equal(guard_check(&g, &r, 1999 * MS), GUARD_ACCEPT);
    assert_int_equal(g.count.verified, 1);
    assert_int_equal(check(&g, 3, 0xb007, 9, 2000 * MS), GUARD_ACCEPT);
    /* what it sent before its answer (dropped then) is not heard later */
    assert_int_equal(check(&g, 3, 0xb007, 5, 2000 * MS), GUARD_REPLAY);
    assert_int_equal(check(&g, 3, 0xb007, 7, 2000 * MS), GUARD_REPLAY);
    /* the same answer again verifies nothing more */
    assert_int_equal(guard_check(&g, &r, 2001 * MS), GUARD_REPLAY);
    assert_int_equal(g.count.verified, 1);
}

static void test_answer_to_the_previous_challenge_still_counts(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g);
    assert_true(guard_challenge(&g, 3, 1001, 0));
    assert_true(guard_challenge(&g, 3, 1002, GUARD_CHALLENGE_GAP_NS));
    struct rackbus_msg r = response(3, 0xb007, 1, 1001);
    assert_int_equal(guard_check(&g, &r, GUARD_CHALLENGE_GAP_NS + MS), GUARD_ACCEPT);
    /* a third challenge pushes out the first */
    guard_init(&g);
    assert_true(guard_challenge(&g, 3, 1001, 0));
    assert_true(guard_challenge(&g, 3, 1002, GUARD_CHALLENGE_GAP_NS));
    assert_true(guard_challenge(&g, 3, 1003, 2 * GUARD_CHALLENGE_GAP_NS));
    assert_int_equal(guard_check(&g, &r, 2 * GUARD_CHALLENGE_GAP_NS + MS), GUARD_REPLAY);
    r.u.response.nonce = 1002;
    assert_int_equal(guard_check(&g, &r, 2 * GUARD_CHALLENGE_GAP_NS + MS), GUARD_ACCEPT);
}

static void test_wrong_or_stale_nonce_does_not_verify(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g);
    assert_true(guard_challenge(&g, 3, 42, 0));
    struct rackbus_msg r = response(3, 0xb007, 1, 43);
    assert_int_equal(guard_check(&g, &r, MS), GUARD_REPLAY);
    /* the right nonce from another address */
    r = response(4, 0xb007, 1, 42);
    assert_int_equal(guard_check(&g, &r, MS), GUARD_REPLAY);
    /* the right nonce, too late */
    r = response(3, 0xb007, 2, 42);
    assert_int_equal(guard_check(&g, &r, GUARD_CHALLENGE_TTL_NS), GUARD_REPLAY);
    /* a response nobody asked for */
    guard_init(&g);
    r = response(3, 0xb007, 1, 0);
    assert_int_equal(guard_check(&g, &r, 0), GUARD_REPLAY);
    assert_int_equal(check(&g, 3, 0xb007, 2, MS), GUARD_UNVERIFIED);
    assert_int_equal(g.count.verified, 0);
}

static void test_peer_restarted_without_its_disk_is_heard_after_one_challenge(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g);
    verify(&g, 2, 0x01d, 1, 0);
    for (uint64_t s = 3; s < 500; s++)
        assert_int_equal(check(&g, 2, 0x01d, s, (int64_t)s * MS), GUARD_ACCEPT);

    /* it restarts: a new boot id, its sequence from 1 again */
    int64_t t = 1000 * MS;
    assert_int_equal(check(&g, 2, 0x2e1, 1, t), GUARD_UNVERIFIED);
    assert_true(guard_challenge(&g, 2, 0xc0ffee, t));
    struct rackbus_msg r = response(2, 0x2e1, 2, 0xc0ffee);
    assert_int_equal(guard_check(&g, &r, t + MS), GUARD_ACCEPT);
    assert_int_equal(check(&g, 2, 0x2e1, 3, t + 2 * MS), GUARD_ACCEPT);
    assert_int_equal(check(&g, 2, 0x2e1, 4, t + 3 * MS), GUARD_ACCEPT);

    /* a replay of the old boot after that: challenged, never heard */
    assert_int_equal(check(&g, 2, 0x01d, 499, t + 4 * MS), GUARD_UNVERIFIED);
    assert_int_equal(check(&g, 2, 0x01d, 600, t + 5 * MS), GUARD_UNVERIFIED);
    /* and an old response of the old boot does not bring it back */
    struct rackbus_msg old = response(2, 0x01d, 2, 0x5eed0001);
    assert_int_equal(guard_check(&g, &old, t + 6 * MS), GUARD_REPLAY);
    assert_true(guard_challenge(&g, 2, 0xface, t + 6 * MS));
    /* the live boot answers that challenge: it stays the one heard, its window intact */
    r = response(2, 0x2e1, 5, 0xface);
    assert_int_equal(guard_check(&g, &r, t + 7 * MS), GUARD_ACCEPT);
    assert_int_equal(check(&g, 2, 0x2e1, 4, t + 8 * MS), GUARD_REPLAY);
    assert_int_equal(check(&g, 2, 0x2e1, 6, t + 8 * MS), GUARD_ACCEPT);
    assert_int_equal(check(&g, 2, 0x01d, 601, t + 9 * MS), GUARD_UNVERIFIED);
}

static void test_forged_datagrams_are_counted(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g);
    guard_forged(&g);
    guard_forged(&g);
    assert_int_equal(g.count.forged, 2);
    assert_int_equal(g.count.accepted + g.count.replayed + g.count.unverified, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seen_sequence_is_a_replay),
        cmocka_unit_test(test_out_of_order_within_the_window_is_accepted_once),
        cmocka_unit_test(test_older_than_the_window_is_refused),
        cmocka_unit_test(test_unknown_boot_is_challenged_at_most_once_per_gap),
        cmocka_unit_test(test_challenge_passes_without_verification),
        cmocka_unit_test(test_response_with_the_right_nonce_verifies_the_boot),
        cmocka_unit_test(test_answer_to_the_previous_challenge_still_counts),
        cmocka_unit_test(test_wrong_or_stale_nonce_does_not_verify),
        cmocka_unit_test(test_peer_restarted_without_its_disk_is_heard_after_one_challenge),
        cmocka_unit_test(test_forged_datagrams_are_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
