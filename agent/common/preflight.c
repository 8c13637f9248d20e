/* Preflight checks of ELF files; see include/assay/preflight.h. */
#include "assay/preflight.h"
#include "assay/error.h"

#include <stdio.h>
#include <string.h>

static int add(cJSON *list, const char *sev, const char *check, const char *expected, const char *found,
               const char *hint)
{
    cJSON *f = cJSON_CreateObject();
    if (!f || !cJSON_AddStringToObject(f, "severity", sev) || !cJSON_AddStringToObject(f, "check", check) ||
        !cJSON_AddStringToObject(f, "expected", expected) || !cJSON_AddStringToObject(f, "found", found) ||
        !cJSON_AddStringToObject(f, "hint", hint) || !cJSON_AddItemToArray(list, f)) {
        cJSON_Delete(f);
        return ASSAY_ENOMEM;
    }
    return !strcmp(sev, "error");
}

/* The highest required version with `prefix` ("GLIBC_"), and up to a few
 * symbols that need a version newer than `have`. */
static const char *highest(const assay_elf_info *e, const char *prefix, const char *have, char *syms,
                           size_t symslen)
{
    const char *best = NULL;
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < e->nvreqs; i++) {
        const char *v = e->vreqs[i].version;
        if (strncmp(v, prefix, pl) || !(v[pl] >= '0' && v[pl] <= '9'))
            continue;
        if (!best || assay_version_cmp(v + pl, best + pl) > 0)
            best = v;
    }
    size_t used = 0;
    int shown = 0;
    syms[0] = '\0';
    for (size_t i = 0; have && i < e->nvsyms && shown < 5; i++) {
        const char *v = e->vsyms[i].version;
        if (strncmp(v, prefix, pl) || assay_version_cmp(v + pl, have) <= 0)
            continue;
        int n = snprintf(syms + used, symslen - used, "%s%s@%s", shown ? ", " : "", e->vsyms[i].name, v);
        if (n < 0 || (size_t)n >= symslen - used)
            break;
        used += (size_t)n;
        shown++;
    }
    /* A file without section headers: its versions are read through the
     * dynamic segment, its symbols' names are not. */
    if (!shown && !e->nvsyms_all)
        snprintf(syms, symslen, "symbol names not read: the file has no section headers");
    return best;
}

int assay_preflight_elf(cJSON *out, const assay_elf_info *e, const assay_target *t)
{
    char exp[128], found[256], hint[640], syms[400];
    int errors = 0, r;
    const char *arch = assay_elf_arch_name(e->id.machine, e->id.bits);

    if (!arch || strcmp(arch, t->arch)) {
        if (arch)
            snprintf(found, sizeof found, "%s", arch);
        else
            snprintf(found, sizeof found, "machine %u (EM_ value unknown to assay)", e->id.machine);
        snprintf(hint, sizeof hint, "rebuild this file for %s; a binary for %s cannot run there", t->arch,
                 arch ? arch : "another machine");
        return add(out, "error", "arch", t->arch, found, hint);
    }
    const char *w = assay_elf_loongarch_world(e);
    if (w && t->world && strcmp(w, t->world)) {
        snprintf(found, sizeof found, "%s world (interpreter %s)", w, e->interp[0] ? e->interp : "none");
        snprintf(exp, sizeof exp, "%s world", t->world);
        snprintf(hint, sizeof hint, "build with the %s-world toolchain of the target OS; LoongArch's two ABI worlds "
                                    "do not run each other's binaries", t->world);
        if ((r = add(out, "error", "loongarch-world", exp, found, hint)) < 0)
            return r;
        errors += r;
    }
    if (t->glibc) {
        const char *need = highest(e, "GLIBC_", t->glibc, syms, sizeof syms);
        if (need && assay_version_cmp(need + 6, t->glibc) > 0) {
            snprintf(exp, sizeof exp, "GLIBC_%s or older", t->glibc);
            snprintf(found, sizeof found, "%s (%s)", need, syms);
            snprintf(hint, sizeof hint, "link against glibc %s or older (build on the oldest target OS, or in its "
                                        "sysroot); these symbols need a newer glibc: %s", t->glibc, syms);
            if ((r = add(out, "error", "glibc", exp, found, hint)) < 0)
                return r;
            errors += r;
        }
    }
    const char *cxx = highest(e, "GLIBCXX_", t->libstdcxx, syms, sizeof syms);
    if (cxx && t->libstdcxx && assay_version_cmp(cxx + 8, t->libstdcxx) > 0) {
        snprintf(exp, sizeof exp, "GLIBCXX_%s or older", t->libstdcxx);
        snprintf(found, sizeof found, "%s (%s)", cxx, syms);
        snprintf(hint, sizeof hint, "build with the target's GCC, or link libstdc++ statically (-static-libstdc++); "
                                    "needs: %s", syms);
        if ((r = add(out, "error", "glibcxx", exp, found, hint)) < 0)
            return r;
        errors += r;
    }
    /* CXXABI_ versions come with libstdc++ releases: the target's highest
     * GLIBCXX_ version says which CXXABI_ it has (GCC's libstdc++ ABI
     * history: GCC 7 3.4.24/1.3.11 ... GCC 14 3.4.33/1.3.15). */
    if (t->libstdcxx) {
        static const char *const abi[][2] = {{"3.4.22", "1.3.10"}, {"3.4.23", "1.3.11"}, {"3.4.24", "1.3.11"},
                                             {"3.4.25", "1.3.11"}, {"3.4.26", "1.3.12"}, {"3.4.28", "1.3.12"},
                                             {"3.4.29", "1.3.13"}, {"3.4.30", "1.3.13"}, {"3.4.31", "1.3.14"},
                                             {"3.4.32", "1.3.14"}, {"3.4.33", "1.3.15"}};
        const char *have = NULL;
        for (size_t k = 0; k < sizeof abi / sizeof abi[0]; k++)
            if (assay_version_cmp(abi[k][0], t->libstdcxx) <= 0)
                have = abi[k][1];
        const char *need = have ? highest(e, "CXXABI_", have, syms, sizeof syms) : NULL;
        if (need && strncmp(need, "CXXABI_TM", 9) && assay_version_cmp(need + 7, have) > 0) {
            snprintf(exp, sizeof exp, "CXXABI_%s or older (libstdc++ %s)", have, t->libstdcxx);
            snprintf(found, sizeof found, "%s (%s)", need, syms);
            snprintf(hint, sizeof hint, "build with the target's GCC, or link libstdc++ statically "
                                        "(-static-libstdc++); needs: %s", syms);
            if ((r = add(out, "error", "cxxabi", exp, found, hint)) < 0)
                return r;
            errors += r;
        }
    }
    if (t->page_size && e->min_load_align && e->min_load_align < (uint64_t)t->page_size) {
        snprintf(exp, sizeof exp, "PT_LOAD aligned to %d bytes or more", t->page_size);
        snprintf(found, sizeof found, "aligned to %llu bytes", (unsigned long long)e->min_load_align);
        snprintf(hint, sizeof hint, "a %d KiB-page kernel cannot map these segments: link with "
                                    "-Wl,-z,max-page-size=%d", t->page_size / 1024, t->page_size);
        if ((r = add(out, "error", "page-size", exp, found, hint)) < 0)
            return r;
        errors += r;
    }
    if (t->x86_isa_level && e->x86_isa_needed > t->x86_isa_level) {
        snprintf(exp, sizeof exp, "x86-64-v%d or lower", t->x86_isa_level);
        snprintf(found, sizeof found, "x86-64-v%d", e->x86_isa_needed);
        snprintf(hint, sizeof hint, "build with -march=x86-64%s: this CPU lacks the instructions of x86-64-v%d",
                 t->x86_isa_level > 1 ? (t->x86_isa_level == 2 ? "-v2" : "-v3") : "", e->x86_isa_needed);
        if ((r = add(out, "error", "x86-isa", exp, found, hint)) < 0)
            return r;
        errors += r;
    }
    /* A kernel module loads only into the kernel series it was built for:
     * vermagic "4.19.90-52.22.v2207.ky10.x86_64 SMP ..." against "4.19". */
    if (t->kernel && t->kernel[0] && e->id.type == 1 && e->vermagic[0]) {
        size_t k = strlen(t->kernel);
        if (strncmp(e->vermagic, t->kernel, k) || (e->vermagic[k] != '.' && e->vermagic[k] != '-' &&
                                                   e->vermagic[k] != ' ' && e->vermagic[k] != '\0')) {
            snprintf(exp, sizeof exp, "a module built for kernel %s", t->kernel);
            snprintf(found, sizeof found, "vermagic %s", e->vermagic);
            snprintf(hint, sizeof hint, "rebuild the module against the target's kernel %s headers (or ship it as "
                                        "DKMS source): the kernel refuses a module of another series",
                     t->kernel);
            if ((r = add(out, "error", "kernel-module", exp, found, hint)) < 0)
                return r;
            errors += r;
        }
    }
    return errors;
}

int assay_preflight_too_large(cJSON *findings, const char *why)
{
    int r = add(findings, "warning", "too-large", "within the ELF reader's caps (docs/preflight.md)", why,
                "this file was not checked: a real binary stays far below these caps; rebuild it, or check it "
                "by hand on the target");
    return r < 0 ? r : 0;
}
