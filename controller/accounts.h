/*
 * Accounts of `assay serve`: roles, API tokens and who may see what.
 * Tokens are 256 random bits, shown once ("assay_" and 64 hex digits) and
 * stored only as their SHA-256; a token carries no meaning of its own.
 */
#ifndef ASSAY_CTL_ACCOUNTS_H
#define ASSAY_CTL_ACCOUNTS_H

#include "store.h"

#include <stddef.h>

#define ASSAY_TOKEN_LEN 71 /* "assay_" + 64 hex digits + NUL */

/* 1 if role is admin, engineer or vendor. */
int assay_account_role_valid(const char *role);

/* 1 if name is a valid user or organisation name: 1-63 bytes of
 * [A-Za-z0-9._-], not starting with '.' or '-'. */
int assay_account_name_valid(const char *name);

/* Add user `name` with `role` (a vendor needs org, staff must not have
 * one). ASSAY_EINVAL on a bad name or role, ASSAY_EEXISTS if taken. */
int assay_account_user_add(assay_store *st, const char *name, const char *role, const char *org);

/* A new token of `user`: the token text goes to token (shown once, never
 * stored), its hash to the store. ENOTFOUND if there is no such user. */
int assay_account_token_create(assay_store *st, const char *user, char token[ASSAY_TOKEN_LEN]);

/* The enabled user a presented token belongs to. ASSAY_EAUTH for
 * anything else (malformed, unknown, revoked, user disabled). */
int assay_account_authenticate(assay_store *st, const char *token, assay_user_rec *u);

/* Staff (engineer or admin) see every package and run. */
int assay_account_is_staff(const assay_user_rec *u);

/* 1 if u may see package `id` (full id): staff always, a vendor if its
 * organisation uploaded it; 0 if not; or a negative code. */
int assay_account_may_see_package(assay_store *st, const assay_user_rec *u, const char *id);

/* Web logins (docs/api.md#web-logins). */
#define ASSAY_SESSION_SECONDS (12 * 3600)

/* Set user's password: stored as an Argon2id hash (t=2, 19 MiB, one
 * lane, 16-byte random salt). ASSAY_EINVAL if shorter than 12 bytes or
 * longer than 1024. ENOTFOUND: no user. */
int assay_account_set_password(assay_store *st, const char *user, const char *password);

/*
 * Check a login and open a session: the cookie value (shown once, stored
 * as its SHA-256) into session and its CSRF token into csrf; u filled.
 * ASSAY_EAUTH for a wrong name or password, a disabled user or one
 * without a password, in about the same time whichever it is.
 */
int assay_account_login(assay_store *st, const char *user, const char *password, char session[ASSAY_TOKEN_LEN],
                        char csrf[65], assay_user_rec *u);

/* The user of a live session cookie and its CSRF token; ASSAY_EAUTH if none. */
int assay_account_session(assay_store *st, const char *session, assay_user_rec *u, char csrf[65]);

/* End a session (logout). */
int assay_account_logout(assay_store *st, const char *session);

/* n random bytes from the kernel (getrandom): 0 or ASSAY_EIO. */
int assay_account_random(unsigned char *out, size_t n);
/* A new secret: prefix and 64 hex digits of 256 random bits into out
 * (strlen(prefix) + 65 bytes); -1 (the error set) when no randomness. */
int assay_account_secret_new(char *out, const char *prefix);

/* 1 if a and b are equal, compared in time that depends only on their
 * lengths. */
int assay_account_secret_eq(const char *a, const char *b);

#endif
