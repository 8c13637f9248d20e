/*
 * ELF identification: class, byte order, type, machine and flags from an
 * ELF header. Shared by the agent (`inspect`, `facts`) and the controller
 * (preflight). Every byte is untrusted: lengths are checked before use and
 * nothing is read past `len`.
 */
#ifndef ASSAY_ELF_H
#define ASSAY_ELF_H

#include <stddef.h>
#include <stdint.h>

typedef struct assay_elf_ident {
    int bits;          /* 32 or 64 */
    int big_endian;    /* 1 for ELFDATA2MSB */
    unsigned type;     /* e_type: ET_EXEC, ET_DYN, ET_REL ... */
    unsigned machine;  /* e_machine: EM_X86_64, EM_AARCH64, EM_LOONGARCH ... */
    uint32_t flags;    /* e_flags (LoongArch: ABI and OBJABI version) */
} assay_elf_ident;

/*
 * Parse the ELF header at the start of `buf`. Returns 0, or ASSAY_EINVAL
 * when the bytes are not an ELF header (too short, bad magic, unknown class
 * or byte order).
 */
int assay_elf_ident_parse(assay_elf_ident *out, const void *buf, size_t len);

/*
 * Read and parse the ELF header of the file at `path`. Returns 0,
 * ASSAY_EIO when it cannot be read, ASSAY_EINVAL when it is not ELF.
 */
int assay_elf_ident_file(assay_elf_ident *out, const char *path);

/*
 * The architecture name (as `uname -m` prints it) of an ELF machine and
 * class, e.g. "aarch64", "x86_64", "loongarch64", "i386"; NULL if unknown.
 */
const char *assay_elf_arch_name(unsigned machine, int bits);

/* What preflight needs to know about one ELF file. */
typedef struct assay_elf_vreq {
    char file[64];     /* the library the version comes from ("libc.so.6") */
    char version[64];  /* "GLIBC_2.34", "GLIBCXX_3.4.29", "CXXABI_1.3.13" */
} assay_elf_vreq;

typedef struct assay_elf_vsym {
    char name[96];     /* an undefined symbol ... */
    char version[64];  /* ... and the version it needs */
} assay_elf_vsym;

typedef struct assay_elf_info {
    assay_elf_ident id;
    char interp[256];          /* PT_INTERP, "" for static binaries and libraries */
    uint64_t min_load_align;   /* the smallest PT_LOAD p_align, 0 if none */
    int x86_isa_needed;        /* x86-64 level in GNU property X86_ISA_1_NEEDED (1-4), 0 if none */
    char (*needed)[128];       /* DT_NEEDED, at most ASSAY_ELF_MAX_NEEDED */
    size_t nneeded;
    char soname[128];          /* DT_SONAME, "" if none */
    assay_elf_vreq *vreqs;     /* from .gnu.version_r */
    size_t nvreqs;
    assay_elf_vsym *vsyms;     /* undefined symbols with a required version: the first
                                * ASSAY_ELF_SYMS_PER_VERSION of each required version, in
                                * symbol table order (enough to name the first few that
                                * need any set of versions) */
    size_t nvsyms;
    size_t nvsyms_all;         /* how many there are in all */
    char vermagic[128];        /* a kernel module's (ET_REL) "vermagic=" of .modinfo, "" if none */
} assay_elf_info;

#define ASSAY_ELF_MAX_BYTES (1024u * 1024 * 1024) /* files larger than this are not read */

/*
 * What the reader reads of one file at most. Real binaries stay far below
 * (Node.js: 75 000 dynamic symbols; libgrpc: 31 DT_NEEDED; gdb: 60
 * version records); a file beyond one is "too large to check": not read,
 * and reported as such (ASSAY_ETOOBIG, the message names the cap).
 */
#define ASSAY_ELF_MAX_DYNAMIC 8192u        /* dynamic section entries before DT_NULL */
#define ASSAY_ELF_MAX_NEEDED 1024u         /* DT_NEEDED entries */
#define ASSAY_ELF_MAX_SYMBOLS (1u << 20)   /* dynamic symbols (.dynsym entries) */
#define ASSAY_ELF_MAX_VERSIONS 8192u       /* .gnu.version_r records (Verneed and Vernaux) */
#define ASSAY_ELF_MAX_NOTES 4096u          /* note and GNU property records */
#define ASSAY_ELF_SYMS_PER_VERSION 5       /* symbols kept per required version */

/*
 * Read what preflight needs from an ELF image in memory. Every offset,
 * size and count comes from the file and is checked against `len` before
 * use; there is no recursion, and the work is linear in the file's size
 * and bounded by the caps above: string tables are indexed once (a name is
 * found in O(1) and copied at most to its field's size), version indexes
 * are matched through a table, and the walks of .gnu.version_r stop when
 * they would visit more records than the section holds (a cycle or
 * overlap: the file is damaged). Returns 0 with *out owned by the caller;
 * ASSAY_ETOOBIG when the file exceeds a cap ("too large to check: more than
 * 1024 DT_NEEDED entries"); ASSAY_EINVAL for a damaged or non-ELF image
 * (with the reason); ASSAY_ENOMEM.
 */
int assay_elf_read(assay_elf_info **out, const void *buf, size_t len);
void assay_elf_info_free(assay_elf_info *info);

/* LoongArch ABI world of a loongarch64 ELF: "new" (interpreter
 * /lib64/ld-linux-loongarch-lp64d.so.1, or OBJABI v1 in e_flags), "old"
 * (/lib64/ld.so.1, or OBJABI v0), or NULL for other machines. */
const char *assay_elf_loongarch_world(const assay_elf_info *info);

/* Compare dotted versions ("2.34" < "2.35", "3.4.9" < "3.4.29"). */
int assay_version_cmp(const char *a, const char *b);

#endif
