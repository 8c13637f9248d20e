/* The markup writers: each kind's escaping, the bytes nobody passes on,
 * the cap, the numbers-only raw format, UTF-8 cuts and display width. */
#include "markup.h"
#include "assay/error.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static char *render(assay_markup_kind kind, const char *text, int attr)
{
    assay_markup *w;
    char *out = NULL;
    cr_assert_eq(assay_markup_new(&w, kind, 0), 0);
    if (attr)
        assay_markup_attr(w, "a", text);
    else
        assay_markup_text(w, text);
    cr_assert_eq(assay_markup_done(&out, w), 0, "%s", assay_error_last()->message);
    return out;
}

static void expect(assay_markup_kind kind, int attr, const char *in, const char *want)
{
    char *got = render(kind, in, attr);
    cr_assert_str_eq(got, want, "kind %d attr %d: '%s' gave '%s', not '%s'", kind, attr, in, got,
                     want);
    free(got);
}

#define FFFD "\xef\xbf\xbd"

Test(markup, html_and_xml_escape_markup_in_text_and_attributes)
{
    for (int k = ASSAY_MARKUP_HTML; k <= ASSAY_MARKUP_XML; k++) {
        expect(k, 0, "<script>alert(\"x\")</script>",
               "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
        expect(k, 0, "a & b ' ]]> c", "a &amp; b &#39; ]]&gt; c");
        expect(k, 0, "tab\tline\ncr\r", "tab\tline\ncr\r");
        expect(k, 1, "\"><img src=x onerror=alert(1)>",
               " a=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\"");
        expect(k, 1, "two\nlines\tand\r", " a=\"two&#10;lines&#9;and&#13;\"");
        expect(k, 0, "中文 text", "中文 text");
    }
}

Test(markup, what_no_kind_passes_on)
{
    for (int k = ASSAY_MARKUP_HTML; k <= ASSAY_MARKUP_TEXT; k++) {
        /* C0 (ESC, NUL cannot be in a C string), DEL, C1 (CSI) */
        expect(k, 0,
               "a\x1b"
               "Zb\x7f"
               "c\xc2\x9b"
               "d",
               "a" FFFD "Zb" FFFD "c" FFFD "d");
        /* invalid UTF-8: a stray continuation, an overlong '/', a surrogate, a cut sequence */
        expect(k, 0, "\x80x\xc0\xafy\xed\xa0\x80z\xe4\xb8",
               FFFD "x" FFFD FFFD "y" FFFD FFFD FFFD "z" FFFD FFFD);
        /* noncharacters (not allowed in XML 1.0) and bidi overrides */
        expect(k, 0, "\xef\xbf\xbe\xef\xbf\xbf\xef\xb7\x90\xe2\x80\xae\xe2\x81\xa6",
               FFFD FFFD FFFD FFFD FFFD);
    }
}

Test(markup, markdown_text_stays_inline)
{
    expect(ASSAY_MARKUP_MD, 0, "a|b\nc", "a\\|b c");
    expect(ASSAY_MARKUP_MD, 0, "**x** [l](javascript:y) <b> `c` _u_ ~s~ &amp; $m$ #h !",
           "\\*\\*x\\*\\* \\[l\\](javascript:y) \\<b\\> \\`c\\` \\_u\\_ \\~s\\~ \\&amp; "
           "\\$m\\$ \\#h !");
    expect(ASSAY_MARKUP_MD, 0, "back\\slash", "back\\\\slash");
    expect(ASSAY_MARKUP_MD, 0, "hello-1.2.0", "hello-1.2.0");
}

Test(markup, terminal_text_keeps_layout_characters_only)
{
    expect(ASSAY_MARKUP_TEXT, 0, "<b>&\"'\n\tok", "<b>&\"'\n\tok");
}

Test(markup, raw_takes_literals_and_numbers_only)
{
    assay_markup *w;
    char *out = NULL;
    cr_assert_eq(assay_markup_new(&w, ASSAY_MARKUP_HTML, 0), 0);
    assay_markup_raw(w, "<td>");
    assay_markup_rawf(w, "%d/%5.2f%%%zu%lld", 3, 1.5, (size_t)7, 9LL);
    assay_markup_raw(w, "</td>");
    cr_assert_eq(assay_markup_done(&out, w), 0);
    cr_assert_str_eq(out, "<td>3/ 1.50%79</td>");
    free(out);
    const char *bad[] = {"%s", "%.16s", "%c", "%n", "%p", "%*d", "%"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(assay_markup_new(&w, ASSAY_MARKUP_XML, 0), 0);
        assay_markup_raw(w, "<x>");
        /* Through a variable: the format attribute would refuse it at compile time. */
        const char *fmt = bad[i];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        assay_markup_rawf(w, fmt, 1);
#pragma GCC diagnostic pop
        out = NULL;
        cr_assert_eq(assay_markup_done(&out, w), ASSAY_EINVAL, "%s was accepted", bad[i]);
        cr_assert_null(out);
    }
}

Test(markup, the_cap_holds)
{
    assay_markup *w;
    char *out = NULL;
    cr_assert_eq(assay_markup_new(&w, ASSAY_MARKUP_HTML, 100), 0);
    for (int i = 0; i < 20; i++)
        assay_markup_text(w, "<<");
    cr_assert_eq(assay_markup_done(&out, w), ASSAY_ETOOBIG);
    cr_assert_null(out);
    cr_assert(strstr(assay_error_last()->message, "larger than 100 bytes"));
    /* 64 KiB of markup characters escape to 256 KiB, within a larger cap. */
    char *big = malloc(65537);
    memset(big, '<', 65536);
    big[65536] = '\0';
    cr_assert_eq(assay_markup_new(&w, ASSAY_MARKUP_XML, 1u << 20), 0);
    assay_markup_text(w, big);
    cr_assert_eq(assay_markup_len(w), 4u * 65536);
    cr_assert_eq(assay_markup_done(&out, w), 0);
    free(out);
    free(big);
    /* An empty writer gives an empty string, not NULL. */
    cr_assert_eq(assay_markup_new(&w, ASSAY_MARKUP_MD, 0), 0);
    cr_assert_eq(assay_markup_done(&out, w), 0);
    cr_assert_str_eq(out, "");
    free(out);
}

Test(markup, append_joins_writers_of_one_kind)
{
    assay_markup *a, *b;
    char *out;
    cr_assert_eq(assay_markup_new(&a, ASSAY_MARKUP_XML, 0), 0);
    cr_assert_eq(assay_markup_new(&b, ASSAY_MARKUP_XML, 0), 0);
    assay_markup_raw(a, "<a>");
    assay_markup_text(b, "<b>");
    assay_markup_append(a, b);
    assay_markup_free(b);
    cr_assert_eq(assay_markup_done(&out, a), 0);
    cr_assert_str_eq(out, "<a>&lt;b&gt;");
    free(out);
    cr_assert_eq(assay_markup_new(&a, ASSAY_MARKUP_XML, 0), 0);
    cr_assert_eq(assay_markup_new(&b, ASSAY_MARKUP_HTML, 0), 0);
    assay_markup_append(a, b);
    assay_markup_free(b);
    cr_assert_eq(assay_markup_done(&out, a), ASSAY_EINVAL, "escaped for another kind");
}

Test(markup, utf8_cuts_fall_on_character_boundaries)
{
    const char *s = "ab中文cd"; /* 中 and 文 are 3 bytes each: a b [2..4] [5..7] c d */
    size_t n = strlen(s);
    cr_assert_eq(assay_utf8_cut(s, n, 2), 2);
    cr_assert_eq(assay_utf8_cut(s, n, 3), 2);
    cr_assert_eq(assay_utf8_cut(s, n, 4), 2);
    cr_assert_eq(assay_utf8_cut(s, n, 5), 5);
    cr_assert_eq(assay_utf8_cut(s, n, 7), 5);
    cr_assert_eq(assay_utf8_cut(s, n, 8), 8);
    cr_assert_eq(assay_utf8_cut(s, n, 100), n);
    cr_assert_eq(assay_utf8_tail(s, n, 2), n - 2);
    cr_assert_eq(assay_utf8_tail(s, n, 3), 8, "starts after the cut 文, at c");
    cr_assert_eq(assay_utf8_tail(s, n, 5), 5, "starts at 文");
    cr_assert_eq(assay_utf8_tail(s, n, 100), 0);
    /* Garbage is cut where asked: there is no boundary to find. */
    cr_assert_eq(assay_utf8_cut("\x80\x80\x80\x80\x80", 5, 4), 4);
}

Test(markup, display_width_counts_cjk_as_two_columns)
{
    cr_assert_eq(assay_text_width("abc", 3), 3);
    cr_assert_eq(assay_text_width("中文", 6), 4);
    cr_assert_eq(assay_text_width("ｈｉ", 6), 4, "fullwidth forms");
    cr_assert_eq(assay_text_width("e\xcc\x81", 3), 1, "a combining accent takes no column");
    cr_assert_eq(assay_text_width("한국", 6), 4);
    cr_assert_eq(assay_text_width("\xff", 1), 1);
}

Test(markup, terminal_cells_are_cut_and_padded_by_columns)
{
    char out[128];
    cr_assert_str_eq(assay_markup_term(out, sizeof out, "abc", 6), "abc   ");
    cr_assert_str_eq(assay_markup_term(out, sizeof out, "中文名称", 6), "中文~ ",
                     "never half a character");
    cr_assert_str_eq(assay_markup_term(out, sizeof out, "中文", 4), "中文");
    cr_assert_str_eq(assay_markup_term(out, sizeof out, "中文", 5), "中文 ");
    cr_assert_str_eq(assay_markup_term(out, sizeof out,
                                       "a\x1b]0;pwned\x07"
                                       "b\nc",
                                       0),
                     "a" FFFD "]0;pwned" FFFD "b c");
    cr_assert_str_eq(assay_markup_term(out, sizeof out, NULL, 3), "   ");
    /* A short buffer: cut on a boundary, always terminated. */
    cr_assert_str_eq(assay_markup_term(out, 5, "中文", 0), "中");
    assay_markup_term(out, sizeof out, "厂商ＡＢＣ有限公司 Co.", 12);
    cr_assert_eq(assay_text_width(out, strlen(out)), 12, "'%s'", out);
}
