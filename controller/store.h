/*
 * The controller's durable store: one SQLite database in the lab directory,
 * WAL mode, schema versioned (PRAGMA user_version) and migrated forward on
 * open. Every state change of a run or a job is one transaction, so a crash
 * at any instant leaves a consistent store. No SQLite type leaves store.c.
 */
#ifndef ASSAY_CTL_STORE_H
#define ASSAY_CTL_STORE_H

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdint.h>

#define ASSAY_SCHEMA_VERSION 15

typedef struct assay_store assay_store;

/* Open (creating if `create`) the database in `labdir`. */
int assay_store_open(assay_store **out, const char *labdir, int create);
void assay_store_close(assay_store *st);

int assay_store_begin(assay_store *st);   /* BEGIN IMMEDIATE */
int assay_store_commit(assay_store *st);
void assay_store_rollback(assay_store *st);

/* Lab settings (meta table). get copies into out; ASSAY_ENOTFOUND if unset. */
int assay_store_meta_get(assay_store *st, const char *key, char *out, size_t outlen);
int assay_store_meta_set(assay_store *st, const char *key, const char *value);

/* ---- packages ---- */
typedef struct assay_artifact_rec {
    char name[256];     /* path inside the submission */
    char arch[32];      /* x86_64, aarch64, loongarch64, noarch */
    char abi[16];       /* LoongArch world: "new", "old" or "" */
    char format[16];    /* rpm, deb, tar, zip, file */
    char sha256[65];
    uint64_t size;
} assay_artifact_rec;

typedef struct assay_package_rec {
    char id[65];        /* SHA-256 of the submission file */
    char file_name[256];
    uint64_t size;
    char product[128], version[64], vendor[128];
    char added_at[32];
} assay_package_rec;

/* Insert a package, its manifest text, artifacts and preflight result (JSON
 * text; NULL: pending) in one transaction. ASSAY_EEXISTS if the id is
 * there already. */
int assay_store_package_add(assay_store *st, const assay_package_rec *p, const char *manifest,
                            const assay_artifact_rec *arts, size_t n, const char *preflight);
/* Look up by id or unique id prefix (at least 8 digits). *manifest (may be
 * NULL) is malloc'd. */
int assay_store_package_get(assay_store *st, const char *id, assay_package_rec *p, char **manifest);
int assay_store_artifacts(assay_store *st, const char *package_id, assay_artifact_rec **out, size_t *n);
/* [{"id","file_name","size","product","version","vendor","added_at"}] */
int assay_store_package_list(assay_store *st, cJSON **out);
/*
 * Remove package `id` (a unique prefix will do) and everything stored of
 * it, in one transaction. Refused (ASSAY_ESTATE, saying how many) while
 * runs refer to it, unless force, which removes those runs, their jobs,
 * attempts, events and log records too, and is refused while one of their
 * jobs is assigned or running. *digests (malloc'd, *n of them) are the
 * blobs it referred to (the submission, artifacts, logs), for the caller
 * to collect those no one refers to any more (assay_store_blob_referenced);
 * *runs is how many runs went. The full id goes to id_out.
 */
int assay_store_package_remove(assay_store *st, const char *id, int force, char id_out[65],
                               char (**digests)[65], size_t *n, int *runs);
/* 1 if a package, artifact or log record refers to blob `hex`, else 0;
 * or a negative code. */
int assay_store_blob_referenced(assay_store *st, const char *hex);
/* The stored preflight of a package (malloc'd JSON text), or NULL if none. */
char *assay_store_package_preflight(assay_store *st, const char *id);
/* 1 if a package, an artifact or a log names blob `hex`, else 0. */
/* Store the preflight result of a package (JSON text). */
int assay_store_package_set_preflight(assay_store *st, const char *id, const char *json);

/* ---- hosts ---- */
typedef struct assay_host_rec {
    char name[64];
    char profile[96];
    char address[256];
    int port;
    char user[64];
    char identity[PATH_MAX];
    char hostkey[64];    /* "SHA256:..." or "" until trusted on first use */
    int tofu;            /* trust the first key seen (recorded, said loudly) */
    char launcher[512];
    char agent_root[PATH_MAX];
    char disabled[256];  /* why work with this host stopped, or "" */
    char reset[1024];    /* shell command that resets the host between products, or "" */
    char run_user[33];   /* the account tests and benchmarks run as there */
    /* The host's state, kept by the store (host add ignores these unless
     * last_job > 0, so that an updated host keeps its state): */
    int64_t last_job;    /* the job that last went to it, or -1: nothing since added or reset */
    char last_package[65]; /* that job's package */
    int clean;           /* that job ended on its own and its uninstall passed */
    /* Host care, kept by the store (docs/reliability.md#host-care): */
    int drained;         /* `host drain`: no new job until `host resume` */
    int failures;        /* infrastructure failures in a row */
    char quarantined[256]; /* why the dispatcher stopped using it, or "" */
    char last_error[256];  /* the last infrastructure failure */
} assay_host_rec;

int assay_store_host_add(assay_store *st, const assay_host_rec *h); /* EEXISTS */
int assay_store_host_get(assay_store *st, const char *name, assay_host_rec *h);
int assay_store_host_remove(assay_store *st, const char *name);
int assay_store_hosts(assay_store *st, assay_host_rec **out, size_t *n);
int assay_store_host_set_key(assay_store *st, const char *name, const char *fingerprint);
int assay_store_host_disable(assay_store *st, const char *name, const char *why); /* "" enables */
/* Maintenance: drain takes no new job (a running one finishes); resume
 * lifts a drain and a quarantine and forgets the failures. ENOTFOUND. */
int assay_store_host_drain(assay_store *st, const char *name);
int assay_store_host_resume(assay_store *st, const char *name);
/* A health check or a job's attempt on host `name` ended: error NULL is a
 * success (failures back to 0); else one more infrastructure failure in a
 * row, recorded as the last error, and at quarantine_after the host is
 * quarantined with that error. *quarantined (may be NULL): the host is
 * quarantined now. A host that is gone changes nothing. */
int assay_store_host_health(assay_store *st, const char *name, const char *error, int quarantine_after,
                            int *quarantined);
/* A job is about to go to host (its first RUN): the host is no longer
 * clean, and holds the job's package from now on, whatever happens next. */
int assay_store_host_claim(assay_store *st, const char *host, int64_t job_id);
/* Whether the store's records show a job that ran agent `agent_sha` on the
 * host (*agent) and one of a package with artifact `art_sha` that started
 * there (*art): a hint for the first contact, never trusted alone. */
int assay_store_host_has(assay_store *st, const char *host, const char *agent_sha, const char *art_sha, int *agent,
                         int *art);
/* SQLite's plan for assay_store_host_has's query, one line per step, into
 * out[len] (for the tests: every table is reached through an index).
 * ASSAY_ETOOBIG if it does not fit. */
int assay_store_host_has_plan(assay_store *st, char *out, size_t len);
/* The host's reset command succeeded before job_id (assigned to it): the
 * host is clean and fresh again, and the job's attempt records host_reset
 * = 1. ASSAY_ESTATE if the job is no longer assigned there. */
int assay_store_host_was_reset(assay_store *st, const char *host, int64_t job_id);
/* The facts host `name` last reported: the job-start event of the newest
 * attempt that started there, as *out = [{"job","attempt","body"}] (body
 * the event's JSON text), or [] when no job has started there yet. The
 * controller's health check measures no facts, so jobs are the only
 * source. *out is the caller's. */
int assay_store_host_facts(assay_store *st, const char *name, cJSON **out);
/* Record host_reset for the job's current attempt: 1, 0, or -1 (NULL). */
int assay_store_job_set_host_reset(assay_store *st, int64_t job_id, int host_reset);

/* ---- runs and jobs ---- */
typedef struct assay_job_rec {
    int64_t id, run_id;
    int priority;
    char package_id[65];
    char profile[96];
    char state[16];      /* queued, assigned, running, ended, canceled */
    char host[64];
    int attempt;         /* 1.. ; a new attempt after an infrastructure error */
    int64_t last_seq;    /* highest event seq stored for this attempt */
    char outcome[16];    /* passed, failed, error, canceled, not-provided, or "" */
    char reason[256];
    int cancel;          /* cancel requested: 1 (uninstall still runs), 2 (now: uninstall skipped) */
    char started_at[32], ended_at[32];
    char agent_sha256[65]; /* the agent binary that ran the current attempt */
    int stop_on_preflight; /* the run stops a target with preflight errors */
    int host_reset;      /* this attempt's host was reset first: 1, needed it but had no reset
                          * command: 0, needed none: -1 */
} assay_job_rec;

/* Queue a run of package over profiles: one job per profile. A profile
 * whose not_provided[i] is set (not_provided may be NULL) gets a job that
 * has ended already, outcome "not-provided" and that text as its reason:
 * the package has nothing for it. */
int assay_store_run_submit(assay_store *st, const char *package_id, char *const *profiles, size_t n,
                           int priority, int stop_on_preflight, const char *const *not_provided,
                           int64_t *run_id);
/* Which runs assay_store_run_list returns: each set field must match
 * (NULL: any). product and vendor exactly; state a run state (queued,
 * running, done, canceled); since an ISO 8601 UTC time or date, compared
 * with submitted_at. */
typedef struct assay_run_filter {
    const char *product, *vendor, *state, *since;
    const char *org; /* only runs of packages this organisation holds (package_orgs), or NULL */
    int64_t before;  /* only runs numbered below this, or 0 */
    int limit;       /* at most this many, newest first; 0: all, in run order */
} assay_run_filter;
/* [{"id","package","product","version","vendor","priority","state","submitted_at","finished_at",
 * "jobs","done","passed","failed","errors",...}] in run order (newest first
 * with a limit); f may be NULL. */
int assay_store_run_list(assay_store *st, const assay_run_filter *f, cJSON **out);
int assay_store_run_get(assay_store *st, int64_t run_id, cJSON **out);
int assay_store_run_jobs(assay_store *st, int64_t run_id, assay_job_rec **out, size_t *n);
/* Mark a run canceled: queued jobs end at once, running ones get a cancel
 * request (1: their uninstall still runs; 2 with skip_uninstall: it does
 * not). A canceled run with jobs still stopping takes skip_uninstall. */
int assay_store_run_cancel(assay_store *st, int64_t run_id, int skip_uninstall);

/* Jobs the dispatcher must look after: assigned or running ones. */
int assay_store_jobs_active(assay_store *st, assay_job_rec **out, size_t *n);
/* Queued jobs in dispatch order: priority desc, run id asc, job id asc. */
int assay_store_jobs_queued(assay_store *st, assay_job_rec **out, size_t *n);
int assay_store_job_get(assay_store *st, int64_t id, assay_job_rec *j);
/* Queued -> assigned to host (fails with ESTATE if no longer queued). */
int assay_store_job_assign(assay_store *st, int64_t id, const char *host);
/* Assigned -> running, recording the agent binary that runs it. */
int assay_store_job_set_running(assay_store *st, int64_t id, const char *agent_sha256);
/* Store one event of the job's current attempt and advance last_seq, in one
 * transaction. An event whose seq is not last_seq+1 is refused (EPROTO). */
int assay_store_job_event(assay_store *st, int64_t id, int attempt, int64_t seq, const char *type,
                          const char *body);
int assay_store_job_end(assay_store *st, int64_t id, const char *outcome, const char *reason);
/* The same, only if `attempt` is still the job's (ASSAY_ESTATE if not, or if
 * the job has ended): what a dispatcher holding that attempt calls. */
int assay_store_job_end_attempt(assay_store *st, int64_t id, int attempt, const char *outcome, const char *reason);
/* The same, recording host_dir as the attempt's job directory on its host:
 * what the dispatcher calls once the attempt's events and logs are all in
 * the store, so the directory may be removed after the lab's retention. */
int assay_store_job_end_dir(assay_store *st, int64_t id, int attempt, const char *outcome, const char *reason,
                            const char *host_dir);
/* End the attempt as an infrastructure error and queue the job again
 * (attempt+1, host cleared), or end it as error after max_attempts. */
int assay_store_job_retry(assay_store *st, int64_t id, const char *reason, int max_attempts);
int assay_store_job_retry_attempt(assay_store *st, int64_t id, int attempt, const char *reason, int max_attempts);

/* One event to store (assay_store_job_events_put). */
typedef struct assay_event_row {
    int64_t seq;
    const char *type;
    const char *body; /* len bytes */
    size_t len;
    int64_t received_ms; /* when the controller read it (ms since the epoch); 0: unknown */
} assay_event_row;
/* Consecutive events of a job's attempt in one transaction (group commit). */
int assay_store_job_events_put(assay_store *st, int64_t id, int attempt, const assay_event_row *rows, size_t n);

/* PRAGMA data_version: changes whenever another connection commits. */
int assay_store_data_version(assay_store *st, int64_t *v);
/* How long a write waits for another writer (the store opens with 10 s;
 * the dispatcher's loop waits far less). */
void assay_store_set_busy_ms(assay_store *st, int ms);
/* Checkpoint the WAL after every `pages` pages this connection commits (0: never). */
int assay_store_autocheckpoint(assay_store *st, int pages);
/* A WAL checkpoint: passive, or truncating the WAL to nothing. */
int assay_store_checkpoint(assay_store *st, int truncate);
int assay_store_job_log(assay_store *st, int64_t id, int attempt, const char *path, const char *sha256,
                        uint64_t size);
typedef struct assay_log_row {
    char path[200];  /* logs/<name> in the job directory */
    char sha256[65]; /* its blob */
    uint64_t size;
} assay_log_row;
/* A job's logs in one transaction: all stored, or none (ASSAY_ESTATE when
 * the attempt is no longer the job's running one). */
int assay_store_job_logs_put(assay_store *st, int64_t id, int attempt, const assay_log_row *rows, size_t n);
/* Logs of a job's attempt: [{"path","sha256","size"}] ordered by path. */
int assay_store_job_logs(assay_store *st, int64_t id, int attempt, cJSON **out);
/* Every ended attempt of a job, first first: [{attempt, host, outcome,
 * reason, ended_at, host_reset (1, 0 or null)}]; what an infrastructure
 * retry leaves for the report. */
int assay_store_job_attempts(assay_store *st, int64_t id, cJSON **out);

/* ---- job directories on hosts (hosts.job_retention_days) ---- */
/* A removal of a directory that failed this many times is given up. */
#define ASSAY_HOST_DIR_TRIES 3
typedef struct assay_host_dir {
    int64_t job_id;
    int attempt;
    char dir[4096];      /* the attempt's job directory on its host */
} assay_host_dir;
/* The job directories on `host` that may be removed: of attempts that
 * ended with their events and logs in the store (assay_store_job_end_dir),
 * at or before `cutoff` (ISO 8601 UTC, as ended_at), not removed yet, not
 * given up, and never of a job still active; oldest first, at most `limit`.
 * *out is malloc'd (the caller frees it). */
int assay_store_host_dirs_due(assay_store *st, const char *host, const char *cutoff, int limit,
                              assay_host_dir **out, size_t *n);
/* A removal of d[0..n) ended: error NULL records them removed now; else
 * one more failed try with that error, or (give_up) no more tries. */
int assay_store_host_dirs_result(assay_store *st, const assay_host_dir *d, size_t n, const char *error, int give_up);
/* Events of a job's attempt: [{"seq","type","body"}] ordered by seq. */
int assay_store_job_events(assay_store *st, int64_t id, int attempt, int64_t from, cJSON **out);
/* The same, at most `limit` (-1: all), and without the steps' live output
 * ("output" events: megabytes of a job that prints) unless `with_output`:
 * what reads steps (reports, the CLI's views, a job's JSON) has no use for it. */
int assay_store_job_events_page(assay_store *st, int64_t id, int attempt, int64_t from, int limit, int with_output,
                                cJSON **out);
/* The events of every job and attempt of a run stored after event `after`
 * (an id this returned; 0: from the first), at most `limit`, in the order
 * they were stored: [{"id","job","attempt","seq","type","body"}]; a step's
 * live output ("output" events) is not among them. */
int assay_store_run_events(assay_store *st, int64_t run_id, int64_t after, int limit, cJSON **out);

/* A run's report in the public registry, as published. */
typedef struct assay_published {
    const char *product, *version, *vendor;
    const char *cpus, *oses;    /* ",kunpeng,phytium,": the targets' CPU families and OS ids */
    const char *conclusion;     /* "certified", "not-certified" */
    const char *report_number, *report_date;
    const char *published_by;   /* the account */
    const char *envelope;       /* the signed report published, its exact text */
} assay_published;
/* Publish (or publish again, replacing) run_id's report. The entry also
 * keeps who submitted it: the organisations that uploaded the run's
 * package (package_orgs), now. */
int assay_store_publish(assay_store *st, int64_t run_id, const assay_published *p);
/* The signed report kept when run_id was published, as its exact text
 * ("" for an entry published before the store kept it); *out malloc'd.
 * ASSAY_ENOTFOUND for a run that is not published. */
int assay_store_published_envelope(assay_store *st, int64_t run_id, char **out);
/* The published reports matching every filter given (NULL or "": any):
 * q a substring of product, vendor, version or report number (any case),
 * cpu a family, os an OS id, conclusion exact; run_id 0 for all, else that
 * run only. [{"run","product","version","vendor","submitted_by","cpus",
 * "oses","conclusion","report_number","report_date","published_at"}]
 * (vendor: what the manifest claims; submitted_by: the organisations that
 * uploaded the package, a list, empty for one added by the centre), newest
 * first, at most 500. */
int assay_store_registry(assay_store *st, int64_t run_id, const char *q, const char *cpu, const char *os,
                         const char *conclusion, cJSON **out);

/* ---- accounts (assay serve; docs/api.md) ---- */
typedef struct assay_user_rec {
    char name[64];
    char role[16];       /* admin, engineer, vendor */
    char org[128];       /* a vendor's organisation ("" for staff) */
    int disabled;
    char created_at[32];
} assay_user_rec;

/* Add a user (name, role, org are used); ASSAY_EEXISTS if the name is taken. */
int assay_store_user_add(assay_store *st, const assay_user_rec *u);
int assay_store_user_get(assay_store *st, const char *name, assay_user_rec *u); /* ENOTFOUND */
/* [{"name","role","org","disabled","created_at","tokens"}] by name. */
int assay_store_user_list(assay_store *st, cJSON **out);
/* A disabled user's tokens stop working at once. ENOTFOUND. */
int assay_store_user_disable(assay_store *st, const char *name);
/* Record the SHA-256 (hex) of a new token of user (ENOTFOUND: no user). */
int assay_store_token_add(assay_store *st, const char *user, const char hash[65]);
/* The enabled user a token hash belongs to; ASSAY_EAUTH if none (unknown,
 * revoked, or its user disabled). */
int assay_store_token_user(assay_store *st, const char hash[65], assay_user_rec *u);
/* Revoke every token of user; how many into *n. ENOTFOUND: no user. */
int assay_store_token_revoke(assay_store *st, const char *user, int *n);
/* Organisation org uploaded package_id (idempotent). */
int assay_store_package_org_add(assay_store *st, const char *package_id, const char *org);
/* 1 if org uploaded package_id, 0 if not, or a negative code. */
int assay_store_package_org_has(assay_store *st, const char *package_id, const char *org);

/* Web logins: the user's Argon2id hash (encoded form; "" clears it). */
int assay_store_user_set_password(assay_store *st, const char *name, const char *encoded);
/* The enabled user's stored hash ("" if none); ENOTFOUND otherwise. */
int assay_store_user_password(assay_store *st, const char *name, char *out, size_t outlen);
/* A session: the SHA-256 of its cookie, its user and CSRF token, when it
 * ends (Unix seconds). Expired sessions are removed on the way. */
int assay_store_session_add(assay_store *st, const char hash[65], const char *user, const char *csrf, int64_t expires);
/* The enabled user of a live session and its CSRF token; ASSAY_EAUTH if none. */
int assay_store_session_user(assay_store *st, const char hash[65], int64_t now, assay_user_rec *u, char csrf[65]);
int assay_store_session_remove(assay_store *st, const char hash[65]);

/* ---- webhooks (docs/api.md#webhooks) ---- */
/* A hook of org posting to url, signed with secret; its id into *out. */
int assay_store_webhook_add(assay_store *st, const char *org, const char *url, const char *secret, int64_t *out);
/* [{"id","org","url","created_at","delivered","pending","failed"}] of org
 * (NULL: every organisation), by id; never the secret. */
int assay_store_webhook_list(assay_store *st, const char *org, cJSON **out);
/* Remove hook id (and its deliveries); with org, only if it is that
 * organisation's. ENOTFOUND otherwise. */
int assay_store_webhook_remove(assay_store *st, int64_t id, const char *org);
/* The deliveries of hook id (of org, if given), newest run first, at most
 * 200: [{"id","run","status","attempts","next_try","last_status",
 * "last_error","created_at","delivered_at"}]. ENOTFOUND: no such hook. */
int assay_store_webhook_deliveries(assay_store *st, int64_t id, const char *org, cJSON **out);
/* A run's deliveries are made in the transaction that ends it: one per
 * hook of an organisation that uploaded its package, made before the run
 * ended (assay_store_job_end and the other calls that end a run). */
/* The next delivery to try at `now`, round robin over hooks: a pending
 * one due, of the hook with the lowest id above `after` that has one (or,
 * if none has, the lowest id of all), skipping the hooks in busy (a JSON
 * array of hook ids, "[]" for none); of that hook, the soonest due (of
 * equally due ones, the oldest run's). Into *out as {"id","run",
 * "attempts","webhook","url","secret"}, or NULL when none is due; the
 * caller frees it. */
int assay_store_webhook_next(assay_store *st, int64_t now, int64_t after, const char *busy, cJSON **out);
/* SQLite's plans for the statement that makes a run's deliveries and
 * for assay_store_webhook_next's, one line per step, a blank line
 * between, into out[len] (for the tests: neither reads the history of
 * runs or deliveries). ASSAY_ETOOBIG if they do not fit. */
int assay_store_webhook_plans(assay_store *st, char *out, size_t len);
/* Record a try of delivery id: its status (pending, delivered, failed),
 * attempts so far, the next try, the answer's HTTP status (0: none) and
 * what went wrong (NULL: the last error recorded stays). */
int assay_store_webhook_delivery_set(assay_store *st, const char *id, const char *status, int attempts,
                                     int64_t next_try, int last_status, const char *last_error);

#endif
