/*
 * Instruction-level preflight: disassemble the executable sections of an
 * ELF file (x86-64 and aarch64) with LLVM's disassembler and find the
 * instructions that need ISA extensions (x86-64-v2/v3/v4 features, aarch64
 * LSE atomics, dot product, FP16, SVE, ...), attributed to the functions
 * that hold them (.symtab, else .dynsym). Functions that runtime dispatch
 * may guard (GCC's outline-atomics helpers, ifunc targets, functions named
 * for a feature such as foo_avx2) are kept apart from the rest.
 * docs/preflight.md says what this sees and what it cannot.
 *
 * The scan runs once per ELF file; the findings are made per profile. LLVM
 * is owned by isa.c: no LLVM type leaves it.
 */
#ifndef ASSAY_CTL_ISA_H
#define ASSAY_CTL_ISA_H

#include "profile.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define ASSAY_ISA_CAP                                                                              \
    (32u << 20) /* executable bytes disassembled per file; more: "too large to check" */

typedef struct assay_isa_use {
    char func[128];   /* the function (symbol name), or "" when no symbol covers the code */
    char feature[16]; /* "LSE", "AVX2", ... (see isa.c's table) */
    char insn[24];    /* the first instruction seen, e.g. "casal" */
    uint64_t count;   /* instructions of this feature in this function */
    int guarded;      /* 1: runtime dispatch may guard it (see why) */
    const char *why;  /* static text: why it may be guarded, or NULL */
} assay_isa_use;

typedef struct assay_isa_result {
    assay_isa_use *uses; /* one per (function, feature) */
    size_t n;
    uint64_t uses_dropped; /* (function, feature) pairs past the cap, counted */
    uint64_t bytes;        /* executable bytes disassembled */
    uint64_t undecoded;  /* bytes no instruction decoded from (data in code, unknown extensions) */
    char too_large[160]; /* not "": not scanned, and why */
} assay_isa_result;

/*
 * Scan the ELF file `buf` (`len` bytes, all of it). *out is NULL (and 0 is
 * returned) for a file this check does not cover: not ELF64 little-endian
 * x86-64 or aarch64, or without executable sections. A file whose
 * executable sections exceed ASSAY_ISA_CAP gets a result with too_large
 * set and nothing scanned. ASSAY_ENOMEM; ASSAY_EINVAL when the
 * disassembler cannot be created. Linear in the file's size (plus sorting
 * its symbols). The result is the caller's: assay_isa_result_free().
 */
int assay_isa_scan(assay_isa_result **out, const unsigned char *buf, size_t len);
void assay_isa_result_free(assay_isa_result *r);

/*
 * Add to `fl` (a preflight findings array) what the scan means for
 * profile `p`: one "instructions" error listing the features the profile
 * lacks in unguarded functions, one "instructions-guarded" warning for
 * those in guarded functions, one "instructions" warning when the file was
 * too large. A profile that does not say which extensions it has (no
 * "isa_extensions" for aarch64, no x86_isa_level for x86-64) gets nothing.
 * Returns the number of errors added.
 */
int assay_isa_findings(cJSON *fl, const assay_isa_result *r, const assay_profile *p);

/*
 * For a step that died with SIGILL: what the package's preflight for this
 * target (`pf`: {"files": [{"path", "findings"}]}) found about
 * instructions, as one English and one Chinese sentence ("uses casal in
 * f(); FT-2000+/64 has no LSE atomics"). 1 if there was something to say,
 * 0 if not (then en and zh are "").
 */
int assay_isa_sigill_note(char *en, size_t en_size, char *zh, size_t zh_size, const cJSON *pf);

#endif
