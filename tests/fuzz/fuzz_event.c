/* libFuzzer target: the controller's check of agent event lines. The first
 * byte picks the last stored sequence number (-1 to 6); the rest is the
 * line. */
#include "event.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    assay_event ev;
    if (assay_event_parse(&ev, (const char *)data + 1, size - 1, "lab-r1-j1-a1", (int64_t)(data[0] % 8) - 1) == 0)
        cJSON_Delete(ev.json);
    return 0;
}
