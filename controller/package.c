/* Submissions; see package.h and docs/manifest.md. */
#include "package.h"
#include "blob.h"
#include "ingest.h"
#include "manifest.h"
#include "assay/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void assay_package_limits(assay_lab *lab, assay_ingest_limits *l)
{
    static const char *const keys[] = {"ingest.max_entries", "ingest.max_entry_bytes",
                                       "ingest.max_total_bytes", "ingest.max_ratio"};
    uint64_t *fields[] = {&l->max_entries, &l->max_entry, &l->max_total, &l->max_ratio};
    assay_ingest_limits_default(l);
    for (int i = 0; i < 4; i++) {
        char v[32], *end;
        if (assay_store_meta_get(lab->store, keys[i], v, sizeof v) == 0) {
            unsigned long long x = strtoull(v, &end, 10);
            if (*end == '\0' && x > 0)
                *fields[i] = x;
        }
    }
    assay_error_clear();
}

/* What a file name says the artifact is. */
static const char *expected_format(const char *name)
{
    size_t n = strlen(name);
#define ENDS(s) (n > strlen(s) && strcmp(name + n - strlen(s), s) == 0)
    if (ENDS(".rpm"))
        return "rpm";
    if (ENDS(".deb"))
        return "deb";
    if (ENDS(".zip"))
        return "zip";
    if (ENDS(".tar") || ENDS(".tar.gz") || ENDS(".tgz") || ENDS(".tar.xz") || ENDS(".txz") ||
        ENDS(".tar.zst") || ENDS(".tar.bz2"))
        return "tar";
#undef ENDS
    return NULL;
}

int assay_package_add(assay_lab *lab, const char *path, char id[65], int *existed)
{
    assay_ingest *in = NULL;
    assay_manifest *m = NULL;
    assay_artifact_rec *arts = NULL;
    assay_ingest_limits lim;
    assay_blob_writer *sub = NULL;
    assay_package_rec p;
    uint64_t size;
    int rc;

    *existed = 0;
    /* Copy the submission into the store first, unpublished: that one read
     * gives its digest, the id. It is published only if it is accepted, so
     * a refused upload leaves nothing behind. */
    if ((rc = assay_blob_stage_file(&sub, lab->blobs, path, id, &size)) < 0)
        return rc;
    if (assay_store_package_get(lab->store, id, &p, NULL) == 0) {
        *existed = 1;
        assay_blob_writer_abort(sub);
        return 0;
    }
    assay_error_clear();

    assay_package_limits(lab, &lim);
    if ((rc = assay_ingest_open(&in, path, lab->blobs, &lim, ASSAY_MANIFEST_NAME)) < 0)
        goto out;
    size_t mlen;
    const char *mtext = assay_ingest_manifest(in, &mlen);
    if (!mtext) {
        rc = assay_error_set(ASSAY_EINVAL, "the archive has no %s at its root", ASSAY_MANIFEST_NAME);
        goto out;
    }
    if ((rc = assay_manifest_parse(&m, mtext, mlen)) < 0) {
        assay_error_wrap("%s", ASSAY_MANIFEST_NAME);
        goto out;
    }
    if (!(arts = calloc(m->nartifacts, sizeof *arts))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < m->nartifacts; i++) {
        const assay_manifest_artifact *ma = &m->artifacts[i];
        assay_ingest_file f;
        char staged[4096], fmt[16], arch[64];
        if ((rc = assay_ingest_find(in, ma->file, &f, staged, sizeof staged)) < 0) {
            if (rc == ASSAY_ENOTFOUND)
                assay_error_set(rc, "%s: artifacts[%zu].file: '%s' is not in the archive", ASSAY_MANIFEST_NAME, i,
                                ma->file);
            goto out;
        }
        if ((rc = assay_package_probe(staged, fmt, sizeof fmt, arch, sizeof arch)) < 0) {
            assay_error_wrap("artifact '%s'", ma->file);
            goto out;
        }
        const char *want = expected_format(ma->file);
        if (want && strcmp(want, fmt) != 0) {
            rc = assay_error_set(ASSAY_EINVAL, "artifact '%s': named like a .%s but its content is %s%s", ma->file,
                                 want, strcmp(fmt, "file") == 0 ? "not an archive or package" : "a ",
                                 strcmp(fmt, "file") == 0 ? "" : fmt);
            goto out;
        }
        if (arch[0] && strcmp(arch, ma->arch) != 0) {
            rc = assay_error_set(ASSAY_EINVAL, "artifact '%s': its %s metadata says arch %s, the manifest says %s",
                                 ma->file, fmt, arch, ma->arch);
            goto out;
        }
        assay_artifact_rec *a = &arts[i];
        snprintf(a->name, sizeof a->name, "%s", ma->file);
        snprintf(a->arch, sizeof a->arch, "%s", ma->arch);
        snprintf(a->abi, sizeof a->abi, "%s", ma->abi);
        snprintf(a->format, sizeof a->format, "%s", fmt);
        memcpy(a->sha256, f.sha256, sizeof a->sha256);
        a->size = f.size;
    }
    memset(&p, 0, sizeof p);
    memcpy(p.id, id, 65);
    const char *base = strrchr(path, '/');
    snprintf(p.file_name, sizeof p.file_name, "%s", base ? base + 1 : path);
    p.size = size;
    snprintf(p.product, sizeof p.product, "%s", m->product);
    snprintf(p.version, sizeof p.version, "%s", m->version);
    snprintf(p.vendor, sizeof p.vendor, "%s", m->vendor);
    /* Everything checked: now publish the artifacts and the submission. */
    for (size_t i = 0; i < m->nartifacts; i++)
        if ((rc = assay_ingest_keep(in, m->artifacts[i].file)) < 0)
            goto out;
    if ((rc = assay_blob_writer_commit(sub, NULL, NULL)) < 0) {
        sub = NULL;
        goto out;
    }
    sub = NULL;
    rc = assay_store_package_add(lab->store, &p, mtext, arts, m->nartifacts);
    if (rc == ASSAY_EEXISTS) { /* added by someone else meanwhile */
        *existed = 1;
        rc = 0;
    }
out:
    assay_blob_writer_abort(sub);
    free(arts);
    assay_manifest_free(m);
    assay_ingest_free(in);
    return rc;
}
