/* The event log: contiguous sequence numbers, torn lines, several writers. */
#include "evlog.h"
#include "helpers.h"
#include "assay/error.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/assay-evlog-XXXXXX";
static char path[256];

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
}

static void teardown(void)
{
    th_run(NULL, 0, "rm -rf %s", dir);
}

TestSuite(agent_evlog, .init = setup, .fini = teardown);

static cJSON *ev(const char *type, int n)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddNumberToObject(e, "n", n);
    return e;
}

/* Check the file: every line an event, seq 0..count-1 in order. */
static int check_file(void)
{
    size_t len;
    char *buf = th_slurp(path, &len);
    cr_assert_not_null(buf);
    int64_t want = 0;
    for (char *line = buf; line < buf + len;) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        cr_assert_not_null(nl, "torn last line");
        int64_t seq;
        char type[32];
        cr_assert_eq(assay_event_head(&seq, type, sizeof type, line, (size_t)(nl - line)), 0, "%.*s",
                     (int)(nl - line), line);
        cr_assert_eq(seq, want, "seq %lld where %lld was due", (long long)seq, (long long)want);
        want++;
        line = nl + 1;
    }
    free(buf);
    return (int)want;
}

Test(agent_evlog, stamps_contiguous_seq_from_zero)
{
    assay_evlog *log;
    cr_assert_eq(assay_evlog_open(&log, path, NULL), 0);
    for (int i = 0; i < 5; i++) {
        int64_t seq = -1;
        cr_assert_eq(assay_evlog_emit(log, ev("tick", i), &seq), 0);
        cr_assert_eq(seq, i);
    }
    assay_evlog_free(log);
    cr_assert_eq(check_file(), 5);
    char *text = th_slurp(path, NULL);
    cr_assert(strncmp(text, "{\"v\":1,\"seq\":0,\"ts\":\"", 21) == 0, "%s", text);
    cr_assert(strstr(text, "\"type\":\"tick\",\"n\":0}\n") != NULL, "%s", text);
    free(text);
}

Test(agent_evlog, reopening_continues_the_sequence)
{
    assay_evlog *log;
    cr_assert_eq(assay_evlog_open(&log, path, NULL), 0);
    assay_evlog_emit(log, ev("a", 0), NULL);
    assay_evlog_emit(log, ev("a", 1), NULL);
    assay_evlog_free(log);
    cr_assert_eq(assay_evlog_open(&log, path, NULL), 0);
    int64_t seq;
    cr_assert_eq(assay_evlog_emit(log, ev("b", 2), &seq), 0);
    cr_assert_eq(seq, 2);
    assay_evlog_free(log);
    cr_assert_eq(check_file(), 3);
}

Test(agent_evlog, torn_last_line_is_cut)
{
    assay_evlog *log;
    cr_assert_eq(assay_evlog_open(&log, path, NULL), 0);
    assay_evlog_emit(log, ev("a", 0), NULL);
    assay_evlog_free(log);
    /* A crash in the middle of a write leaves half a line. */
    FILE *f = fopen(path, "a");
    fputs("{\"v\":1,\"seq\":1,\"ts\":\"2026-", f);
    fclose(f);
    cr_assert_eq(assay_evlog_open(&log, path, NULL), 0);
    int64_t seq;
    cr_assert_eq(assay_evlog_emit(log, ev("b", 1), &seq), 0);
    cr_assert_eq(seq, 1);
    assay_evlog_free(log);
    cr_assert_eq(check_file(), 2);
}

Test(agent_evlog, writers_in_two_processes_keep_one_sequence)
{
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        cr_assert_geq(kids[k], 0);
        if (kids[k] == 0) {
            assay_evlog *log;
            if (assay_evlog_open(&log, path, NULL) != 0)
                _exit(1);
            for (int i = 0; i < 200; i++)
                if (assay_evlog_emit(log, ev(k ? "b" : "a", i), NULL) != 0)
                    _exit(2);
            assay_evlog_free(log);
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int st;
        waitpid(kids[k], &st, 0);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    cr_assert_eq(check_file(), 400);
}

Test(agent_evlog, reserve_file_is_made_and_removed)
{
    char reserve[300];
    snprintf(reserve, sizeof reserve, "%s/.reserve", dir);
    assay_evlog *log;
    cr_assert_eq(assay_evlog_open(&log, path, reserve), 0);
    cr_assert_eq(access(reserve, F_OK), 0);
    assay_evlog_free(log);
    cr_assert_neq(access(reserve, F_OK), 0);
}

Test(agent_evlog, head_rejects_what_is_not_an_event)
{
    int64_t seq;
    char type[32];
    const char *bad[] = {
        "", "garbage", "[]", "{\"seq\":1,\"type\":\"x\"}", "{\"v\":2,\"seq\":1,\"type\":\"x\"}",
        "{\"v\":1,\"seq\":-1,\"type\":\"x\"}", "{\"v\":1,\"seq\":1.5,\"type\":\"x\"}",
        "{\"v\":1,\"seq\":\"1\",\"type\":\"x\"}", "{\"v\":1,\"seq\":1}",
        "{\"v\":1,\"seq\":1,\"type\":\"a-type-name-far-longer-than-the-buffer-holds\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(assay_event_head(&seq, type, sizeof type, bad[i], strlen(bad[i])), ASSAY_EPROTO,
                     "accepted %s", bad[i]);
    const char *good = "{\"v\":1,\"seq\":42,\"ts\":\"x\",\"type\":\"job-end\"}";
    cr_assert_eq(assay_event_head(&seq, type, sizeof type, good, strlen(good)), 0);
    cr_assert_eq(seq, 42);
    cr_assert_str_eq(type, "job-end");
}

Test(agent_evlog, non_objects_are_refused_and_freed)
{
    assay_evlog *log;
    cr_assert_eq(assay_evlog_open(&log, path, NULL), 0);
    cr_assert_eq(assay_evlog_emit(log, cJSON_CreateArray(), NULL), ASSAY_EINVAL);
    cr_assert_eq(assay_evlog_emit(log, NULL, NULL), ASSAY_EINVAL);
    assay_evlog_free(log);
}
