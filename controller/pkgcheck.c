/* Package preflight; see pkgcheck.h and docs/preflight.md. */
#include "pkgcheck.h"
#include "blob.h"
#include "ingest.h"
#include "isa.h"
#include "manifest.h"
#include "profile.h"
#include "assay/elf.h"
#include "assay/error.h"
#include "assay/preflight.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ELF_CAP (256u << 20) /* larger ELF files are reported, not read */
#define LIBS_NAMED 5         /* a library finding names this many, then counts the rest */
#define FILES_LISTED 100     /* files with findings listed per profile; the rest are counted */

struct elf_file {
    char path[1024];
    assay_elf_info *info; /* NULL when the file was too large to check */
    char *too_large;      /* then: why (which cap) */
    assay_isa_result *isa; /* issue 14 item 3: instruction scan (isa.h), or NULL */
};

struct scan {
    struct elf_file *files;
    size_t n, cap;
    cJSON *provided; /* file names and sonames of shared objects in the package */
};

static void scan_free(struct scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        assay_elf_info_free(s->files[i].info);
        free(s->files[i].too_large);
        assay_isa_result_free(s->files[i].isa);
    }
    free(s->files);
    cJSON_Delete(s->provided);
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

/* Read every entry of an open archive; keep the ELF ones. Every entry and
 * every byte that comes out counts against the submission's budget; the
 * others are read (not skipped) so a bomb stops at the cap. A damaged
 * payload is an error: the installer would refuse it too. */
static int scan_entries(struct archive *a, struct scan *s, const char *what, assay_ingest_tally *t)
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
        /* A plain-file artifact (libarchive's raw format) has no size until
         * it is read: -1 then. */
        la_int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
        la_ssize_t h = 0;
        if (!name || (size >= 0 && size < 4) || (h = archive_read_data(a, head, 4)) != 4 || memcmp(head, "\177ELF", 4)) {
            if (h < 0)
                return assay_error_set(ASSAY_EINVAL, "%s: damaged payload (%s)", what, assay_archive_why(a));
            if ((h > 0 && (rc = assay_ingest_count(t, what, 0, (uint64_t)h)) < 0) ||
                (rc = assay_ingest_drain(a, t, what)) < 0)
                return rc;
            continue;
        }
        assay_elf_info *info = NULL;
        assay_isa_result *isa = NULL;
        char *too_large = NULL;
        unsigned char *buf = NULL;
        size_t got = 0;
        rc = read_elf(a, head, size, &buf, &got);
        if (rc == ASSAY_ENOMEM)
            return rc;
        if (rc == ASSAY_EIO)
            return assay_error_set(ASSAY_EINVAL, "%s: %s", what, assay_error_last()->message);
        if (rc == ASSAY_ETOOBIG) {
            /* Reported, not read; what is left of it still counts. */
            if (!(too_large = strdup(assay_error_last()->message)))
                return assay_error_set(ASSAY_ENOMEM, "out of memory");
            if ((rc = assay_ingest_count(t, what, 0, 4)) < 0 || (rc = assay_ingest_drain(a, t, what)) < 0) {
                free(too_large);
                return rc;
            }
        } else {
            if ((rc = assay_ingest_count(t, what, 0, got)) < 0) {
                free(buf);
                return rc;
            }
            rc = assay_elf_read(&info, buf, got);
            /* Issue 14 item 3: instructions beyond a profile's ISA (isa.h). */
            if (info && (rc = assay_isa_scan(&isa, buf, got)) < 0) {
                free(buf);
                assay_elf_info_free(info);
                return rc;
            }
            free(buf);
            if (rc == ASSAY_ENOMEM)
                return rc;
            /* A file over a cap is reported; a damaged one is not an ELF
             * file to check. */
            if (!info && assay_error_last()->code == ASSAY_ETOOBIG &&
                !(too_large = strdup(assay_error_last()->message)))
                return assay_error_set(ASSAY_ENOMEM, "out of memory");
        }
        if (info || too_large) {
            if (s->n == s->cap) {
                size_t nc = s->cap ? s->cap * 2 : 16;
                struct elf_file *nf = realloc(s->files, nc * sizeof *nf);
                if (!nf) {
                    assay_elf_info_free(info);
                    assay_isa_result_free(isa);
                    free(too_large);
                    return assay_error_set(ASSAY_ENOMEM, "out of memory");
                }
                s->files = nf;
                s->cap = nc;
            }
            const char *clean = name;
            while (clean[0] == '.' && clean[1] == '/')
                clean++;
            snprintf(s->files[s->n].path, sizeof s->files[s->n].path, "%s%s", clean[0] == '/' ? "" : "/", clean);
            s->files[s->n].too_large = too_large;
            s->files[s->n].isa = isa;
            isa = NULL;
            s->files[s->n++].info = info;
            const char *base = strrchr(name, '/');
            cJSON_AddItemToArray(s->provided, cJSON_CreateString(base ? base + 1 : name));
            if (info && info->soname[0])
                cJSON_AddItemToArray(s->provided, cJSON_CreateString(info->soname));
        }
        assay_isa_result_free(isa); /* kept above unless the file was dropped */
        assay_error_clear();
    }
    if (r != ARCHIVE_EOF)
        return assay_error_set(ASSAY_EINVAL, "%s: damaged payload (%s)", what, assay_archive_why(a));
    return 0;
}

/* A .deb's data.tar, read straight from the outer ar archive. */
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

static int scan_artifact(struct scan *s, const char *blob, const assay_artifact_rec *art, assay_ingest_tally *t)
{
    char what[400];
    int rc = 0;
    if (!strcmp(art->format, "deb")) {
        struct archive *ar = archive_read_new();
        struct archive_entry *e;
        int found = 0;
        archive_read_support_format_ar(ar);
        snprintf(what, sizeof what, "artifact '%s' data archive", art->name);
        if (archive_read_open_filename(ar, blob, 65536) != ARCHIVE_OK) {
            rc = assay_error_set(ASSAY_EINVAL, "artifact '%s': %s", art->name, assay_archive_why(ar));
        } else {
            while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
                const char *n = archive_entry_pathname(e);
                if (!n || strncmp(n, "data.tar", 8))
                    continue;
                struct inner in = {.outer = ar};
                struct archive *d = payload_reader();
                found = 1;
                if (archive_read_open(d, &in, NULL, inner_read, NULL) != ARCHIVE_OK)
                    rc = assay_error_set(ASSAY_EINVAL, "%s: damaged (%s)", what, assay_archive_why(d));
                else
                    rc = scan_entries(d, s, what, t);
                archive_read_free(d);
                break;
            }
            if (!found && rc == 0)
                rc = assay_error_set(ASSAY_EINVAL, "artifact '%s': the .deb has no data archive", art->name);
        }
        archive_read_free(ar);
        return rc;
    }
    if (!strcmp(art->format, "rpm") || !strcmp(art->format, "tar") || !strcmp(art->format, "zip")) {
        struct archive *a = payload_reader();
        snprintf(what, sizeof what, "artifact '%s'%s", art->name, !strcmp(art->format, "rpm") ? " payload" : "");
        if (archive_read_open_filename(a, blob, 65536) != ARCHIVE_OK)
            rc = assay_error_set(ASSAY_EINVAL, "%s: damaged (%s)", what, assay_archive_why(a));
        else
            rc = scan_entries(a, s, what, t);
        archive_read_free(a);
        return rc;
    }
    /* A plain file: an ELF file itself, perhaps. */
    struct archive *a = archive_read_new();
    archive_read_support_format_raw(a);
    archive_read_support_filter_none(a);
    snprintf(what, sizeof what, "artifact '%s'", art->name);
    if (archive_read_open_filename(a, blob, 65536) == ARCHIVE_OK)
        rc = scan_entries(a, s, what, t);
    archive_read_free(a);
    if (rc == ASSAY_ETOOBIG)
        return rc;
    assay_error_clear();
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

static int names_index(struct names *ix, const cJSON *list)
{
    const cJSON *x;
    ix->n = 0;
    ix->v = malloc(((size_t)cJSON_GetArraySize(list) + 1) * sizeof *ix->v);
    if (!ix->v)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    cJSON_ArrayForEach(x, list) if (cJSON_IsString(x)) ix->v[ix->n++] = x->valuestring;
    qsort(ix->v, ix->n, sizeof *ix->v, cmp_name);
    return 0;
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

static cJSON *check_profile(const struct scan *s, const assay_profile *p, const assay_artifact_rec *art,
                            const char *metadata_arch)
{
    cJSON *r = cJSON_CreateObject(), *files = cJSON_CreateArray();
    int errors = 0, warnings = 0;
    assay_target t = {p->arch, p->loongarch_world[0] ? p->loongarch_world : NULL, p->glibc,
                      p->libstdcxx[0] ? p->libstdcxx : NULL, p->page_size, p->x86_isa_level};
    struct names provided = {0}, os = {0};
    size_t listed = 0, unlisted = 0;
    if (names_index(&provided, s->provided) < 0 || names_index(&os, p->libraries) < 0) {
        free(provided.v);
        free(os.v);
        cJSON_Delete(r);
        cJSON_Delete(files);
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++) {
        const assay_elf_info *e = s->files[i].info;
        cJSON *f = cJSON_CreateObject(), *fl = cJSON_CreateArray();
        if (!e) {
            assay_preflight_too_large(fl, s->files[i].too_large);
            warnings++;
        } else {
            int n = assay_preflight_elf(fl, e, &t);
            if (n > 0)
                errors += n;
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
    /* Package metadata against its contents: noarch over binaries. */
    if (metadata_arch && !strcmp(metadata_arch, "noarch") && s->n > 0) {
        cJSON *f = cJSON_CreateObject(), *fl = cJSON_CreateArray();
        char found[128];
        const assay_elf_info *e0 = s->files[0].info;
        const char *a0 = e0 ? assay_elf_arch_name(e0->id.machine, e0->id.bits) : NULL;
        snprintf(found, sizeof found, "%zu ELF files (%s)", s->n, a0 ? a0 : "?");
        finding(fl, "error", "metadata-arch", "noarch: no machine code", found,
                "a noarch package must not ship binaries: declare the real architecture");
        cJSON_AddStringToObject(f, "path", art->name);
        cJSON_AddStringToObject(f, "arch", "noarch");
        cJSON_AddItemToObject(f, "findings", fl);
        cJSON_AddItemToArray(files, f);
        errors++;
    }
    free(provided.v);
    free(os.v);
    cJSON_AddStringToObject(r, "profile", p->id);
    cJSON_AddStringToObject(r, "artifact", art->name);
    cJSON_AddNumberToObject(r, "elf_files", (double)s->n);
    cJSON_AddNumberToObject(r, "errors", errors);
    cJSON_AddNumberToObject(r, "warnings", warnings);
    cJSON_AddItemToObject(r, "files", files);
    cJSON_AddNumberToObject(r, "files_unlisted", (double)unlisted);
    return r;
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
        size_t ai = 0;
        while (ai < na && strcmp(arts[ai].name, ma->file))
            ai++;
        if (ai == na)
            continue;
        if (!scans[ai].provided) {
            scans[ai].provided = cJSON_CreateArray();
            if ((rc = scan_artifact(&scans[ai], blobs[ai], &arts[ai], tally)) < 0)
                goto out;
        }
        cJSON *pr = check_profile(&scans[ai], p, &arts[ai], !strcmp(ma->arch, "noarch") ? "noarch" : NULL);
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
        scans[ai].provided = cJSON_CreateArray();
        if ((rc = scan_artifact(&scans[ai], blobs[ai], &arts[ai], tally)) < 0)
            goto out;
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
