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
    case 20: return "ppc";           /* EM_PPC */
    case 21: return "ppc64";         /* EM_PPC64 */
    case 22: return bits == 64 ? "s390x" : "s390"; /* EM_S390 */
    case 15: return "parisc";        /* EM_PARISC */
    case 41: case 0x9026: return "alpha"; /* EM_ALPHA, and the number Linux uses */
    case 42: return "sh";            /* EM_SH */
    case 50: return "ia64";          /* EM_IA_64 */
    case 4: return "m68k";           /* EM_68K */
    case 18: return "sparc32plus";   /* EM_SPARC32PLUS */
    case 94: return "xtensa";        /* EM_XTENSA */
    case 92: return "openrisc";      /* EM_OPENRISC */
    case 189: return "microblaze";   /* EM_MICROBLAZE */
    case 106: return "blackfin";     /* EM_BLACKFIN */
    case 164: return "hexagon";      /* EM_HEXAGON */
    case 83: return "avr";           /* EM_AVR */
    case 247: return "bpf";          /* EM_BPF */
    case 252: return "csky";         /* EM_CSKY */
    case 93: return "arc";           /* EM_ARC_COMPACT */
    case 195: return "arcv2";        /* EM_ARC_COMPACT2 */
    case 88: return "m32r";          /* EM_M32R */
    case 0x9080: return "v850";      /* EM_CYGNUS_V850 */
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
 *
 * The bytes come from anyone who can submit a package, so the work must be
 * linear in the file and bounded by the caps of elf.h: each string table
 * is indexed once, so that a lookup costs O(1) and a copy at most the
 * field it fills (a table without a NUL made every lookup scan it to its
 * end); version indexes are matched through a table, not by a search per
 * symbol; and every walk that follows offsets from the file counts the
 * records it visits.
 */

struct img {
    const unsigned char *p;
    size_t len;
    int be, b64;
    unsigned notes; /* note and property records visited so far */
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

struct shdr {
    uint32_t name, type, link;
    uint64_t offset, size, entsize;
};

/* A string table, indexed once: `end` is one past its last NUL, so a name
 * at any offset below `end` is terminated inside the table and one at or
 * past it is not. */
struct strtab {
    const char *p;
    uint64_t end;
};

static void strtab_index(struct strtab *t, const struct img *m, const struct shdr *s)
{
    t->p = NULL;
    t->end = 0;
    if (!in_bounds(m, s->offset, s->size) || s->size == 0)
        return;
    t->p = (const char *)m->p + s->offset;
    const char *nul = memrchr(t->p, '\0', (size_t)s->size);
    t->end = nul ? (uint64_t)(nul - t->p) + 1 : 0;
}

/* The NUL-terminated name at `off`, or NULL if it does not end in the table. */
static const char *strtab_at(const struct strtab *t, uint64_t off)
{
    return off < t->end ? t->p + off : NULL;
}

/* Copy at most cap - 1 bytes of `s`: snprintf's "%s" would measure all of
 * it, however long it is. */
static void copy_name(char *dst, size_t cap, const char *s)
{
    size_t n = strnlen(s, cap - 1);
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static int get_shdr(const struct img *m, uint64_t shoff, uint16_t shentsize, uint32_t i, struct shdr *s)
{
    uint64_t at = shoff + (uint64_t)i * shentsize;
    if (!in_bounds(m, at, shentsize) || shentsize < (m->b64 ? 64 : 40))
        return -1;
    s->name = (uint32_t)fld(m, at, 4);
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

/* Count one note or property record against the cap. Many note sections
 * (or PT_GNU_PROPERTY segments) may all cover the same bytes: without a
 * count, 65 535 of them over one region cost 65 535 times its size. */
static int note_visit(struct img *m)
{
    if (++m->notes > ASSAY_ELF_MAX_NOTES)
        return assay_error_set(ASSAY_ETOOBIG, "too large to check: more than %u note records", ASSAY_ELF_MAX_NOTES);
    return 0;
}

/* x86 ISA level from a GNU property note descriptor (NT_GNU_PROPERTY_TYPE_0). */
static int isa_from_properties(struct img *m, uint64_t off, uint64_t size, int *level)
{
    uint64_t align = m->b64 ? 8 : 4, at = 0;
    int rc;
    while (at + 8 <= size) {
        if ((rc = note_visit(m)) < 0)
            return rc;
        uint32_t type = (uint32_t)fld(m, off + at, 4), dsz = (uint32_t)fld(m, off + at + 4, 4);
        if (dsz > size - at - 8)
            break;
        if (type == 0xc0008002u && dsz >= 4) { /* GNU_PROPERTY_X86_ISA_1_NEEDED */
            uint32_t bits = (uint32_t)fld(m, off + at + 8, 4);
            for (int v = 3; v >= 0; v--)
                if (bits & (1u << v)) {
                    *level = v + 1; /* bit 0 baseline (v1), 1 v2, 2 v3, 3 v4 */
                    break;
                }
        }
        at += 8 + ((dsz + align - 1) & ~(align - 1));
    }
    return 0;
}

static int notes(struct img *m, uint64_t off, uint64_t size, assay_elf_info *info)
{
    uint64_t at = 0;
    int rc;
    while (at + 12 <= size) {
        if ((rc = note_visit(m)) < 0)
            return rc;
        uint32_t namesz = (uint32_t)fld(m, off + at, 4), descsz = (uint32_t)fld(m, off + at + 4, 4),
                 type = (uint32_t)fld(m, off + at + 8, 4);
        uint64_t name = at + 12, desc = name + ((namesz + 3u) & ~3u);
        uint64_t dalign = m->b64 && type == 5 ? 8 : 4; /* property notes are 8-aligned in 64-bit files */
        uint64_t next = desc + ((descsz + dalign - 1) & ~(dalign - 1));
        if (namesz > size || descsz > size || desc > size || desc + descsz > size)
            break;
        if (type == 5 && namesz == 4 && memcmp(m->p + off + name, "GNU", 4) == 0) {
            int l = 0;
            if ((rc = isa_from_properties(m, off + desc, descsz, &l)) < 0)
                return rc;
            if (l > info->x86_isa_needed)
                info->x86_isa_needed = l;
        }
        if (next <= at)
            break;
        at = next;
    }
    return 0;
}

/* DT_NEEDED and DT_SONAME. Counted first, so that the list is allocated
 * once at its size and a file over a cap is refused before anything is
 * copied. */
static int dynamic(assay_elf_info *info, const struct img *m, const struct shdr *dyn, const struct strtab *st)
{
    int w = m->b64 ? 8 : 4;
    uint64_t esz = m->b64 ? 16 : 8, n = dyn->size / esz, end = 0, nneeded = 0;
    for (; end < n; end++) {
        uint64_t tag = fld(m, dyn->offset + end * esz, w);
        if (tag == 0)
            break;
        if (end == ASSAY_ELF_MAX_DYNAMIC)
            return assay_error_set(ASSAY_ETOOBIG, "too large to check: more than %u dynamic entries",
                                   ASSAY_ELF_MAX_DYNAMIC);
        if (tag == 1 && ++nneeded > ASSAY_ELF_MAX_NEEDED)
            return assay_error_set(ASSAY_ETOOBIG, "too large to check: more than %u DT_NEEDED entries",
                                   ASSAY_ELF_MAX_NEEDED);
    }
    if (!(info->needed = calloc(nneeded ? (size_t)nneeded : 1, sizeof *info->needed)))
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < end; i++) {
        uint64_t tag = fld(m, dyn->offset + i * esz, w);
        if (tag != 1 /* DT_NEEDED */ && tag != 14 /* DT_SONAME */)
            continue;
        const char *s = strtab_at(st, fld(m, dyn->offset + i * esz + (uint64_t)w, w));
        if (tag == 1 && s)
            copy_name(info->needed[info->nneeded++], sizeof info->needed[0], s);
        else if (tag == 14 && s)
            copy_name(info->soname, sizeof info->soname, s);
    }
    return 0;
}

/* A kernel module's vermagic: the "vermagic=" string of its .modinfo
 * section (NUL-separated key=value strings), found through the section
 * name table. Anything out of place leaves it "". */
static void modinfo(assay_elf_info *info, const struct img *m, uint64_t shoff, uint16_t shentsize, uint16_t shnum,
                    uint16_t shstrndx)
{
    struct shdr names, sh;
    struct strtab st;
    if (shstrndx >= shnum || get_shdr(m, shoff, shentsize, shstrndx, &names) < 0)
        return;
    strtab_index(&st, m, &names);
    for (uint32_t i = 0; i < shnum; i++) {
        const char *n;
        if (get_shdr(m, shoff, shentsize, i, &sh) < 0 || sh.type != 1 /* SHT_PROGBITS */ ||
            !(n = strtab_at(&st, sh.name)) || strcmp(n, ".modinfo"))
            continue;
        const char *p = (const char *)m->p + sh.offset, *end = p + sh.size;
        while (p < end) {
            size_t k = strnlen(p, (size_t)(end - p));
            if (k > 9 && !strncmp(p, "vermagic=", 9)) {
                size_t v = k - 9 < sizeof info->vermagic ? k - 9 : sizeof info->vermagic - 1;
                memcpy(info->vermagic, p + 9, v);
                info->vermagic[v] = '\0';
                while (v > 0 && info->vermagic[v - 1] == ' ')
                    info->vermagic[--v] = '\0';
                return;
            }
            p += k + 1;
        }
        return;
    }
}

/* A PT_LOAD segment: where its bytes are in the file and in memory. */
struct seg {
    uint64_t vaddr, offset, size;
};

/* The file range [*off, *off + *room) from virtual address `va` to the end
 * of the load segment that holds it; 0, or -1 if no segment holds it. */
static int vaddr_range(const struct seg *loads, size_t n, uint64_t va, uint64_t *off, uint64_t *room)
{
    for (size_t i = 0; i < n; i++)
        if (va >= loads[i].vaddr && va - loads[i].vaddr < loads[i].size) {
            *off = loads[i].offset + (va - loads[i].vaddr);
            *room = loads[i].size - (va - loads[i].vaddr);
            return 0;
        }
    return -1;
}

static int version_needs(assay_elf_info *info, uint16_t **idx_out, const struct img *m, const struct shdr *vn,
                         const struct strtab *st);

/* DT_NEEDED, DT_SONAME and the version needs of a file without section
 * headers, through PT_DYNAMIC: DT_STRTAB and DT_STRSZ give the string
 * table, DT_VERNEED the version needs (addresses, mapped to the file by the
 * PT_LOAD segments). Entries that point outside the file are ignored. */
static int dynamic_segment(assay_elf_info *info, uint16_t **idx, const struct img *m, const struct shdr *dyn,
                           const struct seg *loads, size_t nloads)
{
    int w = m->b64 ? 8 : 4;
    uint64_t esz = m->b64 ? 16 : 8, n = dyn->size / esz, strtab = 0, strsz = 0, verneed = 0;
    int have_str = 0, have_vn = 0, rc;
    for (uint64_t i = 0; i < n && i <= ASSAY_ELF_MAX_DYNAMIC; i++) {
        uint64_t tag = fld(m, dyn->offset + i * esz, w), val = fld(m, dyn->offset + i * esz + (uint64_t)w, w);
        if (tag == 0)
            break;
        if (tag == 5 /* DT_STRTAB */)
            strtab = val, have_str = 1;
        else if (tag == 10 /* DT_STRSZ */)
            strsz = val;
        else if (tag == 0x6ffffffe /* DT_VERNEED */)
            verneed = val, have_vn = 1;
    }
    struct shdr strs = {0}, vn = {0};
    uint64_t room;
    struct strtab st;
    if (!have_str || vaddr_range(loads, nloads, strtab, &strs.offset, &room) < 0)
        return 0;
    strs.size = strsz < room ? strsz : room;
    strtab_index(&st, m, &strs);
    if ((rc = dynamic(info, m, dyn, &st)) < 0)
        return rc;
    if (have_vn && vaddr_range(loads, nloads, verneed, &vn.offset, &vn.size) == 0 && in_bounds(m, vn.offset, vn.size))
        return version_needs(info, idx, m, &vn, &st);
    return 0;
}

/* Count one .gnu.version_r record. A walk that follows vn_next and
 * vna_next from the file and visits more records than the section has room
 * for has gone round a cycle or over overlapping records (chains that
 * share their entries, steps shorter than a record): the file is damaged,
 * and stopping there keeps the walk linear in the section. */
static int version_visit(uint64_t *visited, uint64_t fit)
{
    if (++*visited > ASSAY_ELF_MAX_VERSIONS)
        return assay_error_set(ASSAY_ETOOBIG, "too large to check: more than %u records in .gnu.version_r",
                               ASSAY_ELF_MAX_VERSIONS);
    if (*visited > fit)
        return assay_error_set(ASSAY_EINVAL, "ELF .gnu.version_r is damaged: its entries loop or overlap");
    return 0;
}

/* Vernaux entries: which version of which library. Their index
 * (vna_other) is what .gnu.version gives each symbol; idx[k] is that of
 * vreqs[k]. */
static int version_needs(assay_elf_info *info, uint16_t **idx_out, const struct img *m, const struct shdr *vn,
                         const struct strtab *st)
{
    uint64_t fit = vn->size / 16, visited = 0, at = 0;
    size_t cap = fit < ASSAY_ELF_MAX_VERSIONS ? (size_t)fit : ASSAY_ELF_MAX_VERSIONS;
    uint16_t *idx = calloc(cap ? cap : 1, sizeof *idx);
    int rc;
    info->vreqs = calloc(cap ? cap : 1, sizeof *info->vreqs);
    if (!info->vreqs || !idx) {
        free(idx);
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    }
    while (at + 16 <= vn->size) {
        if ((rc = version_visit(&visited, fit)) < 0)
            goto fail;
        uint64_t v = vn->offset + at;
        uint16_t cnt = (uint16_t)fld(m, v + 2, 2);
        const char *file = strtab_at(st, fld(m, v + 4, 4));
        uint32_t aux = (uint32_t)fld(m, v + 8, 4), next = (uint32_t)fld(m, v + 12, 4);
        uint64_t a = at + aux;
        for (uint16_t k = 0; k < cnt && a + 16 <= vn->size; k++) {
            if ((rc = version_visit(&visited, fit)) < 0)
                goto fail;
            uint64_t va = vn->offset + a;
            const char *name = strtab_at(st, fld(m, va + 8, 4));
            if (name) { /* nvreqs < visited <= cap */
                assay_elf_vreq *r = &info->vreqs[info->nvreqs];
                copy_name(r->file, sizeof r->file, file ? file : "?");
                copy_name(r->version, sizeof r->version, name);
                idx[info->nvreqs++] = (uint16_t)fld(m, va + 6, 2) & 0x7fff;
            }
            uint32_t an = (uint32_t)fld(m, va + 12, 4);
            if (!an)
                break;
            a += an;
        }
        if (!next)
            break;
        at += next;
    }
    *idx_out = idx;
    return 0;
fail:
    free(idx);
    return rc;
}

/* Each undefined dynamic symbol whose version index names a required
 * version; the first few of each version are kept (see elf.h). */
static int version_syms(assay_elf_info *info, const uint16_t *idx, const struct img *m, const struct shdr *dynsym,
                        const struct shdr *versym, const struct strtab *st)
{
    uint64_t esz = m->b64 ? 24 : 16, n = dynsym->size / esz;
    if (n > ASSAY_ELF_MAX_SYMBOLS)
        return assay_error_set(ASSAY_ETOOBIG, "too large to check: more than %u dynamic symbols", ASSAY_ELF_MAX_SYMBOLS);
    if (versym->size / 2 < n)
        return 0;
    /* Version index -> 1 + the first vreqs entry with it (0: none): one
     * lookup per symbol instead of a search of every entry. */
    uint32_t *by_index = calloc(0x8000, sizeof *by_index);
    unsigned char *kept = calloc(info->nvreqs ? info->nvreqs : 1, 1);
    uint64_t most = (uint64_t)info->nvreqs * ASSAY_ELF_SYMS_PER_VERSION;
    if (most > n)
        most = n;
    info->vsyms = calloc(most ? (size_t)most : 1, sizeof *info->vsyms);
    if (!by_index || !kept || !info->vsyms) {
        free(by_index);
        free(kept);
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    }
    for (size_t r = info->nvreqs; r-- > 0;)
        by_index[idx[r]] = (uint32_t)r + 1; /* backwards: the first one stays */
    for (uint64_t i = 1; i < n; i++) {
        uint64_t sym = dynsym->offset + i * esz;
        uint16_t shndx = (uint16_t)fld(m, sym + (m->b64 ? 6 : 14), 2);
        if (shndx != 0) /* defined here */
            continue;
        uint32_t r = by_index[(uint16_t)fld(m, versym->offset + i * 2, 2) & 0x7fff];
        const char *name = r ? strtab_at(st, fld(m, sym, 4)) : NULL;
        if (!name)
            continue;
        info->nvsyms_all++;
        if (kept[r - 1] == ASSAY_ELF_SYMS_PER_VERSION)
            continue;
        kept[r - 1]++;
        assay_elf_vsym *o = &info->vsyms[info->nvsyms++];
        copy_name(o->name, sizeof o->name, name);
        copy_name(o->version, sizeof o->version, info->vreqs[r - 1].version);
    }
    free(by_index);
    free(kept);
    return 0;
}

int assay_elf_read(assay_elf_info **out, const void *buf, size_t len)
{
    assay_elf_info *info = calloc(1, sizeof *info);
    struct img m = {buf, len, 0, 0, 0};
    uint16_t *idx = NULL;
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

    /* Program headers: interpreter, load alignment, property notes; the
     * dynamic segment and the loads that map it, for files without section
     * headers. */
    struct seg loads[16];
    size_t nloads = 0;
    struct shdr ptdyn = {0};
    int have_ptdyn = 0;
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
        if (type == 1 && nloads < sizeof loads / sizeof *loads) {
            loads[nloads].vaddr = fld(&m, at + (m.b64 ? 16 : 8), w);
            loads[nloads].offset = off;
            loads[nloads++].size = filesz;
        }
        if (type == 2 /* PT_DYNAMIC */)
            ptdyn.offset = off, ptdyn.size = filesz, have_ptdyn = 1;
        if (type == 3 /* PT_INTERP */ && in_bounds(&m, off, filesz) && filesz > 0) {
            size_t n = filesz < sizeof info->interp ? (size_t)filesz : sizeof info->interp - 1;
            memcpy(info->interp, m.p + off, n);
            info->interp[n] = '\0';
            info->interp[strnlen(info->interp, n)] = '\0';
        }
        if (type == 0x6474e553 /* PT_GNU_PROPERTY */ && in_bounds(&m, off, filesz) &&
            (rc = notes(&m, off, filesz, info)) < 0)
            goto fail;
    }

    /* Section headers: dynamic section, dynamic symbols, versions. */
    if (shnum && (!in_bounds(&m, shoff, (uint64_t)shnum * shentsize) || shentsize < (m.b64 ? 64 : 40))) {
        rc = assay_error_set(ASSAY_EINVAL, "ELF section headers lie outside the file");
        goto fail;
    }
    struct shdr dyn = {0}, dynsym = {0}, versym = {0}, verneed = {0}, sh, strs;
    struct strtab st;
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
        else if (sh.type == 7 /* SHT_NOTE */ && !info->x86_isa_needed && (rc = notes(&m, sh.offset, sh.size, info)) < 0)
            goto fail;
    }
    if (info->id.type == 1 /* ET_REL */ && shnum)
        modinfo(info, &m, shoff, shentsize, shnum, (uint16_t)fld(&m, m.b64 ? 62 : 50, 2));
    if (have_dyn) {
        if (dyn.link >= shnum || get_shdr(&m, shoff, shentsize, dyn.link, &strs) < 0) {
            rc = assay_error_set(ASSAY_EINVAL, "ELF dynamic section names no string table");
            goto fail;
        }
        strtab_index(&st, &m, &strs);
        if ((rc = dynamic(info, &m, &dyn, &st)) < 0)
            goto fail;
    }
    if (have_vn) {
        if (verneed.link >= shnum || get_shdr(&m, shoff, shentsize, verneed.link, &strs) < 0) {
            rc = assay_error_set(ASSAY_EINVAL, "ELF version section names no string table");
            goto fail;
        }
        strtab_index(&st, &m, &strs);
        if ((rc = version_needs(info, &idx, &m, &verneed, &st)) < 0)
            goto fail;
        if (have_sym && have_vs && dynsym.link < shnum && get_shdr(&m, shoff, shentsize, dynsym.link, &strs) == 0) {
            strtab_index(&st, &m, &strs);
            if ((rc = version_syms(info, idx, &m, &dynsym, &versym, &st)) < 0)
                goto fail;
        }
    }
    /* No section headers (sstrip, or section headers removed): the same
     * tables, found through the dynamic segment. The loader reads these,
     * so a file that runs has them. Symbol names are not found this way
     * (the dynamic symbol table has no size without a section header). */
    if (!shnum && have_ptdyn && in_bounds(&m, ptdyn.offset, ptdyn.size) &&
        (rc = dynamic_segment(info, &idx, &m, &ptdyn, loads, nloads)) < 0)
        goto fail;
    free(idx);
    *out = info;
    return 0;
fail:
    free(idx);
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
