/*
 * Markup writers: HTML, XML, Markdown and terminal text that escape
 * everything they are given (docs/report.md, "Escaping").
 *
 * A writer owns a capped, growable buffer. Text from anywhere (vendors,
 * hosts, agents, even the lab's own signed payload) goes in only through
 * assay_markup_text(), assay_markup_textf() and assay_markup_attr(), which
 * escape for the writer's kind. The page's own markup goes in through
 * assay_markup_raw(), which takes a string literal only (it does not
 * compile with a pointer), and assay_markup_rawf(), whose format may hold
 * numeric conversions only (a %s makes the writer fail). So no caller can
 * write unescaped text by forgetting to escape it.
 *
 * Every kind, on every text:
 *   - invalid UTF-8 (overlong forms, surrogates, cut sequences) becomes
 *     U+FFFD, byte by byte;
 *   - control characters other than \t \n \r (C0, DEL, C1), the Unicode
 *     noncharacters (U+FDD0-U+FDEF, U+xFFFE, U+xFFFF: not allowed in XML
 *     1.0) and the bidirectional overrides and isolates (U+202A-U+202E,
 *     U+2066-U+2069, which make text read differently than it is stored)
 *     become U+FFFD.
 * Then, by kind:
 *   HTML, XML  & < > " ' become entities; in attributes \t \n \r become
 *              character references too (XML would fold them to spaces).
 *              Never CDATA, so "]]>" is only ever text.
 *   MD         inline text: \ ` * _ [ ] < > | ~ & $ # are
 *              backslash-escaped; \t \n \r become spaces, so a value never
 *              breaks a table row or starts a block. Call it after some
 *              constant text on the line (a list marker, a cell's "| ").
 *   TEXT       for a terminal: \t \n \r are kept by assay_markup_text()
 *              and become spaces in assay_markup_term() cells.
 */
#ifndef ASSAY_CTL_MARKUP_H
#define ASSAY_CTL_MARKUP_H

#include <stddef.h>

typedef enum {
    ASSAY_MARKUP_HTML,
    ASSAY_MARKUP_XML,
    ASSAY_MARKUP_MD,
    ASSAY_MARKUP_TEXT,
} assay_markup_kind;

typedef struct assay_markup assay_markup;

#define ASSAY_MARKUP_CAP_DEFAULT (256u << 20) /* 256 MiB */

/* A new, empty writer of `kind` whose output may grow to `cap` bytes (0:
 * ASSAY_MARKUP_CAP_DEFAULT). Returns 0 or ASSAY_ENOMEM. Free it with
 * assay_markup_free() or hand its text over with assay_markup_done(). */
int assay_markup_new(assay_markup **out, assay_markup_kind kind, size_t cap);

/* Frees the writer and what it wrote; NULL is a no-op. */
void assay_markup_free(assay_markup *w);

/* Hands the output over (NUL-terminated, the caller frees it) and frees
 * the writer, in every case. Returns 0, or a negative code if a write hit
 * the cap (ASSAY_ETOOBIG), memory ran out (ASSAY_ENOMEM) or a raw format
 * held a text conversion (ASSAY_EINVAL): then *out is untouched. */
int assay_markup_done(char **out, assay_markup *w);

/* The page's own constant markup, as is: `lit` must be a string literal. */
#define assay_markup_raw(w, lit) assay_markup_raw_((w), "" lit, sizeof("" lit) - 1)
void assay_markup_raw_(assay_markup *w, const char *lit, size_t len);

/* Constant markup with numbers: `fmt`'s conversions must be numeric
 * (d i u o x X e E f F g G, with flags, width, precision, length) or %%;
 * anything else (%s, %c, %n, %p, %*) writes nothing and fails the writer. */
void assay_markup_rawf(assay_markup *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Text, escaped for the writer's kind (see above). NULL writes nothing. */
void assay_markup_text(assay_markup *w, const char *s);
void assay_markup_textn(assay_markup *w, const char *s, size_t n);

/* printf, then all of the result escaped as text. */
void assay_markup_textf(assay_markup *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* HTML and XML: ` name="value"`, value escaped for an attribute; `name`
 * must be a string literal. Other kinds write the value as text. */
#define assay_markup_attr(w, name, value) assay_markup_attr_((w), " " name "=\"", (value))
void assay_markup_attr_(assay_markup *w, const char *open, const char *value);

/* Appends what `src` wrote (already escaped, same kind) to `w`. */
void assay_markup_append(assay_markup *w, const assay_markup *src);

/* Bytes written so far. */
size_t assay_markup_len(const assay_markup *w);

/* ---- UTF-8 and display width ------------------------------------------ */

/* Columns `s[0..n)` takes on a terminal: 2 for East Asian wide and
 * fullwidth characters (CJK, Hangul, fullwidth forms, wide emoji), 0 for
 * combining marks, 1 otherwise; invalid bytes count 1 each (they print as
 * U+FFFD). */
size_t assay_text_width(const char *s, size_t n);

/* The longest prefix of `s[0..n)` of at most `max` bytes that ends on a
 * UTF-8 character boundary: its length. */
size_t assay_utf8_cut(const char *s, size_t n, size_t max);

/* Text for people, from someone untrusted: NULL if `s[0..n)` is valid UTF-8
 * without NUL, control characters (C0, DEL, C1), bidi overrides or
 * noncharacters (newline and tab allowed when `multiline`); else what is
 * wrong with it ("is not valid UTF-8", "contains a control character"...). */
const char *assay_text_check(const char *s, size_t n, int multiline);

/* Make `s` pass assay_text_check() in place: every invalid byte or unsafe
 * character becomes '?'. */
void assay_text_clean(char *s);

/* Where the last at most `max` bytes of `s[0..n)` begin on a character
 * boundary (never inside a sequence): an offset into s. */
size_t assay_utf8_tail(const char *s, size_t n, size_t max);

/*
 * One terminal cell: `s` made safe (as ASSAY_MARKUP_TEXT, with \t \n \r as
 * spaces), cut to `width` display columns on a character boundary (the
 * cut marked with "~"), and padded with spaces to `width` columns. width
 * 0: no cut, no padding. Writes into `out` (always NUL-terminated, cut on
 * a boundary if `outlen` is short) and returns out.
 */
char *assay_markup_term(char *out, size_t outlen, const char *s, size_t width);

#endif
