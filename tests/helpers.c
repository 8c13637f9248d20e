#include "helpers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int th_run(char *out, size_t outlen, const char *fmt, ...)
{
    char *cmd = NULL, *full = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if (asprintf(&full, "(%s) 2>&1", cmd) < 0) {
        free(cmd);
        return -1;
    }
    free(cmd);
    FILE *p = popen(full, "r");
    free(full);
    if (!p)
        return -1;
    size_t used = 0;
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0) {
        if (out && outlen > 1 && used < outlen - 1) {
            size_t take = got < outlen - 1 - used ? got : outlen - 1 - used;
            memcpy(out + used, buf, take);
            used += take;
        }
    }
    if (out && outlen)
        out[used] = '\0';
    int st = pclose(p);
    if (st == -1)
        return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

char *th_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (used + 1 >= cap) {
            if (cap >= (16u << 20)) {
                free(buf);
                buf = NULL;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + used, 1, cap - 1 - used, f);
        if (got == 0)
            break;
        used += got;
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[used] = '\0';
    if (len)
        *len = used;
    return buf;
}

const char *th_agent_path(const char *triple, char *buf, size_t buflen)
{
    struct stat st;
    snprintf(buf, buflen, "%s/build-agents/%s/assay-agent", ASSAY_SOURCE_DIR, triple);
    if (stat(buf, &st) != 0 || !S_ISREG(st.st_mode))
        return NULL;
    return buf;
}
