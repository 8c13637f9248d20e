/*
 * package add on submissions made by real tools (tests/corpus/
 * make-submissions.sh): every good one accepted, every hostile or broken one
 * refused with a reason that names the entry, and nothing left behind.
 */
#include "helpers.h"
#include "lab.h"
#include "blob.h"
#include "package.h"
#include "assay/error.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORPUS ASSAY_BINARY_DIR "/corpus"

static char labdir[] = "/tmp/assay-ingest-XXXXXX";
static assay_lab lab;

static void setup(void)
{
    cr_assert_not_null(mkdtemp(labdir));
    char dir[300];
    snprintf(dir, sizeof dir, "%s/lab", labdir);
    cr_assert_eq(assay_lab_init(dir, ASSAY_KEY_ED25519, "test"), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_lab_open(&lab, dir), 0);
    /* Small caps so the corpus can cross them cheaply. */
    assay_store_meta_set(lab.store, "ingest.max_entries", "15");
    assay_store_meta_set(lab.store, "ingest.max_ratio", "100");
}

static void teardown(void)
{
    assay_lab_close(&lab);
    th_run(NULL, 0, "rm -rf %s", labdir);
}

TestSuite(ingest, .init = setup, .fini = teardown);

static int blob_files(void)
{
    char out[64];
    th_run(out, sizeof out, "find %s/blobs -type f | wc -l", lab.dir);
    return atoi(out);
}

static void refused(const char *file, int code, const char *why)
{
    char path[400], id[65];
    int existed;
    snprintf(path, sizeof path, CORPUS "/%s", file);
    int before = blob_files();
    int rc = assay_package_add(&lab, path, id, &existed);
    cr_assert_eq(rc, code, "%s: rc %d (%s)", file, rc, assay_error_last()->message);
    cr_assert(strstr(assay_error_last()->message, why) != NULL, "%s: '%s' lacks '%s'", file,
              assay_error_last()->message, why);
    cr_assert_eq(blob_files(), before, "%s: a refused upload left blobs behind", file);
}

Test(ingest, hostile_archives_are_refused_naming_the_entry)
{
    refused("symlink.tar", ASSAY_EUNSAFE, "entry 'pkgs/link': symbolic link to '/etc/passwd'");
    refused("hardlink.tar", ASSAY_EUNSAFE, "hard link");
    refused("dotdot.tar", ASSAY_EUNSAFE, "entry '../../escape/hello-1.0.tar.gz': '.' or '..' in path");
    refused("absolute.tar", ASSAY_EUNSAFE, "absolute path");
    refused("setuid.tar", ASSAY_EUNSAFE, "entry 'pkgs/suid': setuid or setgid bit (mode 4755)");
    refused("device.tar", ASSAY_EUNSAFE, "entry 'pkgs/dev': device node");
    refused("fifo.tar", ASSAY_EUNSAFE, "entry 'pkgs/pipe': named pipe");
    refused("duplicate.tar", ASSAY_EUNSAFE, "entry 'manifest.json': appears more than once");
    refused("many-entries.tar.gz", ASSAY_ETOOBIG, "more than 15 entries");
    refused("bomb.tar.gz", ASSAY_ETOOBIG, "entry 'pkgs/zeros': compression ratio over 100:1");
}

Test(ingest, size_caps_count_what_comes_out)
{
    assay_store_meta_set(lab.store, "ingest.max_ratio", "100000");
    assay_store_meta_set(lab.store, "ingest.max_total_bytes", "1000000");
    refused("bomb.tar.gz", ASSAY_ETOOBIG, "the archive holds over 1000000 bytes");
    assay_store_meta_set(lab.store, "ingest.max_entry_bytes", "5000000");
    refused("bomb.tar.gz", ASSAY_ETOOBIG, "entry 'pkgs/zeros': 100663296 bytes, over the 5000000-byte cap");
}

Test(ingest, broken_submissions_say_what_is_wrong)
{
    refused("not-an-archive.tar.gz", ASSAY_EINVAL, "not a tar or zip archive");
    refused("truncated.tar.gz", ASSAY_EINVAL, "truncated gzip input");
    refused("no-manifest.tar.gz", ASSAY_EINVAL, "the archive has no manifest.json at its root");
    refused("bad-json.tar.gz", ASSAY_EINVAL, "manifest.json: not valid JSON (line 4)");
    refused("missing-artifact.tar.gz", ASSAY_ENOTFOUND, "artifacts[0].file: 'pkgs/missing.tar.gz' is not in the archive");
    refused("bad-arch-name.tar.gz", ASSAY_EINVAL, "artifacts[0].arch: 'arm64' is not x86_64, aarch64, loongarch64 or noarch (arm64 is aarch64)");
}

Test(ingest, package_metadata_must_match_the_manifest)
{
    refused("bad-deb-arch.tar.gz", ASSAY_EINVAL, "its deb metadata says arch x86_64, the manifest says aarch64");
    refused("bad-rpm-arch.tar.gz", ASSAY_EINVAL, "its rpm metadata says arch x86_64, the manifest says loongarch64");
    refused("bad-fake-rpm.tar.gz", ASSAY_EINVAL, "named like a .rpm but its content is not an archive or package");
}

Test(ingest, good_submissions_in_every_format)
{
    const char *ok[] = {"ok.tar.gz", "ok.tar.xz", "ok.tar.zst", "ok.zip", "ok-deb-rpm.tar.gz"};
    for (size_t i = 0; i < 5; i++) {
        char path[400], id[65], sha[65];
        int existed;
        snprintf(path, sizeof path, CORPUS "/%s", ok[i]);
        cr_assert_eq(assay_package_add(&lab, path, id, &existed), 0, "%s: %s", ok[i], assay_error_last()->message);
        cr_assert_not(existed);
        /* The id is the file's SHA-256. */
        th_run(sha, sizeof sha, "sha256sum %s | cut -c1-64", path);
        cr_assert_str_eq(id, sha);
    }
    assay_package_rec p;
    assay_artifact_rec *arts;
    size_t n;
    char id[65];
    int existed;
    cr_assert_eq(assay_package_add(&lab, CORPUS "/ok-deb-rpm.tar.gz", id, &existed), 0);
    cr_assert(existed, "the same file twice must be a no-op");
    cr_assert_eq(assay_store_package_get(lab.store, id, &p, NULL), 0);
    cr_assert_str_eq(p.product, "hello");
    cr_assert_eq(assay_store_artifacts(lab.store, id, &arts, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(arts[0].format, "rpm");
    cr_assert_str_eq(arts[0].arch, "x86_64");
    cr_assert_str_eq(arts[1].format, "deb");
    cr_assert_str_eq(arts[1].arch, "aarch64");
    /* Stored artifacts are the exact bytes of the archive's entries. */
    char blob[4096], out[200];
    assay_blob_path(blob, sizeof blob, lab.blobs, arts[1].sha256);
    th_run(out, sizeof out, "dpkg-deb -f %s Architecture", blob);
    cr_assert_str_eq(out, "arm64\n");
    free(arts);
}

/* ---- preflight of a stored package --------------------------------------- */

#include "pkgcheck.h"

Test(ingest, preflight_reads_elf_files_inside_packages)
{
    char sub[400], id[65], out[2048];
    int existed;
    /* A deb for aarch64 holding a 4 KiB-aligned binary that needs an extra
     * library, made by dpkg-deb from binaries the elf-corpus fixture built. */
    snprintf(sub, sizeof sub, "%s/pf", labdir);
    int rc = th_run(out, sizeof out,
                    "set -e; d=%s; mkdir -p $d/deb/DEBIAN $d/deb/usr/bin $d/s/pkgs;"
                    "cp " ASSAY_BINARY_DIR "/elf-corpus/hello-aarch64-4k $d/deb/usr/bin/hello;"
                    "printf 'Package: hello\\nVersion: 1\\nArchitecture: arm64\\nMaintainer: x <x@example.invalid>\\nDescription: x\\n' > $d/deb/DEBIAN/control;"
                    "dpkg-deb --root-owner-group --build $d/deb $d/s/pkgs/hello_1_arm64.deb >/dev/null;"
                    "cp " ASSAY_BINARY_DIR "/elf-corpus/hello-x86_64-v3 $d/hello; mkdir -p $d/rpm/SPECS;"
                    "printf '%%%%global debug_package %%%%{nil}\\nName: h\\nVersion: 1\\nRelease: 1\\nSummary: h\\nLicense: MIT\\n"
                    "%%%%description\\nh\\n%%%%install\\nmkdir -p %%%%{buildroot}/usr/bin\\ninstall -m 755 '$d'/hello "
                    "%%%%{buildroot}/usr/bin/hello\\n%%%%files\\n/usr/bin/hello\\n' > $d/rpm/SPECS/h.spec;"
                    "rpmbuild -bb --quiet --define \"_topdir $d/rpm\" --define '_build_id_links none' --define '__strip /bin/true'"
                    " --target x86_64 $d/rpm/SPECS/h.spec >/dev/null 2>&1; cp $d/rpm/RPMS/x86_64/h-1-1.x86_64.rpm $d/s/pkgs/;"
                    "cat > $d/s/manifest.json <<'EOF'\n"
                    "{\"manifest\":1,\"product\":\"p\",\"version\":\"1\",\"vendor\":\"v\",\"artifacts\":["
                    "{\"file\":\"pkgs/hello_1_arm64.deb\",\"arch\":\"aarch64\"},{\"file\":\"pkgs/h-1-1.x86_64.rpm\",\"arch\":\"x86_64\"}],"
                    "\"install\":{\"command\":\"true\",\"timeout\":9},\"uninstall\":{\"command\":\"true\",\"timeout\":9},"
                    "\"tests\":[{\"id\":\"t\",\"command\":\"true\",\"timeout\":9}]}\n"
                    "EOF\n"
                    "tar -C $d/s -czf $d/sub.tar.gz manifest.json pkgs",
                    sub);
    cr_assert_eq(rc, 0, "%s", out);
    snprintf(sub, sizeof sub, "%s/pf/sub.tar.gz", labdir);
    cr_assert_eq(assay_package_add(&lab, sub, id, &existed), 0, "%s", assay_error_last()->message);
    char *profs[] = {"kunpeng-920-kylin-v10", "zhaoxin-kx6000-uos-20", "loongson-3a5000-kylin-v10"};
    cJSON *pf, *p;
    cr_assert_eq(assay_pkgcheck(&pf, &lab, id, profs, 3), 0, "%s", assay_error_last()->message);
    char *text = cJSON_PrintUnformatted(pf);
    int seen = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(pf, "profiles"))
    {
        const char *prof = cJSON_GetObjectItem(p, "profile")->valuestring;
        if (!strcmp(prof, "kunpeng-920-kylin-v10")) {
            /* From inside the deb's data.tar: 64 KiB pages, glibc 2.28. */
            cr_assert(strstr(text, "\"check\":\"page-size\"") && strstr(text, "/usr/bin/hello"), "%s", text);
            cr_assert_geq(cJSON_GetObjectItem(p, "errors")->valueint, 2);
            seen++;
        } else if (!strcmp(prof, "zhaoxin-kx6000-uos-20")) {
            /* From inside the rpm's cpio payload: an x86-64-v3 build. */
            cr_assert(strstr(text, "\"check\":\"x86-isa\""), "%s", text);
            cr_assert_eq(cJSON_GetObjectItem(p, "elf_files")->valueint, 1);
            cr_assert_str_eq(cJSON_GetObjectItem(p, "artifact")->valuestring, "pkgs/h-1-1.x86_64.rpm");
            seen++;
        } else if (!strcmp(prof, "loongson-3a5000-kylin-v10")) {
            cr_assert(cJSON_IsNull(cJSON_GetObjectItem(p, "artifact")), "no loongarch64 artifact");
            seen++;
        }
    }
    cr_assert_eq(seen, 3);
    free(text);
    cJSON_Delete(pf);
}
