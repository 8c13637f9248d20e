/*
 * The dispatcher's process rules that need no host: one dispatcher per lab
 * (a second exits 2 naming the first; --wait waits for it).
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ASSAY ASSAY_BINARY_DIR "/assay"

static char dir[] = "/tmp/assay-dispatch-XXXXXX";
static char out[65536];

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(th_run(out, sizeof out, "%s --lab %s/lab init", ASSAY, dir), 0, "%s", out);
}

static void teardown(void)
{
    th_run(NULL, 0, "pkill -f -- '--lab %s/lab' ; rm -rf %s", dir, dir);
}

TestSuite(dispatch, .init = setup, .fini = teardown, .timeout = 120);

Test(dispatch, a_second_dispatcher_is_refused)
{
    /* The first serves the lab until stopped (no --once). */
    cr_assert_eq(th_run(out, sizeof out, "%s --lab %s/lab dispatch > %s/first.log 2>&1 & echo $!", ASSAY, dir, dir),
                 0);
    int first = atoi(out);
    cr_assert_gt(first, 0);
    /* Progress, not time: the lock file holds the first one's pid once it has the lock. */
    char want[32];
    snprintf(want, sizeof want, "%d", first);
    for (int i = 0; i < 600; i++) {
        if (th_run(out, sizeof out, "cat %s/lab/dispatch.lock", dir) == 0 && strncmp(out, want, strlen(want)) == 0)
            break;
        usleep(50000);
    }
    cr_assert(strncmp(out, want, strlen(want)) == 0, "the first dispatcher never took the lock: %s", out);
    int rc = th_run(out, sizeof out, "%s --lab %s/lab dispatch --once", ASSAY, dir);
    cr_assert_eq(rc, 2, "a second dispatcher ran (%d): %s", rc, out);
    cr_assert(strstr(out, "assay: dispatch: another dispatcher (pid ") && strstr(out, want), "%s", out);
    /* --wait: it starts once the first has gone. */
    cr_assert_eq(th_run(out, sizeof out, "%s --lab %s/lab dispatch --once --wait > %s/second.log 2>&1 & echo $!",
                        ASSAY, dir, dir),
                 0);
    int second = atoi(out);
    for (int i = 0; i < 600 && th_run(out, sizeof out, "grep -c waiting %s/second.log", dir) != 0; i++)
        usleep(50000);
    cr_assert_eq(kill(first, SIGKILL), 0);
    for (int i = 0; i < 1200 && kill(second, 0) == 0; i++)
        usleep(50000);
    cr_assert_neq(kill(second, 0), 0, "the waiting dispatcher did not run once the first was killed");
    th_run(out, sizeof out, "cat %s/second.log", dir);
    cr_assert(strstr(out, "waiting"), "%s", out);
}
