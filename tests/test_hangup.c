/*
 * Nothing of a controller stays on a host after it goes away
 * (docs/protocol.md, "One reader"): the controller is killed with SIGKILL
 * 20 times while jobs stream on the lab's four hosts (one per family), and
 * the SSH session processes on the hosts are killed 20 times; after each
 * kill, within 10 s, no `assay-agent attach` and no remote shell of the
 * dead connection may remain on any host, and in the end every job passes
 * on its first attempt with all its events.
 *
 * The steps sleep 11-14 s each and print nothing, so a job is quiet for
 * longer than the 10 s allowed: an attach that only noticed its closed
 * channel at its next write would still be there.
 */
#include "helpers.h"
#include "labctl.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOSTS ASSAY_BINARY_DIR "/test-hangup-hosts"
#define NET 16
#define NHOSTS 4
#define KILLS 20
#define STEPS 60 /* enough quiet steps for KILLS kills on a slow machine */

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    lc_down(HOSTS);
}

static char flag[300]; /* once it exists, the steps stop sleeping */

static void setup(void)
{
    lc_setup(HOSTS, NET, NHOSTS);
    /* Beside the lab folder, not through it ("lab/.." needs lab searchable,
     * and the steps run as the hosts' unprivileged run user). */
    snprintf(flag, sizeof flag, "%.*s/steps-may-end", (int)(strrchr(lc_lab, '/') - lc_lab), lc_lab);
}

static void teardown(void)
{
    lc_teardown();
}

TestSuite(hangup, .init = setup, .fini = teardown, .timeout = 1200);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One job per family, each STEPS quiet steps long until `flag` exists. */
static void submit(void)
{
    static char tests[STEPS * 160];
    size_t n = 0;
    n += (size_t)snprintf(tests + n, sizeof tests - n, "[");
    for (int i = 1; i <= STEPS; i++)
        n += (size_t)snprintf(
            tests + n, sizeof tests - n,
            "%s{\"id\": \"q%d\", \"command\": \"test -e %s || sleep $((11 + $$ %% 4))\", "
            "\"timeout\": 120}",
            i > 1 ? ", " : "", i, flag);
    snprintf(tests + n, sizeof tests - n, "]");
    lc_submission("quiet", tests);
    cr_assert_eq(
        lc_sh("%s run submit %.12s --profiles kunpeng-920-kylin-v10,phytium-ft2000plus-uos-20,"
              "loongson-3a5000-openeuler-22.03,zhaoxin-kx6000-uos-20",
              LC_ASSAY, lc_pkg),
        0, "%s", lc_out);
}

/* The live processes on the lab's hosts that are an attach or a remote
 * shell running one: their command line holds "attach --job-dir" and a
 * path under the lab's hosts. One "pid command" line each, into lc_out;
 * returns how many. (The pattern is put together from pieces so that this
 * shell's own command line does not match it.) */
static int leftovers(void)
{
    lc_sh("a=attach; for d in /proc/[0-9]*; do c=$(cat $d/cmdline 2>/dev/null | tr '\\0' ' '); "
          "case \"$c\" in *\"$a --job-dir \"*) ;; *) continue ;; esac; "
          "case \"$c\" in *%s/hosts/*) echo \"${d#/proc/} $c\" | cut -c1-160 ;; esac; done",
          HOSTS);
    int n = 0;
    for (const char *p = lc_out; (p = strchr(p, '\n')) != NULL; p++)
        n++;
    return n;
}

/* How many of the lab's hosts have an attach (or its remote shell) in
 * `list`, leftovers()'s lines. */
static int hosts_in(const char *list)
{
    static const char *names[NHOSTS] = {"kunpeng-1", "phytium-1", "loongson-1", "zhaoxin-1"};
    int n = 0;
    for (int i = 0; i < NHOSTS; i++) {
        char path[400];
        snprintf(path, sizeof path, "%s/hosts/%s/", HOSTS, names[i]);
        n += strstr(list, path) != NULL;
    }
    return n;
}

/* Wait until a controller streams from every host: an attach on each,
 * whatever the machine's load (the jobs are quiet, so an event can be
 * 14 s away; the attach is what a kill must not leave behind). The
 * lines go to `list` (size 8192), for alive_of(). */
static void wait_attached(int k, char *list, int seconds)
{
    double t0 = now();
    int n;
    while ((n = (leftovers(), hosts_in(lc_out))) < NHOSTS && now() - t0 < seconds)
        usleep(100000);
    snprintf(list, 8192, "%s", lc_out);
    if (n < NHOSTS) {
        lc_sh("tail -n 20 %s/dispatch.log", lc_lab);
        cr_assert_fail("kill %d: after %ds an attach on %d of the %d hosts: %s\n%s", k, seconds, n,
                       NHOSTS, list, lc_out);
    }
}

/* Of the "pid ..." lines in `list`, how many are still alive (not zombies:
 * the lab's pid 1 may not reap), listed into lc_out. */
static int alive_of(const char *list)
{
    char pids[8192] = "";
    size_t n = 0;
    for (const char *p = list; *p;) {
        int pid = atoi(p);
        if (pid > 0 && n < sizeof pids - 16)
            n += (size_t)snprintf(pids + n, sizeof pids - n, " %d", pid);
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    lc_sh("for p in %s; do s=$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null) || continue; "
          "[ \"$s\" = Z ] && continue; "
          "echo \"$p $(cat /proc/$p/cmdline 2>/dev/null | tr '\\0' ' ' | cut -c1-160)\"; done",
          pids);
    int alive = 0;
    for (const char *p = lc_out; (p = strchr(p, '\n')) != NULL; p++)
        alive++;
    return alive;
}

/* Let the steps end, let one controller finish the run, and check that
 * every job passed on its first attempt with all its events, and that
 * nothing is left on the hosts. */
static void finish(int dispatch_pid)
{
    cr_assert_eq(lc_sh("touch %s", flag), 0);
    int pid = dispatch_pid > 0 ? dispatch_pid : lc_dispatch_bg("dispatch-last.log", "");
    cr_assert_eq(lc_wait_run("1", 600), 0, "the run did not finish");
    kill(pid, SIGTERM);
    for (int i = 0; i < 50 && kill(pid, 0) == 0; i++)
        usleep(100000);
    cJSON *r = lc_run_json("1");
    for (int i = 0; i < NHOSTS; i++) {
        const cJSON *j = lc_job(r, i);
        cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "passed", "job %d: %s", i,
                         cJSON_PrintUnformatted(j));
        cr_assert_eq(cJSON_GetObjectItem(j, "attempt")->valueint, 1, "job %d was run again", i);
        lc_check_events(cJSON_GetObjectItem(j, "id")->valueint, 1);
    }
    cJSON_Delete(r);
    cr_assert_eq(leftovers(), 0, "left on the hosts after the run: %s", lc_out);
}

Test(hangup, a_killed_controller_leaves_nothing_on_its_hosts)
{
    char attached[8192];
    submit();
    for (int k = 1; k <= KILLS; k++) {
        int pid = lc_dispatch_bg("dispatch.log", "");
        /* The controller streams from every host: an attach on each. */
        wait_attached(k, attached, 120);
        kill(pid, SIGKILL);
        double t0 = now();
        int left;
        while ((left = leftovers()) > 0 && now() - t0 < 10)
            usleep(200000);
        cr_assert_eq(left, 0, "kill %d: %.1fs after the controller died, still on the hosts:\n%s",
                     k, now() - t0, lc_out);
    }
    finish(0);
}

Test(hangup, a_killed_ssh_session_leaves_nothing_on_its_host)
{
    submit();
    int pid = lc_dispatch_bg("dispatch.log", "");
    for (int k = 1; k <= KILLS; k++) {
        /* The controller is back on every host since the last kill. */
        char old[8192];
        wait_attached(k, old, 120);
        /* Every host's per-connection sshd processes, not the listeners:
         * what a dropped connection looks like from the host. */
        cr_assert_eq(
            lc_sh("for f in %s/hosts/*/sshd.pid; do pkill -9 -P $(cat $f); done; true", HOSTS), 0);
        double t0 = now();
        int alive;
        while ((alive = alive_of(old)) > 0 && now() - t0 < 10)
            usleep(200000);
        cr_assert_eq(alive, 0, "kill %d: %.1fs after the sessions died, still on the hosts:\n%s", k,
                     now() - t0, lc_out);
    }
    finish(pid);
}
