/*
 * The ELF reader on real binaries built here (gcc, the aarch64 and
 * loongarch64 cross compilers), and on damaged copies of them: it must
 * report what preflight needs and never read outside the file.
 */
#include "helpers.h"
#include "package.h"
#include "assay/elf.h"
#include "assay/error.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIN ASSAY_BINARY_DIR "/elf-corpus"

static assay_elf_info *load(const char *name)
{
    char path[300];
    size_t len;
    snprintf(path, sizeof path, BIN "/%s", name);
    char *buf = th_slurp(path, &len);
    cr_assert_not_null(buf, "no %s (the elf-corpus fixture builds it)", path);
    assay_elf_info *info;
    cr_assert_eq(assay_elf_read(&info, buf, len), 0, "%s: %s", name, assay_error_last()->message);
    free(buf);
    return info;
}

static int has_vreq(const assay_elf_info *i, const char *version)
{
    for (size_t k = 0; k < i->nvreqs; k++)
        if (!strcmp(i->vreqs[k].version, version))
            return 1;
    return 0;
}

static const char *sym_version(const assay_elf_info *i, const char *sym)
{
    for (size_t k = 0; k < i->nvsyms; k++)
        if (!strcmp(i->vsyms[k].name, sym))
            return i->vsyms[k].version;
    return NULL;
}

Test(elf, a_native_binary)
{
    assay_elf_info *i = load("hello-x86_64");
    cr_assert_eq(i->id.machine, 62);
    cr_assert_str_eq(i->interp, "/lib64/ld-linux-x86-64.so.2");
    cr_assert_eq(i->nneeded, 1);
    cr_assert_str_eq(i->needed[0], "libc.so.6");
    /* Linked against glibc 2.36: __libc_start_main@GLIBC_2.34. */
    cr_assert_str_eq(sym_version(i, "__libc_start_main"), "GLIBC_2.34");
    cr_assert(has_vreq(i, "GLIBC_2.34"));
    cr_assert_eq(i->x86_isa_needed, 1, "Debian 12 binutils marks binaries x86-64-baseline");
    cr_assert_geq(i->min_load_align, 4096);
    assay_elf_info_free(i);
}

Test(elf, a_newer_glibc_symbol_is_named)
{
    assay_elf_info *i = load("arc4random-x86_64");
    cr_assert_str_eq(sym_version(i, "arc4random"), "GLIBC_2.36");
    assay_elf_info_free(i);
}

Test(elf, cxx_versions)
{
    assay_elf_info *i = load("cxx-x86_64");
    int glibcxx = 0, cxxabi = 0;
    for (size_t k = 0; k < i->nvreqs; k++) {
        glibcxx |= !strncmp(i->vreqs[k].version, "GLIBCXX_3.4", 11) && !strcmp(i->vreqs[k].file, "libstdc++.so.6");
        cxxabi |= !strncmp(i->vreqs[k].version, "CXXABI_1.3", 10);
    }
    cr_assert(glibcxx && cxxabi);
    int found = 0;
    for (size_t k = 0; k < i->nneeded; k++)
        found |= !strcmp(i->needed[k], "libstdc++.so.6");
    cr_assert(found);
    assay_elf_info_free(i);
}

Test(elf, an_x86_64_v3_binary)
{
    assay_elf_info *i = load("hello-x86_64-v3");
    cr_assert_eq(i->x86_isa_needed, 3);
    assay_elf_info_free(i);
}

Test(elf, aarch64_and_its_page_alignment)
{
    assay_elf_info *i = load("hello-aarch64");
    cr_assert_eq(i->id.machine, 183);
    cr_assert_str_eq(i->interp, "/lib/ld-linux-aarch64.so.1");
    cr_assert_eq(i->min_load_align, 65536, "binutils aligns aarch64 segments to 64 KiB by default");
    assay_elf_info_free(i);
    i = load("hello-aarch64-4k");
    cr_assert_eq(i->min_load_align, 4096, "a 4 KiB-aligned build, which a 64 KiB-page kernel cannot load");
    assay_elf_info_free(i);
}

Test(elf, loongarch_worlds)
{
    assay_elf_info *i = load("hello-loongarch64");
    cr_assert_eq(i->id.machine, 258);
    cr_assert_str_eq(i->interp, "/lib64/ld-linux-loongarch-lp64d.so.1");
    cr_assert_str_eq(assay_elf_loongarch_world(i), "new");
    assay_elf_info_free(i);
    i = load("hello-loongarch64-oldworld");
    cr_assert_str_eq(i->interp, "/lib64/ld.so.1");
    cr_assert_eq(i->id.flags & 0xc0, 0);
    cr_assert_str_eq(assay_elf_loongarch_world(i), "old");
    assay_elf_info_free(i);
    i = load("hello-x86_64");
    cr_assert_null(assay_elf_loongarch_world(i));
    assay_elf_info_free(i);
}

Test(elf, every_truncation_and_many_corruptions_are_safe)
{
    const char *names[] = {"hello-x86_64", "cxx-x86_64", "hello-aarch64", "hello-loongarch64"};
    for (size_t n = 0; n < 4; n++) {
        char path[300];
        size_t len;
        snprintf(path, sizeof path, BIN "/%s", names[n]);
        unsigned char *orig = (unsigned char *)th_slurp(path, &len);
        cr_assert_not_null(orig);
        /* Every prefix, each in a buffer of exactly that size (ASan sees a
         * read past the end). */
        for (size_t cut = 0; cut < len; cut += cut < 4096 ? 1 : 97) {
            unsigned char *b = malloc(cut ? cut : 1);
            memcpy(b, orig, cut);
            assay_elf_info *i = NULL;
            if (assay_elf_read(&i, b, cut) == 0)
                assay_elf_info_free(i);
            free(b);
        }
        /* Random corruption of headers and tables. */
        unsigned seed = 12345;
        unsigned char *b = malloc(len);
        for (int round = 0; round < 3000; round++) {
            memcpy(b, orig, len);
            for (int k = 0; k < 8; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = (seed >> 4) % (len < 8192 ? len : 8192);
                if (round % 2)
                    at = (seed >> 4) % len;
                b[at] = (unsigned char)(seed >> 24);
            }
            assay_elf_info *i = NULL;
            if (assay_elf_read(&i, b, len) == 0)
                assay_elf_info_free(i);
        }
        free(b);
        free(orig);
    }
}

Test(elf, not_elf_is_an_error)
{
    assay_elf_info *i;
    cr_assert_eq(assay_elf_read(&i, "#!/bin/sh\n", 10), ASSAY_EINVAL);
    cr_assert_eq(assay_elf_read(&i, "\177ELF", 4), ASSAY_EINVAL);
}

Test(elf, version_order)
{
    cr_assert_lt(assay_version_cmp("2.28", "2.34"), 0);
    cr_assert_lt(assay_version_cmp("3.4.9", "3.4.29"), 0);
    cr_assert_eq(assay_version_cmp("2.34", "2.34"), 0);
    cr_assert_gt(assay_version_cmp("2.4", "2.3.9"), 0);
}

/* ---- preflight checks against targets ------------------------------------ */

#include "assay/preflight.h"

static cJSON *check(const char *name, const assay_target *t, int *errors)
{
    assay_elf_info *i = load(name);
    cJSON *f = cJSON_CreateArray();
    *errors = assay_preflight_elf(f, i, t);
    assay_elf_info_free(i);
    cr_assert_geq(*errors, 0);
    return f;
}

static const cJSON *finding(const cJSON *f, const char *check_name)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, f) if (!strcmp(cJSON_GetObjectItem(x, "check")->valuestring, check_name)) return x;
    return NULL;
}

static const assay_target kylin_x86 = {"x86_64", NULL, "2.28", "3.4.24", 4096, 2, "4.19"};
static const assay_target kylin_kunpeng = {"aarch64", NULL, "2.28", "3.4.24", 65536, 0, "4.19"};

Test(preflight, glibc_too_new_names_the_symbols)
{
    int errors;
    cJSON *f = check("hello-x86_64", &kylin_x86, &errors);
    const cJSON *g = finding(f, "glibc");
    cr_assert_not_null(g, "a glibc 2.36 build must not pass for glibc 2.28");
    cr_assert_str_eq(cJSON_GetObjectItem(g, "severity")->valuestring, "error");
    cr_assert(strstr(cJSON_GetObjectItem(g, "found")->valuestring, "__libc_start_main@GLIBC_2.34"));
    cr_assert(strstr(cJSON_GetObjectItem(g, "expected")->valuestring, "GLIBC_2.28"));
    cJSON_Delete(f);
    f = check("arc4random-x86_64", &kylin_x86, &errors);
    cr_assert(strstr(cJSON_GetObjectItem(finding(f, "glibc"), "found")->valuestring, "GLIBC_2.36"));
    cr_assert(strstr(cJSON_GetObjectItem(finding(f, "glibc"), "hint")->valuestring, "arc4random@GLIBC_2.36"));
    cJSON_Delete(f);
    /* The same binary on a glibc 2.36 target is fine. */
    assay_target new = kylin_x86;
    new.glibc = "2.36";
    f = check("arc4random-x86_64", &new, &errors);
    cr_assert_eq(errors, 0);
    cJSON_Delete(f);
}

Test(preflight, libstdcxx_too_new)
{
    int errors;
    cJSON *f = check("cxx-x86_64", &kylin_x86, &errors);
    cr_assert_not_null(finding(f, "glibcxx"), "GCC 12's libstdc++ symbols on a GCC 7 target");
    cJSON_Delete(f);
}

Test(preflight, x86_isa_level)
{
    int errors;
    cJSON *f = check("hello-x86_64-v3", &kylin_x86, &errors);
    const cJSON *x = finding(f, "x86-isa");
    cr_assert_not_null(x, "an x86-64-v3 binary on a v2 Zhaoxin CPU");
    cr_assert_str_eq(cJSON_GetObjectItem(x, "found")->valuestring, "x86-64-v3");
    cJSON_Delete(f);
    f = check("hello-x86_64", &kylin_x86, &errors);
    cr_assert_null(finding(f, "x86-isa"), "baseline is fine");
    cJSON_Delete(f);
}

Test(preflight, page_alignment)
{
    int errors;
    cJSON *f = check("hello-aarch64-4k", &kylin_kunpeng, &errors);
    const cJSON *p = finding(f, "page-size");
    cr_assert_not_null(p, "4 KiB-aligned segments on a 64 KiB-page kernel");
    cr_assert(strstr(cJSON_GetObjectItem(p, "hint")->valuestring, "max-page-size=65536"));
    cJSON_Delete(f);
    f = check("hello-aarch64", &kylin_kunpeng, &errors);
    cr_assert_null(finding(f, "page-size"));
    cJSON_Delete(f);
}

Test(preflight, architecture_and_loongarch_world)
{
    int errors;
    cJSON *f = check("hello-aarch64", &kylin_x86, &errors);
    cr_assert_eq(errors, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(finding(f, "arch"), "found")->valuestring, "aarch64");
    cJSON_Delete(f);
    assay_target old = {"loongarch64", "old", "2.28", NULL, 16384, 0, NULL};
    f = check("hello-loongarch64", &old, &errors);
    cr_assert_not_null(finding(f, "loongarch-world"), "a new-world binary on an old-world OS");
    cJSON_Delete(f);
    f = check("hello-loongarch64-oldworld", &old, &errors);
    cr_assert_null(finding(f, "loongarch-world"));
    cJSON_Delete(f);
}

Test(preflight, cxxabi_against_an_old_libstdcxx)
{
    /* Over-aligned new needs CXXABI_1.3.11 (GCC 7): fine for GCC 7's
     * libstdc++ (3.4.24), named for GCC 6's (3.4.22, CXXABI_1.3.10). */
    int errors;
    cJSON *f = check("cxx-x86_64", &kylin_x86, &errors);
    cr_assert_null(finding(f, "cxxabi"), "CXXABI_1.3.11 is in GCC 7's libstdc++");
    cJSON_Delete(f);
    assay_target gcc6 = kylin_x86;
    gcc6.libstdcxx = "3.4.22";
    f = check("cxx-x86_64", &gcc6, &errors);
    const cJSON *x = finding(f, "cxxabi");
    cr_assert_not_null(x, "CXXABI_1.3.11 on a libstdc++ that has 1.3.10");
    cr_assert(strstr(cJSON_GetObjectItem(x, "found")->valuestring, "CXXABI_1.3.11"), "%s",
              cJSON_GetObjectItem(x, "found")->valuestring);
    cJSON_Delete(f);
}

/* ---- crafted files: bounded time, bounded memory ---------------------------
 * tests/data/make-hostile-elf.py (run by the elf-corpus fixture) makes the
 * files that cost the reader minutes or gigabytes before (issue 19). Each
 * is read in a child with 10 s of CPU and 256 MiB of address space on top
 * of what it holds: a blow-up kills the child (SIGXCPU, or the allocator
 * failing), which fails the test. */

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOSTILE ASSAY_BINARY_DIR "/elf-corpus/hostile"

/* The reader's outcome on hostile file `name`, as one line. */
static void bounded_read(const char *name, char *out, size_t outlen)
{
    char path[300];
    int fds[2];
    snprintf(path, sizeof path, HOSTILE "/%s", name);
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0 && fstat(fd, &st) == 0, "no %s (the elf-corpus fixture makes it)", path);
    size_t len = (size_t)st.st_size;
    void *buf = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    cr_assert(buf != MAP_FAILED);
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        unsigned long vm = 0;
        FILE *sf = fopen("/proc/self/statm", "r");
        if (!sf || fscanf(sf, "%lu", &vm) != 1)
            _exit(3);
        fclose(sf);
        struct rlimit cpu = {10, 10}, as;
        as.rlim_cur = as.rlim_max = vm * (unsigned long)sysconf(_SC_PAGESIZE) + (256ul << 20);
        if (setrlimit(RLIMIT_CPU, &cpu) || setrlimit(RLIMIT_AS, &as))
            _exit(4);
        assay_elf_info *i = NULL;
        char line[600];
        int rc = assay_elf_read(&i, buf, len);
        if (rc == 0)
            snprintf(line, sizeof line, "ok needed=%zu soname=%.8s vreqs=%zu vsyms=%zu/%zu first=%s@%s", i->nneeded,
                     i->soname, i->nvreqs, i->nvsyms, i->nvsyms_all, i->nvsyms ? i->vsyms[0].name : "",
                     i->nvsyms ? i->vsyms[0].version : "");
        else
            snprintf(line, sizeof line, "%s: %s", assay_error_name(rc), assay_error_last()->message);
        assay_elf_info_free(i);
        _exit(write(fds[1], line, strlen(line)) == (ssize_t)strlen(line) ? 0 : 5);
    }
    close(fds[1]);
    munmap(buf, len);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < outlen && (n = read(fds[0], out + got, outlen - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: the reader died (signal %d, status %d): over its "
              "CPU or memory bound?", name, WIFSIGNALED(status) ? WTERMSIG(status) : 0,
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void expect_read(const char *name, const char *want)
{
    char got[600];
    bounded_read(name, got, sizeof got);
    cr_assert_str_eq(got, want, "%s", name);
}

Test(elf_bounds, a_version_walk_of_65535_per_record_is_too_large)
{
    /* 16 MiB of .gnu.version_r: 159 s of CPU before. */
    expect_read("verneed-walk", "ETOOBIG: too large to check: more than 8192 records in .gnu.version_r");
    expect_read("verneed-shared", "ETOOBIG: too large to check: more than 8192 records in .gnu.version_r");
}

Test(elf_bounds, wrapping_version_links_end_the_walk)
{
    /* vn_next and vna_next of -16 in 32 bits: past the section, not back. */
    expect_read("vn-next-cycle", "ok needed=0 soname= vreqs=1 vsyms=0/0 first=@");
}

Test(elf_bounds, symbol_versions_are_matched_in_linear_time)
{
    /* 2^20 undefined symbols (the cap, exactly) needing the last of 8 000
     * versions: a search per symbol was quadratic. Five are kept. */
    expect_read("symbol-versions", "ok needed=0 soname= vreqs=8000 vsyms=5/1048575 first=sym@V_7999");
}

Test(elf_bounds, names_are_found_without_scanning_the_string_table)
{
    /* 8 000 DT_SONAME entries naming the start of a 4 MiB string table with
     * one NUL at its end. */
    expect_read("strtab-scan", "ok needed=0 soname=aaaaaaaa vreqs=0 vsyms=0/0 first=@");
}

Test(elf_bounds, caps_make_a_file_too_large_to_check)
{
    expect_read("needed-1m", "ETOOBIG: too large to check: more than 1024 DT_NEEDED entries");
    expect_read("dynamic-long", "ETOOBIG: too large to check: more than 8192 dynamic entries");
    expect_read("notes-overlap", "ETOOBIG: too large to check: more than 4096 note records");
    expect_read("symbols-over-cap", "ETOOBIG: too large to check: more than 1048576 dynamic symbols");
    expect_read("needed-many", "ok needed=1000 soname= vreqs=0 vsyms=0/0 first=@");
}

Test(elf_bounds, the_first_symbols_of_each_version_name_the_same_ones)
{
    /* Only ASSAY_ELF_SYMS_PER_VERSION symbols of each version are kept:
     * preflight must still name the first symbols of the whole table, as
     * readelf lists them. With glibc 2.2.4 as the target every GLIBC_
     * symbol is too new, so the five named are the table's first five. */
    assay_elf_info *i = load("many-x86_64");
    cr_assert_gt(i->nvsyms_all, i->nvsyms, "the file must have more symbols than are kept");
    char want[400], line[200] = "";
    cr_assert_eq(th_run(want, sizeof want,
                        "readelf -W --dyn-syms " BIN "/many-x86_64 | awk '$7 == \"UND\" && $8 ~ /@GLIBC_/ "
                        "{ printf \"%%s%%s\", n++ ? \", \" : \"\", $8 } n == 5 { exit }'"),
                 0, "%s", want);
    assay_target t = {"x86_64", NULL, "2.2.4", NULL, 4096, 0, NULL};
    cJSON *f = cJSON_CreateArray();
    cr_assert_geq(assay_preflight_elf(f, i, &t), 1);
    const cJSON *g = finding(f, "glibc");
    cr_assert_not_null(g);
    snprintf(line, sizeof line, "(%s)", want);
    cr_assert(strstr(cJSON_GetObjectItem(g, "found")->valuestring, line), "%s does not name %s",
              cJSON_GetObjectItem(g, "found")->valuestring, line);
    cJSON_Delete(f);
    assay_elf_info_free(i);
}

/* ---- the package's preflight result stays small --------------------------- */

#include "lab.h"
#include "package.h"
#include "pkgcheck.h"

static char pkdir[] = "/tmp/assay-elfpk-XXXXXX";
static assay_lab pklab;

static void pk_setup(void)
{
    char dir[300];
    cr_assert_not_null(mkdtemp(pkdir));
    snprintf(dir, sizeof dir, "%s/lab", pkdir);
    cr_assert_eq(assay_lab_init(dir, ASSAY_KEY_ED25519, "test"), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_lab_open(&pklab, dir), 0);
}

static void pk_teardown(void)
{
    assay_lab_close(&pklab);
    th_run(NULL, 0, "rm -rf %s", pkdir);
}

/* Add a package made in a new folder `name` by the shell commands `make`,
 * which put its one x86_64 artifact `art` into s/; as an uncompressed tar,
 * so that no ratio cap is in play. */
static void add_package(char id[65], const char *name, const char *make, const char *art)
{
    char out[2048], sub[400];
    int existed;
    int rc = th_run(out, sizeof out,
                    "set -e; d=%s/%s; mkdir -p $d/s; cd $d; %s;"
                    "printf '%%s' '{\"manifest\":1,\"product\":\"p\",\"version\":\"1\",\"vendor\":\"v\",\"artifacts\":["
                    "{\"file\":\"%s\",\"arch\":\"x86_64\"}],\"install\":{\"command\":\"true\",\"timeout\":9},"
                    "\"uninstall\":{\"command\":\"true\",\"timeout\":9},\"tests\":[{\"id\":\"t\",\"command\":\"true\","
                    "\"timeout\":9}]}' > s/manifest.json; tar -C s -cf $d.tar .",
                    pkdir, name, make, art);
    cr_assert_eq(rc, 0, "%s", out);
    snprintf(sub, sizeof sub, "%s/%s.tar", pkdir, name);
    cr_assert_eq(assay_package_add(&pklab, sub, ASSAY_ADD_COPY, id, &existed), 0, "%s", assay_error_last()->message);
}

/* A package whose x86_64 artifact is the hostile file `name` itself, checked
 * against every profile; *printed: the size of the result as JSON. */
static cJSON *pkgcheck_of(const char *name, size_t *printed)
{
    char id[65], make[300];
    snprintf(make, sizeof make, "mkdir -p s/bin; cp " HOSTILE "/%s s/bin/tool", name);
    add_package(id, name, make, "bin/tool");
    cJSON *pf;
    cr_assert_eq(assay_package_preflight(&pf, &pklab, id, NULL, 0), 0, "%s", assay_error_last()->message);
    char *text = cJSON_PrintUnformatted(pf);
    *printed = strlen(text);
    free(text);
    return pf;
}

TestSuite(pkgcheck_bounds, .init = pk_setup, .fini = pk_teardown);

Test(pkgcheck_bounds, a_million_dt_needed_entries_give_one_small_finding_per_profile)
{
    size_t size;
    cJSON *pf = pkgcheck_of("needed-1m", &size), *p;
    int profiles = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(pf, "profiles"))
    {
        const cJSON *files = cJSON_GetObjectItem(p, "files");
        cr_assert_eq(cJSON_GetArraySize(files), 1);
        const cJSON *fl = cJSON_GetObjectItem(cJSON_GetArrayItem(files, 0), "findings");
        cr_assert_eq(cJSON_GetArraySize(fl), 1);
        const cJSON *x = cJSON_GetArrayItem(fl, 0);
        cr_assert_str_eq(cJSON_GetObjectItem(x, "check")->valuestring, "too-large");
        cr_assert_str_eq(cJSON_GetObjectItem(x, "severity")->valuestring, "warning");
        cr_assert_str_eq(cJSON_GetObjectItem(x, "found")->valuestring,
                         "too large to check: more than 1024 DT_NEEDED entries");
        cr_assert_eq(cJSON_GetObjectItem(p, "warnings")->valueint, 1);
        cr_assert_eq(cJSON_GetObjectItem(p, "errors")->valueint, 0);
        profiles++;
    }
    cr_assert_geq(profiles, 1, "no x86_64 profile checked the file");
    /* Before: one warning per entry per profile, 496 MB. */
    cr_assert_lt(size, 1024u * (size_t)profiles, "%zu bytes for %d profiles", size, profiles);
    cJSON_Delete(pf);
}

Test(pkgcheck_bounds, missing_libraries_are_one_warning_naming_the_first_few)
{
    size_t size;
    cJSON *pf = pkgcheck_of("needed-many", &size), *p;
    int named = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(pf, "profiles"))
    {
        const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "files"), 0), *x;
        cr_assert_leq(cJSON_GetObjectItem(p, "warnings")->valueint, 1);
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(f, "findings"))
        {
            if (strcmp(cJSON_GetObjectItem(x, "check")->valuestring, "library"))
                continue;
            cr_assert_str_eq(cJSON_GetObjectItem(x, "found")->valuestring,
                             "1000 libraries: libmissing0.so.1, libmissing1.so.1, libmissing2.so.1, "
                             "libmissing3.so.1, libmissing4.so.1 and 995 more");
            named++;
        }
    }
    cr_assert_geq(named, 1, "no profile with a library list checked the file");
    cr_assert_lt(size, 2048u * (size_t)named);
    cJSON_Delete(pf);
}

Test(pkgcheck_bounds, files_past_the_first_hundred_are_counted_not_listed)
{
    /* 101 copies of a glibc 2.36 build in a tarball: an error each on a
     * glibc 2.28 target, 100 listed. */
    char id[65];
    add_package(id, "many",
                "mkdir -p t/usr/bin s/pkgs; for i in $(seq 0 100); do cp " BIN "/hello-x86_64 t/usr/bin/hello$i; done;"
                "tar -C t -cf s/pkgs/many.tar usr",
                "pkgs/many.tar");
    char *profs[] = {"zhaoxin-kx6000-kylin-v10"};
    cJSON *pf;
    cr_assert_eq(assay_package_preflight(&pf, &pklab, id, profs, 1), 0, "%s", assay_error_last()->message);
    const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(pf, "profiles"), 0);
    cr_assert_eq(cJSON_GetObjectItem(p, "elf_files")->valueint, 101);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(p, "files")), 100);
    cr_assert_eq(cJSON_GetObjectItem(p, "files_unlisted")->valueint, 1);
    cr_assert_geq(cJSON_GetObjectItem(p, "errors")->valueint, 101, "every file's errors are counted");
    cJSON_Delete(pf);
}

/* Archives nested inside an artifact are opened, and their entries count
 * into the same tally as every other level's: 12 000 empty files in a
 * tarball inside the artifact's tarball cross the 10 000-entry cap. */
Test(pkgcheck_bounds, nested_archives_count_against_the_one_budget)
{
    char out[2048], sub[400], id[65];
    int existed;
    cr_assert_eq(th_run(out, sizeof out,
                        "set -e; d=%s/bomb; mkdir -p $d/in $d/s; cd $d/in; seq 1 12000 | xargs touch; cd $d;"
                        "tar -C in -czf inner.tar.gz .; tar -cf s/x.tar inner.tar.gz;"
                        "printf '%%s' '{\"manifest\":1,\"product\":\"p\",\"version\":\"1\",\"vendor\":\"v\","
                        "\"artifacts\":[{\"file\":\"x.tar\",\"arch\":\"x86_64\"}],\"install\":{\"command\":\"true\","
                        "\"timeout\":9},\"uninstall\":{\"command\":\"true\",\"timeout\":9},\"tests\":[{\"id\":\"t\","
                        "\"command\":\"true\",\"timeout\":9}]}' > s/manifest.json; tar -C s -cf $d.tar manifest.json x.tar",
                        pkdir),
                 0, "%s", out);
    snprintf(sub, sizeof sub, "%s/bomb.tar", pkdir);
    cr_assert_lt(assay_package_add(&pklab, sub, ASSAY_ADD_COPY, id, &existed), 0, "a nested archive escaped the entry cap");
    const char *why = assay_error_last()->message;
    cr_assert(strstr(why, "nested 'inner.tar.gz'") && strstr(why, "10000 entries"), "%s", why);
}

/* C++ symbols in findings are shown demangled (libiberty), with their
 * versions: std::filesystem needs GLIBCXX_3.4.26, above GCC 7's 3.4.24. */
Test(pkgcheck_bounds, cxx_symbols_are_demangled)
{
    char id[65];
    add_package(id, "cxx", "mkdir -p t/usr/bin s/pkgs; cp " BIN "/cxx-x86_64 t/usr/bin/cxx; tar -C t -cf s/pkgs/c.tar usr",
                "pkgs/c.tar");
    char *profs[] = {"zhaoxin-kh30000-kylin-v10"};
    cJSON *pf, *f, *fd;
    cr_assert_eq(assay_package_preflight(&pf, &pklab, id, profs, 1), 0, "%s", assay_error_last()->message);
    const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(pf, "profiles"), 0);
    int seen = 0;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(p, "files")) cJSON_ArrayForEach(fd, cJSON_GetObjectItem(f, "findings"))
    {
        if (strcmp(cJSON_GetObjectItem(fd, "check")->valuestring, "glibcxx"))
            continue;
        const char *hint = cJSON_GetObjectItem(fd, "hint")->valuestring;
        cr_assert(strstr(hint, "std::filesystem::") && strstr(hint, "@GLIBCXX_3.4.26"), "%s", hint);
        cr_assert_null(strstr(hint, "_ZNSt10filesystem"), "a mangled name is left: %s", hint);
        seen++;
    }
    cr_assert_eq(seen, 1);
    cJSON_Delete(pf);
}

/* ---- the agent's inspection on the host ----------------------------------- */

#include "inspect.h"

Test(elf_bounds, the_agent_reports_a_file_too_large_to_check)
{
    char *paths[] = {HOSTILE "/needed-1m", BIN "/hello-x86_64"};
    cJSON *facts = cJSON_Parse("{\"arch\":\"x86_64\",\"glibc\":\"2.36\"}"), *out;
    cr_assert_eq(assay_inspect_files(&out, paths, 2, NULL, facts), 0);
    const cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "files"), 0);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(f0, "elf")));
    const cJSON *fl = cJSON_GetObjectItem(f0, "findings");
    cr_assert_eq(cJSON_GetArraySize(fl), 1);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(fl, 0), "check")->valuestring, "too-large");
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(fl, 0), "found")->valuestring,
                     "too large to check: more than 1024 DT_NEEDED entries");
    cr_assert_eq(cJSON_GetObjectItem(out, "warnings")->valueint, 1);
    cr_assert_eq(cJSON_GetObjectItem(out, "errors")->valueint, 0, "hello-x86_64 runs on glibc 2.36");
    cJSON_Delete(out);
    cJSON_Delete(facts);
}
