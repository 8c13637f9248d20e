/*
 * The limit on failed web logins of `assay serve` (docs/api.md#web-logins):
 * failures are counted per account and per client address over a window,
 * in memory (a restart forgets them), in a table of a fixed number of
 * slots. An IPv6 client is counted by its /64, since one network holds
 * more addresses than any table has slots; an IPv4 client (also one seen
 * as ::ffff:a.b.c.d by a dual-stack server) by its own address. While the
 * table is full, a login it holds no count for is refused: letting it
 * through uncounted would make the limit one an attacker turns off by
 * filling the table.
 */
#ifndef ASSAY_CTL_LOGINLIMIT_H
#define ASSAY_CTL_LOGINLIMIT_H

#include <stddef.h>
#include <time.h>

#define ASSAY_LOGIN_SLOTS 1024     /* accounts and addresses remembered by assay serve */
#define ASSAY_LOGIN_WINDOW 900     /* seconds a failed login is remembered */
#define ASSAY_LOGIN_MAX_USER 5     /* failures per account per window */
#define ASSAY_LOGIN_MAX_ADDR 20    /* failures per address (IPv6: per /64) per window */

typedef struct assay_loginlimit assay_loginlimit;

/* A table of `slots` counts (assay serve: ASSAY_LOGIN_SLOTS; tests take
 * fewer to fill it). ASSAY_ENOMEM or ASSAY_EINVAL (0 slots). */
int assay_loginlimit_new(assay_loginlimit **out, size_t slots);

/* Free it; NULL is a no-op. */
void assay_loginlimit_free(assay_loginlimit *l);

/*
 * 1 if logins for `user` or from `addr` (text, as inet_ntop prints it) are
 * stopped at time `now`, else 0; with `failed`, first count one more
 * failure for both (making their slots if there is room). A login the
 * full table cannot count is stopped. Safe from any thread.
 */
int assay_loginlimit_check(assay_loginlimit *l, const char *user, const char *addr, int failed, time_t now);

/* The key `addr` is counted under, into out (at least 80 bytes): "a:" and
 * the address, or for IPv6 (not v4-mapped) its /64 with the host bits
 * zero ("a:2001:db8:1:2::"). */
void assay_loginlimit_addr_key(char *out, size_t len, const char *addr);

#endif
