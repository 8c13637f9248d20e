/*
 * assay-agent: the only assay code on a target host. The controller runs it
 * over SSH. It links only libc and cJSON and is built static, so it needs
 * nothing installed on the target.
 */
#include "assay/error.h"
#include "assay/version.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

static int usage(FILE *f)
{
    fputs("usage: assay-agent <command> [options]\n"
          "\n"
          "commands:\n"
          "  version [--json]   version, target triple, commit, build id, running machine\n"
          "  help               this text\n",
          f);
    return f == stderr ? 2 : 0;
}

static int fail(const char *what)
{
    fprintf(stderr, "assay-agent: %s: %s\n", what, assay_error_last()->message);
    return 1;
}

static int cmd_version(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return assay_error_set(ASSAY_EINVAL, "unknown option '%s'", argv[i]), fail("version");
    }

    char build_id[129] = "none";
    if (assay_build_id(build_id, sizeof build_id) < 0)
        snprintf(build_id, sizeof build_id, "none");
    struct utsname u;
    const char *machine = uname(&u) == 0 ? u.machine : "unknown";

    if (!json) {
        printf("assay-agent %s (%s) commit %s build-id %s running on %s\n", assay_version(),
               assay_build_triple(), assay_build_commit(), build_id, machine);
        return 0;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "name", "assay-agent") ||
        !cJSON_AddStringToObject(o, "version", assay_version()) ||
        !cJSON_AddStringToObject(o, "triple", assay_build_triple()) ||
        !cJSON_AddStringToObject(o, "commit", assay_build_commit()) ||
        !cJSON_AddStringToObject(o, "build_id", build_id) ||
        !cJSON_AddStringToObject(o, "machine", machine)) {
        cJSON_Delete(o);
        return assay_error_set(ASSAY_ENOMEM, "out of memory"), fail("version");
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return assay_error_set(ASSAY_ENOMEM, "out of memory"), fail("version");
    puts(s);
    cJSON_free(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return usage(stdout);
    fprintf(stderr, "assay-agent: unknown command '%s'\n", cmd);
    return usage(stderr);
}
