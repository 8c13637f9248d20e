/* One host, synchronously, with a deadline; see hostcheck.h. */
#include "hostcheck.h"
#include "profile.h"
#include "ssh.h"
#include "assay/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct buf {
    char *p;
    size_t len, cap;
};

static int buf_sink(void *arg, const char *d, size_t n)
{
    struct buf *b = arg;
    if (b->len + n + 1 > b->cap) {
        if (b->len + n + 1 > (8u << 20))
            return assay_error_set(ASSAY_ETOOBIG, "output over 8 MiB");
        size_t nc = (b->len + n + 1) * 2;
        char *np = realloc(b->p, nc);
        if (!np)
            return assay_error_set(ASSAY_ENOMEM, "out of memory");
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait on the connection's socket until `deadline`. */
static int wait_conn(assay_conn *c, double deadline)
{
    struct pollfd p;
    double left = deadline - now_s();
    if (left <= 0)
        return assay_error_set(ASSAY_ETIMEOUT, "no answer in time");
    assay_conn_pollfd(c, &p);
    poll(&p, 1, (int)(left * 1000) + 1);
    return 0;
}

static int run(assay_conn *c, const char *cmd, int infd, struct buf *out, int *status, char *err, size_t errlen,
               double deadline)
{
    assay_exec *x;
    assay_exec_opts o = {.command = cmd, .infd = infd, .sink = buf_sink, .arg = out};
    int rc = assay_exec_new(&x, c, &o);
    if (rc < 0)
        return rc;
    while ((rc = assay_exec_run(x)) == ASSAY_SSH_AGAIN)
        if ((rc = wait_conn(c, deadline)) < 0)
            break;
    if (rc == 0) {
        *status = assay_exec_status(x, NULL);
        snprintf(err, errlen, "%s", assay_exec_stderr(x));
    }
    assay_exec_free(x);
    return rc;
}

int assay_host_check(assay_lab *lab, const char *name, double timeout_s, cJSON **facts_out, cJSON **diffs)
{
    assay_host_rec h;
    assay_profile *prof = NULL;
    assay_conn *c = NULL;
    struct buf out = {0};
    char agent[4096], sha[ASSAY_SHA256_HEX], cmd[20000], qa[9000], err[4096];
    double deadline = now_s() + timeout_s;
    int rc, status;

    if ((rc = assay_store_host_get(lab->store, name, &h)) < 0 ||
        (rc = assay_profile_load(&prof, lab->profiles, h.profile)) < 0 ||
        (rc = assay_lab_agent(agent, sizeof agent, sha, prof->arch)) < 0)
        goto out;
    assay_conn_opts co = {.address = h.address, .port = h.port, .user = h.user, .identity = h.identity,
                          .hostkey = h.hostkey, .tofu = h.tofu};
    if ((rc = assay_conn_new(&c, &co)) < 0)
        goto out;
    while ((rc = assay_conn_open(c)) == ASSAY_SSH_AGAIN)
        if ((rc = wait_conn(c, deadline)) < 0)
            break;
    if (rc < 0) {
        assay_error_wrap("host %s", name);
        goto out;
    }
    if (!h.hostkey[0]) {
        assay_store_host_set_key(lab->store, name, assay_conn_hostkey(c));
        fprintf(stderr, "assay: host %s: trusted on first use: host key %s is now pinned\n", name,
                assay_conn_hostkey(c));
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/agents/%s/assay-agent", h.agent_root, sha);
    assay_shell_quote(qa, sizeof qa, path);
    snprintf(cmd, sizeof cmd, "%s%s%s version --json 2>/dev/null || true", h.launcher, h.launcher[0] ? " " : "", qa);
    if ((rc = run(c, cmd, -1, &out, &status, err, sizeof err, deadline)) < 0)
        goto out;
    if (!out.p || !strstr(out.p, "\"protocol\":1")) {
        char dir[4200], qd[9000];
        snprintf(dir, sizeof dir, "%s/agents/%s", h.agent_root, sha);
        assay_shell_quote(qd, sizeof qd, dir);
        snprintf(cmd, sizeof cmd,
                 "set -e; mkdir -p %s; t=%s.part.$$; cat > \"$t\"; h=$(sha256sum \"$t\"); h=${h%%%% *}; "
                 "[ \"$h\" = %s ] || { rm -f \"$t\"; echo \"digest mismatch: $h\" >&2; exit 3; }; "
                 "chmod 755 \"$t\"; mv -f \"$t\" %s",
                 qd, qa, sha, qa);
        int fd = open(agent, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = assay_error_set_errno(ASSAY_EIO, errno, "%s", agent);
            goto out;
        }
        rc = run(c, cmd, fd, &out, &status, err, sizeof err, deadline);
        close(fd);
        if (rc < 0)
            goto out;
        if (status != 0) {
            rc = assay_error_set(ASSAY_EIO, "host %s: installing the agent failed (%d): %s", name, status, err);
            goto out;
        }
    }
    out.len = 0;
    snprintf(cmd, sizeof cmd, "%s%s%s facts", h.launcher, h.launcher[0] ? " " : "", qa);
    if ((rc = run(c, cmd, -1, &out, &status, err, sizeof err, deadline)) < 0)
        goto out;
    if (status != 0) {
        rc = assay_error_set(ASSAY_EPROTO, "host %s: assay-agent facts failed (%d): %s", name, status, err);
        goto out;
    }
    cJSON *facts = cJSON_ParseWithLength(out.p, out.len);
    if (!cJSON_IsObject(facts)) {
        cJSON_Delete(facts);
        rc = assay_error_set(ASSAY_EPROTO, "host %s: the agent's facts are not JSON", name);
        goto out;
    }
    if ((rc = assay_profile_check_facts(diffs, prof, facts)) < 0) {
        cJSON_Delete(facts);
        goto out;
    }
    *facts_out = facts;
out:
    free(out.p);
    assay_conn_free(c);
    assay_profile_free(prof);
    return rc;
}
