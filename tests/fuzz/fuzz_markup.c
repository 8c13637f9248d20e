/* libFuzzer target: the markup writers. The first byte picks the writer's
 * kind (bits 0-1), whether the rest is written as text or as an attribute
 * (bit 2), and a terminal cell width (bits 3-7, 0-31); the rest is the
 * text. Besides the sanitizers, the output is checked: valid UTF-8, no
 * byte a kind must never pass on, and a cell exactly as wide as asked. */
#include "event.h"
#include "markup.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_safe(const char *out, size_t n, assay_markup_kind kind, int attr)
{
    if (!assay_utf8_valid(out, n))
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
            abort();
        if (c == 0xc2 && i + 1 < n && (unsigned char)out[i + 1] >= 0x80 &&
            (unsigned char)out[i + 1] <= 0x9f)
            abort(); /* C1 */
        if (c == 0xe2 && i + 2 < n && (unsigned char)out[i + 1] == 0x80 &&
            (unsigned char)out[i + 2] >= 0xaa && (unsigned char)out[i + 2] <= 0xae)
            abort(); /* bidi override */
        if (kind == ASSAY_MARKUP_HTML || kind == ASSAY_MARKUP_XML) {
            if (c == '<' || c == '>' || (c == '"' && !(attr && (i == 3 || i == n - 1))) ||
                c == '\'')
                abort();
            if (attr && (c == '\t' || c == '\n' || c == '\r'))
                abort();
            if (c == '&' && strncmp(out + i, "&amp;", 5) && strncmp(out + i, "&lt;", 4) &&
                strncmp(out + i, "&gt;", 4) && strncmp(out + i, "&quot;", 6) &&
                strncmp(out + i, "&#39;", 5) && strncmp(out + i, "&#9;", 4) &&
                strncmp(out + i, "&#10;", 5) && strncmp(out + i, "&#13;", 5))
                abort();
        }
        if (kind == ASSAY_MARKUP_MD) {
            if (c == '\n' || c == '\r')
                abort();
            if (c == '|' || c == '<' || c == '`' || c == '[') {
                /* escaped: an odd run of backslashes before it */
                size_t k = 0;
                while (k < i && out[i - 1 - k] == '\\')
                    k++;
                if (k % 2 == 0)
                    abort();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    assay_markup_kind kind = (assay_markup_kind)(data[0] & 3);
    int attr = (data[0] >> 2) & 1;
    size_t width = data[0] >> 3;
    /* The writers take C strings: the text ends at a NUL. */
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    assay_markup *w;
    char *out = NULL;
    if (assay_markup_new(&w, kind, 1u << 24) == 0) {
        if (attr)
            assay_markup_attr(w, "a", text);
        else
            assay_markup_text(w, text);
        if (assay_markup_done(&out, w) == 0)
            check_safe(out, strlen(out), kind,
                       attr && (kind == ASSAY_MARKUP_HTML || kind == ASSAY_MARKUP_XML));
        free(out);
    }
    char cell[512];
    assay_markup_term(cell, sizeof cell, text, width);
    check_safe(cell, strlen(cell), ASSAY_MARKUP_TEXT, 0);
    if (width && strchr(cell, '\n'))
        abort();
    if (width && assay_text_width(cell, strlen(cell)) != width && strlen(cell) < sizeof cell - 8)
        abort();
    free(text);
    return 0;
}
