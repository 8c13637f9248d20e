/*
 * package add on submissions made by real tools (tests/data/
 * make-submissions.sh, listed in tests/data/README.md): every good one
 * accepted, every hostile or broken one refused with its own error, naming
 * the entry, field or limit, and nothing left behind, in the store or
 * outside it.
 */
#include "helpers.h"
#include "lab.h"
#include "blob.h"
#include "markup.h"
#include "package.h"
#include "store.h"
#include <cjson/cJSON.h>
#include <sys/stat.h>
#include "assay/error.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

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
    int rc = assay_package_add(&lab, path, ASSAY_ADD_COPY, id, &existed);
    cr_assert_eq(rc, code, "%s: rc %d, not %d (%s)", file, rc, code, assay_error_last()->message);
    cr_assert(strstr(assay_error_last()->message, why) != NULL, "%s: '%s' lacks '%s'", file,
              assay_error_last()->message, why);
    cr_assert_eq(blob_files(), before, "%s: a refused upload left blobs behind", file);
}

/* Every hostile or broken submission of the corpus and the error it must
 * get, under the suite's caps (15 entries, 100:1); tests/data/README.md
 * says the same in prose. */
static const struct refusal {
    const char *file;
    int code;
    const char *why;
} refusals[] = {
    /* archives that try to write outside where they are unpacked, or to
     * make something other than plain files */
    {"symlink.tar", ASSAY_EUNSAFE, "entry 'pkgs/link': symbolic link to '/etc/passwd'"},
    {"symlink.zip", ASSAY_EUNSAFE, "entry 'pkgs/link': symbolic link to '/etc/passwd'"},
    {"hardlink.tar", ASSAY_EUNSAFE, "entry 'pkgs/hard': hard link to 'pkgs/hello-1.0.tar.gz'"},
    {"hardlink-escape.tar", ASSAY_EUNSAFE, "entry 'pkgs/hard': hard link to '/etc/passwd'"},
    {"dotdot.tar", ASSAY_EUNSAFE, "entry '../../escape/hello-1.0.tar.gz': '.' or '..' in path"},
    {"dotdot.zip", ASSAY_EUNSAFE, "entry '../../escape/hello-1.0.tar.gz': '.' or '..' in path"},
    {"absolute.tar", ASSAY_EUNSAFE, "entry '/tmp/assay-escape/manifest.json': absolute path"},
    {"absolute.zip", ASSAY_EUNSAFE, "entry '/tmp/assay-escape/hello-1.0.tar.gz': absolute path"},
    {"setuid.tar", ASSAY_EUNSAFE, "entry 'pkgs/suid': setuid or setgid bit (mode 4755)"},
    {"device.tar", ASSAY_EUNSAFE, "entry 'pkgs/dev': device node"},
    {"fifo.tar", ASSAY_EUNSAFE, "entry 'pkgs/pipe': named pipe"},
    {"duplicate.tar", ASSAY_EUNSAFE, "entry 'manifest.json': appears more than once"},
    {"duplicate-member.tar", ASSAY_EUNSAFE, "entry 'pkgs/hello-1.0.tar.gz': appears more than once"},
    {"long-name.tar", ASSAY_EUNSAFE, "entry 'pkgs/1111111111111111111111111111111111111111111111111111111111111111111"
                                     "11111111...': name longer than 1023 bytes"},
    /* archives that cost more than they are worth */
    {"many-entries.tar.gz", ASSAY_ETOOBIG, "more than 15 entries"},
    {"million.tar.zst", ASSAY_ETOOBIG, "more than 15 entries"},
    {"bomb.tar.gz", ASSAY_ETOOBIG, "entry 'pkgs/zeros': compression ratio over 100:1"},
    {"bomb.zip", ASSAY_ETOOBIG, "entry 'pkgs/zeros': compression ratio over 100:1"},
    /* not an archive, or not a whole one */
    {"not-an-archive.tar.gz", ASSAY_EINVAL, "not a tar or zip archive (Unrecognized archive format)"},
    {"truncated.tar.gz", ASSAY_EINVAL, "damaged or truncated archive (truncated gzip input)"},
    {"truncated.zip", ASSAY_EINVAL, "entry 'manifest.json': cannot read its data (Truncated ZIP"},
    /* manifests that do not validate */
    {"no-manifest.tar.gz", ASSAY_EINVAL, "the archive has no manifest.json at its root"},
    {"bad-json.tar.gz", ASSAY_EINVAL, "manifest.json: not valid JSON (line 4)"},
    {"deep-json.tar.gz", ASSAY_EINVAL, "manifest.json: nested deeper than 16 levels (line 1)"},
    {"wrong-type-timeout.tar.gz", ASSAY_EINVAL, "manifest.json: install.timeout: must be a number of seconds, not a string"},
    {"wrong-type-tests.tar.gz", ASSAY_EINVAL, "manifest.json: tests: must be an array, not an object"},
    {"wrong-type-product.tar.gz", ASSAY_EINVAL, "manifest.json: product: must be a string, not a number"},
    {"huge-product.tar.gz", ASSAY_ETOOBIG, "manifest.json: larger than 1048576 bytes"},
    {"huge-command.tar.gz", ASSAY_EINVAL, "manifest.json: tests[0].command: longer than 65536 bytes"},
    {"unknown-field.tar.gz", ASSAY_EINVAL, "manifest.json: licence: unknown field (known: manifest, product, version, "
                                           "vendor, description, artifacts, install, tests, benchmarks, uninstall, inspect)"},
    {"unknown-nested-field.tar.gz", ASSAY_EINVAL,
     "manifest.json: tests[0].timout: unknown field (known: id, name, command, timeout, expect_exit, privileged)"},
    {"duplicate-artifact.tar.gz", ASSAY_EINVAL, "manifest.json: artifacts[1].file: 'pkgs/hello-1.0.tar.gz' is listed twice"},
    {"missing-artifact.tar.gz", ASSAY_ENOTFOUND, "manifest.json: artifacts[0].file: 'pkgs/missing.tar.gz' is not in the archive"},
    {"bad-arch-name.tar.gz", ASSAY_EINVAL,
     "manifest.json: artifacts[0].arch: 'arm64' is not x86_64, aarch64, loongarch64 or noarch (arm64 is aarch64)"},
    /* package metadata that contradicts the manifest */
    {"bad-deb-arch.tar.gz", ASSAY_EINVAL,
     "artifact 'pkgs/hello_1.0_arm64.deb': its deb metadata says arch x86_64, the manifest says aarch64"},
    {"bad-rpm-arch.tar.gz", ASSAY_EINVAL,
     "artifact 'pkgs/hello-1.0-1.loongarch64.rpm': its rpm metadata says arch x86_64, the manifest says loongarch64"},
    {"bad-fake-rpm.tar.gz", ASSAY_EINVAL, "artifact 'pkgs/hello.rpm': named like a .rpm but its content is not an archive or package"},
};
#define NREFUSALS (sizeof refusals / sizeof refusals[0])

Test(ingest, every_hostile_or_broken_submission_gets_its_own_error)
{
    for (size_t i = 0; i < NREFUSALS; i++)
        refused(refusals[i].file, refusals[i].code, refusals[i].why);
}

Test(ingest, the_corpus_holds_every_case_the_test_knows)
{
    /* A case dropped from make-submissions.sh must not pass by absence. */
    for (size_t i = 0; i < NREFUSALS; i++) {
        char path[400];
        snprintf(path, sizeof path, CORPUS "/%s", refusals[i].file);
        cr_assert_eq(access(path, R_OK), 0, "%s is missing: run tests/data/make-submissions.sh", path);
    }
}

Test(ingest, size_caps_count_what_comes_out)
{
    assay_store_meta_set(lab.store, "ingest.max_ratio", "100000");
    assay_store_meta_set(lab.store, "ingest.max_total_bytes", "1000000");
    refused("bomb.tar.gz", ASSAY_ETOOBIG, "the archive holds over 1000000 bytes");
    assay_store_meta_set(lab.store, "ingest.max_entry_bytes", "5000000");
    refused("bomb.tar.gz", ASSAY_ETOOBIG, "entry 'pkgs/zeros': 100663296 bytes, over the 5000000-byte cap");
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

Test(ingest, a_million_entries_stop_at_the_entry_cap_quickly_and_in_little_memory)
{
    /* The default cap. Before the spool, each of the 10000 entries read
     * before it was a staged blob of its own: 7 s and 160 MiB here. */
    assay_store_meta_set(lab.store, "ingest.max_entries", "10000");
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = now();
    refused("million.tar.zst", ASSAY_ETOOBIG, "more than 10000 entries");
    double took = now() - t0;
    getrusage(RUSAGE_SELF, &r1);
    cr_assert_lt(took, 5.0, "took %.1f s", took);
    cr_assert_lt(r1.ru_maxrss - r0.ru_maxrss, 32 * 1024, "peak memory grew by %ld KiB", r1.ru_maxrss - r0.ru_maxrss);
    char out[64];
    th_run(out, sizeof out, "ls -A %s/blobs/tmp 2>/dev/null | wc -l", lab.dir);
    cr_assert_eq(atoi(out), 0, "scratch files left in blobs/tmp");
}

/* ---- nothing written outside the store --------------------------------- */

/* Run the real CLI on `file` in a scratch directory (tests/data/
 * snapshot-add.sh) and return its report in `out`. */
static void snapshot_add(char *out, size_t outlen, const char *file)
{
    int rc = th_run(out, outlen,
                    ASSAY_SOURCE_DIR "/tests/data/snapshot-add.sh " ASSAY_BINARY_DIR "/assay " CORPUS "/%s"
                                     " ingest.max_entries 15 ingest.max_ratio 100",
                    file);
    cr_assert_eq(rc, 0, "%s: snapshot-add.sh failed (%d): %s", file, rc, out);
}

/* The text between "== <key>\n" and "== end" in a snapshot-add.sh report. */
static const char *section(const char *out, const char *key, char *buf, size_t len)
{
    char mark[64];
    snprintf(mark, sizeof mark, "== %s\n", key);
    const char *s = strstr(out, mark), *e;
    cr_assert_not_null(s, "no '%s' in: %s", key, out);
    s += strlen(mark);
    e = strstr(s, "== end");
    cr_assert_not_null(e, "no end of '%s' in: %s", key, out);
    snprintf(buf, len, "%.*s", (int)(e - s), s);
    return buf;
}

Test(ingest, the_cli_refuses_each_submission_and_writes_nothing_outside_the_store, .timeout = 600)
{
    static char out[1 << 16];
    char text[8192], want[600];
    int private_tmp = 0;
    for (size_t i = 0; i < NREFUSALS; i++) {
        const struct refusal *r = &refusals[i];
        int rc = -1, b0 = -1, b1 = -1;
        snapshot_add(out, sizeof out, r->file);
        private_tmp |= strstr(out, "== private-tmp 1\n") != NULL;
        const char *p = strstr(out, "== rc ");
        cr_assert(p && sscanf(p, "== rc %d", &rc) == 1, "%s: %s", r->file, out);
        cr_assert_neq(rc, 0, "%s: assay package add succeeded: %s", r->file, out);
        /* "assay: <what failed>: <why>", the why naming the problem */
        section(out, "stderr", text, sizeof text);
        snprintf(want, sizeof want, "assay: package add %s: ", r->file);
        cr_assert(strncmp(text, want, strlen(want)) == 0, "%s: not '%s...': %s", r->file, want, text);
        cr_assert(strstr(text, r->why), "%s: '%s' lacks '%s'", r->file, text, r->why);
        /* no new blob, no package row, nothing outside the store */
        p = strstr(out, "== blobs ");
        cr_assert(p && sscanf(p, "== blobs %d %d", &b0, &b1) == 2, "%s: %s", r->file, out);
        cr_assert_eq(b1, b0, "%s: %d blobs before, %d after", r->file, b0, b1);
        cr_assert(strstr(out, "== packages []\n"), "%s: a package row: %s", r->file, out);
        section(out, "changed", text, sizeof text);
        cr_assert_str_empty(text, "%s: written outside the store:\n%s", r->file, text);
    }
    if (!private_tmp)
        cr_log_info("no mount namespace (not root, no unshare -m, or the build is under /tmp): /tmp was "
                    "compared as it is, shared with whatever else runs");
}

Test(ingest, an_accepted_submission_writes_only_into_the_store)
{
    /* The same check on a good upload: blobs and a row appear in the
     * store, and still nothing outside it. */
    static char out[1 << 16];
    char text[8192];
    int b0 = -1, b1 = -1;
    snapshot_add(out, sizeof out, "ok.tar.gz");
    cr_assert(strstr(out, "== rc 0\n"), "%s", out);
    const char *p = strstr(out, "== blobs ");
    cr_assert(p && sscanf(p, "== blobs %d %d", &b0, &b1) == 2, "%s", out);
    cr_assert_eq(b1, b0 + 2, "the submission and its artifact: %s", out);
    cr_assert(strstr(out, "\"file_name\":\"ok.tar.gz\""), "%s", out);
    section(out, "changed", text, sizeof text);
    cr_assert_str_empty(text, "written outside the store:\n%s", text);
}

/* ---- what is accepted ----------------------------------------------------- */

Test(ingest, small_and_large_artifacts_are_stored_byte_exact)
{
    /* Small entries wait in the spool and large ones in blobs of their
     * own: both must come out as the vendor's exact bytes, whatever sits
     * before them in the archive. */
    char out[2048], id[65], sub[400];
    int existed;
    int rc = th_run(out, sizeof out,
                    "set -e; d=%s/big; mkdir -p $d/s/pkgs $d/s/docs $d/p; cd $d;"
                    "for i in 1 2 3 4 5 6 7 8; do head -c $((i * 1000)) /dev/urandom > s/docs/note$i; done;"
                    "head -c 3000000 /dev/urandom > p/big.bin; tar -C p -czf s/pkgs/big.tar.gz big.bin;"
                    "echo small > p/small.txt; tar -C p -czf s/pkgs/small.tar.gz small.txt;"
                    "printf '{\"manifest\":1,\"product\":\"p\",\"version\":\"1\",\"vendor\":\"v\",\"artifacts\":["
                    "{\"file\":\"pkgs/big.tar.gz\",\"arch\":\"x86_64\"},{\"file\":\"pkgs/small.tar.gz\",\"arch\":\"aarch64\"}],"
                    "\"install\":{\"command\":\"true\",\"timeout\":9},\"uninstall\":{\"command\":\"true\",\"timeout\":9},"
                    "\"tests\":[{\"id\":\"t\",\"command\":\"true\",\"timeout\":9}]}' > s/manifest.json;"
                    "tar -C s -cf sub.tar docs manifest.json pkgs/small.tar.gz pkgs/big.tar.gz",
                    labdir);
    cr_assert_eq(rc, 0, "%s", out);
    snprintf(sub, sizeof sub, "%s/big/sub.tar", labdir);
    cr_assert_eq(assay_package_add(&lab, sub, ASSAY_ADD_COPY, id, &existed), 0, "%s", assay_error_last()->message);
    assay_artifact_rec *arts;
    size_t n;
    cr_assert_eq(assay_store_artifacts(lab.store, id, &arts, &n), 0);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        char blob[4096], sha[65];
        th_run(sha, sizeof sha, "sha256sum %s/big/s/%s | cut -c1-64", labdir, arts[i].name);
        cr_assert_str_eq(arts[i].sha256, sha, "%s", arts[i].name);
        assay_blob_path(blob, sizeof blob, lab.blobs, arts[i].sha256);
        th_run(sha, sizeof sha, "sha256sum %s | cut -c1-64", blob);
        cr_assert_str_eq(arts[i].sha256, sha, "%s: the blob is not its bytes", arts[i].name);
    }
    free(arts);
    /* Only the two artifacts and the submission were published. */
    cr_assert_eq(blob_files(), 3);
}

Test(ingest, good_submissions_in_every_format)
{
    const char *ok[] = {"ok.tar.gz", "ok.tar.xz", "ok.tar.zst", "ok.zip", "ok-deb-rpm.tar.gz"};
    for (size_t i = 0; i < 5; i++) {
        char path[400], id[65], sha[65];
        int existed;
        snprintf(path, sizeof path, CORPUS "/%s", ok[i]);
        cr_assert_eq(assay_package_add(&lab, path, ASSAY_ADD_COPY, id, &existed), 0, "%s: %s", ok[i], assay_error_last()->message);
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
    cr_assert_eq(assay_package_add(&lab, CORPUS "/ok-deb-rpm.tar.gz", ASSAY_ADD_COPY, id, &existed), 0);
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
#include "assay/json.h"

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
    cr_assert_eq(assay_package_add(&lab, sub, ASSAY_ADD_COPY, id, &existed), 0, "%s", assay_error_last()->message);
    char *profs[] = {"kunpeng-920-kylin-v10", "zhaoxin-kx6000-uos-20", "loongson-3a5000-kylin-v10"};
    cJSON *pf, *p;
    cr_assert_eq(assay_package_preflight(&pf, &lab, id, profs, 3), 0, "%s", assay_error_last()->message);
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

/* A product of several packages, built here with real tools: a program
 * in one .deb, the shared library it needs in another, a plugin needing
 * the same library in a tarball. As one artifact's "files", preflight
 * reads all three and resolves DT_NEEDED against what the set provides:
 * the glibc findings stay, no "missing libset.so.1". The program's .deb
 * alone (a second submission) does miss it: the check can fail. */
Test(ingest, preflight_resolves_libraries_across_an_artifact_set)
{
    char sub[400], id[65], id1[65], out[4096];
    int existed;
    snprintf(sub, sizeof sub, "%s/set", labdir);
    int rc = th_run(out, sizeof out,
                    "set -e; d=%s; mkdir -p $d/src $d/lib/DEBIAN $d/lib/usr/lib $d/prog/DEBIAN $d/prog/usr/bin "
                    "$d/plug/usr/lib/setprog $d/s/pkgs $d/one/pkgs; cd $d/src;"
                    "printf 'int set_answer(void) { return 42; }\\n' > lib.c;"
                    "printf 'int set_answer(void);\\nint main(void) { return set_answer() != 42; }\\n' > prog.c;"
                    "printf 'int set_answer(void);\\nint plug(void) { return set_answer(); }\\n' > plug.c;"
                    "gcc -shared -fPIC -Wl,-soname,libset.so.1 -o $d/lib/usr/lib/libset.so.1 lib.c;"
                    "gcc -o $d/prog/usr/bin/setprog prog.c -L$d/lib/usr/lib -l:libset.so.1;"
                    "gcc -shared -fPIC -o $d/plug/usr/lib/setprog/plug.so plug.c -L$d/lib/usr/lib -l:libset.so.1;"
                    "for p in lib prog; do printf 'Package: set%%s\\nVersion: 1\\nArchitecture: amd64\\n"
                    "Maintainer: x <x@example.invalid>\\nDescription: x\\n' $p > $d/$p/DEBIAN/control;"
                    "dpkg-deb --root-owner-group --build $d/$p $d/s/pkgs/set${p}_1_amd64.deb >/dev/null; done;"
                    "tar -C $d/plug -czf $d/s/pkgs/plugins.tar.gz usr;"
                    "cp $d/s/pkgs/setprog_1_amd64.deb $d/one/pkgs/;"
                    "printf '%%s' '{\"manifest\":1,\"product\":\"setprog\",\"version\":\"1\",\"vendor\":\"v\","
                    "\"artifacts\":[{\"files\":[\"pkgs/setprog_1_amd64.deb\",\"pkgs/setlib_1_amd64.deb\","
                    "\"pkgs/plugins.tar.gz\"],\"arch\":\"x86_64\"}],\"install\":{\"command\":\"true\",\"timeout\":9},"
                    "\"uninstall\":{\"command\":\"true\",\"timeout\":9},\"tests\":[{\"id\":\"t\",\"command\":\"true\","
                    "\"timeout\":9}]}' > $d/s/manifest.json;"
                    "sed 's/\"files\":\\[[^]]*\\]/\"file\":\"pkgs\\/setprog_1_amd64.deb\"/' $d/s/manifest.json "
                    "> $d/one/manifest.json;"
                    "tar -C $d/s -czf $d/set.tar.gz manifest.json pkgs; tar -C $d/one -czf $d/one.tar.gz manifest.json pkgs",
                    sub);
    cr_assert_eq(rc, 0, "%s", out);
    char *profs[] = {"zhaoxin-kx6000-uos-20"};
    cJSON *pf, *p;
    const cJSON *f, *fd;
    assay_store_meta_set(lab.store, "ingest.max_entries", "1000"); /* the suite's 15 are for its corpus */

    /* The program alone: libset.so.1 is missing, and said so. */
    snprintf(sub, sizeof sub, "%s/set/one.tar.gz", labdir);
    cr_assert_eq(assay_package_add(&lab, sub, ASSAY_ADD_COPY, id1, &existed), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_package_preflight(&pf, &lab, id1, profs, 1), 0, "%s", assay_error_last()->message);
    p = cJSON_GetArrayItem(cJSON_GetObjectItem(pf, "profiles"), 0);
    int lib = 0;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(p, "files")) cJSON_ArrayForEach(fd, cJSON_GetObjectItem(f, "findings"))
        lib += !strcmp(assay_json_str(fd, "check"), "library") && !strcmp(assay_json_str(fd, "found"), "libset.so.1");
    cr_assert_eq(lib, 1, "the program alone misses libset.so.1");
    cJSON_Delete(pf);

    /* The set: three files read, each path under its file's name. */
    snprintf(sub, sizeof sub, "%s/set/set.tar.gz", labdir);
    cr_assert_eq(assay_package_add(&lab, sub, ASSAY_ADD_COPY, id, &existed), 0, "%s", assay_error_last()->message);
    assay_artifact_rec *arts;
    size_t n;
    cr_assert_eq(assay_store_artifacts(lab.store, id, &arts, &n), 0);
    cr_assert_eq(n, 3, "one record per file of the set");
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(arts[i].arch, "x86_64");
    free(arts);
    cr_assert_eq(assay_package_preflight(&pf, &lab, id, profs, 1), 0, "%s", assay_error_last()->message);
    p = cJSON_GetArrayItem(cJSON_GetObjectItem(pf, "profiles"), 0);
    char *text = cJSON_PrintUnformatted(p);
    cr_assert_str_eq(assay_json_str(p, "artifact"), "pkgs/setprog_1_amd64.deb", "the set's first file");
    cr_assert(strstr(text, "\"artifact_files\":[\"pkgs/setprog_1_amd64.deb\",\"pkgs/setlib_1_amd64.deb\","
                           "\"pkgs/plugins.tar.gz\"]"), "%s", text);
    cr_assert_eq((int)assay_json_num(p, "elf_read"), 3, "%s", text);
    int glibc = 0;
    lib = 0;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(p, "files")) cJSON_ArrayForEach(fd, cJSON_GetObjectItem(f, "findings"))
    {
        lib += !strcmp(assay_json_str(fd, "check"), "library");
        glibc += !strcmp(assay_json_str(fd, "check"), "glibc") &&
                 !strcmp(assay_json_str(f, "path"), "pkgs/setprog_1_amd64.deb!/usr/bin/setprog");
    }
    cr_assert_eq(lib, 0, "the set provides libset.so.1: %s", text);
    /* Built on this Debian 12 (glibc 2.36): __libc_start_main@GLIBC_2.34,
     * more than UOS 20's 2.28. */
    cr_assert_eq(glibc, 1, "%s", text);
    cr_assert_geq((int)assay_json_num(p, "errors"), 1);
    free(text);
    cJSON_Delete(pf);
    /* package inspect names the set and reads every file of it. */
    cr_assert_eq(th_run(out, sizeof out, ASSAY_BINARY_DIR "/assay --lab %s/lab package inspect %.12s --profile "
                                         "zhaoxin-kx6000-uos-20", labdir, id), 1, "errors exit 1: %s", out);
    cr_assert(strstr(out, "zhaoxin-kx6000-uos-20 (set of 3: pkgs/setprog_1_amd64.deb, pkgs/setlib_1_amd64.deb, "
                          "pkgs/plugins.tar.gz): "), "%s", out);
    cr_assert(strstr(out, "  read          pkgs/setlib_1_amd64.deb!/usr/lib/libset.so.1\n"), "%s", out);
    cr_assert(strstr(out, "  read          pkgs/plugins.tar.gz!/usr/lib/setprog/plug.so\n"), "%s", out);
    /* A file of the set that the archive lacks, or whose package says
     * another arch, is refused with the field that names it. */
    cr_assert_eq(th_run(out, sizeof out,
                        "set -e; d=%s/set; mkdir -p $d/m $d/a; cp -r $d/s/pkgs $d/m/; cp -r $d/s/pkgs $d/a/;"
                        "sed 's/plugins.tar.gz/nothere.tar.gz/' $d/s/manifest.json > $d/m/manifest.json;"
                        "sed 's/x86_64/aarch64/' $d/s/manifest.json > $d/a/manifest.json;"
                        "tar -C $d/m -czf $d/m.tar.gz manifest.json pkgs; tar -C $d/a -czf $d/a.tar.gz manifest.json pkgs",
                        labdir),
                 0, "%s", out);
    char sub2[400], id2[65];
    snprintf(sub2, sizeof sub2, "%s/set/m.tar.gz", labdir);
    cr_assert_eq(assay_package_add(&lab, sub2, ASSAY_ADD_COPY, id2, &existed), ASSAY_ENOTFOUND);
    cr_assert_str_eq(assay_error_last()->message,
                     "manifest.json: artifacts[0].files[2]: 'pkgs/nothere.tar.gz' is not in the archive");
    snprintf(sub2, sizeof sub2, "%s/set/a.tar.gz", labdir);
    cr_assert_eq(assay_package_add(&lab, sub2, ASSAY_ADD_COPY, id2, &existed), ASSAY_EINVAL);
    cr_assert_str_eq(assay_error_last()->message, "artifact 'pkgs/setprog_1_amd64.deb': its deb metadata says arch "
                                                  "x86_64, the manifest says aarch64");
    /* package show: which files go together, in the install step's order. */
    cr_assert_eq(th_run(out, sizeof out, ASSAY_BINARY_DIR "/assay --lab %s/lab package show %.12s", labdir, id), 0, "%s",
                 out);
    cr_assert(strstr(out, "  set for x86_64, installed together in this order:\n    1. pkgs/setprog_1_amd64.deb\n"
                          "    2. pkgs/setlib_1_amd64.deb\n    3. pkgs/plugins.tar.gz\n"), "%s", out);
}

/* ---- vendor text on the terminal ----------------------------------------- */

/* The CLI prints vendor names on one line, in columns measured in display
 * width; a file name's control characters and invalid bytes never reach
 * the terminal or the JSON. */
Test(ingest, vendor_names_on_the_terminal_are_safe_and_aligned)
{
    char out[8192], id[80];
    const char *A = ASSAY_BINARY_DIR "/assay";
    /* The submission's own file name is the caller's bytes: an escape
     * sequence, a C1 CSI and a byte that is not UTF-8. */
    cr_assert_eq(th_run(out, sizeof out, "cp %s/hostile-names.tar.gz \"%s/$(printf 'n\\033]0;x\\007\\302\\233\\377.tar.gz')\"",
                        CORPUS, labdir), 0, "%s", out);
    cr_assert_eq(th_run(id, sizeof id, "%s --lab %s/lab package add %s/n*.tar.gz 2>/dev/null", A, labdir, labdir), 0,
                 "%s", id);
    id[strcspn(id, "\n")] = '\0';
    cr_assert_eq(th_run(out, sizeof out, "%s --lab %s/lab package list && %s --lab %s/lab package show %s", A, labdir, A,
                        labdir, id), 0, "%s", out);
    cr_assert_null(strstr(out, "\033"), "an escape reached the terminal: %s", out);
    cr_assert_null(strstr(out, "\xc2\x9b"), "a C1 CSI reached the terminal: %s", out);
    cr_assert_null(strstr(out, "\xff"), "a byte that is not UTF-8 reached the terminal: %s", out);
    /* package list: the header and one row; VERSION's column starts at the
     * same display column in both, though the product is CJK. */
    char *row = strchr(out, '\n') + 1, *end = strchr(row, '\n');
    cr_assert(strncmp(end + 1, "package ", 8) == 0, "the row is one line: %s", out);
    const char *hv = strstr(out, "VERSION"), *rv = strstr(row, "1.0-2");
    cr_assert(hv && rv && rv < end, "%s", out);
    cr_assert_eq(assay_text_width(row, (size_t)(rv - row)), assay_text_width(out, (size_t)(hv - out)),
                 "columns measured in bytes, not display width: %s", out);
    cr_assert(strstr(row, "产品<b>名称很长很长很长~"), "the name, cut on a character: %s", row);
    /* --json is JSON, and the file name is text. */
    static char json[1 << 16];
    cr_assert_eq(th_run(json, sizeof json, "%s --lab %s/lab package list --json", A, labdir), 0, "%s", json);
    cJSON *l = cJSON_Parse(json);
    cr_assert_not_null(l, "package list --json is not JSON: %s", json);
    const char *fn = cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "file_name")->valuestring;
    cr_assert_null(assay_text_check(fn, strlen(fn), 0), "file name '%s' is not clean text", fn);
    cr_assert_str_eq(fn, "n?]0;x???.tar.gz");
    cJSON_Delete(l);
}

/* ---- issue 19: hostile submissions after the outer gate ------------------- */

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#define HOSTILE ASSAY_BINARY_DIR "/hostile"

/* Every file under the lab's blobs/ (staging included), as one sorted
 * listing: a refused or killed add must leave it as it was. */
static void blob_listing(char *out, size_t len)
{
    th_run(out, len, "cd %s/blobs && find . -mindepth 1 ! -path ./tmp | sort", lab.dir);
}

/* assay_package_add() in a forked child under a CPU limit of 60 s and an
 * address-space ceiling of 2 GiB over what is mapped now (the sanitizer's
 * reservations are not the add's): a case that blows up dies there, named,
 * instead of taking the test down. The child reports rc and message. */
static int add_limited(const char *path, char *msg, size_t msglen)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(p[0]);
        struct rlimit cpu = {60, 61}, as = {assay_mapped_bytes() + (2ull << 30), assay_mapped_bytes() + (2ull << 30)};
        setrlimit(RLIMIT_CPU, &cpu);
        setrlimit(RLIMIT_AS, &as);
        char id[65];
        int existed, rc = assay_package_add(&lab, path, ASSAY_ADD_COPY, id, &existed);
        char line[4200];
        int n = snprintf(line, sizeof line, "%d %s", rc, rc < 0 ? assay_error_last()->message : "");
        if (write(p[1], line, n > 0 && (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) < 0)
            _exit(3);
        _exit(0);
    }
    close(p[1]);
    char buf[4200];
    size_t used = 0;
    ssize_t n;
    while ((n = read(p[0], buf + used, sizeof buf - 1 - used)) > 0)
        used += (size_t)n;
    close(p[0]);
    buf[used] = '\0';
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: the add died (status %#x) within its limits", path,
              status);
    int rc = 0, off = 0;
    cr_assert_eq(sscanf(buf, "%d %n", &rc, &off), 1, "%s: no verdict: %s", path, buf);
    snprintf(msg, msglen, "%s", buf + off);
    return rc;
}

static const struct refusal hostile[] = {
    /* bombs inside what is inside: counted across every level */
    {"deb-control-bomb.tar.gz", ASSAY_ETOOBIG, "artifact 'pkgs/hello_1.0_arm64.deb': .deb control archive: compression "
                                               "ratio over 100:1 across every archive level (ingest.max_ratio"},
    {"deb-data-bomb.tar.gz", ASSAY_ETOOBIG, "artifact 'pkgs/hello_1.0_arm64.deb' data archive: compression ratio over "
                                            "100:1 across every archive level"},
    {"tarball-bomb.tar.gz", ASSAY_ETOOBIG, "artifact 'pkgs/hello-1.0.tar.zst': compression ratio over 100:1 across every "
                                           "archive level"},
    /* damaged nested packages, refused as docs/manifest.md says */
    {"deb-garbage-data.tar.gz", ASSAY_EINVAL, "artifact 'pkgs/hello_1.0_arm64.deb' data archive: damaged (Unrecognized "
                                              "archive format)"},
    {"rpm-garbage-payload.tar.gz", ASSAY_EINVAL, "artifact 'pkgs/hello-1.0-1.x86_64.rpm' payload: damaged "
                                                 "(Unrecognized archive format)"},
    {"rpm-huge-cpio-name.tar.gz", ASSAY_EINVAL, "artifact 'pkgs/hello-1.0-1.x86_64.rpm' payload: damaged payload ("},
    {"rpm-truncated.tar.gz", ASSAY_EINVAL, "artifact 'pkgs/hello-1.0-1.x86_64.rpm': RPM file truncated ("},
    {"deb-escape-arch.tar.gz", ASSAY_EINVAL, "artifact 'pkgs/hello_1.0_arm64.deb': its deb metadata says arch arm64\033[2J"},
    /* zips read as installers read them */
    {"zip-central-absolute.zip", ASSAY_EUNSAFE, "zip central directory: entry '/tmp/hello-1.0.tar.gz': absolute path"},
    {"zip-central-rename.zip", ASSAY_EUNSAFE, "zip: entry 2 is 'pkgs/hellx-1.0.tar.gz' in the central directory but "
                                              "'pkgs/hello-1.0.tar.gz' in its local header"},
    {"zip-overlap.zip", ASSAY_EUNSAFE, "zip: the local headers hold 2 entries, the central directory lists 3"},
    {"pax-huge.tar", ASSAY_EUNSAFE, "entry 'manifest.json': a header of 102400 bytes (pax or long-name records over the "
                                    "65536-byte cap)"},
    {"escape-entry.tar", ASSAY_EUNSAFE, "entry 'esc/a\033]0;pwned\007b': control character in path"},
    /* a manifest's text is text */
    {"escape-product.tar.gz", ASSAY_EINVAL, "manifest.json: product: contains control characters"},
    {"newline-version.tar.gz", ASSAY_EINVAL, "manifest.json: version: contains a control character"},
    {"nul-vendor.tar.gz", ASSAY_EINVAL, "manifest.json: vendor: contains a NUL character (\\u0000, line 5)"},
    {"bad-utf8-product.tar.gz", ASSAY_EINVAL, "manifest.json: product: is not valid UTF-8"},
    {"bidi-name.tar.gz", ASSAY_EINVAL, "manifest.json: tests[0].name: contains a control character"},
    {"duplicate-key.tar.gz", ASSAY_EINVAL, "manifest.json: product: appears twice (duplicate key)"},
    {"trailing-json.tar.gz", ASSAY_EINVAL, "manifest.json: bytes after the JSON object (line 11)"},
    {"reserved-logs.tar.gz", ASSAY_EINVAL, "manifest.json: artifacts[0].file: 'pkgs/logs': the agent keeps that name"},
    {"reserved-events.jsonl.tar.gz", ASSAY_EINVAL,
     "manifest.json: artifacts[0].file: 'pkgs/events.jsonl': the agent keeps that name"},
};
#define NHOSTILE (sizeof hostile / sizeof hostile[0])

Test(ingest, every_hostile_submission_after_the_gate_is_refused_within_limits_and_leaves_nothing, .timeout = 600)
{
    static char before[1 << 16], after[1 << 16];
    for (size_t i = 0; i < NHOSTILE; i++) {
        char path[400], msg[4200];
        snprintf(path, sizeof path, HOSTILE "/%s", hostile[i].file);
        cr_assert_eq(access(path, R_OK), 0, "%s is missing: run tests/data/make-hostile.sh", path);
        blob_listing(before, sizeof before);
        int rc = add_limited(path, msg, sizeof msg);
        cr_assert_eq(rc, hostile[i].code, "%s: rc %d, not %d (%s)", hostile[i].file, rc, hostile[i].code, msg);
        cr_assert(strstr(msg, hostile[i].why), "%s: '%s' lacks '%s'", hostile[i].file, msg, hostile[i].why);
        blob_listing(after, sizeof after);
        cr_assert_str_eq(after, before, "%s: the blob store or its staging changed", hostile[i].file);
    }
    cJSON *l;
    cr_assert_eq(assay_store_package_list(lab.store, &l), 0);
    cr_assert_eq(cJSON_GetArraySize(l), 0, "a refused submission left a package row");
    cJSON_Delete(l);
}

Test(ingest, a_utf8_name_in_a_zip_and_dots_in_a_file_name_are_accepted)
{
    const char *ok[] = {"utf8-name.zip", "dots-in-name.tar.gz"};
    for (size_t i = 0; i < 2; i++) {
        char path[400], msg[4200];
        snprintf(path, sizeof path, HOSTILE "/%s", ok[i]);
        cr_assert_eq(add_limited(path, msg, sizeof msg), 0, "%s: %s", ok[i], msg);
    }
}

Test(ingest, the_cli_escapes_what_hostile_submissions_name)
{
    /* Errors that quote an entry name or a .deb's Architecture field
     * print it through the terminal escaping, never raw. */
    const char *files[] = {"escape-entry.tar", "deb-escape-arch.tar.gz"};
    for (size_t i = 0; i < 2; i++) {
        char out[4096];
        th_run(out, sizeof out, ASSAY_BINARY_DIR "/assay --lab %s package add " HOSTILE "/%s 2>&1", lab.dir, files[i]);
        cr_assert(strstr(out, "assay: package add "), "%s: %s", files[i], out);
        cr_assert_null(strchr(out, '\033'), "%s: an escape reached the terminal: %s", files[i], out);
        cr_assert_null(strchr(out, '\007'), "%s: a BEL reached the terminal: %s", files[i], out);
    }
}

Test(ingest, only_a_regular_file_is_read_and_the_submission_has_a_size_cap)
{
    char fifo[400], msg[4200];
    snprintf(fifo, sizeof fifo, "%s/fifo", labdir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(add_limited(fifo, msg, sizeof msg), ASSAY_EINVAL, "%s", msg);
    cr_assert(strstr(msg, "not a regular file (a named pipe)"), "%s", msg);
    cr_assert_eq(add_limited("/dev/zero", msg, sizeof msg), ASSAY_EINVAL, "%s", msg);
    cr_assert(strstr(msg, "not a regular file (a character device)"), "%s", msg);
    assay_store_meta_set(lab.store, "ingest.max_submission_bytes", "100");
    cr_assert_eq(add_limited(CORPUS "/ok.tar.gz", msg, sizeof msg), ASSAY_ETOOBIG, "%s", msg);
    cr_assert(strstr(msg, "over the 100-byte cap on a submission (ingest.max_submission_bytes)"), "%s", msg);
    cr_assert_eq(blob_files(), 0);
}

Test(ingest, the_id_is_the_hash_of_the_bytes_that_were_parsed)
{
    /* The id, the stored submission and what was parsed are one reading:
     * the blob named by the id holds the file's bytes, and the product is
     * the one those bytes name. */
    char id[65], sha[80], blob[4096];
    int existed;
    cr_assert_eq(assay_package_add(&lab, CORPUS "/ok.tar.gz", ASSAY_ADD_COPY, id, &existed), 0, "%s", assay_error_last()->message);
    assay_blob_path(blob, sizeof blob, lab.blobs, id);
    th_run(sha, sizeof sha, "sha256sum %s | cut -c1-64", blob);
    sha[strcspn(sha, "\n")] = '\0';
    cr_assert_str_eq(sha, id);
    char *pf = assay_store_package_preflight(lab.store, id);
    cr_assert_not_null(pf, "preflight is stored with the package, in its transaction");
    free(pf);
}

/* The budget: CPU, wall clock and memory, each named with where. The caps
 * on bytes and ratio are lifted so that only the budget under test stops
 * the 16 GiB tarball. */
static void lift_caps(void)
{
    assay_store_meta_set(lab.store, "ingest.max_ratio", "1000000000");
    assay_store_meta_set(lab.store, "ingest.max_total_bytes", "1000000000000000");
}

Test(ingest, the_cpu_budget_stops_a_bomb_and_names_where)
{
    char msg[4200];
    lift_caps();
    assay_store_meta_set(lab.store, "ingest.cpu_seconds", "1");
    cr_assert_eq(add_limited(HOSTILE "/tarball-bomb.tar.gz", msg, sizeof msg), ASSAY_ETIMEOUT, "%s", msg);
    cr_assert(strstr(msg, "over the CPU budget of 1 s (ingest.cpu_seconds) while preflight"), "%s", msg);
    cr_assert_eq(blob_files(), 0);
}

Test(ingest, the_wall_clock_budget_stops_a_bomb_and_names_where)
{
    char msg[4200];
    lift_caps();
    assay_store_meta_set(lab.store, "ingest.wall_seconds", "1");
    cr_assert_eq(add_limited(HOSTILE "/deb-data-bomb.tar.gz", msg, sizeof msg), ASSAY_ETIMEOUT, "%s", msg);
    cr_assert(strstr(msg, "over the wall-clock budget of 1 s (ingest.wall_seconds) while preflight"), "%s", msg);
    cr_assert_eq(blob_files(), 0);
}

Test(ingest, the_memory_budget_stops_the_checks_and_says_so)
{
    /* A 200 MiB file that starts like an ELF file, inside a tarball of a
     * few KB: preflight would read it into memory, over a 64 MiB budget.
     * (ctest runs this test with allocator_may_return_null, so that a
     * sanitizer build fails the malloc as a plain build does.) */
    char msg[4200];
    assay_store_meta_set(lab.store, "ingest.memory_bytes", "67108864");
    cr_assert_eq(add_limited(HOSTILE "/elf-200m.tar.gz", msg, sizeof msg), ASSAY_ETOOBIG, "%s", msg);
    cr_assert(strstr(msg, "over the memory budget of 67108864 bytes (ingest.memory_bytes) while preflight"), "%s", msg);
    cr_assert_eq(blob_files(), 0);
    /* With the default budget (and the ratio cap lifted) it goes in. */
    assay_store_meta_set(lab.store, "ingest.memory_bytes", "536870912");
    lift_caps();
    cr_assert_eq(add_limited(HOSTILE "/elf-200m.tar.gz", msg, sizeof msg), 0, "%s", msg);
}

/* ---- crashes: a SIGKILL at each point of an add ---------------------------- */

Test(ingest, a_kill_during_preflight_or_publish_leaves_a_consistent_store, .timeout = 300)
{
    const char *A = ASSAY_BINARY_DIR "/assay";
    const char *points[] = {"preflight", "publish", "commit"};
    for (size_t i = 0; i < 3; i++) {
        char out[8192];
        int rc = th_run(out, sizeof out, "ASSAY_TEST_KILL=%s %s --lab %s package add %s/ok-deb-rpm.tar.gz; echo \"rc=$?\"",
                        points[i], A, lab.dir, CORPUS);
        cr_assert_eq(rc, 0, "%s", out);
        cr_assert(strstr(out, "rc=137"), "%s: not killed there: %s", points[i], out);
        /* No package row: the package, its artifacts and its preflight are
         * one transaction, which never ran. */
        cJSON *l;
        cr_assert_eq(assay_store_package_list(lab.store, &l), 0);
        cr_assert_eq(cJSON_GetArraySize(l), 0, "%s: a package row after the kill", points[i]);
        cJSON_Delete(l);
        /* What is left (the staging directory, blobs published before the
         * kill) is garbage, and gc removes it. */
        th_run(out, sizeof out, "ls -A %s/blobs/tmp | wc -l", lab.dir);
        cr_assert_gt(atoi(out), 0, "%s: the kill left no staging (was it a kill?)", points[i]);
        cr_assert_eq(th_run(out, sizeof out, "%s --lab %s gc --grace 0", A, lab.dir), 0, "%s", out);
        cr_assert_eq(blob_files(), 0, "%s: gc left blobs nothing names", points[i]);
        th_run(out, sizeof out, "ls -A %s/blobs/tmp | wc -l", lab.dir);
        cr_assert_eq(atoi(out), 0, "%s: gc left staging behind", points[i]);
    }
    /* And the same submission goes in whole afterwards. */
    char id[65];
    int existed;
    cr_assert_eq(assay_package_add(&lab, CORPUS "/ok-deb-rpm.tar.gz", ASSAY_ADD_COPY, id, &existed), 0, "%s", assay_error_last()->message);
    cr_assert_not(existed);
    char *pf = assay_store_package_preflight(lab.store, id);
    cr_assert_not_null(pf);
    free(pf);
    cr_assert_eq(blob_files(), 3, "the submission and its two artifacts");
}

Test(ingest, gc_keeps_what_the_store_names_and_respects_the_grace_period)
{
    char id[65], out[512];
    int existed;
    cr_assert_eq(assay_package_add(&lab, CORPUS "/ok.tar.gz", ASSAY_ADD_COPY, id, &existed), 0, "%s", assay_error_last()->message);
    /* An orphan and a stale staging file, both new. */
    th_run(out, sizeof out, "mkdir -p %s/blobs/ab %s/blobs/tmp && echo x > %s/blobs/ab/%062d && echo y > %s/blobs/tmp/blob-x",
           lab.dir, lab.dir, lab.dir, 0, lab.dir);
    size_t staged, orphans;
    cr_assert_eq(assay_package_gc(&lab, 3600, &staged, &orphans), 0);
    cr_assert_eq(staged + orphans, 0, "within the grace period nothing goes");
    cr_assert_eq(assay_package_gc(&lab, 0, &staged, &orphans), 0);
    cr_assert_eq(staged, 1);
    cr_assert_eq(orphans, 1);
    cr_assert_eq(blob_files(), 2, "the submission and its artifact stay");
}

/* A staging directory whose owner lives survives a sweep, however old (an
 * upload to assay serve may take hours); one whose owner died (a killed
 * add, a killed server) goes at once, whatever its age: its lock died with
 * it. Other leftovers in the staging go once older than the grace. */
Test(ingest, gc_removes_the_staging_of_a_dead_add_at_once_and_keeps_a_live_one)
{
    char live[4096], dead[4096];
    int lock = -1;
    size_t staged, orphans;
    cr_assert_eq(assay_blob_stagedir(live, sizeof live, &lock, lab.blobs, "add"), 0, "%s",
                 assay_error_last()->message);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) { /* an add that dies with its staging directory made */
        int l;
        close(p[0]);
        if (assay_blob_stagedir(dead, sizeof dead, &l, lab.blobs, "add") < 0)
            _exit(1);
        ssize_t n = write(p[1], dead, strlen(dead) + 1);
        _exit(n > 0 ? 0 : 1);
    }
    close(p[1]);
    ssize_t n = read(p[0], dead, sizeof dead);
    close(p[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(n > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(access(dead, F_OK), 0);
    cr_assert_eq(assay_package_gc(&lab, 3600, &staged, &orphans), 0);
    cr_assert_eq(staged, 1);
    cr_assert_eq(access(dead, F_OK), -1, "the dead add's staging stays");
    cr_assert_eq(access(live, F_OK), 0, "a live add's staging went");

    char upload[4096], stray[4200];
    int ulock = -1;
    cr_assert_eq(assay_blob_stagedir(upload, sizeof upload, &ulock, lab.blobs, "upload"), 0);
    snprintf(stray, sizeof stray, "%s/tmp/blob-left", lab.blobs);
    FILE *f = fopen(stray, "w");
    cr_assert_not_null(f);
    fclose(f);
    struct timespec old[2] = {{1000000, 0}, {1000000, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, live, old, 0), 0);
    cr_assert_eq(utimensat(AT_FDCWD, upload, old, 0), 0);
    cr_assert_eq(utimensat(AT_FDCWD, stray, old, 0), 0);
    cr_assert_eq(assay_package_gc(&lab, 0, &staged, &orphans), 0);
    cr_assert_eq(staged, 1, "only the stray file went");
    cr_assert_eq(access(stray, F_OK), -1);
    cr_assert_eq(access(live, F_OK), 0, "a live add's staging went for its age");
    cr_assert_eq(access(upload, F_OK), 0, "a live upload's staging went for its age");
    assay_blob_unstage(upload, ulock);
    cr_assert_eq(access(upload, F_OK), -1);
    assay_blob_unstage(live, lock);
    cr_assert_eq(access(live, F_OK), -1);
}

/* Only assay serve's own staged files are taken (moved into the store):
 * a path from elsewhere is refused and left where it is. */
Test(ingest, only_a_staged_upload_is_taken)
{
    char id[65], up[4300];
    int existed;
    cr_assert_eq(assay_package_add(&lab, CORPUS "/ok.tar.gz", ASSAY_ADD_TAKE, id, &existed), ASSAY_EINVAL);
    cr_assert(strstr(assay_error_last()->message, "only a file in the blob store's staging"), "%s",
              assay_error_last()->message);
    cr_assert_eq(access(CORPUS "/ok.tar.gz", F_OK), 0, "a file from elsewhere was taken");
    snprintf(up, sizeof up, "%s/tmp/../../escape.tar.gz", lab.blobs);
    cr_assert_eq(assay_package_add(&lab, up, ASSAY_ADD_TAKE, id, &existed), ASSAY_EINVAL);
    char stage[4096], sub[4200];
    int lock;
    cr_assert_eq(assay_blob_stagedir(stage, sizeof stage, &lock, lab.blobs, "upload"), 0);
    snprintf(sub, sizeof sub, "%s/ok.tar.gz", stage);
    cr_assert_eq(th_run(NULL, 0, "cp %s %s", CORPUS "/ok.tar.gz", sub), 0);
    cr_assert_eq(assay_package_add(&lab, sub, ASSAY_ADD_TAKE, id, &existed), 0, "%s", assay_error_last()->message);
    cr_assert_eq(access(sub, F_OK), -1, "the staged upload was not taken");
    assay_blob_unstage(stage, lock);
}

Test(ingest, a_package_without_preflight_gets_it_on_the_next_add)
{
    /* A package from before preflight was stored in the add's transaction
     * (or a store written by hand): pending, and the next add of the same
     * file, inspect or run submit completes it. */
    char id[65];
    int existed;
    cr_assert_eq(assay_package_add(&lab, CORPUS "/ok-deb-rpm.tar.gz", ASSAY_ADD_COPY, id, &existed), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_store_package_set_preflight(lab.store, id, NULL), 0);
    char *pf = assay_store_package_preflight(lab.store, id);
    cr_assert_null(pf);
    cr_assert_eq(assay_package_add(&lab, CORPUS "/ok-deb-rpm.tar.gz", ASSAY_ADD_COPY, id, &existed), 0, "%s", assay_error_last()->message);
    cr_assert(existed);
    pf = assay_store_package_preflight(lab.store, id);
    cr_assert_not_null(pf, "the re-add did not complete the pending preflight");
    free(pf);
}
