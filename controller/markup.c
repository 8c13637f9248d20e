/* Markup writers that escape everything; see markup.h. */
#include "markup.h"
#include "assay/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct assay_markup {
    assay_markup_kind kind;
    char *p;
    size_t len, cap;
    size_t max; /* the output never grows past this many bytes */
    int err;    /* the first failure (negative ASSAY_E*): later writes do nothing */
};

static const char REPLACEMENT[] = "\xef\xbf\xbd"; /* U+FFFD */

int assay_markup_new(assay_markup **out, assay_markup_kind kind, size_t cap)
{
    assay_markup *w = calloc(1, sizeof *w);
    if (!w)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    w->kind = kind;
    w->max = cap ? cap : ASSAY_MARKUP_CAP_DEFAULT;
    *out = w;
    return 0;
}

void assay_markup_free(assay_markup *w)
{
    if (!w)
        return;
    free(w->p);
    free(w);
}

int assay_markup_done(char **out, assay_markup *w)
{
    int rc = 0;
    if (!w)
        return assay_error_set(ASSAY_EINVAL, "no writer");
    if (!w->err && !w->p && !(w->p = calloc(1, 1)))
        w->err = ASSAY_ENOMEM;
    if (w->err == ASSAY_ETOOBIG)
        rc = assay_error_set(w->err, "output larger than %zu bytes", w->max);
    else if (w->err == ASSAY_EINVAL)
        rc =
            assay_error_set(w->err, "a raw format held a text conversion (a bug: text goes through "
                                    "assay_markup_text)");
    else if (w->err)
        rc = assay_error_set(w->err, "out of memory");
    if (rc == 0) {
        *out = w->p;
        w->p = NULL;
    }
    assay_markup_free(w);
    return rc;
}

static void put(assay_markup *w, const char *s, size_t n)
{
    if (w->err || n == 0)
        return;
    if (n > w->max - w->len || w->len + n + 1 > w->max) {
        w->err = ASSAY_ETOOBIG;
        return;
    }
    if (w->len + n + 1 > w->cap) {
        size_t nc = w->cap ? w->cap : 4096;
        while (nc < w->len + n + 1)
            nc *= 2;
        if (nc > w->max)
            nc = w->max;
        char *np = realloc(w->p, nc);
        if (!np) {
            w->err = ASSAY_ENOMEM;
            return;
        }
        w->p = np;
        w->cap = nc;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

void assay_markup_raw_(assay_markup *w, const char *lit, size_t len)
{
    put(w, lit, len);
}

/* Only numbers may be formatted into markup: each conversion is
 * %[flags][width][.precision][length](d|i|u|o|x|X|e|E|f|F|g|G) or %%. */
static int numeric_format(const char *f)
{
    for (; *f; f++) {
        if (*f != '%')
            continue;
        f++;
        if (*f == '%')
            continue;
        f += strspn(f, "-+ #0");
        f += strspn(f, "0123456789");
        if (*f == '.') {
            f++;
            f += strspn(f, "0123456789");
        }
        f += strspn(f, "hlLqjzt");
        if (!*f || !strchr("diouxXeEfFgG", *f))
            return 0;
    }
    return 1;
}

/* vsnprintf into a buffer of the writer's own size class; the caller frees. */
static char *format(assay_markup *w, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0) {
        w->err = w->err ? w->err : ASSAY_EINVAL;
        return NULL;
    }
    if ((size_t)n > w->max) {
        w->err = w->err ? w->err : ASSAY_ETOOBIG;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        w->err = w->err ? w->err : ASSAY_ENOMEM;
        return NULL;
    }
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

void assay_markup_rawf(assay_markup *w, const char *fmt, ...)
{
    if (w->err)
        return;
    if (!numeric_format(fmt)) {
        w->err = ASSAY_EINVAL;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *s = format(w, fmt, ap);
    va_end(ap);
    if (s)
        put(w, s, strlen(s));
    free(s);
}

/* ---- UTF-8 ------------------------------------------------------------- */

/* The code point at s[0..n) (n >= 1) and its length in *len; -1 with
 * *len 1 for a byte that does not start a valid, shortest sequence of a
 * scalar value. */
static long decode(const unsigned char *s, size_t n, size_t *len)
{
    unsigned c = s[0];
    size_t k;
    unsigned long cp, min;
    *len = 1;
    if (c < 0x80)
        return (long)c;
    if ((c & 0xe0) == 0xc0)
        k = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        k = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        k = 4, cp = c & 0x07, min = 0x10000;
    else
        return -1;
    if (n < k)
        return -1;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *len = k;
    return (long)cp;
}

/* Code points no writer passes on: see markup.h. \t \n \r are not here. */
static int unsafe(long cp)
{
    return cp < 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
           (cp >= 0x7f && cp <= 0x9f) || (cp >= 0xfdd0 && cp <= 0xfdef) ||
           (cp & 0xfffe) == 0xfffe || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

struct range {
    long lo, hi;
};

static int in(const struct range *r, size_t n, long cp)
{
    for (size_t i = 0; i < n; i++)
        if (cp >= r[i].lo && cp <= r[i].hi)
            return 1;
    return 0;
}

/* East Asian Wide and Fullwidth (UAX #11), the blocks that matter here. */
static const struct range WIDE[] = {
    {0x1100, 0x115f},   {0x231a, 0x231b},   {0x2329, 0x232a},   {0x23e9, 0x23ec},
    {0x2e80, 0x303e},   {0x3041, 0x33ff},   {0x3400, 0x4dbf},   {0x4e00, 0x9fff},
    {0xa000, 0xa4cf},   {0xa960, 0xa97f},   {0xac00, 0xd7a3},   {0xf900, 0xfaff},
    {0xfe10, 0xfe19},   {0xfe30, 0xfe6f},   {0xff00, 0xff60},   {0xffe0, 0xffe6},
    {0x1f300, 0x1f64f}, {0x1f900, 0x1f9ff}, {0x20000, 0x2fffd}, {0x30000, 0x3fffd},
};

/* Combining marks and zero-width characters. */
static const struct range ZERO[] = {
    {0x0300, 0x036f}, {0x0483, 0x0489}, {0x0591, 0x05bd}, {0x0610, 0x061a}, {0x064b, 0x065f},
    {0x1ab0, 0x1aff}, {0x1dc0, 0x1dff}, {0x200b, 0x200f}, {0x20d0, 0x20ff}, {0x302a, 0x302d},
    {0x3099, 0x309a},
    {0xfe00, 0xfe0f}, {0xfe20, 0xfe2f}, {0xfeff, 0xfeff},
};

static size_t cp_width(long cp)
{
    if (cp < 0)
        return 1;
    if (in(ZERO, sizeof ZERO / sizeof *ZERO, cp))
        return 0;
    return in(WIDE, sizeof WIDE / sizeof *WIDE, cp) ? 2 : 1;
}

size_t assay_text_width(const char *s, size_t n)
{
    size_t w = 0, k;
    for (size_t i = 0; i < n; i += k)
        w += cp_width(decode((const unsigned char *)s + i, n - i, &k));
    return w;
}

const char *assay_text_check(const char *s, size_t n, int multiline)
{
    size_t k;
    for (size_t i = 0; i < n; i += k) {
        long cp = decode((const unsigned char *)s + i, n - i, &k);
        if (cp < 0)
            return "is not valid UTF-8";
        if (cp == 0)
            return "contains a NUL character";
        if ((cp == '\n' || cp == '\t') && multiline)
            continue;
        if (unsafe(cp) || cp == '\t' || cp == '\n' || cp == '\r')
            return "contains a control character";
    }
    return NULL;
}

void assay_text_clean(char *s)
{
    size_t n = strlen(s), k, o = 0;
    for (size_t i = 0; i < n; i += k) {
        long cp = decode((const unsigned char *)s + i, n - i, &k);
        if (unsafe(cp) || cp == '\t' || cp == '\n' || cp == '\r') {
            s[o++] = '?';
        } else {
            memmove(s + o, s + i, k);
            o += k;
        }
    }
    s[o] = '\0';
}

size_t assay_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t i = max;
    /* Back over continuation bytes to the start of the cut character. */
    while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80 && max - i < 3)
        i--;
    size_t k;
    if (i < max && decode((const unsigned char *)s + i, n - i, &k) >= 0 && i + k > max)
        return i;
    return max;
}

size_t assay_utf8_tail(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return 0;
    size_t i = n - max;
    /* Forward over continuation bytes to the next character. */
    while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80 && i - (n - max) < 3)
        i++;
    return i;
}

/* ---- escaping ---------------------------------------------------------- */

enum ctx { CTX_TEXT, CTX_ATTR };

static void esc(assay_markup *w, const char *str, size_t n, enum ctx ctx)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t k;
    /* Runs of bytes that need nothing are copied at once. */
    size_t run = 0;
    for (size_t i = 0; i < n && !w->err; i += k) {
        long cp = decode(s + i, n - i, &k);
        const char *rep = NULL;
        char one[3];
        if (unsafe(cp)) {
            rep = REPLACEMENT;
        } else if (cp < 0x80) {
            char c = (char)cp;
            switch (w->kind) {
            case ASSAY_MARKUP_HTML:
            case ASSAY_MARKUP_XML:
                rep = c == '&'    ? "&amp;"
                      : c == '<'  ? "&lt;"
                      : c == '>'  ? "&gt;"
                      : c == '"'  ? "&quot;"
                      : c == '\'' ? "&#39;"
                                  : NULL;
                if (ctx == CTX_ATTR && !rep)
                    rep = c == '\t' ? "&#9;" : c == '\n' ? "&#10;" : c == '\r' ? "&#13;" : NULL;
                break;
            case ASSAY_MARKUP_MD:
                if (c == '\t' || c == '\n' || c == '\r') {
                    rep = " ";
                } else if (strchr("\\`*_[]<>|~&$#", c)) {
                    one[0] = '\\', one[1] = c, one[2] = '\0';
                    rep = one;
                }
                break;
            case ASSAY_MARKUP_TEXT:
                break;
            }
        }
        if (!rep) {
            run += k;
            continue;
        }
        put(w, (const char *)s + i - run, run);
        run = 0;
        put(w, rep, strlen(rep));
    }
    put(w, (const char *)s + n - run, run);
}

void assay_markup_textn(assay_markup *w, const char *s, size_t n)
{
    if (s)
        esc(w, s, n, CTX_TEXT);
}

void assay_markup_text(assay_markup *w, const char *s)
{
    if (s)
        esc(w, s, strlen(s), CTX_TEXT);
}

void assay_markup_textf(assay_markup *w, const char *fmt, ...)
{
    if (w->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = format(w, fmt, ap);
    va_end(ap);
    if (s)
        esc(w, s, strlen(s), CTX_TEXT);
    free(s);
}

void assay_markup_attr_(assay_markup *w, const char *open, const char *value)
{
    if (w->kind != ASSAY_MARKUP_HTML && w->kind != ASSAY_MARKUP_XML) {
        assay_markup_text(w, value);
        return;
    }
    put(w, open, strlen(open));
    if (value)
        esc(w, value, strlen(value), CTX_ATTR);
    put(w, "\"", 1);
}

void assay_markup_append(assay_markup *w, const assay_markup *src)
{
    if (src->kind != w->kind) {
        w->err = w->err ? w->err : ASSAY_EINVAL;
        return;
    }
    if (src->err) {
        w->err = w->err ? w->err : src->err;
        return;
    }
    put(w, src->p, src->len);
}

size_t assay_markup_len(const assay_markup *w)
{
    return w->len;
}

/* ---- terminal cells ---------------------------------------------------- */

/* One character of a cell: its safe bytes and columns. */
static size_t cell_char(const unsigned char *s, size_t n, size_t *k, const char **bytes,
                        size_t *cols)
{
    long cp = decode(s, n, k);
    if (unsafe(cp)) {
        *bytes = REPLACEMENT, *cols = 1;
        return 3;
    }
    if (cp == '\t' || cp == '\n' || cp == '\r') {
        *bytes = " ", *cols = 1;
        return 1;
    }
    *bytes = (const char *)s, *cols = cp_width(cp);
    return *k;
}

char *assay_markup_term(char *out, size_t outlen, const char *str, size_t width)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    size_t n = strlen((const char *)s), total = 0, k, cols, bl, o = 0, used = 0;
    const char *b;
    if (outlen == 0)
        return out;
    for (size_t i = 0; i < n; i += k) {
        cell_char(s + i, n - i, &k, &b, &cols);
        total += cols;
    }
    /* Cut: room for the "~" that marks it. */
    size_t limit = width && total > width ? width - 1 : (size_t)-1;
    for (size_t i = 0; i < n; i += k) {
        bl = cell_char(s + i, n - i, &k, &b, &cols);
        if (used + cols > limit || o + bl + 1 > outlen)
            break;
        memcpy(out + o, b, bl);
        o += bl, used += cols;
    }
    if (width && total > width && o + 2 <= outlen) {
        out[o++] = '~';
        used++;
    }
    while (width && used < width && o + 2 <= outlen) {
        out[o++] = ' ';
        used++;
    }
    out[o] = '\0';
    return out;
}
