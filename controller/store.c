/* The SQLite store; see store.h. */
#include "store.h"
#include "assay/error.h"
#include "assay/proto.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct assay_store {
    sqlite3 *db;
};

/* Schema versions, applied in order inside one transaction each. A store
 * made by an older assay is brought forward; one made by a newer assay is
 * refused rather than misread. */
static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE packages ("
    "  id TEXT PRIMARY KEY, file_name TEXT NOT NULL, size INTEGER NOT NULL,"
    "  product TEXT NOT NULL, version TEXT NOT NULL, vendor TEXT NOT NULL,"
    "  manifest TEXT NOT NULL, preflight TEXT, added_at TEXT NOT NULL);"
    "CREATE TABLE artifacts ("
    "  package_id TEXT NOT NULL REFERENCES packages(id), name TEXT NOT NULL,"
    "  arch TEXT NOT NULL, abi TEXT NOT NULL, format TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (package_id, name));"
    "CREATE TABLE hosts ("
    "  name TEXT PRIMARY KEY, profile TEXT NOT NULL, address TEXT NOT NULL, port INTEGER NOT NULL,"
    "  user TEXT NOT NULL, identity TEXT NOT NULL, hostkey TEXT NOT NULL, tofu INTEGER NOT NULL,"
    "  launcher TEXT NOT NULL, agent_root TEXT NOT NULL, disabled TEXT NOT NULL DEFAULT '',"
    "  added_at TEXT NOT NULL);"
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY, package_id TEXT NOT NULL REFERENCES packages(id),"
    "  priority INTEGER NOT NULL, state TEXT NOT NULL, submitted_at TEXT NOT NULL,"
    "  finished_at TEXT);"
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  profile TEXT NOT NULL, state TEXT NOT NULL, host TEXT NOT NULL DEFAULT '',"
    "  attempt INTEGER NOT NULL DEFAULT 1, last_seq INTEGER NOT NULL DEFAULT -1,"
    "  outcome TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',"
    "  cancel INTEGER NOT NULL DEFAULT 0, started_at TEXT NOT NULL DEFAULT '',"
    "  ended_at TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX jobs_by_state ON jobs (state);"
    "CREATE TABLE attempts ("
    "  job_id INTEGER NOT NULL REFERENCES jobs(id), attempt INTEGER NOT NULL, host TEXT NOT NULL,"
    "  outcome TEXT NOT NULL, reason TEXT NOT NULL, ended_at TEXT NOT NULL,"
    "  PRIMARY KEY (job_id, attempt));"
    "CREATE TABLE events ("
    "  job_id INTEGER NOT NULL REFERENCES jobs(id), attempt INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  type TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (job_id, attempt, seq));"
    "CREATE TABLE logs ("
    "  job_id INTEGER NOT NULL REFERENCES jobs(id), attempt INTEGER NOT NULL, path TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (job_id, attempt, path));",
    /* 2: the agent binary that ran each attempt, for the report */
    "ALTER TABLE attempts ADD COLUMN agent_sha256 TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE jobs ADD COLUMN agent_sha256 TEXT NOT NULL DEFAULT '';",
    /* 3: a run may stop a target early on preflight errors */
    "ALTER TABLE runs ADD COLUMN stop_on_preflight INTEGER NOT NULL DEFAULT 0;",
    /* 4: a host is reset between jobs of different packages. Per host: its
     * reset command, the job that last went to it and that job's package,
     * and whether that job left it clean. Per attempt: whether the host was
     * reset first (1), should have been but had no reset command (0), or
     * needed none (NULL). Hosts of an older store that ran jobs are taken
     * as not clean: nothing says what those jobs left. */
    "ALTER TABLE hosts ADD COLUMN reset TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE hosts ADD COLUMN last_job INTEGER;"
    "ALTER TABLE hosts ADD COLUMN last_package TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE hosts ADD COLUMN clean INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE jobs ADD COLUMN host_reset INTEGER;"
    "ALTER TABLE attempts ADD COLUMN host_reset INTEGER;"
    "UPDATE hosts SET last_job = (SELECT a.job_id FROM attempts a WHERE a.host = hosts.name "
    "  ORDER BY a.ended_at DESC, a.job_id DESC LIMIT 1);"
    "UPDATE hosts SET last_job = (SELECT max(j.id) FROM jobs j WHERE j.host = hosts.name AND j.last_seq >= 0) "
    "  WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.host = hosts.name AND j.last_seq >= 0);"
    "UPDATE hosts SET clean = 0, last_package = (SELECT r.package_id FROM jobs j JOIN runs r ON r.id = j.run_id "
    "  WHERE j.id = hosts.last_job) WHERE last_job IS NOT NULL;",
    /* 5: per host, the unprivileged account its tests and benchmarks run as */
    "ALTER TABLE hosts ADD COLUMN run_user TEXT NOT NULL DEFAULT 'assay-run';",
    /* 6: one active job per host, whatever a dispatcher believes: a job
     * assigned to a busy host is refused by the store itself. An older
     * store that holds two (the bug this closes) keeps the newest on the
     * host and queues the others again. */
    "UPDATE jobs SET state = 'queued', host = '', attempt = attempt + 1, last_seq = -1, host_reset = NULL "
    "  WHERE state IN ('assigned','running') AND id NOT IN "
    "  (SELECT max(id) FROM jobs WHERE state IN ('assigned','running') GROUP BY host);"
    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_active_per_host ON jobs(host) WHERE state IN ('assigned','running');",
    /* 7: host care. drained: maintenance, no new job (`host drain`);
     * failures: infrastructure failures in a row (failed-over attempts,
     * failed health checks), back to 0 on a check or a job that ends well;
     * quarantined: why the dispatcher stopped using the host after too many
     * (`host resume` lifts both); last_error: the last failure's message. */
    "ALTER TABLE hosts ADD COLUMN drained INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE hosts ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE hosts ADD COLUMN quarantined TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE hosts ADD COLUMN last_error TEXT NOT NULL DEFAULT '';",
    /* 8: accounts of `assay serve`: users with a role (and a vendor's
     * organisation), their API tokens stored only as SHA-256 hashes, and
     * which organisations uploaded each package (a vendor sees a package
     * only if its organisation uploaded those exact bytes). */
    "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL CHECK (role IN ('admin','engineer','vendor')),"
    "  org TEXT NOT NULL DEFAULT '', disabled INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,"
    "  password TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name),"
    "  created_at TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS tokens_user ON tokens(user);"
    "CREATE TABLE IF NOT EXISTS package_orgs (package_id TEXT NOT NULL, org TEXT NOT NULL, PRIMARY KEY (package_id, org));"
    /* web logins: users.password is an Argon2id hash ('': none);
     * sessions by the SHA-256 of their cookie, with their CSRF token */
    "CREATE TABLE IF NOT EXISTS sessions (hash TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name),"
    "  csrf TEXT NOT NULL, expires INTEGER NOT NULL);",
    /* 9: webhooks of an organisation (docs/api.md#webhooks): where a
     * run's end is posted and the HMAC key it is signed with (kept as is:
     * signing needs it), and every delivery: one per hook and ended run,
     * its status, attempts, when it is tried next (Unix seconds), the last
     * answer's status and what went wrong (a capped excerpt). */
    "CREATE TABLE IF NOT EXISTS webhooks (id INTEGER PRIMARY KEY, org TEXT NOT NULL, url TEXT NOT NULL,"
    "  secret TEXT NOT NULL, created_at TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS webhooks_org ON webhooks(org);"
    "CREATE TABLE IF NOT EXISTS webhook_deliveries (id TEXT PRIMARY KEY, webhook_id INTEGER NOT NULL,"
    "  run_id INTEGER NOT NULL, status TEXT NOT NULL CHECK (status IN ('pending','delivered','failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0, next_try INTEGER NOT NULL, last_status INTEGER,"
    "  last_error TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, delivered_at TEXT,"
    "  UNIQUE (webhook_id, run_id));"
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(status, next_try);",
    /* 10: job directories on hosts, removed after the lab's retention
     * (hosts.job_retention_days). host_dir: the attempt's directory on its
     * host, set only when the attempt ended with its events and logs in
     * the store ('' otherwise: an attempt failed over or stopped keeps the
     * only copy of its logs, and older stores' attempts are left alone);
     * dir_removed: when it was removed; dir_tries and dir_error: removals
     * that failed, given up after a few so none is retried forever. */
    "ALTER TABLE attempts ADD COLUMN host_dir TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE attempts ADD COLUMN dir_removed TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE attempts ADD COLUMN dir_tries INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE attempts ADD COLUMN dir_error TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX IF NOT EXISTS attempts_dirs ON attempts (host) WHERE host_dir != '' AND dir_removed = '';",
    /* 11: the public certificate registry (docs/portal.md): a run's report
     * published by staff, with what a buyer searches by, taken from the
     * signed statement at publication (cpus and oses as ",a,b," lists) */
    "CREATE TABLE IF NOT EXISTS published (run_id INTEGER PRIMARY KEY REFERENCES runs(id),"
    "  product TEXT NOT NULL, version TEXT NOT NULL, vendor TEXT NOT NULL, cpus TEXT NOT NULL, oses TEXT NOT NULL,"
    "  conclusion TEXT NOT NULL, report_number TEXT NOT NULL, report_date TEXT NOT NULL,"
    "  published_by TEXT NOT NULL, published_at TEXT NOT NULL);",
    /* 12: what the registry serves is what was published: the signed
     * report (the DSSE envelope's exact text) made at publication, and who
     * submitted the package (the organisations that uploaded it, as
     * ",a,b,"), beside the vendor its manifest claims. Entries published
     * before keep envelope '' until they are published again. */
    "ALTER TABLE published ADD COLUMN envelope TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE published ADD COLUMN submitted_by TEXT NOT NULL DEFAULT ',';",
    /* 13: what the lab's records say a host has (assay_store_host_has, at
     * each first contact of a job with a host) is looked up by host, not
     * by a scan of every job and attempt the lab ever ran. */
    "CREATE INDEX IF NOT EXISTS jobs_by_host_agent ON jobs (host, agent_sha256);"
    "CREATE INDEX IF NOT EXISTS attempts_by_host_agent ON attempts (host, agent_sha256);",
    /* 14: a run's webhook deliveries are made in the transaction that ends
     * it (hooks_hear), no longer by assay serve scanning every ended run;
     * the runs that ended before, while no server ran, get theirs now. */
    "INSERT OR IGNORE INTO webhook_deliveries (id, webhook_id, run_id, status, attempts, next_try, created_at) "
    "  SELECT lower(hex(randomblob(16))), w.id, r.id, 'pending', 0, CAST(strftime('%s', 'now') AS INTEGER), "
    "  strftime('%Y-%m-%dT%H:%M:%SZ', 'now') FROM runs r JOIN package_orgs po ON po.package_id = r.package_id "
    "  JOIN webhooks w ON w.org = po.org WHERE r.state IN ('done','canceled') AND r.finished_at >= w.created_at;",
    /* 15: when the controller read each event off its host's channel (ms
     * since the epoch, the controller's clock; NULL before): with the
     * agent's ts it splits an event's latency into the host's and the
     * loop's (bench/serve-load.sh), and shows a host's clock skew. */
    "ALTER TABLE events ADD COLUMN received_ms INTEGER;",
};

static void now_utc(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int db_error(assay_store *st, const char *what)
{
    int code = sqlite3_errcode(st->db);
    return assay_error_set(code == SQLITE_BUSY || code == SQLITE_LOCKED ? ASSAY_ETIMEOUT : ASSAY_EIO,
                           "store: %s: %s", what, sqlite3_errmsg(st->db));
}

static int exec(assay_store *st, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        int rc = assay_error_set(ASSAY_EIO, "store: %s", err ? err : sqlite3_errmsg(st->db));
        sqlite3_free(err);
        return rc;
    }
    return 0;
}

static int prepare(assay_store *st, sqlite3_stmt **s, const char *sql)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK)
        return db_error(st, "prepare");
    return 0;
}

/* Step a statement that returns no rows. */
static int step_done(assay_store *st, sqlite3_stmt *s, const char *what)
{
    return sqlite3_step(s) == SQLITE_DONE ? 0 : db_error(st, what);
}

/* Bind text arguments 1..n. */
static int bind_texts(sqlite3_stmt *s, int n, const char *const *v)
{
    for (int i = 0; i < n; i++)
        if (sqlite3_bind_text(s, i + 1, v[i], -1, SQLITE_TRANSIENT) != SQLITE_OK)
            return -1;
    return 0;
}

static void copy_col(char *dst, size_t len, sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(dst, len, "%s", t ? (const char *)t : "");
}

/* Step a prepared query to its end, turning each row into an element of
 * `size` bytes with `row`; *out is a malloc'd array of *n elements. */
static int collect(assay_store *st, sqlite3_stmt *s, size_t size, void (*row)(sqlite3_stmt *, void *),
                   void **out, size_t *n, const char *what)
{
    char *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char *nv = realloc(v, nc * size);
            if (!nv) {
                free(v);
                sqlite3_finalize(s);
                return assay_error_set(ASSAY_ENOMEM, "out of memory");
            }
            v = nv;
            cap = nc;
        }
        memset(v + cnt * size, 0, size);
        row(s, v + cnt * size);
        cnt++;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(v);
        return db_error(st, what);
    }
    *out = v;
    *n = cnt;
    return 0;
}

int assay_store_data_version(assay_store *st, int64_t *v)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "PRAGMA data_version");
    if (rc < 0)
        return rc;
    rc = sqlite3_step(s) == SQLITE_ROW ? 0 : db_error(st, "data_version");
    if (rc == 0)
        *v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc;
}

int assay_store_autocheckpoint(assay_store *st, int pages)
{
    return sqlite3_wal_autocheckpoint(st->db, pages) == SQLITE_OK ? 0 : db_error(st, "wal_autocheckpoint");
}

void assay_store_set_busy_ms(assay_store *st, int ms)
{
    sqlite3_busy_timeout(st->db, ms);
}

int assay_store_checkpoint(assay_store *st, int truncate)
{
    int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE,
                                       NULL, NULL);
    return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : db_error(st, "checkpoint");
}

int assay_store_begin(assay_store *st)
{
    return exec(st, "BEGIN IMMEDIATE");
}

int assay_store_commit(assay_store *st)
{
    return exec(st, "COMMIT");
}

void assay_store_rollback(assay_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

static int migrate(assay_store *st)
{
    sqlite3_stmt *s;
    int version = 0, rc;
    if ((rc = prepare(st, &s, "PRAGMA user_version")) < 0)
        return rc;
    if (sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    int latest = (int)(sizeof migrations / sizeof migrations[0]);
    if (version > latest)
        return assay_error_set(ASSAY_ESTATE, "store: schema version %d is newer than this assay (%d)",
                               version, latest);
    for (int v = version; v < latest; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if ((rc = assay_store_begin(st)) < 0)
            return rc;
        if ((rc = exec(st, migrations[v])) < 0 || (rc = exec(st, pragma)) < 0) {
            assay_store_rollback(st);
            return assay_error_wrap("store: migrating to schema %d", v + 1);
        }
        if ((rc = assay_store_commit(st)) < 0)
            return rc;
    }
    return 0;
}

int assay_store_open(assay_store **out, const char *labdir, int create)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/assay.db", labdir);
    assay_store *st = calloc(1, sizeof *st);
    if (!st)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        int rc = assay_error_set(create ? ASSAY_EIO : ASSAY_ENOTFOUND, "no lab at %s (%s): run 'assay init'",
                                 labdir, st->db ? sqlite3_errmsg(st->db) : "out of memory");
        sqlite3_close(st->db);
        free(st);
        return rc;
    }
    sqlite3_busy_timeout(st->db, 10000);
    int rc = exec(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;");
    if (rc == 0)
        rc = migrate(st);
    if (rc < 0) {
        assay_store_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void assay_store_close(assay_store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    free(st);
}

int assay_store_meta_get(assay_store *st, const char *key, char *out, size_t outlen)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT value FROM meta WHERE key = ?");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        copy_col(out, outlen, s, 0);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? assay_error_set(ASSAY_ENOTFOUND, "setting %s is not set", key)
                               : db_error(st, "meta");
    }
    sqlite3_finalize(s);
    return rc;
}

int assay_store_meta_set(assay_store *st, const char *key, const char *value)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "INSERT INTO meta (key, value) VALUES (?, ?) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (rc < 0)
        return rc;
    const char *v[] = {key, value};
    bind_texts(s, 2, v);
    rc = step_done(st, s, "meta");
    sqlite3_finalize(s);
    return rc;
}

/* ---- packages ------------------------------------------------------------ */

int assay_store_package_add(assay_store *st, const assay_package_rec *p, const char *manifest,
                            const assay_artifact_rec *arts, size_t n, const char *preflight)
{
    sqlite3_stmt *s = NULL;
    char now[32];
    int rc = assay_store_begin(st);
    if (rc < 0)
        return rc;
    now_utc(now);
    if ((rc = prepare(st, &s, "INSERT INTO packages (id, file_name, size, product, version, vendor, "
                              "manifest, added_at, preflight) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) < 0)
        goto fail;
    sqlite3_bind_text(s, 1, p->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, p->file_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)p->size);
    sqlite3_bind_text(s, 4, p->product, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, p->version, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 6, p->vendor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 7, manifest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 8, now, -1, SQLITE_TRANSIENT);
    if (preflight)
        sqlite3_bind_text(s, 9, preflight, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, 9);
    rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT) {
        rc = assay_error_set(ASSAY_EEXISTS, "package %.12s exists", p->id);
        goto fail;
    }
    if (rc != SQLITE_DONE) {
        rc = db_error(st, "add package");
        goto fail;
    }
    sqlite3_finalize(s);
    if ((rc = prepare(st, &s, "INSERT INTO artifacts (package_id, name, arch, abi, format, sha256, size) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?)")) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(s);
        const char *v[] = {p->id, arts[i].name, arts[i].arch, arts[i].abi, arts[i].format, arts[i].sha256};
        bind_texts(s, 6, v);
        sqlite3_bind_int64(s, 7, (sqlite3_int64)arts[i].size);
        if ((rc = step_done(st, s, "add artifact")) < 0)
            goto fail;
    }
    sqlite3_finalize(s);
    return assay_store_commit(st);
fail:
    sqlite3_finalize(s);
    assay_store_rollback(st);
    return rc;
}

static void package_row(sqlite3_stmt *s, assay_package_rec *p)
{
    copy_col(p->id, sizeof p->id, s, 0);
    copy_col(p->file_name, sizeof p->file_name, s, 1);
    p->size = (uint64_t)sqlite3_column_int64(s, 2);
    copy_col(p->product, sizeof p->product, s, 3);
    copy_col(p->version, sizeof p->version, s, 4);
    copy_col(p->vendor, sizeof p->vendor, s, 5);
    copy_col(p->added_at, sizeof p->added_at, s, 6);
}

int assay_store_package_get(assay_store *st, const char *id, assay_package_rec *p, char **manifest)
{
    sqlite3_stmt *s;
    size_t n = strlen(id);
    if (n < 8 || n > 64 || strspn(id, "0123456789abcdef") != n)
        return assay_error_set(ASSAY_EINVAL, "package id '%s': give at least 8 hex digits", id);
    int rc = prepare(st, &s, "SELECT id, file_name, size, product, version, vendor, added_at, manifest "
                             "FROM packages WHERE substr(id, 1, ?) = ? LIMIT 2");
    if (rc < 0)
        return rc;
    sqlite3_bind_int(s, 1, (int)n);
    sqlite3_bind_text(s, 2, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return rc == SQLITE_DONE ? assay_error_set(ASSAY_ENOTFOUND, "no package %s", id)
                                 : db_error(st, "package");
    }
    package_row(s, p);
    if (manifest) {
        const unsigned char *m = sqlite3_column_text(s, 7);
        *manifest = strdup(m ? (const char *)m : "");
    }
    if (sqlite3_step(s) == SQLITE_ROW) {
        sqlite3_finalize(s);
        if (manifest) {
            free(*manifest);
            *manifest = NULL;
        }
        return assay_error_set(ASSAY_EINVAL, "package id '%s' is ambiguous: give more digits", id);
    }
    sqlite3_finalize(s);
    return 0;
}

static void artifact_row(sqlite3_stmt *s, void *dst)
{
    assay_artifact_rec *a = dst;
    copy_col(a->name, sizeof a->name, s, 0);
    copy_col(a->arch, sizeof a->arch, s, 1);
    copy_col(a->abi, sizeof a->abi, s, 2);
    copy_col(a->format, sizeof a->format, s, 3);
    copy_col(a->sha256, sizeof a->sha256, s, 4);
    a->size = (uint64_t)sqlite3_column_int64(s, 5);
}

int assay_store_artifacts(assay_store *st, const char *package_id, assay_artifact_rec **out, size_t *n)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT name, arch, abi, format, sha256, size FROM artifacts "
                             "WHERE package_id = ? ORDER BY name");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, package_id, -1, SQLITE_TRANSIENT);
    return collect(st, s, sizeof **out, artifact_row, (void **)out, n, "artifacts");
}

/* Run a query whose rows become JSON objects keyed by column name; integer
 * columns stay numbers (ids, sizes fit in a double here: they are counts
 * and byte sizes well below 2^53). */
static int rows_json(assay_store *st, sqlite3_stmt *s, cJSON **out)
{
    cJSON *arr = cJSON_CreateArray();
    int rc;
    if (!arr) {
        sqlite3_finalize(s);
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            break;
        }
        for (int c = 0; c < sqlite3_column_count(s); c++) {
            const char *name = sqlite3_column_name(s, c);
            switch (sqlite3_column_type(s, c)) {
            case SQLITE_INTEGER: cJSON_AddNumberToObject(o, name, (double)sqlite3_column_int64(s, c)); break;
            case SQLITE_NULL: cJSON_AddNullToObject(o, name); break;
            default: cJSON_AddStringToObject(o, name, (const char *)sqlite3_column_text(s, c)); break;
            }
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        cJSON_Delete(arr);
        return db_error(st, "query");
    }
    *out = arr;
    return 0;
}

int assay_store_package_list(assay_store *st, cJSON **out)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT id, file_name, size, product, version, vendor, added_at "
                             "FROM packages ORDER BY added_at, id");
    return rc < 0 ? rc : rows_json(st, s, out);
}

int assay_store_package_set_preflight(assay_store *st, const char *id, const char *json)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "UPDATE packages SET preflight = ? WHERE id = ?");
    if (rc < 0)
        return rc;
    const char *v[] = {json, id};
    bind_texts(s, 2, v);
    rc = step_done(st, s, "preflight");
    sqlite3_finalize(s);
    return rc;
}

/* ---- hosts --------------------------------------------------------------- */

#define HOST_COLS                                                                                  \
    "name, profile, address, port, user, identity, hostkey, tofu, launcher, agent_root, disabled, reset, " \
    "coalesce(last_job, -1), last_package, clean, run_user, drained, failures, quarantined, last_error"

static void host_row(sqlite3_stmt *s, assay_host_rec *h)
{
    copy_col(h->name, sizeof h->name, s, 0);
    copy_col(h->profile, sizeof h->profile, s, 1);
    copy_col(h->address, sizeof h->address, s, 2);
    h->port = sqlite3_column_int(s, 3);
    copy_col(h->user, sizeof h->user, s, 4);
    copy_col(h->identity, sizeof h->identity, s, 5);
    copy_col(h->hostkey, sizeof h->hostkey, s, 6);
    h->tofu = sqlite3_column_int(s, 7);
    copy_col(h->launcher, sizeof h->launcher, s, 8);
    copy_col(h->agent_root, sizeof h->agent_root, s, 9);
    copy_col(h->disabled, sizeof h->disabled, s, 10);
    copy_col(h->reset, sizeof h->reset, s, 11);
    h->last_job = sqlite3_column_int64(s, 12);
    copy_col(h->last_package, sizeof h->last_package, s, 13);
    h->clean = sqlite3_column_int(s, 14);
    copy_col(h->run_user, sizeof h->run_user, s, 15);
    h->drained = sqlite3_column_int(s, 16);
    h->failures = sqlite3_column_int(s, 17);
    copy_col(h->quarantined, sizeof h->quarantined, s, 18);
    copy_col(h->last_error, sizeof h->last_error, s, 19);
}

static void host_row_v(sqlite3_stmt *s, void *dst)
{
    host_row(s, dst);
}

int assay_store_host_add(assay_store *st, const assay_host_rec *h)
{
    sqlite3_stmt *s;
    char now[32];
    now_utc(now);
    int rc = prepare(st, &s, "INSERT INTO hosts (name, profile, address, port, user, identity, hostkey, tofu, "
                             "launcher, agent_root, disabled, added_at, reset, last_job, last_package, clean, run_user, "
                             "drained, failures, quarantined, last_error) "
                             "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (rc < 0)
        return rc;
    const char *v[] = {h->name, h->profile, h->address};
    bind_texts(s, 3, v);
    sqlite3_bind_int(s, 4, h->port);
    const char *w[] = {h->user, h->identity, h->hostkey};
    for (int i = 0; i < 3; i++)
        sqlite3_bind_text(s, 5 + i, w[i], -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 8, h->tofu);
    sqlite3_bind_text(s, 9, h->launcher, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 10, h->agent_root, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 11, h->disabled, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 12, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 13, h->reset, -1, SQLITE_TRANSIENT);
    if (h->last_job > 0)
        sqlite3_bind_int64(s, 14, h->last_job);
    else
        sqlite3_bind_null(s, 14);
    sqlite3_bind_text(s, 15, h->last_package, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 16, h->last_job > 0 ? h->clean : 1);
    sqlite3_bind_text(s, 17, h->run_user[0] ? h->run_user : ASSAY_RUN_USER_DEFAULT, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 18, h->drained);
    sqlite3_bind_int(s, 19, h->failures);
    sqlite3_bind_text(s, 20, h->quarantined, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 21, h->last_error, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    rc = rc == SQLITE_DONE ? 0
         : rc == SQLITE_CONSTRAINT ? assay_error_set(ASSAY_EEXISTS, "host %s exists", h->name)
                                   : db_error(st, "add host");
    sqlite3_finalize(s);
    return rc;
}

int assay_store_host_get(assay_store *st, const char *name, assay_host_rec *h)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT " HOST_COLS " FROM hosts WHERE name = ?");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        host_row(s, h);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? assay_error_set(ASSAY_ENOTFOUND, "no host %s", name) : db_error(st, "host");
    }
    sqlite3_finalize(s);
    return rc;
}

static int exec_changes(assay_store *st, const char *sql, int nargs, const char *const *args,
                        const char *what, const char *name)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, sql);
    if (rc < 0)
        return rc;
    bind_texts(s, nargs, args);
    rc = step_done(st, s, what);
    sqlite3_finalize(s);
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = assay_error_set(ASSAY_ENOTFOUND, "no %s %s", what, name);
    return rc;
}

int assay_store_host_remove(assay_store *st, const char *name)
{
    const char *a[] = {name};
    /* A host with work on it stays until the work is done. */
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT count(*) FROM jobs WHERE host = ? AND state IN ('assigned','running')");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    int busy = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_finalize(s);
    if (busy)
        return assay_error_set(ASSAY_ESTATE, "host %s has %d job(s) in progress", name, busy);
    return exec_changes(st, "DELETE FROM hosts WHERE name = ?", 1, a, "host", name);
}

int assay_store_hosts(assay_store *st, assay_host_rec **out, size_t *n)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT " HOST_COLS " FROM hosts ORDER BY name");
    if (rc < 0)
        return rc;
    return collect(st, s, sizeof **out, host_row_v, (void **)out, n, "hosts");
}

int assay_store_host_set_key(assay_store *st, const char *name, const char *fingerprint)
{
    const char *a[] = {fingerprint, name};
    return exec_changes(st, "UPDATE hosts SET hostkey = ? WHERE name = ?", 2, a, "host", name);
}

int assay_store_host_disable(assay_store *st, const char *name, const char *why)
{
    const char *a[] = {why, name};
    return exec_changes(st, "UPDATE hosts SET disabled = ? WHERE name = ?", 2, a, "host", name);
}

int assay_store_host_drain(assay_store *st, const char *name)
{
    const char *a[] = {name};
    return exec_changes(st, "UPDATE hosts SET drained = 1 WHERE name = ?", 1, a, "host", name);
}

int assay_store_host_resume(assay_store *st, const char *name)
{
    const char *a[] = {name};
    return exec_changes(st, "UPDATE hosts SET drained = 0, failures = 0, quarantined = '' WHERE name = ?", 1, a,
                        "host", name);
}

int assay_store_host_health(assay_store *st, const char *name, const char *error, int quarantine_after,
                            int *quarantined)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s,
                     error ? "UPDATE hosts SET failures = failures + 1, last_error = ?2, "
                             "  quarantined = CASE WHEN quarantined = '' AND failures + 1 >= ?3 THEN ?2 "
                             "  ELSE quarantined END WHERE name = ?1 RETURNING failures, quarantined"
                           : "UPDATE hosts SET failures = 0 WHERE name = ?1 RETURNING failures, quarantined");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    if (error) {
        sqlite3_bind_text(s, 2, error, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 3, quarantine_after);
    }
    int q = 0;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        q = sqlite3_column_text(s, 1) && sqlite3_column_text(s, 1)[0];
        rc = sqlite3_step(s);
    }
    rc = rc == SQLITE_DONE ? 0 : db_error(st, "host health");
    sqlite3_finalize(s);
    if (rc == 0 && quarantined)
        *quarantined = q;
    return rc;
}

/* The deliveries of run `run` to its organisations' hooks, if it has
 * ended (docs/api.md#webhooks): in the transaction that ends it, so a run
 * that ends while no server runs is delivered when one starts, and no
 * server ever scans the runs' history. A hook hears of the runs that end
 * after it was made, of packages its organisation uploaded; one delivery
 * each, however often this runs. Inside the caller's transaction. */
#define HOOKS_HEAR_SQL                                                                                      \
    "INSERT OR IGNORE INTO webhook_deliveries (id, webhook_id, run_id, status, attempts, next_try, "         \
    "created_at) SELECT lower(hex(randomblob(16))), w.id, r.id, 'pending', 0, ?1, ?2 "                       \
    "FROM runs r JOIN package_orgs po ON po.package_id = r.package_id "                                      \
    "JOIN webhooks w ON w.org = po.org "                                                                     \
    "WHERE r.id = ?3 AND r.state IN ('done','canceled') AND r.finished_at >= w.created_at"
static int hooks_hear(assay_store *st, int64_t run)
{
    sqlite3_stmt *s;
    char at[32];
    now_utc(at);
    int rc = prepare(st, &s, HOOKS_HEAR_SQL);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, (int64_t)time(NULL));
    sqlite3_bind_text(s, 2, at, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, run);
    rc = step_done(st, s, "webhook deliveries");
    sqlite3_finalize(s);
    return rc;
}

/* Bind and run one statement of a transaction the caller holds. */
static int run_bound(assay_store *st, const char *sql, int64_t id, const char *text, const char *what)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, sql);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    if (text)
        sqlite3_bind_text(s, 2, text, -1, SQLITE_TRANSIENT);
    rc = step_done(st, s, what);
    sqlite3_finalize(s);
    return rc;
}

/* What the store's records say a host has: a job ran agent `agent_sha`
 * there (its attempt recorded that agent), and a job of a package with
 * artifact `art_sha` started there. A hint, not a fact: a host can be
 * reinstalled; the dispatcher's RUN checks the host itself.
 *
 * Every branch starts from the host (jobs_by_host_agent,
 * attempts_by_host_agent), then follows primary keys: the cost is the
 * host's own jobs, not the lab's history (test_store.c shows the plan). */
#define HOST_HAS_SQL                                                                                        \
    "SELECT EXISTS (SELECT 1 FROM jobs WHERE host = ?1 AND agent_sha256 = ?2) OR "                          \
    "EXISTS (SELECT 1 FROM attempts WHERE host = ?1 AND agent_sha256 = ?2), "                               \
    "EXISTS (SELECT 1 FROM jobs j JOIN runs r ON r.id = j.run_id JOIN artifacts a ON "                     \
    "a.package_id = r.package_id WHERE j.host = ?1 AND j.agent_sha256 != '' AND a.sha256 = ?3) OR "        \
    "EXISTS (SELECT 1 FROM attempts t JOIN jobs j ON j.id = t.job_id JOIN runs r ON r.id = j.run_id "      \
    "JOIN artifacts a ON a.package_id = r.package_id WHERE t.host = ?1 AND t.agent_sha256 != '' AND "       \
    "j.agent_sha256 != '' AND a.sha256 = ?3)"

int assay_store_host_has(assay_store *st, const char *host, const char *agent_sha, const char *art_sha, int *agent,
                         int *art)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, HOST_HAS_SQL);
    if (rc < 0)
        return rc;
    const char *v[] = {host, agent_sha, art_sha};
    bind_texts(s, 3, v);
    rc = sqlite3_step(s) == SQLITE_ROW ? 0 : db_error(st, "host records");
    if (rc == 0) {
        *agent = sqlite3_column_int(s, 0);
        *art = sqlite3_column_int(s, 1);
    }
    sqlite3_finalize(s);
    return rc;
}

/* SQLite's plan for `sql`, one line per step, into out[len]. */
static int query_plan(assay_store *st, const char *sql, char *out, size_t len)
{
    sqlite3_stmt *s;
    char *q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
    if (!q)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    int rc = prepare(st, &s, q);
    sqlite3_free(q);
    if (rc < 0)
        return rc;
    size_t used = 0;
    out[0] = '\0';
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *d = sqlite3_column_text(s, 3);
        int n = snprintf(out + used, len - used, "%s\n", d ? (const char *)d : "");
        if (n < 0 || (size_t)n >= len - used) {
            sqlite3_finalize(s);
            return assay_error_set(ASSAY_ETOOBIG, "store: the query plan is over %zu bytes", len);
        }
        used += (size_t)n;
    }
    rc = rc == SQLITE_DONE ? 0 : db_error(st, "query plan");
    sqlite3_finalize(s);
    return rc;
}

int assay_store_host_has_plan(assay_store *st, char *out, size_t len)
{
    return query_plan(st, HOST_HAS_SQL, out, len);
}

int assay_store_host_claim(assay_store *st, const char *host, int64_t job_id)
{
    int rc = assay_store_begin(st);
    if (rc < 0)
        return rc;
    if ((rc = run_bound(st, "UPDATE hosts SET last_job = ?1, clean = 0, last_package = (SELECT r.package_id "
                            "FROM jobs j JOIN runs r ON r.id = j.run_id WHERE j.id = ?1) WHERE name = ?2",
                        job_id, host, "claim host")) < 0)
        goto fail;
    if (sqlite3_changes(st->db) == 0) {
        rc = assay_error_set(ASSAY_ENOTFOUND, "no host %s", host);
        goto fail;
    }
    return assay_store_commit(st);
fail:
    assay_store_rollback(st);
    return rc;
}

int assay_store_host_was_reset(assay_store *st, const char *host, int64_t job_id)
{
    int rc = assay_store_begin(st);
    if (rc < 0)
        return rc;
    if ((rc = run_bound(st, "UPDATE jobs SET host_reset = 1 WHERE id = ?1 AND host = ?2 AND state = 'assigned'",
                        job_id, host, "host reset")) < 0)
        goto fail;
    if (sqlite3_changes(st->db) == 0) {
        rc = assay_error_set(ASSAY_ESTATE, "job %lld is no longer waiting on %s", (long long)job_id, host);
        goto fail;
    }
    if ((rc = run_bound(st, "UPDATE hosts SET last_job = NULL, last_package = '', clean = 1 WHERE ?1 > 0 AND name = ?2",
                        job_id, host, "host reset")) < 0)
        goto fail;
    return assay_store_commit(st);
fail:
    assay_store_rollback(st);
    return rc;
}

int assay_store_job_set_host_reset(assay_store *st, int64_t job_id, int host_reset)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "UPDATE jobs SET host_reset = ? WHERE id = ?");
    if (rc < 0)
        return rc;
    if (host_reset < 0)
        sqlite3_bind_null(s, 1);
    else
        sqlite3_bind_int(s, 1, host_reset);
    sqlite3_bind_int64(s, 2, job_id);
    rc = step_done(st, s, "host reset");
    sqlite3_finalize(s);
    return rc;
}

/* ---- runs and jobs ------------------------------------------------------- */

int assay_store_run_submit(assay_store *st, const char *package_id, char *const *profiles, size_t n,
                           int priority, int stop_on_preflight, const char *const *not_provided, int64_t *run_id)
{
    sqlite3_stmt *s = NULL;
    char now[32];
    now_utc(now);
    int rc = assay_store_begin(st);
    if (rc < 0)
        return rc;
    if ((rc = prepare(st, &s, "INSERT INTO runs (package_id, priority, state, submitted_at, stop_on_preflight) "
                              "VALUES (?, ?, 'queued', ?, ?)")) < 0)
        goto fail;
    sqlite3_bind_text(s, 1, package_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 2, priority);
    sqlite3_bind_text(s, 3, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 4, stop_on_preflight);
    if ((rc = step_done(st, s, "submit run")) < 0)
        goto fail;
    sqlite3_finalize(s);
    int64_t id = sqlite3_last_insert_rowid(st->db);
    /* A target the package has no artifact for is ended at once, as the
     * vendor's gap: no host ever sees it. */
    if ((rc = prepare(st, &s, "INSERT INTO jobs (run_id, profile, state, outcome, reason, ended_at) VALUES "
                              "(?1, ?2, CASE WHEN ?3 IS NULL THEN 'queued' ELSE 'ended' END, "
                              "CASE WHEN ?3 IS NULL THEN '' ELSE 'not-provided' END, coalesce(?3, ''), "
                              "CASE WHEN ?3 IS NULL THEN '' ELSE ?4 END)")) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, profiles[i], -1, SQLITE_TRANSIENT);
        if (not_provided && not_provided[i])
            sqlite3_bind_text(s, 3, not_provided[i], -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(s, 3);
        sqlite3_bind_text(s, 4, now, -1, SQLITE_TRANSIENT);
        if ((rc = step_done(st, s, "submit job")) < 0)
            goto fail;
    }
    sqlite3_finalize(s);
    s = NULL;
    /* Nothing to run at all: the run is done as it is submitted. */
    if ((rc = run_bound(st, "UPDATE runs SET state = 'done', finished_at = ?2 WHERE id = ?1 AND NOT EXISTS "
                            "(SELECT 1 FROM jobs WHERE run_id = ?1 AND state = 'queued')",
                        id, now, "submit run")) < 0 || (rc = hooks_hear(st, id)) < 0)
        goto fail;
    if ((rc = assay_store_commit(st)) < 0)
        return rc;
    *run_id = id;
    return 0;
fail:
    sqlite3_finalize(s);
    assay_store_rollback(st);
    return rc;
}

#define RUN_SELECT                                                                                 \
    "SELECT r.id, r.package_id AS package, p.product, p.version, p.vendor, r.priority, r.state, "   \
    "r.submitted_at, r.finished_at, r.stop_on_preflight, "                                         \
    "(SELECT count(*) FROM jobs j WHERE j.run_id = r.id) AS jobs, "                                \
    "(SELECT count(*) FROM jobs j WHERE j.run_id = r.id AND j.state IN ('ended','canceled')) AS done, " \
    "(SELECT count(*) FROM jobs j WHERE j.run_id = r.id AND j.outcome = 'passed') AS passed, "      \
    "(SELECT count(*) FROM jobs j WHERE j.run_id = r.id AND j.outcome = 'failed') AS failed, "      \
    "(SELECT count(*) FROM jobs j WHERE j.run_id = r.id AND j.outcome = 'error') AS errors "       \
    "FROM runs r JOIN packages p ON p.id = r.package_id "
#define RUN_WHERE                                                                                  \
    "WHERE (?1 IS NULL OR p.product = ?1) AND (?2 IS NULL OR p.vendor = ?2) "                       \
    "AND (?3 IS NULL OR r.state = ?3) AND (?4 IS NULL OR r.submitted_at >= ?4) "                    \
    "AND (?5 IS NULL OR r.package_id IN (SELECT package_id FROM package_orgs WHERE org = ?5)) "     \
    "AND (?6 IS NULL OR r.id < ?6) "

int assay_store_run_list(assay_store *st, const assay_run_filter *f, cJSON **out)
{
    static const assay_run_filter none = {0};
    sqlite3_stmt *s;
    if (!f)
        f = &none;
    /* An unset filter binds NULL and matches every row. With a limit the
     * newest come first, so a page of a long history is an index range
     * over runs' primary key, not a sort of all of them. */
    int rc = prepare(st, &s,
                     f->limit > 0 ? RUN_SELECT RUN_WHERE "ORDER BY r.id DESC LIMIT ?7" : RUN_SELECT RUN_WHERE "ORDER BY r.id");
    if (rc < 0)
        return rc;
    const char *v[] = {f->product, f->vendor, f->state, f->since, f->org};
    for (int i = 0; i < 5; i++)
        if (v[i])
            sqlite3_bind_text(s, i + 1, v[i], -1, SQLITE_TRANSIENT);
    if (f->before > 0)
        sqlite3_bind_int64(s, 6, f->before);
    if (f->limit > 0)
        sqlite3_bind_int(s, 7, f->limit);
    return rows_json(st, s, out);
}

int assay_store_run_get(assay_store *st, int64_t run_id, cJSON **out)
{
    sqlite3_stmt *s;
    cJSON *arr;
    int rc = prepare(st, &s, RUN_SELECT "WHERE r.id = ?");
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run_id);
    if ((rc = rows_json(st, s, &arr)) < 0)
        return rc;
    if (cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        return assay_error_set(ASSAY_ENOTFOUND, "no run %lld", (long long)run_id);
    }
    *out = cJSON_DetachItemFromArray(arr, 0);
    cJSON_Delete(arr);
    return 0;
}

#define JOB_SELECT                                                                                 \
    "SELECT j.id, j.run_id, r.priority, r.package_id, j.profile, j.state, j.host, j.attempt, "      \
    "j.last_seq, j.outcome, j.reason, j.cancel, j.started_at, j.ended_at, j.agent_sha256, "         \
    "r.stop_on_preflight, coalesce(j.host_reset, -1) "                                             \
    "FROM jobs j JOIN runs r ON r.id = j.run_id "

static void job_row(sqlite3_stmt *s, assay_job_rec *j)
{
    j->id = sqlite3_column_int64(s, 0);
    j->run_id = sqlite3_column_int64(s, 1);
    j->priority = sqlite3_column_int(s, 2);
    copy_col(j->package_id, sizeof j->package_id, s, 3);
    copy_col(j->profile, sizeof j->profile, s, 4);
    copy_col(j->state, sizeof j->state, s, 5);
    copy_col(j->host, sizeof j->host, s, 6);
    j->attempt = sqlite3_column_int(s, 7);
    j->last_seq = sqlite3_column_int64(s, 8);
    copy_col(j->outcome, sizeof j->outcome, s, 9);
    copy_col(j->reason, sizeof j->reason, s, 10);
    j->cancel = sqlite3_column_int(s, 11);
    copy_col(j->started_at, sizeof j->started_at, s, 12);
    copy_col(j->ended_at, sizeof j->ended_at, s, 13);
    copy_col(j->agent_sha256, sizeof j->agent_sha256, s, 14);
    j->stop_on_preflight = sqlite3_column_int(s, 15);
    j->host_reset = sqlite3_column_int(s, 16);
}

static void job_row_v(sqlite3_stmt *s, void *dst)
{
    job_row(s, dst);
}

static int jobs_query(assay_store *st, const char *sql, int64_t arg, int has_arg, assay_job_rec **out,
                      size_t *n)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, sql);
    if (rc < 0)
        return rc;
    if (has_arg)
        sqlite3_bind_int64(s, 1, arg);
    return collect(st, s, sizeof **out, job_row_v, (void **)out, n, "jobs");
}

int assay_store_run_jobs(assay_store *st, int64_t run_id, assay_job_rec **out, size_t *n)
{
    return jobs_query(st, JOB_SELECT "WHERE j.run_id = ? ORDER BY j.id", run_id, 1, out, n);
}

int assay_store_jobs_active(assay_store *st, assay_job_rec **out, size_t *n)
{
    return jobs_query(st, JOB_SELECT "WHERE j.state IN ('assigned','running') ORDER BY j.id", 0, 0, out, n);
}

int assay_store_jobs_queued(assay_store *st, assay_job_rec **out, size_t *n)
{
    return jobs_query(st, JOB_SELECT "WHERE j.state = 'queued' ORDER BY r.priority DESC, r.id, j.id", 0, 0,
                      out, n);
}

int assay_store_job_get(assay_store *st, int64_t id, assay_job_rec *j)
{
    assay_job_rec *v;
    size_t n;
    int rc = jobs_query(st, JOB_SELECT "WHERE j.id = ?", id, 1, &v, &n);
    if (rc < 0)
        return rc;
    if (n == 0) {
        free(v);
        return assay_error_set(ASSAY_ENOTFOUND, "no job %lld", (long long)id);
    }
    *j = v[0];
    free(v);
    return 0;
}

/* Finish a run whose jobs have all ended, and make its webhook
 * deliveries. Inside the caller's transaction. */
static int settle_run(assay_store *st, int64_t job_id)
{
    char now[32];
    now_utc(now);
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "UPDATE runs SET state = CASE WHEN state = 'canceled' THEN 'canceled' ELSE 'done' END, "
                             "finished_at = ? WHERE id = (SELECT run_id FROM jobs WHERE id = ?) AND NOT EXISTS "
                             "(SELECT 1 FROM jobs WHERE run_id = runs.id AND state NOT IN ('ended','canceled'))");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, job_id);
    rc = step_done(st, s, "settle run");
    sqlite3_finalize(s);
    if (rc < 0 || sqlite3_changes(st->db) == 0)
        return rc;
    if ((rc = prepare(st, &s, "SELECT run_id FROM jobs WHERE id = ?")) < 0)
        return rc;
    sqlite3_bind_int64(s, 1, job_id);
    int64_t run = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return run < 0 ? db_error(st, "settle run") : hooks_hear(st, run);
}

/* One UPDATE of a job, guarded by its expected state, in a transaction. */
static int job_transition(assay_store *st, const char *sql, int64_t id, const char *a, const char *b,
                          int settle)
{
    sqlite3_stmt *s = NULL;
    int rc = assay_store_begin(st);
    if (rc < 0)
        return rc;
    if ((rc = prepare(st, &s, sql)) < 0)
        goto fail;
    int i = 1;
    if (a)
        sqlite3_bind_text(s, i++, a, -1, SQLITE_TRANSIENT);
    if (b)
        sqlite3_bind_text(s, i++, b, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, i, id);
    if ((rc = step_done(st, s, "job")) < 0)
        goto fail;
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_changes(st->db) == 0) {
        rc = assay_error_set(ASSAY_ESTATE, "job %lld is not in a state for this", (long long)id);
        goto fail;
    }
    if (settle && (rc = settle_run(st, id)) < 0)
        goto fail;
    return assay_store_commit(st);
fail:
    sqlite3_finalize(s);
    assay_store_rollback(st);
    return rc;
}

/* The partial unique index of schema 6 refuses a second active job on a
 * host: that is the host's state, not the store's failure. */
int assay_store_job_assign(assay_store *st, int64_t id, const char *host)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "UPDATE jobs SET state = 'assigned', host = ? WHERE state = 'queued' AND id = ?");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, id);
    int r = sqlite3_step(s);
    sqlite3_finalize(s);
    if (r == SQLITE_CONSTRAINT)
        return assay_error_set(ASSAY_ESTATE, "host %s has an active job already", host);
    if (r != SQLITE_DONE)
        return db_error(st, "assign job");
    if (sqlite3_changes(st->db) != 1)
        return assay_error_set(ASSAY_ESTATE, "job %lld is no longer queued", (long long)id);
    return 0;
}

int assay_store_job_set_running(assay_store *st, int64_t id, const char *agent_sha256)
{
    char now[32];
    now_utc(now);
    int rc = job_transition(st, "UPDATE jobs SET state = 'running', started_at = CASE WHEN started_at = '' "
                                "THEN ? ELSE started_at END, agent_sha256 = ? WHERE state IN ('assigned','running') "
                                "AND id = ?",
                            id, now, agent_sha256, 0);
    if (rc == 0) {
        sqlite3_stmt *s;
        if (prepare(st, &s, "UPDATE runs SET state = 'running' WHERE state = 'queued' AND "
                            "id = (SELECT run_id FROM jobs WHERE id = ?)") == 0) {
            sqlite3_bind_int64(s, 1, id);
            sqlite3_step(s);
            sqlite3_finalize(s);
        }
    }
    return rc;
}

int assay_store_job_event(assay_store *st, int64_t id, int attempt, int64_t seq, const char *type,
                          const char *body)
{
    assay_event_row r = {.seq = seq, .type = type, .body = body, .len = strlen(body)};
    return assay_store_job_events_put(st, id, attempt, &r, 1);
}

/* Events seq, seq+1, ... of the job's attempt, in one transaction: the
 * job's last_seq moves from the first's seq - 1 to the last's, or nothing
 * is stored (ASSAY_EPROTO: out of order, or the store has others). */
int assay_store_job_events_put(assay_store *st, int64_t id, int attempt, const assay_event_row *rows, size_t n)
{
    if (n == 0)
        return 0;
    sqlite3_stmt *s = NULL;
    int64_t seq = rows[0].seq, last = rows[n - 1].seq;
    for (size_t i = 1; i < n; i++)
        if (rows[i].seq != seq + (int64_t)i)
            return assay_error_set(ASSAY_EPROTO, "job %lld: events out of order", (long long)id);
    int rc = assay_store_begin(st);
    if (rc < 0)
        return rc;
    if ((rc = prepare(st, &s, "UPDATE jobs SET last_seq = ? WHERE id = ? AND attempt = ? AND last_seq = ? "
                              "AND state IN ('assigned','running')")) < 0)
        goto fail;
    sqlite3_bind_int64(s, 1, last);
    sqlite3_bind_int64(s, 2, id);
    sqlite3_bind_int(s, 3, attempt);
    sqlite3_bind_int64(s, 4, seq - 1);
    if ((rc = step_done(st, s, "event")) < 0)
        goto fail;
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_changes(st->db) == 0) {
        rc = assay_error_set(ASSAY_EPROTO, "job %lld: event seq %lld out of order", (long long)id,
                             (long long)seq);
        goto fail;
    }
    if ((rc = prepare(st, &s, "INSERT INTO events (job_id, attempt, seq, type, body, received_ms) VALUES (?,?,?,?,?,?)")) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int(s, 2, attempt);
        sqlite3_bind_int64(s, 3, rows[i].seq);
        sqlite3_bind_text(s, 4, rows[i].type, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 5, rows[i].body, (int)rows[i].len, SQLITE_TRANSIENT);
        if (rows[i].received_ms > 0)
            sqlite3_bind_int64(s, 6, rows[i].received_ms);
        else
            sqlite3_bind_null(s, 6);
        if ((rc = step_done(st, s, "event")) < 0)
            goto fail;
    }
    sqlite3_finalize(s);
    return assay_store_commit(st);
fail:
    sqlite3_finalize(s);
    assay_store_rollback(st);
    return rc;
}

/* The attempt's history, written once: only for the job's current attempt
 * (attempt < 0: whichever it is) while the job has not ended, and never
 * over a row already written (a late retry must not rewrite a passed
 * attempt). ASSAY_ESTATE when the attempt is no longer the job's. */
static int record_attempt(assay_store *st, int64_t id, int attempt, const char *outcome, const char *reason,
                          const char *host_dir)
{
    char now[32];
    now_utc(now);
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "INSERT INTO attempts (job_id, attempt, host, outcome, reason, ended_at, "
                             "agent_sha256, host_reset, host_dir) SELECT id, attempt, host, ?, ?, ?, agent_sha256, "
                             "host_reset, ? FROM jobs WHERE id = ? AND (? < 0 OR attempt = ?) AND state NOT IN "
                             "('ended','canceled')");
    if (rc < 0)
        return rc;
    const char *v[] = {outcome, reason, now, host_dir ? host_dir : ""};
    bind_texts(s, 4, v);
    sqlite3_bind_int64(s, 5, id);
    sqlite3_bind_int(s, 6, attempt);
    sqlite3_bind_int(s, 7, attempt);
    rc = step_done(st, s, "attempt");
    sqlite3_finalize(s);
    if (rc == 0 && sqlite3_changes(st->db) != 1)
        rc = assay_error_set(ASSAY_ESTATE, "job %lld: attempt %d is no longer the job's (ended, or retried "
                                           "elsewhere)", (long long)id, attempt);
    return rc;
}

int assay_store_job_end(assay_store *st, int64_t id, const char *outcome, const char *reason)
{
    return assay_store_job_end_attempt(st, id, -1, outcome, reason);
}

int assay_store_job_end_attempt(assay_store *st, int64_t id, int attempt, const char *outcome, const char *reason)
{
    return assay_store_job_end_dir(st, id, attempt, outcome, reason, NULL);
}

int assay_store_job_end_dir(assay_store *st, int64_t id, int attempt, const char *outcome, const char *reason,
                            const char *host_dir)
{
    char now[32];
    now_utc(now);
    sqlite3_stmt *s = NULL;
    int rc = assay_store_begin(st);
    if (rc < 0)
        return rc;
    if ((rc = record_attempt(st, id, attempt, outcome, reason, host_dir)) < 0)
        goto fail;
    if ((rc = prepare(st, &s, "UPDATE jobs SET state = CASE WHEN ? = 'canceled' THEN 'canceled' ELSE 'ended' END, "
                              "outcome = ?, reason = ?, ended_at = ? WHERE id = ? AND state NOT IN ('ended','canceled')")) < 0)
        goto fail;
    const char *v[] = {outcome, outcome, reason, now};
    bind_texts(s, 4, v);
    sqlite3_bind_int64(s, 5, id);
    if ((rc = step_done(st, s, "end job")) < 0)
        goto fail;
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_changes(st->db) != 1) {
        rc = assay_error_set(ASSAY_ESTATE, "job %lld has ended already", (long long)id);
        goto fail;
    }
    /* The job's host, if this job is the last that went there, is clean
     * only if the job ended on its own (passed or failed) and its
     * uninstall passed: a canceled or broken job may have left anything. */
    if ((rc = run_bound(st, "UPDATE hosts SET clean = (?2 IN ('passed', 'failed') AND EXISTS (SELECT 1 FROM events e "
                            "JOIN jobs j ON j.id = e.job_id AND j.attempt = e.attempt WHERE e.job_id = ?1 AND "
                            "e.type = 'step-end' AND json_extract(e.body, '$.kind') = 'uninstall' AND "
                            "json_extract(e.body, '$.verdict') = 'pass')) "
                            "WHERE last_job = ?1 AND name = (SELECT host FROM jobs WHERE id = ?1)",
                        id, outcome, "host state")) < 0)
        goto fail;
    if ((rc = settle_run(st, id)) < 0)
        goto fail;
    return assay_store_commit(st);
fail:
    sqlite3_finalize(s);
    assay_store_rollback(st);
    return rc;
}

int assay_store_job_retry(assay_store *st, int64_t id, const char *reason, int max_attempts)
{
    return assay_store_job_retry_attempt(st, id, -1, reason, max_attempts);
}

int assay_store_job_retry_attempt(assay_store *st, int64_t id, int attempt, const char *reason, int max_attempts)
{
    assay_job_rec j = {0};
    int rc = assay_store_job_get(st, id, &j);
    if (rc < 0)
        return rc;
    if (attempt >= 0 && j.attempt != attempt)
        return assay_error_set(ASSAY_ESTATE, "job %lld: attempt %d is no longer the job's (it is at %d)",
                               (long long)id, attempt, j.attempt);
    if (j.attempt >= max_attempts || j.cancel) {
        char why[300];
        snprintf(why, sizeof why, "%s (attempt %d of %d)", reason, j.attempt, max_attempts);
        return assay_store_job_end_attempt(st, id, j.attempt, j.cancel ? "canceled" : "error", why);
    }
    sqlite3_stmt *s = NULL;
    if ((rc = assay_store_begin(st)) < 0)
        return rc;
    if ((rc = record_attempt(st, id, j.attempt, "error", reason, NULL)) < 0)
        goto fail;
    if ((rc = prepare(st, &s, "UPDATE jobs SET state = 'queued', host = '', attempt = attempt + 1, "
                              "last_seq = -1, host_reset = NULL, reason = ? WHERE id = ? AND attempt = ? AND state IN "
                              "('assigned','running')")) < 0)
        goto fail;
    sqlite3_bind_text(s, 1, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, id);
    sqlite3_bind_int(s, 3, j.attempt);
    if ((rc = step_done(st, s, "retry job")) < 0)
        goto fail;
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_changes(st->db) != 1) {
        rc = assay_error_set(ASSAY_ESTATE, "job %lld is no longer assigned or running", (long long)id);
        goto fail;
    }
    return assay_store_commit(st);
fail:
    sqlite3_finalize(s);
    assay_store_rollback(st);
    return rc;
}

int assay_store_run_cancel(assay_store *st, int64_t run_id, int skip_uninstall)
{
    char now[32], sql[768];
    now_utc(now);
    int rc = assay_store_begin(st);
    if (rc < 0)
        return rc;
    sqlite3_stmt *s;
    if ((rc = prepare(st, &s, "UPDATE runs SET state = 'canceled' WHERE id = ? AND state IN ('queued','running')")) < 0)
        goto fail;
    sqlite3_bind_int64(s, 1, run_id);
    rc = step_done(st, s, "cancel run");
    sqlite3_finalize(s);
    if (rc < 0)
        goto fail;
    if (sqlite3_changes(st->db) == 0) {
        /* Canceled already: --now may still hurry its running jobs. */
        snprintf(sql, sizeof sql, "UPDATE jobs SET cancel = 2 WHERE run_id = %lld AND cancel = 1 AND "
                                  "state IN ('assigned','running')", (long long)run_id);
        if (!skip_uninstall || (rc = exec(st, sql)) < 0 || sqlite3_changes(st->db) == 0) {
            rc = rc < 0 ? rc
                        : assay_error_set(ASSAY_ESTATE, "run %lld is not queued or running%s", (long long)run_id,
                                          skip_uninstall ? "" : " (--now skips the uninstall of jobs still stopping)");
            goto fail;
        }
        return assay_store_commit(st);
    }
    snprintf(sql, sizeof sql,
             "INSERT INTO attempts (job_id, attempt, host, outcome, reason, ended_at) "
             "SELECT id, attempt, host, 'canceled', 'canceled before it started', '%s' FROM jobs "
             "WHERE run_id = %lld AND state = 'queued';"
             "UPDATE jobs SET state = 'canceled', outcome = 'canceled', reason = 'canceled before it started', "
             "ended_at = '%s' WHERE run_id = %lld AND state = 'queued';"
             "UPDATE jobs SET cancel = %d WHERE run_id = %lld AND state IN ('assigned','running');",
             now, (long long)run_id, now, (long long)run_id, skip_uninstall ? 2 : 1, (long long)run_id);
    if ((rc = exec(st, sql)) < 0)
        goto fail;
    if ((rc = prepare(st, &s, "UPDATE runs SET finished_at = ? WHERE id = ? AND NOT EXISTS "
                              "(SELECT 1 FROM jobs WHERE run_id = ? AND state NOT IN ('ended','canceled'))")) < 0)
        goto fail;
    sqlite3_bind_text(s, 1, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, run_id);
    sqlite3_bind_int64(s, 3, run_id);
    rc = step_done(st, s, "cancel run");
    sqlite3_finalize(s);
    if (rc < 0 || (rc = hooks_hear(st, run_id)) < 0)
        goto fail;
    return assay_store_commit(st);
fail:
    assay_store_rollback(st);
    return rc;
}

int assay_store_job_log(assay_store *st, int64_t id, int attempt, const char *path, const char *sha256,
                        uint64_t size)
{
    assay_log_row r = {.size = size};
    snprintf(r.path, sizeof r.path, "%s", path);
    snprintf(r.sha256, sizeof r.sha256, "%s", sha256);
    return assay_store_job_logs_put(st, id, attempt, &r, 1);
}

int assay_store_job_logs_put(assay_store *st, int64_t id, int attempt, const assay_log_row *rows, size_t n)
{
    sqlite3_stmt *s = NULL;
    if (n == 0)
        return 0;
    int rc = assay_store_begin(st);
    if (rc < 0)
        return rc;
    /* Only for the job's current attempt while it has not ended (a log
     * fetched again replaces its row: same bytes, same digest). */
    if ((rc = prepare(st, &s, "INSERT OR REPLACE INTO logs (job_id, attempt, path, sha256, size) SELECT id, attempt, "
                              "?, ?, ? FROM jobs WHERE id = ? AND attempt = ? AND state IN ('assigned','running')")) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, rows[i].path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, rows[i].sha256, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)rows[i].size);
        sqlite3_bind_int64(s, 4, id);
        sqlite3_bind_int(s, 5, attempt);
        if ((rc = step_done(st, s, "log")) < 0)
            goto fail;
        if (sqlite3_changes(st->db) != 1) {
            rc = assay_error_set(ASSAY_ESTATE, "job %lld: attempt %d is no longer running here", (long long)id,
                                 attempt);
            goto fail;
        }
    }
    sqlite3_finalize(s);
    return assay_store_commit(st);
fail:
    sqlite3_finalize(s);
    assay_store_rollback(st);
    return rc;
}

int assay_store_job_events_page(assay_store *st, int64_t id, int attempt, int64_t from, int limit, int with_output,
                                cJSON **out)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, with_output ? "SELECT seq, type, body FROM events WHERE job_id = ? AND attempt = ? AND "
                                           "seq >= ? ORDER BY seq LIMIT ?"
                                         : "SELECT seq, type, body FROM events WHERE job_id = ? AND attempt = ? AND "
                                           "seq >= ? AND type <> 'output' ORDER BY seq LIMIT ?");
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, attempt);
    sqlite3_bind_int64(s, 3, from);
    sqlite3_bind_int(s, 4, limit);
    return rows_json(st, s, out);
}

int assay_store_job_events(assay_store *st, int64_t id, int attempt, int64_t from, cJSON **out)
{
    return assay_store_job_events_page(st, id, attempt, from, -1, 1, out);
}

int assay_store_host_facts(assay_store *st, const char *name, cJSON **out)
{
    sqlite3_stmt *s;
    /* An ended attempt names its host in attempts; the current one only in
     * jobs. The rowid orders events as they were stored: the last is the
     * newest. */
    int rc = prepare(st, &s, "SELECT e.job_id AS job, e.attempt, e.body FROM events e JOIN jobs j ON j.id = e.job_id "
                             "LEFT JOIN attempts a ON a.job_id = e.job_id AND a.attempt = e.attempt "
                             "WHERE e.type = 'job-start' AND (a.host = ?1 OR (a.host IS NULL AND "
                             "e.attempt = j.attempt AND j.host = ?1)) ORDER BY e.rowid DESC LIMIT 1");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    return rows_json(st, s, out);
}

int assay_store_run_events(assay_store *st, int64_t run_id, int64_t after, int limit, cJSON **out)
{
    sqlite3_stmt *s;
    /* The rowid orders events as they were stored, across every job and
     * attempt of the run (events are never deleted), so one number says
     * where a reader of the whole run stands. A step's live output is the
     * job's stream's, not the run's: a run page follows steps, not bytes. */
    int rc = prepare(st, &s, "SELECT e.rowid AS id, e.job_id AS job, e.attempt, e.seq, e.type, e.body FROM events e "
                             "WHERE e.job_id IN (SELECT id FROM jobs WHERE run_id = ?) AND e.rowid > ? "
                             "AND e.type <> 'output' "
                             "ORDER BY e.rowid LIMIT ?");
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run_id);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int(s, 3, limit);
    return rows_json(st, s, out);
}

int assay_store_publish(assay_store *st, int64_t run_id, const assay_published *p)
{
    sqlite3_stmt *s;
    char now[32];
    now_utc(now);
    /* submitted_by: the organisations that uploaded the run's package,
     * as they stand now, kept with the entry. */
    int rc = prepare(st, &s, "INSERT OR REPLACE INTO published (run_id, product, version, vendor, cpus, oses, conclusion, "
                             "report_number, report_date, published_by, published_at, envelope, submitted_by) "
                             "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
                             "  ',' || coalesce((SELECT group_concat(org, ',') FROM (SELECT org FROM package_orgs "
                             "  WHERE package_id = (SELECT package_id FROM runs WHERE id = ?1) ORDER BY org)) || ',', ''))");
    if (rc < 0)
        return rc;
    const char *v[] = {p->product, p->version, p->vendor, p->cpus, p->oses, p->conclusion,
                       p->report_number, p->report_date, p->published_by, now, p->envelope};
    sqlite3_bind_int64(s, 1, run_id);
    for (int i = 0; i < 11; i++)
        sqlite3_bind_text(s, i + 2, v[i], -1, SQLITE_TRANSIENT);
    rc = step_done(st, s, "publish");
    sqlite3_finalize(s);
    return rc;
}

int assay_store_published_envelope(assay_store *st, int64_t run_id, char **out)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT envelope FROM published WHERE run_id = ?");
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run_id);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        char *e = strdup(t ? t : "");
        rc = e ? 0 : assay_error_set(ASSAY_ENOMEM, "out of memory");
        if (e)
            *out = e;
    } else if (r == SQLITE_DONE) {
        rc = assay_error_set(ASSAY_ENOTFOUND, "no published report of run %lld", (long long)run_id);
    } else {
        rc = db_error(st, "published envelope");
    }
    sqlite3_finalize(s);
    return rc;
}

int assay_store_registry(assay_store *st, int64_t run_id, const char *q, const char *cpu, const char *os,
                         const char *conclusion, cJSON **out)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT run_id AS run, product, version, vendor, submitted_by, cpus, oses, conclusion, "
                             "report_number, report_date, published_at FROM published "
                             "WHERE (?1 = 0 OR run_id = ?1) "
                             "AND (?2 IS NULL OR instr(lower(product || ' ' || vendor || ' ' || version || ' ' || "
                             "report_number || ' ' || submitted_by), lower(?2)) > 0) "
                             "AND (?3 IS NULL OR instr(cpus, ',' || ?3 || ',') > 0) "
                             "AND (?4 IS NULL OR instr(oses, ',' || ?4 || ',') > 0) "
                             "AND (?5 IS NULL OR conclusion = ?5) ORDER BY published_at DESC, run_id DESC LIMIT 500");
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run_id);
    const char *v[] = {q, cpu, os, conclusion};
    for (int i = 0; i < 4; i++)
        if (v[i] && *v[i])
            sqlite3_bind_text(s, i + 2, v[i], -1, SQLITE_TRANSIENT);
    if ((rc = rows_json(st, s, out)) < 0)
        return rc;
    /* cpus, oses and submitted_by are stored as ",a,b," (for the filters
     * above) and given out as lists. */
    cJSON *row;
    cJSON_ArrayForEach(row, *out)
    {
        for (int k = 0; k < 3; k++) {
            const char *key = k == 0 ? "cpus" : k == 1 ? "oses" : "submitted_by";
            const cJSON *str = cJSON_GetObjectItemCaseSensitive(row, key);
            cJSON *list = cJSON_CreateArray();
            for (const char *p = cJSON_IsString(str) ? str->valuestring : ""; list && *p;) {
                size_t n = strcspn(p, ",");
                if (n) {
                    char item[128];
                    snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), p);
                    cJSON_AddItemToArray(list, cJSON_CreateString(item));
                }
                p += n + (p[n] == ',');
            }
            if (!list || !cJSON_ReplaceItemInObjectCaseSensitive(row, key, list)) {
                cJSON_Delete(list);
                cJSON_Delete(*out);
                *out = NULL;
                return assay_error_set(ASSAY_ENOMEM, "out of memory");
            }
        }
    }
    return 0;
}

int assay_store_job_logs(assay_store *st, int64_t id, int attempt, cJSON **out)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT path, sha256, size FROM logs WHERE job_id = ? AND attempt = ? ORDER BY path");
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, attempt);
    return rows_json(st, s, out);
}

int assay_store_job_attempts(assay_store *st, int64_t id, cJSON **out)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT attempt, host, outcome, reason, ended_at, host_reset FROM attempts "
                             "WHERE job_id = ? ORDER BY attempt");
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    return rows_json(st, s, out);
}

/* ---- job directories on hosts ------------------------------------------------ */

static void host_dir_row(sqlite3_stmt *s, void *p)
{
    assay_host_dir *d = p;
    d->job_id = sqlite3_column_int64(s, 0);
    d->attempt = sqlite3_column_int(s, 1);
    copy_col(d->dir, sizeof d->dir, s, 2);
}

int assay_store_host_dirs_due(assay_store *st, const char *host, const char *cutoff, int limit,
                              assay_host_dir **out, size_t *n)
{
    sqlite3_stmt *s;
    /* The job's own row is checked too: an attempt that is the job's
     * current one and still active is never due, whatever its history says. */
    int rc = prepare(st, &s, "SELECT a.job_id, a.attempt, a.host_dir FROM attempts a WHERE a.host = ? AND "
                             "a.host_dir != '' AND a.dir_removed = '' AND a.dir_tries < ? AND a.ended_at <= ? AND "
                             "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = a.job_id AND j.attempt = a.attempt AND "
                             "j.state IN ('queued','assigned','running')) ORDER BY a.ended_at, a.job_id, a.attempt "
                             "LIMIT ?");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 2, ASSAY_HOST_DIR_TRIES);
    sqlite3_bind_text(s, 3, cutoff, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 4, limit);
    void *v = NULL;
    if ((rc = collect(st, s, sizeof(assay_host_dir), host_dir_row, &v, n, "host dirs")) < 0)
        return rc;
    *out = v;
    return 0;
}

int assay_store_host_dirs_result(assay_store *st, const assay_host_dir *d, size_t n, const char *error, int give_up)
{
    char now[32];
    now_utc(now);
    sqlite3_stmt *s;
    int rc = assay_store_begin(st);
    if (rc < 0)
        return rc;
    if ((rc = prepare(st, &s, error ? "UPDATE attempts SET dir_tries = CASE WHEN ?4 THEN ?5 ELSE dir_tries + 1 END, "
                                      "dir_error = ?3 WHERE job_id = ?1 AND attempt = ?2 AND dir_removed = ''"
                                    : "UPDATE attempts SET dir_removed = ?3, dir_error = '' WHERE job_id = ?1 AND "
                                      "attempt = ?2")) < 0)
        goto fail;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, d[i].job_id);
        sqlite3_bind_int(s, 2, d[i].attempt);
        sqlite3_bind_text(s, 3, error ? error : now, -1, SQLITE_TRANSIENT);
        if (error) {
            sqlite3_bind_int(s, 4, give_up);
            sqlite3_bind_int(s, 5, ASSAY_HOST_DIR_TRIES);
        }
        rc = step_done(st, s, "host dir");
    }
    sqlite3_finalize(s);
    if (rc < 0)
        goto fail;
    return assay_store_commit(st);
fail:
    assay_store_rollback(st);
    return rc;
}

char *assay_store_package_preflight(assay_store *st, const char *id)
{
    sqlite3_stmt *s;
    char *out = NULL;
    if (prepare(st, &s, "SELECT preflight FROM packages WHERE id = ?") < 0)
        return NULL;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        out = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
}

/* ---- removing a package ------------------------------------------------------ */

int assay_store_blob_referenced(assay_store *st, const char *hex)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT EXISTS (SELECT 1 FROM packages WHERE id = ?1) OR "
                             "EXISTS (SELECT 1 FROM artifacts WHERE sha256 = ?1) OR "
                             "EXISTS (SELECT 1 FROM logs WHERE sha256 = ?1)");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, hex, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) != 0 : db_error(st, "blob references");
    sqlite3_finalize(s);
    return rc;
}

/* One integer from a query with the package id as ?1. */
static int count_of(assay_store *st, const char *sql, const char *id, int *out)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, sql);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s) == SQLITE_ROW ? 0 : db_error(st, "count");
    if (rc == 0)
        *out = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc;
}

int assay_store_package_remove(assay_store *st, const char *id, int force, char id_out[65],
                               char (**digests)[65], size_t *n, int *runs)
{
    assay_package_rec p;
    sqlite3_stmt *s = NULL;
    char(*dig)[65] = NULL;
    size_t nd = 0, cap = 0;
    int nruns = 0, busy = 0;
    int rc = assay_store_begin(st);
    if (rc < 0)
        return rc;
    if ((rc = assay_store_package_get(st, id, &p, NULL)) < 0 ||
        (rc = count_of(st, "SELECT count(*) FROM runs WHERE package_id = ?1", p.id, &nruns)) < 0 ||
        (rc = count_of(st, "SELECT count(*) FROM jobs j JOIN runs r ON r.id = j.run_id WHERE r.package_id = ?1 "
                           "AND j.state IN ('assigned','running')", p.id, &busy)) < 0)
        goto fail;
    if (nruns && !force) {
        rc = assay_error_set(ASSAY_ESTATE, "package %.12s: %d run(s) refer to it (--force removes them too)", p.id,
                             nruns);
        goto fail;
    }
    if (busy) {
        rc = assay_error_set(ASSAY_ESTATE, "package %.12s: %d job(s) of its runs are on hosts now; cancel the runs "
                                           "and let them end first", p.id, busy);
        goto fail;
    }
    /* The blobs it refers to, before the records go. */
    if ((rc = prepare(st, &s, "SELECT ?1 UNION SELECT sha256 FROM artifacts WHERE package_id = ?1 UNION "
                              "SELECT l.sha256 FROM logs l JOIN jobs j ON j.id = l.job_id JOIN runs r ON "
                              "r.id = j.run_id WHERE r.package_id = ?1")) < 0)
        goto fail;
    sqlite3_bind_text(s, 1, p.id, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (nd == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char(*nv)[65] = realloc(dig, nc * sizeof *dig);
            if (!nv) {
                rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
                goto fail;
            }
            dig = nv, cap = nc;
        }
        copy_col(dig[nd++], 65, s, 0);
    }
    if (rc != SQLITE_DONE) {
        rc = db_error(st, "package blobs");
        goto fail;
    }
    sqlite3_finalize(s);
    s = NULL;
    static const char *const del[] = {
        "DELETE FROM events WHERE job_id IN (SELECT j.id FROM jobs j JOIN runs r ON r.id = j.run_id WHERE "
        "r.package_id = ?1)",
        "DELETE FROM logs WHERE job_id IN (SELECT j.id FROM jobs j JOIN runs r ON r.id = j.run_id WHERE "
        "r.package_id = ?1)",
        "DELETE FROM attempts WHERE job_id IN (SELECT j.id FROM jobs j JOIN runs r ON r.id = j.run_id WHERE "
        "r.package_id = ?1)",
        "DELETE FROM jobs WHERE run_id IN (SELECT id FROM runs WHERE package_id = ?1)",
        "DELETE FROM runs WHERE package_id = ?1",
        "DELETE FROM artifacts WHERE package_id = ?1",
        "DELETE FROM package_orgs WHERE package_id = ?1",
        "DELETE FROM packages WHERE id = ?1",
    };
    for (size_t i = 0; i < sizeof del / sizeof del[0]; i++) {
        if ((rc = prepare(st, &s, del[i])) < 0)
            goto fail;
        sqlite3_bind_text(s, 1, p.id, -1, SQLITE_TRANSIENT);
        if ((rc = step_done(st, s, "remove package")) < 0)
            goto fail;
        sqlite3_finalize(s);
        s = NULL;
    }
    if ((rc = assay_store_commit(st)) < 0)
        goto fail;
    snprintf(id_out, 65, "%s", p.id);
    *digests = dig;
    *n = nd;
    *runs = nruns;
    return 0;
fail:
    sqlite3_finalize(s);
    assay_store_rollback(st);
    free(dig);
    return rc;
}

/* ---- accounts (assay serve) -------------------------------------------- */

static void user_row(sqlite3_stmt *s, assay_user_rec *u)
{
    copy_col(u->name, sizeof u->name, s, 0);
    copy_col(u->role, sizeof u->role, s, 1);
    copy_col(u->org, sizeof u->org, s, 2);
    u->disabled = sqlite3_column_int(s, 3);
    copy_col(u->created_at, sizeof u->created_at, s, 4);
}

int assay_store_user_add(assay_store *st, const assay_user_rec *u)
{
    sqlite3_stmt *s;
    char now[32];
    now_utc(now);
    int rc = prepare(st, &s, "INSERT INTO users (name, role, org, disabled, created_at) VALUES (?, ?, ?, 0, ?)");
    if (rc < 0)
        return rc;
    const char *v[] = {u->name, u->role, u->org, now};
    bind_texts(s, 4, v);
    int r = sqlite3_step(s);
    sqlite3_finalize(s);
    if (r == SQLITE_CONSTRAINT)
        return assay_error_set(ASSAY_EEXISTS, "user %s exists already", u->name);
    return r == SQLITE_DONE ? 0 : db_error(st, "user add");
}

int assay_store_user_get(assay_store *st, const char *name, assay_user_rec *u)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT name, role, org, disabled, created_at FROM users WHERE name = ?");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        user_row(s, u);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? assay_error_set(ASSAY_ENOTFOUND, "no user %s", name) : db_error(st, "user");
    }
    sqlite3_finalize(s);
    return rc;
}

int assay_store_user_list(assay_store *st, cJSON **out)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT u.name, u.role, u.org, u.disabled, u.created_at, "
                             "(SELECT count(*) FROM tokens t WHERE t.user = u.name AND t.revoked = 0) AS tokens "
                             "FROM users u ORDER BY u.name");
    return rc < 0 ? rc : rows_json(st, s, out);
}

int assay_store_user_disable(assay_store *st, const char *name)
{
    const char *a[] = {name};
    return exec_changes(st, "UPDATE users SET disabled = 1 WHERE name = ?", 1, a, "user", name);
}

int assay_store_token_add(assay_store *st, const char *user, const char hash[65])
{
    sqlite3_stmt *s;
    char now[32];
    now_utc(now);
    int rc = prepare(st, &s, "INSERT INTO tokens (hash, user, created_at) SELECT ?, name, ? FROM users WHERE name = ?");
    if (rc < 0)
        return rc;
    const char *v[] = {hash, now, user};
    bind_texts(s, 3, v);
    rc = step_done(st, s, "token add");
    sqlite3_finalize(s);
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = assay_error_set(ASSAY_ENOTFOUND, "no user %s", user);
    return rc;
}

int assay_store_token_user(assay_store *st, const char hash[65], assay_user_rec *u)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT u.name, u.role, u.org, u.disabled, u.created_at FROM tokens t "
                             "JOIN users u ON u.name = t.user WHERE t.hash = ? AND t.revoked = 0 AND u.disabled = 0");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        user_row(s, u);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? assay_error_set(ASSAY_EAUTH, "unknown or revoked token") : db_error(st, "token");
    }
    sqlite3_finalize(s);
    return rc;
}

int assay_store_token_revoke(assay_store *st, const char *user, int *n)
{
    const char *a[] = {user};
    assay_user_rec u;
    int rc = assay_store_user_get(st, user, &u);
    if (rc < 0)
        return rc;
    sqlite3_stmt *s;
    if ((rc = prepare(st, &s, "UPDATE tokens SET revoked = 1 WHERE user = ? AND revoked = 0")) < 0)
        return rc;
    bind_texts(s, 1, a);
    rc = step_done(st, s, "token revoke");
    sqlite3_finalize(s);
    if (rc == 0)
        *n = sqlite3_changes(st->db);
    return rc;
}

int assay_store_package_org_add(assay_store *st, const char *package_id, const char *org)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "INSERT OR IGNORE INTO package_orgs (package_id, org) VALUES (?, ?)");
    if (rc < 0)
        return rc;
    const char *v[] = {package_id, org};
    bind_texts(s, 2, v);
    rc = step_done(st, s, "package org");
    sqlite3_finalize(s);
    return rc;
}

int assay_store_package_org_has(assay_store *st, const char *package_id, const char *org)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT 1 FROM package_orgs WHERE package_id = ? AND org = ?");
    if (rc < 0)
        return rc;
    const char *v[] = {package_id, org};
    bind_texts(s, 2, v);
    rc = sqlite3_step(s);
    rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_error(st, "package org");
    sqlite3_finalize(s);
    return rc;
}

int assay_store_user_set_password(assay_store *st, const char *name, const char *encoded)
{
    const char *a[] = {encoded, name};
    return exec_changes(st, "UPDATE users SET password = ? WHERE name = ?", 2, a, "user", name);
}

int assay_store_user_password(assay_store *st, const char *name, char *out, size_t outlen)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT password FROM users WHERE name = ? AND disabled = 0");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        copy_col(out, outlen, s, 0);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? assay_error_set(ASSAY_ENOTFOUND, "no user %s", name) : db_error(st, "user");
    }
    sqlite3_finalize(s);
    return rc;
}

int assay_store_session_add(assay_store *st, const char hash[65], const char *user, const char *csrf, int64_t expires)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "INSERT INTO sessions (hash, user, csrf, expires) VALUES (?, ?, ?, ?)");
    if (rc < 0)
        return rc;
    const char *v[] = {hash, user, csrf};
    bind_texts(s, 3, v);
    sqlite3_bind_int64(s, 4, expires);
    rc = step_done(st, s, "session");
    sqlite3_finalize(s);
    if (rc == 0)
        rc = exec(st, "DELETE FROM sessions WHERE expires < strftime('%s','now')");
    return rc;
}

int assay_store_session_user(assay_store *st, const char hash[65], int64_t now, assay_user_rec *u, char csrf[65])
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT u.name, u.role, u.org, u.disabled, u.created_at, x.csrf FROM sessions x "
                             "JOIN users u ON u.name = x.user WHERE x.hash = ? AND x.expires > ? AND u.disabled = 0");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, now);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        user_row(s, u);
        copy_col(csrf, 65, s, 5);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? assay_error_set(ASSAY_EAUTH, "no such session, or it expired") : db_error(st, "session");
    }
    sqlite3_finalize(s);
    return rc;
}

int assay_store_session_remove(assay_store *st, const char hash[65])
{
    const char *a[] = {hash};
    return exec_changes(st, "DELETE FROM sessions WHERE hash = ?", 1, a, "session", "(logged out)");
}

/* ---- webhooks ------------------------------------------------------------ */

int assay_store_webhook_add(assay_store *st, const char *org, const char *url, const char *secret, int64_t *out)
{
    sqlite3_stmt *s;
    char now[32];
    now_utc(now);
    int rc = prepare(st, &s, "INSERT INTO webhooks (org, url, secret, created_at) VALUES (?, ?, ?, ?)");
    if (rc < 0)
        return rc;
    const char *v[] = {org, url, secret, now};
    bind_texts(s, 4, v);
    rc = step_done(st, s, "webhook add");
    sqlite3_finalize(s);
    if (rc == 0)
        *out = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int assay_store_webhook_list(assay_store *st, const char *org, cJSON **out)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s,
                     "SELECT w.id, w.org, w.url, w.created_at, "
                     "(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'delivered') "
                     "  AS delivered, "
                     "(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending') "
                     "  AS pending, "
                     "(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'failed') "
                     "  AS failed "
                     "FROM webhooks w WHERE ?1 IS NULL OR w.org = ?1 ORDER BY w.id");
    if (rc < 0)
        return rc;
    if (org)
        sqlite3_bind_text(s, 1, org, -1, SQLITE_TRANSIENT);
    return rows_json(st, s, out);
}

/* ENOTFOUND unless hook `id` exists (and belongs to org, if given). */
static int webhook_exists(assay_store *st, int64_t id, const char *org)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, "SELECT 1 FROM webhooks WHERE id = ?1 AND (?2 IS NULL OR org = ?2)");
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    if (org)
        sqlite3_bind_text(s, 2, org, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? assay_error_set(ASSAY_ENOTFOUND, "no webhook %lld", (long long)id)
                             : db_error(st, "webhook");
}

int assay_store_webhook_remove(assay_store *st, int64_t id, const char *org)
{
    int rc = assay_store_begin(st);
    if (rc < 0)
        return rc;
    char sql[160];
    if ((rc = webhook_exists(st, id, org)) < 0)
        goto fail;
    snprintf(sql, sizeof sql, "DELETE FROM webhook_deliveries WHERE webhook_id = %lld;"
                              "DELETE FROM webhooks WHERE id = %lld;", (long long)id, (long long)id);
    if ((rc = exec(st, sql)) < 0 || (rc = assay_store_commit(st)) < 0)
        goto fail;
    return 0;
fail:
    assay_store_rollback(st);
    return rc;
}

int assay_store_webhook_deliveries(assay_store *st, int64_t id, const char *org, cJSON **out)
{
    sqlite3_stmt *s;
    int rc = webhook_exists(st, id, org);
    if (rc < 0)
        return rc;
    rc = prepare(st, &s, "SELECT id, run_id AS run, status, attempts, next_try, last_status, last_error, created_at, "
                         "delivered_at FROM webhook_deliveries WHERE webhook_id = ? ORDER BY run_id DESC LIMIT 200");
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    return rows_json(st, s, out);
}

#define WEBHOOK_NEXT_SQL                                                                                    \
    "SELECT d.id, d.run_id AS run, d.attempts, w.id AS webhook, w.url, w.secret "                            \
    "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "                                      \
    "WHERE d.status = 'pending' AND d.next_try <= ?1 "                                                       \
    "AND d.webhook_id NOT IN (SELECT value FROM json_each(?3)) "                                             \
    "ORDER BY d.webhook_id <= ?2, d.webhook_id, d.next_try, d.run_id LIMIT 1"
int assay_store_webhook_next(assay_store *st, int64_t now, int64_t after, const char *busy, cJSON **out)
{
    sqlite3_stmt *s;
    cJSON *l = NULL;
    /* The index on (status, next_try) finds the pending deliveries due;
     * only those are sorted. */
    int rc = prepare(st, &s, WEBHOOK_NEXT_SQL);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_text(s, 3, busy, -1, SQLITE_TRANSIENT);
    if ((rc = rows_json(st, s, &l)) < 0)
        return rc;
    *out = cJSON_GetArraySize(l) ? cJSON_DetachItemFromArray(l, 0) : NULL;
    cJSON_Delete(l);
    return 0;
}

int assay_store_webhook_plans(assay_store *st, char *out, size_t len)
{
    int rc = query_plan(st, HOOKS_HEAR_SQL, out, len);
    size_t used = strlen(out);
    if (rc == 0 && used + 1 < len) {
        out[used++] = '\n';
        rc = query_plan(st, WEBHOOK_NEXT_SQL, out + used, len - used);
    }
    return rc;
}

int assay_store_webhook_delivery_set(assay_store *st, const char *id, const char *status, int attempts,
                                     int64_t next_try, int last_status, const char *last_error)
{
    sqlite3_stmt *s;
    char now[32];
    now_utc(now);
    int rc = prepare(st, &s, "UPDATE webhook_deliveries SET status = ?1, attempts = ?2, next_try = ?3, "
                             "last_status = ?4, last_error = coalesce(?5, last_error), "
                             "delivered_at = CASE WHEN ?1 = 'delivered' THEN ?6 ELSE delivered_at END WHERE id = ?7");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 2, attempts);
    sqlite3_bind_int64(s, 3, next_try);
    if (last_status > 0)
        sqlite3_bind_int(s, 4, last_status);
    if (last_error)
        sqlite3_bind_text(s, 5, last_error, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 6, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 7, id, -1, SQLITE_TRANSIENT);
    rc = step_done(st, s, "webhook delivery");
    sqlite3_finalize(s);
    return rc;
}
