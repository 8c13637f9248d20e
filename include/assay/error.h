/*
 * assay error model (after libgit2's git_error_set / git_error_last).
 *
 * Every fallible function returns 0 or a negative ASSAY_E* code and records a
 * message for the calling thread with assay_error_set(). Library code never
 * prints; the caller decides what to show. The CLI prints
 * "assay: <what failed>: <why>" with assay_error_last()->message as <why>.
 */
#ifndef ASSAY_ERROR_H
#define ASSAY_ERROR_H

#include <stddef.h>

enum {
    ASSAY_OK = 0,
    ASSAY_ERROR = -1,     /* generic failure */
    ASSAY_ENOMEM = -2,    /* allocation failed */
    ASSAY_EINVAL = -3,    /* bad argument or malformed input */
    ASSAY_EIO = -4,       /* read, write or other OS call failed */
    ASSAY_ENOTFOUND = -5, /* no such object (file, host, package, run) */
    ASSAY_EEXISTS = -6,   /* object exists already */
    ASSAY_ETOOBIG = -7,   /* a size cap was hit */
    ASSAY_EPROTO = -8,    /* a peer broke the protocol */
    ASSAY_ETIMEOUT = -9,  /* a deadline passed */
    ASSAY_EAUTH = -10,    /* authentication refused */
    ASSAY_EHOSTKEY = -11, /* host key unknown or mismatched */
    ASSAY_EUNSAFE = -12,  /* hostile input refused (archive entry, path, mode) */
    ASSAY_EVERIFY = -13,  /* signature or digest mismatch */
    ASSAY_ESTATE = -14,   /* operation not allowed in the object's state */
    ASSAY_ECANCELED = -15, /* stopped on request */
    ASSAY_ECLOSED = -16,   /* nobody reads any more (the pipe or channel closed) */
    ASSAY_EHOST = -17      /* a host or the connection to it failed (down, dropped, silent) */
};

typedef struct assay_error {
    int code;        /* the ASSAY_E* value */
    char message[512];
} assay_error;

/*
 * Record an error for this thread and return `code`, so callers can write
 * `return assay_error_set(ASSAY_EINVAL, "...")`. The message is truncated to
 * fit; it never fails.
 */
int assay_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Like assay_error_set(), appending ": strerror(errnum)".
 */
int assay_error_set_errno(int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Prefix the current message with "<context>: " and return its code; for
 * adding where-it-happened while an error travels up.
 */
int assay_error_wrap(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The last error of this thread; never NULL (code 0 and "" if none). */
const assay_error *assay_error_last(void);

void assay_error_clear(void);

/* A short, stable name for a code ("EINVAL", "ETIMEOUT"...). */
const char *assay_error_name(int code);

#endif
