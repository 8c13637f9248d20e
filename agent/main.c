/*
 * assay-agent: the only assay code on a target host. The controller runs it
 * over SSH. It links only libc and cJSON and is built static, so it needs
 * nothing installed on the target. docs/protocol.md describes its commands,
 * the job spec and the events.
 */
#include "facts.h"
#include "inspect.h"
#include "job.h"
#include "assay/error.h"
#include "assay/proto.h"
#include "assay/version.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static int usage(FILE *f)
{
    fputs("usage: assay-agent <command> [options]\n"
          "\n"
          "commands:\n"
          "  version [--json]                 version, target triple, commit, build id, machine\n"
          "  facts                            measured facts about this host (JSON)\n"
          "  inspect PATH...                  check ELF files against this host (JSON)\n"
          "  start --job-dir DIR              read a job spec on stdin, start it detached,\n"
          "                                   print its id\n"
          "  attach --job-dir DIR [--from N]  stream the job's events from seq N until it ends\n"
          "                                   (exit 3: the reader went away; 4: a newer attach\n"
          "                                   of the job replaced this one)\n"
          "  status --job-dir DIR             the job's state (JSON)\n"
          "  logs --job-dir DIR               the job's logs, each framed by \"<size> logs/<name>\"\n"
          "  cancel --job-dir DIR [--now]     stop the job; uninstall still runs unless --now\n"
          "                                   (a second cancel is --now)\n"
          "  receive --size N --sha256 HEX --to PATH\n"
          "                                   N bytes of stdin (up to 2 MiB) put at PATH if their\n"
          "                                   SHA-256 is HEX, whole or not at all\n"
          "  help                             this text\n",
          f);
    return f == stderr ? 2 : 0;
}

static int fail(const char *what)
{
    fprintf(stderr, "assay-agent: %s: %s\n", what, assay_error_last()->message);
    return 1;
}

/* "assay-agent: start: unknown option '--x'" and exit status 2. */
static int bad_usage(const char *what, const char *problem, const char *arg)
{
    if (arg)
        fprintf(stderr, "assay-agent: %s: %s '%s'\n", what, problem, arg);
    else
        fprintf(stderr, "assay-agent: %s: %s\n", what, problem);
    return 2;
}

static int print_json(cJSON *o, const char *what)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s)
        return assay_error_set(ASSAY_ENOMEM, "out of memory"), fail(what);
    puts(s);
    cJSON_free(s);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_version(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return bad_usage("version", "unknown option", argv[i]);
    }
    char build_id[129] = "none";
    if (assay_build_id(build_id, sizeof build_id) < 0)
        snprintf(build_id, sizeof build_id, "none");
    struct utsname u;
    const char *machine = uname(&u) == 0 ? u.machine : "unknown";
    if (!json) {
        printf("assay-agent %s (%s) commit %s build-id %s protocol %d running on %s\n",
               assay_version(), assay_build_triple(), assay_build_commit(), build_id,
               ASSAY_PROTO_VERSION, machine);
        return 0;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "name", "assay-agent") ||
        !cJSON_AddStringToObject(o, "version", assay_version()) ||
        !cJSON_AddStringToObject(o, "triple", assay_build_triple()) ||
        !cJSON_AddStringToObject(o, "commit", assay_build_commit()) ||
        !cJSON_AddStringToObject(o, "build_id", build_id) ||
        !cJSON_AddNumberToObject(o, "protocol", ASSAY_PROTO_VERSION) ||
        !cJSON_AddStringToObject(o, "machine", machine)) {
        cJSON_Delete(o);
        return assay_error_set(ASSAY_ENOMEM, "out of memory"), fail("version");
    }
    return print_json(o, "version");
}

static int cmd_facts(int argc, char **argv)
{
    if (argc > 1)
        return bad_usage("facts", "unexpected argument", argv[1]);
    cJSON *f;
    if (assay_facts_collect(&f) < 0)
        return fail("facts");
    return print_json(f, "facts");
}

static int cmd_inspect(int argc, char **argv)
{
    if (argc < 2)
        return bad_usage("inspect", "give one or more paths", NULL);
    char cwd[4096];
    cJSON *facts, *r;
    if (!getcwd(cwd, sizeof cwd))
        return assay_error_set_errno(ASSAY_EIO, errno, "getcwd"), fail("inspect");
    if (assay_facts_collect(&facts) < 0)
        return fail("inspect");
    int rc = assay_inspect_files(&r, argv + 1, (size_t)argc - 1, cwd, facts);
    cJSON_Delete(facts);
    if (rc < 0)
        return fail("inspect");
    int errors = cJSON_GetObjectItem(r, "errors")->valueint;
    rc = print_json(r, "inspect");
    return rc ? rc : errors ? 1 : 0;
}

/* --job-dir DIR [--from N] [--now]: the options of the job commands. */
static int job_opts(int argc, char **argv, const char *cmd, const char **dir, long long *from, int *now)
{
    *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--job-dir") == 0 && i + 1 < argc) {
            *dir = argv[++i];
        } else if (now && strcmp(argv[i], "--now") == 0) {
            *now = 1;
        } else if (from && strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            *from = strtoll(argv[++i], &end, 10);
            if (errno || *end || *from < 0 || argv[i][0] == '\0')
                return bad_usage(cmd, "--from: not a sequence number:", argv[i]);
        } else {
            return bad_usage(cmd, "unknown or incomplete option", argv[i]);
        }
    }
    if (!*dir)
        return bad_usage(cmd, "--job-dir DIR is required", NULL);
    return 0;
}

static int cmd_start(int argc, char **argv)
{
    const char *dir;
    int rc = job_opts(argc, argv, "start", &dir, NULL, NULL);
    if (rc)
        return rc;
    /* The spec, capped: one byte more than the cap tells "too big". */
    size_t cap = ASSAY_SPEC_MAX + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return assay_error_set(ASSAY_ENOMEM, "out of memory"), fail("start");
    for (;;) {
        ssize_t n = read(0, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(buf);
            return assay_error_set_errno(ASSAY_EIO, errno, "read job spec"), fail("start");
        }
        if (n == 0 || (len += (size_t)n) == cap)
            break;
    }
    char id[ASSAY_ID_MAX + 1];
    rc = assay_job_start(dir, buf, len, id, sizeof id);
    free(buf);
    if (rc < 0)
        return fail("start");
    puts(id);
    return 0;
}

static int cmd_attach(int argc, char **argv)
{
    const char *dir;
    long long from = 0;
    int rc = job_opts(argc, argv, "attach", &dir, &from, NULL);
    if (rc)
        return rc;
    /* A closed SSH channel is a write error (EPIPE), not a signal. */
    signal(SIGPIPE, SIG_IGN);
    rc = assay_job_attach(dir, from, 1);
    /* Stopped on purpose, the job still running: quietly (stderr is the
     * same closed channel), with a status of its own. */
    if (rc == ASSAY_ECLOSED)
        return ASSAY_ATTACH_EXIT_CLOSED;
    if (rc == ASSAY_ECANCELED)
        return ASSAY_ATTACH_EXIT_REPLACED;
    if (rc < 0)
        return fail("attach");
    return 0;
}

static int cmd_status(int argc, char **argv)
{
    const char *dir;
    int rc = job_opts(argc, argv, "status", &dir, NULL, NULL);
    if (rc)
        return rc;
    cJSON *s;
    if (assay_job_status(dir, &s) < 0)
        return fail("status");
    return print_json(s, "status");
}

static int cmd_logs(int argc, char **argv)
{
    const char *dir;
    int rc = job_opts(argc, argv, "logs", &dir, NULL, NULL);
    if (rc)
        return rc;
    signal(SIGPIPE, SIG_IGN); /* a closed channel is a write error */
    if (assay_job_logs(dir, 1) < 0)
        return fail("logs");
    return 0;
}

/* receive --size N --sha256 HEX --to PATH: a file on stdin, checked. */
static int cmd_receive(int argc, char **argv)
{
    const char *to = NULL, *sha = NULL, *size = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (strcmp(argv[i], "--sha256") == 0 && i + 1 < argc)
            sha = argv[++i];
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            size = argv[++i];
        else
            return bad_usage("receive", "unknown or incomplete option", argv[i]);
    }
    if (!to || !sha || !size)
        return bad_usage("receive", "--size N --sha256 HEX --to PATH are required", NULL);
    char *end;
    errno = 0;
    unsigned long long n = strtoull(size, &end, 10);
    if (errno || *end || size[0] < '0' || size[0] > '9')
        return bad_usage("receive", "--size: not a number of bytes:", size);
    if (assay_job_receive(to, n, sha) < 0)
        return fail("receive");
    return 0;
}

static int cmd_cancel(int argc, char **argv)
{
    const char *dir;
    int now = 0;
    int rc = job_opts(argc, argv, "cancel", &dir, NULL, &now);
    if (rc)
        return rc;
    if (assay_job_cancel(dir, now) < 0)
        return fail("cancel");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"version", cmd_version}, {"--version", cmd_version}, {"facts", cmd_facts},
        {"inspect", cmd_inspect}, {"start", cmd_start},       {"attach", cmd_attach},
        {"status", cmd_status},   {"cancel", cmd_cancel},      {"logs", cmd_logs},
        {"receive", cmd_receive},
    };
    if (argc < 2)
        return usage(stderr);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].fn(argc - 1, argv + 1);
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return usage(stdout);
    fprintf(stderr, "assay-agent: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
