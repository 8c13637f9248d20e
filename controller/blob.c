/* Content-addressed blobs; see blob.h. */
#include "blob.h"
#include "assay/error.h"
#include "assay/io.h"

#include <dirent.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
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
    return assay_blob_writer_open_in(out, root, NULL);
}

int assay_blob_writer_open_in(assay_blob_writer **out, const char *root, const char *stagedir)
{
    assay_blob_writer *w = calloc(1, sizeof *w);
    if (!w)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    snprintf(w->root, sizeof w->root, "%s", root);
    if (!stagedir) {
        snprintf(w->tmp, sizeof w->tmp, "%s/tmp", root);
        if (mkdir(w->tmp, 0700) != 0 && errno != EEXIST) {
            int e = errno;
            free(w);
            return assay_error_set_errno(ASSAY_EIO, e, "mkdir %s/tmp", root);
        }
        snprintf(w->tmp, sizeof w->tmp, "%s/tmp/blob-XXXXXX", root);
    } else {
        snprintf(w->tmp, sizeof w->tmp, "%s/blob-XXXXXX", stagedir);
    }
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

/* The bytes' digest into w->hex, once. */
static void digest_done(assay_blob_writer *w)
{
    if (w->hash) {
        assay_sha256_final(w->hash, w->hex);
        w->hash = NULL;
    }
}

int assay_blob_writer_finish(assay_blob_writer *w, char hex[ASSAY_SHA256_HEX], uint64_t *size)
{
    digest_done(w);
    if (w->fd >= 0) {
        int bad = close(w->fd) != 0;
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
    char path[PATH_MAX];
    int rc = assay_blob_writer_finish(w, hex, size);
    if (rc == 0 && (rc = assay_blob_path(path, sizeof path, w->root, w->hex)) == 0) {
        /* The same content is there already (an empty log, a log like
         * another): nothing to make durable, no fsync. Its time is made
         * now, so that `gc`'s grace spares it until the row that names it
         * is stored (it may be an orphan older than the grace); gone
         * meanwhile, it is published as a new one. */
        if (utimensat(AT_FDCWD, path, NULL, 0) == 0) {
            assay_blob_writer_abort(w);
            return 0;
        }
        rc = assay_blob_adopt(w->root, w->tmp, w->hex);
    }
    if (rc < 0) {
        assay_blob_writer_abort(w);
        return rc;
    }
    free(w); /* its file is the blob now (or was dropped for the same one): not to be removed */
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
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "%s", path);
    int rc = assay_blob_stage_fd(out, root, NULL, fd, UINT64_MAX, path, hex, size);
    close(fd);
    return rc;
}

int assay_blob_put_file(const char *root, const char *path, char hex[ASSAY_SHA256_HEX], uint64_t *size)
{
    assay_blob_writer *w = NULL;
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

int assay_blob_adopt(const char *root, const char *staged, const char hex[ASSAY_SHA256_HEX])
{
    char path[PATH_MAX], dir[PATH_MAX];
    int rc;
    if ((rc = assay_blob_path(path, sizeof path, root, hex)) < 0)
        return rc;
    snprintf(dir, sizeof dir, "%s/%.2s", root, hex);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return assay_error_set_errno(ASSAY_EIO, errno, "mkdir %s", dir);
    chmod(staged, 0644);
    struct stat st;
    if (stat(path, &st) == 0) /* the same content is there already (or came meanwhile): never made durable */
        return unlink(staged), 0;
    int fd = open(staged, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int bad = fd < 0 || fsync(fd) != 0, e = errno;
    if (fd >= 0 && close(fd) != 0 && !bad)
        bad = 1, e = errno;
    if (bad)
        return assay_error_set_errno(ASSAY_EIO, e, "write %s", staged);
    if (rename(staged, path) != 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "store blob %s", hex);
    return 0;
}

/* Bytes from `fd` to its end into w: written and hashed (`copy`), or
 * only hashed when `fd` is w's own file. ASSAY_ETOOBIG past `cap`. */
static int take_in(assay_blob_writer *w, int fd, int copy, uint64_t cap, const char *what)
{
    /* The buffer is not static: assay serve stages several uploads at
     * once, one thread each, and a shared buffer mixed their bytes. */
    enum { BUF = 1 << 20 };
    char *buf = malloc(BUF);
    int rc = 0;
    if (!buf)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    for (;;) {
        ssize_t n = assay_read_full(fd, buf, BUF);
        if (n < 0) {
            rc = assay_error_set_errno(ASSAY_EIO, errno, "read %s", what);
            break;
        }
        if (n == 0)
            break;
        if (w->size + (uint64_t)n > cap) {
            rc = assay_error_set(ASSAY_ETOOBIG, "over the %llu-byte cap on a submission (ingest.max_submission_bytes)",
                                 (unsigned long long)cap);
            break;
        }
        if (copy) {
            if ((rc = assay_blob_writer_write(w, buf, (size_t)n)) < 0)
                break;
        } else {
            assay_sha256_update(w->hash, buf, (size_t)n);
            w->size += (uint64_t)n;
        }
    }
    free(buf);
    return rc;
}

/* The end of staging w: finished into *out if all went well (rc 0), else
 * dropped. */
static int staged(assay_blob_writer *w, int rc, assay_blob_writer **out, char hex[ASSAY_SHA256_HEX], uint64_t *size)
{
    if (rc == 0)
        rc = assay_blob_writer_finish(w, hex, size);
    if (rc < 0) {
        assay_blob_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

int assay_blob_stage_fd(assay_blob_writer **out, const char *root, const char *stagedir, int fd, uint64_t cap,
                        const char *what, char hex[ASSAY_SHA256_HEX], uint64_t *size)
{
    assay_blob_writer *w;
    int rc = assay_blob_writer_open_in(&w, root, stagedir);
    if (rc < 0)
        return rc;
    return staged(w, take_in(w, fd, 1, cap, what), out, hex, size);
}

/* 1 if a descriptor open for writing on fd's file is left anywhere: a read
 * lease is refused then (EAGAIN). A file system without leases cannot
 * say: 0, and the caller's word that it closed its own stands. */
static int still_written(int fd)
{
    if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
        fcntl(fd, F_SETLEASE, F_UNLCK);
        return 0;
    }
    return errno == EAGAIN;
}

int assay_blob_stage_take(assay_blob_writer **out, const char *root, const char *stagedir, const char *path,
                          uint64_t cap, char hex[ASSAY_SHA256_HEX], uint64_t *size)
{
    assay_blob_writer *w;
    struct stat st;
    int rc = assay_blob_writer_open_in(&w, root, stagedir);
    if (rc < 0)
        return rc;
    if (rename(path, w->tmp) == 0) {
        /* Moved in, over the writer's empty file: read it there, where no
         * one else writes it, so that the digest names the bytes kept. */
        close(w->fd);
        if ((w->fd = open(w->tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0)
            rc = errno == ELOOP ? assay_error_set(ASSAY_EINVAL, "%s: a symbolic link, not a file", path)
                                : assay_error_set_errno(ASSAY_EIO, errno, "%s", path);
        else if (fstat(w->fd, &st) != 0)
            rc = assay_error_set_errno(ASSAY_EIO, errno, "%s", path);
        else if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
            rc = assay_error_set(ASSAY_EINVAL, "%s: not a file of its own (a link or not a regular file)", path);
        else if (still_written(w->fd))
            rc = assay_error_set(ASSAY_EINVAL, "%s: still open for writing elsewhere", path);
        else
            rc = take_in(w, w->fd, 0, cap, path);
    } else {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "move %s into the blob store", path);
    }
    return staged(w, rc, out, hex, size);
}

/* Remove `path` and, if it is a directory, everything under it. */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            char sub[PATH_MAX];
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            remove_tree(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* In a staging directory whose owner holds its lock: a directory that
 * has it but whose lock is free belongs to a process that is gone. */
#define LIVE_MARK ".live"

void assay_blob_unstage(const char *stagedir, int lock)
{
    /* Removed before the lock goes: a sweep never sees it marked, free,
     * and still in use. */
    if (stagedir && stagedir[0])
        remove_tree(stagedir);
    if (lock >= 0)
        close(lock);
}

/* Whose staging directory `path` is: its owner alive (the lock is held),
 * or made by assay_blob_stagedir (the mark is there) and its owner gone
 * (the lock is free); or neither (no mark, no lock: not a staging
 * directory, or one that is being made and not locked yet). */
enum stage_owner { STAGE_UNMARKED, STAGE_LIVE, STAGE_DEAD };

static enum stage_owner stage_owner(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return STAGE_UNMARKED;
    /* The lock first: held, it is live, marked yet or not (its owner
     * locks it before it marks it). */
    enum stage_owner o = STAGE_LIVE;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        o = faccessat(fd, LIVE_MARK, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? STAGE_DEAD : STAGE_UNMARKED;
    close(fd);
    return o;
}

int assay_blob_stagedir(char *out, size_t outlen, int *lock, const char *root, const char *kind)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/tmp", root);
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return assay_error_set_errno(ASSAY_EIO, errno, "mkdir %s", tmp);
    int n = snprintf(out, outlen, "%s/%s-XXXXXX", tmp, kind);
    if (n < 0 || (size_t)n >= outlen)
        return assay_error_set(ASSAY_EINVAL, "blob path too long");
    if (!mkdtemp(out))
        return assay_error_set_errno(ASSAY_EIO, errno, "create a staging directory in %s", tmp);
    /* Locked, then marked: marked means locked while its owner lives. */
    int fd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC), m = -1;
    if (fd < 0 || flock(fd, LOCK_EX) != 0 ||
        (m = openat(fd, LIVE_MARK, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        int e = errno;
        assay_blob_unstage(out, fd);
        return assay_error_set_errno(ASSAY_EIO, e, "lock the staging directory %s", out);
    }
    close(m);
    *lock = fd;
    return 0;
}

int assay_blob_gc(const char *root, int64_t grace, int (*referenced)(void *ctx, const char *hex), void *ctx,
                  size_t *staged, size_t *orphans)
{
    char path[PATH_MAX];
    /* The fine clock, as files' times are: time() reads a coarse one that
     * can lag a file just made by up to a tick, which made a file of this
     * second look a second from the future (and kept it with grace 0). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t now = ts.tv_sec;
    struct stat st;
    DIR *d;
    struct dirent *e;
    *staged = *orphans = 0;
    /* Staging: whatever an add or a fetch left when it was killed. */
    snprintf(path, sizeof path, "%s/tmp", root);
    if ((d = opendir(path))) {
        while ((e = readdir(d))) {
            char sub[PATH_MAX];
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            /* A staging directory goes when its owner is gone, and never
             * while it lives, however old (an upload of hours); anything
             * else once older than the grace. */
            enum stage_owner o = stage_owner(sub);
            if (o == STAGE_DEAD || (o == STAGE_UNMARKED && lstat(sub, &st) == 0 && now - st.st_mtime >= grace)) {
                remove_tree(sub);
                (*staged)++;
            }
        }
        closedir(d);
    }
    /* Blobs nothing in the store names: published by an add that was
     * killed before its transaction. The grace period spares the blobs of
     * an add or a log fetch that is between its rename and its commit. */
    if (!(d = opendir(root)))
        return assay_error_set_errno(ASSAY_EIO, errno, "open %s", root);
    while ((e = readdir(d))) {
        if (strlen(e->d_name) != 2 || strspn(e->d_name, "0123456789abcdef") != 2)
            continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", root, e->d_name);
        DIR *s = opendir(sub);
        struct dirent *f;
        while (s && (f = readdir(s))) {
            char hex[ASSAY_SHA256_HEX], file[PATH_MAX];
            if (strlen(f->d_name) != 62)
                continue;
            snprintf(hex, sizeof hex, "%s%s", e->d_name, f->d_name);
            if (!assay_hex_digest_valid(hex))
                continue;
            snprintf(file, sizeof file, "%s/%s", sub, f->d_name);
            if (lstat(file, &st) != 0 || now - st.st_mtime < grace)
                continue;
            int r = referenced(ctx, hex);
            if (r < 0) {
                closedir(s);
                closedir(d);
                return r;
            }
            if (!r && unlink(file) == 0)
                (*orphans)++;
        }
        if (s)
            closedir(s);
    }
    closedir(d);
    return 0;
}
