/* Hostile archive reading; see ingest.h. */
#include "ingest.h"
#include "blob.h"
#include "assay/error.h"
#include "assay/io.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RATIO_FLOOR (64u << 20)
#define MANIFEST_CAP (1u << 20)
#define SPOOL_MAX (1u << 20) /* entries up to this size share the spool */
#define HEADER_CAP (64u << 10) /* bytes of one entry's header records (pax, GNU long names) */

const char *assay_archive_why(struct archive *a)
{
    const char *s = a ? archive_error_string(a) : NULL;
    return s ? s : "no reason given";
}

int assay_ingest_count(assay_ingest_tally *t, const char *where, uint64_t entries, uint64_t bytes)
{
    const assay_ingest_limits *l = t->lim;
    t->entries += entries;
    t->bytes += bytes;
    if (t->entries > l->max_entries)
        return assay_error_set(ASSAY_ETOOBIG, "%s: more than %llu entries counted across every archive level "
                                              "(ingest.max_entries)", where, (unsigned long long)l->max_entries);
    if (t->bytes > l->max_total)
        return assay_error_set(ASSAY_ETOOBIG, "%s: over %llu bytes decompressed across every archive level "
                                              "(ingest.max_total_bytes)", where, (unsigned long long)l->max_total);
    if (t->bytes > RATIO_FLOOR && t->raw && t->bytes / t->raw > l->max_ratio)
        return assay_error_set(ASSAY_ETOOBIG, "%s: compression ratio over %llu:1 across every archive level "
                                              "(ingest.max_ratio; a decompression bomb?)", where,
                               (unsigned long long)l->max_ratio);
    return 0;
}

void assay_ingest_limits_default(assay_ingest_limits *l)
{
    l->max_entries = 10000;
    l->max_entry = 4ull << 30;
    l->max_total = 16ull << 30;
    l->max_ratio = 200;
}

/* Where an entry's bytes are while the archive is being judged. */
enum held {
    HELD_NONE,  /* a directory, or the manifest (kept in memory) */
    HELD_SPOOL, /* in the spool, at spool_at */
    HELD_BLOB,  /* in a staged blob of its own */
    HELD_KEPT   /* published by assay_ingest_keep() */
};

struct entry {
    char *path;                    /* normalised; owned */
    enum held held;
    uint64_t size;                 /* bytes that came out */
    uint64_t spool_at;             /* HELD_SPOOL: offset in the spool */
    assay_blob_writer *blob;       /* HELD_BLOB: finished, unpublished */
    char sha256[ASSAY_SHA256_HEX]; /* HELD_BLOB and HELD_KEPT */
};

struct assay_ingest {
    char *manifest;
    size_t manifest_len;
    struct entry *entries; /* every entry, directories too (for the duplicate check) */
    size_t n, cap;
    int spool; /* small entries' bytes, one after another; -1 until needed */
    uint64_t spool_len;
    char blobroot[PATH_MAX];
    char stagedir[PATH_MAX]; /* "" for blobroot/tmp */
};

/* The formats and filters a submission may use, and no others: most of
 * libarchive's CVEs live in readers assay does not need (RAR, ISO, 7z...). */
static struct archive *reader(void)
{
    struct archive *a = archive_read_new();
    if (!a)
        return NULL;
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_support_format_zip(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_bzip2(a);
    return a;
}

/* Normalise and check an entry path: strip "./", refuse absolute paths,
 * "..", empty or over-long components and backslashes. */
static int check_path(const char *raw, char *out, size_t outlen)
{
    if (!raw || !*raw)
        return assay_error_set(ASSAY_EUNSAFE, "an entry has no name");
    while (raw[0] == '.' && raw[1] == '/')
        raw += 2;
    size_t n = strlen(raw);
    if (n >= outlen)
        return assay_error_set(ASSAY_EUNSAFE, "entry '%.80s...': name longer than %zu bytes", raw, outlen - 1);
    if (raw[0] == '/')
        return assay_error_set(ASSAY_EUNSAFE, "entry '%s': absolute path", raw);
    if (strchr(raw, '\\'))
        return assay_error_set(ASSAY_EUNSAFE, "entry '%s': backslash in path", raw);
    memcpy(out, raw, n + 1);
    if (n && out[n - 1] == '/')
        out[--n] = '\0';
    for (char *c = out; c && *c;) {
        char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        if (len == 0 || len > 255)
            return assay_error_set(ASSAY_EUNSAFE, "entry '%s': empty or over-long path component", raw);
        if ((len == 2 && c[0] == '.' && c[1] == '.') || (len == 1 && c[0] == '.'))
            return assay_error_set(ASSAY_EUNSAFE, "entry '%s': '.' or '..' in path", raw);
        c = slash ? slash + 1 : NULL;
    }
    for (const unsigned char *p = (const unsigned char *)out; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return assay_error_set(ASSAY_EUNSAFE, "entry '%s': control character in path", raw);
    return 0;
}

static int check_type(struct archive_entry *e, const char *path)
{
    mode_t type = archive_entry_filetype(e);
    if (archive_entry_hardlink(e))
        return assay_error_set(ASSAY_EUNSAFE, "entry '%s': hard link to '%s'", path, archive_entry_hardlink(e));
    switch (type) {
    case AE_IFREG:
    case AE_IFDIR: break;
    case AE_IFLNK:
        return assay_error_set(ASSAY_EUNSAFE, "entry '%s': symbolic link to '%s'", path,
                               archive_entry_symlink(e) ? archive_entry_symlink(e) : "?");
    case AE_IFCHR:
    case AE_IFBLK: return assay_error_set(ASSAY_EUNSAFE, "entry '%s': device node", path);
    case AE_IFIFO: return assay_error_set(ASSAY_EUNSAFE, "entry '%s': named pipe", path);
    case AE_IFSOCK: return assay_error_set(ASSAY_EUNSAFE, "entry '%s': socket", path);
    default: return assay_error_set(ASSAY_EUNSAFE, "entry '%s': unknown file type", path);
    }
    if (archive_entry_mode(e) & (S_ISUID | S_ISGID))
        return assay_error_set(ASSAY_EUNSAFE, "entry '%s': setuid or setgid bit (mode %o)", path,
                               (unsigned)(archive_entry_mode(e) & 07777));
    return 0;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp((*(const struct entry *const *)a)->path, (*(const struct entry *const *)b)->path);
}

/* Append an entry named `path` (copied). */
static struct entry *add_entry(assay_ingest *in, const char *path)
{
    if (in->n == in->cap) {
        size_t nc = in->cap ? in->cap * 2 : 64;
        struct entry *ne = realloc(in->entries, nc * sizeof *ne);
        if (!ne)
            return NULL;
        in->entries = ne;
        in->cap = nc;
    }
    struct entry *e = &in->entries[in->n];
    memset(e, 0, sizeof *e);
    if (!(e->path = strdup(path)))
        return NULL;
    in->n++;
    return e;
}

/* One name, one entry: an archive that says two things about a path is
 * refused rather than read either way. */
static int check_unique(const assay_ingest *in)
{
    const struct entry **v = malloc((in->n ? in->n : 1) * sizeof *v);
    int rc = 0;
    if (!v)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    for (size_t i = 0; i < in->n; i++)
        v[i] = &in->entries[i];
    qsort(v, in->n, sizeof *v, cmp_path);
    for (size_t i = 1; i < in->n && rc == 0; i++)
        if (strcmp(v[i - 1]->path, v[i]->path) == 0)
            rc = assay_error_set(ASSAY_EUNSAFE, "entry '%s': appears more than once", v[i]->path);
    free(v);
    return rc;
}

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

struct cd_entry {
    uint64_t offset, csize, usize, end;
    char name[1024];
};

static int cmp_offset(const void *a, const void *b)
{
    const struct cd_entry *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* A zip is read as it streams, by its local headers; unzip, Python and
 * installers read its central directory. The central directory is read
 * here too, and both must agree: the same names with the same sizes, in
 * the order of the local headers, and no two entries sharing bytes (an
 * overlapping-entry bomb) or one hidden inside another's data. */
static int zip_agree(const assay_ingest *in, const char *path)
{
    unsigned char tail[65536 + 22], h[46];
    struct cd_entry *cd = NULL;
    int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "zip: read %s", path);
        goto out;
    }
    size_t tl = st.st_size < (off_t)sizeof tail ? (size_t)st.st_size : sizeof tail;
    off_t tail_at = st.st_size - (off_t)tl;
    if (pread(fd, tail, tl, tail_at) != (ssize_t)tl) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "zip: read %s", path);
        goto out;
    }
    ssize_t e = (ssize_t)tl - 22;
    while (e >= 0 && memcmp(tail + e, "PK\5\6", 4) != 0)
        e--;
    if (e < 0) {
        rc = assay_error_set(ASSAY_EINVAL, "zip: no end of central directory record");
        goto out;
    }
    uint64_t count = le16(tail + e + 10), cd_size = le32(tail + e + 12), cd_at = le32(tail + e + 16);
    if (e >= 20 && memcmp(tail + e - 20, "PK\6\7", 4) == 0) { /* zip64 locator */
        unsigned char z[56];
        uint64_t z_at = le64(tail + e - 20 + 8);
        if (pread(fd, z, sizeof z, (off_t)z_at) != (ssize_t)sizeof z || memcmp(z, "PK\6\6", 4) != 0) {
            rc = assay_error_set(ASSAY_EINVAL, "zip: damaged zip64 end of central directory");
            goto out;
        }
        count = le64(z + 32), cd_size = le64(z + 40), cd_at = le64(z + 48);
    }
    if (count != in->n) {
        rc = assay_error_set(ASSAY_EUNSAFE, "zip: the local headers hold %zu entries, the central directory lists "
                                            "%llu (hidden or overlapping entries)", in->n, (unsigned long long)count);
        goto out;
    }
    if (cd_at + cd_size > (uint64_t)st.st_size) {
        rc = assay_error_set(ASSAY_EINVAL, "zip: the central directory runs past the end of the file");
        goto out;
    }
    if (!(cd = calloc(count ? count : 1, sizeof *cd))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    uint64_t at = cd_at;
    for (uint64_t i = 0; i < count; i++) {
        char raw[1024];
        unsigned char extra[65536];
        if (pread(fd, h, 46, (off_t)at) != 46 || memcmp(h, "PK\1\2", 4) != 0) {
            rc = assay_error_set(ASSAY_EINVAL, "zip: damaged central directory (record %llu)", (unsigned long long)i);
            goto out;
        }
        size_t nl = le16(h + 28), el = le16(h + 30), cl = le16(h + 32);
        cd[i].csize = le32(h + 20), cd[i].usize = le32(h + 24), cd[i].offset = le32(h + 42);
        if (nl >= sizeof raw || pread(fd, raw, nl, (off_t)(at + 46)) != (ssize_t)nl ||
            pread(fd, extra, el, (off_t)(at + 46 + nl)) != (ssize_t)el) {
            rc = assay_error_set(ASSAY_EINVAL, "zip: damaged central directory (record %llu)", (unsigned long long)i);
            goto out;
        }
        raw[nl] = '\0';
        /* zip64: the fields that say 0xffffffff are in extra field 1. */
        for (size_t x = 0; x + 4 <= el;) {
            size_t id = le16(extra + x), len = le16(extra + x + 2), k = x + 4;
            if (id == 1) {
                if (cd[i].usize == 0xffffffff && k + 8 <= x + 4 + len && k + 8 <= el)
                    cd[i].usize = le64(extra + k), k += 8;
                if (cd[i].csize == 0xffffffff && k + 8 <= x + 4 + len && k + 8 <= el)
                    cd[i].csize = le64(extra + k), k += 8;
                if (cd[i].offset == 0xffffffff && k + 8 <= x + 4 + len && k + 8 <= el)
                    cd[i].offset = le64(extra + k);
            }
            x += 4 + len;
        }
        if ((rc = check_path(raw, cd[i].name, sizeof cd[i].name)) < 0) {
            assay_error_wrap("zip central directory");
            goto out;
        }
        unsigned char lh[30];
        if (pread(fd, lh, 30, (off_t)cd[i].offset) != 30 || memcmp(lh, "PK\3\4", 4) != 0) {
            rc = assay_error_set(ASSAY_EUNSAFE, "zip: entry '%s': the central directory points at no local header",
                                 cd[i].name);
            goto out;
        }
        cd[i].end = cd[i].offset + 30 + le16(lh + 26) + le16(lh + 28) + cd[i].csize;
        at += 46 + nl + el + cl;
    }
    qsort(cd, count, sizeof *cd, cmp_offset);
    for (uint64_t i = 0; i < count; i++) {
        const struct entry *l = &in->entries[i];
        if (strcmp(l->path, cd[i].name) != 0) {
            rc = assay_error_set(ASSAY_EUNSAFE, "zip: entry %llu is '%s' in the central directory but '%s' in its "
                                                "local header", (unsigned long long)i + 1, cd[i].name, l->path);
            goto out;
        }
        if (l->held != HELD_NONE && cd[i].usize != l->size) {
            rc = assay_error_set(ASSAY_EUNSAFE, "zip: entry '%s' is %llu bytes by the central directory, %llu by its "
                                                "local data", l->path, (unsigned long long)cd[i].usize,
                                 (unsigned long long)l->size);
            goto out;
        }
        if ((i + 1 < count && cd[i].end > cd[i + 1].offset) || cd[i].end > cd_at) {
            rc = assay_error_set(ASSAY_EUNSAFE, "zip: entry '%s' overlaps %s", l->path,
                                 i + 1 < count && cd[i].end > cd[i + 1].offset ? "the next entry" : "the central directory");
            goto out;
        }
    }
out:
    free(cd);
    if (fd >= 0)
        close(fd);
    return rc;
}

int assay_ingest_open(assay_ingest **out, const char *path, const char *blobroot, const char *stagedir,
                      assay_ingest_tally *tally, const char *manifest_name)
{
    const assay_ingest_limits *lim = tally->lim;
    uint64_t header_end = 0;
    int zip = 0;
    assay_ingest *in = calloc(1, sizeof *in);
    struct archive *a = reader();
    struct archive_entry *e;
    uint64_t total = 0, entries = 0;
    static _Thread_local char buf[1 << 16]; /* threads of assay serve ingest at once */
    int rc = 0;

    if (!in || !a) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    in->spool = -1;
    snprintf(in->blobroot, sizeof in->blobroot, "%s", blobroot);
    snprintf(in->stagedir, sizeof in->stagedir, "%s", stagedir ? stagedir : "");
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        /* libarchive sets EILSEQ (its private ARCHIVE_ERRNO_FILE_FORMAT)
         * when no reader recognised the bytes, a system errno when the file
         * could not be read, and -1 for a stream it knew but found broken. */
        int err = archive_errno(a);
        if (err == EILSEQ)
            rc = assay_error_set(ASSAY_EINVAL, "not a tar or zip archive (%s)", assay_archive_why(a));
        else if (err > 0 && err != EINVAL)
            rc = assay_error_set(ASSAY_EIO, "%s", assay_archive_why(a));
        else
            rc = assay_error_set(ASSAY_EINVAL, "damaged or truncated archive (%s)", assay_archive_why(a));
        goto out;
    }
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            rc = assay_error_set(ASSAY_EINVAL, "damaged archive after %llu entries (%s)", (unsigned long long)entries,
                                 assay_archive_why(a));
            goto out;
        }
        zip = (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_ZIP;
        /* Counted before anything is kept for the entry, so a million tiny
         * entries cost the cap's worth of headers and no more. */
        if (++entries > lim->max_entries) {
            rc = assay_error_set(ASSAY_ETOOBIG, "more than %llu entries", (unsigned long long)lim->max_entries);
            goto out;
        }
        char p[1024];
        if ((rc = check_path(archive_entry_pathname(e), p, sizeof p)) < 0 || (rc = check_type(e, p)) < 0)
            goto out;
        /* What the header took, pax records and long names included: tar
         * readers differ on oversized ones, so none is read either way. */
        uint64_t at = (uint64_t)archive_filter_bytes(a, 0);
        if (at > header_end && at - header_end > HEADER_CAP) {
            rc = assay_error_set(ASSAY_EUNSAFE, "entry '%s': a header of %llu bytes (pax or long-name records over "
                                                "the %u-byte cap)", p, (unsigned long long)(at - header_end), HEADER_CAP);
            goto out;
        }
        header_end = at;
        if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) > lim->max_entry) {
            rc = assay_error_set(ASSAY_ETOOBIG, "entry '%s': %lld bytes, over the %llu-byte cap", p,
                                 (long long)archive_entry_size(e), (unsigned long long)lim->max_entry);
            goto out;
        }
        struct entry *f = add_entry(in, p);
        if (!f) {
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            goto out;
        }
        if (archive_entry_filetype(e) != AE_IFREG)
            continue;

        /* The manifest goes to memory. Other entries that say they are small
         * share one scratch file, the spool: creating and closing a file is
         * what ten thousand tiny entries would make dear, and most entries
         * are never asked for. Large ones (or of unknown size) get a blob of
         * their own, so an artifact of gigabytes is written once. */
        int is_manifest = strcmp(p, manifest_name) == 0;
        int spooled = !is_manifest && archive_entry_size_is_set(e) && archive_entry_size(e) <= SPOOL_MAX;
        assay_blob_writer *w = NULL;
        char *mbuf = NULL;
        size_t mlen = 0;
        if (is_manifest) {
            if (!(mbuf = malloc(MANIFEST_CAP + 1))) {
                rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
                goto out;
            }
        } else if (spooled) {
            if (in->spool < 0 && (rc = assay_blob_scratch(&in->spool, blobroot)) < 0)
                goto out;
            f->spool_at = in->spool_len;
        } else if ((rc = assay_blob_writer_open_in(&w, blobroot, stagedir)) < 0) {
            goto out;
        }
        uint64_t got = 0;
        for (;;) {
            la_ssize_t n = archive_read_data(a, buf, sizeof buf);
            if (n == 0)
                break;
            if (n < 0) {
                rc = assay_error_set(ASSAY_EINVAL, "entry '%s': cannot read its data (%s)", p, assay_archive_why(a));
                break;
            }
            got += (uint64_t)n;
            total += (uint64_t)n;
            /* Count what actually comes out: headers can lie about sizes. */
            if (got > lim->max_entry) {
                rc = assay_error_set(ASSAY_ETOOBIG, "entry '%s': over the %llu-byte cap", p,
                                     (unsigned long long)lim->max_entry);
                break;
            }
            if (total > lim->max_total) {
                rc = assay_error_set(ASSAY_ETOOBIG, "entry '%s': the archive holds over %llu bytes", p,
                                     (unsigned long long)lim->max_total);
                break;
            }
            uint64_t raw = (uint64_t)archive_filter_bytes(a, -1);
            if (total > RATIO_FLOOR && raw && total / raw > lim->max_ratio) {
                rc = assay_error_set(ASSAY_ETOOBIG, "entry '%s': compression ratio over %llu:1 (a decompression bomb?)",
                                     p, (unsigned long long)lim->max_ratio);
                break;
            }
            if (is_manifest) {
                if (mlen + (size_t)n > MANIFEST_CAP) {
                    rc = assay_error_set(ASSAY_ETOOBIG, "%s: larger than %u bytes", manifest_name, MANIFEST_CAP);
                    break;
                }
                memcpy(mbuf + mlen, buf, (size_t)n);
                mlen += (size_t)n;
            } else if (spooled) {
                if (assay_write_all(in->spool, buf, (size_t)n) != 0) {
                    rc = assay_error_set_errno(ASSAY_EIO, errno, "entry '%s': write to the spool in %s", p, blobroot);
                    break;
                }
                in->spool_len += (uint64_t)n;
            } else if ((rc = assay_blob_writer_write(w, buf, (size_t)n)) < 0) {
                break;
            }
        }
        if (rc < 0) {
            free(mbuf);
            assay_blob_writer_abort(w);
            goto out;
        }
        header_end = (uint64_t)archive_filter_bytes(a, 0);
        f->size = got;
        if (is_manifest) {
            free(in->manifest);
            mbuf[mlen] = '\0';
            in->manifest = mbuf;
            in->manifest_len = mlen;
        } else if (spooled) {
            f->held = HELD_SPOOL;
        } else {
            if ((rc = assay_blob_writer_finish(w, f->sha256, &f->size)) < 0) {
                assay_blob_writer_abort(w);
                goto out;
            }
            f->blob = w;
            f->held = HELD_BLOB;
        }
    }
    if ((rc = check_unique(in)) < 0)
        goto out;
    if (zip && (rc = zip_agree(in, path)) < 0)
        goto out;
    tally->entries += entries;
    tally->bytes += total;
    *out = in;
    in = NULL;
out:
    if (a)
        archive_read_free(a);
    assay_ingest_free(in);
    return rc;
}

const char *assay_ingest_manifest(const assay_ingest *in, size_t *len)
{
    if (len)
        *len = in->manifest_len;
    return in->manifest;
}

/* Copy a spooled entry into a blob of its own, to be checked and kept. */
static int unspool(assay_ingest *in, struct entry *e)
{
    static _Thread_local char buf[1 << 16];
    assay_blob_writer *w;
    int rc = assay_blob_writer_open_in(&w, in->blobroot, in->stagedir[0] ? in->stagedir : NULL);
    if (rc < 0)
        return rc;
    for (uint64_t done = 0; done < e->size;) {
        size_t want = e->size - done < sizeof buf ? (size_t)(e->size - done) : sizeof buf;
        ssize_t n = pread(in->spool, buf, want, (off_t)(e->spool_at + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = assay_error_set_errno(ASSAY_EIO, n < 0 ? errno : EIO, "entry '%s': read back from the spool", e->path);
            break;
        }
        if ((rc = assay_blob_writer_write(w, buf, (size_t)n)) < 0)
            break;
        done += (uint64_t)n;
    }
    if (rc == 0)
        rc = assay_blob_writer_finish(w, e->sha256, &e->size);
    if (rc < 0) {
        assay_blob_writer_abort(w);
        return rc;
    }
    e->blob = w;
    e->held = HELD_BLOB;
    return 0;
}

/* The regular file `path`, its bytes in a staged blob (or kept already). */
static int find(struct entry **out, assay_ingest *in, const char *path)
{
    for (size_t i = 0; i < in->n; i++) {
        struct entry *e = &in->entries[i];
        if (e->held == HELD_NONE || strcmp(e->path, path) != 0)
            continue;
        int rc = e->held == HELD_SPOOL ? unspool(in, e) : 0;
        if (rc < 0)
            return rc;
        *out = e;
        return 0;
    }
    return assay_error_set(ASSAY_ENOTFOUND, "the archive has no file '%s'", path);
}

int assay_ingest_find(assay_ingest *in, const char *path, assay_ingest_file *f, char *staged, size_t len)
{
    struct entry *e;
    int rc = find(&e, in, path);
    if (rc < 0)
        return rc;
    snprintf(f->path, sizeof f->path, "%s", e->path);
    memcpy(f->sha256, e->sha256, sizeof f->sha256);
    f->size = e->size;
    if (e->held == HELD_BLOB)
        snprintf(staged, len, "%s", assay_blob_writer_path(e->blob));
    else
        staged[0] = '\0';
    return 0;
}

int assay_ingest_keep(assay_ingest *in, const char *path)
{
    struct entry *e;
    int rc = find(&e, in, path);
    if (rc < 0)
        return rc;
    if (e->held == HELD_KEPT)
        return 0; /* kept already (listed twice is refused by the manifest) */
    rc = assay_blob_writer_commit(e->blob, NULL, NULL);
    e->blob = NULL;
    e->held = HELD_KEPT;
    return rc;
}

void assay_ingest_free(assay_ingest *in)
{
    if (!in)
        return;
    for (size_t i = 0; i < in->n; i++) {
        assay_blob_writer_abort(in->entries[i].blob);
        free(in->entries[i].path);
    }
    if (in->spool >= 0)
        close(in->spool);
    free(in->entries);
    free(in->manifest);
    free(in);
}

/* ---- package metadata ---------------------------------------------------- */

static const char *map_arch(const char *a)
{
    static const char *const map[][2] = {
        {"amd64", "x86_64"}, {"x86_64", "x86_64"}, {"arm64", "aarch64"}, {"aarch64", "aarch64"},
        {"loong64", "loongarch64"}, {"loongarch64", "loongarch64"}, {"all", "noarch"}, {"noarch", "noarch"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(a, map[i][0]) == 0)
            return map[i][1];
    return a;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read one RPM header structure at `off`: magic, index count, data size.
 * Finds tag `want` (a string) if asked; returns the offset after it. */
static int rpm_header(int fd, off_t off, uint32_t want, char *val, size_t vlen, off_t *next)
{
    unsigned char h[16];
    struct stat st;
    if (fstat(fd, &st) == 0 && off + 16 > st.st_size)
        return assay_error_set(ASSAY_EINVAL, "RPM file truncated (%lld bytes; a header should start at %lld)",
                               (long long)st.st_size, (long long)off);
    if (pread(fd, h, 16, off) != 16 || memcmp(h, "\x8e\xad\xe8\x01", 4) != 0)
        return assay_error_set(ASSAY_EINVAL, "RPM header damaged (bad magic at %lld)", (long long)off);
    uint32_t nindex = be32(h + 8), hsize = be32(h + 12);
    if (nindex > 100000 || hsize > (64u << 20))
        return assay_error_set(ASSAY_EINVAL, "RPM header damaged (%u entries, %u bytes)", nindex, hsize);
    off_t data = off + 16 + (off_t)nindex * 16;
    *next = data + hsize;
    if (fstat(fd, &st) == 0 && *next > st.st_size)
        return assay_error_set(ASSAY_EINVAL, "RPM file truncated (%lld bytes; its header runs to %lld)",
                               (long long)st.st_size, (long long)*next);
    if (!want)
        return 0;
    for (uint32_t i = 0; i < nindex; i++) {
        unsigned char ent[16];
        if (pread(fd, ent, 16, off + 16 + (off_t)i * 16) != 16)
            return assay_error_set(ASSAY_EINVAL, "RPM header truncated");
        uint32_t tag = be32(ent), type = be32(ent + 4), at = be32(ent + 8);
        if (tag != want)
            continue;
        if (type != 6 || at >= hsize) /* RPM_STRING_TYPE */
            return assay_error_set(ASSAY_EINVAL, "RPM header damaged (tag %u)", tag);
        size_t room = hsize - at < vlen - 1 ? hsize - at : vlen - 1;
        ssize_t n = pread(fd, val, room, data + at);
        if (n <= 0)
            return assay_error_set(ASSAY_EINVAL, "RPM header truncated");
        val[n] = '\0';
        if (strnlen(val, (size_t)n) == (size_t)n)
            return assay_error_set(ASSAY_EINVAL, "RPM header damaged (unterminated string)");
        return 0;
    }
    return assay_error_set(ASSAY_EINVAL, "RPM header has no architecture tag");
}

static int rpm_arch(const char *file, char *arch, size_t alen)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "%s", file);
    off_t next;
    /* Lead (96 bytes), then the signature header padded to 8 bytes, then the
     * main header with RPMTAG_ARCH (1022). */
    int rc = rpm_header(fd, 96, 0, NULL, 0, &next);
    if (rc == 0) {
        next = (next + 7) & ~(off_t)7;
        rc = rpm_header(fd, next, 1022, arch, alen, &next);
    }
    close(fd);
    return rc;
}

/* Read one member of an archive into memory, capped. */
static int read_member(struct archive *a, char **out, size_t *len, size_t cap)
{
    char *b = malloc(cap + 1);
    size_t used = 0;
    if (!b)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    for (;;) {
        la_ssize_t n = archive_read_data(a, b + used, cap - used);
        if (n < 0) {
            free(b);
            return assay_error_set(ASSAY_EINVAL, "%s", assay_archive_why(a));
        }
        if (n == 0)
            break;
        used += (size_t)n;
        if (used == cap) {
            free(b);
            return assay_error_set(ASSAY_ETOOBIG, "member larger than %zu bytes", cap);
        }
    }
    b[used] = '\0';
    *out = b;
    *len = used;
    return 0;
}

int assay_ingest_drain(struct archive *a, assay_ingest_tally *t, const char *where)
{
    static _Thread_local char buf[1 << 16];
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, sizeof buf);
        if (n == 0)
            return 0;
        if (n < 0)
            return assay_error_set(ASSAY_EINVAL, "%s: damaged (%s)", where, assay_archive_why(a));
        int rc = assay_ingest_count(t, where, 0, (uint64_t)n);
        if (rc < 0)
            return rc;
    }
}

static int deb_arch(const char *file, char *arch, size_t alen, assay_ingest_tally *tally)
{
    struct archive *a = archive_read_new(), *c = NULL;
    struct archive_entry *e;
    char *control = NULL, *text = NULL;
    size_t clen = 0, tlen = 0;
    int rc = ASSAY_EINVAL;
    archive_read_support_format_ar(a);
    if (archive_read_open_filename(a, file, 1 << 16) != ARCHIVE_OK) {
        rc = assay_error_set(ASSAY_EINVAL, "not a .deb (%s)", assay_archive_why(a));
        goto out;
    }
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *n = archive_entry_pathname(e);
        if (n && strncmp(n, "control.tar", 11) == 0) {
            rc = read_member(a, &control, &clen, 16u << 20);
            break;
        }
    }
    if (control && (rc = assay_ingest_count(tally, ".deb control archive", 1, clen)) < 0)
        goto out;
    if (!control) {
        if (rc == ASSAY_EINVAL)
            assay_error_set(rc, ".deb has no control.tar member");
        goto out;
    }
    c = reader();
    if (archive_read_open_memory(c, control, clen) != ARCHIVE_OK) {
        rc = assay_error_set(ASSAY_EINVAL, ".deb control archive: %s", assay_archive_why(c));
        goto out;
    }
    int r;
    while ((r = archive_read_next_header(c, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        const char *n = archive_entry_pathname(e);
        if ((rc = assay_ingest_count(tally, ".deb control archive", 1, 0)) < 0)
            goto out;
        if (!n || (strcmp(n, "./control") != 0 && strcmp(n, "control") != 0)) {
            /* Read, not skipped: its bytes count against the budget as
             * they come out, so a bomb stops at the cap, not at its end. */
            if ((rc = assay_ingest_drain(c, tally, ".deb control archive")) < 0)
                goto out;
            continue;
        }
        {
            if ((rc = read_member(c, &text, &tlen, 1u << 20)) < 0)
                goto out;
            if ((rc = assay_ingest_count(tally, ".deb control archive", 0, tlen)) < 0)
                goto out;
            rc = assay_error_set(ASSAY_EINVAL, ".deb control file has no Architecture field");
            for (char *line = text; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                    *nl = '\0';
                if (strncmp(line, "Architecture:", 13) == 0) {
                    char *v = line + 13;
                    while (*v == ' ' || *v == '\t')
                        v++;
                    snprintf(arch, alen, "%s", v);
                    rc = 0;
                    break;
                }
                line = nl ? nl + 1 : NULL;
            }
            goto out;
        }
    }
    if (r == ARCHIVE_EOF)
        rc = assay_error_set(ASSAY_EINVAL, ".deb has no control file");
    else
        rc = assay_error_set(ASSAY_EINVAL, ".deb control archive damaged (%s)", assay_archive_why(c));
out:
    free(control);
    free(text);
    if (c)
        archive_read_free(c);
    archive_read_free(a);
    return rc;
}

int assay_package_probe(const char *file, char *format, size_t flen, char *arch, size_t alen,
                        assay_ingest_tally *tally)
{
    unsigned char head[8] = {0};
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "%s", file);
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    arch[0] = '\0';
    int rc = 0;
    char raw[64] = "";
    if (n >= 4 && memcmp(head, "\xed\xab\xee\xdb", 4) == 0) {
        snprintf(format, flen, "rpm");
        rc = rpm_arch(file, raw, sizeof raw);
    } else if (n >= 8 && memcmp(head, "!<arch>\n", 8) == 0) {
        snprintf(format, flen, "deb");
        rc = deb_arch(file, raw, sizeof raw, tally);
    } else {
        struct archive *a = reader();
        struct archive_entry *e;
        snprintf(format, flen, "file");
        if (a && archive_read_open_filename(a, file, 1 << 16) == ARCHIVE_OK &&
            archive_read_next_header(a, &e) == ARCHIVE_OK)
            snprintf(format, flen, "%s", archive_format(a) == ARCHIVE_FORMAT_ZIP ||
                                             (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_ZIP
                                         ? "zip" : "tar");
        if (a)
            archive_read_free(a);
    }
    if (rc == 0 && raw[0])
        snprintf(arch, alen, "%s", map_arch(raw));
    return rc;
}
