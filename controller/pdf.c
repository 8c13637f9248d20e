/* The report as a PDF with cairo and pango; see pdf.h and docs/report.md. */
#include "pdf.h"
#include "markup.h"
#include "assay/error.h"
#include "assay/json.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PDF_MAX (64u << 20)  /* a report larger than this is refused */
#define CELL_MAX 4000        /* bytes of one cell's text (cut on a character boundary) */
#define CELL_LINES 40        /* lines of one cell; more are ellipsized */
#define PAGE_W 595.276       /* A4 in points */
#define PAGE_H 841.89
#define MARGIN 48.0
#define BODY_TOP 64.0
#define BODY_BOTTOM (PAGE_H - 104.0) /* the footer holds the digest and the QR code */
#define FONT "Noto Sans CJK SC, Source Han Sans SC, WenQuanYi Micro Hei, sans-serif"
#define MONO "Noto Sans Mono CJK SC, monospace"

/* The PDF's bytes, as cairo writes them. */
struct out {
    unsigned char *p;
    size_t len, cap;
    int discard; /* the first pass only counts pages */
    int failed;
};

static cairo_status_t out_write(void *closure, const unsigned char *data, unsigned int n)
{
    struct out *o = closure;
    if (o->discard)
        return CAIRO_STATUS_SUCCESS;
    if (o->len + n > PDF_MAX) {
        o->failed = 1;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    if (o->len + n > o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 65536;
        while (nc < o->len + n)
            nc *= 2;
        unsigned char *np = realloc(o->p, nc);
        if (!np) {
            o->failed = 1;
            return CAIRO_STATUS_NO_MEMORY;
        }
        o->p = np;
        o->cap = nc;
    }
    memcpy(o->p + o->len, data, n);
    o->len += n;
    return CAIRO_STATUS_SUCCESS;
}

struct doc {
    cairo_t *cr;
    const assay_report_check *c;
    const char *number;
    double y;
    int page, pages; /* pages: the total, from the first pass (0 in it) */
    QRcode *qr;
    char address[600];
};

/*
 * Text for pango: the payload's strings through the markup module's plain
 * text writer (invalid UTF-8, control characters, bidi overrides become
 * U+FFFD), cut to CELL_MAX bytes on a character boundary. pango only ever
 * gets it through pango_layout_set_text, never as markup, so a '<' or '&'
 * of a vendor's is a character on the page.
 */
static char *clean(const char *s)
{
    assay_markup *w;
    char *t = NULL;
    size_t n = strlen(s), cut = assay_utf8_cut(s, n, CELL_MAX);
    if (assay_markup_new(&w, ASSAY_MARKUP_TEXT, 0) < 0)
        return NULL;
    assay_markup_textn(w, s, cut);
    if (cut < n)
        assay_markup_raw(w, "…");
    if (assay_markup_done(&t, w) < 0)
        return NULL;
    return t;
}

static PangoLayout *layout(struct doc *d, const char *text, double width, double size, int bold, int mono)
{
    PangoLayout *l = pango_cairo_create_layout(d->cr);
    PangoFontDescription *f = pango_font_description_from_string(mono ? MONO : FONT);
    pango_font_description_set_size(f, (gint)(size * PANGO_SCALE));
    pango_font_description_set_weight(f, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
    pango_layout_set_font_description(l, f);
    pango_font_description_free(f);
    pango_layout_set_width(l, (int)(width * PANGO_SCALE));
    pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR); /* a long name without spaces still wraps */
    char *t = clean(text ? text : "");
    pango_layout_set_text(l, t ? t : "?", -1);
    free(t);
    return l;
}

/* The page's footer: its number, the payload's digest and the QR code of
 * the verification address; and a running header. */
static void furniture(struct doc *d)
{
    cairo_t *cr = d->cr;
    char line[900];
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    snprintf(line, sizeof line, "适配测试报告 Adaptation Test Report  %s", d->number);
    PangoLayout *l = layout(d, line, PAGE_W - 2 * MARGIN, 8, 0, 0);
    cairo_move_to(cr, MARGIN, 30);
    pango_cairo_show_layout(cr, l);
    g_object_unref(l);
    cairo_set_line_width(cr, 0.5);
    cairo_move_to(cr, MARGIN, 46);
    cairo_line_to(cr, PAGE_W - MARGIN, 46);
    cairo_move_to(cr, MARGIN, BODY_BOTTOM + 10);
    cairo_line_to(cr, PAGE_W - MARGIN, BODY_BOTTOM + 10);
    cairo_stroke(cr);

    double qs = 72, qx = PAGE_W - MARGIN - qs, qy = PAGE_H - 20 - qs;
    if (d->qr) {
        double m = qs / (d->qr->width + 8); /* a quiet zone of 4 modules */
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_rectangle(cr, qx, qy, qs, qs);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        for (int y = 0; y < d->qr->width; y++)
            for (int x = 0; x < d->qr->width; x++)
                if (d->qr->data[y * d->qr->width + x] & 1)
                    cairo_rectangle(cr, qx + (x + 4) * m, qy + (y + 4) * m, m, m);
        cairo_fill(cr);
    }
    if (d->pages)
        snprintf(line, sizeof line, "第 %d 页，共 %d 页  Page %d of %d\n签名内容 SHA-256 Signed payload SHA-256:\n%s\n"
                 "验证地址 Verification address (QR):\n%s",
                 d->page, d->pages, d->page, d->pages, d->c->payload_sha256, d->address);
    else
        snprintf(line, sizeof line, "第 %d 页 Page %d\n签名内容 SHA-256 Signed payload SHA-256:\n%s\n"
                 "验证地址 Verification address (QR):\n%s",
                 d->page, d->page, d->c->payload_sha256, d->address);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    l = layout(d, line, qx - MARGIN - 10, 7.5, 0, 0);
    cairo_move_to(cr, MARGIN, BODY_BOTTOM + 18);
    pango_cairo_show_layout(cr, l);
    g_object_unref(l);
    cairo_set_source_rgb(cr, 0, 0, 0);
}

static void new_page(struct doc *d)
{
    if (d->page > 0)
        cairo_show_page(d->cr);
    d->page++;
    d->y = BODY_TOP;
    furniture(d);
}

static void need(struct doc *d, double h)
{
    if (d->y + h > BODY_BOTTOM && d->y > BODY_TOP)
        new_page(d);
}

/* A paragraph, line by line, so a long one goes on over pages. */
static void para_at(struct doc *d, const char *text, double x, double size, int bold, int mono)
{
    PangoLayout *l = layout(d, text, PAGE_W - MARGIN - x, size, bold, mono);
    int n = pango_layout_get_line_count(l);
    for (int i = 0; i < n; i++) {
        PangoLayoutLine *line = pango_layout_get_line_readonly(l, i);
        PangoRectangle ink, logical;
        pango_layout_line_get_extents(line, &ink, &logical);
        double h = (double)logical.height / PANGO_SCALE, base = -(double)logical.y / PANGO_SCALE;
        need(d, h);
        cairo_move_to(d->cr, x, d->y + base);
        pango_cairo_show_layout_line(d->cr, line);
        d->y += h;
    }
    g_object_unref(l);
    d->y += size * 0.4;
}

static void para(struct doc *d, const char *text, double size, int bold)
{
    para_at(d, text, MARGIN, size, bold, 0);
}

static void heading(struct doc *d, const char *text, double size)
{
    need(d, size * 3 + 60); /* never alone at the foot of a page: with a row or two of what follows */
    d->y += size * 0.6;
    para(d, text, size, 1);
}

/* A table row of n cells over the body's width, in proportion to w[]. A
 * cell holds at most CELL_LINES lines, so a row always fits on a page. */
static void row(struct doc *d, int n, const double *w, const char *const *cells, int header)
{
    PangoLayout *ls[8];
    double total = 0, h = 0, pad = 3, x = MARGIN, width = PAGE_W - 2 * MARGIN;
    for (int i = 0; i < n; i++)
        total += w[i];
    for (int i = 0; i < n; i++) {
        ls[i] = layout(d, cells[i], width * w[i] / total - 2 * pad, 8.5, header || (i == 0 && n == 2), 0);
        pango_layout_set_ellipsize(ls[i], PANGO_ELLIPSIZE_END);
        pango_layout_set_height(ls[i], -CELL_LINES);
        int lw, lh;
        pango_layout_get_size(ls[i], &lw, &lh);
        if ((double)lh / PANGO_SCALE > h)
            h = (double)lh / PANGO_SCALE;
    }
    h += 2 * pad;
    need(d, h);
    for (int i = 0; i < n; i++) {
        double cw = width * w[i] / total;
        if (header || (i == 0 && n == 2)) {
            cairo_set_source_rgb(d->cr, 0.92, 0.92, 0.92);
            cairo_rectangle(d->cr, x, d->y, cw, h);
            cairo_fill(d->cr);
        }
        cairo_set_source_rgb(d->cr, 0.55, 0.55, 0.55);
        cairo_set_line_width(d->cr, 0.5);
        cairo_rectangle(d->cr, x, d->y, cw, h);
        cairo_stroke(d->cr);
        cairo_set_source_rgb(d->cr, 0, 0, 0);
        cairo_move_to(d->cr, x + pad, d->y + pad);
        pango_cairo_show_layout(d->cr, ls[i]);
        g_object_unref(ls[i]);
        x += cw;
    }
    d->y += h;
}

static void gap(struct doc *d)
{
    d->y += 8;
}

static const cJSON *obj(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void pdf_env_row(void *ctx, const char *label, const char *profile, const char *measured)
{
    static const double w[] = {2, 3, 4};
    const char *cells[] = {label, profile[0] ? profile : "-", measured};
    row(ctx, 3, w, cells, 0);
}

/* "中文 English" of a verdict. */
static void verdict_words(char *out, size_t n, const char *v)
{
    snprintf(out, n, "%s %s", assay_report_verdict_zh(v), v);
}

static void targets_table(struct doc *d, const cJSON *p)
{
    static const double w[] = {4, 2, 1.2, 2, 1.6, 3};
    static const char *const head[] = {"平台 Profile", "主机 Host", "测试 Tests", "预检 Preflight", "结果 Verdict",
                                       "认证 Certification"};
    const cJSON *t, *x;
    heading(d, "目标平台 Targets", 13);
    row(d, 6, w, head, 1);
    cJSON_ArrayForEach(t, obj(p, "targets"))
    {
        int pass = 0, n = 0;
        char tests[32], pf[64] = "-", verdict[64], cert[128], prof[400];
        cJSON_ArrayForEach(x, obj(t, "tests"))
        {
            n++;
            pass += !strcmp(assay_json_str(x, "verdict"), "pass");
        }
        snprintf(tests, sizeof tests, "%d / %d", pass, n);
        const cJSON *pk = obj(obj(t, "preflight"), "package");
        if (cJSON_IsObject(pk))
            snprintf(pf, sizeof pf, "%d errors, %d warnings", (int)assay_json_num(pk, "errors"),
                     (int)assay_json_num(pk, "warnings"));
        verdict_words(verdict, sizeof verdict, assay_json_str(t, "verdict"));
        const char *pname = assay_json_str(obj(t, "profile"), "name");
        snprintf(prof, sizeof prof, "%s%s", pname[0] ? pname : assay_json_str(obj(t, "profile"), "id"),
                 cJSON_IsTrue(obj(t, "emulated")) ? " (模拟 emulated)" : "");
        /* The reasons are each in the conclusion's list; here, how many. */
        int nr = cJSON_GetArraySize(obj(t, "conditions"));
        if (cJSON_IsTrue(obj(t, "certifies")))
            snprintf(cert, sizeof cert, "是 yes");
        else
            snprintf(cert, sizeof cert, "否 no\n%d 条原因，见结论 %d reason%s, see the conclusion", nr, nr,
                     nr == 1 ? "" : "s");
        const char *cells[] = {prof, assay_json_str(obj(t, "host"), "name"), tests, pf, verdict, cert};
        row(d, 6, w, cells, 0);
    }
}

/* One label at (x, y), small, in the body font. */
static void label_at(struct doc *d, const char *text, double x, double y, double width, double size)
{
    PangoLayout *l = layout(d, text, width, size, 0, 0);
    pango_layout_set_ellipsize(l, PANGO_ELLIPSIZE_END);
    pango_layout_set_height(l, -1); /* one line */
    cairo_move_to(d->cr, x, y);
    pango_cairo_show_layout(d->cr, l);
    g_object_unref(l);
}

struct bar {
    const char *label;
    double mid, lo, hi;
    int pale, warn; /* emulated; unstable */
};

/*
 * An interval chart, as the HTML draws it: per row a label, a line from
 * lo to hi and a dot at mid, on one scale for all rows; `ref` > 0 draws a
 * dashed line there (1 for a ratio). Emulated rows pale, unstable orange.
 */
static void interval_chart(struct doc *d, const struct bar *b, size_t n, double ref, const char *axis)
{
    const double label_w = 170, left = MARGIN + label_w + 8, right = PAGE_W - MARGIN - 8, rh = 14;
    double lo = ref > 0 ? ref : b[0].lo, hi = ref > 0 ? ref : b[0].hi;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(b[i].lo) && b[i].lo < lo)
            lo = b[i].lo;
        if (isfinite(b[i].hi) && b[i].hi > hi)
            hi = b[i].hi;
    }
    if (!(hi > lo)) {
        lo -= 1;
        hi += 1;
    }
    double pad = (hi - lo) * 0.08;
    lo -= pad;
    hi += pad;
    if (lo < 0 && ref <= 0 && b[0].lo >= 0)
        lo = 0;
#define XOF(v) (left + ((v) - lo) / (hi - lo) * (right - left))
    need(d, rh * (double)n + 26);
    cairo_t *cr = d->cr;
    double top = d->y;
    cairo_set_line_width(cr, 0.5);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_move_to(cr, left, top + rh * (double)n + 2);
    cairo_line_to(cr, right, top + rh * (double)n + 2);
    cairo_stroke(cr);
    if (ref > 0) {
        static const double dash[] = {3, 2};
        cairo_set_dash(cr, dash, 2, 0);
        cairo_move_to(cr, XOF(ref), top - 2);
        cairo_line_to(cr, XOF(ref), top + rh * (double)n + 2);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    for (size_t i = 0; i < n; i++) {
        double y = top + rh * (double)i + rh / 2;
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        label_at(d, b[i].label, MARGIN, y - 6, label_w, 7.5);
        if (!isfinite(b[i].mid))
            continue;
        if (b[i].warn)
            cairo_set_source_rgb(cr, 0.85, 0.45, 0.0);
        else
            cairo_set_source_rgb(cr, 0.1, 0.3, 0.6);
        if (b[i].pale)
            cairo_set_source_rgba(cr, 0.5, 0.5, 0.5, 0.6);
        if (isfinite(b[i].lo) && isfinite(b[i].hi)) {
            cairo_set_line_width(cr, 1.6);
            cairo_move_to(cr, XOF(b[i].lo), y);
            cairo_line_to(cr, XOF(b[i].hi), y);
            cairo_stroke(cr);
        }
        cairo_arc(cr, XOF(b[i].mid), y, 2.6, 0, 2 * G_PI);
        cairo_fill(cr);
    }
    char ends[200];
    snprintf(ends, sizeof ends, "%.4g", lo);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    label_at(d, ends, left, top + rh * (double)n + 4, 80, 7);
    snprintf(ends, sizeof ends, "%.4g", hi);
    label_at(d, ends, right - 40, top + rh * (double)n + 4, 80, 7);
    label_at(d, axis, left + (right - left) / 2 - 60, top + rh * (double)n + 4, 200, 7);
#undef XOF
    d->y = top + rh * (double)n + 20;
}

/* The comparison with a baseline run (its ratios around 1x). */
static void baseline_chart(struct doc *d, const cJSON *p)
{
    const cJSON *base = obj(p, "baseline"), *x;
    size_t n = (size_t)cJSON_GetArraySize(obj(base, "benchmarks")), k = 0;
    if (!cJSON_IsObject(base))
        return;
    char title[700];
    snprintf(title, sizeof title, "版本对比 Comparison with a baseline: %s %s, report %s", assay_json_str(base, "product"),
             assay_json_str(base, "version"), assay_json_str(base, "report_number"));
    heading(d, title, 13);
    if (n == 0) {
        para(d, "没有可比的基准（同一平台、同为真实硬件或同为模拟）No benchmark to compare (the same profile, both on real "
                "hardware or both emulated)", 9, 0);
        return;
    }
    if (n > 200)
        n = 200;
    struct bar *b = calloc(n, sizeof *b);
    char (*labels)[300] = calloc(n, sizeof *labels);
    if (!b || !labels) {
        free(b);
        free(labels);
        return;
    }
    cJSON_ArrayForEach(x, obj(base, "benchmarks"))
    {
        if (k == n)
            break;
        snprintf(labels[k], sizeof labels[k], "%s · %s: %s %s", assay_json_str(x, "name"), assay_json_str(x, "profile"),
                 assay_json_str(x, "verdict_zh"), assay_json_str(x, "verdict"));
        b[k] = (struct bar){labels[k], cJSON_IsNumber(obj(x, "ratio")) ? assay_json_num(x, "ratio") : NAN,
                            cJSON_IsNumber(obj(x, "ratio_lo")) ? assay_json_num(x, "ratio_lo") : NAN,
                            cJSON_IsNumber(obj(x, "ratio_hi")) ? assay_json_num(x, "ratio_hi") : NAN,
                            cJSON_IsTrue(obj(x, "emulated")), 0};
        k++;
    }
    interval_chart(d, b, k, 1.0, "本次/基线 this run / baseline (1x: no change)");
    free(b);
    free(labels);
}

static void benchmarks(struct doc *d, const cJSON *p)
{
    static const double w[] = {4, 1, 2, 3, 2};
    static const char *const head[] = {"平台 Profile", "样本 n", "中位数 Median", "95% 置信区间 CI", "稳定性 Stability"};
    const cJSON *cmp, *x;
    if (cJSON_GetArraySize(obj(p, "comparison")) == 0)
        return;
    heading(d, "性能对比 Benchmark comparison", 13);
    cJSON_ArrayForEach(cmp, obj(p, "comparison"))
    {
        char title[600], n[32], med[48], ci[96];
        snprintf(title, sizeof title, "%s (%s, %s)", assay_json_str(cmp, "name"), assay_json_str(cmp, "unit"),
                 !strcmp(assay_json_str(cmp, "better"), "lower") ? "越低越好 lower is better" : "越高越好 higher is better");
        heading(d, title, 10.5);
        row(d, 5, w, head, 1);
        cJSON_ArrayForEach(x, obj(cmp, "targets"))
        {
            snprintf(n, sizeof n, "%.0f", assay_json_num(x, "n"));
            snprintf(med, sizeof med, "%.4g", assay_json_num(x, "median"));
            snprintf(ci, sizeof ci, "[%.4g, %.4g]", assay_json_num(x, "ci_lo"), assay_json_num(x, "ci_hi"));
            const char *cells[] = {assay_json_str(x, "profile"), n, med, ci,
                                   !strcmp(assay_json_str(x, "stability"), "stable") ? "稳定 stable" : "不稳定 unstable"};
            row(d, 5, w, cells, 0);
        }
        /* The same figures drawn: each target's median and interval. */
        size_t nt = (size_t)cJSON_GetArraySize(obj(cmp, "targets")), k = 0;
        struct bar *b = nt && nt <= 200 ? calloc(nt, sizeof *b) : NULL;
        if (b) {
            cJSON_ArrayForEach(x, obj(cmp, "targets"))
            {
                b[k] = (struct bar){assay_json_str(x, "profile"),
                                    cJSON_IsNumber(obj(x, "median")) ? assay_json_num(x, "median") : NAN,
                                    cJSON_IsNumber(obj(x, "ci_lo")) ? assay_json_num(x, "ci_lo") : NAN,
                                    cJSON_IsNumber(obj(x, "ci_hi")) ? assay_json_num(x, "ci_hi") : NAN,
                                    cJSON_IsTrue(obj(x, "emulated")), strcmp(assay_json_str(x, "stability"), "stable") != 0};
                k++;
            }
            d->y += 4;
            interval_chart(d, b, k, 0, assay_json_str(cmp, "unit"));
            free(b);
        }
    }
}

static void step(struct doc *d, const cJSON *x)
{
    static const double w[] = {4, 3, 1, 1.5};
    static const char *const streams[] = {"stderr", "stdout"};
    char name[600], verdict[600], ex[32], dur[32];
    snprintf(name, sizeof name, "%s%s", assay_json_str(x, "name"),
             cJSON_IsTrue(obj(x, "privileged")) ? " (以 root 运行 ran as root)" : "");
    verdict_words(verdict, sizeof verdict, assay_json_str(x, "verdict"));
    if (assay_json_str(x, "reason")[0]) {
        size_t k = strlen(verdict);
        snprintf(verdict + k, sizeof verdict - k, "\n%s", assay_json_str(x, "reason"));
    }
    if (cJSON_IsNumber(obj(x, "exit_code")))
        snprintf(ex, sizeof ex, "%d", obj(x, "exit_code")->valueint);
    else
        snprintf(ex, sizeof ex, "%.30s", assay_json_str(x, "signal"));
    snprintf(dur, sizeof dur, "%.3f s", assay_json_num(x, "duration_s"));
    const char *cells[] = {name, verdict, ex, dur};
    row(d, 4, w, cells, 0);
    for (int k = 0; k < 2; k++) {
        const cJSON *one = obj(obj(x, "logs"), streams[k]);
        const char *tail = assay_json_str(one, "tail");
        char label[200];
        if (!tail[0])
            continue;
        snprintf(label, sizeof label, "%s (末尾 last 2 KiB; 完整日志 full log sha256 %.64s)", streams[k],
                 assay_json_str(one, "sha256"));
        d->y += 3;
        para_at(d, label, MARGIN + 8, 7.5, 0, 0);
        para_at(d, tail, MARGIN + 8, 7, 0, 1);
    }
}

static void target_steps(struct doc *d, const cJSON *t)
{
    static const double w[] = {4, 3, 1, 1.5};
    static const char *const head[] = {"步骤 Step", "结果 Verdict", "退出 Exit", "耗时 Duration"};
    const cJSON *x, *steps = obj(t, "steps");
    heading(d, assay_json_str(obj(t, "profile"), "id"), 11);
    if (assay_json_str(t, "reason")[0]) {
        char r[700];
        snprintf(r, sizeof r, "原因 Reason: %s", assay_json_str(t, "reason"));
        para(d, r, 8.5, 0);
    }
    row(d, 4, w, head, 1);
    if (cJSON_IsObject(obj(steps, "install")))
        step(d, obj(steps, "install"));
    cJSON_ArrayForEach(x, obj(t, "tests")) step(d, x);
    if (cJSON_IsObject(obj(steps, "uninstall")))
        step(d, obj(steps, "uninstall"));
}

static void sign_off(struct doc *d, const cJSON *p)
{
    static const double w[] = {2, 3, 3, 2};
    static const char *const head[] = {"", "姓名 Name", "签字 Signature", "日期 Date"};
    heading(d, "签字 Sign-off", 13);
    need(d, 4 * 30);
    row(d, 4, w, head, 1);
    for (int i = 0; i < 3; i++) {
        char label[64];
        snprintf(label, sizeof label, "%s\n%s", assay_report_people[i][1], assay_report_people[i][2]);
        const char *cells[] = {label, assay_json_str(obj(p, "people"), assay_report_people[i][0]), "", ""};
        row(d, 4, w, cells, 0);
    }
}

static void signature(struct doc *d, const cJSON *p)
{
    static const double w[] = {1, 2};
    char kid[120];
    heading(d, "签名 Signature", 13);
    para(d,
         "本文件是签名报告（JSON 格式的 DSSE 信封）的打印版，本身不是签名文件：请用 assay verify report.json "
         "或验证指南中的 openssl 命令验证 JSON 报告，并核对下面的签名内容摘要。每页页脚都有该摘要和验证地址的二维码。",
         9, 0);
    para(d,
         "This document prints the signed report (a DSSE envelope in JSON); it is not itself signed. Verify the JSON "
         "with assay verify report.json or the openssl commands of the verification guide, and compare the payload "
         "digest below. Every page's footer carries that digest and a QR code of the verification address.",
         9, 0);
    snprintf(kid, sizeof kid, "%s (%s)", d->c->keyid, d->c->alg);
    const char *r1[] = {"密钥标识 Key id (SHA-256 of the public key)", kid};
    const char *r2[] = {"签名内容摘要 Payload SHA-256", d->c->payload_sha256};
    const char *r3[] = {"提交文件摘要 Submission SHA-256", assay_json_str(obj(p, "submission"), "sha256")};
    const char *r4[] = {"验证地址 Verification address", d->address};
    row(d, 2, w, r1, 0);
    row(d, 2, w, r2, 0);
    row(d, 2, w, r3, 0);
    row(d, 2, w, r4, 0);
}

/* The whole document; the same calls in both passes. */
static void render(struct doc *d)
{
    static const double w2[] = {1, 3};
    const cJSON *p = obj(d->c->statement, "predicate"), *prod = obj(p, "product"), *con = obj(p, "conclusion"), *t,
                *r;
    char buf[1200];
    new_page(d);
    para(d, "适配测试报告 / Adaptation Test Report", 20, 1);
    if (cJSON_IsBool(obj(con, "certified"))) {
        int ok = cJSON_IsTrue(obj(con, "certified"));
        if (ok)
            cairo_set_source_rgb(d->cr, 0.04, 0.42, 0.04);
        else
            cairo_set_source_rgb(d->cr, 0.7, 0, 0);
        heading(d, ok ? "结论：已认证 / Conclusion: certified" : "结论：未认证 / Conclusion: not certified", 14);
        cairo_set_source_rgb(d->cr, 0, 0, 0);
        char *zh = NULL, *en = NULL;
        if (assay_report_summary(&zh, &en, p) == 0) {
            para(d, zh, 10, 0);
            para(d, en, 10, 0);
        }
        assay_error_clear();
        free(zh);
        free(en);
        cJSON_ArrayForEach(r, obj(con, "reasons"))
        {
            const char *tg = assay_json_str(r, "target");
            snprintf(buf, sizeof buf, "• %s%s%s / %s", tg, tg[0] ? ": " : "", assay_json_str(r, "zh"),
                     assay_json_str(r, "en"));
            para_at(d, buf, MARGIN + 8, 8.5, 0, 0);
        }
    }
    gap(d);
    const char *a[] = {"报告编号 Report number", assay_json_str(p, "report_number")};
    const char *b[] = {"测试中心 Test centre", assay_json_str(p, "centre")};
    snprintf(buf, sizeof buf, "%s (%s)\n%s (UTC)", assay_json_str(p, "date_local"), assay_json_str(p, "timezone"),
             assay_json_str(p, "date"));
    const char *c[] = {"日期 Date", assay_json_str(p, "date_local")[0] ? buf : assay_json_str(p, "date")};
    char prodline[600], verdict[64], sub[400];
    snprintf(prodline, sizeof prodline, "%s %s", assay_json_str(prod, "name"), assay_json_str(prod, "version"));
    const char *e[] = {"产品 Product", prodline};
    const char *f[] = {"厂商 Vendor", assay_json_str(prod, "vendor")};
    verdict_words(verdict, sizeof verdict, assay_json_str(p, "verdict"));
    const char *g[] = {"结果 Verdict", verdict};
    snprintf(sub, sizeof sub, "%s, %.0f bytes\nsha256 %s", assay_json_str(obj(p, "submission"), "file"),
             assay_json_num(obj(p, "submission"), "size"), assay_json_str(obj(p, "submission"), "sha256"));
    const char *h[] = {"提交文件 Submission", sub};
    const char *const *rows[] = {a, b, c, e, f, g, h};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        row(d, 2, w2, rows[i], 0);
    gap(d);
    const cJSON *note;
    cJSON_ArrayForEach(note, obj(p, "notes")) para(d, cJSON_IsString(note) ? note->valuestring : "", 8.5, 0);
    targets_table(d, p);
    heading(d, "测试环境 Test environment", 13);
    cJSON_ArrayForEach(t, obj(p, "targets"))
    {
        static const double w3[] = {2, 3, 4};
        static const char *const head[] = {"项目 Item", "目标配置 Profile", "实测 Measured on the host"};
        heading(d, assay_json_str(obj(t, "profile"), "id"), 10.5);
        row(d, 3, w3, head, 1);
        assay_report_environment(t, pdf_env_row, d);
    }
    benchmarks(d, p);
    baseline_chart(d, p);
    heading(d, "测试步骤 Steps", 13);
    cJSON_ArrayForEach(t, obj(p, "targets")) target_steps(d, t);
    sign_off(d, p);
    signature(d, p);
}

void assay_report_verify_address(char *out, size_t outlen, const assay_report_check *c)
{
    const char *base = assay_json_str(obj(c->statement, "predicate"), "verify_url");
    snprintf(out, outlen, "%s%s", base[0] ? base : "sha256:", c->payload_sha256);
}

/* One pass over the document into o: pages counted, or written. */
static int pass(struct doc *d, struct out *o)
{
    cairo_surface_t *s = cairo_pdf_surface_create_for_stream(out_write, o, PAGE_W, PAGE_H);
    int rc = 0;
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, "适配测试报告 Adaptation Test Report");
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATOR, "assay");
    d->cr = cairo_create(s);
    d->page = 0;
    render(d);
    cairo_show_page(d->cr);
    if (cairo_status(d->cr) != CAIRO_STATUS_SUCCESS)
        rc = assay_error_set(ASSAY_EIO, "cairo: %s", cairo_status_to_string(cairo_status(d->cr)));
    cairo_destroy(d->cr);
    d->cr = NULL;
    cairo_surface_finish(s);
    if (!rc && o->failed)
        rc = o->len + 1 > PDF_MAX ? assay_error_set(ASSAY_ETOOBIG, "the PDF would exceed %u bytes", PDF_MAX)
                                  : assay_error_set(ASSAY_ENOMEM, "out of memory");
    else if (!rc && cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
        rc = assay_error_set(ASSAY_EIO, "cairo: %s", cairo_status_to_string(cairo_surface_status(s)));
    cairo_surface_destroy(s);
    return rc;
}

int assay_report_pdf(unsigned char **out, size_t *len, const assay_report_check *c)
{
    struct doc d = {0};
    struct out o = {0};
    int rc;
    d.c = c;
    d.number = assay_json_str(obj(c->statement, "predicate"), "report_number");
    assay_report_verify_address(d.address, sizeof d.address, c);
    d.qr = QRcode_encodeString(d.address, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!d.qr)
        return assay_error_set(ASSAY_ENOMEM, "QR code of '%s' failed", d.address);
    o.discard = 1;
    if ((rc = pass(&d, &o)) == 0) {
        d.pages = d.page;
        o.discard = 0;
        rc = pass(&d, &o);
    }
    QRcode_free(d.qr);
    if (rc < 0) {
        free(o.p);
        return rc;
    }
    *out = o.p;
    *len = o.len;
    return 0;
}
