/* See include/assay/io.h. */
#include "assay/io.h"

#include <errno.h>
#include <unistd.h>

int assay_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

ssize_t assay_read_full(int fd, void *buf, size_t cap)
{
    char *p = buf;
    size_t used = 0;
    while (used < cap) {
        ssize_t n = read(fd, p + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        used += (size_t)n;
    }
    return (ssize_t)used;
}

void assay_hex(char *out, const unsigned char *d, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}
