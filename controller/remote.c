/* Commands for a host and their framed answers; see remote.h. */
#include "remote.h"
#include "blob.h"
#include "ssh.h"
#include "assay/error.h"
#include "assay/proto.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *assay_remote_kind_name(assay_remote_kind k)
{
    static const char *const names[] = {"run",   "upload and run", "agent upload", "artifact upload", "logs",
                                        "cancel", "stop", "reset", "version", "facts", "remove",
                                        "agent upload and version"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

/* printf into out[len], or ASSAY_EINVAL naming what did not fit. */
static int fit(char *out, size_t len, const char *what, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fit(char *out, size_t len, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len)
        return assay_error_set(ASSAY_EINVAL, "the %s command is too long (%d bytes; the agent root or a name "
                                             "is too long)", what, n);
    return 0;
}

/* Quote s into a fresh buffer (every command's strings pass here). */
static char *quoted(const char *s)
{
    size_t n = 4 * strlen(s) + 3;
    char *q = malloc(n);
    if (q && assay_shell_quote(q, n, s) < 0) {
        free(q);
        q = NULL;
    }
    return q;
}

int assay_remote_agent_path(char *out, size_t len, const assay_remote_host *h)
{
    return fit(out, len, "agent path", "%s/agents/%s/assay-agent", h->agent_root, h->agent_sha);
}

/* "<launcher> '<agent>'" */
static char *agent_invocation(const assay_remote_host *h)
{
    char path[4200];
    if (assay_remote_agent_path(path, sizeof path, h) < 0)
        return NULL;
    char *qa = quoted(path);
    if (!qa)
        return NULL;
    size_t n = strlen(h->launcher) + strlen(qa) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", h->launcher, h->launcher[0] ? " " : "", qa);
    free(qa);
    return s;
}

/* A test that the agent at its path is the one pushed: its digest, not
 * its presence (a vendor's root install step could have replaced it, and
 * a replaced agent could speak for a job, or pass a health check). */
static char *agent_ok_test(const assay_remote_host *h)
{
    char path[4200];
    if (assay_remote_agent_path(path, sizeof path, h) < 0)
        return NULL;
    if (!assay_hex_digest_valid(h->agent_sha)) {
        assay_error_set(ASSAY_EINVAL, "'%.80s' is not an agent's SHA-256", h->agent_sha);
        return NULL;
    }
    char *qa = quoted(path), *s = NULL;
    size_t n = qa ? strlen(qa) + 200 : 0;
    if (qa && (s = malloc(n)))
        snprintf(s, n, "h=$(sha256sum < %s 2>/dev/null) || h=; [ \"${h%%%% *}\" = %s ]", qa, h->agent_sha);
    else
        assay_error_set(ASSAY_ENOMEM, "out of memory");
    free(qa);
    return s;
}

/* Every log under logs/ of the current directory, each framed by a line
 * "<size> <path>"; a write that fails (the channel closed) ends the shell
 * with ASSAY_REMOTE_NO_LOGS. A link is not a log. RUN has the agent do
 * the same in one process (`assay-agent logs`: two processes a log here,
 * twenty for a job of five steps); this is for LOGS, after a reconnect. */
#define LOGS_LOOP                                                                                    \
    "for f in logs/*; do [ -f \"$f\" ] && [ ! -L \"$f\" ] || continue; "                             \
    "printf '%%s %%s\\n' $(($(wc -c < \"$f\"))) \"$f\" && cat \"$f\" || exit %d; done"

int assay_remote_logs(char *out, size_t len, const char *jobdir)
{
    char *qd = quoted(jobdir);
    if (!qd)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    int rc = fit(out, len, "logs", "cd %s && " LOGS_LOOP, qd, ASSAY_REMOTE_NO_LOGS);
    free(qd);
    return rc;
}

/* The start of RUN for a set: check every file (in the job's artifacts/
 * folder already, or in the cache), name the missing ones on stderr, link
 * them all into the folder. Names and digests are safe words, quoted all
 * the same. */
static char *set_start(const assay_remote_host *h, const assay_remote_job *j, const char *agent_ok, const char *a,
                       const char *qd)
{
    char cache[4200], adir[4200];
    snprintf(cache, sizeof cache, "%s/cache", h->agent_root);
    if (snprintf(adir, sizeof adir, "%s/artifacts", j->dir) >= (int)sizeof adir)
        return NULL;
    char *qc = quoted(cache), *qad = quoted(adir), *list = NULL, *out = NULL;
    size_t cap = 64, used = 0;
    for (size_t i = 0; i < j->nset; i++)
        cap += 4 * (strlen(j->set_sha[i]) + strlen(j->set_names[i]) + 1) + 4;
    if (!qc || !qad || !(list = malloc(cap)))
        goto out;
    list[0] = '\0';
    for (size_t i = 0; i < j->nset; i++) {
        char pair[400];
        if (!assay_hex_digest_valid(j->set_sha[i]) ||
            snprintf(pair, sizeof pair, "%s/%s", j->set_sha[i], j->set_names[i]) >= (int)sizeof pair)
            goto out;
        char *q = quoted(pair);
        if (!q)
            goto out;
        used += (size_t)snprintf(list + used, cap - used, " %s", q);
        free(q);
    }
    size_t n = 2 * strlen(list) + strlen(qc) + strlen(qad) + strlen(qd) + strlen(agent_ok) + strlen(a) + 800;
    if (!(out = malloc(n)))
        goto out;
    snprintf(out, n,
             "m=0; %s || m=1; c=%s; d=%s; i=0; miss=; for f in%s; do [ -e \"$d/${f#*/}\" ] || "
             "[ -f \"$c/${f%%%%/*}\" ] || miss=\"$miss $i\"; i=$((i + 1)); done; "
             "[ -z \"$miss\" ] || { m=$((m + 2)); echo \"missing artifact files:$miss\" >&2; }; "
             "[ $m = 0 ] || exit $((%d + m)); mkdir -p \"$d\" || exit %d; for f in%s; do "
             "[ -e \"$d/${f#*/}\" ] || ln \"$c/${f%%%%/*}\" \"$d/${f#*/}\" 2>/dev/null || "
             "cp \"$c/${f%%%%/*}\" \"$d/${f#*/}\" || exit %d; done; "
             "%s start --job-dir %s >/dev/null || exit %d; ",
             agent_ok, qc, qad, list, ASSAY_REMOTE_MISSING, ASSAY_REMOTE_NO_LINK, list, ASSAY_REMOTE_NO_LINK, a, qd,
             ASSAY_REMOTE_NO_START);
out:
    free(qc);
    free(qad);
    free(list);
    return out;
}

size_t assay_remote_missing_files(unsigned char *miss, size_t n, const char *err)
{
    static const char tag[] = "missing artifact files:";
    const char *p = err ? strstr(err, tag) : NULL;
    size_t named = 0;
    memset(miss, 0, n);
    if (!p)
        return 0;
    p += sizeof tag - 1;
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p < '0' || *p > '9')
            break;
        char *end;
        unsigned long i = strtoul(p, &end, 10);
        if (i < n && !miss[i]) {
            miss[i] = 1;
            named++;
        }
        p = end;
    }
    return named;
}

/* A job in one command: link the cached artifact into the job directory,
 * start the job (the spec on stdin; idempotent), stream its events from
 * the first one the store lacks, then every log framed as in LOGS. Exits
 * ASSAY_REMOTE_MISSING + 1 (no agent), + 2 (no artifact) or + 3 before
 * anything runs when the host lacks them.
 *
 * Nothing of it may outlive the channel (docs/protocol.md, "One reader"):
 * when the controller dies or the connection drops, sshd closes the
 * channel and the shell must end with it, or shells and attaches pile up
 * on the host, one more per reconnect. attach is the only part that waits:
 * it exits as soon as its stdout's reader is gone (or a newer attach of the
 * job replaces it), and anything but "job-end written" makes the shell
 * exit at once (|| exit). The logs are sent only after a complete event
 * stream; a write that fails there (the channel closed meanwhile) ends the
 * shell too, rather than cat-ing the other logs into nothing. The start
 * phase is short and ends by itself. */
/* RUN; `verified`: the agent was uploaded and its digest checked earlier
 * in the same command (upload and run), so it is not hashed again. */
static int run_cmd(char *out, size_t len, const assay_remote_host *h, const assay_remote_job *j, int verified)
{
    char path[4200], cache[4200], dst[4500];
    int rc = assay_remote_agent_path(path, sizeof path, h);
    if (rc < 0)
        return rc;
    snprintf(cache, sizeof cache, "%s/cache/%s", h->agent_root, j->art_sha);
    if ((rc = fit(dst, sizeof dst, "run", "%s/%s", j->dir, j->art_name)) < 0)
        return rc;
    char *a = agent_invocation(h), *qc = quoted(cache), *qdst = quoted(dst), *qd = quoted(j->dir);
    char *start = NULL, *agent_ok = NULL;
    rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
    if (!a || !qc || !qdst || !qd)
        goto out;
    /* The agent is run only if it is the one pushed. A mismatch is "no
     * agent": the controller uploads it again. */
    if (!(agent_ok = verified ? strdup(":") : agent_ok_test(h))) {
        rc = verified ? ASSAY_ENOMEM : assay_error_last()->code;
        goto out;
    }
    size_t n = 6 * strlen(qdst) + 2 * strlen(qc) + strlen(qd) + strlen(a) + strlen(agent_ok) + 400;
    if (!(start = malloc(n)))
        goto out;
    /* Once an event is stored the job exists: never start it again (a job
     * directory gone by then is the host's failure, which attach reports,
     * not a job to run twice into one record). */
    if (j->from <= 0 && j->nset > 1) {
        free(start);
        if (!(start = set_start(h, j, agent_ok, a, qd))) {
            rc = assay_error_set(ASSAY_EINVAL, "the run command for an artifact of %zu files: a name or digest is "
                                               "not one the host can take", j->nset);
            goto out;
        }
    } else if (j->from <= 0)
        snprintf(start, n,
                 "m=0; %s || m=1; [ -e %s ] || [ -f %s ] || m=$((m + 2)); [ $m = 0 ] || exit $((%d + m)); "
                 "mkdir -p %s && { [ -e %s ] || ln %s %s 2>/dev/null || cp %s %s; } || exit %d; "
                 "%s start --job-dir %s >/dev/null || exit %d; ",
                 agent_ok, qdst, qc, ASSAY_REMOTE_MISSING, qd, qdst, qc, qdst, qc, qdst, ASSAY_REMOTE_NO_LINK, a,
                 qd, ASSAY_REMOTE_NO_START);
    else
        snprintf(start, n, "%s || exit %d; ", agent_ok, ASSAY_REMOTE_MISSING + 1);
    /* The agent checked above by its digest streams the events, then the
     * logs in the framing LOGS_LOOP makes. */
    rc = fit(out, len, "run", "%s%s attach --job-dir %s --from %" PRId64 " || exit %d; %s logs --job-dir %s || exit %d",
             start, a, qd, j->from, ASSAY_REMOTE_NO_ATTACH, a, qd, ASSAY_REMOTE_NO_LOGS);
out:
    free(a);
    free(qc);
    free(qdst);
    free(qd);
    free(start);
    free(agent_ok);
    return rc;
}

int assay_remote_run(char *out, size_t len, const assay_remote_host *h, const assay_remote_job *j)
{
    return run_cmd(out, len, h, j, 0);
}

/* Where an upload of `sha` goes on the host: the agent's path, or the
 * artifact cache's. ASSAY_EINVAL for a digest that is not one. */
static int part_path(char *out, size_t len, const assay_remote_host *h, int agent, const char *sha)
{
    if (!assay_hex_digest_valid(sha))
        return assay_error_set(ASSAY_EINVAL, "upload: '%.80s' is not a SHA-256", sha);
    return agent ? assay_remote_agent_path(out, len, h) : fit(out, len, "upload", "%s/cache/%s", h->agent_root, sha);
}

/* Upload to a content-addressed path: the bytes (all of stdin, or its next
 * `size` bytes) go to a temporary file and through a SHA-256, and only a
 * file whose digest matches is renamed into place. A large part goes to
 * the file and the digest at the same time (tee), through openssl, whose
 * digest uses the CPU's SHA instructions (x86 SHA-NI, ARMv8 crypto) where
 * coreutils' sha256sum does not: on a 256 MiB upload that is the
 * difference that matters. A small one (the agent, most artifacts: up to
 * ASSAY_RECEIVE_MAX) is written, then hashed by sha256sum, which starts
 * in a third of openssl's time: two processes where tee and openssl were
 * three, for a first contact that is mostly process starts. GNU head -c
 * reads exactly `size` bytes of a pipe, so what follows stays on stdin for
 * the next part. `mkdir`: make the folder (upload and run makes every
 * part's at once). Exits `fail`. */
static int upload_part(char *out, size_t len, const assay_remote_host *h, int agent, const char *sha, uint64_t size,
                       int fail, int mkdir)
{
    char final[4200], dir[4200], hash[320];
    int rc = part_path(final, sizeof final, h, agent, sha);
    if (rc < 0)
        return rc;
    snprintf(dir, sizeof dir, "%s", final);
    *strrchr(dir, '/') = '\0';
    if (size && size <= ASSAY_RECEIVE_MAX)
        snprintf(hash, sizeof hash, "head -c %" PRIu64 " > \"$t\" && h=$(sha256sum < \"$t\") || h=", size);
    else if (size)
        snprintf(hash, sizeof hash,
                 "if command -v openssl >/dev/null 2>&1; then h=$(head -c %" PRIu64 " | tee \"$t\" | openssl dgst -sha256 "
                 "-r); else h=$(head -c %" PRIu64 " | tee \"$t\" | sha256sum); fi",
                 size, size);
    else
        snprintf(hash, sizeof hash, "if command -v openssl >/dev/null 2>&1; then h=$(tee \"$t\" | openssl dgst -sha256 "
                                    "-r); else h=$(tee \"$t\" | sha256sum); fi");
    char *qf = quoted(final), *qd = quoted(dir), md[4300] = "";
    if (mkdir && qd)
        snprintf(md, sizeof md, "mkdir -p %s || exit %d; ", qd, fail);
    rc = !qf || !qd ? assay_error_set(ASSAY_ENOMEM, "out of memory")
                    : fit(out, len, "upload",
                          "%st=%s.part.$$; trap 'rm -f \"$t\"' EXIT; %s; h=${h%%%% *}; "
                          "if [ \"$h\" != %s ]; then echo \"digest mismatch: got $h\" >&2; exit %d; fi; "
                          "chmod %s \"$t\" && mv -f \"$t\" %s || exit %d; trap - EXIT; ",
                          md, qf, hash, sha, fail, agent ? "755" : "644", qf, fail);
    free(qf);
    free(qd);
    return rc;
}

int assay_remote_upload(char *out, size_t len, const assay_remote_host *h, assay_remote_kind kind, const char *sha)
{
    return upload_part(out, len, h, kind == ASSAY_REMOTE_UPLOAD_AGENT, sha, 0, 3, 1);
}

/* A file into the cache through the agent's `receive` (docs/protocol.md):
 * its next `size` bytes of stdin, checked by their SHA-256 there. */
static int receive_part(char *out, size_t len, const assay_remote_host *h, const char *sha, uint64_t size)
{
    char final[4200];
    int rc = part_path(final, sizeof final, h, 0, sha);
    if (rc < 0)
        return rc;
    char *a = agent_invocation(h), *qf = quoted(final);
    rc = !a || !qf ? assay_error_set(ASSAY_ENOMEM, "out of memory")
                   : fit(out, len, "upload", "%s receive --size %" PRIu64 " --sha256 %s --to %s || exit %d; ", a, size,
                         sha, qf, ASSAY_REMOTE_NO_UPLOAD);
    free(a);
    free(qf);
    return rc;
}

/* out += part: the next piece of an upload and run command. */
static int append(char *out, size_t len, size_t *used, const char *part)
{
    int rc = fit(out + *used, len - *used, "upload and run", "%s", part);
    if (rc == 0)
        *used += strlen(out + *used);
    return rc;
}

/* The agent (agent_size bytes, 0 for none), then each file i of n with
 * sizes[i] > 0 (its digest shas[i]), in the order they come on stdin,
 * then RUN. The folders of every part are made by one mkdir first. */
static int upload_then_run(char *out, size_t len, const assay_remote_host *h, const assay_remote_job *j,
                           uint64_t agent_size, const char *const *shas, const uint64_t *sizes, size_t n)
{
    char *part = malloc(len), agent[4200], cache[4200];
    size_t used = 0;
    int rc = !part ? assay_error_set(ASSAY_ENOMEM, "out of memory") : 0, files = 0;
    for (size_t i = 0; i < n; i++)
        files += sizes[i] > 0;
    if (rc == 0 && (rc = assay_remote_agent_path(agent, sizeof agent, h)) == 0)
        rc = fit(cache, sizeof cache, "upload", "%s/cache", h->agent_root);
    if (rc == 0) {
        *strrchr(agent, '/') = '\0';
        char *qa = quoted(agent), *qc = quoted(cache);
        rc = !qa || !qc ? assay_error_set(ASSAY_ENOMEM, "out of memory")
                        : fit(out, len, "upload and run", "mkdir -p%s%s%s%s || exit %d; ", agent_size ? " " : "",
                              agent_size ? qa : "", files ? " " : "", files ? qc : "", ASSAY_REMOTE_NO_UPLOAD);
        free(qa);
        free(qc);
        if (rc == 0 && !agent_size && !files)
            out[0] = '\0';
        used = strlen(out);
    }
    if (rc == 0 && agent_size &&
        (rc = upload_part(part, len, h, 1, h->agent_sha, agent_size, ASSAY_REMOTE_NO_UPLOAD, 0)) == 0)
        rc = append(out, len, &used, part);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!sizes[i])
            continue;
        /* With the agent just checked, it takes a small file itself: one
         * process where head, sha256sum, chmod and mv were four. */
        if (agent_size && sizes[i] <= ASSAY_RECEIVE_MAX)
            rc = receive_part(part, len, h, shas[i], sizes[i]);
        else
            rc = upload_part(part, len, h, 0, shas[i], sizes[i], ASSAY_REMOTE_NO_UPLOAD, 0);
        if (rc == 0)
            rc = append(out, len, &used, part);
    }
    if (rc == 0 && (rc = run_cmd(part, len, h, j, agent_size > 0)) == 0)
        rc = append(out, len, &used, part);
    free(part);
    return rc;
}

int assay_remote_upload_run(char *out, size_t len, const assay_remote_host *h, const assay_remote_job *j,
                            uint64_t agent_size, uint64_t art_size)
{
    return upload_then_run(out, len, h, j, agent_size, &j->art_sha, &art_size, 1);
}

int assay_remote_upload_run_set(char *out, size_t len, const assay_remote_host *h, const assay_remote_job *j,
                                uint64_t agent_size, const uint64_t *sizes)
{
    return upload_then_run(out, len, h, j, agent_size, j->set_sha, sizes, j->nset);
}

int assay_remote_cancel(char *out, size_t len, const assay_remote_host *h, const char *jobdir, int level)
{
    char cf[4200];
    snprintf(cf, sizeof cf, "%s/%s", jobdir, ASSAY_JOB_CANCEL);
    char *a = agent_invocation(h), *qd = quoted(jobdir), *qcf = quoted(cf);
    int rc;
    if (!a || !qd || !qcf)
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
    /* A plain cancel goes once: the agent takes a second one as "now",
     * and this one may be a resend after a reconnect. */
    else if (level >= 2)
        rc = fit(out, len, "cancel", "%s cancel --now --job-dir %s || true", a, qd);
    else
        rc = fit(out, len, "cancel", "[ -e %s ] || %s cancel --job-dir %s || true", qcf, a, qd);
    free(a);
    free(qd);
    free(qcf);
    return rc;
}

int assay_remote_stop(char *out, size_t len, const assay_remote_host *h, const char *jobdir)
{
    char *a = agent_invocation(h), *qd = quoted(jobdir);
    int rc = !a || !qd ? assay_error_set(ASSAY_ENOMEM, "out of memory")
                       : fit(out, len, "stop", "%s cancel --now --job-dir %s >/dev/null 2>&1; true", a, qd);
    free(a);
    free(qd);
    return rc;
}

/* The host's own command, as its login user, with the agent root and the
 * host's name in its environment. */
int assay_remote_reset(char *out, size_t len, const assay_remote_host *h, const char *reset)
{
    char *qr = quoted(h->agent_root), *qn = quoted(h->name);
    int rc = !qr || !qn ? assay_error_set(ASSAY_ENOMEM, "out of memory")
                        : fit(out, len, "reset",
                              "ASSAY_AGENT_ROOT=%s ASSAY_HOST=%s; export ASSAY_AGENT_ROOT ASSAY_HOST; %s", qr, qn,
                              reset);
    free(qr);
    free(qn);
    return rc;
}

int assay_remote_facts(char *out, size_t len, const assay_remote_host *h)
{
    char *a = agent_invocation(h);
    int rc = !a ? assay_error_set(ASSAY_ENOMEM, "out of memory") : fit(out, len, "facts", "%s facts", a);
    free(a);
    return rc;
}

int assay_remote_version(char *out, size_t len, const assay_remote_host *h)
{
    char *a = agent_invocation(h), *ok = agent_ok_test(h);
    int rc = !ok && a ? assay_error_last()->code
             : !a     ? assay_error_set(ASSAY_ENOMEM, "out of memory")
                      : fit(out, len, "version", "%s || exit %d; %s version --json", ok, ASSAY_REMOTE_MISSING + 1, a);
    free(a);
    free(ok);
    return rc;
}

int assay_remote_upload_version(char *out, size_t len, const assay_remote_host *h)
{
    char *a = agent_invocation(h), *up = malloc(len);
    int rc = !a || !up ? assay_error_set(ASSAY_ENOMEM, "out of memory")
                       : upload_part(up, len, h, 1, h->agent_sha, 0, ASSAY_REMOTE_NO_UPLOAD, 1);
    if (rc == 0)
        rc = fit(out, len, "agent upload and version", "%s%s version --json", up, a);
    free(a);
    free(up);
    return rc;
}

int assay_remote_version_answer(const char *d, size_t n)
{
    char seen[64];
    size_t k = 0;
    for (; k < n && k < sizeof seen - 1; k++) /* for the message: what came, printable */
        seen[k] = d[k] >= 0x20 && d[k] < 0x7f ? d[k] : '.';
    seen[k] = '\0';
    if (n == 0)
        return assay_error_set(ASSAY_EPROTO, "the agent answered nothing to version --json");
    if (n > ASSAY_REMOTE_VERSION_MAX)
        return assay_error_set(ASSAY_EPROTO, "the agent's answer to version --json is over %d bytes ('%s'...)",
                               ASSAY_REMOTE_VERSION_MAX, seen);
    cJSON *v = cJSON_ParseWithLength(d, n);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(v, "name");
    const cJSON *proto = cJSON_GetObjectItemCaseSensitive(v, "protocol");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(v, "version");
    int rc = 0;
    if (!cJSON_IsObject(v))
        rc = assay_error_set(ASSAY_EPROTO, "the agent's answer to version --json is not a JSON object ('%s'%s)", seen,
                             n > k ? "..." : "");
    else if (!cJSON_IsString(name) || strcmp(name->valuestring, "assay-agent") || !cJSON_IsString(version))
        rc = assay_error_set(ASSAY_EPROTO, "the agent's answer to version --json does not name assay-agent and its "
                                           "version ('%s'%s)", seen, n > k ? "..." : "");
    else if (!cJSON_IsNumber(proto) || proto->valuedouble != ASSAY_PROTO_VERSION)
        rc = assay_error_set(ASSAY_EPROTO, "the agent speaks protocol %g, not %d", cJSON_IsNumber(proto) ?
                             proto->valuedouble : -1.0, ASSAY_PROTO_VERSION);
    cJSON_Delete(v);
    return rc;
}

#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

int assay_remote_job_dir_check(const char *dir)
{
    const char *base = strrchr(dir, '/');
    size_t n = base ? strlen(base + 1) : 0;
    if (!base || n == 0 || n > 128 || base[1] == '.' || strspn(base + 1, NAME_CHARS) != n)
        return assay_error_set(ASSAY_EINVAL, "'%.200s' is not a job directory (its name)", dir);
    size_t plen = (size_t)(base - dir);
    if (!(plen == 4 || (plen > 4 && dir[plen - 5] == '/')) || strncmp(base - 4, "jobs", 4) != 0)
        return assay_error_set(ASSAY_EINVAL, "'%.200s' is not a job directory (not in a jobs folder)", dir);
    /* No "." or ".." component: the path names what it seems to. */
    for (const char *c = dir; c < base;) {
        const char *e = memchr(c, '/', (size_t)(base - c));
        size_t l = e ? (size_t)(e - c) : (size_t)(base - c);
        if ((l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
            return assay_error_set(ASSAY_EINVAL, "'%.200s' is not a job directory (a '.' or '..' in it)", dir);
        if (!e)
            break;
        c = e + 1;
    }
    return 0;
}

int assay_remote_remove_dirs(char *out, size_t len, const char *const *dirs, size_t n)
{
    int rc = fit(out, len, "remove", "rm -rf --");
    size_t used = strlen(out);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if ((rc = assay_remote_job_dir_check(dirs[i])) < 0)
            break;
        char *q = quoted(dirs[i]);
        if (!q)
            return assay_error_set(ASSAY_ENOMEM, "out of memory");
        rc = fit(out + used, len - used, "remove", " %s", q);
        used += strlen(out + used);
        free(q);
    }
    return rc;
}

/* ---- the framed answer ------------------------------------------------ */

void assay_remote_stream_init(assay_remote_stream *s, const assay_remote_stream_ops *ops, void *arg, int events,
                              uint64_t log_cap)
{
    char *line = s->line;
    size_t cap = s->linecap;
    memset(s, 0, sizeof *s);
    s->line = line;
    s->linecap = cap;
    s->ops = ops;
    s->arg = arg;
    s->in_logs = !events;
    s->log_cap = log_cap ? log_cap : (uint64_t)64 << 20;
}

void assay_remote_stream_free(assay_remote_stream *s)
{
    free(s->line);
    s->line = NULL;
    s->linecap = s->linelen = 0;
}

/* Append to the partial line, at most `max` bytes in all. */
static int line_add(assay_remote_stream *s, const char *d, size_t n, size_t max, const char *what)
{
    if (s->linelen + n > max)
        return assay_error_set(ASSAY_EPROTO, "%s over %zu bytes", what, max);
    if (s->linelen + n + 1 > s->linecap) {
        size_t nc = s->linelen + n + 1 < 1024 ? 1024 : (s->linelen + n + 1) * 2;
        if (nc > max + 1)
            nc = max + 1;
        char *nb = realloc(s->line, nc);
        if (!nb)
            return assay_error_set(ASSAY_ENOMEM, "out of memory");
        s->line = nb;
        s->linecap = nc;
    }
    memcpy(s->line + s->linelen, d, n);
    s->linelen += n;
    return 0;
}

#define HEADER_MAX 200

/* "<size> logs/<name>": checked like any other untrusted input. */
static int header(assay_remote_stream *s)
{
    s->line[s->linelen] = '\0';
    const char *l = s->line, *sp = strchr(l, ' ');
    uint64_t size = 0;
    int ok = sp && sp > l && sp - l <= 19;
    for (const char *p = l; ok && p < sp; p++)
        ok = *p >= '0' && *p <= '9';
    if (ok)
        size = strtoull(l, NULL, 10);
    const char *path = ok ? sp + 1 : "";
    ok = ok && strncmp(path, "logs/", 5) == 0;
    const char *name = ok ? path + 5 : "";
    if (!ok || !assay_log_name_valid(name, strlen(name)))
        return assay_error_set(ASSAY_EPROTO, "log stream: bad header '%.80s'", l);
    s->announced = size;
    s->left = size;
    s->kept = 0;
    s->in_frame = 1;
    s->linelen = 0;
    return s->ops->log_open(s->arg, path, size);
}

static int frame_end(assay_remote_stream *s)
{
    int rc;
    if (s->kept < s->announced) {
        char mark[160];
        int n = snprintf(mark, sizeof mark,
                         "\n[assay: log truncated: the host announced %" PRIu64 " bytes, over the lab's cap of "
                         "%" PRIu64 "; the rest was not kept]\n",
                         s->announced, s->log_cap);
        if ((rc = s->ops->log_data(s->arg, mark, (size_t)n)) < 0)
            return rc;
    }
    s->in_frame = 0;
    s->nlogs++;
    return s->ops->log_close(s->arg, s->kept, s->announced);
}

/* Take bytes up to a '\n' into the partial line (at most `max` in all):
 * 1 when the line is whole (s->line[0..s->linelen), the '\n' consumed), 0
 * when the bytes ran out first, or an error. */
static int take_line(assay_remote_stream *s, const char **d, size_t *n, size_t max, const char *what)
{
    const char *nl = memchr(*d, '\n', *n);
    size_t take = nl ? (size_t)(nl - *d) : *n;
    int rc = line_add(s, *d, take, max, what);
    if (rc < 0)
        return rc;
    *d += take + (nl != NULL);
    *n -= take + (nl != NULL);
    return nl != NULL;
}

int assay_remote_stream_feed(assay_remote_stream *s, const char *d, size_t n)
{
    int rc;
    s->bytes += n;
    while (n) {
        if (!s->in_logs) {
            if ((rc = take_line(s, &d, &n, ASSAY_EVENT_MAX, "an event line")) <= 0)
                return rc;
            size_t len = s->linelen;
            s->linelen = 0;
            if ((rc = s->ops->event(s->arg, s->line, len)) < 0)
                return rc;
            s->in_logs = rc == 1;
            continue;
        }
        if (!s->in_frame) {
            if ((rc = take_line(s, &d, &n, HEADER_MAX, "a log header")) <= 0)
                return rc;
            if ((rc = header(s)) < 0)
                return rc;
            if (s->left == 0 && (rc = frame_end(s)) < 0)
                return rc;
            continue;
        }
        size_t take = s->left < n ? (size_t)s->left : n;
        size_t keep = s->kept >= s->log_cap ? 0 : s->log_cap - s->kept < take ? (size_t)(s->log_cap - s->kept) : take;
        if (keep && (rc = s->ops->log_data(s->arg, d, keep)) < 0)
            return rc;
        s->kept += keep;
        s->left -= take;
        d += take;
        n -= take;
        if (s->left == 0 && (rc = frame_end(s)) < 0)
            return rc;
    }
    return 0;
}

int assay_remote_stream_end(const assay_remote_stream *s)
{
    if (s->in_frame)
        return assay_error_set(ASSAY_EPROTO, "the log stream ended %" PRIu64 " bytes short of a log", s->left);
    if (s->linelen)
        return assay_error_set(ASSAY_EPROTO, "the stream ended inside %s", s->in_logs ? "a log header" : "an event line");
    return 0;
}
