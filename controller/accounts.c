/* Accounts of assay serve; see accounts.h. */
#include "accounts.h"

#include "assay/error.h"
#include "crypto.h"

#include <argon2.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

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

int assay_account_random(unsigned char *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return assay_error_set_errno(ASSAY_EIO, errno, "getrandom");
        got += (size_t)r;
    }
    return 0;
}

int assay_account_secret_new(char *out, const char *prefix)
{
    unsigned char raw[32];
    if (assay_account_random(raw, sizeof raw) < 0)
        return -1;
    size_t n = strlen(prefix);
    memcpy(out, prefix, n);
    assay_hex(out + n, raw, sizeof raw);
    explicit_bzero(raw, sizeof raw);
    return 0;
}

static int new_secret(char t[ASSAY_TOKEN_LEN])
{
    return assay_account_secret_new(t, TOKEN_PREFIX);
}

int assay_account_token_create(assay_store *st, const char *user, char token[ASSAY_TOKEN_LEN])
{
    char t[ASSAY_TOKEN_LEN], hash[ASSAY_SHA256_HEX];
    if (new_secret(t) < 0)
        return assay_error_last()->code;
    assay_sha256_hex(hash, t, strlen(t));
    int rc = assay_store_token_add(st, user, hash);
    if (rc == 0)
        memcpy(token, t, sizeof t);
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

/* Argon2id costs: OWASP's minimum for Argon2id (19 MiB, 2 passes, 1 lane). */
#define PW_T 2
#define PW_M (19 * 1024)
#define PW_P 1
#define PW_SALT 16
#define PW_HASH 32
#define PW_ENCODED 128

int assay_account_set_password(assay_store *st, const char *user, const char *password)
{
    unsigned char salt[PW_SALT];
    char enc[PW_ENCODED];
    size_t n = strlen(password);
    if (n < 12 || n > 1024)
        return assay_error_set(ASSAY_EINVAL, "a password is 12 to 1024 bytes");
    if (assay_account_random(salt, sizeof salt) < 0)
        return assay_error_last()->code;
    int r = argon2id_hash_encoded(PW_T, PW_M, PW_P, password, n, salt, sizeof salt, PW_HASH, enc, sizeof enc);
    if (r != ARGON2_OK)
        return assay_error_set(ASSAY_ERROR, "argon2id: %s", argon2_error_message(r));
    return assay_store_user_set_password(st, user, enc);
}

static char dummy[PW_ENCODED];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void)
{
    unsigned char pw[32], salt[PW_SALT];
    if (assay_account_random(pw, sizeof pw) == 0 && assay_account_random(salt, sizeof salt) == 0)
        argon2id_hash_encoded(PW_T, PW_M, PW_P, pw, sizeof pw, salt, sizeof salt, PW_HASH, dummy, sizeof dummy);
}

int assay_account_login(assay_store *st, const char *user, const char *password, char session[ASSAY_TOKEN_LEN],
                        char csrf[65], assay_user_rec *u)
{
    /* A hash of nothing anyone knows: an unknown user costs the same
     * Argon2id run as a known one, so timing does not tell names. */
    pthread_once(&dummy_once, make_dummy);
    char enc[PW_ENCODED] = "", s[ASSAY_TOKEN_LEN], c[ASSAY_TOKEN_LEN], hash[ASSAY_SHA256_HEX];
    size_t n = password ? strlen(password) : 0;
    int known = assay_account_name_valid(user) && assay_store_user_password(st, user, enc, sizeof enc) == 0 && enc[0];
    int ok = argon2id_verify(known ? enc : dummy, password ? password : "", n) == ARGON2_OK;
    if (!known || !ok || n > 1024 || assay_store_user_get(st, user, u) < 0)
        return assay_error_set(ASSAY_EAUTH, "wrong name or password");
    if (new_secret(s) < 0 || new_secret(c) < 0)
        return assay_error_last()->code;
    assay_sha256_hex(hash, s, strlen(s));
    int rc = assay_store_session_add(st, hash, u->name, c + sizeof TOKEN_PREFIX - 1,
                                     (int64_t)time(NULL) + ASSAY_SESSION_SECONDS);
    if (rc == 0) {
        memcpy(session, s, sizeof s);
        memcpy(csrf, c + sizeof TOKEN_PREFIX - 1, 65);
    }
    explicit_bzero(s, sizeof s);
    explicit_bzero(c, sizeof c);
    return rc;
}

int assay_account_session(assay_store *st, const char *session, assay_user_rec *u, char csrf[65])
{
    char hash[ASSAY_SHA256_HEX];
    size_t n = session ? strlen(session) : 0;
    if (n != ASSAY_TOKEN_LEN - 1 || strncmp(session, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1))
        return assay_error_set(ASSAY_EAUTH, "no such session, or it expired");
    assay_sha256_hex(hash, session, n);
    return assay_store_session_user(st, hash, (int64_t)time(NULL), u, csrf);
}

int assay_account_logout(assay_store *st, const char *session)
{
    char hash[ASSAY_SHA256_HEX];
    assay_sha256_hex(hash, session, strlen(session));
    return assay_store_session_remove(st, hash);
}

int assay_account_secret_eq(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (n != strlen(b))
        return 0;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}
