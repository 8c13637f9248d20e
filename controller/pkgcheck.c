/* Package preflight; see pkgcheck.h and docs/preflight.md. */
#include "pkgcheck.h"
#include "blob.h"
#include "ingest.h"
#include "isa.h"
#include "manifest.h"
#include "profile.h"
#include "assay/elf.h"
#include "assay/error.h"
#include "assay/json.h"
#include "assay/preflight.h"

#include <archive.h>
#include <archive_entry.h>
#include <libiberty/demangle.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ELF_CAP (256u << 20) /* larger ELF files are reported, not read */
#define LIBS_NAMED 5         /* a library finding names this many, then counts the rest */
#define FILES_LISTED 100     /* files with findings listed per profile; the rest are counted */

#define NEST_DEPTH 2 /* archives opened inside an artifact: a tarball of .debs is depth 1, its data.tar too */

struct elf_file {
    char path[1024];
    assay_elf_info *info; /* NULL when the file was too large to check */
    char *too_large;      /* then: why (which cap) */
    assay_isa_result *isa; /* issue 14 item 3: instruction scan (isa.h), or NULL */
};

/* What was read of one artifact: the host-relevant ELF files to check, and
 * its coverage, every file named once (the tally caps their number). */
struct scan {
    struct elf_file *files;
    size_t n, cap;
    cJSON *provided;     /* file names and sonames of shared objects in the package */
    cJSON *examined;     /* paths of the ELF files checked */
    cJSON *not_examined; /* {"path", "reason"}: not ELF, truncated, unreadable nested archive ... */
    cJSON *not_for_host; /* {"path", "reason", "arch"}: firmware, boot modules, objects, data */
    size_t elf_read;     /* ELF files read and checked */
    const char *art;     /* the artifact's name */
};

/* A per-ELF-file hook: further checks of a host-relevant file's image (the
 * instruction-level checks add theirs here). Called once per file, with
 * the whole image; returns 0 or a negative ASSAY_E* code. */
static int per_elf_file(struct scan *s, struct elf_file *f, const unsigned char *img, size_t len)
{
    (void)s;
    /* Issue 14 item 3: instructions beyond a profile's ISA (isa.h). */
    if (!f->info)
        return 0;
    return assay_isa_scan(&f->isa, img, len);
}

static int cover(cJSON *list, const char *path, const char *reason, const char *arch)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "path", path) || !cJSON_AddStringToObject(o, "reason", reason) ||
        (arch && !cJSON_AddStringToObject(o, "arch", arch)) || !cJSON_AddItemToArray(list, o)) {
        cJSON_Delete(o);
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    }
    return 0;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && !strcmp(s + n - k, tail);
}

static int under(const char *path, const char *dir)
{
    return !strncmp(path, dir, strlen(dir));
}

/* Why an ELF file at `path` (inside its package, from "/") is no file the
 * loader of the target runs, or NULL if it is: executables and shared
 * libraries count, wherever they are but in the places below; firmware,
 * boot modules, separate debug information, object files and data do not. */
static const char *not_for_host(const char *path, const assay_elf_ident *id)
{
    if (id->type == 1) /* ET_REL */
        return ends_with(path, ".ko") ? NULL : "object file: linked, never loaded";
    if (id->type != 2 && id->type != 3) /* ET_EXEC, ET_DYN */
        return "neither an executable nor a shared library";
    if (under(path, "/boot/") || under(path, "/usr/lib/grub/") || under(path, "/lib/grub/"))
        return "boot loader module";
    if (under(path, "/lib/firmware/") || under(path, "/usr/lib/firmware/"))
        return "firmware";
    if (under(path, "/usr/lib/debug/"))
        return "separate debug information";
    if (under(path, "/usr/share/"))
        return "data (/usr/share: firmware or images for other machines)";
    return NULL;
}

static void scan_free(struct scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        assay_elf_info_free(s->files[i].info);
        free(s->files[i].too_large);
        assay_isa_result_free(s->files[i].isa);
    }
    free(s->files);
    cJSON_Delete(s->provided);
    cJSON_Delete(s->examined);
    cJSON_Delete(s->not_examined);
    cJSON_Delete(s->not_for_host);
}

static int scan_init(struct scan *s)
{
    s->provided = cJSON_CreateArray();
    s->examined = cJSON_CreateArray();
    s->not_examined = cJSON_CreateArray();
    s->not_for_host = cJSON_CreateArray();
    if (!s->provided || !s->examined || !s->not_examined || !s->not_for_host)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    return 0;
}

static struct archive *payload_reader(void)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_cpio(a);
    archive_read_support_filter_rpm(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_bzip2(a);
    return a;
}

/* The rest of an ELF entry whose first 4 bytes are `head`, `size` bytes in
 * all (-1: unknown), into *buf. ASSAY_ETOOBIG past ELF_CAP (the rest of the
 * entry unread); ASSAY_EIO if the archive's data is damaged. */
static int read_elf(struct archive *a, const unsigned char head[4], la_int64_t size, unsigned char **buf,
                    size_t *got)
{
    if (size > (la_int64_t)ELF_CAP)
        return assay_error_set(ASSAY_ETOOBIG, "too large to check: %lld bytes, more than the %u MiB read of one file",
                               (long long)size, ELF_CAP >> 20);
    size_t cap = size >= 0 ? (size_t)size : 1u << 20, n = 4;
    unsigned char *b = malloc(cap);
    if (!b)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    memcpy(b, head, 4);
    for (;;) {
        if (n == cap) {
            if (size >= 0)
                break;
            unsigned char extra;
            if (cap >= ELF_CAP && archive_read_data(a, &extra, 1) > 0) {
                free(b);
                return assay_error_set(ASSAY_ETOOBIG, "too large to check: more than the %u MiB read of one file",
                                       ELF_CAP >> 20);
            }
            if (cap >= ELF_CAP)
                break;
            size_t nc = cap * 2 < ELF_CAP ? cap * 2 : ELF_CAP;
            unsigned char *nb = realloc(b, nc);
            if (!nb) {
                free(b);
                return assay_error_set(ASSAY_ENOMEM, "out of memory");
            }
            b = nb;
            cap = nc;
        }
        la_ssize_t r = archive_read_data(a, b + n, cap - n);
        if (r < 0) {
            free(b);
            return assay_error_set(ASSAY_EIO, "damaged payload (%s)", assay_archive_why(a));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *buf = b;
    *got = n;
    return 0;
}

static int scan_archive(struct scan *s, struct archive *outer, const char *blob, const char *kind, const char *prefix,
                        const char *what, int depth, assay_ingest_tally *t);

/* The kind of archive a nested entry named `name` is, by its name: "deb",
 * "archive" (rpm, tar, compressed tar), or NULL. */
static const char *nested_kind(const char *name)
{
    static const char *const archives[] = {".rpm", ".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.zst",
                                           ".tar.bz2", ".tbz2"};
    if (ends_with(name, ".deb") || ends_with(name, ".udeb"))
        return "deb";
    for (size_t i = 0; i < sizeof archives / sizeof *archives; i++)
        if (ends_with(name, archives[i]))
            return "archive";
    return NULL;
}

/* Whether add_file kept `too_large` or `info` (then scan_free frees it). */
static int stored(const struct scan *s, const char *too_large, const assay_elf_info *info)
{
    return s->n && (too_large ? s->files[s->n - 1].too_large == too_large : s->files[s->n - 1].info == info);
}

static int add_file(struct scan *s, const char *path, assay_elf_info *info, char *too_large)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        struct elf_file *nf = realloc(s->files, nc * sizeof *nf);
        if (!nf)
            return assay_error_set(ASSAY_ENOMEM, "out of memory");
        s->files = nf;
        s->cap = nc;
    }
    struct elf_file *f = &s->files[s->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    f->info = info;
    f->too_large = too_large;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!cJSON_AddItemToArray(s->provided, cJSON_CreateString(base)) ||
        (info && info->soname[0] && !cJSON_AddItemToArray(s->provided, cJSON_CreateString(info->soname))))
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    return 0;
}

/* One ELF entry whose first 4 bytes are `head`: read, classified, and
 * either checked (s->files) or named in the coverage with the reason. */
static int scan_elf(struct archive *a, struct scan *s, const char *path, const char *inner, const unsigned char head[4],
                    la_int64_t size, const char *what, assay_ingest_tally *t)
{
    assay_elf_info *info = NULL;
    unsigned char *buf = NULL;
    size_t got = 0;
    int rc = read_elf(a, head, size, &buf, &got);
    if (rc == ASSAY_ENOMEM)
        return rc;
    if (rc == ASSAY_EIO)
        return assay_error_set(ASSAY_EINVAL, "%s: %s", what, assay_error_last()->message);
    if (rc == ASSAY_ETOOBIG) {
        /* Reported, not read; what is left of it still counts. */
        char *why = strdup(assay_error_last()->message);
        if (!why)
            return assay_error_set(ASSAY_ENOMEM, "out of memory");
        if ((rc = assay_ingest_count(t, what, 0, 4)) < 0 || (rc = assay_ingest_drain(a, t, what)) < 0 ||
            (rc = cover(s->not_examined, path, why, NULL)) < 0) {
            free(why);
            return rc;
        }
        if ((rc = add_file(s, path, NULL, why)) < 0 && !stored(s, why, NULL))
            free(why);
        if (rc < 0)
            return rc;
        return 0;
    }
    if ((rc = assay_ingest_count(t, what, 0, got)) < 0) {
        free(buf);
        return rc;
    }
    rc = assay_elf_read(&info, buf, got);
    if (rc == ASSAY_ENOMEM) {
        free(buf);
        return rc;
    }
    if (!info) {
        /* Over a cap: reported as too large; damaged: named, not checked. */
        char why[512];
        int big = assay_error_last()->code == ASSAY_ETOOBIG;
        snprintf(why, sizeof why, "%s%s", big ? "" : "truncated or damaged ELF file: ", assay_error_last()->message);
        free(buf);
        char *keep = big ? strdup(why) : NULL;
        if (big && !keep)
            return assay_error_set(ASSAY_ENOMEM, "out of memory");
        if ((rc = cover(s->not_examined, path, why, NULL)) < 0 || (big && (rc = add_file(s, path, NULL, keep)) < 0)) {
            if (!stored(s, keep, NULL))
                free(keep);
            return rc;
        }
        return 0;
    }
    const char *arch = assay_elf_arch_name(info->id.machine, info->id.bits);
    const char *why = not_for_host(inner, &info->id);
    if (why) {
        free(buf);
        assay_elf_info_free(info);
        return cover(s->not_for_host, path, why, arch ? arch : "unknown");
    }
    if ((rc = add_file(s, path, info, NULL)) < 0) {
        free(buf);
        if (!stored(s, NULL, info))
            assay_elf_info_free(info);
        return rc;
    }
    s->elf_read++;
    if (!cJSON_AddItemToArray(s->examined, cJSON_CreateString(path)))
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
    else
        rc = per_elf_file(s, &s->files[s->n - 1], buf, got);
    free(buf);
    return rc;
}

/* Read every entry of an open archive; check the ELF ones, open the nested
 * archives (to NEST_DEPTH), and name every other file in the coverage.
 * Every entry and every byte that comes out, at every level, counts against
 * the submission's budget; the others are read (not skipped) so a bomb
 * stops at the cap. A damaged payload is an error: the installer would
 * refuse it too. Paths: `prefix` (the archives it is nested in, each
 * followed by '!') and the entry's path; `raw_path` names the one entry of
 * a plain-file artifact. */
static int scan_entries(struct archive *a, struct scan *s, const char *what, const char *prefix, const char *raw_path,
                        int depth, assay_ingest_tally *t)
{
    struct archive_entry *e;
    unsigned char head[4];
    int r, rc;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        if ((rc = assay_ingest_count(t, what, 1, 0)) < 0)
            return rc;
        if (archive_entry_filetype(e) != AE_IFREG)
            continue;
        const char *name = archive_entry_pathname(e);
        char path[1024];
        const char *clean = name ? name : "?";
        while (clean[0] == '.' && clean[1] == '/')
            clean++;
        if (raw_path)
            snprintf(path, sizeof path, "%s", raw_path);
        else
            snprintf(path, sizeof path, "%s%s%s", prefix, clean[0] == '/' ? "" : "/", clean);
        const char *inner = path + (raw_path ? 0 : strlen(prefix));
        const char *kind = raw_path ? NULL : nested_kind(clean);
        if (kind && depth < NEST_DEPTH) {
            char np[1024], nwhat[1200];
            if (prefix[0])
                snprintf(np, sizeof np, "%s%s!", prefix, inner);
            else
                snprintf(np, sizeof np, "%s!%s!", s->art, clean);
            snprintf(nwhat, sizeof nwhat, "%s, nested '%s'", what, clean);
            rc = scan_archive(s, a, NULL, kind, np, nwhat, depth + 1, t);
            if (rc == ASSAY_EINVAL) {
                char why[600];
                snprintf(why, sizeof why, "unreadable nested archive: %s", assay_error_last()->message);
                rc = cover(s->not_examined, path, why, NULL);
            }
            if (rc < 0 || (rc = assay_ingest_drain(a, t, what)) < 0)
                return rc;
            assay_error_clear();
            continue;
        }
        /* A plain-file artifact (libarchive's raw format) has no size until
         * it is read: -1 then. */
        la_int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
        la_ssize_t h = 0;
        if (!name || (size >= 0 && size < 4) || (h = archive_read_data(a, head, 4)) != 4 || memcmp(head, "\177ELF", 4)) {
            if (h < 0)
                return assay_error_set(ASSAY_EINVAL, "%s: damaged payload (%s)", what, assay_archive_why(a));
            if ((h > 0 && (rc = assay_ingest_count(t, what, 0, (uint64_t)h)) < 0) ||
                (rc = assay_ingest_drain(a, t, what)) < 0 ||
                (rc = cover(s->not_examined, path, kind ? "archive nested too deep" : "not ELF", NULL)) < 0)
                return rc;
            continue;
        }
        if ((rc = scan_elf(a, s, path, inner, head, size, what, t)) < 0)
            return rc;
        assay_error_clear();
    }
    if (r != ARCHIVE_EOF)
        return assay_error_set(ASSAY_EINVAL, "%s: damaged payload (%s)", what, assay_archive_why(a));
    return 0;
}

/* An archive read straight from the current entry of another. */
struct inner {
    struct archive *outer;
    char buf[65536];
};

static la_ssize_t inner_read(struct archive *a, void *arg, const void **data)
{
    struct inner *in = arg;
    (void)a;
    *data = in->buf;
    return archive_read_data(in->outer, in->buf, sizeof in->buf);
}

/* Open `a` on the file `blob`, or on the current entry of `outer`. */
static int open_on(struct archive *a, struct archive *outer, const char *blob, struct inner **in)
{
    if (!outer)
        return archive_read_open_filename(a, blob, 65536);
    if (!(*in = malloc(sizeof **in)))
        return ARCHIVE_FATAL;
    (*in)->outer = outer;
    return archive_read_open(a, *in, NULL, inner_read, NULL);
}

/* Scan one archive of kind "deb" (its data.tar, straight out of the ar
 * archive), "archive" (rpm payload, tar, zip) or "raw" (a plain file: an
 * ELF file itself, perhaps). */
static int scan_archive(struct scan *s, struct archive *outer, const char *blob, const char *kind, const char *prefix,
                        const char *what, int depth, assay_ingest_tally *t)
{
    struct inner *in = NULL, *in2 = NULL;
    int rc = 0;
    if (!strcmp(kind, "deb")) {
        struct archive *ar = archive_read_new();
        struct archive_entry *e;
        int found = 0;
        char dwhat[1300];
        archive_read_support_format_ar(ar);
        snprintf(dwhat, sizeof dwhat, "%s data archive", what);
        if (open_on(ar, outer, blob, &in) != ARCHIVE_OK) {
            rc = assay_error_set(ASSAY_EINVAL, "%s: %s", what, assay_archive_why(ar));
        } else {
            while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
                const char *n = archive_entry_pathname(e);
                if (!n || strncmp(n, "data.tar", 8))
                    continue;
                struct archive *d = payload_reader();
                found = 1;
                if (open_on(d, ar, NULL, &in2) != ARCHIVE_OK)
                    rc = assay_error_set(ASSAY_EINVAL, "%s: damaged (%s)", dwhat, assay_archive_why(d));
                else
                    rc = scan_entries(d, s, dwhat, prefix, NULL, depth, t);
                archive_read_free(d);
                break;
            }
            if (!found && rc == 0)
                rc = assay_error_set(ASSAY_EINVAL, "%s: the .deb has no data archive", what);
        }
        archive_read_free(ar);
        free(in);
        free(in2);
        return rc;
    }
    if (!strcmp(kind, "archive")) {
        struct archive *a = payload_reader();
        if (open_on(a, outer, blob, &in) != ARCHIVE_OK)
            rc = assay_error_set(ASSAY_EINVAL, "%s: damaged (%s)", what, assay_archive_why(a));
        else
            rc = scan_entries(a, s, what, prefix, NULL, depth, t);
        archive_read_free(a);
        free(in);
        return rc;
    }
    struct archive *a = archive_read_new();
    archive_read_support_format_raw(a);
    archive_read_support_filter_none(a);
    if (archive_read_open_filename(a, blob, 65536) == ARCHIVE_OK)
        rc = scan_entries(a, s, what, prefix, s->art, depth, t);
    archive_read_free(a);
    if (rc == ASSAY_ETOOBIG || rc == ASSAY_ENOMEM)
        return rc;
    assay_error_clear();
    return 0;
}

/* One file of an artifact. The files of a set (an artifact of several
 * files) are named with their file in front, as nested packages are:
 * "libjq1_1.6_arm64.deb!/usr/lib/aarch64-linux-gnu/libjq.so.1". */
static int scan_artifact(struct scan *s, const char *blob, const assay_artifact_rec *art, int in_set,
                         assay_ingest_tally *t)
{
    char what[400], prefix[300] = "";
    int rc;
    if ((rc = scan_init(s)) < 0)
        return rc;
    s->art = art->name;
    if (in_set)
        snprintf(prefix, sizeof prefix, "%s!", art->name);
    if (!strcmp(art->format, "deb")) {
        snprintf(what, sizeof what, "artifact '%s'", art->name);
        return scan_archive(s, NULL, blob, "deb", prefix, what, 0, t);
    }
    if (!strcmp(art->format, "rpm") || !strcmp(art->format, "tar") || !strcmp(art->format, "zip")) {
        snprintf(what, sizeof what, "artifact '%s'%s", art->name, !strcmp(art->format, "rpm") ? " payload" : "");
        return scan_archive(s, NULL, blob, "archive", prefix, what, 0, t);
    }
    snprintf(what, sizeof what, "artifact '%s'", art->name);
    return scan_archive(s, NULL, blob, "raw", prefix, what, 0, t);
}

const char *assay_counted(char *buf, size_t cap, long n, const char *one, const char *many)
{
    snprintf(buf, cap, "%ld %s", n, n == 1 ? one : many);
    return buf;
}

const char *assay_pkgcheck_counts(char *buf, size_t cap, const cJSON *r)
{
    char e[48], w[48], f[48];
    const cJSON *nh = cJSON_GetObjectItem(r, "not_for_host"), *ne = cJSON_GetObjectItem(r, "not_examined");
    /* ELF files read and checked ("elf_files" also counts those too large
     * to check); results stored before coverage have only "elf_files". */
    const char *read = cJSON_IsNumber(cJSON_GetObjectItem(r, "elf_read")) ? "elf_read" : "elf_files";
    int n = snprintf(buf, cap, "%s, %s, %s read",
                     assay_counted(e, sizeof e, (long)assay_json_num(r, "errors"), "error", "errors"),
                     assay_counted(w, sizeof w, (long)assay_json_num(r, "warnings"), "warning", "warnings"),
                     assay_counted(f, sizeof f, (long)assay_json_num(r, read), "ELF file", "ELF files"));
    if (n > 0 && (size_t)n < cap && cJSON_IsNumber(nh) && cJSON_IsNumber(ne))
        snprintf(buf + n, cap - (size_t)n, ", %ld not for this host, %ld not examined", (long)nh->valuedouble,
                 (long)ne->valuedouble);
    return buf;
}

/* `text` with each mangled C++ name in it ("_ZNSt7__cxx1112basic_string...",
 * a run of identifier characters starting with "_Z") replaced by its
 * demangled form, at most `cap` bytes; names that do not demangle (cut
 * short by the reader's field size, or not C++) stay as they are. */
static void demangle_text(char *out, size_t cap, const char *text)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *p = text; *p && used + 1 < cap;) {
        int start = p[0] == '_' && p[1] == 'Z' && (p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'));
        size_t n = 1;
        if (start)
            while (p[n] && (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '.' || p[n] == '$'))
                n++;
        char name[512], *d = NULL;
        if (start && n < sizeof name) {
            memcpy(name, p, n);
            name[n] = '\0';
            d = cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI);
        }
        int w = d ? snprintf(out + used, cap - used, "%s", d) : snprintf(out + used, cap - used, "%.*s", (int)n, p);
        free(d);
        used += w > 0 && (size_t)w < cap - used ? (size_t)w : cap - 1 - used;
        p += n;
    }
}

/* Demangle the C++ names in "found" and "hint" of findings[from...]. */
static int demangle_findings(cJSON *fl, int from)
{
    static const char *const keys[] = {"found", "hint"};
    for (int i = from; i < cJSON_GetArraySize(fl); i++) {
        cJSON *f = cJSON_GetArrayItem(fl, i);
        for (size_t k = 0; k < 2; k++) {
            const cJSON *s = cJSON_GetObjectItem(f, keys[k]);
            if (!cJSON_IsString(s) || !strstr(s->valuestring, "_Z"))
                continue;
            char buf[2048];
            demangle_text(buf, sizeof buf, s->valuestring);
            cJSON *n = cJSON_CreateString(buf);
            if (!n || !cJSON_ReplaceItemInObject(f, keys[k], n)) {
                cJSON_Delete(n);
                return assay_error_set(ASSAY_ENOMEM, "out of memory");
            }
        }
    }
    return 0;
}

static int finding(cJSON *fl, const char *sev, const char *check, const char *expected, const char *found,
                   const char *hint)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "severity", sev);
    cJSON_AddStringToObject(f, "check", check);
    cJSON_AddStringToObject(f, "expected", expected);
    cJSON_AddStringToObject(f, "found", found);
    cJSON_AddStringToObject(f, "hint", hint);
    cJSON_AddItemToArray(fl, f);
    return 0;
}

/* A list of names sorted once, so that each DT_NEEDED entry of each file
 * is looked up in O(log n): a package may hold 10 000 ELF files, each
 * naming up to ASSAY_ELF_MAX_NEEDED libraries. */
struct names {
    const char **v;
    size_t n;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of `n` lists as one index (an artifact set's files provide
 * libraries to each other). */
static int names_index_of(struct names *ix, const cJSON *const *lists, size_t n)
{
    const cJSON *x;
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += (size_t)cJSON_GetArraySize(lists[i]);
    ix->n = 0;
    ix->v = malloc(total * sizeof *ix->v);
    if (!ix->v)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        cJSON_ArrayForEach(x, lists[i]) if (cJSON_IsString(x)) ix->v[ix->n++] = x->valuestring;
    qsort(ix->v, ix->n, sizeof *ix->v, cmp_name);
    return 0;
}

static int names_index(struct names *ix, const cJSON *list)
{
    return names_index_of(ix, &list, 1);
}

static int in_names(const struct names *ix, const char *name)
{
    return bsearch(&name, ix->v, ix->n, sizeof *ix->v, cmp_name) != NULL;
}

/* One "library" warning for a file, whatever the number of libraries it
 * misses: it names the first LIBS_NAMED and counts the rest. (One finding
 * per library per profile let 1 KB of DT_NEEDED entries fill gigabytes.) */
static void library_finding(cJSON *fl, const assay_elf_info *e, const struct names *provided,
                            const struct names *os, const assay_profile *p)
{
    char found[1024], hint[1536];
    size_t missing = 0, used = 0;
    const char *first = NULL;
    found[0] = '\0';
    for (size_t k = 0; k < e->nneeded; k++) {
        if (in_names(provided, e->needed[k]) || in_names(os, e->needed[k]))
            continue;
        if (missing < LIBS_NAMED) {
            int n = snprintf(found + used, sizeof found - used, "%s%s", missing ? ", " : "", e->needed[k]);
            used += n > 0 && (size_t)n < sizeof found - used ? (size_t)n : 0;
        }
        if (!missing)
            first = e->needed[k];
        missing++;
    }
    if (!missing)
        return;
    if (missing == 1) {
        snprintf(hint, sizeof hint, "%s is neither in the package nor among the OS libraries of %s: ship it, "
                                    "link it statically, or declare it as a dependency the centre installs",
                 first, p->id);
        finding(fl, "warning", "library", "provided by the package or the OS", first, hint);
        return;
    }
    char list[1024];
    if (missing > LIBS_NAMED)
        snprintf(list, sizeof list, "%s and %zu more", found, missing - LIBS_NAMED);
    else
        snprintf(list, sizeof list, "%s", found);
    snprintf(found, sizeof found, "%zu libraries: %s", missing, list);
    snprintf(hint, sizeof hint, "%zu libraries are neither in the package nor among the OS libraries of %s (%s): "
                                "ship them, link them statically, or declare them as dependencies the centre installs",
             missing, p->id, list);
    finding(fl, "warning", "library", "provided by the package or the OS", found, hint);
}

/* A finding about an artifact as a whole, listed as a file named after it. */
static void artifact_finding(cJSON *files, const char *name, const char *arch, const char *sev, const char *check,
                             const char *expected, const char *found, const char *hint)
{
    cJSON *f = cJSON_CreateObject(), *fl = cJSON_CreateArray();
    finding(fl, sev, check, expected, found, hint);
    cJSON_AddStringToObject(f, "path", name);
    cJSON_AddStringToObject(f, "arch", arch);
    cJSON_AddItemToObject(f, "findings", fl);
    cJSON_AddItemToArray(files, f);
}

/* The artifact for profile `p`: its files' scans ss[0..nss) (one, or a
 * set's), the first file's record `art`. */
static cJSON *check_profile(const struct scan *const *ss, size_t nss, const assay_profile *p,
                            const assay_artifact_rec *art, const char *metadata_arch)
{
    cJSON *r = cJSON_CreateObject(), *files = cJSON_CreateArray();
    int errors = 0, warnings = 0;
    const cJSON *lists[ASSAY_MANIFEST_SET_MAX];
    size_t total = 0, elf_read = 0, nfh = 0, nne = 0;
    for (size_t k = 0; k < nss && k < ASSAY_MANIFEST_SET_MAX; k++) {
        lists[k] = ss[k]->provided;
        total += ss[k]->n;
        elf_read += ss[k]->elf_read;
        nfh += (size_t)cJSON_GetArraySize(ss[k]->not_for_host);
        nne += (size_t)cJSON_GetArraySize(ss[k]->not_examined);
    }
    assay_target t = {p->arch, p->loongarch_world[0] ? p->loongarch_world : NULL, p->glibc,
                      p->libstdcxx[0] ? p->libstdcxx : NULL, p->page_size, p->x86_isa_level,
                      p->kernel[0] ? p->kernel : NULL};
    struct names provided = {0}, os = {0};
    size_t listed = 0, unlisted = 0;
    /* DT_NEEDED resolves against every file of the set, as on a host where
     * the set is installed together. */
    if (names_index_of(&provided, lists, nss) < 0 || names_index(&os, p->libraries) < 0) {
        free(provided.v);
        free(os.v);
        cJSON_Delete(r);
        cJSON_Delete(files);
        return NULL;
    }
    for (size_t k = 0; k < nss; k++) {
        for (size_t i = 0; i < ss[k]->n; i++) {
            const struct scan *s = ss[k];
            const assay_elf_info *e = s->files[i].info;
            cJSON *f = cJSON_CreateObject(), *fl = cJSON_CreateArray();
            if (!e) {
                assay_preflight_too_large(fl, s->files[i].too_large);
                warnings++;
            } else {
                int n = assay_preflight_elf(fl, e, &t);
                if (n > 0)
                    errors += n;
                if (n > 0 && demangle_findings(fl, 0) < 0) {
                    free(provided.v);
                    free(os.v);
                    cJSON_Delete(f);
                    cJSON_Delete(fl);
                    cJSON_Delete(r);
                    cJSON_Delete(files);
                    return NULL;
                }
                /* Issue 14 item 3: instruction-level findings (isa.h). */
                int nw = cJSON_GetArraySize(fl);
                int ie = assay_isa_findings(fl, s->files[i].isa, p);
                errors += ie;
                warnings += cJSON_GetArraySize(fl) - nw - ie;
                /* Libraries: provided by the package itself or by the OS. (A
                 * profile without a library list cannot say: no finding then.) */
                int nf = cJSON_GetArraySize(fl);
                if (p->libraries)
                    library_finding(fl, e, &provided, &os, p);
                warnings += cJSON_GetArraySize(fl) - nf;
            }
            const char *arch = e ? assay_elf_arch_name(e->id.machine, e->id.bits) : NULL;
            if (cJSON_GetArraySize(fl) == 0 || listed == FILES_LISTED) {
                unlisted += cJSON_GetArraySize(fl) > 0;
                cJSON_Delete(f);
                cJSON_Delete(fl);
                continue;
            }
            listed++;
            cJSON_AddStringToObject(f, "path", s->files[i].path);
            cJSON_AddStringToObject(f, "arch", arch ? arch : "unknown");
            cJSON_AddItemToObject(f, "findings", fl);
            cJSON_AddItemToArray(files, f);
        }
    }
    /* Package metadata against its contents: noarch over binaries. */
    if (metadata_arch && !strcmp(metadata_arch, "noarch") && total > 0) {
        char found[128];
        const struct scan *s0 = ss[0];
        for (size_t k = 0; k < nss && !s0->n; k++)
            s0 = ss[k];
        const assay_elf_info *e0 = s0->files[0].info;
        const char *a0 = e0 ? assay_elf_arch_name(e0->id.machine, e0->id.bits) : NULL;
        snprintf(found, sizeof found, "%zu ELF files (%s)", total, a0 ? a0 : "?");
        artifact_finding(files, art->name, "noarch", "error", "metadata-arch", "noarch: no machine code", found,
                         "a noarch package must not ship binaries: declare the real architecture");
        errors++;
    }
    /* Nothing read is no pass: an artifact that is not noarch and holds no
     * ELF file preflight could read gets a warning. */
    if (!(metadata_arch && !strcmp(metadata_arch, "noarch")) && total == 0) {
        char found[160];
        snprintf(found, sizeof found, "no ELF file read (%zu not for this host, %zu not examined)", nfh, nne);
        artifact_finding(files, art->name, "unknown", "warning", "coverage", "at least one ELF file for this host", found,
                         "preflight checked nothing in this artifact: declare it noarch if it holds no machine code, "
                         "or see the coverage for why its files were not read");
        warnings++;
    }
    free(provided.v);
    free(os.v);
    cJSON_AddStringToObject(r, "profile", p->id);
    cJSON_AddStringToObject(r, "artifact", art->name);
    if (nss > 1) { /* a set: all its files, in the manifest's order */
        cJSON *names = cJSON_AddArrayToObject(r, "artifact_files");
        for (size_t k = 0; k < nss; k++)
            cJSON_AddItemToArray(names, cJSON_CreateString(ss[k]->art));
    }
    cJSON_AddNumberToObject(r, "elf_files", (double)total);
    cJSON_AddNumberToObject(r, "elf_read", (double)elf_read);
    cJSON_AddNumberToObject(r, "not_for_host", (double)nfh);
    cJSON_AddNumberToObject(r, "not_examined", (double)nne);
    cJSON_AddNumberToObject(r, "errors", errors);
    cJSON_AddNumberToObject(r, "warnings", warnings);
    cJSON_AddItemToObject(r, "files", files);
    cJSON_AddNumberToObject(r, "files_unlisted", (double)unlisted);
    return r;
}

/* Whether file `name` is one of a set (an artifact of several files). */
static int in_set(const assay_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->nartifacts; i++)
        for (size_t k = 0; m->artifacts[i].nfiles > 1 && k < m->artifacts[i].nfiles; k++)
            if (!strcmp(assay_manifest_file(m, &m->artifacts[i], k), name))
                return 1;
    return 0;
}

int assay_pkgcheck_files(cJSON **out, assay_lab *lab, const char *id, const char *mtext,
                         const assay_artifact_rec *arts, size_t na, char *const *blobs, char *const *profiles,
                         size_t n, assay_ingest_tally *tally)
{
    assay_manifest *m = NULL;
    assay_profile **all = NULL;
    size_t nall = 0;
    cJSON *res = NULL;
    struct scan *scans = NULL;
    int rc;

    if ((rc = assay_manifest_parse(&m, mtext, strlen(mtext))) < 0)
        goto out;
    if (n) {
        if (!(all = calloc(n, sizeof *all))) {
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            goto out;
        }
        for (; nall < n; nall++)
            if ((rc = assay_profile_load(&all[nall], lab->profiles, profiles[nall])) < 0)
                goto out;
    } else if ((rc = assay_profile_list(&all, &nall, lab->profiles)) < 0) {
        goto out;
    }
    /* Each artifact is read once, whatever the number of profiles. */
    if (!(scans = calloc(na ? na : 1, sizeof *scans))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "package", id);
    cJSON *list = cJSON_AddArrayToObject(res, "profiles");
    for (size_t k = 0; k < nall; k++) {
        const assay_profile *p = all[k];
        const assay_manifest_artifact *ma = assay_manifest_pick(m, p->arch, p->loongarch_world[0] ? p->loongarch_world : NULL);
        if (!ma) {
            if (n) { /* asked for explicitly: say there is nothing for it */
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "profile", p->id);
                cJSON_AddNullToObject(r, "artifact");
                cJSON_AddNumberToObject(r, "errors", 1);
                cJSON_AddNumberToObject(r, "warnings", 0);
                cJSON_AddStringToObject(r, "message", "the package has no artifact for this architecture");
                cJSON_AddItemToArray(list, r);
            }
            continue;
        }
        /* The artifact's files, each read once. */
        const struct scan *set[ASSAY_MANIFEST_SET_MAX];
        size_t nset = 0, first = na;
        for (size_t f = 0; f < ma->nfiles && f < ASSAY_MANIFEST_SET_MAX; f++) {
            const char *name = assay_manifest_file(m, ma, f);
            size_t ai = 0;
            while (ai < na && strcmp(arts[ai].name, name))
                ai++;
            if (ai == na)
                continue;
            if (!scans[ai].provided && (rc = scan_artifact(&scans[ai], blobs[ai], &arts[ai], ma->nfiles > 1, tally)) < 0)
                goto out;
            if (first == na)
                first = ai;
            set[nset++] = &scans[ai];
        }
        if (nset == 0)
            continue;
        cJSON *pr = check_profile(set, nset, p, &arts[first], !strcmp(ma->arch, "noarch") ? "noarch" : NULL);
        if (!pr || !cJSON_AddItemToArray(list, pr)) {
            cJSON_Delete(pr);
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            goto out;
        }
    }
    /* Every artifact is read, even one no profile of this lab serves: a
     * damaged package is refused whichever host it was meant for. */
    for (size_t ai = 0; ai < na; ai++) {
        if (scans[ai].provided)
            continue;
        if ((rc = scan_artifact(&scans[ai], blobs[ai], &arts[ai], in_set(m, arts[ai].name), tally)) < 0)
            goto out;
    }
    /* What was examined and what was not, artifact by artifact. */
    cJSON *cov = cJSON_AddArrayToObject(res, "coverage");
    for (size_t ai = 0; ai < na; ai++) {
        cJSON *c = cJSON_CreateObject();
        if (!c || !cJSON_AddItemToArray(cov, c)) {
            cJSON_Delete(c);
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            goto out;
        }
        cJSON_AddStringToObject(c, "artifact", arts[ai].name);
        cJSON_AddNumberToObject(c, "elf_read", (double)scans[ai].elf_read);
        cJSON_AddNumberToObject(c, "not_for_host", cJSON_GetArraySize(scans[ai].not_for_host));
        cJSON_AddNumberToObject(c, "not_examined", cJSON_GetArraySize(scans[ai].not_examined));
        cJSON_AddItemToObject(c, "examined_files", scans[ai].examined);
        cJSON_AddItemToObject(c, "not_for_host_files", scans[ai].not_for_host);
        cJSON_AddItemToObject(c, "not_examined_files", scans[ai].not_examined);
        scans[ai].examined = scans[ai].not_for_host = scans[ai].not_examined = NULL;
    }
    *out = res;
    res = NULL;
    rc = 0;
out:
    for (size_t i = 0; scans && i < na; i++)
        scan_free(&scans[i]);
    free(scans);
    cJSON_Delete(res);
    assay_profile_list_free(all, nall);
    assay_manifest_free(m);
    return rc;
}
