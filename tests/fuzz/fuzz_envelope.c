/*
 * libFuzzer target: assay_report_verify() on any bytes, with a fixed
 * Ed25519 key (its private half signs the seeds of make-hostile.sh; it
 * signs nothing else).
 */
#include "report.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char PUB[] = "-----BEGIN PUBLIC KEY-----\n"
                          "MCowBQYDK2VwAyEAg2lhl1M00ei2eEsZRw5MBV9v8ZIgoOae79n14Bgtqh0=\n"
                          "-----END PUBLIC KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    assay_report_check c;
    if (assay_report_verify(&c, (const char *)data, size, PUB, strlen(PUB)) == 0)
        cJSON_Delete(c.statement);
    return 0;
}
