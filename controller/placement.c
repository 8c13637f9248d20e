/*
 * The queue side of the dispatcher: the hosts as the store has them now
 * (added, removed, edited, enabled: seen within a poll, by the store's
 * data_version), jobs found active (resumed after a restart, canceled),
 * and queued jobs placed on idle hosts of their profile.
 */
#include "dispatch_int.h"
#include "event.h"
#include "manifest.h"
#include "profile.h"
#include "assay/error.h"
#include "assay/proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hosts --------------------------------------------------------------- */

static void host_arch(struct ctx *x, struct host *h)
{
    assay_profile *p;
    h->agent_err[0] = h->arch[0] = '\0';
    if (assay_profile_load(&p, x->lab->profiles, h->rec.profile) == 0) {
        snprintf(h->arch, sizeof h->arch, "%s", p->arch);
        assay_profile_free(p);
        if (assay_lab_agent(h->agent, sizeof h->agent, h->agent_sha, h->arch) < 0)
            snprintf(h->agent_err, sizeof h->agent_err, "%s", assay_error_last()->message);
    } else {
        snprintf(h->agent_err, sizeof h->agent_err, "%s", assay_error_last()->message);
    }
}

/* What a connection is made of changed: the next one uses the new values. */
static int conn_changed(const assay_host_rec *a, const assay_host_rec *b)
{
    return strcmp(a->address, b->address) || a->port != b->port || strcmp(a->user, b->user) ||
           strcmp(a->identity, b->identity) || strcmp(a->hostkey, b->hostkey) || a->tofu != b->tofu;
}

static void host_remove(struct ctx *x, size_t k)
{
    struct host *h = x->hosts[k];
    say(x, "host %s: removed from the lab", h->rec.name);
    if (h->job) {
        if (h->job->state == JS_STOPPING) {
            job_free(x, h->job); /* ended in the store already */
            h->job = NULL;
        } else {
            job_failover(x, h, "its host was removed");
        }
    }
    drop_conn(x, h);
    free(h->gdirs);
    free(h);
    memmove(&x->hosts[k], &x->hosts[k + 1], (x->nhosts - k - 1) * sizeof *x->hosts);
    x->nhosts--;
}

/* The hosts as the store has them now. */
static int sync_hosts(struct ctx *x)
{
    assay_host_rec *recs;
    size_t n;
    int rc = assay_store_hosts(x->lab->store, &recs, &n);
    if (rc < 0)
        return rc;
    for (size_t k = x->nhosts; k-- > 0;) {
        size_t i = 0;
        while (i < n && strcmp(recs[i].name, x->hosts[k]->rec.name))
            i++;
        if (i == n)
            host_remove(x, k);
    }
    for (size_t i = 0; i < n; i++) {
        struct host *h = find_host(x, recs[i].name);
        if (!h) {
            struct host **nh = realloc(x->hosts, (x->nhosts + 1) * sizeof *nh);
            if (!nh || !(h = calloc(1, sizeof *h))) {
                if (nh)
                    x->hosts = nh;
                free(recs);
                return assay_error_set(ASSAY_ENOMEM, "out of memory");
            }
            x->hosts = nh;
            x->hosts[x->nhosts++] = h;
            h->rec = recs[i];
            h->state = HS_IDLE;
            h->hfd = -1;
            host_arch(x, h);
            h->next_check = now_s() + x->health_interval;
            if (recs[i].disabled[0])
                h->state = HS_DISABLED;
            else if (recs[i].quarantined[0])
                h->state = HS_QUARANTINED;
            if (x->next_hosts > 0)
                say(x, "host %s: added (%s)", h->rec.name, h->rec.profile);
            continue;
        }
        assay_host_rec old = h->rec;
        /* What this dispatcher learned itself stays (a key trusted on first
         * use is in the store already). */
        h->rec = recs[i];
        if (strcmp(old.profile, recs[i].profile))
            host_arch(x, h);
        if (recs[i].disabled[0] && h->state != HS_DISABLED) {
            host_disable(x, h, recs[i].disabled);
            continue;
        }
        if (!recs[i].disabled[0] && h->state == HS_DISABLED) {
            host_state(x, h, recs[i].quarantined[0] ? HS_QUARANTINED : HS_IDLE, "enabled again");
            h->down_since = 0;
            h->backoff = 0;
            continue;
        }
        if (!recs[i].quarantined[0] && h->state == HS_QUARANTINED) {
            host_state(x, h, HS_IDLE, "resumed");
            h->down_since = 0;
            h->backoff = 0;
            h->next_check = now_s() + x->health_interval;
            continue;
        }
        if (recs[i].quarantined[0] && h->state != HS_QUARANTINED && h->state != HS_DISABLED && !h->job) {
            drop_conn(x, h);
            host_state(x, h, HS_QUARANTINED, recs[i].quarantined);
            continue;
        }
        if (old.drained != recs[i].drained)
            say(x, "host %s: %s", h->rec.name,
                recs[i].drained ? (h->job ? "drained: no new job once this one ends" : "drained: no new job")
                                : "resumed: takes jobs again");
        if (conn_changed(&old, &recs[i]) && h->conn) {
            say(x, "host %s: edited (address, user, key or identity): a new connection", h->rec.name);
            drop_conn(x, h);
            host_state(x, h, h->job ? HS_DOWN : HS_IDLE, "edited");
            h->retry_at = 0;
        }
    }
    free(recs);
    return 0;
}

struct host *find_host(struct ctx *x, const char *name)
{
    for (size_t i = 0; i < x->nhosts; i++)
        if (strcmp(x->hosts[i]->rec.name, name) == 0)
            return x->hosts[i];
    return NULL;
}

void hosts_free(struct ctx *x)
{
    for (size_t k = 0; k < x->nhosts; k++) {
        job_free(x, x->hosts[k]->job);
        x->hosts[k]->job = NULL;
        drop_conn(x, x->hosts[k]);
        free(x->hosts[k]->gdirs);
        free(x->hosts[k]);
    }
    free(x->hosts);
    x->hosts = NULL;
    x->nhosts = 0;
}

/* ---- a job for a host ------------------------------------------------- */

/* Before the job goes to its host: does the host need its reset first?
 * It does when the job that last went there was of another package, or
 * left the host not clean. A host nothing has gone to since it was added or
 * reset needs none: whoever adds a host vouches for its state, as for a
 * machine just provisioned. The host's state is read from the store, not
 * from this dispatcher's copy: an earlier dispatcher may have changed it.
 * Returns 1 if the host is reset first. */
static int decide_reset(struct ctx *x, struct job *j)
{
    struct host *h = j->host;
    assay_host_rec now;
    if (j->rec.last_seq >= 0)
        return 0; /* running there already */
    int rc = assay_store_host_get(x->lab->store, h->rec.name, &now);
    if (rc < 0)
        return rc;
    snprintf(h->rec.reset, sizeof h->rec.reset, "%s", now.reset);
    h->rec.last_job = now.last_job;
    h->rec.clean = now.clean;
    snprintf(h->rec.last_package, sizeof h->rec.last_package, "%s", now.last_package);
    if (now.last_job == j->rec.id) {
        j->claimed = 1; /* an earlier dispatcher sent it there: no reset under it */
        return 0;
    }
    int other = now.last_job > 0 && strcmp(now.last_package, j->rec.package_id) != 0;
    if (now.last_job <= 0 || (!other && now.clean))
        return 0;
    char why[200];
    snprintf(why, sizeof why, "its last job (%" PRId64 ") %s", now.last_job,
             other ? "was of another package" : "did not leave it clean");
    if (!now.reset[0]) {
        say(x, "job %" PRId64 " on %s: the host needs a reset (%s) but has none: the job runs on it as it is",
            j->rec.id, h->rec.name, why);
        j->rec.host_reset = 0;
        return assay_store_job_set_host_reset(x->lab->store, j->rec.id, 0);
    }
    say(x, "job %" PRId64 " on %s: the host is reset first: %s", j->rec.id, h->rec.name, why);
    return 1;
}

/* The package's artifact for the host's profile, the job spec with its
 * event key and run user, and the checker for its events. */
static int prepare_job(struct ctx *x, struct job *j)
{
    struct host *h = j->host;
    assay_artifact_rec *arts = NULL;
    size_t n = 0;
    assay_package_rec p;
    char *mtext = NULL;
    assay_manifest *m = NULL;
    assay_profile *prof = NULL;
    int rc, have_art = 0;

    snprintf(j->agent_job, sizeof j->agent_job, "%s-r%" PRId64 "-j%" PRId64 "-a%d", x->lab->id, j->rec.run_id,
             j->rec.id, j->rec.attempt);
    snprintf(j->jobdir, sizeof j->jobdir, "%s/jobs/%s", h->rec.agent_root, j->agent_job);
    j->nset = 0;
    if ((rc = assay_store_package_get(x->lab->store, j->rec.package_id, &p, &mtext)) < 0 ||
        (rc = assay_manifest_parse(&m, mtext, strlen(mtext))) < 0 ||
        (rc = assay_store_artifacts(x->lab->store, j->rec.package_id, &arts, &n)) < 0 ||
        (rc = assay_profile_load(&prof, x->lab->profiles, j->rec.profile)) < 0)
        goto out;
    const assay_manifest_artifact *ma =
        assay_manifest_pick(m, prof->arch, prof->loongarch_world[0] ? prof->loongarch_world : NULL);
    /* Every file of the artifact, in the manifest's order, each under a
     * name safe on the host: its own base name when that is plain, else
     * one made of its digest. */
    for (size_t k = 0; ma && k < ma->nfiles && k < ASSAY_MANIFEST_SET_MAX; k++) {
        const char *file = assay_manifest_file(m, ma, k);
        size_t i = 0;
        while (i < n && strcmp(arts[i].name, file) != 0)
            i++;
        if (i == n) {
            have_art = 0;
            break;
        }
        assay_artifact_rec *a = &j->set[j->nset];
        char *name = j->set_names[j->nset];
        *a = arts[i];
        const char *base = strrchr(file, '/');
        base = base ? base + 1 : file;
        snprintf(name, sizeof j->set_names[0], "%s", base);
        if (base[0] == '.' || base[0] == '-' || !strcmp(base, "artifacts") ||
            strspn(base, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-~") != strlen(base))
            snprintf(name, sizeof j->set_names[0], "artifact-%.12s", arts[i].sha256);
        j->nset++;
        have_art = 1;
    }
    if (have_art) {
        j->art = j->set[0];
        snprintf(j->art_name, sizeof j->art_name, "%s", j->set_names[0]);
    }
    if (!have_art) {
        rc = assay_error_set(ASSAY_EINVAL, "package has no artifact for %s (%s)", prof->arch, prof->id);
        goto out;
    }
    if (j->rec.stop_on_preflight) {
        /* Preflight errors against this profile: the target stops here, a
         * failure of the package, named. */
        char *pf = assay_store_package_preflight(x->lab->store, j->rec.package_id);
        cJSON *doc = pf ? cJSON_Parse(pf) : NULL, *e;
        free(pf);
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "profiles"))
        {
            const cJSON *ne = cJSON_GetObjectItem(e, "errors"), *pid = cJSON_GetObjectItem(e, "profile");
            if (cJSON_IsString(pid) && !strcmp(pid->valuestring, prof->id) && cJSON_IsNumber(ne) && ne->valueint > 0) {
                snprintf(j->reason, sizeof j->reason, "stopped before install: preflight found %d error%s against %s "
                                                      "(assay package inspect %.12s --profile %s)",
                         ne->valueint, ne->valueint == 1 ? "" : "s", prof->id, j->rec.package_id, prof->id);
                j->preflight_stop = 1;
            }
        }
        cJSON_Delete(doc);
    }
    char hex[2 * ASSAY_EVMAC_KEY + 1];
    const char *names[ASSAY_MANIFEST_SET_MAX];
    for (size_t k = 0; k < j->nset; k++)
        names[k] = j->set_names[k];
    if ((rc = assay_manifest_job_spec(&j->spec, m, j->agent_job, names, j->nset)) < 0 ||
        (rc = assay_event_key(j->key, x->lab->key, j->agent_job)) < 0)
        goto out;
    assay_hex(hex, j->key, ASSAY_EVMAC_KEY);
    {
        cJSON *spec = cJSON_Parse(j->spec);
        /* The agent stops too if its own inspection on the host finds errors. */
        if (j->rec.stop_on_preflight)
            cJSON_AddTrueToObject(spec, "stop_on_inspect_error");
        /* The job's event key: the supervisor signs every event with it
         * (docs/security.md). */
        cJSON_AddStringToObject(spec, "event_key", hex);
        /* Tests and benchmarks run as an unprivileged account. */
        cJSON_AddStringToObject(spec, "run_user", h->rec.run_user[0] ? h->rec.run_user : ASSAY_RUN_USER_DEFAULT);
        free(j->spec);
        j->spec = cJSON_PrintUnformatted(spec);
        cJSON_Delete(spec);
    }
    explicit_bzero(hex, sizeof hex);
    rc = j->spec ? 0 : assay_error_set(ASSAY_ENOMEM, "out of memory");
out:
    assay_profile_free(prof);
    assay_manifest_free(m);
    free(mtext);
    free(arts);
    return rc;
}

/* A job for host h: a queued one just assigned, or (resumed) one the store
 * has as assigned or running from an earlier dispatcher. */
static struct job *new_job(struct ctx *x, struct host *h, const assay_job_rec *rec, int resumed)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->rec = *rec;
    j->host = h;
    j->upfd = -1;
    for (size_t k = 0; k < ASSAY_MANIFEST_SET_MAX; k++)
        j->upfds[k] = -1;
    j->started = now_s();
    j->state = JS_STARTING;
    if (prepare_job(x, j) < 0 || job_replay(x, j) < 0) {
        char why[600];
        snprintf(why, sizeof why, "%s", assay_error_last()->message);
        say(x, "job %" PRId64 ": cannot run: %s", rec->id, why);
        assay_store_job_end_attempt(x->lab->store, rec->id, rec->attempt, "error", why);
        job_finished(x, j, "error", why);
        job_free(x, j);
        return NULL;
    }
    if (j->preflight_stop) {
        say(x, "job %" PRId64 ": %s", rec->id, j->reason);
        assay_store_job_end_attempt(x->lab->store, rec->id, rec->attempt, "failed", j->reason);
        job_finished(x, j, "failed", j->reason);
        x->done++;
        job_free(x, j);
        return NULL;
    }
    int reset = decide_reset(x, j);
    if (reset < 0) {
        say(x, "job %" PRId64 ": store: %s", rec->id, assay_error_last()->message);
        job_free(x, j);
        return NULL; /* still assigned: the next poll resumes it */
    }
    j->marked_running = strcmp(j->rec.state, "running") == 0;
    /* It may be running there: a cancel must reach the agent. Not when it
     * waits for a reset: the RUN that starts it comes after. */
    j->run_sent = resumed && !reset;
    if (h->conn)
        x->t->conn_touch(h->conn); /* idle until now: silence so far is not the host's */
    h->job = j;
    enum jstate first = reset ? JS_RESETTING : j->rec.last_seq >= 0 ? JS_ATTACHING : JS_STARTING;
    /* Resumed after its job-end was stored (the controller died while
     * fetching logs): an attach would have nothing left to send. */
    cJSON *last = NULL;
    if (j->rec.last_seq >= 0 &&
        assay_store_job_events(x->lab->store, j->rec.id, j->rec.attempt, j->rec.last_seq, &last) == 0) {
        const cJSON *e = cJSON_GetArrayItem(last, 0);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(e, "body");
        cJSON *b = cJSON_IsString(type) && strcmp(type->valuestring, "job-end") == 0 && cJSON_IsString(body)
                       ? cJSON_Parse(body->valuestring)
                       : NULL;
        if (b) {
            const cJSON *oc = cJSON_GetObjectItemCaseSensitive(b, "outcome");
            const cJSON *rs = cJSON_GetObjectItemCaseSensitive(b, "reason");
            j->ended = j->end_seen = 1;
            snprintf(j->outcome, sizeof j->outcome, "%s", cJSON_IsString(oc) ? oc->valuestring : "error");
            snprintf(j->reason, sizeof j->reason, "%s", cJSON_IsString(rs) ? rs->valuestring : "");
            first = JS_FETCHING_LOGS;
            cJSON_Delete(b);
        }
    }
    cJSON_Delete(last);
    j->state = JS_DONE; /* so that the first state is logged */
    job_state(x, j, first, resumed ? "resumed" : "assigned");
    assay_error_clear();
    return j;
}

/* ---- the store's view -------------------------------------------------- */

/* Why no host can take a job of `profile`: each host of the profile with
 * what keeps it out, or that the lab has none. */
static void unplaced_why(struct ctx *x, const char *profile, char *out, size_t len)
{
    size_t used = 0;
    int any = 0;
    out[0] = '\0';
    for (size_t k = 0; k < x->nhosts && used + 1 < len; k++) {
        const struct host *h = x->hosts[k];
        if (strcmp(h->rec.profile, profile))
            continue;
        const char *what = h->state == HS_DISABLED      ? "disabled"
                           : h->state == HS_QUARANTINED ? "quarantined"
                           : h->agent_err[0]            ? "no agent"
                           : h->rec.drained             ? "drained"
                                                        : "busy";
        const char *detail = h->state == HS_DISABLED      ? h->rec.disabled
                             : h->state == HS_QUARANTINED ? h->rec.quarantined
                             : h->agent_err[0]            ? h->agent_err
                                                          : "";
        int m = snprintf(out + used, len - used, "%s%s %s%s%s", any ? "; " : "", h->rec.name, what,
                         detail[0] ? ": " : "", detail);
        used += m > 0 ? (size_t)m : 0;
        any = 1;
    }
    if (!any)
        snprintf(out, len, "the lab has no host of this profile");
}

/* Look at the store: hosts, cancel requests, jobs to resume, queued jobs
 * for idle hosts. *work: how much work is left (active + assignable). */
int poll_store(struct ctx *x, size_t *work)
{
    assay_job_rec *v;
    size_t n;
    int rc;
    int64_t dv = 0;
    *work = 0;
    /* Hosts: when another process wrote to the store, and every 10 s. */
    if ((rc = assay_store_data_version(x->lab->store, &dv)) < 0)
        return rc;
    if (dv != x->data_version || now_s() >= x->next_hosts) {
        if ((rc = sync_hosts(x)) < 0)
            return rc;
        x->data_version = dv;
        x->next_hosts = now_s() + 10;
    }
    /* Hosts with ended jobs' directories to remove, or to look for now:
     * a pass (--once, gc --hosts) ends after them. Not a host that is down
     * (its next try may be far off) or out of use. */
    for (size_t k = 0; k < x->nhosts; k++) {
        const struct host *h = x->hosts[k];
        *work += h->cleaning || (!h->job && !h->rec.drained && now_s() >= h->next_gc && h->state != HS_DOWN &&
                                 h->state != HS_DISABLED && h->state != HS_QUARANTINED);
    }
    if (x->o->gc_only)
        return 0; /* gc --hosts: no jobs */
    /* Active jobs: resume ours after a restart, and see cancel requests. */
    if ((rc = assay_store_jobs_active(x->lab->store, &v, &n)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct host *h = find_host(x, v[i].host);
        if (!h) {
            assay_store_job_retry_attempt(x->lab->store, v[i].id, v[i].attempt, "its host was removed",
                                          x->o->max_attempts);
            continue;
        }
        if (h->job && h->job->rec.id == v[i].id) {
            h->job->rec.cancel = v[i].cancel;
        } else if (!h->job) {
            if (h->state == HS_DISABLED) {
                assay_store_job_retry_attempt(x->lab->store, v[i].id, v[i].attempt, h->rec.disabled,
                                              x->o->max_attempts);
                continue;
            }
            say(x, "job %" PRId64 " on %s: resuming from event %" PRId64, v[i].id, h->rec.name, v[i].last_seq + 1);
            new_job(x, h, &v[i], 1);
        }
        (*work)++;
    }
    free(v);
    for (size_t k = 0; k < x->nhosts; k++) /* ended here, still to stop on the host */
        *work += x->hosts[k]->job && x->hosts[k]->job->state == JS_STOPPING;
    /* Queued jobs, best first, to idle hosts of their profile. */
    if ((rc = assay_store_jobs_queued(x->lab->store, &v, &n)) < 0)
        return rc;
    size_t running = 0, starting = 0;
    for (size_t k = 0; k < x->nhosts; k++) {
        running += x->hosts[k]->job != NULL;
        starting += x->hosts[k]->job && job_is_starting(x->hosts[k]->job);
    }
    x->nunplaced = 0;
    for (size_t i = 0; i < n; i++) {
        int eligible = 0, any_up = 0;
        struct host *pick = NULL, *down = NULL, *rested = NULL;
        for (size_t k = 0; k < x->nhosts; k++) {
            struct host *h = x->hosts[k];
            if (strcmp(h->rec.profile, v[i].profile) || h->state == HS_DISABLED || h->state == HS_QUARANTINED ||
                h->agent_err[0] || h->rec.drained)
                continue;
            eligible = 1;
            any_up |= h->state != HS_DOWN;
            if (h->job || h->checking || h->cleaning)
                continue; /* busy, or a health check or a removal is under way on it */
            if (h->state != HS_DOWN && !pick)
                pick = h;
            else if (h->state == HS_DOWN && now_s() >= h->retry_at && !down)
                down = h;
            if (h->state == HS_DOWN && now_s() >= h->retry_at && now_s() - h->failed_at > x->o->unreachable_s &&
                !rested)
                rested = h;
        }
        /* A host that was down is tried again when every host of the
         * profile is down, or once it has rested for the unreachable
         * timeout: a job failed over from it waits for a host that answers,
         * busy or not, rather than go straight back. */
        if (!pick)
            pick = any_up ? rested : down;
        if (eligible) {
            (*work)++;
        } else {
            char why[400];
            unplaced_why(x, v[i].profile, why, sizeof why);
            if (x->nunplaced < ASSAY_UNPLACED_MAX) {
                x->unplaced[x->nunplaced].id = v[i].id;
                snprintf(x->unplaced[x->nunplaced].why, sizeof x->unplaced[0].why, "no usable host has profile %s (%s)",
                         v[i].profile, why);
                x->nunplaced++;
            }
            if (x->o->once)
                say(x, "job %" PRId64 ": no usable host has profile %s; it stays queued (%s)", v[i].id,
                    v[i].profile, why);
        }
        if (!pick || (x->o->max_parallel && running >= (size_t)x->o->max_parallel) ||
            starting >= (size_t)x->o->max_starting)
            continue;
        if (assay_store_job_assign(x->lab->store, v[i].id, pick->rec.name) < 0) {
            /* Taken meanwhile (canceled, another dispatcher), or the store
             * holds an active job on the host that this dispatcher does not
             * know of: the next poll resumes that one. */
            say(x, "job %" PRId64 ": not assigned to %s: %s", v[i].id, pick->rec.name, assay_error_last()->message);
            assay_error_clear();
            continue;
        }
        if (pick->state == HS_DOWN)
            pick->down_since = 0; /* a new job, a whole unreachable window */
        v[i].attempt = v[i].attempt ? v[i].attempt : 1;
        snprintf(v[i].host, sizeof v[i].host, "%s", pick->rec.name);
        snprintf(v[i].state, sizeof v[i].state, "assigned");
        say(x, "job %" PRId64 " (run %" PRId64 ", %s, attempt %d) -> %s", v[i].id, v[i].run_id, v[i].profile,
            v[i].attempt, pick->rec.name);
        if (new_job(x, pick, &v[i], 0)) {
            running++;
            starting++;
        }
    }
    free(v);
    return 0;
}
