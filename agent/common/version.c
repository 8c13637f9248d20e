/* Build identity; see include/assay/version.h. */
#include "assay/version.h"
#include "assay/error.h"
#include "assay/io.h"

#include <elf.h>
#include <link.h>
#include <string.h>

#ifndef ASSAY_VERSION_STRING
#error "ASSAY_VERSION_STRING must be defined by the build"
#endif
#ifndef ASSAY_TRIPLE
#error "ASSAY_TRIPLE must be defined by the build"
#endif
#ifndef ASSAY_COMMIT
#define ASSAY_COMMIT "unknown"
#endif

const char *assay_version(void)
{
    return ASSAY_VERSION_STRING;
}

const char *assay_build_triple(void)
{
    return ASSAY_TRIPLE;
}

const char *assay_build_commit(void)
{
    return ASSAY_COMMIT;
}

struct idsearch {
    char *out;
    size_t outlen;
    int rc;
};

/* Walk the PT_NOTE segments of the main program (the first object
 * dl_iterate_phdr reports) looking for the GNU build-id note. These are our
 * own mapped headers, trusted, but lengths are still checked against the
 * segment so a malformed note cannot walk off its end. */
static int find_build_id(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct idsearch *s = arg;
    (void)size;

    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        size_t left = ph->p_memsz;
        while (left >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            size_t namesz = (nh->n_namesz + 3u) & ~(size_t)3;
            size_t descsz = (nh->n_descsz + 3u) & ~(size_t)3;
            size_t total = sizeof *nh + namesz + descsz;
            if (namesz > left || descsz > left || total > left)
                break;
            const unsigned char *name = p + sizeof *nh;
            const unsigned char *desc = name + namesz;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                if (s->outlen < 2u * nh->n_descsz + 1) {
                    s->rc = assay_error_set(ASSAY_ETOOBIG, "build id buffer too small");
                    return 1;
                }
                assay_hex(s->out, desc, nh->n_descsz);
                s->rc = 0;
                return 1;
            }
            p += total;
            left -= total;
        }
    }
    return 1; /* only the main program */
}

int assay_build_id(char *out, size_t outlen)
{
    struct idsearch s = {out, outlen, 0};
    s.rc = assay_error_set(ASSAY_ENOTFOUND, "binary has no GNU build id");
    dl_iterate_phdr(find_build_id, &s);
    if (s.rc == 0)
        assay_error_clear();
    return s.rc;
}
