/*
 * Host facts. Everything here is measured on the host: the agent is static,
 * so its own glibc says nothing about the host's; versions come from the
 * host's libraries, CPU identity from /proc/cpuinfo, the OS from its release
 * files. What cannot be measured is null.
 */
#include "facts.h"
#include "assay/elf.h"
#include "assay/error.h"
#include "assay/io.h"
#include "assay/version.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#define SMALL_CAP (256 * 1024) /* cpuinfo of a 256-core machine fits */

const char *assay_facts_root(void)
{
    const char *r = getenv("ASSAY_FACTS_ROOT");
    return r ? r : "";
}

/* Read up to cap-1 bytes of a (small, /proc or /etc) file, NUL-terminated.
 * Returns the length, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s%s", assay_facts_root(), path);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = assay_read_full(fd, buf, cap - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t lead = strspn(s, " \t");
    if (lead)
        memmove(s, s + lead, n - lead + 1);
}

/* Value of the first "key<ws>: value" line of a /proc/cpuinfo text, copied
 * into out; 0 if found. Keys compare case-insensitively (LoongArch kernels
 * write "Model Name", others "model name"). */
static int cpuinfo_get(const char *text, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    for (const char *line = text; *line; ) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *colon = memchr(line, ':', len);
        if (colon && strncasecmp(line, key, klen) == 0) {
            const char *k = line + klen;
            while (k < colon && (*k == ' ' || *k == '\t'))
                k++;
            if (k == colon) {
                size_t vlen = len - (size_t)(colon + 1 - line);
                if (vlen >= outlen)
                    vlen = outlen - 1;
                memcpy(out, colon + 1, vlen);
                out[vlen] = '\0';
                trim(out);
                return 0;
            }
        }
        if (!end)
            break;
        line = end + 1;
    }
    return -1;
}

static int count_lines_with(const char *text, const char *key)
{
    int n = 0;
    size_t klen = strlen(key);
    for (const char *line = text; line && *line; ) {
        if (strncasecmp(line, key, klen) == 0 && (line[klen] == ' ' || line[klen] == '\t' || line[klen] == ':'))
            n++;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return n;
}

struct part { unsigned impl, part; const char *family, *model; };

/* aarch64 MIDR implementer/part ids (Linux arch/arm64/include/asm/cputype.h). */
static const struct part arm_parts[] = {
    {0x48, 0xd01, "kunpeng", "Kunpeng 920 (TaiShan v110)"},
    {0x48, 0xd02, "kunpeng", "Kunpeng (HIP09)"},
    {0x70, 0x660, "phytium", "FT-1500A (FTC660)"},
    {0x70, 0x661, "phytium", "FT-2000A (FTC661)"},
    {0x70, 0x662, "phytium", "FT-2000+/64 (FTC662)"},
    {0x70, 0x663, "phytium", "FT-2000/4, D2000 or S2500 (FTC663)"},
    {0x70, 0x664, "phytium", "FTC664"},
    {0x70, 0x303, "phytium", "FTC310"},
    {0x70, 0x862, "phytium", "FTC862"},
    {0x41, 0xd03, "arm", "Cortex-A53"},
    {0x41, 0xd07, "arm", "Cortex-A57"},
    {0x41, 0xd08, "arm", "Cortex-A72"},
    {0x41, 0xd0b, "arm", "Cortex-A76"},
    {0x41, 0xd0c, "arm", "Neoverse-N1"},
    {0x41, 0xd40, "arm", "Neoverse-V1"},
    {0x41, 0xd49, "arm", "Neoverse-N2"},
};

static const char *arm_implementer(unsigned impl)
{
    switch (impl) {
    case 0x41: return "ARM";
    case 0x48: return "HiSilicon";
    case 0x70: return "Phytium";
    case 0x51: return "Qualcomm";
    case 0x61: return "Apple";
    case 0xc0: return "Ampere";
    default: return NULL;
    }
}

static int add_str_or_null(cJSON *o, const char *k, const char *v)
{
    return (v && *v ? cJSON_AddStringToObject(o, k, v) : cJSON_AddNullToObject(o, k)) ? 0 : -1;
}

static int add_u64(cJSON *o, const char *k, uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%" PRIu64, v);
    return cJSON_AddStringToObject(o, k, b) ? 0 : -1;
}

cJSON *assay_facts_cpu(const char *arch, const char *cpuinfo)
{
    cJSON *c = cJSON_CreateObject();
    char v[256], model_name[256] = "";
    const char *vendor = NULL, *family = NULL, *model = NULL;
    char impl_s[16] = "", part_s[16] = "";

    if (!c)
        return NULL;
    if (cpuinfo) {
        if (cpuinfo_get(cpuinfo, "model name", model_name, sizeof model_name) != 0)
            cpuinfo_get(cpuinfo, "Model Name", model_name, sizeof model_name);
    }
    if (cpuinfo && strcmp(arch, "aarch64") == 0 &&
        cpuinfo_get(cpuinfo, "CPU implementer", impl_s, sizeof impl_s) == 0 &&
        cpuinfo_get(cpuinfo, "CPU part", part_s, sizeof part_s) == 0) {
        unsigned impl = (unsigned)strtoul(impl_s, NULL, 0), part = (unsigned)strtoul(part_s, NULL, 0);
        vendor = arm_implementer(impl);
        for (size_t i = 0; i < sizeof arm_parts / sizeof arm_parts[0]; i++)
            if (arm_parts[i].impl == impl && arm_parts[i].part == part) {
                family = arm_parts[i].family;
                model = arm_parts[i].model;
            }
        if (!family && impl == 0x48)
            family = "kunpeng";
        if (!family && impl == 0x70)
            family = "phytium";
    } else if (cpuinfo && strcmp(arch, "x86_64") == 0 &&
               cpuinfo_get(cpuinfo, "vendor_id", v, sizeof v) == 0) {
        if (strcmp(v, "Shanghai") == 0 || strcmp(v, "CentaurHauls") == 0 ||
            strcasestr(model_name, "zhaoxin")) {
            vendor = "Zhaoxin";
            family = strcasestr(model_name, "zhaoxin") || strcmp(v, "Shanghai") == 0 ? "zhaoxin"
                                                                                     : "centaur";
        } else if (strcmp(v, "HygonGenuine") == 0) {
            vendor = "Hygon", family = "hygon";
        } else if (strcmp(v, "GenuineIntel") == 0) {
            vendor = "Intel", family = "intel";
        } else if (strcmp(v, "AuthenticAMD") == 0) {
            vendor = "AMD", family = "amd";
        }
        model = model_name;
    } else if (cpuinfo && strcmp(arch, "loongarch64") == 0) {
        if (strcasestr(model_name, "loongson")) {
            vendor = "Loongson", family = "loongson";
            model = model_name;
        }
    }
    /* x86-64 micro-architecture level from the CPU's flags (psABI levels). */
    int level = 0;
    char flags[4096];
    if (cpuinfo && strcmp(arch, "x86_64") == 0 && cpuinfo_get(cpuinfo, "flags", flags, sizeof flags) == 0) {
        static const char *const need[4][12] = {
            {"lm", "cmov", "cx8", "fpu", "fxsr", "mmx", "syscall", "sse2", NULL},
            {"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3", NULL},
            {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave", NULL},
            {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", NULL},
        };
        char padded[4100];
        snprintf(padded, sizeof padded, " %s ", flags);
        for (int l = 0; l < 4; l++) {
            int ok = 1;
            for (int k = 0; need[l][k] && ok; k++) {
                char w[32];
                snprintf(w, sizeof w, " %s ", need[l][k]);
                ok = strstr(padded, w) != NULL;
            }
            if (!ok)
                break;
            level = l + 1;
        }
    }
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int listed = cpuinfo ? count_lines_with(cpuinfo, "processor") : 0;
    if (add_str_or_null(c, "vendor", vendor) || add_str_or_null(c, "family", family) ||
        add_str_or_null(c, "model", model) || add_str_or_null(c, "model_name", model_name) ||
        add_str_or_null(c, "implementer", impl_s) || add_str_or_null(c, "part", part_s) ||
        !(level ? cJSON_AddNumberToObject(c, "x86_isa_level", level) : cJSON_AddNullToObject(c, "x86_isa_level")) ||
        !cJSON_AddNumberToObject(c, "cores_online", cores > 0 ? cores : 0) ||
        !cJSON_AddNumberToObject(c, "cores_listed", listed)) {
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

/* Parse os-release style KEY=VALUE (optionally quoted) for one key. */
static int kv_get(const char *text, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line; ) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
            const char *v = line + klen + 1;
            size_t vlen = len - klen - 1;
            if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
                v++;
                vlen -= 2;
            }
            if (vlen >= outlen)
                vlen = outlen - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return 0;
        }
        line = end ? end + 1 : NULL;
    }
    return -1;
}

cJSON *assay_facts_os(void)
{
    cJSON *o = cJSON_CreateObject();
    char *text = malloc(SMALL_CAP);
    if (!o || !text)
        goto fail;
    static const char *const keys[][2] = {
        {"ID", "id"}, {"ID_LIKE", "id_like"}, {"NAME", "name"}, {"VERSION", "version"},
        {"VERSION_ID", "version_id"}, {"PRETTY_NAME", "pretty_name"},
    };
    ssize_t n = read_small("/etc/os-release", text, 64 * 1024);
    if (n < 0)
        n = read_small("/usr/lib/os-release", text, 64 * 1024);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char v[256];
        if (add_str_or_null(o, keys[i][1], n >= 0 && kv_get(text, keys[i][0], v, sizeof v) == 0 ? v : NULL))
            goto fail;
    }
    /* Vendor release files say what os-release may not: Kylin's service
     * pack (.productinfo, kylin-release), UOS's edition and minor version
     * (os-version), openEuler's SP (openEuler-release). First lines only. */
    static const char *const files[] = {"/etc/kylin-release", "/etc/.productinfo",
                                        "/etc/openEuler-release", "/etc/uos-release"};
    cJSON *rel = cJSON_AddObjectToObject(o, "release_files");
    if (!rel)
        goto fail;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (read_small(files[i], text, 4096) < 0)
            continue;
        char *p = text;
        /* .productinfo puts the release on its second line: keep two. */
        char *nl = strchr(p, '\n');
        if (nl && i == 1 && nl[1]) {
            char *nl2 = strchr(nl + 1, '\n');
            if (nl2)
                *nl2 = '\0';
            *nl = ' ';
        } else if (nl) {
            *nl = '\0';
        }
        trim(p);
        if (!cJSON_AddStringToObject(rel, files[i] + 5, p))
            goto fail;
    }
    if (read_small("/etc/os-version", text, 16 * 1024) >= 0) {
        cJSON *ov = cJSON_AddObjectToObject(o, "os_version");
        static const char *const ukeys[] = {"SystemName", "ProductType", "EditionName",
                                            "MajorVersion", "MinorVersion", "OsBuild"};
        if (!ov)
            goto fail;
        for (size_t i = 0; i < sizeof ukeys / sizeof ukeys[0]; i++) {
            char v[256];
            if (kv_get(text, ukeys[i], v, sizeof v) == 0 && !cJSON_AddStringToObject(ov, ukeys[i], v))
                goto fail;
        }
    }
    free(text);
    return o;
fail:
    free(text);
    cJSON_Delete(o);
    return NULL;
}

static int vercmp(const unsigned a[3], const unsigned b[3])
{
    for (int i = 0; i < 3; i++)
        if (a[i] != b[i])
            return a[i] > b[i] ? 1 : -1;
    return 0;
}

/*
 * Scan a (possibly large) file for version strings, in chunks with overlap
 * so a match across a chunk boundary is still seen. For each occurrence of
 * `needle`, parse "A.B[.C]" right after it and keep the highest.
 */
static int scan_version(const char *path, const char *needle, char *out, size_t outlen)
{
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s%s", assay_facts_root(), path);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    enum { CHUNK = 64 * 1024, KEEP = 64 };
    static char buf[CHUNK + KEEP + 1];
    size_t nlen = strlen(needle), have = 0;
    unsigned best[3] = {0, 0, 0};
    int found = 0;
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (total += (uint64_t)n) > (64u << 20)) /* libraries are < 64 MiB */
            break;
        size_t len = have + (size_t)n;
        buf[len] = '\0';
        for (char *p = buf; (p = memmem(p, len - (size_t)(p - buf), needle, nlen)) != NULL; p++) {
            const char *q = p + nlen;
            unsigned v[3] = {0, 0, 0};
            int parts = 0;
            while (parts < 3 && q < buf + len && isdigit((unsigned char)*q)) {
                unsigned x = 0;
                while (q < buf + len && isdigit((unsigned char)*q) && x < 100000)
                    x = x * 10 + (unsigned)(*q++ - '0');
                v[parts++] = x;
                if (q < buf + len && *q == '.' && q + 1 < buf + len && isdigit((unsigned char)q[1]))
                    q++;
                else
                    break;
            }
            if (parts == 0)
                continue;
            if (!found || vercmp(v, best) > 0) {
                memcpy(best, v, sizeof best);
                found = parts;
            }
        }
        size_t keep = len < KEEP ? len : KEEP;
        memmove(buf, buf + len - keep, keep);
        have = keep;
    }
    close(fd);
    if (!found)
        return -1;
    if (found >= 3)
        snprintf(out, outlen, "%u.%u.%u", best[0], best[1], best[2]);
    else
        snprintf(out, outlen, "%u.%u", best[0], best[1]);
    return 0;
}

/* Find a shared library of the agent's own architecture in the usual
 * places (multiarch first). Returns 0 and the path. */
static int find_lib(const char *name, unsigned machine, char *out, size_t outlen)
{
    char multi1[96], multi2[96];
    snprintf(multi1, sizeof multi1, "/lib/%s", assay_build_triple());
    snprintf(multi2, sizeof multi2, "/usr/lib/%s", assay_build_triple());
    const char *dirs[] = {multi1, multi2, "/lib64", "/usr/lib64", "/lib", "/usr/lib"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char path[PATH_MAX], full[PATH_MAX];
        assay_elf_ident id;
        snprintf(path, sizeof path, "%s/%s", dirs[i], name);
        snprintf(full, sizeof full, "%s%s", assay_facts_root(), path);
        if (assay_elf_ident_file(&id, full) == 0 && id.machine == machine) {
            snprintf(out, outlen, "%s", path);
            return 0;
        }
    }
    assay_error_clear();
    return -1;
}

static unsigned own_machine(void)
{
    assay_elf_ident id;
    if (assay_elf_ident_file(&id, "/proc/self/exe") == 0)
        return id.machine;
    assay_error_clear();
    return 0;
}

/* Evidence that the agent runs under emulation. qemu-user answers uname and
 * even /proc/cpuinfo for the guest, but not the kernel's own architecture
 * (kernel.arch) nor the executable of the real task behind /proc/self/task,
 * which is the interpreter. */
static cJSON *emulation_facts(const char *arch, const char *cpuinfo)
{
    cJSON *e = cJSON_CreateObject(), *ev = cJSON_AddArrayToObject(e, "evidence");
    char kb[64], msg[PATH_MAX + 64];
    if (!e || !ev)
        goto fail;
    if (read_small("/proc/sys/kernel/arch", kb, sizeof kb) > 0) {
        trim(kb);
        if (strcmp(kb, arch) != 0) {
            snprintf(msg, sizeof msg, "kernel architecture is %s, agent runs as %s", kb, arch);
            if (!cJSON_AddItemToArray(ev, cJSON_CreateString(msg)))
                goto fail;
        }
    }
    char link[128], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/task/%ld/exe", (long)syscall(SYS_gettid));
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0) {
        target[n] = '\0';
        const char *base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (strncmp(base, "qemu-", 5) == 0) {
            snprintf(msg, sizeof msg, "process interpreter is %s", target);
            if (!cJSON_AddItemToArray(ev, cJSON_CreateString(msg)))
                goto fail;
        }
    }
    if (cpuinfo) {
        /* A CPU description of another architecture than the agent's. */
        int x86 = strstr(cpuinfo, "vendor_id") != NULL, arm = strstr(cpuinfo, "CPU implementer") != NULL;
        int la = strcasestr(cpuinfo, "loongson") != NULL || strstr(cpuinfo, "LoongArch") != NULL;
        const char *other = NULL;
        if (x86 && strcmp(arch, "x86_64") != 0)
            other = "x86";
        else if (arm && strcmp(arch, "aarch64") != 0)
            other = "aarch64";
        else if (la && strcmp(arch, "loongarch64") != 0)
            other = "loongarch64";
        if (other) {
            snprintf(msg, sizeof msg, "/proc/cpuinfo describes a %s CPU, agent runs as %s", other, arch);
            if (!cJSON_AddItemToArray(ev, cJSON_CreateString(msg)))
                goto fail;
        }
    }
    if (!cJSON_AddBoolToObject(e, "emulated", cJSON_GetArraySize(ev) > 0))
        goto fail;
    return e;
fail:
    cJSON_Delete(e);
    return NULL;
}

/* open() rather than access(): qemu-user's loader prefix (QEMU_LD_PREFIX)
 * redirects opens, and an emulated host's files are where it says. */
static int file_exists(const char *path)
{
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s%s", assay_facts_root(), path);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

/* A number of a one-line sysfs file scaled by `div`, or null. */
static int add_sys_num(cJSON *o, const char *k, const char *path, double div)
{
    char v[64], *end;
    double d;
    if (read_small(path, v, sizeof v) > 0 && (trim(v), d = strtod(v, &end), end != v && !*end))
        return cJSON_AddNumberToObject(o, k, d / div) ? 0 : -1;
    return cJSON_AddNullToObject(o, k) ? 0 : -1;
}

/* The first word of a one-line sysfs file, or null. */
static int add_sys_word(cJSON *o, const char *k, const char *path)
{
    char v[64];
    if (read_small(path, v, sizeof v) > 0) {
        trim(v);
        v[strcspn(v, " \t\n")] = '\0';
    } else {
        v[0] = '\0';
    }
    return add_str_or_null(o, k, v);
}

cJSON *assay_facts_environment(void)
{
    cJSON *e = cJSON_CreateObject(), *la;
    char text[4096];
    double l[3];
    if (!e)
        return NULL;
    if (read_small("/proc/loadavg", text, sizeof text) > 0 && sscanf(text, "%lf %lf %lf", &l[0], &l[1], &l[2]) == 3) {
        if (!(la = cJSON_CreateDoubleArray(l, 3)) || !cJSON_AddItemToObject(e, "load_avg", la)) {
            cJSON_Delete(la);
            goto fail;
        }
    } else if (!cJSON_AddNullToObject(e, "load_avg")) {
        goto fail;
    }
    uint64_t kb = 0;
    const char *m;
    if (read_small("/proc/meminfo", text, sizeof text) > 0 && (m = strstr(text, "MemAvailable:")))
        kb = strtoull(m + 13, NULL, 10);
    if ((kb ? add_u64(e, "memory_available_bytes", kb * 1024) : !cJSON_AddNullToObject(e, "memory_available_bytes")) ||
        add_sys_word(e, "governor", "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") ||
        add_sys_num(e, "cpu0_mhz", "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", 1000) ||
        add_sys_num(e, "cpu0_max_mhz", "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", 1000) ||
        add_sys_word(e, "smt", "/sys/devices/system/cpu/smt/control") ||
        add_sys_num(e, "smt_active", "/sys/devices/system/cpu/smt/active", 1))
        goto fail;
    return e;
fail:
    cJSON_Delete(e);
    return NULL;
}

int assay_facts_collect(cJSON **out)
{
    cJSON *f = cJSON_CreateObject(), *k;
    char *cpuinfo = malloc(SMALL_CAP);
    struct utsname u;
    char v[128], path[PATH_MAX];
    int rc = ASSAY_ENOMEM;

    if (!f || !cpuinfo)
        goto out;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    const char *arch = u.machine[0] ? u.machine : "unknown";
    int have_cpuinfo = read_small("/proc/cpuinfo", cpuinfo, SMALL_CAP) > 0;

    if (!cJSON_AddStringToObject(f, "arch", arch) || !(k = cJSON_AddObjectToObject(f, "kernel")) ||
        add_str_or_null(k, "release", u.release) || add_str_or_null(k, "version", u.version))
        goto out;
    if (read_small("/proc/sys/kernel/arch", v, sizeof v) > 0)
        trim(v);
    else
        v[0] = '\0';
    if (add_str_or_null(k, "arch", v))
        goto out;

    cJSON *cpu = assay_facts_cpu(arch, have_cpuinfo ? cpuinfo : NULL);
    if (!cpu || !cJSON_AddItemToObject(f, "cpu", cpu)) {
        cJSON_Delete(cpu);
        goto out;
    }

    char mem[4096];
    uint64_t kb = 0;
    if (read_small("/proc/meminfo", mem, sizeof mem) > 0) {
        const char *m = strstr(mem, "MemTotal:");
        if (m)
            kb = strtoull(m + 9, NULL, 10);
    }
    if (kb ? add_u64(f, "memory_bytes", kb * 1024) : !cJSON_AddNullToObject(f, "memory_bytes"))
        goto out;
    if (!cJSON_AddNumberToObject(f, "page_size", (double)sysconf(_SC_PAGESIZE)))
        goto out;

    cJSON *os = assay_facts_os();
    if (!os || !cJSON_AddItemToObject(f, "os", os)) {
        cJSON_Delete(os);
        goto out;
    }

    unsigned machine = own_machine();
    const char *glibc = NULL, *cxx = NULL;
    char gv[32], cv[32];
    if (machine && find_lib("libc.so.6", machine, path, sizeof path) == 0) {
        if (scan_version(path, "release version ", gv, sizeof gv) == 0)
            glibc = gv;
        if (add_str_or_null(f, "glibc_path", path))
            goto out;
    } else if (!cJSON_AddNullToObject(f, "glibc_path")) {
        goto out;
    }
    if (add_str_or_null(f, "glibc", glibc))
        goto out;
    if (machine && find_lib("libstdc++.so.6", machine, path, sizeof path) == 0 &&
        scan_version(path, "GLIBCXX_", cv, sizeof cv) == 0)
        cxx = cv;
    if (add_str_or_null(f, "libstdcxx", cxx))
        goto out;

    if (strcmp(arch, "loongarch64") == 0) {
        int nw = file_exists("/lib64/ld-linux-loongarch-lp64d.so.1"), ow = file_exists("/lib64/ld.so.1");
        if (!cJSON_AddStringToObject(f, "loongarch_world", nw && ow ? "both" : nw ? "new" : ow ? "old" : "unknown"))
            goto out;
    } else if (!cJSON_AddNullToObject(f, "loongarch_world")) {
        goto out;
    }

    cJSON *env = assay_facts_environment();
    if (!env || !cJSON_AddItemToObject(f, "environment", env)) {
        cJSON_Delete(env);
        goto out;
    }

    cJSON *emu = emulation_facts(arch, have_cpuinfo ? cpuinfo : NULL);
    if (!emu || !cJSON_AddItemToObject(f, "emulation", emu)) {
        cJSON_Delete(emu);
        goto out;
    }
    *out = f;
    f = NULL;
    rc = 0;
out:
    if (rc)
        assay_error_set(rc, "out of memory collecting facts");
    free(cpuinfo);
    cJSON_Delete(f);
    return rc;
}
