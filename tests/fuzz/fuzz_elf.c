/* libFuzzer target: the ELF reader and the preflight checks on any bytes.
 * ci/fuzz.sh runs it with -timeout=2 -rss_limit_mb=512: the reader's work
 * is linear in its input and bounded by its caps (include/assay/elf.h). */
#include "assay/elf.h"
#include "assay/error.h"
#include "assay/preflight.h"
#include "isa.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    assay_elf_info *info;
    int rc = assay_elf_read(&info, data, size);
    if (rc == ASSAY_ETOOBIG) { /* over a cap: reported, not read */
        cJSON *f = cJSON_CreateArray();
        assay_preflight_too_large(f, assay_error_last()->message);
        cJSON_Delete(f);
    }
    if (rc == 0) {
        static const assay_target targets[] = {
            {"aarch64", NULL, "2.28", "3.4.24", 65536, 0, "4.19"},
            {"loongarch64", "old", "2.28", NULL, 16384, 0, NULL},
            {"x86_64", NULL, "2.34", "3.4.29", 4096, 2, "5.10"},
        };
        for (size_t i = 0; i < 3; i++) {
            cJSON *f = cJSON_CreateArray();
            assay_preflight_elf(f, info, &targets[i]);
            cJSON_Delete(f);
        }
        (void)assay_elf_loongarch_world(info);
        assay_elf_info_free(info);
    }
    /* The instruction check (controller/isa.c) reads section headers and
     * symbols on its own: the same bytes, whatever the reader said. */
    assay_isa_result *isa = NULL;
    if (assay_isa_scan(&isa, data, size) == 0 && isa) {
        assay_profile p = {.arch = "aarch64", .model = "FT-2000+/64", .atomics_lse = 0};
        cJSON *f = cJSON_CreateArray();
        (void)assay_isa_findings(f, isa, &p);
        cJSON_Delete(f);
        assay_isa_result_free(isa);
    }
    return 0;
}
