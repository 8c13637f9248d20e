/* Accounts of assay serve; see accounts.h. */
#include "accounts.h"

#include "assay/error.h"
#include "crypto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define TOKEN_PREFIX "assay_"

int assay_account_role_valid(const char *role)
{
    return role && (!strcmp(role, "admin") || !strcmp(role, "engineer") || !strcmp(role, "vendor"));
}

int assay_account_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 63 || name[0] == '.' || name[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", name[i]))
            return 0;
    return 1;
}

int assay_account_user_add(assay_store *st, const char *name, const char *role, const char *org)
{
    assay_user_rec u = {0};
    if (!assay_account_name_valid(name))
        return assay_error_set(ASSAY_EINVAL, "a user name is 1-63 letters, digits, '.', '_' or '-'");
    if (!assay_account_role_valid(role))
        return assay_error_set(ASSAY_EINVAL, "the role must be admin, engineer or vendor");
    if (!strcmp(role, "vendor") && !(org && *org))
        return assay_error_set(ASSAY_EINVAL, "a vendor account needs --org: the organisation whose packages it sees");
    if (org && *org && !assay_account_name_valid(org))
        return assay_error_set(ASSAY_EINVAL, "an organisation name is 1-63 letters, digits, '.', '_' or '-'");
    if (strcmp(role, "vendor") && org && *org)
        return assay_error_set(ASSAY_EINVAL, "only vendor accounts belong to an organisation (staff see all)");
    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.role, sizeof u.role, "%s", role);
    snprintf(u.org, sizeof u.org, "%s", org ? org : "");
    return assay_store_user_add(st, &u);
}

int assay_account_token_create(assay_store *st, const char *user, char token[ASSAY_TOKEN_LEN])
{
    unsigned char raw[32];
    char t[ASSAY_TOKEN_LEN], hash[ASSAY_SHA256_HEX];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t r = getrandom(raw + got, sizeof raw - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return assay_error_set_errno(ASSAY_EIO, errno, "getrandom");
        got += (size_t)r;
    }
    memcpy(t, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(t + sizeof TOKEN_PREFIX - 1 + 2 * i, 3, "%02x", raw[i]);
    assay_sha256_hex(hash, t, strlen(t));
    int rc = assay_store_token_add(st, user, hash);
    if (rc == 0)
        memcpy(token, t, sizeof t);
    explicit_bzero(raw, sizeof raw);
    explicit_bzero(t, sizeof t);
    return rc;
}

int assay_account_authenticate(assay_store *st, const char *token, assay_user_rec *u)
{
    char hash[ASSAY_SHA256_HEX];
    size_t n = token ? strlen(token) : 0;
    if (n != ASSAY_TOKEN_LEN - 1 || strncmp(token, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1))
        return assay_error_set(ASSAY_EAUTH, "unknown or revoked token");
    /* The lookup is by hash: the store never compares secrets, and a
     * stolen database gives no usable token. */
    assay_sha256_hex(hash, token, n);
    int rc = assay_store_token_user(st, hash, u);
    if (rc == ASSAY_ENOTFOUND)
        rc = assay_error_set(ASSAY_EAUTH, "unknown or revoked token");
    return rc;
}

int assay_account_is_staff(const assay_user_rec *u)
{
    return !strcmp(u->role, "engineer") || !strcmp(u->role, "admin");
}

int assay_account_may_see_package(assay_store *st, const assay_user_rec *u, const char *id)
{
    if (assay_account_is_staff(u))
        return 1;
    if (strcmp(u->role, "vendor") || !u->org[0])
        return 0;
    return assay_store_package_org_has(st, id, u->org);
}
