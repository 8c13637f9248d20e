/* Whole reads and writes on file descriptors, retried on EINTR and short
 * counts. Thin wrappers over read(2)/write(2), so they report like them. */
#ifndef ASSAY_IO_H
#define ASSAY_IO_H

#include <stddef.h>
#include <sys/types.h>

/* Write all `len` bytes. Returns 0, or -1 with errno set. */
int assay_write_all(int fd, const void *buf, size_t len);

/* Read until `cap` bytes or end of file. Returns the count, or -1 with
 * errno set. */
ssize_t assay_read_full(int fd, void *buf, size_t cap);

/* n bytes as 2n lower-case hex digits and a NUL. */
void assay_hex(char *out, const unsigned char *d, size_t n);

#endif
