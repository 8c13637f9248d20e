/* Lab fixtures for the integration tests; see labctl.h. */
#include "labctl.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char lc_lab[256], lc_out[1 << 18], lc_pkg[65];
int lc_reference;

/* Dispatchers this test started: stopped by lc_teardown if the test did
 * not (an assertion ended it first), and by a watcher beside each when
 * this test's process is gone without a teardown (ctest's timeout). */
static int bg[16];
static size_t nbg;

int lc_sh(const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return th_run(lc_out, sizeof lc_out,
                  "export ASSAY_LAB=%s ASSAY_AGENTS_DIR=${ASSAY_AGENTS_DIR:-%s/build-agents}; %s",
                  lc_lab, ASSAY_SOURCE_DIR, cmd);
}

void lc_setup(const char *hosts_dir, int net, int nhosts)
{
    snprintf(lc_lab, sizeof lc_lab, "/tmp/assay-lc-XXXXXX");
    cr_assert_not_null(mkdtemp(lc_lab));
    /* Searchable (not readable) by others: a vendor's test runs as the
     * hosts' unprivileged run user and may look for a file a test put here. */
    chmod(lc_lab, 0711);
    /* The lab goes down with criterion's runner, this test process's parent
     * (ASSAY_LAB_OWNER, ci/lab.sh): normally its POST_ALL hook takes it
     * down, and when ctest kills the runner on a timeout, the watcher does. */
    int rc = th_run(lc_out, sizeof lc_out, "ASSAY_LAB_OWNER=%ld %s --dir %s --net %d up %d%s", (long)getppid(), LC_LABSH,
                    hosts_dir, net, nhosts, lc_reference ? " --reference" : "");
    if (rc != 0)
        rmdir(lc_lab); /* still empty; lc_teardown knows only a store that was made */
    cr_assert_eq(rc, 0, "lab (exit status %d): %s", rc, lc_out);
    strncat(lc_lab, "/lab", sizeof lc_lab - strlen(lc_lab) - 1);
    cr_assert_eq(lc_sh("%s init && %s host import %s/hosts.json", LC_ASSAY, LC_ASSAY, hosts_dir), 0,
                 "%s", lc_out);
}

void lc_teardown(void)
{
    for (size_t i = 0; i < nbg; i++)
        if (bg[i] > 1)
            kill(bg[i], SIGKILL); /* gone already, most of the time: the test stopped it */
    nbg = 0;
    char *slash = strrchr(lc_lab, '/');
    if (slash && strcmp(slash, "/lab") == 0) {
        *slash = '\0';
        th_run(NULL, 0, "rm -rf %s", lc_lab);
    }
}

void lc_down(const char *hosts_dir)
{
    th_run(NULL, 0, "%s --dir %s down", LC_LABSH, hosts_dir);
}

void lc_submission_install(const char *name, const char *install_sh, const char *tests_json)
{
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/sub-%s", lc_lab, name);
    /* The install script as a file of the payload: no quoting on its way. */
    cr_assert_eq(lc_sh("mkdir -p %s/payload", dir), 0, "%s", lc_out);
    snprintf(path, sizeof path, "%s/payload/install.sh", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(install_sh ? install_sh : "true\n", f);
    fclose(f);
    int rc = lc_sh(
        "set -e; mkdir -p %s/pkgs %s/payload; printf '#!/bin/sh\\necho hello from $(uname -m)\\n' "
        "> %s/payload/hello.sh;"
        "chmod 755 %s/payload/hello.sh; tar -C %s/payload -czf %s/pkgs/hello.tar.gz hello.sh install.sh;"
        "cat > %s/manifest.json <<'EOF'\n"
        "{\"manifest\": 1, \"product\": \"hello-%s\", \"version\": \"1.0\", \"vendor\": \"Example "
        "Co.\","
        " \"artifacts\": [{\"file\": \"pkgs/hello.tar.gz\", \"arch\": \"noarch\"}],"
        " \"install\": {\"command\": \"tar -xzf \\\"$ASSAY_ARTIFACT\\\" && sh ./install.sh\", \"timeout\": 60},"
        " \"tests\": %s,"
        " \"uninstall\": {\"command\": \"rm -f hello.sh\", \"timeout\": 60}}\n"
        "EOF\n"
        "tar -C %s -czf %s/%s.tar.gz manifest.json pkgs; %s package add %s/%s.tar.gz 2>/dev/null",
        dir, dir, dir, dir, dir, dir, dir, name, tests_json, dir, lc_lab, name, LC_ASSAY, lc_lab,
        name);
    cr_assert_eq(rc, 0, "submission %s: %s", name, lc_out);
    snprintf(lc_pkg, sizeof lc_pkg, "%.64s", lc_out);
}

void lc_submission(const char *name, const char *tests_json)
{
    lc_submission_install(name, NULL, tests_json);
}

cJSON *lc_run_json(const char *run)
{
    cr_assert_eq(lc_sh("%s run show %s --json", LC_ASSAY, run), 0, "%s", lc_out);
    cJSON *r = cJSON_Parse(lc_out);
    cr_assert_not_null(r, "%s", lc_out);
    return r;
}

const cJSON *lc_job(const cJSON *run, int index)
{
    const cJSON *j = cJSON_GetArrayItem(cJSON_GetObjectItem(run, "job_list"), index);
    cr_assert_not_null(j, "no job %d in the run", index);
    return j;
}

int lc_check_events(int job, int attempt)
{
    char q[512];
    snprintf(q, sizeof q,
             "select count(*) || '|' || coalesce(max(seq), -1) || '|' || sum(type <> 'output') || '|' || "
             "coalesce((select type from events where job_id=%d and attempt=%d and seq=0), '') || "
             "'|' || "
             "coalesce((select type from events where job_id=%d and attempt=%d order by seq desc "
             "limit 1), '') "
             "from events where job_id=%d and attempt=%d",
             job, attempt, job, attempt, job, attempt);
    cr_assert_eq(lc_sh("sqlite3 %s/assay.db \"%s\"", lc_lab, q), 0, "%s", lc_out);
    int count = 0, max = -1, steps = 0;
    char first[32] = "", last[32] = "";
    sscanf(lc_out, "%d|%d|%d|%31[^|]|%31s", &count, &max, &steps, first, last);
    cr_assert_eq(count, max + 1, "gaps or duplicates in the events of job %d: %s", job, lc_out);
    cr_assert_str_eq(first, "job-start", "job %d: %s", job, lc_out);
    cr_assert_str_eq(last, "job-end", "job %d: %s", job, lc_out);
    return steps;
}

int lc_dispatch_bg(const char *log, const char *args)
{
    cr_assert_eq(lc_sh("%s dispatch %s > %s/%s 2>&1 & d=$!; "
                       "( while kill -0 %ld && kill -0 $d; do sleep 0.5; done; kill -9 $d ) >/dev/null 2>&1 </dev/null & "
                       "echo $d",
                       LC_ASSAY, args, lc_lab, log, (long)getpid()),
                 0);
    int pid = atoi(lc_out);
    if (nbg < sizeof bg / sizeof *bg)
        bg[nbg++] = pid;
    return pid;
}

void lc_wait_event(int job, const char *type, const char *step, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        lc_sh("sqlite3 %s/assay.db \"select count(*) from events where job_id = %d and type = '%s' "
              "and "
              "json_extract(body, '$.step') = '%s'\"",
              lc_lab, job, type, step);
        if (atoi(lc_out) > 0)
            return;
        usleep(100000);
    }
    cr_assert_fail("job %d: no %s event for %s in %ds", job, type, step, seconds);
}

int lc_wait_run(const char *run, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        lc_sh("sqlite3 %s/assay.db \"select state from runs where id = %s\"", lc_lab, run);
        if (strcmp(lc_out, "done\n") == 0 || strcmp(lc_out, "canceled\n") == 0)
            return 0;
        usleep(100000);
    }
    return -1;
}

void lc_wait_log(const char *log, const char *text, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        if (lc_sh("grep -qF -- '%s' %s/%s", text, lc_lab, log) == 0)
            return;
        usleep(100000);
    }
    lc_sh("tail -n 30 %s/%s", lc_lab, log);
    cr_assert_fail("no '%s' in %s within %ds: %s", text, log, seconds, lc_out);
}
