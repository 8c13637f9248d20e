/* ELF header identification; see include/assay/elf.h. */
#include "assay/elf.h"
#include "assay/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- the full reader ------------------------------------------------------
 * Section headers give the dynamic section, the dynamic symbols, the
 * version tables and the notes; program headers give the interpreter and
 * the load alignment. Binaries without section headers (sstrip) still get
 * their interpreter and alignment read.
 */

struct img {
    const unsigned char *p;
    size_t len;
    int be, b64;
};

static int in_bounds(const struct img *m, uint64_t off, uint64_t n)
{
    return off <= m->len && n <= m->len - off;
}

static uint64_t rd64(const unsigned char *p, int be)
{
    uint64_t hi = rd32(p + (be ? 0 : 4), be), lo = rd32(p + (be ? 4 : 0), be);
    return hi << 32 | lo;
}

/* A field of `w` bytes (4 or 8, or 2) at off; the caller has bounds-checked. */
static uint64_t fld(const struct img *m, uint64_t off, int w)
{
    return w == 8 ? rd64(m->p + off, m->be) : w == 4 ? rd32(m->p + off, m->be) : rd16(m->p + off, m->be);
}

/* A NUL-terminated string at off within [base, base+size) of the file. */
static const char *str_at(const struct img *m, uint64_t base, uint64_t size, uint64_t off)
{
    if (!in_bounds(m, base, size) || off >= size)
        return NULL;
    const char *s = (const char *)m->p + base + off;
    return memchr(s, '\0', size - off) ? s : NULL;
}

struct shdr {
    uint32_t type, link;
    uint64_t offset, size, entsize;
};

static int get_shdr(const struct img *m, uint64_t shoff, uint16_t shentsize, uint32_t i, struct shdr *s)
{
    uint64_t at = shoff + (uint64_t)i * shentsize;
    if (!in_bounds(m, at, shentsize) || shentsize < (m->b64 ? 64 : 40))
        return -1;
    s->type = (uint32_t)fld(m, at + 4, 4);
    if (m->b64) {
        s->offset = fld(m, at + 24, 8);
        s->size = fld(m, at + 32, 8);
        s->link = (uint32_t)fld(m, at + 40, 4);
        s->entsize = fld(m, at + 56, 8);
    } else {
        s->offset = fld(m, at + 16, 4);
        s->size = fld(m, at + 20, 4);
        s->link = (uint32_t)fld(m, at + 24, 4);
        s->entsize = fld(m, at + 36, 4);
    }
    if (s->type != 8 /* SHT_NOBITS */ && !in_bounds(m, s->offset, s->size))
        return -1;
    return 0;
}

void assay_elf_info_free(assay_elf_info *info)
{
    if (!info)
        return;
    free(info->needed);
    free(info->vreqs);
    free(info->vsyms);
    free(info);
}

int assay_version_cmp(const char *a, const char *b)
{
    while (*a || *b) {
        unsigned long x = 0, y = 0;
        while (*a >= '0' && *a <= '9')
            x = x * 10 + (unsigned long)(*a++ - '0');
        while (*b >= '0' && *b <= '9')
            y = y * 10 + (unsigned long)(*b++ - '0');
        if (x != y)
            return x < y ? -1 : 1;
        if (*a == '.')
            a++;
        else if (*a)
            a++;
        if (*b == '.')
            b++;
        else if (*b)
            b++;
    }
    return 0;
}

/* x86 ISA level from a GNU property note descriptor (NT_GNU_PROPERTY_TYPE_0). */
static int isa_from_properties(const struct img *m, uint64_t off, uint64_t size)
{
    int level = 0;
    uint64_t align = m->b64 ? 8 : 4, at = 0;
    while (at + 8 <= size) {
        uint32_t type = (uint32_t)fld(m, off + at, 4), dsz = (uint32_t)fld(m, off + at + 4, 4);
        if (dsz > size - at - 8)
            break;
        if (type == 0xc0008002u && dsz >= 4) { /* GNU_PROPERTY_X86_ISA_1_NEEDED */
            uint32_t bits = (uint32_t)fld(m, off + at + 8, 4);
            for (int v = 3; v >= 0; v--)
                if (bits & (1u << v)) {
                    level = v + 1; /* bit 0 baseline (v1), 1 v2, 2 v3, 3 v4 */
                    break;
                }
        }
        at += 8 + ((dsz + align - 1) & ~(align - 1));
    }
    return level;
}

static void notes(const struct img *m, uint64_t off, uint64_t size, assay_elf_info *info)
{
    uint64_t at = 0;
    while (at + 12 <= size) {
        uint32_t namesz = (uint32_t)fld(m, off + at, 4), descsz = (uint32_t)fld(m, off + at + 4, 4),
                 type = (uint32_t)fld(m, off + at + 8, 4);
        uint64_t name = at + 12, desc = name + ((namesz + 3u) & ~3u);
        uint64_t dalign = m->b64 && type == 5 ? 8 : 4; /* property notes are 8-aligned in 64-bit files */
        uint64_t next = desc + ((descsz + dalign - 1) & ~(dalign - 1));
        if (namesz > size || descsz > size || desc > size || desc + descsz > size)
            break;
        if (type == 5 && namesz == 4 && memcmp(m->p + off + name, "GNU", 4) == 0) {
            int l = isa_from_properties(m, off + desc, descsz);
            if (l > info->x86_isa_needed)
                info->x86_isa_needed = l;
        }
        if (next <= at)
            break;
        at = next;
    }
}

int assay_elf_read(assay_elf_info **out, const void *buf, size_t len)
{
    assay_elf_info *info = calloc(1, sizeof *info);
    struct img m = {buf, len, 0, 0};
    int rc;
    if (!info)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    if ((rc = assay_elf_ident_parse(&info->id, buf, len)) < 0)
        goto fail;
    m.be = info->id.big_endian;
    m.b64 = info->id.bits == 64;
    if (len < (m.b64 ? 64u : 52u)) {
        rc = assay_error_set(ASSAY_EINVAL, "ELF header truncated");
        goto fail;
    }
    int w = m.b64 ? 8 : 4;
    uint64_t phoff = fld(&m, m.b64 ? 32 : 28, w), shoff = fld(&m, m.b64 ? 40 : 32, w);
    uint16_t phentsize = (uint16_t)fld(&m, m.b64 ? 54 : 42, 2), phnum = (uint16_t)fld(&m, m.b64 ? 56 : 44, 2);
    uint16_t shentsize = (uint16_t)fld(&m, m.b64 ? 58 : 46, 2), shnum = (uint16_t)fld(&m, m.b64 ? 60 : 48, 2);

    /* Program headers: interpreter, load alignment, property notes. */
    if (phnum && (phentsize < (m.b64 ? 56 : 32) || !in_bounds(&m, phoff, (uint64_t)phnum * phentsize))) {
        rc = assay_error_set(ASSAY_EINVAL, "ELF program headers lie outside the file");
        goto fail;
    }
    for (uint32_t i = 0; i < phnum; i++) {
        uint64_t at = phoff + (uint64_t)i * phentsize;
        uint32_t type = (uint32_t)fld(&m, at, 4);
        uint64_t off = fld(&m, at + (m.b64 ? 8 : 4), w), filesz = fld(&m, at + (m.b64 ? 32 : 16), w);
        uint64_t align = fld(&m, at + (m.b64 ? 48 : 28), w);
        if (type == 1 /* PT_LOAD */ && (!info->min_load_align || align < info->min_load_align))
            info->min_load_align = align ? align : 1;
        if (type == 3 /* PT_INTERP */ && in_bounds(&m, off, filesz) && filesz > 0) {
            size_t n = filesz < sizeof info->interp ? (size_t)filesz : sizeof info->interp - 1;
            memcpy(info->interp, m.p + off, n);
            info->interp[n] = '\0';
            info->interp[strnlen(info->interp, n)] = '\0';
        }
        if (type == 0x6474e553 /* PT_GNU_PROPERTY */ && in_bounds(&m, off, filesz))
            notes(&m, off, filesz, info);
    }

    /* Section headers: dynamic section, dynamic symbols, versions. */
    if (shnum && (!in_bounds(&m, shoff, (uint64_t)shnum * shentsize) || shentsize < (m.b64 ? 64 : 40))) {
        rc = assay_error_set(ASSAY_EINVAL, "ELF section headers lie outside the file");
        goto fail;
    }
    struct shdr dyn = {0}, dynsym = {0}, versym = {0}, verneed = {0}, sh;
    int have_dyn = 0, have_sym = 0, have_vs = 0, have_vn = 0;
    for (uint32_t i = 0; i < shnum; i++) {
        if (get_shdr(&m, shoff, shentsize, i, &sh) < 0) {
            rc = assay_error_set(ASSAY_EINVAL, "ELF section %u lies outside the file", i);
            goto fail;
        }
        if (sh.type == 6 /* SHT_DYNAMIC */)
            dyn = sh, have_dyn = 1;
        else if (sh.type == 11 /* SHT_DYNSYM */)
            dynsym = sh, have_sym = 1;
        else if (sh.type == 0x6fffffff /* SHT_GNU_versym */)
            versym = sh, have_vs = 1;
        else if (sh.type == 0x6ffffffe /* SHT_GNU_verneed */)
            verneed = sh, have_vn = 1;
        else if (sh.type == 7 /* SHT_NOTE */ && !info->x86_isa_needed)
            notes(&m, sh.offset, sh.size, info);
    }
    if (have_dyn) {
        struct shdr strs;
        if (dyn.link >= shnum || get_shdr(&m, shoff, shentsize, dyn.link, &strs) < 0) {
            rc = assay_error_set(ASSAY_EINVAL, "ELF dynamic section names no string table");
            goto fail;
        }
        uint64_t esz = m.b64 ? 16 : 8, n = dyn.size / esz;
        info->needed = calloc(n ? n : 1, sizeof *info->needed);
        if (!info->needed) {
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            goto fail;
        }
        for (uint64_t i = 0; i < n; i++) {
            uint64_t tag = fld(&m, dyn.offset + i * esz, w), val = fld(&m, dyn.offset + i * esz + (uint64_t)w, w);
            if (tag == 0)
                break;
            const char *s = (tag == 1 || tag == 14) ? str_at(&m, strs.offset, strs.size, val) : NULL;
            if (tag == 1 /* DT_NEEDED */ && s)
                snprintf(info->needed[info->nneeded++], sizeof info->needed[0], "%s", s);
            else if (tag == 14 /* DT_SONAME */ && s)
                snprintf(info->soname, sizeof info->soname, "%s", s);
        }
    }
    if (have_vn) {
        /* Vernaux entries: which version of which library. Their index
         * (vna_other) is what .gnu.version gives each symbol. */
        struct shdr strs;
        if (verneed.link >= shnum || get_shdr(&m, shoff, shentsize, verneed.link, &strs) < 0) {
            rc = assay_error_set(ASSAY_EINVAL, "ELF version section names no string table");
            goto fail;
        }
        size_t cap = verneed.size / 16 + 1;
        info->vreqs = calloc(cap, sizeof *info->vreqs);
        uint16_t *idx = calloc(cap, sizeof *idx);
        if (!info->vreqs || !idx) {
            free(idx);
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            goto fail;
        }
        uint64_t at = 0;
        for (size_t guard = 0; at + 16 <= verneed.size && guard < cap; guard++) {
            uint64_t vn = verneed.offset + at;
            uint16_t cnt = (uint16_t)fld(&m, vn + 2, 2);
            const char *file = str_at(&m, strs.offset, strs.size, fld(&m, vn + 4, 4));
            uint32_t aux = (uint32_t)fld(&m, vn + 8, 4), next = (uint32_t)fld(&m, vn + 12, 4);
            uint64_t a = at + aux;
            for (uint16_t k = 0; k < cnt && a + 16 <= verneed.size && info->nvreqs < cap; k++) {
                uint64_t va = verneed.offset + a;
                const char *name = str_at(&m, strs.offset, strs.size, fld(&m, va + 8, 4));
                if (name) {
                    assay_elf_vreq *r = &info->vreqs[info->nvreqs];
                    snprintf(r->file, sizeof r->file, "%s", file ? file : "?");
                    snprintf(r->version, sizeof r->version, "%s", name);
                    idx[info->nvreqs++] = (uint16_t)fld(&m, va + 6, 2) & 0x7fff;
                }
                uint32_t an = (uint32_t)fld(&m, va + 12, 4);
                if (!an)
                    break;
                a += an;
            }
            if (!next)
                break;
            at += next;
        }
        /* Symbols: each undefined dynamic symbol whose version index names a
         * required version. */
        if (have_sym && have_vs) {
            struct shdr ss;
            uint64_t esz = m.b64 ? 24 : 16, n = dynsym.size / esz;
            if (dynsym.link < shnum && get_shdr(&m, shoff, shentsize, dynsym.link, &ss) == 0 &&
                versym.size / 2 >= n) {
                info->vsyms = calloc(n ? n : 1, sizeof *info->vsyms);
                for (uint64_t i = 1; info->vsyms && i < n; i++) {
                    uint64_t sym = dynsym.offset + i * esz;
                    uint16_t shndx = (uint16_t)fld(&m, sym + (m.b64 ? 6 : 14), 2);
                    if (shndx != 0) /* defined here */
                        continue;
                    uint16_t v = (uint16_t)fld(&m, versym.offset + i * 2, 2) & 0x7fff;
                    const char *name = str_at(&m, ss.offset, ss.size, fld(&m, sym, 4));
                    for (size_t r = 0; name && r < info->nvreqs; r++)
                        if (idx[r] == v) {
                            assay_elf_vsym *o = &info->vsyms[info->nvsyms++];
                            snprintf(o->name, sizeof o->name, "%s", name);
                            snprintf(o->version, sizeof o->version, "%s", info->vreqs[r].version);
                            break;
                        }
                }
            }
        }
        free(idx);
    }
    *out = info;
    return 0;
fail:
    assay_elf_info_free(info);
    return rc;
}

const char *assay_elf_loongarch_world(const assay_elf_info *info)
{
    if (info->id.machine != 258)
        return NULL;
    if (strstr(info->interp, "ld-linux-loongarch-lp64"))
        return "new";
    if (!strcmp(info->interp, "/lib64/ld.so.1"))
        return "old";
    return (info->id.flags & 0xc0) == 0x40 ? "new" : "old"; /* EF_LOONGARCH_OBJABI_V1 */
}
