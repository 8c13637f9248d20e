/* ELF header identification; see include/assay/elf.h. */
#include "assay/elf.h"
#include "assay/error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Read a little- or big-endian field; `p` has been bounds-checked. */
static uint32_t rd16(const unsigned char *p, int be)
{
    return be ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
}

static uint32_t rd32(const unsigned char *p, int be)
{
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int assay_elf_ident_parse(assay_elf_ident *out, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    assay_elf_ident id;

    if (len < 16 || memcmp(p, "\177ELF", 4) != 0)
        return assay_error_set(ASSAY_EINVAL, "not an ELF file");
    switch (p[4]) {
    case 1: id.bits = 32; break;
    case 2: id.bits = 64; break;
    default: return assay_error_set(ASSAY_EINVAL, "ELF class %u is invalid", p[4]);
    }
    switch (p[5]) {
    case 1: id.big_endian = 0; break;
    case 2: id.big_endian = 1; break;
    default: return assay_error_set(ASSAY_EINVAL, "ELF byte order %u is invalid", p[5]);
    }
    /* e_type and e_machine sit at 16 and 18 in both classes; e_flags at 36
     * (32-bit) or 48 (64-bit). */
    size_t flags_at = id.bits == 64 ? 48 : 36;
    if (len < flags_at + 4)
        return assay_error_set(ASSAY_EINVAL, "ELF header truncated (%zu bytes)", len);
    id.type = rd16(p + 16, id.big_endian);
    id.machine = rd16(p + 18, id.big_endian);
    id.flags = rd32(p + flags_at, id.big_endian);
    *out = id;
    return 0;
}

int assay_elf_ident_file(assay_elf_ident *out, const char *path)
{
    unsigned char hdr[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "%s", path);
    ssize_t n;
    do
        n = read(fd, hdr, sizeof hdr);
    while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n < 0)
        return assay_error_set_errno(ASSAY_EIO, saved, "%s", path);
    if (assay_elf_ident_parse(out, hdr, (size_t)n) < 0)
        return assay_error_wrap("%s", path);
    return 0;
}

const char *assay_elf_arch_name(unsigned machine, int bits)
{
    switch (machine) {
    case 62: return "x86_64";        /* EM_X86_64 */
    case 3: return "i386";           /* EM_386 */
    case 183: return "aarch64";      /* EM_AARCH64 */
    case 40: return "arm";           /* EM_ARM */
    case 258: return bits == 64 ? "loongarch64" : "loongarch32"; /* EM_LOONGARCH */
    case 243: return bits == 64 ? "riscv64" : "riscv32";          /* EM_RISCV */
    case 8: return bits == 64 ? "mips64" : "mips";                /* EM_MIPS */
    case 21: return "ppc64";         /* EM_PPC64 */
    case 22: return "s390x";         /* EM_S390 */
    case 2: return "sparc";          /* EM_SPARC */
    case 43: return "sparc64";       /* EM_SPARCV9 */
    default: return NULL;
    }
}
