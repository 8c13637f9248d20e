/*
 * Host facts from recorded files of real machines (tests/fixtures/hosts,
 * sources in SOURCES.md there): CPU family and model from /proc/cpuinfo as
 * each architecture's agent reads it, OS identity from release files, and
 * hostile input that must not crash the parser.
 */
#include "facts.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX ASSAY_SOURCE_DIR "/tests/fixtures/hosts/"

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *cpu_of(const char *dir, const char *arch)
{
    char path[512];
    snprintf(path, sizeof path, FIX "%s/proc/cpuinfo", dir);
    char *text = th_slurp(path, NULL);
    cr_assert_not_null(text, "missing fixture %s", path);
    cJSON *c = assay_facts_cpu(arch, text);
    free(text);
    cr_assert_not_null(c);
    return c;
}

static void want_cpu(const char *dir, const char *arch, const char *vendor, const char *family,
                     const char *model_has, int listed)
{
    cJSON *c = cpu_of(dir, arch);
    cr_assert_str_eq(str(c, "vendor"), vendor, "%s", dir);
    cr_assert_str_eq(str(c, "family"), family, "%s", dir);
    cr_assert(str(c, "model") && strstr(str(c, "model"), model_has), "%s: model %s", dir, str(c, "model"));
    cr_assert_eq(cJSON_GetObjectItem(c, "cores_listed")->valueint, listed, "%s", dir);
    cJSON_Delete(c);
}

Test(agent_facts, kunpeng_920)
{
    want_cpu("kunpeng920-taishan2280", "aarch64", "HiSilicon", "kunpeng", "Kunpeng 920", 4);
    cJSON *c = cpu_of("kunpeng920-taishan2280", "aarch64");
    cr_assert_str_eq(str(c, "implementer"), "0x48");
    cr_assert_str_eq(str(c, "part"), "0xd01");
    cJSON_Delete(c);
}

Test(agent_facts, phytium)
{
    want_cpu("phytium-ft2000plus", "aarch64", "Phytium", "phytium", "FT-2000+/64", 1);
    want_cpu("phytium-ft2000-4", "aarch64", "Phytium", "phytium", "FTC663", 4);
    want_cpu("phytium-d2000-8", "aarch64", "Phytium", "phytium", "D2000", 4);
    cJSON *c = cpu_of("phytium-d2000-8", "aarch64");
    cr_assert_str_eq(str(c, "model_name"), "Phytium,D2000/8");
    cJSON_Delete(c);
}

Test(agent_facts, loongson)
{
    want_cpu("loongson-3c5000", "loongarch64", "Loongson", "loongson", "Loongson-3C5000", 4);
    want_cpu("loongson-3a5000m-laptop", "loongarch64", "Loongson", "loongson", "Loongson-3A5000M", 4);
    /* Older Loongnix kernels write the keys in lower case. */
    want_cpu("loongson-3a5000-hv-loongnix", "loongarch64", "Loongson", "loongson", "Loongson-3A5000-HV", 4);
}

Test(agent_facts, zhaoxin)
{
    want_cpu("zhaoxin-kx-u6780a", "x86_64", "Zhaoxin", "zhaoxin", "ZHAOXIN KaiXian KX-U6780A", 1);
    want_cpu("zhaoxin-kx-u6780a-uos-20", "x86_64", "Zhaoxin", "zhaoxin", "KX-U6780A", 1);
}

Test(agent_facts, a_cpuinfo_of_another_architecture_names_no_family)
{
    /* What an aarch64 agent sees on an x86 host under old qemu: no ids. */
    cJSON *c = cpu_of("zhaoxin-kx-u6780a", "aarch64");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(c, "family")));
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(c, "implementer")));
    cJSON_Delete(c);
    c = cpu_of("kunpeng920-taishan2280", "loongarch64");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(c, "family")));
    cJSON_Delete(c);
}

static cJSON *os_of(const char *dir)
{
    char root[512];
    snprintf(root, sizeof root, FIX "%s", dir);
    setenv("ASSAY_FACTS_ROOT", root, 1);
    cJSON *o = assay_facts_os();
    unsetenv("ASSAY_FACTS_ROOT");
    cr_assert_not_null(o);
    return o;
}

Test(agent_facts, kylin_v10)
{
    cJSON *o = os_of("os-kylin-v10-sp2");
    cr_assert_str_eq(str(o, "id"), "kylin");
    cr_assert_str_eq(str(o, "version_id"), "V10");
    cr_assert_str_eq(str(o, "name"), "Kylin Linux Advanced Server");
    const cJSON *rel = cJSON_GetObjectItem(o, "release_files");
    /* The service pack is only in .productinfo. */
    cr_assert(strstr(str(rel, ".productinfo"), "V10 (SP2)") != NULL, "%s", str(rel, ".productinfo"));
    cr_assert_not_null(str(rel, "kylin-release"));
    cJSON_Delete(o);
    o = os_of("os-kylin-v10-sp3");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "id")), "no os-release recorded there");
    cr_assert(strstr(str(cJSON_GetObjectItem(o, "release_files"), ".productinfo"), "SP3") != NULL);
    cJSON_Delete(o);
}

Test(agent_facts, uos_20)
{
    cJSON *o = os_of("zhaoxin-kx-u6780a-uos-20");
    cr_assert_str_eq(str(o, "id"), "uos");
    cr_assert_str_eq(str(o, "version_id"), "20");
    const cJSON *ov = cJSON_GetObjectItem(o, "os_version");
    cr_assert_not_null(ov, "UOS's /etc/os-version not read");
    cr_assert_str_eq(str(ov, "SystemName"), "UnionTech OS Desktop");
    cr_assert_str_eq(str(ov, "MinorVersion"), "1050");
    cr_assert_str_eq(str(ov, "EditionName"), "E");
    cJSON_Delete(o);
    o = os_of("os-uos-server-20-fou"); /* unquoted ID, no final newline */
    cr_assert_str_eq(str(o, "id"), "UOS");
    cr_assert_str_eq(str(o, "version_id"), "20");
    cJSON_Delete(o);
}

Test(agent_facts, openeuler_22_03)
{
    cJSON *o = os_of("os-openeuler-22.03-lts");
    cr_assert_str_eq(str(o, "id"), "openEuler");
    cr_assert_str_eq(str(o, "version_id"), "22.03");
    cr_assert_str_eq(str(cJSON_GetObjectItem(o, "release_files"), "openEuler-release"),
                     "openEuler release 22.03 LTS");
    cJSON_Delete(o);
}

Test(agent_facts, hostile_cpuinfo_does_not_crash)
{
    const char *cases[] = {
        "", ":", "::::", "\n\n\n", "CPU implementer", "CPU implementer\t:", "CPU part : 0xd01",
        "CPU implementer : 0xffffffffffffffffffff\nCPU part : -1\n", "model name\t:\n",
        "processor\nprocessor:\nprocessor :\n",
    };
    const char *arches[] = {"aarch64", "x86_64", "loongarch64", "riscv64"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t a = 0; a < 4; a++) {
            cJSON *c = assay_facts_cpu(arches[a], cases[i]);
            cr_assert_not_null(c);
            cJSON_Delete(c);
        }
    /* A very long line and binary bytes. */
    size_t n = 300000;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(1 + (i * 7919) % 255);
    memcpy(big, "model name : ", 13);
    big[n] = '\0';
    cJSON *c = assay_facts_cpu("x86_64", big);
    cr_assert_not_null(c);
    cr_assert_lt(strlen(str(c, "model_name")), 256u);
    cJSON_Delete(c);
    free(big);
}

Test(agent_facts, the_real_host)
{
    cJSON *f;
    cr_assert_eq(assay_facts_collect(&f), 0);
    cr_assert_str_eq(str(f, "arch"), "x86_64");
    cr_assert_not_null(str(f, "glibc"), "the host's glibc was not found");
    cr_assert(strncmp(str(f, "glibc"), "2.", 2) == 0);
    cr_assert_not_null(str(f, "memory_bytes"));
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "emulation"), "emulated")));
    cJSON_Delete(f);
}

/* What affects a benchmark, from a made-up host tree: load, free memory,
 * governor, clock, SMT; a host that says nothing gives nulls. */
Test(agent_facts, environment_of_a_benchmark)
{
    char root[] = "/tmp/assay-facts-XXXXXX";
    cr_assert_not_null(mkdtemp(root));
    cr_assert_eq(th_run(NULL, 0,
                        "cd %s && mkdir -p proc sys/devices/system/cpu/cpu0/cpufreq sys/devices/system/cpu/smt && "
                        "echo '0.52 0.31 0.20 1/123 4567' > proc/loadavg && "
                        "printf 'MemTotal: 8000000 kB\\nMemFree: 100 kB\\nMemAvailable: 6000000 kB\\n' > proc/meminfo && "
                        "echo performance > sys/devices/system/cpu/cpu0/cpufreq/scaling_governor && "
                        "echo 2600000 > sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq && "
                        "echo 3000000 > sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq && "
                        "echo off > sys/devices/system/cpu/smt/control && echo 0 > sys/devices/system/cpu/smt/active",
                        root),
                 0);
    setenv("ASSAY_FACTS_ROOT", root, 1);
    cJSON *e = assay_facts_environment();
    cr_assert_not_null(e);
    const cJSON *la = cJSON_GetObjectItem(e, "load_avg");
    cr_expect_eq(cJSON_GetArraySize(la), 3);
    cr_expect_float_eq(cJSON_GetArrayItem(la, 0)->valuedouble, 0.52, 1e-9);
    cr_expect_str_eq(str(e, "memory_available_bytes"), "6144000000");
    cr_expect_str_eq(str(e, "governor"), "performance");
    cr_expect_float_eq(cJSON_GetObjectItem(e, "cpu0_mhz")->valuedouble, 2600, 1e-9);
    cr_expect_float_eq(cJSON_GetObjectItem(e, "cpu0_max_mhz")->valuedouble, 3000, 1e-9);
    cr_expect_str_eq(str(e, "smt"), "off");
    cr_expect_float_eq(cJSON_GetObjectItem(e, "smt_active")->valuedouble, 0, 1e-9);
    cJSON_Delete(e);
    /* Nothing there: every fact null, none guessed. */
    th_run(NULL, 0, "rm -rf %s/proc %s/sys", root, root);
    e = assay_facts_environment();
    const cJSON *v;
    cJSON_ArrayForEach(v, e) cr_expect(cJSON_IsNull(v), "%s is not null", v->string);
    cJSON_Delete(e);
    unsetenv("ASSAY_FACTS_ROOT");
    th_run(NULL, 0, "rm -rf %s", root);
}
