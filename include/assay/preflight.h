/*
 * Preflight checks of one ELF file against a target: the same code runs in
 * the agent (against the host's measured facts) and in the controller
 * (against a profile). A finding is {"severity", "check", "expected",
 * "found", "hint"}; "error" means the file will not run there, "warning"
 * that it may not.
 */
#ifndef ASSAY_PREFLIGHT_H
#define ASSAY_PREFLIGHT_H

#include "assay/elf.h"

#include <cjson/cJSON.h>

typedef struct assay_target {
    const char *arch;       /* x86_64, aarch64, loongarch64 */
    const char *world;      /* loongarch64: "old" or "new"; NULL elsewhere or unknown */
    const char *glibc;      /* "2.28", or NULL if unknown */
    const char *libstdcxx;  /* highest GLIBCXX_3.4.N ("3.4.25"), or NULL if unknown or absent */
    int page_size;          /* bytes, 0 if unknown */
    int x86_isa_level;      /* 1-4, 0 if unknown */
    const char *kernel;     /* kernel series ("4.19"), NULL if unknown: kernel modules are checked against it */
} assay_target;

/*
 * Append to `findings` (a JSON array) what is wrong with `e` on `t`:
 * architecture, LoongArch world, GLIBC_/GLIBCXX_ versions (naming the
 * symbols that need them), PT_LOAD alignment against the page size, and the
 * x86-64 ISA level; a kernel module's (ET_REL with a vermagic) kernel
 * series against the target's. Returns the number of errors added, or ASSAY_ENOMEM.
 */
int assay_preflight_elf(cJSON *findings, const assay_elf_info *e, const assay_target *t);

/*
 * Append the finding for an ELF file the reader would not read: a warning,
 * check "too-large", found `why` (assay_elf_read's ASSAY_ETOOBIG message,
 * which names the cap). Its other checks did not run: nothing is known
 * about it. Returns 0 or ASSAY_ENOMEM.
 */
int assay_preflight_too_large(cJSON *findings, const char *why);

#endif
