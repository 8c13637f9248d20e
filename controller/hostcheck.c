/* One host, synchronously, with a deadline; see hostcheck.h. */
#include "hostcheck.h"
#include "profile.h"
#include "remote.h"
#include "ssh.h"
#include "assay/error.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
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

const char *assay_hc_phase_name(assay_hc_phase p)
{
    static const char *const names[ASSAY_HC_NPHASES] = {"resolve", "connect", "handshake", "host key",
                                                          "auth",    "exec",    "agent"};
    return (unsigned)p < ASSAY_HC_NPHASES ? names[p] : "?";
}

/* One check under way: its trace, the clock of the phase it is in. */
struct check {
    assay_hc_trace *t;
    double since;    /* when the current phase began */
    double deadline; /* of the whole check */
    double timeout_s;
};

/* Move on to phase p (or stay in it): the time since the last move goes to
 * the phase it was spent in. Phases skipped keep seconds < 0 (not run). */
static void enter(struct check *k, assay_hc_phase p)
{
    double now = now_s();
    if (k->t->reached > 0)
        k->t->seconds[k->t->reached - 1] += now - k->since;
    if ((int)p + 1 > k->t->reached) {
        k->t->seconds[p] = 0;
        k->t->reached = (int)p + 1;
    }
    k->since = now;
}

/* The check ends in the current phase; failed: it failed there. Returns rc. */
static int finish(struct check *k, int rc, const char *host)
{
    enter(k, k->t->reached > 0 ? (assay_hc_phase)(k->t->reached - 1) : ASSAY_HC_RESOLVE);
    if (rc < 0) {
        k->t->failed = 1;
        assay_error_wrap("host %s: %s", host, assay_hc_phase_name((assay_hc_phase)(k->t->reached - 1)));
    }
    return rc;
}

/* Wait on the connection's socket until the check's deadline. */
static int wait_conn(assay_conn *c, const struct check *k)
{
    struct pollfd p;
    double left = k->deadline - now_s();
    if (left <= 0)
        return assay_error_set(ASSAY_ETIMEOUT, "no answer within the check's %g s (--timeout)", k->timeout_s);
    assay_conn_pollfd(c, &p);
    poll(&p, 1, (int)(left * 1000) + 1);
    return 0;
}

/*
 * Which phase a connection being opened is in. The transport keeps its
 * state to itself, so this reads what it shows: until the TCP connect
 * completes it waits only to write; the handshake then waits to read the
 * host's banner and key exchange; once the host's key is known (the
 * handshake is over) the key has been checked, in the same call, and
 * authentication runs.
 */
static assay_hc_phase opening_phase(assay_conn *c, assay_hc_phase was)
{
    if (assay_conn_hostkey(c)[0])
        return ASSAY_HC_AUTH;
    struct pollfd p;
    assay_conn_pollfd(c, &p);
    if (was <= ASSAY_HC_CONNECT && p.events == POLLOUT)
        return ASSAY_HC_CONNECT;
    return ASSAY_HC_HANDSHAKE;
}

static int open_conn(assay_conn *c, struct check *k)
{
    assay_hc_phase ph = ASSAY_HC_CONNECT;
    int rc;
    enter(k, ph);
    while ((rc = assay_conn_open(c)) == ASSAY_SSH_AGAIN) {
        assay_hc_phase now = opening_phase(c, ph);
        if (now == ASSAY_HC_AUTH && ph < ASSAY_HC_HOSTKEY)
            enter(k, ASSAY_HC_HOSTKEY); /* checked within the call that ended the handshake */
        enter(k, ph = now);
        if ((rc = wait_conn(c, k)) < 0)
            return rc;
    }
    /* The kind of a failure names its phase where the transport says it. */
    if (rc == ASSAY_EHOSTKEY || rc == 0)
        enter(k, ASSAY_HC_HOSTKEY);
    if (rc == ASSAY_EAUTH || rc == 0)
        enter(k, ASSAY_HC_AUTH);
    return rc;
}

/* Run `cmd`; a failed exit status is returned in *status, with its stderr
 * kept in the trace. */
static int run(assay_conn *c, const struct check *k, const char *cmd, int infd, struct buf *out, int *status)
{
    assay_exec *x;
    assay_exec_opts o = {.command = cmd, .infd = infd, .sink = buf_sink, .arg = out};
    k->t->status = -1;
    k->t->remote_stderr[0] = '\0';
    int rc = assay_exec_new(&x, c, &o);
    if (rc < 0)
        return rc;
    while ((rc = assay_exec_run(x)) == ASSAY_SSH_AGAIN)
        if ((rc = wait_conn(c, k)) < 0)
            break;
    if (rc == 0) {
        *status = assay_exec_status(x, NULL);
        k->t->status = *status;
        snprintf(k->t->remote_stderr, sizeof k->t->remote_stderr, "%s", assay_exec_stderr(x));
    }
    assay_exec_free(x);
    return rc;
}

/* The host's address as a number, resolved once here so that the time a
 * resolver takes is the resolve phase's. */
static int resolve(char *out, size_t outlen, const char *address)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int r = getaddrinfo(address, NULL, &hints, &res);
    if (r != 0)
        return assay_error_set(ASSAY_EIO, "%s: cannot resolve: %s", address, gai_strerror(r));
    r = getnameinfo(res->ai_addr, res->ai_addrlen, out, (socklen_t)outlen, NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(res);
    if (r != 0)
        return assay_error_set(ASSAY_EIO, "%s: %s", address, gai_strerror(r));
    return 0;
}

int assay_host_check(assay_hc_trace *trace, assay_lab *lab, const char *name, double timeout_s, cJSON **facts_out,
                     cJSON **diffs)
{
    assay_hc_trace scratch;
    assay_host_rec h;
    assay_profile *prof = NULL;
    assay_conn *c = NULL;
    struct buf out = {0};
    char agent[4096], sha[ASSAY_SHA256_HEX], cmd[20000], addr[NI_MAXHOST];
    int rc, status;

    if (!trace)
        trace = &scratch;
    memset(trace, 0, sizeof *trace);
    for (int i = 0; i < ASSAY_HC_NPHASES; i++)
        trace->seconds[i] = -1;
    trace->status = -1;
    struct check k = {.t = trace, .timeout_s = timeout_s};

    if ((rc = assay_store_host_get(lab->store, name, &h)) < 0 ||
        (rc = assay_profile_load(&prof, lab->profiles, h.profile)) < 0)
        goto out;
    k.deadline = now_s() + timeout_s;
    enter(&k, ASSAY_HC_RESOLVE);
    if ((rc = resolve(addr, sizeof addr, h.address)) < 0)
        goto failed;
    assay_conn_opts co = {.address = addr, .port = h.port, .user = h.user, .identity = h.identity,
                          .hostkey = h.hostkey, .tofu = h.tofu};
    if ((rc = assay_conn_new(&c, &co)) < 0 || (rc = open_conn(c, &k)) < 0)
        goto failed;
    if (!h.hostkey[0]) {
        assay_store_host_set_key(lab->store, name, assay_conn_hostkey(c));
        fprintf(stderr, "assay: host %s: trusted on first use: host key %s is now pinned\n", name,
                assay_conn_hostkey(c));
    }

    /* A command that does nothing costs a session and the login shell:
     * what a host's profile (its rc files, profile.d hooks) adds to every
     * command the dispatcher sends. */
    enter(&k, ASSAY_HC_EXEC);
    if ((rc = run(c, &k, ":", -1, &out, &status)) < 0)
        goto failed;
    if (status != 0) {
        rc = assay_error_set(ASSAY_EIO, "the login shell failed (%d) running an empty command", status);
        goto failed;
    }

    enter(&k, ASSAY_HC_AGENT);
    if ((rc = assay_lab_agent(agent, sizeof agent, sha, prof->arch)) < 0)
        goto failed;
    assay_remote_host rh = {h.agent_root, h.launcher, sha, h.name};
    if ((rc = assay_remote_version(cmd, sizeof cmd, &rh)) < 0)
        goto failed;
    out.len = 0;
    if ((rc = run(c, &k, cmd, -1, &out, &status)) < 0)
        goto failed;
    if (status != 0 || assay_remote_version_answer(out.p ? out.p : "", out.len) < 0) {
        /* Not there, or not ours: put it there, digest-checked on the host. */
        if ((rc = assay_remote_upload(cmd, sizeof cmd, &rh, ASSAY_REMOTE_UPLOAD_AGENT, sha)) < 0)
            goto failed;
        int fd = open(agent, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = assay_error_set_errno(ASSAY_EIO, errno, "%s", agent);
            goto failed;
        }
        rc = run(c, &k, cmd, fd, &out, &status);
        close(fd);
        if (rc < 0)
            goto failed;
        if (status != 0) {
            rc = assay_error_set(ASSAY_EIO, "installing the agent failed (%d)", status);
            goto failed;
        }
    }
    out.len = 0;
    if ((rc = assay_remote_facts(cmd, sizeof cmd, &rh)) < 0)
        goto failed;
    if ((rc = run(c, &k, cmd, -1, &out, &status)) < 0)
        goto failed;
    if (status != 0) {
        rc = assay_error_set(ASSAY_EPROTO, "assay-agent facts failed (%d)", status);
        goto failed;
    }
    cJSON *facts = cJSON_ParseWithLength(out.p, out.len);
    if (!cJSON_IsObject(facts)) {
        cJSON_Delete(facts);
        rc = assay_error_set(ASSAY_EPROTO, "the agent's facts are not JSON");
        goto failed;
    }
    finish(&k, 0, name);
    trace->status = -1;
    trace->remote_stderr[0] = '\0';
    if ((rc = assay_profile_check_facts(diffs, prof, facts)) < 0) {
        cJSON_Delete(facts);
        goto out;
    }
    *facts_out = facts;
    goto out;
failed:
    finish(&k, rc, name);
out:
    free(out.p);
    assay_conn_free(c);
    assay_profile_free(prof);
    return rc;
}
