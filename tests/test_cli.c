/*
 * The command line: the command table and what is written from it (help,
 * did-you-mean, the man page, the bash completion), display width against
 * the C library's, and the built `assay` against a lab made by `assay
 * init` (no hosts): help without a lab, profile selection and the refusal
 * of targets the package has nothing for, run list's conclusions and
 * filters, package remove and --json on the commands that print data.
 */
#include "cli.h"
#include "helpers.h"
#include "labctl.h"
#include "markup.h"
#include "profile.h"
#include "assay/error.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

/* ---- the table and did-you-mean -------------------------------------------- */

Test(cli, edit_distance)
{
    cr_assert_eq(assay_edit_distance("dispach", "dispatch"), 1);
    cr_assert_eq(assay_edit_distance("--center", "--centre"), 1, "a transposition counts one");
    cr_assert_eq(assay_edit_distance("kitten", "sitting"), 3);
    cr_assert_eq(assay_edit_distance("", "abc"), 3);
    cr_assert_eq(assay_edit_distance("abc", ""), 3);
    cr_assert_eq(assay_edit_distance("RUN", "run"), 0, "case does not count");
    cr_assert_eq(assay_edit_distance("same", "same"), 0);
    char longer[100];
    memset(longer, 'a', 99);
    longer[99] = '\0';
    cr_assert_eq(assay_edit_distance(longer, "a"), 255, "capped, not computed, beyond 64");
}

Test(cli, suggestions_are_near_or_none)
{
    const char *cmds[] = {"init", "config", "package", "run", "dispatch", "report", "verify"};
    cr_assert_str_eq(assay_cli_suggest("dispach", cmds, 7), "dispatch");
    cr_assert_str_eq(assay_cli_suggest("rn", cmds, 7), "run");
    cr_assert_str_eq(assay_cli_suggest("verfiy", cmds, 7), "verify");
    cr_assert_null(assay_cli_suggest("xyzzy", cmds, 7));
    cr_assert_null(assay_cli_suggest("", cmds, 7));
    const char *two[] = {"ab"};
    cr_assert_null(assay_cli_suggest("a", two, 1), "never a whole word replaced");
    const char *opts[] = {"--centre", "--key-type"};
    cr_assert_str_eq(assay_cli_suggest("--center", opts, 2), "--centre");
    cr_assert_str_eq(assay_cli_suggest("--keytype", opts, 2), "--key-type");
}

Test(cli, options_are_checked_against_the_table)
{
    const assay_cli_cmd *c = assay_cli_find("run", "submit");
    char *pos[2], msg[256];
    char *ok[] = {"3f2a9c81", "--profiles", "kunpeng-*", "--json"};
    cr_assert_eq(assay_cli_check(c, 4, ok, pos, msg, sizeof msg), 0, "%s", msg);
    cr_assert_str_eq(pos[0], "3f2a9c81");
    char *typo[] = {"3f2a9c81", "--profile", "x"};
    cr_assert_eq(assay_cli_check(c, 3, typo, pos, msg, sizeof msg), -1);
    cr_assert_str_eq(msg, "unknown option '--profile' (did you mean '--profiles'?)");
    char *novalue[] = {"3f2a9c81", "--priority"};
    cr_assert_eq(assay_cli_check(c, 2, novalue, pos, msg, sizeof msg), -1);
    cr_assert(strstr(msg, "--priority needs a value"), "%s", msg);
    char *extra[] = {"a", "b"};
    cr_assert_eq(assay_cli_check(c, 2, extra, pos, msg, sizeof msg), -1);
    cr_assert_str_eq(msg, "unexpected argument 'b'");
    /* A value that looks like an option is the value. */
    char *neg[] = {"a", "--priority", "-5", "--profiles", "all"};
    cr_assert_eq(assay_cli_check(c, 5, neg, pos, msg, sizeof msg), 0, "%s", msg);
    assay_cli_unknown(msg, sizeof msg, "run", "sbumit");
    cr_assert_str_eq(msg, "unknown subcommand 'run sbumit' (did you mean 'submit'?)");
    assay_cli_unknown(msg, sizeof msg, "pakcage", NULL);
    cr_assert_str_eq(msg, "unknown command 'pakcage' (did you mean 'package'?)");
}

Test(cli, every_entry_is_whole_and_helps)
{
    size_t n;
    const assay_cli_cmd *t = assay_cli_commands(&n);
    cr_assert_gt(n, 20);
    for (size_t i = 0; i < n; i++) {
        cr_assert(t[i].summary[0], "%s %s has no summary", t[i].name, t[i].sub ? t[i].sub : "");
        for (const char *l = t[i].help; *l;) {
            size_t ln = strcspn(l, "\n");
            cr_assert_leq(ln, 78, "%s: a help line of %zu columns", t[i].name, ln);
            l += ln + (l[ln] == '\n');
        }
        cr_assert_leq(t[i].npos, 2, "main's positional arrays hold two");
        /* A command has subcommands everywhere or nowhere. */
        cr_assert_eq(!!t[i].sub, assay_cli_has_subs(t[i].name), "%s", t[i].name);
        for (size_t k = 0; k < i; k++)
            cr_assert(strcmp(t[k].name, t[i].name) ||
                          (t[k].sub && t[i].sub && strcmp(t[k].sub, t[i].sub)),
                      "%s listed twice", t[i].name);
        for (const assay_cli_opt *o = t[i].opts; o->name; o++) {
            cr_assert(o->name[0] == '-' && o->help && o->help[0], "%s: %s", t[i].name, o->name);
            cr_assert(o->complete != ASSAY_CLI_WORDS || (o->words && o->arg), "%s", o->name);
            for (const assay_cli_opt *q = t[i].opts; q < o; q++)
                cr_assert_str_neq(q->name, o->name);
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        cr_assert_eq(assay_cli_help(f, t[i].name, t[i].sub), 0);
        fclose(f);
        char head[80];
        snprintf(head, sizeof head, "usage: assay %s%s%s", t[i].name, t[i].sub ? " " : "",
                 t[i].sub ? t[i].sub : "");
        cr_assert(strncmp(buf, head, strlen(head)) == 0, "%s", buf);
        for (const assay_cli_opt *o = t[i].opts; o->name; o++)
            cr_assert(strstr(buf, o->help), "%s: %s not in its help", head, o->name);
        free(buf);
    }
    cr_assert_eq(assay_cli_help(stdout, "nosuch", NULL), -1);
    cr_assert_eq(assay_cli_help(stdout, "run", "nosuch"), -1);
}

/* ---- display width ------------------------------------------------------------- */

/* markup.c's East Asian Width table against the C library's wcwidth() in
 * a UTF-8 locale, over every code point of the blocks Chinese text uses
 * and the Latin, combining and fullwidth ones around them. */
Test(cli, width_table_agrees_with_the_c_library)
{
    cr_assert_not_null(setlocale(LC_CTYPE, "C.UTF-8"), "no C.UTF-8 locale");
    static const struct {
        long lo, hi;
    } blocks[] = {{0x20, 0x7e},     {0xa0, 0x2ff},    {0x300, 0x36f},   {0x3000, 0x303e},
                  {0x3041, 0x30ff}, {0x4e00, 0x9fff}, {0xff01, 0xff60}, {0xffe0, 0xffe6},
                  {0xac00, 0xd7a3}, {0x3400, 0x4dbf}};
    size_t checked = 0;
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++)
        for (long cp = blocks[b].lo; cp <= blocks[b].hi; cp++) {
            int lib = wcwidth((wchar_t)cp);
            if (lib < 0)
                continue; /* unassigned in this glibc */
            char u[5];
            mbstate_t st;
            memset(&st, 0, sizeof st);
            size_t k = wcrtomb(u, (wchar_t)cp, &st);
            cr_assert_neq(k, (size_t)-1);
            cr_assert_eq(assay_text_width(u, k), (size_t)lib, "U+%04lX: assay %zu, libc %d", cp,
                         assay_text_width(u, k), lib);
            checked++;
        }
    cr_assert_gt(checked, 35000);
}

Test(cli, cells_cut_chinese_on_characters_and_columns)
{
    char out[256];
    /* 2 + 16 x 2 = 34 columns into 24: 22 columns of text, "~", one space. */
    assay_markup_term(out, sizeof out, "UX试用软件有限公司北京分公司技术部", 24);
    cr_assert_str_eq(out, "UX试用软件有限公司北京~ ");
    cr_assert_eq(assay_text_width(out, strlen(out)), 24);
    /* Every width from 1 to 40: never a cut sequence, always that width. */
    for (size_t w = 2; w <= 40; w++) {
        assay_markup_term(out, sizeof out, "鲲鹏 920 / 银河麒麟 V10 飞腾", w);
        cr_assert_eq(assay_text_width(out, strlen(out)), w, "width %zu: '%s'", w, out);
        cr_assert_eq(assay_utf8_cut(out, strlen(out), strlen(out)), strlen(out));
        char *safe = NULL;
        assay_markup *m;
        cr_assert_eq(assay_markup_new(&m, ASSAY_MARKUP_TEXT, 0), 0);
        assay_markup_text(m, out);
        cr_assert_eq(assay_markup_done(&safe, m), 0);
        cr_assert_str_eq(safe, out, "width %zu: an invalid sequence was made", w);
        free(safe);
    }
}

Test(cli, every_shipped_profile_has_a_chinese_name)
{
    assay_profile **v;
    size_t n;
    cr_assert_eq(assay_profile_list(&v, &n, ASSAY_SOURCE_DIR "/profiles"), 0, "%s",
                 assay_error_last()->message);
    cr_assert_gt(n, 20);
    for (size_t i = 0; i < n; i++) {
        cr_assert(v[i]->name_zh[0], "%s has no name_zh", v[i]->id);
        if (strcmp(v[i]->family, "kunpeng") == 0)
            cr_assert(strstr(v[i]->name_zh, "鲲鹏 920"), "%s", v[i]->name_zh);
        if (strcmp(v[i]->os_id, "kylin") == 0)
            cr_assert(strstr(v[i]->name_zh, "银河麒麟 V10"), "%s", v[i]->name_zh);
    }
    assay_profile_list_free(v, n);
}

Test(cli, profile_specs_select_families_os_globs_and_all)
{
    const char *dir = ASSAY_SOURCE_DIR "/profiles";
    char(*ids)[96];
    size_t n;
    cr_assert_eq(assay_profile_select(&ids, &n, dir, "kunpeng-*"), 0);
    cr_assert_eq(n, 5);
    for (size_t i = 0; i < n; i++)
        cr_assert(strncmp(ids[i], "kunpeng-", 8) == 0);
    free(ids);
    cr_assert_eq(assay_profile_select(&ids, &n, dir, "*-kylin-v10"), 0);
    cr_assert_eq(n, 7);
    free(ids);
    cr_assert_eq(assay_profile_select(&ids, &n, dir, "loongson,uos"), 0);
    cr_assert_eq(n, 6 + 7 - 2, "the loongson uos ones once");
    free(ids);
    cr_assert_eq(assay_profile_select(&ids, &n, dir, "all"), 0);
    cr_assert_eq(n, 24);
    free(ids);
    cr_assert_eq(assay_profile_select(&ids, &n, dir, "zhaoxin-kx6000-uos-20,zhaoxin-kx6000-uos-20"), 0);
    cr_assert_eq(n, 1);
    free(ids);
    cr_assert_eq(assay_profile_select(&ids, &n, dir, "kunpng"), ASSAY_ENOTFOUND);
    cr_assert(strstr(assay_error_last()->message, "did you mean 'kunpeng'"), "%s",
              assay_error_last()->message);
    cr_assert_eq(assay_profile_select(&ids, &n, dir, "phytium-*,nosuch-*"), ASSAY_ENOTFOUND);
    assay_profile *p;
    cr_assert_eq(assay_profile_load(&p, dir, "kunpeng-920-kylin-v11"), ASSAY_ENOTFOUND);
    cr_assert(strstr(assay_error_last()->message, "did you mean 'kunpeng-920-kylin-v10'"), "%s",
              assay_error_last()->message);
}

/* ---- the built assay against a lab -------------------------------------------- */

static void lab_setup(void)
{
    snprintf(lc_lab, sizeof lc_lab, "/tmp/assay-cli-XXXXXX");
    cr_assert_not_null(mkdtemp(lc_lab));
    strncat(lc_lab, "/lab", sizeof lc_lab - strlen(lc_lab) - 1);
    cr_assert_eq(lc_sh("%s init --centre 'Example 测试中心'", LC_ASSAY), 0, "%s", lc_out);
}

TestSuite(cli_lab, .init = lab_setup, .fini = lc_teardown, .timeout = 120);

/* A submission with an x86_64 and a new-world loongarch64 artifact (no
 * aarch64, no old world), from `vendor`; its id goes to lc_pkg. */
static void arch_submission(const char *name, const char *vendor)
{
    cr_assert_eq(
        lc_sh("set -e; d=%s/sub-%s; mkdir -p $d/pkgs; echo x86 > $d/x; "
              "tar -C $d -czf $d/pkgs/a-x86_64.tar.gz x; echo la > $d/x; tar -C $d -czf $d/pkgs/a-la.tar.gz x;"
              "cat > $d/manifest.json <<'EOF'\n"
              "{\"manifest\": 1, \"product\": \"%s\", \"version\": \"1.0\", \"vendor\": \"%s\","
              " \"artifacts\": [{\"file\": \"pkgs/a-x86_64.tar.gz\", \"arch\": \"x86_64\"},"
              " {\"file\": \"pkgs/a-la.tar.gz\", \"arch\": \"loongarch64\", \"abi\": \"new\"}],"
              " \"install\": {\"command\": \"true\", \"timeout\": 60},"
              " \"tests\": [{\"id\": \"t\", \"command\": \"true\", \"timeout\": 60}],"
              " \"uninstall\": {\"command\": \"true\", \"timeout\": 60}}\n"
              "EOF\n"
              "tar -C $d -czf $d/%s.tar.gz manifest.json pkgs; %s package add $d/%s.tar.gz 2>/dev/null",
              lc_lab, name, name, vendor, name, LC_ASSAY, name),
        0, "%s", lc_out);
    snprintf(lc_pkg, sizeof lc_pkg, "%.64s", lc_out);
}

static cJSON *json_of(const char *cmd)
{
    cr_assert_eq(lc_sh("%s %s", LC_ASSAY, cmd), 0, "%s: %s", cmd, lc_out);
    cJSON *o = cJSON_Parse(lc_out);
    cr_assert_not_null(o, "%s: not JSON: %s", cmd, lc_out);
    return o;
}

Test(cli_lab, help_needs_no_lab_and_every_command_has_it)
{
    size_t n;
    const assay_cli_cmd *t = assay_cli_commands(&n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(th_run(lc_out, sizeof lc_out, "ASSAY_LAB=/nonexistent %s %s %s --help", LC_ASSAY,
                            t[i].name, t[i].sub ? t[i].sub : ""),
                     0, "%s %s --help: %s", t[i].name, t[i].sub ? t[i].sub : "", lc_out);
        cr_assert(strstr(lc_out, "usage: assay "), "%s", lc_out);
        cr_assert_eq(th_run(lc_out, sizeof lc_out, "ASSAY_LAB=/nonexistent %s help %s %s", LC_ASSAY,
                            t[i].name, t[i].sub ? t[i].sub : ""),
                     0, "%s", lc_out);
    }
    cr_assert_eq(th_run(lc_out, sizeof lc_out, "ASSAY_LAB=/nonexistent %s help run", LC_ASSAY), 0);
    cr_assert(strstr(lc_out, "assay run submit PACKAGE --profiles") && strstr(lc_out, "assay run logs RUN"),
              "%s", lc_out);
    /* --help wins over everything else on the line, even bad options. */
    cr_assert_eq(th_run(lc_out, sizeof lc_out, "%s --lab /nonexistent dispatch --bogus --help", LC_ASSAY), 0,
                 "%s", lc_out);
    cr_assert_eq(lc_sh("%s dispach", LC_ASSAY), 2);
    cr_assert(strstr(lc_out, "unknown command 'dispach' (did you mean 'dispatch'?)"), "%s", lc_out);
    cr_assert_eq(lc_sh("%s init --center X", LC_ASSAY), 2);
    cr_assert(strstr(lc_out, "init: unknown option '--center' (did you mean '--centre'?)"), "%s", lc_out);
    cr_assert_eq(lc_sh("%s run sumbit 1", LC_ASSAY), 2);
    cr_assert(strstr(lc_out, "did you mean 'submit'?"), "%s", lc_out);
    cr_assert_neq(lc_sh("%s profile show kunpeng-920-kylin-v11", LC_ASSAY), 0);
    cr_assert(strstr(lc_out, "did you mean 'kunpeng-920-kylin-v10'?"), "%s", lc_out);
}

Test(cli_lab, the_man_page_and_completion_come_from_the_table)
{
    cr_assert_eq(lc_sh("%s help --man > %s/assay.1 && groff -ww -man -z %s/assay.1", LC_ASSAY, lc_lab, lc_lab), 0,
                 "%s", lc_out);
    cr_assert_str_eq(lc_out, "", "groff warns: %s", lc_out);
    cr_assert_eq(lc_sh("grep -c '^\\.B run logs' %s/assay.1", lc_lab), 0, "%s", lc_out);
    /* The build wrote the same page. */
    cr_assert_eq(lc_sh("cmp %s/assay.1 %s/assay.1", lc_lab, ASSAY_BINARY_DIR), 0, "%s", lc_out);
    cr_assert_eq(lc_sh("%s help --bash-completion > %s/c.bash && bash -n %s/c.bash", LC_ASSAY, lc_lab, lc_lab),
                 0, "%s", lc_out);
    /* Completion in a real bash: subcommands, options, choices, profile ids. */
    cr_assert_eq(
        lc_sh("PATH=%s:$PATH bash -c 'source %s/c.bash; t() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); "
              "COMPREPLY=(); _assay; echo \"${COMPREPLY[*]}\"; }; t assay run su; t assay run submit --pr; "
              "t assay report 1 --format h; t assay dis; t assay run submit x --profiles kunpeng-920-u'",
              ASSAY_BINARY_DIR, lc_lab),
        0, "%s", lc_out);
    cr_assert_str_eq(lc_out, "submit\n--profiles --priority\nhtml\ndispatch\nkunpeng-920-uos-20\n");
    /* cmake --install puts both where man and bash-completion look. */
    cr_assert_eq(lc_sh("cmake --install %s --prefix %s/inst > /dev/null && cmp %s/assay.1 %s/inst/share/man/man1/assay.1 "
                       "&& cmp %s/c.bash %s/inst/share/bash-completion/completions/assay",
                       ASSAY_BINARY_DIR, lc_lab, lc_lab, lc_lab, lc_lab, lc_lab),
                 0, "%s", lc_out);
}

Test(cli_lab, profiles_and_packages_show_chinese_in_columns)
{
    cr_assert_eq(lc_sh("%s profile list", LC_ASSAY), 0, "%s", lc_out);
    char row[160];
    snprintf(row, sizeof row, "%-36s %s", "kunpeng-920-kylin-v10", "鲲鹏 920 / 银河麒麟 V10");
    cr_assert(strstr(lc_out, row), "%s", lc_out);
    cr_assert(strstr(lc_out, "龙芯 3A5000 / 统信 UOS 20") && strstr(lc_out, "兆芯 KX-6000 / openEuler 22.03") &&
                  strstr(lc_out, "飞腾 FT-2000+ / 银河麒麟 V10"),
              "%s", lc_out);
    arch_submission("cjk", "UX试用软件有限公司北京分公司技术部");
    cr_assert_eq(lc_sh("%s package list", LC_ASSAY), 0, "%s", lc_out);
    cr_assert(strstr(lc_out, " UX试用软件有限公司北京~  "), "the vendor cut at 24 columns: %s", lc_out);
    /* Every row as wide as the header up to the FILE column. */
    char *hdr = strstr(lc_out, "FILE"), *cjk = strstr(lc_out, "cjk.tar.gz");
    cr_assert(hdr && cjk);
    cr_assert_eq(assay_text_width(lc_out, (size_t)(hdr - lc_out)),
                 assay_text_width(strchr(lc_out, '\n') + 1, (size_t)(cjk - strchr(lc_out, '\n') - 1)));
}

Test(cli_lab, submit_refuses_targets_the_package_has_nothing_for)
{
    arch_submission("arch", "Example Co.");
    /* Kunpeng is aarch64: nothing for it. */
    cr_assert_neq(lc_sh("%s run submit %.12s --profiles 'kunpeng-*'", LC_ASSAY, lc_pkg), 0);
    cr_assert(strstr(lc_out, "kunpeng-920-kylin-v10 (鲲鹏 920 / 银河麒麟 V10): the package has no artifact for "
                             "aarch64 (not provided by the vendor)") &&
                  strstr(lc_out, "refused: 5 target(s) can never run"),
              "%s", lc_out);
    /* Kylin V10 on Loongson is the old world; the package has the new one. */
    cr_assert_neq(lc_sh("%s run submit %.12s --profiles loongson-3a5000-kylin-v10", LC_ASSAY, lc_pkg), 0);
    cr_assert(strstr(lc_out, "no artifact for loongarch64, old-world ABI"), "%s", lc_out);
    cr_assert_eq(lc_sh("%s run list --json", LC_ASSAY), 0);
    cr_assert_str_eq(lc_out, "[]\n", "nothing was queued");
    /* With --allow-missing the gaps are recorded; the others queue, and a
     * profile no host serves is a warning naming it. */
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles 'loongson-3a5000-*' --allow-missing --json", LC_ASSAY,
                       lc_pkg),
                 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "warning: no enabled host serves profile loongson-3a5000-openeuler-22.03 (龙芯 3A5000 / "
                             "openEuler 22.03)") &&
                  strstr(lc_out, "2 target(s) recorded as not provided"),
              "%s", lc_out);
    cJSON *r = json_of("run show 1 --json"), *j;
    int queued = 0, missing = 0;
    cJSON_ArrayForEach(j, cJSON_GetObjectItem(r, "job_list"))
    {
        const char *o = cJSON_GetObjectItem(j, "outcome")->valuestring;
        if (!strcmp(o, "not-provided")) {
            missing++;
            cr_assert(strstr(cJSON_GetObjectItem(j, "reason")->valuestring, "old-world ABI"));
        } else {
            queued += !strcmp(cJSON_GetObjectItem(j, "state")->valuestring, "queued");
        }
    }
    cr_assert_eq(missing, 2);
    cr_assert_eq(queued, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(r, "state")->valuestring, "queued");
    cJSON_Delete(r);
    /* A run with nothing to run is done at once, the vendor's failure. */
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles kunpeng-920-kylin-v10 --allow-missing", LC_ASSAY, lc_pkg), 0,
                 "%s", lc_out);
    cr_assert_eq(lc_sh("%s run wait 2 --timeout 5", LC_ASSAY), 1, "%s", lc_out);
    cr_assert(strstr(lc_out, "未认证 not certified") && strstr(lc_out, "厂商未提供"), "%s", lc_out);
    cr_assert_eq(lc_sh("%s report 2 --format md", LC_ASSAY), 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "not-provided"), "%s", lc_out);
    cr_assert_neq(lc_sh("%s run submit %.12s --profiles kunpng", LC_ASSAY, lc_pkg), 0);
    cr_assert(strstr(lc_out, "did you mean 'kunpeng'?"), "%s", lc_out);
}

Test(cli_lab, run_list_shows_conclusions_and_filters)
{
    arch_submission("one", "Vendor A");
    char one[65];
    snprintf(one, sizeof one, "%s", lc_pkg);
    arch_submission("two", "Vendor B");
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20 && "
                       "%s run submit %.12s --profiles kunpeng-920-uos-20 --allow-missing",
                       LC_ASSAY, one, LC_ASSAY, lc_pkg),
                 0, "%s", lc_out);
    cr_assert_eq(lc_sh("%s run list", LC_ASSAY), 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "结论 CONCLUSION") && strstr(lc_out, "queued    0/1     -") &&
                  strstr(lc_out, "done      1/1     不通过 failed"),
              "%s", lc_out);
    cJSON *l = json_of("run list --json --vendor 'Vendor A'");
    cr_assert_eq(cJSON_GetArraySize(l), 1);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "product")->valuestring, "one");
    cJSON_Delete(l);
    l = json_of("run list --json --product two --state failed");
    cr_assert_eq(cJSON_GetArraySize(l), 1);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "conclusion")->valuestring, "failed");
    cJSON_Delete(l);
    l = json_of("run list --json --state certified");
    cr_assert_eq(cJSON_GetArraySize(l), 0);
    cJSON_Delete(l);
    l = json_of("run list --json --state queued --since 1d");
    cr_assert_eq(cJSON_GetArraySize(l), 1);
    cJSON_Delete(l);
    l = json_of("run list --json --since 2999-01-01");
    cr_assert_eq(cJSON_GetArraySize(l), 0);
    cJSON_Delete(l);
    cr_assert_eq(lc_sh("%s run list --state dnoe", LC_ASSAY), 2);
    cr_assert(strstr(lc_out, "did you mean 'done'?"), "%s", lc_out);
    cr_assert_eq(lc_sh("%s run list --since yesterday", LC_ASSAY), 2);
}

Test(cli_lab, package_remove_refuses_while_runs_refer_and_collects_blobs)
{
    arch_submission("gone", "Example Co.");
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles kunpeng-920-uos-20 --allow-missing", LC_ASSAY, lc_pkg), 0,
                 "%s", lc_out);
    cr_assert_eq(lc_sh("find %s/blobs -type f | wc -l", lc_lab), 0);
    int before = atoi(lc_out);
    cr_assert_geq(before, 3, "the submission and two artifacts");
    cr_assert_neq(lc_sh("%s package remove %.12s", LC_ASSAY, lc_pkg), 0);
    cr_assert(strstr(lc_out, "1 run(s) refer to it (--force removes them too)"), "%s", lc_out);
    cr_assert_eq(lc_sh("%s package remove %.12s --force --json", LC_ASSAY, lc_pkg), 0, "%s", lc_out);
    cJSON *o = cJSON_Parse(lc_out);
    cr_assert_not_null(o, "%s", lc_out);
    cr_assert_eq(cJSON_GetObjectItem(o, "runs_removed")->valueint, 1);
    cr_assert_eq(cJSON_GetObjectItem(o, "blobs_removed")->valueint, 3);
    cJSON_Delete(o);
    cr_assert_eq(lc_sh("find %s/blobs -type f | wc -l", lc_lab), 0);
    cr_assert_eq(atoi(lc_out), before - 3);
    cr_assert_eq(lc_sh("%s run list --json && %s package list --json", LC_ASSAY, LC_ASSAY), 0);
    cr_assert_str_eq(lc_out, "[]\n[]\n");
    cr_assert_neq(lc_sh("%s package remove %.12s", LC_ASSAY, lc_pkg), 0);
    cr_assert(strstr(lc_out, "no package"), "%s", lc_out);
}

Test(cli_lab, commands_that_print_data_speak_json)
{
    cJSON *o = json_of("version --json");
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(o, "version")) &&
              cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "libraries"), "sqlite")));
    cJSON_Delete(o);
    o = json_of("key show --json");
    cr_assert_str_eq(cJSON_GetObjectItem(o, "algorithm")->valuestring, "ed25519");
    cr_assert(strstr(cJSON_GetObjectItem(o, "public_pem")->valuestring, "BEGIN PUBLIC KEY"));
    char keyid[65];
    snprintf(keyid, sizeof keyid, "%s", cJSON_GetObjectItem(o, "keyid")->valuestring);
    cJSON_Delete(o);
    cr_assert_eq(lc_sh("d=%s/sub-j; mkdir -p $d/pkgs && echo x > $d/pkgs/x && cat > $d/manifest.json <<'EOF'\n"
                       "{\"manifest\": 1, \"product\": \"j\", \"version\": \"1\", \"vendor\": \"v\","
                       " \"artifacts\": [{\"file\": \"pkgs/x\", \"arch\": \"aarch64\"}],"
                       " \"install\": {\"command\": \"true\", \"timeout\": 60},"
                       " \"tests\": [{\"id\": \"t\", \"command\": \"true\", \"timeout\": 60}],"
                       " \"uninstall\": {\"command\": \"true\", \"timeout\": 60}}\n"
                       "EOF\n"
                       "tar -C $d -czf $d/j.tar.gz manifest.json pkgs",
                       lc_lab),
                 0, "%s", lc_out);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "package add %s/sub-j/j.tar.gz --json 2>/dev/null", lc_lab);
    o = json_of(cmd);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "added")));
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "preflight"), "errors")->valueint, 0);
    snprintf(lc_pkg, sizeof lc_pkg, "%s", cJSON_GetObjectItem(o, "id")->valuestring);
    cJSON_Delete(o);
    snprintf(cmd, sizeof cmd, "run submit %.12s --profiles x86_64-debian-12 --allow-missing --json 2>/dev/null",
             lc_pkg);
    o = json_of(cmd);
    cr_assert_eq(cJSON_GetObjectItem(o, "run")->valueint, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(o, "package")->valuestring, lc_pkg);
    cJSON_Delete(o);
    cr_assert_eq(lc_sh("%s report 1 -o %s/r.json", LC_ASSAY, lc_lab), 0, "%s", lc_out);
    snprintf(cmd, sizeof cmd, "verify %s/r.json --json", lc_lab);
    o = json_of(cmd);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "valid")));
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(o, "certified")));
    cr_assert_str_eq(cJSON_GetObjectItem(o, "keyid")->valuestring, keyid);
    cr_assert_str_eq(cJSON_GetObjectItem(o, "verdict")->valuestring, "fail");
    cJSON_Delete(o);
    /* run wait --json: the signed conclusion, and the same exit status. */
    cr_assert_eq(lc_sh("%s run wait 1 --json", LC_ASSAY), 1, "%s", lc_out);
    o = cJSON_Parse(lc_out);
    cr_assert_not_null(o, "%s", lc_out);
    cr_assert_eq(cJSON_GetObjectItem(o, "exit")->valueint, 1);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "conclusion"), "certified")));
    cJSON_Delete(o);
    o = json_of("config get centre --json");
    cr_assert_str_eq(cJSON_GetObjectItem(o, "centre")->valuestring, "Example 测试中心");
    cJSON_Delete(o);
    cr_assert_eq(lc_sh("%s config get centr", LC_ASSAY), 2);
    cr_assert(strstr(lc_out, "did you mean 'centre'?"), "%s", lc_out);
    snprintf(cmd, sizeof cmd, "run submit %.12s --profiles kunpeng-920-kylin-v10 2>/dev/null", lc_pkg);
    cr_assert_eq(lc_sh("%s %s", LC_ASSAY, cmd), 0, "%s", lc_out);
    o = json_of("run cancel 2 --json");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "canceled")) && cJSON_IsTrue(cJSON_GetObjectItem(o, "uninstall")));
    cJSON_Delete(o);
}

/* README's CLI section shows `assay help` as it is, and every command
 * the docs show with `assay` is one the table knows. */
Test(cli_lab, the_readme_shows_the_help_as_it_is)
{
    size_t len;
    char *readme = th_slurp(ASSAY_SOURCE_DIR "/README.md", &len);
    cr_assert_not_null(readme);
    const char *mark = "`assay help` prints:\n\n```\n";
    char *a = strstr(readme, mark);
    cr_assert_not_null(a, "README has no `assay help` block");
    a += strlen(mark);
    char *b = strstr(a, "```");
    cr_assert_not_null(b);
    *b = '\0';
    cr_assert_eq(th_run(lc_out, sizeof lc_out, "%s help", LC_ASSAY), 0);
    cr_assert_str_eq(a, lc_out, "README's block differs from `assay help`: update README.md");
    free(readme);
    /* `assay WORD [WORD]` in README and the docs folder: a command (and
     * subcommand) of the table. */
    cr_assert_eq(th_run(lc_out, sizeof lc_out,
                        "cd %s && grep -ohE '(^|[ `(])assay (--lab [^ ]+ )?[a-z]+( [a-z]+)?' README.md docs/*.md | "
                        "sed -E 's/^[ `(]//; s/--lab [^ ]+ //' | sort -u",
                        ASSAY_SOURCE_DIR),
                 0, "%s", lc_out);
    size_t checked = 0;
    char *save = NULL;
    for (char *line = strtok_r(lc_out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char w1[64] = "", w2[64] = "";
        if (sscanf(line, "assay %63s %63s", w1, w2) < 1)
            continue;
        /* Prose ("assay certifies that ...") is not a command line. */
        if (!assay_cli_is_command(w1))
            continue;
        if (assay_cli_has_subs(w1))
            cr_assert_not_null(assay_cli_find(w1, w2), "the docs show 'assay %s %s', which is no command", w1, w2);
        checked++;
    }
    cr_assert_gt(checked, 15);
}
