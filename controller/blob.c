/* Content-addressed blobs; see blob.h. */
#include "blob.h"
#include "assay/error.h"
#include "assay/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct assay_blob_writer {
    char root[PATH_MAX];
    char tmp[PATH_MAX];
    int fd;
    uint64_t size;
    assay_sha256 *hash;
    char hex[ASSAY_SHA256_HEX]; /* set by finish */
};

int assay_hex_digest_valid(const char *s)
{
    return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

int assay_blob_path(char *out, size_t outlen, const char *root, const char *hex)
{
    if (!assay_hex_digest_valid(hex))
        return assay_error_set(ASSAY_EINVAL, "'%s' is not a SHA-256 digest", hex);
    int n = snprintf(out, outlen, "%s/%.2s/%s", root, hex, hex + 2);
    if (n < 0 || (size_t)n >= outlen)
        return assay_error_set(ASSAY_EINVAL, "blob path too long");
    return 0;
}

int assay_blob_remove(const char *root, const char *hex)
{
    char path[PATH_MAX];
    int rc = assay_blob_path(path, sizeof path, root, hex);
    if (rc < 0)
        return rc;
    if (unlink(path) != 0 && errno != ENOENT)
        return assay_error_set_errno(ASSAY_EIO, errno, "remove blob %s", path);
    return 0;
}

int assay_blob_writer_open(assay_blob_writer **out, const char *root)
{
    assay_blob_writer *w = calloc(1, sizeof *w);
    if (!w)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    snprintf(w->root, sizeof w->root, "%s", root);
    snprintf(w->tmp, sizeof w->tmp, "%s/tmp", root);
    if (mkdir(w->tmp, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        free(w);
        return assay_error_set_errno(ASSAY_EIO, e, "mkdir %s/tmp", root);
    }
    snprintf(w->tmp, sizeof w->tmp, "%s/tmp/blob-XXXXXX", root);
    w->fd = mkostemp(w->tmp, O_CLOEXEC);
    if (w->fd < 0) {
        int e = errno;
        free(w);
        return assay_error_set_errno(ASSAY_EIO, e, "create a blob in %s", root);
    }
    if (!(w->hash = assay_sha256_new())) {
        assay_blob_writer_abort(w);
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    }
    *out = w;
    return 0;
}

int assay_blob_writer_write(assay_blob_writer *w, const void *data, size_t len)
{
    if (assay_write_all(w->fd, data, len) != 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "write %s", w->tmp);
    assay_sha256_update(w->hash, data, len);
    w->size += len;
    return 0;
}

const char *assay_blob_writer_path(const assay_blob_writer *w)
{
    return w->tmp;
}

uint64_t assay_blob_writer_size(const assay_blob_writer *w)
{
    return w->size;
}

void assay_blob_writer_abort(assay_blob_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    unlink(w->tmp);
    if (w->hash) {
        char junk[ASSAY_SHA256_HEX];
        assay_sha256_final(w->hash, junk);
    }
    free(w);
}

int assay_blob_writer_finish(assay_blob_writer *w, char hex[ASSAY_SHA256_HEX], uint64_t *size)
{
    if (w->hash) {
        assay_sha256_final(w->hash, w->hex);
        w->hash = NULL;
        int bad = fsync(w->fd) != 0;
        bad |= close(w->fd) != 0;
        w->fd = -1;
        if (bad)
            return assay_error_set_errno(ASSAY_EIO, errno, "write %s", w->tmp);
    }
    if (hex)
        memcpy(hex, w->hex, ASSAY_SHA256_HEX);
    if (size)
        *size = w->size;
    return 0;
}

int assay_blob_writer_commit(assay_blob_writer *w, char hex[ASSAY_SHA256_HEX], uint64_t *size)
{
    char path[PATH_MAX], dir[PATH_MAX];
    int rc;
    if ((rc = assay_blob_writer_finish(w, hex, size)) < 0 ||
        (rc = assay_blob_path(path, sizeof path, w->root, w->hex)) < 0) {
        assay_blob_writer_abort(w);
        return rc;
    }
    snprintf(dir, sizeof dir, "%s/%.2s", w->root, w->hex);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "mkdir %s", dir);
        assay_blob_writer_abort(w);
        return rc;
    }
    chmod(w->tmp, 0644);
    struct stat st;
    if (stat(path, &st) == 0) { /* the same content is there already */
        unlink(w->tmp);
    } else if (rename(w->tmp, path) != 0) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "store blob %s", w->hex);
        assay_blob_writer_abort(w);
        return rc;
    }
    free(w);
    return 0;
}

int assay_blob_scratch(int *out, const char *root)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tmp", root);
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return assay_error_set_errno(ASSAY_EIO, errno, "mkdir %s", path);
    snprintf(path, sizeof path, "%s/tmp/scratch-XXXXXX", root);
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "create a scratch file in %s", root);
    unlink(path);
    *out = fd;
    return 0;
}

int assay_blob_stage_file(assay_blob_writer **out, const char *root, const char *path,
                          char hex[ASSAY_SHA256_HEX], uint64_t *size)
{
    assay_blob_writer *w;
    int rc, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "%s", path);
    if ((rc = assay_blob_writer_open(&w, root)) < 0) {
        close(fd);
        return rc;
    }
    static char buf[1 << 20];
    for (;;) {
        ssize_t n = assay_read_full(fd, buf, sizeof buf);
        if (n < 0) {
            rc = assay_error_set_errno(ASSAY_EIO, errno, "read %s", path);
            break;
        }
        if (n == 0) {
            rc = 0;
            break;
        }
        if ((rc = assay_blob_writer_write(w, buf, (size_t)n)) < 0)
            break;
    }
    close(fd);
    if (rc == 0)
        rc = assay_blob_writer_finish(w, hex, size);
    if (rc < 0) {
        assay_blob_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

int assay_blob_put_file(const char *root, const char *path, char hex[ASSAY_SHA256_HEX], uint64_t *size)
{
    assay_blob_writer *w;
    int rc = assay_blob_stage_file(&w, root, path, hex, size);
    return rc < 0 ? rc : assay_blob_writer_commit(w, NULL, NULL);
}

int assay_blob_put_mem(const char *root, const void *data, size_t len, char hex[ASSAY_SHA256_HEX])
{
    assay_blob_writer *w;
    int rc = assay_blob_writer_open(&w, root);
    if (rc < 0)
        return rc;
    if ((rc = assay_blob_writer_write(w, data, len)) < 0) {
        assay_blob_writer_abort(w);
        return rc;
    }
    return assay_blob_writer_commit(w, hex, NULL);
}
