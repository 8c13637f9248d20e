/* A live `assay serve` for a test: see servectl.h. */
#include "servectl.h"

#include "assay/error.h"
#include "helpers.h"
#include "lab.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

char sv_dir[512], sv_lab[600], sv_url[64], sv_out[1 << 16], sv_body[1 << 16];
pid_t sv_pid = -1;

void sv_fresh(const char *name)
{
    snprintf(sv_dir, sizeof sv_dir, "%s/serve-%s", ASSAY_BINARY_DIR, name);
    snprintf(sv_lab, sizeof sv_lab, "%s/lab", sv_dir);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "rm -rf %s && mkdir -p %s", sv_dir, sv_dir), 0, "%s",
                 sv_out);
    cr_assert_eq(assay_lab_init(sv_lab, ASSAY_KEY_ED25519, "Test Centre 测试中心"), 0, "%s",
                 assay_error_last()->message);
}

void sv_start_on(const char *listen, const char *env, const char *extra)
{
    int p[2];
    pid_t parent = getpid();
    cr_assert_eq(pipe(p), 0);
    sv_pid = fork();
    cr_assert_neq(sv_pid, -1);
    if (sv_pid == 0) {
        /* Die with the test, even when ctest kills the test. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        char log[700], cmd[2048];
        snprintf(log, sizeof log, "%s/serve.log", sv_dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(p[1], 1);
        dup2(fd, 2);
        close(p[0]);
        snprintf(cmd, sizeof cmd, "exec env %s %s --lab %s serve --listen '%s' %s", env,
                 SV_ASSAY, sv_lab, listen, extra);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char line[256] = "";
    cr_assert(fgets(line, sizeof line, f), "the server said nothing: %s",
              (th_run(sv_out, sizeof sv_out, "cat %s/serve.log", sv_dir), sv_out));
    fclose(f);
    char host[64] = "";
    unsigned port = 0;
    cr_assert_eq(sscanf(line, "assay serve: listening on http://%63[^\n]", host), 1, "%s", line);
    char *colon = strrchr(host, ':');
    cr_assert_not_null(colon, "%s", line);
    *colon = 0;
    cr_assert_eq(sscanf(colon + 1, "%u", &port), 1, "%s", line);
    cr_assert(port > 0 && port < 65536);
    snprintf(sv_url, sizeof sv_url, "http://%s:%u", host, port);
}

void sv_start(const char *env, const char *extra)
{
    sv_start_on("127.0.0.1:0", env, extra);
    cr_assert(!strncmp(sv_url, "http://127.0.0.1:", 17), "%s", sv_url);
}

void sv_stop(void)
{
    int st;
    cr_assert_eq(kill(sv_pid, SIGTERM), 0);
    cr_assert_eq(waitpid(sv_pid, &st, 0), sv_pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "assay serve ended with status %d", st);
    sv_pid = -1;
    cr_assert_eq(
        th_run(sv_out, sizeof sv_out, "grep -E 'Sanitizer|runtime error' %s/serve.log", sv_dir), 1,
        "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "grep -c assay_ %s/serve.log", sv_dir), 1,
                 "a token in the log: %s", sv_out);
}

void sv_kill(void)
{
    cr_assert_eq(kill(sv_pid, SIGKILL), 0);
    cr_assert_eq(waitpid(sv_pid, NULL, 0), sv_pid);
    sv_pid = -1;
}

void sv_account(char *tok, const char *name, const char *role, const char *org)
{
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s user add %s --role %s %s%s",
                        sv_lab, name, role, org ? "--org " : "", org ? org : ""),
                 0, "%s", sv_out);
    cr_assert_eq(th_run(tok, 72, SV_ASSAY " --lab %s token create %s", sv_lab, name), 0, "%s", tok);
    tok[strcspn(tok, "\n")] = 0;
    cr_assert_eq(strlen(tok), 70, "%s", tok);
}

int sv_http(const char *tok, const char *path, const char *fmt, ...)
{
    char args[4096], auth[128] = "", rp[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    if (tok)
        snprintf(auth, sizeof auth, "-H 'Authorization: Bearer %s'", tok);
    sv_body[0] = 0;
    snprintf(rp, sizeof rp, "%s/resp-%d", sv_dir, (int)getpid());
    th_run(sv_out, sizeof sv_out, "curl -gsS --path-as-is -o %s -w '%%{http_code}' %s %s '%s%s'", rp,
           auth, args, sv_url, path);
    char *b = th_slurp(rp, NULL);
    if (b) {
        snprintf(sv_body, sizeof sv_body, "%s", b);
        free(b);
        unlink(rp);
    }
    return (int)strtol(sv_out, NULL, 10);
}

const char *sv_member(char *v, size_t len, const char *name)
{
    cJSON *o = cJSON_Parse(sv_body);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsString(x))
        snprintf(v, len, "%s", x->valuestring);
    else if (cJSON_IsNumber(x))
        snprintf(v, len, "%.0f", x->valuedouble);
    else
        v[0] = 0;
    cJSON_Delete(o);
    return v;
}

int sv_raw_from(const char *from, const char *head)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET}, me = {.sin_family = AF_INET};
    unsigned port = 0;
    cr_assert_geq(fd, 0);
    if (from) {
        cr_assert_eq(inet_pton(AF_INET, from, &me.sin_addr), 1);
        cr_assert_eq(bind(fd, (struct sockaddr *)&me, sizeof me), 0, "bind %s", from);
    }
    sscanf(sv_url, "http://127.0.0.1:%u", &port);
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    size_t n = strlen(head);
    cr_assert_eq(write(fd, head, n), (ssize_t)n);
    return fd;
}

int sv_raw(const char *head)
{
    return sv_raw_from(NULL, head);
}

/* Entries in the blob store's staging whose names start with "upload-"
 * (uploads = 1: the server's uploads) or do not (0: everything else). */
static int staged(int uploads)
{
    char p[700];
    snprintf(p, sizeof p, "%s/blobs/tmp", sv_lab);
    DIR *d = opendir(p);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            n += (strncmp(e->d_name, "upload-", 7) == 0) == uploads;
    if (d)
        closedir(d);
    return n;
}

int sv_staged(void)
{
    return staged(1);
}

int sv_blob_staged(void)
{
    return staged(0);
}
