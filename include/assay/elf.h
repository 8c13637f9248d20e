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

#endif
