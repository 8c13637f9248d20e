/*
 * The portal's files (controller/webfiles.c): what a path may name under
 * the folder, and ETags. test_serve checks the same over HTTP.
 */
#include "assay/error.h"
#include "helpers.h"
#include "webfiles.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[512], out[4096];
static int root = -1;

static void setup(void)
{
    snprintf(dir, sizeof dir, "%s/webfiles-test", ASSAY_BINARY_DIR);
    cr_assert_eq(
        th_run(out, sizeof out,
               "rm -rf %s && mkdir -p %s/web/a/b/c/d/e/f/g/h/i %s/web/.git && cd %s/web && echo i "
               "> index.html && "
               "echo j > app.js && echo s > a/s.css && echo x > .git/config && echo d > "
               "a/b/c/d/e/f/g/h/i/deep.txt && "
               "echo secret > ../secret.txt && ln -s ../secret.txt out.txt && ln -s index.html "
               "in.html && "
               "ln -s a linked && mkfifo fifo.txt && echo b > x.bak && echo t > 'sp ace.txt'",
               dir, dir, dir, dir),
        0, "%s", out);
    char w[600];
    snprintf(w, sizeof w, "%s/web", dir);
    root = open(w, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert(root >= 0);
}

static void teardown(void)
{
    close(root);
}

TestSuite(webfiles, .init = setup, .fini = teardown);

/* The file url names, its bytes into got; -1 if refused. */
static int get(const char *url, char *got, size_t len)
{
    assay_webfile f;
    if (assay_webfile_open(&f, root, url) < 0) {
        cr_assert_eq(assay_error_last()->code, ASSAY_ENOTFOUND, "%s: %s", url,
                     assay_error_last()->message);
        return -1;
    }
    ssize_t n = read(f.fd, got, len - 1);
    close(f.fd);
    cr_assert(n >= 0 && (uint64_t)n == f.size, "%s", url);
    got[n] = 0;
    return 0;
}

Test(webfiles, files_of_the_folder_by_name_and_type)
{
    char b[64];
    assay_webfile f;
    cr_assert_eq(get("/", b, sizeof b), 0);
    cr_assert_str_eq(b, "i\n");
    cr_assert_eq(get("/app.js", b, sizeof b), 0);
    cr_assert_str_eq(b, "j\n");
    cr_assert_eq(get("/a/s.css", b, sizeof b), 0);
    cr_assert_eq(assay_webfile_open(&f, root, "/a/s.css"), 0);
    cr_assert_str_eq(f.type, "text/css; charset=utf-8");
    close(f.fd);
    cr_assert_eq(assay_webfile_open(&f, root, "/index.html"), 0);
    cr_assert_str_eq(f.type, "text/html; charset=utf-8");
    close(f.fd);
    cr_assert_eq(get("/a/b/c/d/e/f/g/h/i/deep.txt", b, sizeof b), -1, "more than 8 folders deep");
}

Test(webfiles, nothing_outside_hidden_linked_or_odd)
{
    static const char *const refused[] = {
        "",           "index.html",         "/.git/config",
        "/.git/",     "/../secret.txt",     "/a/../../secret.txt",
        "/a/./s.css", "/./index.html",      "/out.txt",
        "/in.html",   "/linked/s.css",      "/fifo.txt",
        "/x.bak",     "/sp ace.txt",        "/a//s.css",
        "/app.js/",   "/a/s.css/",          "/nothing.html",
        "/a\\s.css",  "/%2e%2e/secret.txt",
    };
    char b[64];
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        cr_assert_eq(get(refused[i], b, sizeof b), -1, "%s was served: %s", refused[i], b);
    char longname[300] = "/";
    memset(longname + 1, 'a', 200);
    strcpy(longname + 201, ".js");
    cr_assert_eq(get(longname, b, sizeof b), -1, "a segment of 203 bytes");
}

Test(webfiles, etags_change_with_the_file_and_match_lists)
{
    assay_webfile f;
    char etag[64], p[700];
    cr_assert_eq(assay_webfile_open(&f, root, "/app.js"), 0);
    close(f.fd);
    snprintf(etag, sizeof etag, "%s", f.etag);
    cr_assert(etag[0] == '"' && etag[strlen(etag) - 1] == '"', "%s", etag);
    char list[200];
    snprintf(list, sizeof list, "\"x\", W/%s", etag);
    cr_assert(assay_webfile_etag_matches(etag, etag));
    cr_assert(assay_webfile_etag_matches(list, etag));
    cr_assert(assay_webfile_etag_matches("*", etag));
    cr_assert_not(assay_webfile_etag_matches(NULL, etag));
    cr_assert_not(assay_webfile_etag_matches("\"x\"", etag));
    snprintf(list, sizeof list, "%.*s", (int)strlen(etag) - 1, etag); /* cut short */
    cr_assert_not(assay_webfile_etag_matches(list, etag));
    snprintf(p, sizeof p, "%s/web/app.js", dir);
    FILE *w = fopen(p, "w");
    cr_assert_not_null(w);
    fputs("changed\n", w);
    fclose(w);
    cr_assert_eq(assay_webfile_open(&f, root, "/app.js"), 0);
    close(f.fd);
    cr_assert_str_neq(f.etag, etag);
}
