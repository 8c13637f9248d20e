/* Thread-local error messages; see include/assay/error.h. */
#include "assay/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local assay_error last;

/* Append `s` to the message at *len, truncating at the buffer's end. */
static void append(size_t *len, const char *s)
{
    size_t room = sizeof last.message - 1 - *len;
    size_t n = strlen(s);
    if (n > room)
        n = room;
    memmove(last.message + *len, s, n);
    *len += n;
    last.message[*len] = '\0';
}

static void vset(int code, int errnum, const char *fmt, va_list ap)
{
    int n = vsnprintf(last.message, sizeof last.message, fmt, ap);
    if (n < 0)
        last.message[0] = '\0';
    if (errnum) {
        size_t len = strlen(last.message);
        append(&len, ": ");
        append(&len, strerror(errnum));
    }
    last.code = code;
}

int assay_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int assay_error_set_errno(int code, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(code, errnum, fmt, ap);
    va_end(ap);
    return code;
}

int assay_error_wrap(const char *fmt, ...)
{
    char prefix[256], old[sizeof last.message];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last.message, sizeof old);
    size_t len = 0;
    last.message[0] = '\0';
    append(&len, prefix);
    append(&len, ": ");
    append(&len, old);
    if (last.code == 0)
        last.code = ASSAY_ERROR;
    return last.code;
}

const assay_error *assay_error_last(void)
{
    return &last;
}

void assay_error_clear(void)
{
    last.code = 0;
    last.message[0] = '\0';
}

const char *assay_error_name(int code)
{
    static const char *const names[] = {
        "OK",      "ERROR",   "ENOMEM", "EINVAL",    "EIO",     "ENOTFOUND",
        "EEXISTS", "ETOOBIG", "EPROTO", "ETIMEOUT",  "EAUTH",   "EHOSTKEY",
        "EUNSAFE", "EVERIFY", "ESTATE", "ECANCELED", "ECLOSED", "EHOST",
    };
    if (code > 0 || -code >= (int)(sizeof names / sizeof names[0]))
        return "EUNKNOWN";
    return names[-code];
}
