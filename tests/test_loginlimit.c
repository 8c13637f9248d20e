/* The limit on failed web logins (loginlimit.c): per account, per address
 * (an IPv6 client by its /64), over a window, and what a full table does. */
#include "assay/error.h"
#include "loginlimit.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static assay_loginlimit *l;
static const time_t T0 = 1700000000;

static void fini(void)
{
    assay_loginlimit_free(l);
    l = NULL;
}

TestSuite(loginlimit, .fini = fini);

static void table(size_t slots)
{
    cr_assert_eq(assay_loginlimit_new(&l, slots), 0, "%s", assay_error_last()->message);
}

/* One failed login; whether the next login of user from addr is stopped. */
static int fail(const char *user, const char *addr)
{
    return assay_loginlimit_check(l, user, addr, 1, T0);
}

static int stopped(const char *user, const char *addr, time_t at)
{
    return assay_loginlimit_check(l, user, addr, 0, at);
}

Test(loginlimit, five_failures_stop_an_account_from_anywhere_until_the_window_passes)
{
    table(ASSAY_LOGIN_SLOTS);
    for (int i = 0; i < ASSAY_LOGIN_MAX_USER - 1; i++)
        cr_assert_eq(fail("alice", "192.0.2.1"), 0, "failure %d", i + 1);
    cr_assert_eq(stopped("alice", "198.51.100.7", T0), 0, "four failures stop nothing");
    cr_assert_eq(fail("alice", "192.0.2.1"), 1, "the fifth stops it");
    cr_assert_eq(stopped("alice", "198.51.100.7", T0), 1, "from another address too");
    cr_assert_eq(stopped("bob", "192.0.2.1", T0), 0, "not another account, nor the address");
    cr_assert_eq(stopped("alice", "198.51.100.7", T0 + ASSAY_LOGIN_WINDOW - 1), 1);
    cr_assert_eq(stopped("alice", "198.51.100.7", T0 + ASSAY_LOGIN_WINDOW), 0, "the window passed");
}

Test(loginlimit, twenty_failures_stop_an_address_whatever_the_name)
{
    char u[16];
    table(ASSAY_LOGIN_SLOTS);
    for (int i = 0; i < ASSAY_LOGIN_MAX_ADDR - 1; i++) {
        snprintf(u, sizeof u, "u%d", i);
        cr_assert_eq(fail(u, "192.0.2.1"), 0, "failure %d", i + 1);
    }
    cr_assert_eq(fail("last", "192.0.2.1"), 1);
    cr_assert_eq(stopped("fresh", "192.0.2.1", T0), 1, "any account from it");
    cr_assert_eq(stopped("fresh", "192.0.2.2", T0), 0, "not the next address");
}

/* One IPv6 network holds more addresses than the table has slots: a
 * client that changes its address within its /64 is still one client. */
Test(loginlimit, an_ipv6_client_is_counted_by_its_slash_64)
{
    char u[16], a[64];
    table(ASSAY_LOGIN_SLOTS);
    for (int i = 0; i < ASSAY_LOGIN_MAX_ADDR; i++) {
        snprintf(u, sizeof u, "u%d", i);
        snprintf(a, sizeof a, "2001:db8:1:2:%x::%x", i, i + 1);
        fail(u, a);
    }
    cr_assert_eq(stopped("fresh", "2001:db8:1:2:ffff:ffff:ffff:ffff", T0), 1, "another address of the /64");
    cr_assert_eq(stopped("fresh", "2001:db8:1:3::1", T0), 0, "the next /64 is another client");
    char k[80];
    assay_loginlimit_addr_key(k, sizeof k, "2001:db8:1:2:aaaa:bbbb:cccc:dddd");
    cr_assert_str_eq(k, "a:2001:db8:1:2::");
    assay_loginlimit_addr_key(k, sizeof k, "192.0.2.1");
    cr_assert_str_eq(k, "a:192.0.2.1");
}

/* A dual-stack server sees IPv4 clients as ::ffff:a.b.c.d: those are
 * IPv4 addresses, each its own client, not one /64 of them all. */
Test(loginlimit, ipv4_clients_of_a_dual_stack_server_are_each_their_own)
{
    char u[16], a[64];
    table(ASSAY_LOGIN_SLOTS);
    for (int i = 0; i < ASSAY_LOGIN_MAX_ADDR; i++) {
        snprintf(u, sizeof u, "u%d", i);
        snprintf(a, sizeof a, "::ffff:192.0.2.%d", i + 1);
        fail(u, a);
    }
    cr_assert_eq(stopped("fresh", "::ffff:192.0.2.100", T0), 0);
    char k[80];
    assay_loginlimit_addr_key(k, sizeof k, "::ffff:192.0.2.1");
    cr_assert_str_eq(k, "a:::ffff:192.0.2.1");
}

/* While every slot counts someone, a login the table holds no count for
 * is refused (before its password is tried) rather than let through
 * uncounted; those it counts go on as before; a slot whose window passed
 * is free again. */
Test(loginlimit, a_full_table_refuses_the_logins_it_cannot_count)
{
    table(4);
    cr_assert_eq(fail("x0", "192.0.2.1"), 0); /* u:x0, a:192.0.2.1 */
    cr_assert_eq(fail("x1", "192.0.2.1"), 0); /* u:x1 */
    cr_assert_eq(stopped("x9", "192.0.2.1", T0), 0, "a slot is still free");
    cr_assert_eq(fail("x2", "192.0.2.1"), 0); /* u:x2: full */
    cr_assert_eq(stopped("x3", "192.0.2.1", T0), 1, "no count for x3, and no room for one");
    cr_assert_eq(stopped("x0", "192.0.2.2", T0), 1, "no count for the new address");
    cr_assert_eq(stopped("x0", "192.0.2.1", T0), 0, "both counted, below their limits");
    /* A failure that cannot be counted does not take a slot from anyone. */
    cr_assert_eq(fail("x4", "192.0.2.1"), 1);
    cr_assert_eq(stopped("x1", "192.0.2.1", T0), 0);
    cr_assert_eq(stopped("x3", "192.0.2.9", T0 + ASSAY_LOGIN_WINDOW), 0, "the window passed: room again");
}

Test(loginlimit, a_table_holds_at_least_one_slot)
{
    cr_assert_eq(assay_loginlimit_new(&l, 0), ASSAY_EINVAL);
    cr_assert_null(l);
}
