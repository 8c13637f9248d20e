/* Failed web logins, counted per account and per address: see loginlimit.h. */
#include "loginlimit.h"

#include "assay/error.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct failure {
    char key[80]; /* "u:NAME" or "a:ADDRESS" ("" : a free slot) */
    unsigned count;
    time_t since; /* the first failure of its window */
};

struct assay_loginlimit {
    pthread_mutex_t mu;
    size_t n;
    struct failure fails[]; /* n of them */
};

int assay_loginlimit_new(assay_loginlimit **out, size_t slots)
{
    if (slots == 0 || slots > (size_t)1 << 20)
        return assay_error_set(ASSAY_EINVAL, "a login limit table holds 1 to 2^20 slots");
    assay_loginlimit *l = calloc(1, sizeof *l + slots * sizeof l->fails[0]);
    if (!l)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    l->n = slots;
    *out = l;
    return 0;
}

void assay_loginlimit_free(assay_loginlimit *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void assay_loginlimit_addr_key(char *out, size_t len, const char *addr)
{
    char net[INET6_ADDRSTRLEN];
    struct in6_addr a6;
    if (strchr(addr, ':') && inet_pton(AF_INET6, addr, &a6) == 1 && !IN6_IS_ADDR_V4MAPPED(&a6)) {
        memset(a6.s6_addr + 8, 0, 8);
        if (inet_ntop(AF_INET6, &a6, net, sizeof net))
            addr = net;
    }
    snprintf(out, len, "a:%.64s", addr);
}

/* The slot counting `key`, made when `make` and there is room; *full when
 * there is none and no room for one. Slots whose window passed are freed
 * on the way. Called with l->mu held. */
static struct failure *failure_of(assay_loginlimit *l, const char *key, time_t now, int make, int *full)
{
    struct failure *free_slot = NULL;
    for (size_t i = 0; i < l->n; i++) {
        struct failure *f = &l->fails[i];
        if (f->key[0] && now - f->since >= ASSAY_LOGIN_WINDOW)
            f->key[0] = 0;
        if (f->key[0] && !strcmp(f->key, key))
            return f;
        if (!f->key[0] && !free_slot)
            free_slot = f;
    }
    *full |= !free_slot;
    if (!make || !free_slot)
        return NULL;
    snprintf(free_slot->key, sizeof free_slot->key, "%s", key);
    free_slot->count = 0;
    free_slot->since = now;
    return free_slot;
}

int assay_loginlimit_check(assay_loginlimit *l, const char *user, const char *addr, int failed, time_t now)
{
    char ku[80], ka[80];
    snprintf(ku, sizeof ku, "u:%.64s", user);
    assay_loginlimit_addr_key(ka, sizeof ka, addr);
    pthread_mutex_lock(&l->mu);
    int full = 0;
    struct failure *fu = failure_of(l, ku, now, failed, &full), *fa = failure_of(l, ka, now, failed, &full);
    full = full && (!fu || !fa);
    if (failed) {
        if (fu)
            fu->count++;
        if (fa)
            fa->count++;
    }
    int limited = full || (fu && fu->count >= ASSAY_LOGIN_MAX_USER) || (fa && fa->count >= ASSAY_LOGIN_MAX_ADDR);
    pthread_mutex_unlock(&l->mu);
    return limited;
}
