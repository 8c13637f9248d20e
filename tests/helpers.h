/* Test helpers: run shell commands, read files, locate the lab and agents. */
#ifndef ASSAY_TEST_HELPERS_H
#define ASSAY_TEST_HELPERS_H

#include <stddef.h>

/*
 * Run `sh -c <formatted command>` with stderr merged into stdout; store up
 * to outlen-1 bytes of output in `out` (may be NULL). Returns the exit
 * status (0-255), or 128+signal, or -1 if it could not run.
 */
int th_run(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Read a whole file (capped at 16 MiB) into a NUL-terminated malloc'd
 * buffer; NULL on failure. */
char *th_slurp(const char *path, size_t *len);

/* Path of the static agent for `triple` under build-agents/, or NULL with a
 * criterion failure message telling how to build it. */
const char *th_agent_path(const char *triple, char *buf, size_t buflen);

#endif
