/*
 * assay: the controller. Keeps the lab (store, submissions, hosts), queues
 * certification runs, drives hosts over SSH and signs adaptation reports.
 */
#include "assay/error.h"
#include "assay/version.h"
#include "buildinfo.h"

#include <stdio.h>
#include <string.h>

static int usage(FILE *f)
{
    fputs("usage: assay <command> [options]\n"
          "\n"
          "commands:\n"
          "  version      assay's version and the libraries it runs with\n"
          "  help         this text\n",
          f);
    return f == stderr ? 2 : 0;
}

static int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "assay: version: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    printf("assay %s (%s) commit %s\n", assay_version(), assay_build_triple(),
           assay_build_commit());
    assay_buildinfo_print(stdout);
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
    fprintf(stderr, "assay: unknown command '%s'\n", cmd);
    return usage(stderr);
}
