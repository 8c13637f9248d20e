/* Instruction-level preflight; see isa.h and docs/preflight.md. */
#include "isa.h"
#include "assay/error.h"

#include <llvm-c/Disassembler.h>
#include <llvm-c/Target.h>

#include <ctype.h>
#include <elf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USES_MAX 4096 /* (function, feature) pairs kept per file; the rest are counted */
#define FUNCS_NAMED 5 /* a finding names this many functions, then counts the rest */

/* The extensions told apart. x86 ones carry the x86-64 level that holds
 * them; aarch64 ones the name a profile's "isa_extensions" lists. */
/* clang-format off */
enum feat {
    F_SSE3, F_SSSE3, F_SSE41, F_SSE42, F_POPCNT, F_CX16, F_LAHF,     /* x86-64-v2 */
    F_AVX, F_AVX2, F_FMA, F_BMI1, F_BMI2, F_F16C, F_MOVBE, F_LZCNT, /* x86-64-v3 */
    F_AVX512,                                                       /* x86-64-v4 */
    F_LSE, F_RDM, F_DOTPROD, F_FP16, F_RCPC, F_SVE, F_I8MM, F_BF16, /* aarch64 */
    F_COUNT
};
/* clang-format on */

static const struct {
    const char *name; /* shown, and (lower-cased) the profile's extension name */
    const char *what; /* English, for "X has no <what>" */
    const char *zh;
    int x86_level; /* 0: aarch64 */
} feats[F_COUNT] = {
    [F_SSE3] = {"SSE3", "SSE3", "SSE3 指令", 2},
    [F_SSSE3] = {"SSSE3", "SSSE3", "SSSE3 指令", 2},
    [F_SSE41] = {"SSE4.1", "SSE4.1", "SSE4.1 指令", 2},
    [F_SSE42] = {"SSE4.2", "SSE4.2", "SSE4.2 指令", 2},
    [F_POPCNT] = {"POPCNT", "POPCNT", "POPCNT 指令", 2},
    [F_CX16] = {"CX16", "CMPXCHG16B", "CMPXCHG16B 指令", 2},
    [F_LAHF] = {"LAHF-SAHF", "LAHF/SAHF in 64-bit mode", "64 位 LAHF/SAHF", 2},
    [F_AVX] = {"AVX", "AVX (x86-64-v3)", "AVX 指令（x86-64-v3）", 3},
    [F_AVX2] = {"AVX2", "AVX2 (x86-64-v3)", "AVX2 指令（x86-64-v3）", 3},
    [F_FMA] = {"FMA", "FMA (x86-64-v3)", "FMA 指令（x86-64-v3）", 3},
    [F_BMI1] = {"BMI1", "BMI1 (x86-64-v3)", "BMI1 指令（x86-64-v3）", 3},
    [F_BMI2] = {"BMI2", "BMI2 (x86-64-v3)", "BMI2 指令（x86-64-v3）", 3},
    [F_F16C] = {"F16C", "F16C (x86-64-v3)", "F16C 指令（x86-64-v3）", 3},
    [F_MOVBE] = {"MOVBE", "MOVBE (x86-64-v3)", "MOVBE 指令（x86-64-v3）", 3},
    [F_LZCNT] = {"LZCNT", "LZCNT (x86-64-v3)", "LZCNT 指令（x86-64-v3）", 3},
    [F_AVX512] = {"AVX-512", "AVX-512 (x86-64-v4)", "AVX-512 指令（x86-64-v4）", 4},
    [F_LSE] = {"LSE", "LSE atomics (ARMv8.1)", "LSE 原子指令（ARMv8.1）", 0},
    [F_RDM] = {"RDM", "rounding doubling multiply (ARMv8.1)", "RDM 指令（ARMv8.1）", 0},
    [F_DOTPROD] = {"DotProd", "dot product (ARMv8.2)", "点积指令（ARMv8.2）", 0},
    [F_FP16] = {"FP16", "half-precision arithmetic (ARMv8.2)", "半精度运算（ARMv8.2）", 0},
    [F_RCPC] = {"RCPC", "RCpc loads (ARMv8.3)", "RCpc 加载指令（ARMv8.3）", 0},
    [F_SVE] = {"SVE", "SVE", "SVE 向量指令", 0},
    [F_I8MM] = {"I8MM", "int8 matrix multiply (ARMv8.6)", "I8MM 指令（ARMv8.6）", 0},
    [F_BF16] = {"BF16", "BFloat16 (ARMv8.6)", "BF16 指令（ARMv8.6）", 0},
};

/* ---- classification of one decoded instruction --------------------------
 * From LLVM's text (mnemonic, operands) and, for x86, the encoding's
 * escape byte. -1: base ISA. */

static int in_list(const char *m, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(m, *list))
            return 1;
    return 0;
}

static int starts(const char *m, const char *prefix)
{
    return !strncmp(m, prefix, strlen(prefix));
}

static int x86_feature(const unsigned char *b, size_t len, const char *m, const char *ops)
{
    static const char *const bmi1[] = {"andn", "bextr", "blsi", "blsmsk", "blsr", NULL};
    static const char *const bmi2[] = {"bzhi", "mulx", "pdep", "pext", "rorx",
                                       "sarx", "shlx", "shrx", NULL};
    static const char *const avx2[] = {
        "vpbroadcast", "vpsllv",      "vpsrlv",       "vpsrav",
        "vpmaskmov",   "vpblendd",    "vgather",      "vpgather",
        "vperm2i128",  "vinserti128", "vextracti128", "vbroadcasti128",
        "vpermd",      "vpermq",      "vpermps",      "vpermpd",
        NULL};
    static const char *const sse3[] = {"addsubps", "addsubpd", "haddps", "haddpd",
                                       "hsubps",   "hsubpd",   "lddqu",  "movddup",
                                       "movshdup", "movsldup", "fisttp", NULL};
    static const char *const ssse3[] = {"pshufb",  "phaddw",  "phaddd",    "phaddsw",  "phsubw",
                                        "phsubd",  "phsubsw", "pmaddubsw", "pmulhrsw", "psignb",
                                        "psignw",  "psignd",  "pabsb",     "pabsw",    "pabsd",
                                        "palignr", NULL};
    static const char *const sse41[] = {
        "ptest",    "pblendvb", "blendvps", "blendvpd",  "blendps",    "blendpd",  "pblendw",
        "dpps",     "dppd",     "insertps", "extractps", "pextrb",     "pextrd",   "pextrq",
        "pinsrb",   "pinsrd",   "pinsrq",   "pmaxsb",    "pmaxsd",     "pmaxuw",   "pmaxud",
        "pminsb",   "pminsd",   "pminuw",   "pminud",    "pmuldq",     "pmulld",   "roundps",
        "roundpd",  "roundss",  "roundsd",  "mpsadbw",   "phminposuw", "packusdw", "pcmpeqq",
        "movntdqa", NULL};
    static const char *const sse42[] = {"crc32",     "pcmpestri", "pcmpestrm", "pcmpistri",
                                        "pcmpistrm", "pcmpgtq",   NULL};
    size_t i = 0;
    /* Legacy prefixes and REX, then the escape: in 64-bit mode 0x62 is
     * always EVEX and 0xc4/0xc5 always VEX. */
    while (i < len &&
           (b[i] == 0x66 || b[i] == 0x67 || b[i] == 0xf0 || b[i] == 0xf2 || b[i] == 0xf3 ||
            b[i] == 0x2e || b[i] == 0x36 || b[i] == 0x3e || b[i] == 0x26 || b[i] == 0x64 ||
            b[i] == 0x65 || (b[i] >= 0x40 && b[i] <= 0x4f)))
        i++;
    if (i < len && b[i] == 0x62)
        return F_AVX512;
    if (i < len && (b[i] == 0xc4 || b[i] == 0xc5)) {
        if (m[0] == 'k') /* AVX-512 mask registers, VEX-encoded */
            return F_AVX512;
        if (starts(m, "tile") || starts(m, "ldtile") || starts(m, "sttile"))
            return -1; /* AMX: no profile claims it; not told apart here */
        if (in_list(m, bmi1))
            return F_BMI1;
        if (in_list(m, bmi2))
            return F_BMI2;
        if (starts(m, "vfmadd") || starts(m, "vfmsub") || starts(m, "vfnmadd") ||
            starts(m, "vfnmsub"))
            return F_FMA;
        if (!strcmp(m, "vcvtph2ps") || !strcmp(m, "vcvtps2ph"))
            return F_F16C;
        for (const char *const *a = avx2; *a; a++)
            if (starts(m, *a))
                return F_AVX2;
        if (starts(m, "vp") && strstr(ops, "ymm"))
            return F_AVX2;
        return F_AVX;
    }
    if (!strcmp(m, "movbe"))
        return F_MOVBE;
    if (!strcmp(m, "lzcnt"))
        return F_LZCNT;
    /* Not tzcnt: it is `rep bsf`, which CPUs without BMI1 run as bsf, and
     * GCC emits it for generic x86-64 on purpose. */
    if (!strcmp(m, "popcnt"))
        return F_POPCNT;
    if (!strcmp(m, "cmpxchg16b"))
        return F_CX16;
    if (!strcmp(m, "lahf") || !strcmp(m, "sahf"))
        return F_LAHF;
    if (in_list(m, sse42))
        return F_SSE42;
    if (in_list(m, sse41) || starts(m, "pmovsx") || starts(m, "pmovzx"))
        return F_SSE41;
    if (in_list(m, ssse3))
        return F_SSSE3;
    if (in_list(m, sse3))
        return F_SSE3;
    return -1;
}

/* A register operand `c<digits>` (h3, z12, p0) standing as a token. */
static int has_reg(const char *ops, char c)
{
    for (const char *s = ops; (s = strchr(s, c)); s++) {
        if (s > ops &&
            (isalnum((unsigned char)s[-1]) || s[-1] == '.' || s[-1] == '#' || s[-1] == '_'))
            continue;
        const char *d = s + 1;
        if (!isdigit((unsigned char)*d))
            continue;
        while (isdigit((unsigned char)*d))
            d++;
        if (!isalnum((unsigned char)*d) && *d != '_')
            return 1;
    }
    return 0;
}

static int a64_feature(const char *m, const char *ops)
{
    static const char *const lse[] = {"cas",    "swp",    "ldadd",  "ldclr",  "ldeor",
                                      "ldset",  "ldsmax", "ldsmin", "ldumax", "ldumin",
                                      "stadd",  "stclr",  "steor",  "stset",  "stsmax",
                                      "stsmin", "stumax", "stumin", NULL};
    static const char *const sve[] = {"rdvl", "addvl", "addpl",  "cntb", "cnth",
                                      "cntw", "cntd",  "setffr", NULL};
    static const char *const i8mm[] = {"smmla", "ummla", "usmmla", "usdot", "sudot", NULL};
    static const char *const fp16_base[] = {"fcvt", "fcvtl", "fcvtl2", "fcvtn", "fcvtn2", NULL};
    if (has_reg(ops, 'z') || has_reg(ops, 'p') || in_list(m, sve))
        return F_SVE;
    for (const char *const *l = lse; *l; l++)
        if (starts(m, *l))
            return F_LSE;
    if (!strcmp(m, "sqrdmlah") || !strcmp(m, "sqrdmlsh"))
        return F_RDM;
    if (!strcmp(m, "sdot") || !strcmp(m, "udot"))
        return F_DOTPROD;
    if (in_list(m, i8mm))
        return F_I8MM;
    if (starts(m, "bfdot") || starts(m, "bfmmla") || starts(m, "bfmlal") || starts(m, "bfcvt"))
        return F_BF16; /* not bfi, bfxil, bfm: ARMv8.0 bitfield moves */
    if (starts(m, "ldapr") || starts(m, "ldapur") || starts(m, "stlur"))
        return F_RCPC;
    /* Half-precision arithmetic; conversions to and from half are ARMv8.0. */
    if ((m[0] == 'f' || !strcmp(m, "scvtf") || !strcmp(m, "ucvtf")) && !in_list(m, fp16_base) &&
        (has_reg(ops, 'h') || strstr(ops, ".4h") || strstr(ops, ".8h")))
        return F_FP16;
    return -1;
}

/* ---- symbols -------------------------------------------------------------- */

struct func {
    uint64_t start, end;
    const char *name; /* in the file's string table */
};

static int cmp_func(const void *a, const void *b)
{
    const struct func *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->end > y->end ? -1 : x->end < y->end; /* the widest first */
}

/* Whether a symbol name says the code runs only after a CPU check. */
static const char *guard_reason(const char *name, char *const *ifuncs, size_t nifuncs)
{
    static const char *const helpers[] = {"__aarch64_cas",
                                          "__aarch64_swp",
                                          "__aarch64_ldadd",
                                          "__aarch64_ldclr",
                                          "__aarch64_ldeor",
                                          "__aarch64_ldset",
                                          NULL};
    static const char *const tokens[] = {
        "avx",    "evex",     "fma",     "bmi",      "f16c",    "movbe", "sse4",    "ssse3",
        "popcnt", "haswell",  "skylake", "x86_64_v", "lse",     "sve",   "dotprod", "fp16",
        "a64fx",  "neoverse", "kunpeng", "thunderx", "atomics", NULL};
    if (!name || !name[0])
        return NULL;
    for (const char *const *h = helpers; *h; h++)
        if (starts(name, *h))
            return "GCC outline-atomics helper: libgcc checks the CPU's atomics at run time";
    if (starts(name, "_Unwind_") || starts(name, "uw_"))
        return "libgcc's unwinder: it reads SVE state only for frames that use SVE";
    char low[160];
    size_t i;
    for (i = 0; name[i] && i < sizeof low - 1; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[i] = '\0';
    for (const char *const *t = tokens; *t; t++)
        if (strstr(low, *t))
            return "named for the extension: a runtime CPU check (cpuid, HWCAP, ifunc) may choose "
                   "it";
    const char *bare = name;
    while (*bare == '_')
        bare++;
    for (size_t k = 0; k < nifuncs; k++) {
        const char *f = ifuncs[k];
        while (*f == '_')
            f++;
        size_t n = strlen(f);
        if (n && !strncmp(bare, f, n) && (bare[n] == '_' || bare[n] == '.'))
            return "a variant of an ifunc: its resolver chooses it at run time";
    }
    return NULL;
}

/* ---- the ELF walk ------------------------------------------------------- */

struct elf {
    const unsigned char *b;
    size_t len;
    const Elf64_Ehdr *eh;
    const Elf64_Shdr *sh;
    size_t shnum;
};

static int in_file(const struct elf *e, uint64_t off, uint64_t size)
{
    return off <= e->len && size <= e->len - off;
}

/* Functions of one symbol table (sh of type SHT_SYMTAB or SHT_DYNSYM). */
static int add_symbols(struct func **fv, size_t *fn, size_t *fcap, char ***ifv, size_t *ifn,
                       const struct elf *e, const Elf64_Shdr *s)
{
    if (s->sh_entsize != sizeof(Elf64_Sym) || !in_file(e, s->sh_offset, s->sh_size) ||
        s->sh_link >= e->shnum)
        return 0;
    const Elf64_Shdr *st = &e->sh[s->sh_link];
    if (st->sh_type != SHT_STRTAB || !in_file(e, st->sh_offset, st->sh_size) || st->sh_size == 0)
        return 0;
    const char *str = (const char *)e->b + st->sh_offset;
    size_t n = s->sh_size / sizeof(Elf64_Sym);
    for (size_t i = 0; i < n; i++) {
        Elf64_Sym sym;
        memcpy(&sym, e->b + s->sh_offset + i * sizeof sym, sizeof sym);
        int type = ELF64_ST_TYPE(sym.st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
            sym.st_value == 0)
            continue;
        if (sym.st_name >= st->sh_size ||
            !memchr(str + sym.st_name, '\0', st->sh_size - sym.st_name))
            continue;
        const char *name = str + sym.st_name;
        if (type == STT_GNU_IFUNC) {
            char **nv = realloc(*ifv, (*ifn + 1) * sizeof *nv);
            if (!nv)
                return assay_error_set(ASSAY_ENOMEM, "out of memory");
            *ifv = nv;
            (*ifv)[(*ifn)++] = (char *)name;
        }
        if (*fn == *fcap) {
            size_t nc = *fcap ? *fcap * 2 : 256;
            struct func *nf = realloc(*fv, nc * sizeof *nf);
            if (!nf)
                return assay_error_set(ASSAY_ENOMEM, "out of memory");
            *fv = nf;
            *fcap = nc;
        }
        (*fv)[(*fn)++] = (struct func){sym.st_value, sym.st_value + sym.st_size, name};
    }
    return 0;
}

/* What a stripped outline-atomics helper is called in findings. */
#define STRIPPED_HELPER "__aarch64_cas/swp/ld<op> (outline-atomics helper, name stripped)"

/* LLVM's targets are registered once per process. */
static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;
static void llvm_init(void)
{
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86Disassembler();
    LLVMInitializeAArch64TargetInfo();
    LLVMInitializeAArch64TargetMC();
    LLVMInitializeAArch64Disassembler();
}

/* Per-function tallies, flushed into uses when the walk leaves a function. */
struct tally {
    uint64_t count[F_COUNT];
    char insn[F_COUNT][24];
    int any;
};

static int flush(assay_isa_result *r, struct tally *t, const char *func, char *const *ifuncs,
                 size_t nifuncs, size_t *cap)
{
    if (!t->any)
        return 0;
    const char *why = guard_reason(func, ifuncs, nifuncs);
    for (int f = 0; f < F_COUNT; f++) {
        if (!t->count[f])
            continue;
        if (!func || !strcmp(func, STRIPPED_HELPER)) { /* nameless code: one record per feature */
            size_t k = 0;
            while (k < r->n && (strcmp(r->uses[k].func, func ? func : "") ||
                                strcmp(r->uses[k].feature, feats[f].name)))
                k++;
            if (k < r->n) {
                r->uses[k].count += t->count[f];
                continue;
            }
        }
        if (r->n == USES_MAX) {
            r->uses_dropped++;
            continue;
        }
        if (r->n == *cap) {
            size_t nc = *cap ? *cap * 2 : 32;
            assay_isa_use *nu = realloc(r->uses, nc * sizeof *nu);
            if (!nu)
                return assay_error_set(ASSAY_ENOMEM, "out of memory");
            r->uses = nu;
            *cap = nc;
        }
        assay_isa_use *u = &r->uses[r->n++];
        memset(u, 0, sizeof *u);
        snprintf(u->func, sizeof u->func, "%s", func ? func : "");
        snprintf(u->feature, sizeof u->feature, "%s", feats[f].name);
        snprintf(u->insn, sizeof u->insn, "%s", t->insn[f]);
        u->count = t->count[f];
        u->guarded = why != NULL;
        u->why = why;
    }
    memset(t, 0, sizeof *t);
    return 0;
}

int assay_isa_scan(assay_isa_result **out, const unsigned char *buf, size_t len)
{
    struct elf e = {buf, len, NULL, NULL, 0};
    struct func *fv = NULL;
    char **ifuncs = NULL;
    size_t fn = 0, fcap = 0, nifuncs = 0, ucap = 0;
    assay_isa_result *r = NULL;
    LLVMDisasmContextRef dc = NULL;
    Elf64_Shdr *shdrs = NULL;
    int rc = -1, dispatch = 0; /* dispatch: the file holds cpuid or IRELATIVE relocations */
    int sve_regs = 0;          /* an SVE instruction with z or p register operands was seen */

    *out = NULL;
    if (len < sizeof(Elf64_Ehdr) || memcmp(buf, ELFMAG, SELFMAG) || buf[EI_CLASS] != ELFCLASS64 ||
        buf[EI_DATA] != ELFDATA2LSB)
        return 0;
    Elf64_Ehdr eh;
    memcpy(&eh, buf, sizeof eh);
    if ((eh.e_machine != EM_X86_64 && eh.e_machine != EM_AARCH64) ||
        eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 ||
        !in_file(&e, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr)))
        return 0;
    /* A copy: the file's bytes need not be aligned for Elf64_Shdr. */
    if (!(shdrs = malloc((size_t)eh.e_shnum * sizeof *shdrs)))
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    memcpy(shdrs, buf + eh.e_shoff, (size_t)eh.e_shnum * sizeof *shdrs);
    e.sh = shdrs;
    e.shnum = eh.e_shnum;
    int x86 = eh.e_machine == EM_X86_64;

    uint64_t exec = 0;
    for (size_t i = 0; i < e.shnum; i++)
        if (e.sh[i].sh_type == SHT_PROGBITS && (e.sh[i].sh_flags & SHF_EXECINSTR) &&
            in_file(&e, e.sh[i].sh_offset, e.sh[i].sh_size))
            exec += e.sh[i].sh_size;
    if (exec == 0) {
        rc = 0;
        goto out;
    }
    if (!(r = calloc(1, sizeof *r))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    if (exec > ASSAY_ISA_CAP) {
        snprintf(
            r->too_large, sizeof r->too_large,
            "too large to check: %llu bytes of code, more than the %u MiB disassembled of one file",
            (unsigned long long)exec, ASSAY_ISA_CAP >> 20);
        *out = r;
        r = NULL;
        rc = 0;
        goto out;
    }

    /* Functions from .symtab when present (it names static functions too),
     * else .dynsym. */
    int have_symtab = 0;
    for (size_t i = 0; i < e.shnum; i++)
        have_symtab |= e.sh[i].sh_type == SHT_SYMTAB;
    for (size_t i = 0; i < e.shnum; i++)
        if (e.sh[i].sh_type == (have_symtab ? SHT_SYMTAB : SHT_DYNSYM) &&
            (rc = add_symbols(&fv, &fn, &fcap, &ifuncs, &nifuncs, &e, &e.sh[i])) < 0)
            goto out;
    if (fn)
        qsort(fv, fn, sizeof *fv, cmp_func);
    /* A symbol of size 0 (hand-written assembly) runs to the next one. */
    for (size_t i = 0; i < fn; i++)
        if (fv[i].end <= fv[i].start)
            fv[i].end =
                i + 1 < fn && fv[i + 1].start > fv[i].start ? fv[i + 1].start : fv[i].start + 1;

    pthread_once(&llvm_once, llvm_init);
    /* Every extension on: the point is to decode what the file holds, and
     * classify it afterwards. */
    dc = x86 ? LLVMCreateDisasmCPUFeatures(
                   "x86_64-linux-gnu", "",
                   "+avx512f,+avx512bw,+avx512vl,+avx512dq,+avx512cd,+avx512vbmi,"
                   "+avx512vnni,+avx512bf16,+avx512fp16,+avx2,+fma,+bmi,+bmi2,+f16c,"
                   "+movbe,+popcnt,+lzcnt,+sse4.2,+cx16,+sahf",
                   NULL, 0, NULL, NULL)
             : LLVMCreateDisasmCPUFeatures(
                   "aarch64-linux-gnu", "",
                   "+v9a,+lse,+rdm,+dotprod,+fullfp16,+fp16fml,+sve,+sve2,+rcpc,+rcpc-immo,"
                   "+i8mm,+bf16,+mte,+pauth,+crc,+aes,+sha2,+sha3,+sm4",
                   NULL, 0, NULL, NULL);
    if (!dc) {
        rc = assay_error_set(ASSAY_EINVAL, "the LLVM disassembler for %s is not available",
                             x86 ? "x86-64" : "aarch64");
        goto out;
    }
    if (x86) /* Intel syntax: mnemonics without AT&T's size suffixes */
        LLVMSetDisasmOptions(dc, LLVMDisassembler_Option_AsmPrinterVariant);

    struct tally t;
    memset(&t, 0, sizeof t);
    for (size_t i = 0; i < e.shnum; i++) {
        const Elf64_Shdr *s = &e.sh[i];
        if (s->sh_type != SHT_PROGBITS || !(s->sh_flags & SHF_EXECINSTR) ||
            !in_file(&e, s->sh_offset, s->sh_size))
            continue;
        const unsigned char *code = buf + s->sh_offset;
        /* The function holding the section's first byte: found once by
         * binary search, then followed forward with the walk. */
        size_t lo = 0, hi = fn;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (fv[mid].start <= s->sh_addr)
                lo = mid + 1;
            else
                hi = mid;
        }
        size_t fi = lo ? lo - 1 : 0;
        const char *cur = NULL; /* the function t is tallying */
        int prev_cbz_w16 = 0;
        uint64_t off = 0;
        while (off < s->sh_size) {
            uint64_t pc = s->sh_addr + off;
            while (fi < fn && fv[fi].end <= pc)
                fi++;
            const char *fname =
                fi < fn && fv[fi].start <= pc && pc < fv[fi].end ? fv[fi].name : NULL;
            if (fname != cur) {
                if ((rc = flush(r, &t, cur, ifuncs, nifuncs, &ucap)) < 0)
                    goto out;
                cur = fname;
            }
            char text[160];
            size_t n = LLVMDisasmInstruction(dc, (uint8_t *)(uintptr_t)(code + off),
                                             s->sh_size - off, pc, text, sizeof text);
            if (n == 0) {
                size_t skip = x86 ? 1 : 4;
                if (skip > s->sh_size - off)
                    skip = s->sh_size - off;
                r->undecoded += skip;
                off += skip;
                continue;
            }
            /* "\tmnemonic\toperands" */
            char m[32];
            const char *p = text;
            while (*p == '\t' || *p == ' ')
                p++;
            /* x86 prefixes printed as words ("lock", "rep") come first. */
            for (;;) {
                size_t k = 0;
                while (p[k] && p[k] != '\t' && p[k] != ' ' && k < sizeof m - 1) {
                    m[k] = p[k];
                    k++;
                }
                m[k] = '\0';
                p += k;
                while (*p == '\t' || *p == ' ')
                    p++;
                if (!x86 || !*p ||
                    !in_list(m,
                             (const char *const[]){"lock", "rep", "repne", "repe", "notrack", "bnd",
                                                   "xacquire", "xrelease", "data16", NULL}))
                    break;
            }
            if (x86 && !strcmp(m, "cpuid"))
                dispatch = 1;
            int f = x86 ? x86_feature(code + off, n, m, p) : a64_feature(m, p);
            /* GCC's outline-atomics helper, its name stripped: `ldrb w16,
             * [have_lse]; cbz w16, fallback; <LSE>; ret`. */
            if (f == F_LSE && !fname && prev_cbz_w16) {
                if ((rc = flush(r, &t, cur, ifuncs, nifuncs, &ucap)) < 0)
                    goto out;
                cur = STRIPPED_HELPER;
            }
            prev_cbz_w16 = !x86 && !strcmp(m, "cbz") && starts(p, "w16,");
            sve_regs |= f == F_SVE && (has_reg(p, 'z') || has_reg(p, 'p'));
            if (f >= 0) {
                if (!t.count[f]++)
                    snprintf(t.insn[f], sizeof t.insn[f], "%s", m);
                t.any = 1;
            }
            off += n;
        }
        if ((rc = flush(r, &t, cur, ifuncs, nifuncs, &ucap)) < 0)
            goto out;
        r->bytes += s->sh_size;
    }
    /* Code outside any symbol (a stripped library keeps only its exported
     * names): in a file that chooses code at run time, it may be a variant
     * behind that choice. */
    for (size_t i = 0; i < e.shnum && !dispatch; i++) {
        const Elf64_Shdr *s = &e.sh[i];
        if (s->sh_type != SHT_RELA || s->sh_entsize != sizeof(Elf64_Rela) ||
            !in_file(&e, s->sh_offset, s->sh_size))
            continue;
        for (uint64_t k = 0; k < s->sh_size / sizeof(Elf64_Rela) && !dispatch; k++) {
            Elf64_Rela rel;
            memcpy(&rel, buf + s->sh_offset + k * sizeof rel, sizeof rel);
            dispatch = ELF64_R_TYPE(rel.r_info) == (x86 ? R_X86_64_IRELATIVE : R_AARCH64_IRELATIVE);
        }
    }
    /* SVE seen only as the vector length read (cntd, rdvl): libgcc's
     * unwinder does that for frames that use SVE, on any CPU's code path
     * only when such frames exist. */
    for (size_t i = 0; i < r->n && !sve_regs; i++)
        if (!strcmp(r->uses[i].feature, feats[F_SVE].name)) {
            r->uses[i].guarded = 1;
            r->uses[i].why =
                "only reads the SVE vector length, as libgcc's unwinder does for SVE frames";
        }
    for (size_t i = 0; i < r->n; i++)
        if (!r->uses[i].func[0] && (dispatch || nifuncs)) {
            r->uses[i].guarded = 1;
            r->uses[i].why =
                "outside any symbol, in a file that chooses code at run time (ifunc or cpuid)";
        }
    *out = r;
    r = NULL;
    rc = 0;
out:
    if (dc)
        LLVMDisasmDispose(dc);
    free(fv);
    free(ifuncs);
    free(shdrs);
    assay_isa_result_free(r);
    return rc;
}

void assay_isa_result_free(assay_isa_result *r)
{
    if (!r)
        return;
    free(r->uses);
    free(r);
}

/* ---- findings -------------------------------------------------------------- */

static int feature_index(const char *name)
{
    for (int f = 0; f < F_COUNT; f++)
        if (!strcmp(feats[f].name, name))
            return f;
    return -1;
}

/* 1: the profile has the feature; 0: it lacks it; -1: it does not say. */
static int profile_has(const assay_profile *p, int f)
{
    if (feats[f].x86_level)
        return strcmp(p->arch, "x86_64") ? 1
               : p->x86_isa_level        ? p->x86_isa_level >= feats[f].x86_level
                                         : -1;
    if (strcmp(p->arch, "aarch64"))
        return 1;
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(p->doc, "isa_extensions"), *x;
    if (!cJSON_IsArray(ext))
        return f == F_LSE && p->atomics_lse >= 0 ? p->atomics_lse : -1;
    cJSON_ArrayForEach(x, ext) if (cJSON_IsString(x) &&
                                   !strcasecmp(x->valuestring, feats[f].name)) return 1;
    return 0;
}

static void append(char *dst, size_t size, const char *a, const char *b)
{
    size_t used = strlen(dst);
    if (used < size)
        snprintf(dst + used, size - used, "%s%s", a, b);
}

/* "casal (LSE) in f(), g() and 3 more; ..." over the uses of one kind
 * (guarded or not) that the profile lacks; `lacks` gets "LSE atomics
 * (ARMv8.1), ..." once per feature. Returns the number of uses listed. */
static size_t describe(char *found, size_t fsize, char *lacks, size_t lsize, char *lacks_zh,
                       size_t zsize, const assay_isa_result *r, const assay_profile *p, int guarded)
{
    size_t total = 0;
    found[0] = lacks[0] = lacks_zh[0] = '\0';
    for (int f = 0; f < F_COUNT; f++) {
        size_t named = 0, more = 0;
        const char *insn = NULL;
        for (size_t i = 0; i < r->n; i++) {
            const assay_isa_use *u = &r->uses[i];
            if (u->guarded != guarded || feature_index(u->feature) != f || profile_has(p, f) != 0)
                continue;
            if (!insn) {
                insn = u->insn;
                char head[96];
                snprintf(head, sizeof head, "%s (%s) in ", u->insn, feats[f].name);
                append(found, fsize, found[0] ? "; " : "", head);
                append(lacks, lsize, lacks[0] ? ", " : "", feats[f].what);
                append(lacks_zh, zsize, lacks_zh[0] ? "、" : "", feats[f].zh);
            }
            if (named < FUNCS_NAMED) {
                append(found, fsize, named ? ", " : "",
                       u->func[0] ? u->func : "code outside any symbol");
                append(found, fsize, u->func[0] ? "()" : "", "");
                named++;
            } else {
                more++;
            }
            total++;
        }
        if (more) {
            char m[40];
            snprintf(m, sizeof m, " and %zu more", more);
            append(found, fsize, m, "");
        }
    }
    return total;
}

int assay_isa_findings(cJSON *fl, const assay_isa_result *r, const assay_profile *p)
{
    if (!r)
        return 0;
    if (r->too_large[0]) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "severity", "warning");
        cJSON_AddStringToObject(f, "check", "instructions");
        cJSON_AddStringToObject(f, "expected", "code disassembled");
        cJSON_AddStringToObject(f, "found", r->too_large);
        cJSON_AddStringToObject(f, "hint",
                                "the instruction check did not read this file: its ISA extensions "
                                "are unknown");
        cJSON_AddItemToArray(fl, f);
        return 0;
    }
    const char *cpu = p->model[0] ? p->model : p->id;
    int errors = 0;
    for (int guarded = 0; guarded < 2; guarded++) {
        char found[1024], lacks[400], lacks_zh[400], hint[1600], expected[200];
        if (!describe(found, sizeof found, lacks, sizeof lacks, lacks_zh, sizeof lacks_zh, r, p,
                      guarded))
            continue;
        snprintf(expected, sizeof expected, "instructions of %s", p->isa[0] ? p->isa : p->arch);
        if (guarded)
            snprintf(
                hint, sizeof hint,
                "%s has no %s; these functions may run only after a CPU check (runtime dispatch): "
                "make sure the check exists and its fallback is tested on %s",
                cpu, lacks, cpu);
        else
            snprintf(hint, sizeof hint,
                     "%s has no %s: the code dies with SIGILL there. Build for %s, or put these "
                     "functions "
                     "behind runtime dispatch (ifunc, cpuid/HWCAP checks, -moutline-atomics)",
                     cpu, lacks, p->isa[0] ? p->isa : p->arch);
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "severity", guarded ? "warning" : "error");
        cJSON_AddStringToObject(f, "check", guarded ? "instructions-guarded" : "instructions");
        cJSON_AddStringToObject(f, "expected", expected);
        cJSON_AddStringToObject(f, "found", found);
        cJSON_AddStringToObject(f, "hint", hint);
        /* For the report's SIGILL note (assay_isa_sigill_note). */
        char lacks_full[600], lacks_full_zh[600];
        snprintf(lacks_full, sizeof lacks_full, "%s has no %s", cpu, lacks);
        snprintf(lacks_full_zh, sizeof lacks_full_zh, "%s 不支持%s", cpu, lacks_zh);
        cJSON_AddStringToObject(f, "lacks", lacks_full);
        cJSON_AddStringToObject(f, "lacks_zh", lacks_full_zh);
        cJSON_AddItemToArray(fl, f);
        errors += !guarded;
    }
    return errors;
}

int assay_isa_sigill_note(char *en, size_t en_size, char *zh, size_t zh_size, const cJSON *pf)
{
    const cJSON *file, *x;
    en[0] = zh[0] = '\0';
    /* Unguarded uses first: they are the likely cause. */
    for (int pass = 0; pass < 2; pass++) {
        cJSON_ArrayForEach(file, cJSON_GetObjectItemCaseSensitive(pf, "files"))
            cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(file, "findings"))
        {
            const cJSON *check = cJSON_GetObjectItemCaseSensitive(x, "check");
            const char *want = pass ? "instructions-guarded" : "instructions";
            const cJSON *found = cJSON_GetObjectItemCaseSensitive(x, "found"),
                        *lacks = cJSON_GetObjectItemCaseSensitive(x, "lacks"),
                        *lacks_zh = cJSON_GetObjectItemCaseSensitive(x, "lacks_zh"),
                        *path = cJSON_GetObjectItemCaseSensitive(file, "path");
            if (!cJSON_IsString(check) || strcmp(check->valuestring, want) ||
                !cJSON_IsString(found) || !cJSON_IsString(lacks))
                continue;
            const char *pth = cJSON_IsString(path) ? path->valuestring : "?";
            snprintf(en, en_size, "%s uses %s; %s%s", pth, found->valuestring, lacks->valuestring,
                     pass ? " (in functions runtime dispatch may guard)" : "");
            snprintf(zh, zh_size, "%s 使用了 %s；%s%s", pth, found->valuestring,
                     cJSON_IsString(lacks_zh) ? lacks_zh->valuestring : lacks->valuestring,
                     pass ? "（位于可能由运行时分派保护的函数中）" : "");
            return 1;
        }
    }
    return 0;
}
