/* The store: schema versions, queue order, job transitions, events in order. */
#include "blob.h"
#include "helpers.h"
#include "store.h"
#include "assay/error.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ASSAY_STR_(x) #x
#define ASSAY_STR(x) ASSAY_STR_(x)

static char dir[] = "/tmp/assay-store-XXXXXX";
static assay_store *st;

/* Package number n (its id n in 64 digits), with these artifacts. */
static void add_package(int n, const assay_artifact_rec *arts, size_t narts)
{
    assay_package_rec p = {.size = 1};
    snprintf(p.id, sizeof p.id, "%064d", n);
    snprintf(p.file_name, sizeof p.file_name, "x%d.tar.gz", n);
    snprintf(p.product, sizeof p.product, "prod");
    snprintf(p.version, sizeof p.version, "%d", n);
    snprintf(p.vendor, sizeof p.vendor, "v");
    cr_assert_eq(assay_store_package_add(st, &p, "{}", arts, narts, NULL), 0, "%s", assay_error_last()->message);
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(assay_store_open(&st, dir, 1), 0, "%s", assay_error_last()->message);
    add_package(1, NULL, 0);
}

static void teardown(void)
{
    assay_store_close(st);
    th_run(NULL, 0, "rm -rf %s", dir);
}

TestSuite(store, .init = setup, .fini = teardown);

static char pkg[65];

/* The hosts table as schema 1 made it. */
#define V1_HOSTS                                                                                   \
    "CREATE TABLE hosts (name TEXT PRIMARY KEY, profile TEXT NOT NULL, address TEXT NOT NULL, port INTEGER NOT " \
    "NULL, user TEXT NOT NULL, identity TEXT NOT NULL, hostkey TEXT NOT NULL, tofu INTEGER NOT NULL, launcher " \
    "TEXT NOT NULL, agent_root TEXT NOT NULL, disabled TEXT NOT NULL DEFAULT '', added_at TEXT NOT NULL);"

static void add_host(const char *name)
{
    assay_host_rec h = {.port = 22, .last_job = -1};
    snprintf(h.name, sizeof h.name, "%s", name);
    snprintf(h.profile, sizeof h.profile, "p");
    snprintf(h.address, sizeof h.address, "127.0.0.1");
    cr_assert_eq(assay_store_host_add(st, &h), 0, "%s", assay_error_last()->message);
}

/* The store closed, `sql` run on its file (the schema an older assay
 * left, down to its user_version; every caller's is older than 15, so
 * schema 15's column goes first), and opened again: migrated. */
static void as_older_assay_left_it(const char *sql)
{
    assay_store_close(st);
    st = NULL;
    char path[300];
    snprintf(path, sizeof path, "%s/assay.db", dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "ALTER TABLE events DROP COLUMN received_ms", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    cr_assert_eq(assay_store_open(&st, dir, 0), 0, "%s", assay_error_last()->message);
}

static int64_t submit(int prio, int nprof)
{
    char *profs[] = {"a", "b", "c"};
    int64_t run;
    snprintf(pkg, sizeof pkg, "%064d", 1);
    cr_assert_eq(assay_store_run_submit(st, pkg, profs, (size_t)nprof, prio, 0, NULL, &run), 0);
    return run;
}

Test(store, schema_is_versioned_and_newer_ones_refused)
{
    assay_store_close(st);
    cr_assert_eq(assay_store_open(&st, dir, 0), 0, "reopening migrates nothing and works");
    sqlite3 *db;
    char path[300];
    snprintf(path, sizeof path, "%s/assay.db", dir);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    assay_store_close(st);
    st = NULL;
    cr_assert_eq(assay_store_open(&st, dir, 0), ASSAY_ESTATE);
    cr_assert(strstr(assay_error_last()->message, "newer than this assay"));
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA user_version = " ASSAY_STR(ASSAY_SCHEMA_VERSION), NULL, NULL, NULL);
    sqlite3_close(db);
    cr_assert_eq(assay_store_open(&st, dir, 0), 0);
}

Test(store, an_older_store_is_migrated_forward)
{
    /* A version-1 store (as the first release made it), with a job in it. */
    assay_store_close(st);
    st = NULL;
    char path[300];
    snprintf(path, sizeof path, "%s/assay.db", dir);
    th_run(NULL, 0, "rm -f %s %s-wal %s-shm", path, path, path);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "CREATE TABLE jobs (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, profile TEXT NOT NULL,"
                                  " state TEXT NOT NULL, host TEXT NOT NULL DEFAULT '', attempt INTEGER NOT NULL DEFAULT 1,"
                                  " last_seq INTEGER NOT NULL DEFAULT -1, outcome TEXT NOT NULL DEFAULT '',"
                                  " reason TEXT NOT NULL DEFAULT '', cancel INTEGER NOT NULL DEFAULT 0,"
                                  " started_at TEXT NOT NULL DEFAULT '', ended_at TEXT NOT NULL DEFAULT '');"
                                  "CREATE TABLE runs (id INTEGER PRIMARY KEY, package_id TEXT NOT NULL, priority INTEGER"
                                  " NOT NULL, state TEXT NOT NULL, submitted_at TEXT NOT NULL, finished_at TEXT);"
                                  "CREATE TABLE attempts (job_id INTEGER, attempt INTEGER, host TEXT, outcome TEXT,"
                                  " reason TEXT, ended_at TEXT);"
                                  "CREATE TABLE events (job_id INTEGER NOT NULL, attempt INTEGER NOT NULL, seq INTEGER"
                                  " NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (job_id, attempt, seq));"
                                  V1_HOSTS
                                  "INSERT INTO jobs (run_id, profile, state) VALUES (1, 'p', 'queued');"
                                  "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    cr_assert_eq(assay_store_open(&st, dir, 0), 0, "%s", assay_error_last()->message);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT agent_sha256, profile FROM jobs", -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(s, 1), "p", "the job survived the migration");
    sqlite3_finalize(s);
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(s, 0), ASSAY_SCHEMA_VERSION);
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* Schema 4: hosts that ran jobs in an older store are not clean (nothing
 * says what those jobs left); a host that ran nothing is. */
Test(store, hosts_of_an_older_store_that_ran_jobs_are_not_clean)
{
    int64_t run = submit(0, 2);
    assay_job_rec *v;
    size_t n;
    assay_store_jobs_queued(st, &v, &n);
    int64_t ran = v[0].id, waiting = v[1].id;
    free(v);
    add_host("h1");
    add_host("h2");
    add_host("h3");
    cr_assert_eq(assay_store_job_assign(st, ran, "h1"), 0);
    cr_assert_eq(assay_store_job_event(st, ran, 1, 0, "job-start", "{}"), 0);
    cr_assert_eq(assay_store_job_end(st, ran, "passed", ""), 0);
    cr_assert_eq(assay_store_job_assign(st, waiting, "h2"), 0); /* assigned, nothing ran */
    (void)run;
    /* Back to schema 3, as an older assay left it: no host state yet. */
    as_older_assay_left_it("DROP INDEX attempts_dirs; ALTER TABLE attempts DROP COLUMN host_dir;"
                           "ALTER TABLE attempts DROP COLUMN dir_removed; ALTER TABLE attempts DROP COLUMN dir_tries;"
                           "ALTER TABLE attempts DROP COLUMN dir_error;"
                           "ALTER TABLE hosts DROP COLUMN reset; ALTER TABLE hosts DROP COLUMN last_job;"
                           "ALTER TABLE hosts DROP COLUMN last_package; ALTER TABLE hosts DROP COLUMN clean;"
                           "ALTER TABLE jobs DROP COLUMN host_reset; ALTER TABLE attempts DROP COLUMN host_reset;"
                           "ALTER TABLE hosts DROP COLUMN run_user; ALTER TABLE hosts DROP COLUMN drained;"
                           "ALTER TABLE hosts DROP COLUMN failures; ALTER TABLE hosts DROP COLUMN quarantined;"
                           "ALTER TABLE hosts DROP COLUMN last_error;"
                           "ALTER TABLE published DROP COLUMN envelope; ALTER TABLE published DROP COLUMN submitted_by;"
                           "PRAGMA user_version = 3;");
    assay_host_rec h;
    cr_assert_eq(assay_store_host_get(st, "h1", &h), 0);
    cr_assert_eq(h.last_job, ran);
    cr_assert_str_eq(h.last_package, pkg);
    cr_assert_eq(h.clean, 0, "a host an older assay used is not known to be clean");
    cr_assert_str_eq(h.reset, "");
    cr_assert_str_eq(h.run_user, "assay-run", "schema 5: the default run user");
    cr_assert_eq(h.drained + h.failures, 0, "schema 7: in use, no failures");
    cr_assert_str_eq(h.quarantined, "");
    cr_assert_eq(assay_store_host_get(st, "h2", &h), 0);
    cr_assert_eq(h.last_job, -1, "nothing ran on h2");
    cr_assert_eq(h.clean, 1);
    cr_assert_eq(assay_store_host_get(st, "h3", &h), 0);
    cr_assert_eq(h.last_job, -1);
    assay_job_rec j;
    cr_assert_eq(assay_store_job_get(st, ran, &j), 0);
    cr_assert_eq(j.host_reset, -1);
}

Test(store, queue_order_is_priority_then_age)
{
    int64_t r1 = submit(0, 2), r2 = submit(5, 1), r3 = submit(0, 1);
    assay_job_rec *v;
    size_t n;
    cr_assert_eq(assay_store_jobs_queued(st, &v, &n), 0);
    cr_assert_eq(n, 4);
    cr_assert_eq(v[0].run_id, r2);
    cr_assert_eq(v[1].run_id, r1);
    cr_assert_eq(v[2].run_id, r1);
    cr_assert_eq(v[3].run_id, r3);
    free(v);
}

Test(store, a_job_runs_through_its_states)
{
    int64_t run = submit(0, 1);
    assay_job_rec *v, j;
    size_t n;
    assay_store_jobs_queued(st, &v, &n);
    int64_t id = v[0].id;
    free(v);
    cr_assert_eq(assay_store_job_assign(st, id, "h1"), 0);
    cr_assert_eq(assay_store_job_assign(st, id, "h2"), ASSAY_ESTATE, "assigned twice");
    cr_assert_eq(assay_store_job_set_running(st, id, "abc"), 0);
    cr_assert_eq(assay_store_job_event(st, id, 1, 0, "job-start", "{}"), 0);
    cr_assert_eq(assay_store_job_event(st, id, 1, 2, "x", "{}"), ASSAY_EPROTO, "a gap is refused");
    cr_assert_eq(assay_store_job_event(st, id, 1, 0, "x", "{}"), ASSAY_EPROTO, "a duplicate is refused");
    cr_assert_eq(assay_store_job_event(st, id, 1, 1, "job-end", "{}"), 0);
    cr_assert_eq(assay_store_job_get(st, id, &j), 0);
    cr_assert_eq(j.last_seq, 1);
    cr_assert_str_eq(j.state, "running");
    cr_assert_eq(assay_store_job_end(st, id, "failed", ""), 0);
    cJSON *r;
    cr_assert_eq(assay_store_run_get(st, run, &r), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(r, "state")->valuestring, "done");
    cr_assert_eq(cJSON_GetObjectItem(r, "failed")->valueint, 1);
    cJSON_Delete(r);
}

Test(store, infrastructure_errors_retry_then_end)
{
    submit(0, 1);
    assay_job_rec *v, j;
    size_t n;
    assay_store_jobs_queued(st, &v, &n);
    int64_t id = v[0].id;
    free(v);
    for (int attempt = 1; attempt <= 2; attempt++) {
        cr_assert_eq(assay_store_job_assign(st, id, "h1"), 0);
        cr_assert_eq(assay_store_job_event(st, id, attempt, 0, "job-start", "{}"), 0);
        cr_assert_eq(assay_store_job_retry(st, id, "host down", 3), 0);
        cr_assert_eq(assay_store_job_get(st, id, &j), 0);
        cr_assert_str_eq(j.state, "queued");
        cr_assert_eq(j.attempt, attempt + 1);
        cr_assert_eq(j.last_seq, -1, "a new attempt starts its events afresh");
    }
    cr_assert_eq(assay_store_job_assign(st, id, "h1"), 0);
    cr_assert_eq(assay_store_job_retry(st, id, "host down", 3), 0);
    cr_assert_eq(assay_store_job_get(st, id, &j), 0);
    cr_assert_str_eq(j.state, "ended");
    cr_assert_str_eq(j.outcome, "error", "an infrastructure error, not a failure");
    cr_assert(strstr(j.reason, "attempt 3 of 3"), "%s", j.reason);
}

Test(store, cancel_ends_queued_jobs_and_flags_running_ones)
{
    int64_t run = submit(0, 2);
    assay_job_rec *v;
    size_t n;
    assay_store_jobs_queued(st, &v, &n);
    int64_t running = v[0].id, queued = v[1].id;
    free(v);
    assay_store_job_assign(st, running, "h1");
    cr_assert_eq(assay_store_run_cancel(st, run, 0), 0);
    assay_job_rec j;
    assay_store_job_get(st, queued, &j);
    cr_assert_str_eq(j.state, "canceled");
    assay_store_job_get(st, running, &j);
    cr_assert_str_eq(j.state, "assigned");
    cr_assert_eq(j.cancel, 1, "a plain cancel: uninstall still runs");
    cr_assert_eq(assay_store_run_cancel(st, run, 0), ASSAY_ESTATE, "canceled twice");
    cr_assert_eq(assay_store_run_cancel(st, run, 1), 0, "--now hurries a job still stopping");
    assay_store_job_get(st, running, &j);
    cr_assert_eq(j.cancel, 2);
    cr_assert_eq(assay_store_run_cancel(st, run, 1), ASSAY_ESTATE, "nothing left to hurry");
    cr_assert_eq(assay_store_job_end(st, running, "canceled", "canceled"), 0);
    cJSON *r;
    assay_store_run_get(st, run, &r);
    cr_assert_str_eq(cJSON_GetObjectItem(r, "state")->valuestring, "canceled");
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(r, "finished_at")));
    cJSON_Delete(r);
}

Test(store, hosts)
{
    assay_host_rec h = {.port = 22};
    snprintf(h.name, sizeof h.name, "h1");
    snprintf(h.profile, sizeof h.profile, "p");
    snprintf(h.address, sizeof h.address, "127.0.0.1");
    cr_assert_eq(assay_store_host_add(st, &h), 0);
    cr_assert_eq(assay_store_host_add(st, &h), ASSAY_EEXISTS);
    cr_assert_eq(assay_store_host_set_key(st, "h1", "SHA256:x"), 0);
    cr_assert_eq(assay_store_host_disable(st, "h1", "key mismatch"), 0);
    assay_host_rec g;
    cr_assert_eq(assay_store_host_get(st, "h1", &g), 0);
    cr_assert_str_eq(g.hostkey, "SHA256:x");
    cr_assert_str_eq(g.disabled, "key mismatch");
    cr_assert_str_eq(g.run_user, "assay-run", "a host that names no run user gets the default");
    snprintf(h.name, sizeof h.name, "h2");
    snprintf(h.run_user, sizeof h.run_user, "certrun");
    cr_assert_eq(assay_store_host_add(st, &h), 0);
    cr_assert_eq(assay_store_host_get(st, "h2", &g), 0);
    cr_assert_str_eq(g.run_user, "certrun");
    cr_assert_eq(assay_store_host_remove(st, "h1"), 0);
    cr_assert_eq(assay_store_host_remove(st, "h1"), ASSAY_ENOTFOUND);
}

/* An event body as the agent writes a step-end. */
static void step_end(int64_t id, int attempt, int seq, const char *kind, const char *verdict)
{
    char body[200];
    snprintf(body, sizeof body, "{\"type\":\"step-end\",\"step\":\"%s\",\"kind\":\"%s\",\"verdict\":\"%s\"}",
             kind, kind, verdict);
    cr_assert_eq(assay_store_job_event(st, id, attempt, seq, "step-end", body), 0, "%s", assay_error_last()->message);
}

Test(store, a_host_is_clean_only_after_a_job_that_ended_and_uninstalled)
{
    submit(0, 3);
    assay_job_rec *v, j;
    size_t n;
    assay_host_rec h;
    assay_store_jobs_queued(st, &v, &n);
    int64_t a = v[0].id, b = v[1].id, c = v[2].id;
    free(v);
    add_host("h1");
    cr_assert_eq(assay_store_host_get(st, "h1", &h), 0);
    cr_assert_eq(h.last_job, -1, "a new host: nothing went to it");
    cr_assert_eq(h.clean, 1);

    /* a: sent to h1 (claimed), ends passed with its uninstall passing. */
    cr_assert_eq(assay_store_job_assign(st, a, "h1"), 0);
    cr_assert_eq(assay_store_host_claim(st, "h1", a), 0);
    cr_assert_eq(assay_store_host_get(st, "h1", &h), 0);
    cr_assert_eq(h.last_job, a);
    cr_assert_str_eq(h.last_package, pkg);
    cr_assert_eq(h.clean, 0, "not clean while the job may be on it");
    cr_assert_eq(assay_store_job_event(st, a, 1, 0, "job-start", "{}"), 0);
    step_end(a, 1, 1, "install", "pass");
    step_end(a, 1, 2, "uninstall", "pass");
    cr_assert_eq(assay_store_job_end(st, a, "passed", ""), 0);
    cr_assert_eq(assay_store_host_get(st, "h1", &h), 0);
    cr_assert_eq(h.clean, 1, "ended and uninstalled: clean");

    /* b: canceled after its uninstall passed: still not clean. */
    cr_assert_eq(assay_store_job_assign(st, b, "h1"), 0);
    cr_assert_eq(assay_store_host_claim(st, "h1", b), 0);
    cr_assert_eq(assay_store_job_event(st, b, 1, 0, "job-start", "{}"), 0);
    step_end(b, 1, 1, "uninstall", "pass");
    cr_assert_eq(assay_store_job_end(st, b, "canceled", "canceled"), 0);
    cr_assert_eq(assay_store_host_get(st, "h1", &h), 0);
    cr_assert_eq(h.clean, 0, "a canceled job leaves the host not clean");

    /* c: its host is reset first; the attempt says so, and the host is fresh. */
    cr_assert_eq(assay_store_job_assign(st, c, "h1"), 0);
    cr_assert_eq(assay_store_host_was_reset(st, "h1", c), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_store_host_get(st, "h1", &h), 0);
    cr_assert_eq(h.last_job, -1);
    cr_assert_eq(h.clean, 1);
    cr_assert_eq(assay_store_job_get(st, c, &j), 0);
    cr_assert_eq(j.host_reset, 1);
    /* A failed uninstall: not clean. The attempt keeps host_reset, the
     * retry's next attempt starts without one. */
    cr_assert_eq(assay_store_host_claim(st, "h1", c), 0);
    cr_assert_eq(assay_store_job_event(st, c, 1, 0, "job-start", "{}"), 0);
    step_end(c, 1, 1, "uninstall", "fail");
    cr_assert_eq(assay_store_job_retry(st, c, "host down", 3), 0);
    cr_assert_eq(assay_store_job_get(st, c, &j), 0);
    cr_assert_eq(j.host_reset, -1, "a new attempt: not reset yet");
    cr_assert_eq(assay_store_job_assign(st, c, "h1"), 0);
    cr_assert_eq(assay_store_job_set_host_reset(st, c, 0), 0);
    cr_assert_eq(assay_store_job_event(st, c, 2, 0, "job-start", "{}"), 0);
    step_end(c, 2, 1, "uninstall", "fail");
    cr_assert_eq(assay_store_job_end(st, c, "passed", ""), 0);
    cr_assert_eq(assay_store_host_get(st, "h1", &h), 0);
    cr_assert_eq(h.clean, 0, "an uninstall that failed leaves the host not clean");
    cJSON *att;
    cr_assert_eq(assay_store_job_attempts(st, c, &att), 0);
    cr_assert_eq(cJSON_GetArraySize(att), 2);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(att, 0), "host_reset")->valueint, 1);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(att, 1), "host_reset")->valueint, 0);
    cJSON_Delete(att);
    /* A reset for a job no longer waiting on the host is refused. */
    cr_assert_eq(assay_store_host_was_reset(st, "h1", c), ASSAY_ESTATE);
}

/* One active job per host, held by the store itself (schema 6), and an
 * attempt's history written once, by whoever holds that attempt: a late
 * retry or end from a dispatcher that lost the job changes nothing. */
Test(store, one_active_job_per_host_and_guarded_attempts)
{
    submit(0, 3);
    assay_job_rec *v, j;
    size_t n;
    assay_store_jobs_queued(st, &v, &n);
    int64_t a = v[0].id, b = v[1].id, c = v[2].id;
    free(v);
    cr_assert_eq(assay_store_job_assign(st, a, "h1"), 0);
    cr_assert_eq(assay_store_job_assign(st, b, "h1"), ASSAY_ESTATE, "a busy host takes no second job");
    cr_assert(strstr(assay_error_last()->message, "h1 has an active job"), "%s", assay_error_last()->message);
    cr_assert_eq(assay_store_job_assign(st, a, "h2"), ASSAY_ESTATE, "an assigned job is not assigned again");
    cr_assert_eq(assay_store_job_assign(st, b, "h2"), 0);
    /* a passes on h1 */
    cr_assert_eq(assay_store_job_event(st, a, 1, 0, "job-start", "{}"), 0);
    cr_assert_eq(assay_store_job_end_attempt(st, a, 1, "passed", ""), 0);
    /* A late retry or end of the same attempt is refused and rewrites nothing. */
    cr_assert_eq(assay_store_job_retry_attempt(st, a, 1, "error: host down", 3), ASSAY_ESTATE);
    cr_assert_eq(assay_store_job_end_attempt(st, a, 1, "error", "late"), ASSAY_ESTATE);
    cr_assert_eq(assay_store_job_get(st, a, &j), 0);
    cr_assert_str_eq(j.outcome, "passed");
    sqlite3 *db;
    char path[300];
    snprintf(path, sizeof path, "%s/assay.db", dir);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT outcome FROM attempts WHERE job_id = ?", -1, &s, NULL), SQLITE_OK);
    sqlite3_bind_int64(s, 1, a);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(s, 0), "passed", "the passed attempt's history stays");
    cr_assert_eq(sqlite3_step(s), SQLITE_DONE, "one row for the one attempt");
    sqlite3_finalize(s);
    sqlite3_close(db);
    /* b: retried once; its first attempt can no longer end it. */
    cr_assert_eq(assay_store_job_retry_attempt(st, b, 1, "host down", 3), 0);
    cr_assert_eq(assay_store_job_end_attempt(st, b, 1, "passed", ""), ASSAY_ESTATE, "attempt 1 is not the job's");
    cr_assert_eq(assay_store_job_assign(st, b, "h1"), 0, "h1 is free again");
    cr_assert_eq(assay_store_job_assign(st, c, "h1"), ASSAY_ESTATE);
    /* A batch of events: in order or not at all. */
    assay_event_row rows[3] = {{0, "job-start", "{}", 2, 0}, {1, "step-start", "{}", 2, 0}, {3, "x", "{}", 2, 0}};
    cr_assert_eq(assay_store_job_events_put(st, b, 2, rows, 3), ASSAY_EPROTO, "a gap in a batch");
    cr_assert_eq(assay_store_job_get(st, b, &j), 0);
    cr_assert_eq(j.last_seq, -1, "nothing of a refused batch is stored");
    rows[1].received_ms = INT64_C(1764547200123); /* schema 15: when the controller read it */
    cr_assert_eq(assay_store_job_events_put(st, b, 2, rows, 2), 0);
    cr_assert_eq(assay_store_job_get(st, b, &j), 0);
    cr_assert_eq(j.last_seq, 1);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT received_ms FROM events WHERE job_id = ? ORDER BY seq", -1, &s, NULL),
                 SQLITE_OK);
    sqlite3_bind_int64(s, 1, b);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_type(s, 0), SQLITE_NULL, "0: not known");
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int64(s, 0), INT64_C(1764547200123));
    sqlite3_finalize(s);
    sqlite3_close(db);
    /* A job's logs: in one transaction, all or none. */
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    assay_log_row lr[2] = {{"logs/a.1.stdout", SHA_A, 3}, {"logs/a.1.stderr", SHA_A, 0}};
    cr_assert_eq(assay_store_job_logs_put(st, b, 1, lr, 2), ASSAY_ESTATE, "attempt 1 is not the job's");
    cJSON *l;
    cr_assert_eq(assay_store_job_logs(st, b, 1, &l), 0);
    cr_assert_eq(cJSON_GetArraySize(l), 0, "nothing of a refused batch is stored");
    cJSON_Delete(l);
    cr_assert_eq(assay_store_job_logs_put(st, b, 2, lr, 2), 0);
    cr_assert_eq(assay_store_job_logs(st, b, 2, &l), 0);
    cr_assert_eq(cJSON_GetArraySize(l), 2);
    cJSON_Delete(l);
}

/* A run's stream carries its jobs' steps, not their live output (that is
 * the job's stream's); a job's events are all of them. */
Test(store, a_run_s_events_leave_live_output_to_the_job_s)
{
    int64_t run = submit(0, 1);
    assay_job_rec *v;
    size_t n;
    assay_store_jobs_queued(st, &v, &n);
    int64_t a = v[0].id;
    free(v);
    cr_assert_eq(assay_store_job_assign(st, a, "h1"), 0);
    assay_event_row rows[4] = {{0, "job-start", "{}", 2, 0}, {1, "step-start", "{}", 2, 0}, {2, "output", "{}", 2, 0},
                               {3, "step-end", "{}", 2, 0}};
    cr_assert_eq(assay_store_job_events_put(st, a, 1, rows, 4), 0);
    cJSON *ev, *e;
    cr_assert_eq(assay_store_run_events(st, run, 0, 256, &ev), 0);
    char types[100] = "";
    cJSON_ArrayForEach(e, ev) strcat(strcat(types, cJSON_GetObjectItem(e, "type")->valuestring), " ");
    cJSON_Delete(ev);
    cr_assert_str_eq(types, "job-start step-start step-end ");
    cr_assert_eq(assay_store_job_events(st, a, 1, 0, &ev), 0);
    cr_assert_eq(cJSON_GetArraySize(ev), 4);
    cJSON_Delete(ev);
}

/* Schema 7: failures in a row quarantine a host at the threshold, a
 * success ends the row, resume lifts a drain and a quarantine. */
Test(store, host_failures_quarantine_and_resume_lifts)
{
    add_host("h1");
    assay_host_rec h;
    int q = -1;
    cr_assert_eq(assay_store_host_health(st, "h1", "refused", 3, &q), 0);
    cr_assert_eq(q, 0);
    cr_assert_eq(assay_store_host_health(st, "h1", NULL, 3, &q), 0, "a success ends the row");
    cr_assert_eq(assay_store_host_health(st, "h1", "refused", 3, &q), 0);
    cr_assert_eq(assay_store_host_health(st, "h1", "timed out", 3, &q), 0);
    cr_assert_eq(q, 0, "two in a row are not three");
    cr_assert_eq(assay_store_host_health(st, "h1", "no route", 3, &q), 0);
    cr_assert_eq(q, 1);
    cr_assert_eq(assay_store_host_get(st, "h1", &h), 0);
    cr_assert_eq(h.failures, 3);
    cr_assert_str_eq(h.quarantined, "no route");
    cr_assert_str_eq(h.last_error, "no route");
    cr_assert_eq(assay_store_host_drain(st, "h1"), 0);
    cr_assert_eq(assay_store_host_get(st, "h1", &h), 0);
    cr_assert_eq(h.drained, 1);
    cr_assert_eq(assay_store_host_resume(st, "h1"), 0);
    cr_assert_eq(assay_store_host_get(st, "h1", &h), 0);
    cr_assert_eq(h.drained + h.failures, 0);
    cr_assert_str_eq(h.quarantined, "");
    cr_assert_str_eq(h.last_error, "no route", "the last error stays for host list");
    cr_assert_eq(assay_store_host_drain(st, "nope"), ASSAY_ENOTFOUND);
    cr_assert_eq(assay_store_host_resume(st, "nope"), ASSAY_ENOTFOUND);
}

/* A registry entry keeps the signed report it published and who submitted
 * the package then (schema 12); one published by an older assay has
 * neither after the migration: no envelope (it must be published again),
 * nobody named. */
Test(store, published_entries_keep_their_envelope_and_submitters)
{
    int64_t run = submit(0, 1);
    cr_assert_eq(assay_store_package_org_add(st, pkg, "globex"), 0);
    cr_assert_eq(assay_store_package_org_add(st, pkg, "acme"), 0);
    assay_published p = {"hello", "1.0", "Example Co.", ",kunpeng,", ",kylin,", "certified", "R-1", "2026-11-30",
                         "alice", "{\"payloadType\":\"x\"}\n"};
    cr_assert_eq(assay_store_publish(st, run, &p), 0, "%s", assay_error_last()->message);
    /* Uploaded by another organisation after publication: not named. */
    cr_assert_eq(assay_store_package_org_add(st, pkg, "initech"), 0);
    char *env = NULL;
    cr_assert_eq(assay_store_published_envelope(st, run, &env), 0);
    cr_assert_str_eq(env, "{\"payloadType\":\"x\"}\n", "the very bytes");
    free(env);
    cJSON *l;
    cr_assert_eq(assay_store_registry(st, 0, "acme", NULL, NULL, NULL, &l), 0);
    char *text = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "submitted_by"));
    cr_assert_str_eq(text, "[\"acme\",\"globex\"]");
    free(text);
    cJSON_Delete(l);
    cr_assert_eq(assay_store_published_envelope(st, run + 1, &env), ASSAY_ENOTFOUND);

    /* Back to schema 11, as an older assay left the entry. */
    as_older_assay_left_it("ALTER TABLE published DROP COLUMN envelope; ALTER TABLE published DROP COLUMN submitted_by;"
                           "PRAGMA user_version = 11;");
    cr_assert_eq(assay_store_published_envelope(st, run, &env), 0);
    cr_assert_str_eq(env, "");
    free(env);
    cr_assert_eq(assay_store_registry(st, run, NULL, NULL, NULL, NULL, &l), 0);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "submitted_by")), 0);
    cJSON_Delete(l);
}

/* What the records say a host has (the first contact's hint): a job that
 * ran our agent there, now or in an earlier attempt, and a job of a
 * package with the artifact; another host has neither. */
Test(store, the_records_say_what_a_host_has)
{
    assay_artifact_rec a = {.size = 1};
    snprintf(a.name, sizeof a.name, "pkgs/y.rpm");
    snprintf(a.sha256, sizeof a.sha256, "%064d", 7);
    add_package(2, &a, 1);
    char *profs[] = {"a"}, id2[65];
    int64_t run;
    snprintf(id2, sizeof id2, "%064d", 2);
    cr_assert_eq(assay_store_run_submit(st, id2, profs, 1, 0, 0, NULL, &run), 0);
    assay_job_rec *v;
    size_t n;
    cr_assert_eq(assay_store_jobs_queued(st, &v, &n), 0);
    int64_t id = v[0].id;
    free(v);
    int ha = -1, hf = -1;
    cr_assert_eq(assay_store_host_has(st, "h1", "agent1", a.sha256, &ha, &hf), 0);
    cr_assert_eq(ha + hf, 0, "no record yet");
    /* Attempt 1 ran agent1 on h1, then was retried onto h2. */
    cr_assert_eq(assay_store_job_assign(st, id, "h1"), 0);
    cr_assert_eq(assay_store_job_set_running(st, id, "agent1"), 0);
    cr_assert_eq(assay_store_job_retry_attempt(st, id, 1, "host down", 3), 0);
    cr_assert_eq(assay_store_host_has(st, "h1", "agent1", a.sha256, &ha, &hf), 0);
    cr_assert_eq(ha, 1, "the attempt's agent on h1");
    cr_assert_eq(hf, 1, "the attempt started there with the artifact");
    cr_assert_eq(assay_store_host_has(st, "h1", "agent2", "x", &ha, &hf), 0);
    cr_assert_eq(ha + hf, 0, "another agent, another artifact");
    cr_assert_eq(assay_store_host_has(st, "h2", "agent1", a.sha256, &ha, &hf), 0);
    cr_assert_eq(ha + hf, 0, "nothing ran on h2 yet");
    cr_assert_eq(assay_store_job_assign(st, id, "h2"), 0);
    cr_assert_eq(assay_store_job_set_running(st, id, "agent1"), 0);
    cr_assert_eq(assay_store_host_has(st, "h2", "agent1", a.sha256, &ha, &hf), 0);
    cr_assert_eq(ha + hf, 2, "the job runs on h2 now");
}

/* Schema 13: the hint is asked at every first contact with a host, so
 * it is found through indexes, never by a scan of the lab's history. */
Test(store, what_a_host_has_is_looked_up_by_index)
{
    char plan[4096];
    cr_assert_eq(assay_store_host_has_plan(st, plan, sizeof plan), 0, "%s", assay_error_last()->message);
    cr_assert(strstr(plan, "jobs_by_host_agent") && strstr(plan, "attempts_by_host_agent"), "%s", plan);
    for (const char *l = plan; *l; l = strchr(l, '\n') + 1)
        cr_assert(strncmp(l, "SCAN", 4) != 0 || strncmp(l, "SCAN CONSTANT ROW\n", 18) == 0, "a table is scanned:\n%s",
                  plan);
}

/* A run of the package goes through one job and ends; its number. */
static int64_t run_ends(void)
{
    int64_t run = submit(0, 1);
    assay_job_rec *v;
    size_t n;
    cr_assert_eq(assay_store_jobs_queued(st, &v, &n), 0);
    cr_assert_eq(n, 1);
    int64_t job = v[0].id;
    free(v);
    cr_assert_eq(assay_store_job_assign(st, job, "h1"), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_store_job_end(st, job, "passed", ""), 0, "%s", assay_error_last()->message);
    return run;
}

/* The runs of hook `hook`'s deliveries, newest first, as "3,2," */
static const char *delivered_runs(char *out, size_t len, int64_t hook)
{
    cJSON *l = NULL, *d;
    cr_assert_eq(assay_store_webhook_deliveries(st, hook, NULL, &l), 0, "%s", assay_error_last()->message);
    out[0] = 0;
    cJSON_ArrayForEach(d, l)
    {
        size_t k = strlen(out);
        snprintf(out + k, len - k, "%.0f,", cJSON_GetObjectItem(d, "run")->valuedouble);
        cr_assert_str_eq(cJSON_GetObjectItem(d, "status")->valuestring, "pending");
    }
    cJSON_Delete(l);
    return out;
}

/* A run's webhook deliveries are made in the transaction that ends it, by
 * whoever ends it (here: no server at all): every way a run ends makes
 * them; a store with many runs that ended before the hook was made gets
 * exactly the new run's, and another organisation's hook hears nothing. */
Test(store, a_run_ending_makes_its_webhook_deliveries_and_only_its_own)
{
    char runs[512];
    int64_t acme, globex;
    snprintf(pkg, sizeof pkg, "%064d", 1);
    cr_assert_eq(assay_store_package_org_add(st, pkg, "acme"), 0);
    for (int i = 0; i < 150; i++)
        run_ends();
    cr_assert_eq(assay_store_webhook_add(st, "acme", "http://127.0.0.1:9/a", "whsec_a", &acme), 0);
    cr_assert_eq(assay_store_webhook_add(st, "globex", "http://127.0.0.1:9/g", "whsec_g", &globex), 0);
    cr_assert_str_eq(delivered_runs(runs, sizeof runs, acme), "", "runs that ended before the hook are not sent");

    int64_t run = run_ends();
    cr_assert_eq(run, 151);
    cr_assert_str_eq(delivered_runs(runs, sizeof runs, acme), "151,", "only the run that ended now");
    /* A run canceled before it started ends at once; one with nothing to
     * run ends as it is submitted. */
    int64_t canceled = submit(0, 1);
    cr_assert_str_eq(delivered_runs(runs, sizeof runs, acme), "151,", "a run that has not ended");
    cr_assert_eq(assay_store_run_cancel(st, canceled, 0), 0);
    const char *gap[] = {"no artifact for this target"};
    char *profs[] = {"a"};
    int64_t empty;
    cr_assert_eq(assay_store_run_submit(st, pkg, profs, 1, 0, 0, gap, &empty), 0, "%s", assay_error_last()->message);
    cr_assert_str_eq(delivered_runs(runs, sizeof runs, acme), "153,152,151,");
    cr_assert_str_eq(delivered_runs(runs, sizeof runs, globex), "", "not globex's package");
}

/* The next delivery to try: due ones only, round robin over hooks (the
 * one after the hook served last, wrapping around), never of a hook a
 * sender holds, and of a hook the soonest due. */
Test(store, webhook_deliveries_are_taken_round_robin_over_hooks)
{
    int64_t h[3];
    cJSON *d = NULL;
    snprintf(pkg, sizeof pkg, "%064d", 1);
    cr_assert_eq(assay_store_package_org_add(st, pkg, "acme"), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(assay_store_webhook_add(st, "acme", "http://127.0.0.1:9/a", "whsec_a", &h[i]), 0);
    int64_t r1 = run_ends(), r2 = run_ends();
    (void)r1;
    int64_t now = (int64_t)time(NULL);
    cr_assert_eq(assay_store_webhook_next(st, now, 0, "[]", &d), 0);
    cr_assert_not_null(d);
    cr_assert_eq(cJSON_GetObjectItem(d, "webhook")->valuedouble, (double)h[0]);
    cr_assert_eq(cJSON_GetObjectItem(d, "run")->valuedouble, 1.0, "the soonest of the hook");
    cr_assert_str_eq(cJSON_GetObjectItem(d, "secret")->valuestring, "whsec_a");
    /* Its try failed: due again only later. */
    cr_assert_eq(assay_store_webhook_delivery_set(st, cJSON_GetObjectItem(d, "id")->valuestring, "pending", 1, now + 60,
                                                  500, "HTTP 500"),
                 0);
    cJSON_Delete(d);
    cr_assert_eq(assay_store_webhook_next(st, now, h[0], "[]", &d), 0);
    cr_assert_eq(cJSON_GetObjectItem(d, "webhook")->valuedouble, (double)h[1], "the hook after the last");
    cJSON_Delete(d);
    cr_assert_eq(assay_store_webhook_next(st, now, h[2], "[]", &d), 0);
    cr_assert_eq(cJSON_GetObjectItem(d, "webhook")->valuedouble, (double)h[0], "wrapping around");
    cr_assert_eq(cJSON_GetObjectItem(d, "run")->valuedouble, (double)r2, "its first run's try is not due");
    cJSON_Delete(d);
    char busy[64];
    snprintf(busy, sizeof busy, "[%lld,%lld]", (long long)h[0], (long long)h[1]);
    cr_assert_eq(assay_store_webhook_next(st, now, h[2], busy, &d), 0);
    cr_assert_eq(cJSON_GetObjectItem(d, "webhook")->valuedouble, (double)h[2], "the busy hooks are skipped");
    cJSON_Delete(d);
    snprintf(busy, sizeof busy, "[%lld,%lld,%lld]", (long long)h[0], (long long)h[1], (long long)h[2]);
    cr_assert_eq(assay_store_webhook_next(st, now, 0, busy, &d), 0);
    cr_assert_null(d, "every hook is busy");
    cr_assert_eq(assay_store_webhook_next(st, now - 3600, 0, "[]", &d), 0);
    cr_assert_null(d, "nothing is due an hour ago");
}

/* Schema 14: runs that ended in an older store while no server ran (so
 * no delivery was made for them) get theirs when the store is migrated. */
Test(store, runs_that_ended_before_schema_14_get_their_deliveries)
{
    int64_t hook;
    char runs[64];
    snprintf(pkg, sizeof pkg, "%064d", 1);
    cr_assert_eq(assay_store_package_org_add(st, pkg, "acme"), 0);
    cr_assert_eq(assay_store_webhook_add(st, "acme", "http://127.0.0.1:9/a", "whsec_a", &hook), 0);
    run_ends();
    run_ends();
    as_older_assay_left_it("DELETE FROM webhook_deliveries; PRAGMA user_version = 13;");
    cr_assert_str_eq(delivered_runs(runs, sizeof runs, hook), "2,1,");
}

/* Neither the statement that makes a run's deliveries nor the one that
 * takes the next reads the lab's history: every table is reached through
 * an index (the busy hooks' list, json_each of a few ids, is no table). */
Test(store, the_webhook_queries_read_no_history)
{
    char plan[8192];
    cr_assert_eq(assay_store_webhook_plans(st, plan, sizeof plan), 0, "%s", assay_error_last()->message);
    cr_assert(strstr(plan, "webhook_deliveries_due"), "%s", plan);
    for (const char *l = plan; *l; l = strchr(l, '\n') + 1)
        cr_assert(strncmp(l, "SCAN", 4) != 0 || strncmp(l, "SCAN json_each VIRTUAL TABLE", 28) == 0,
                  "a table is scanned:\n%s", plan);
}

/* Open descriptors of this process. */
static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* A blob's bytes: written, fsynced and renamed in when new, the writer's
 * descriptor closed either way; one that exists already is kept and its
 * time made now (gc's grace spares it until a row names it). */
Test(store, blobs_are_closed_and_an_existing_one_is_touched)
{
    char root[300], path[400], hex[ASSAY_SHA256_HEX], text[32];
    snprintf(root, sizeof root, "%s/blobs", dir);
    mkdir(root, 0755);
    int before = open_fds();
    for (int i = 0; i < 20; i++) {
        assay_blob_writer *w;
        snprintf(text, sizeof text, "log %d", i % 10); /* ten new, then the same ten again */
        cr_assert_eq(assay_blob_writer_open(&w, root), 0, "%s", assay_error_last()->message);
        cr_assert_eq(assay_blob_writer_write(w, text, strlen(text)), 0);
        cr_assert_eq(assay_blob_writer_commit(w, hex, NULL), 0, "%s", assay_error_last()->message);
    }
    cr_assert_eq(open_fds(), before, "every writer's descriptor is closed");
    cr_assert_eq(assay_blob_path(path, sizeof path, root, hex), 0);
    struct timespec old[2] = {{1000000, 0}, {1000000, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, path, old, 0), 0);
    assay_blob_writer *w;
    cr_assert_eq(assay_blob_writer_open(&w, root), 0);
    cr_assert_eq(assay_blob_writer_write(w, text, strlen(text)), 0);
    cr_assert_eq(assay_blob_writer_commit(w, NULL, NULL), 0);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_gt(sb.st_mtime, time(NULL) - 3600, "the existing blob's time is made now");
    char *got = th_slurp(path, NULL);
    cr_assert_str_eq(got, text);
    free(got);
}

static void put_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* A file the caller gives away is moved into the store, not copied: gone
 * from where it was, whole under its digest; a file with a second name (a
 * writer could change it after the digest) or a symbolic link is refused,
 * and one over the cap; nothing is left in the staging either way. */
Test(store, a_file_taken_is_moved_in_and_a_linked_one_refused)
{
    char root[300], stage[400], src[400], other[400], path[400], hex[ASSAY_SHA256_HEX], want[ASSAY_SHA256_HEX];
    snprintf(root, sizeof root, "%s/blobs", dir);
    mkdir(root, 0755);
    int lock;
    cr_assert_eq(assay_blob_stagedir(stage, sizeof stage, &lock, root, "add"), 0, "%s", assay_error_last()->message);
    size_t n = 3u << 20; /* more than one read's buffer */
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7 + i / 4093);
    assay_sha256_hex(want, data, n);
    snprintf(src, sizeof src, "%s/upload", dir);
    snprintf(other, sizeof other, "%s/upload-2", dir);
    put_file(src, data, n);
    int before = open_fds();
    struct stat was, now;
    cr_assert_eq(stat(src, &was), 0);

    assay_blob_writer *w;
    uint64_t size;
    cr_assert_eq(assay_blob_stage_take(&w, root, stage, src, n, hex, &size), 0, "%s", assay_error_last()->message);
    cr_assert_str_eq(hex, want);
    cr_assert_eq(size, n);
    cr_assert_eq(access(src, F_OK), -1, "the file is still where it was");
    cr_assert_eq(assay_blob_writer_commit(w, NULL, NULL), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_blob_path(path, sizeof path, root, want), 0);
    cr_assert_eq(stat(path, &now), 0);
    cr_assert(now.st_ino == was.st_ino && now.st_dev == was.st_dev, "the blob is the file moved, not a copy");
    size_t got_n;
    char *got = th_slurp(path, &got_n);
    cr_assert(got_n == n && !memcmp(got, data, n), "the blob is the file, whole");
    free(got);

    put_file(src, data, n); /* a second name: refused */
    cr_assert_eq(link(src, other), 0);
    cr_assert_eq(assay_blob_stage_take(&w, root, stage, src, n, hex, &size), ASSAY_EINVAL);
    cr_assert(strstr(assay_error_last()->message, "not a file of its own"), "%s", assay_error_last()->message);
    unlink(other);
    cr_assert_eq(symlink(path, src), 0); /* a symbolic link: refused */
    cr_assert_eq(assay_blob_stage_take(&w, root, stage, src, n, hex, &size), ASSAY_EINVAL);
    put_file(src, data, n); /* still open for writing somewhere: refused */
    int wfd = open(src, O_WRONLY | O_CLOEXEC);
    cr_assert_geq(wfd, 0);
    cr_assert_eq(assay_blob_stage_take(&w, root, stage, src, n, hex, &size), ASSAY_EINVAL);
    cr_assert(strstr(assay_error_last()->message, "still open for writing"), "%s", assay_error_last()->message);
    close(wfd);
    put_file(src, data, n); /* over the cap */
    cr_assert_eq(assay_blob_stage_take(&w, root, stage, src, n - 1, hex, &size), ASSAY_ETOOBIG);
    cr_assert_eq(open_fds(), before, "every descriptor is closed");
    DIR *d = opendir(stage);
    struct dirent *de;
    int left = 0;
    while ((de = readdir(d)))
        left += de->d_name[0] != '.';
    closedir(d);
    cr_assert_eq(left, 0, "nothing is left in the staging");
    assay_blob_unstage(stage, lock);
    free(data);
}
