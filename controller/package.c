/* Submissions; see package.h and docs/manifest.md. */
#include "package.h"
#include "blob.h"
#include "ingest.h"
#include "manifest.h"
#include "markup.h"
#include "pkgcheck.h"
#include "profile.h"
#include "assay/error.h"
#include "assay/io.h"
#include "assay/json.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void assay_package_budget(assay_lab *lab, assay_package_budget_t *b)
{
    b->wall_seconds = assay_lab_setting(lab, "ingest.wall_seconds", 1, UINT64_MAX, 120);
    b->cpu_seconds = assay_lab_setting(lab, "ingest.cpu_seconds", 1, UINT64_MAX, 120);
    b->memory_bytes = assay_lab_setting(lab, "ingest.memory_bytes", 1, UINT64_MAX, 512ull << 20);
    b->max_submission = assay_lab_setting(lab, "ingest.max_submission_bytes", 1, UINT64_MAX, 16ull << 30);
    b->grace_seconds = assay_lab_setting(lab, "ingest.grace_seconds", 1, UINT64_MAX, 3600);
}

void assay_package_limits(assay_lab *lab, assay_ingest_limits *l)
{
    static const char *const keys[] = {"ingest.max_entries", "ingest.max_entry_bytes",
                                       "ingest.max_total_bytes", "ingest.max_ratio"};
    uint64_t *fields[] = {&l->max_entries, &l->max_entry, &l->max_total, &l->max_ratio};
    assay_ingest_limits_default(l);
    for (int i = 0; i < 4; i++)
        *fields[i] = assay_lab_setting(lab, keys[i], 1, UINT64_MAX, *fields[i]);
}

/* What a file name says the artifact is. */
static const char *expected_format(const char *name)
{
    size_t n = strlen(name);
#define ENDS(s) (n > strlen(s) && strcmp(name + n - strlen(s), s) == 0)
    if (ENDS(".rpm"))
        return "rpm";
    if (ENDS(".deb"))
        return "deb";
    if (ENDS(".zip"))
        return "zip";
    if (ENDS(".tar") || ENDS(".tar.gz") || ENDS(".tgz") || ENDS(".tar.xz") || ENDS(".txz") ||
        ENDS(".tar.zst") || ENDS(".tar.bz2"))
        return "tar";
#undef ENDS
    return NULL;
}


/* ---- one budget for one submission ---------------------------------------
 *
 * Everything that reads the vendor's bytes (the archive, the manifest, the
 * packages inside, the ELF files for preflight) runs in a child process
 * with a CPU limit (RLIMIT_CPU) and an address-space ceiling (RLIMIT_AS,
 * set to what the process has mapped when it starts plus the budget: a
 * sanitizer's shadow reservations are not the parse's), while the parent
 * keeps the wall clock. The child touches neither the store nor the
 * published blobs: it stages files in the submission's own staging
 * directory and hands back, as JSON over a pipe, what it found and where
 * each staged file is; the parent publishes. It tells the parent what it is
 * doing ("phase" lines), so a budget crossed is named with where. */

static int report_fd = -1; /* the child's end of the pipe */
extern char **environ;

static void phase(const char *what)
{
    if (report_fd < 0)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "phase", what);
    char *t = cJSON_PrintUnformatted(o);
    if (t) {
        assay_write_all(report_fd, t, strlen(t));
        assay_write_all(report_fd, "\n", 1);
    }
    cJSON_free(t);
    cJSON_Delete(o);
}

uint64_t assay_mapped_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)kb << 10;
}

#define REPORT_CAP (64u << 20) /* what a child may say, preflight result included */
#define JOB_CAP (64u << 20)    /* what a child is told: a manifest, its artifacts, paths */

/* The test hook of docs/reliability.md: ASSAY_TEST_KILL=<point> makes the
 * process kill itself (SIGKILL) there, to show what a crash leaves. */
static void kill_point(const char *point)
{
    const char *k = getenv("ASSAY_TEST_KILL");
    if (k && !strcmp(k, point))
        kill(getpid(), SIGKILL);
}

/* How a child is started: forked (a process of one thread: the CLI), or
 * as this executable run again, `assay __budgeted` (assay serve: a fork of
 * a process of many threads may copy a lock another thread holds, in the
 * allocator or a library, and the child then waits on it for ever). The
 * executable is /proc/self/exe at the spawn, the server's own image even
 * when its file has been replaced or removed since it started (an upgrade
 * while it runs). */
static int spawn_children;

int assay_package_spawn_children(void)
{
    spawn_children = 1;
    return access("/proc/self/exe", X_OK) == 0 ? 0 : assay_error_set_errno(ASSAY_EIO, errno, "/proc/self/exe");
}

static int child_run(const char *text, size_t len);

/* Start the child on `job` (JSON text): its report comes on *rd. */
static int child_start(pid_t *pid, int *rd, const char *job, size_t len)
{
    int p[2], in[2] = {-1, -1};
    if (pipe2(p, O_CLOEXEC) != 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "pipe");
    if (!spawn_children) {
        fflush(NULL);
        *pid = fork();
        if (*pid == 0) {
            close(p[0]);
            report_fd = p[1];
            _exit(child_run(job, len)); /* not exit(): nothing of the parent's (the store) is ours to close */
        }
    } else {
        posix_spawn_file_actions_t fa;
        char *argv[] = {"assay", "__budgeted", NULL};
        int e = pipe2(in, O_CLOEXEC) != 0 ? errno : 0;
        if (!e) {
            /* Not the server's signal mask (its threads block SIGTERM) nor
             * its ignored SIGPIPE: a child of its own. */
            posix_spawnattr_t at;
            sigset_t none, dfl;
            sigemptyset(&none);
            sigemptyset(&dfl);
            sigaddset(&dfl, SIGPIPE);
            posix_spawnattr_init(&at);
            posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
            posix_spawnattr_setsigmask(&at, &none);
            posix_spawnattr_setsigdefault(&at, &dfl);
            posix_spawn_file_actions_init(&fa);
            posix_spawn_file_actions_adddup2(&fa, in[0], 0);
            posix_spawn_file_actions_adddup2(&fa, p[1], 1);
            e = posix_spawn(pid, "/proc/self/exe", &fa, &at, argv, environ);
            posix_spawn_file_actions_destroy(&fa);
            posix_spawnattr_destroy(&at);
            close(in[0]);
        }
        if (e) {
            *pid = -1;
            errno = e;
        } else {
            /* The job, then EOF; a child gone early is its exit status's
             * story (the server ignores SIGPIPE). */
            (void)assay_write_all(in[1], job, len);
        }
        if (in[1] >= 0)
            close(in[1]);
    }
    close(p[1]);
    if (*pid < 0) {
        int e = errno;
        close(p[0]);
        return assay_error_set_errno(ASSAY_EIO, e, spawn_children ? "spawn assay __budgeted" : "fork");
    }
    *rd = p[0];
    return 0;
}

static int budgeted(const assay_package_budget_t *b, cJSON *job, cJSON **out)
{
    char where[200] = "starting", num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)b->cpu_seconds);
    cJSON_AddStringToObject(job, "cpu_seconds", num);
    snprintf(num, sizeof num, "%llu", (unsigned long long)b->memory_bytes);
    cJSON_AddStringToObject(job, "memory_bytes", num);
    char *text = cJSON_PrintUnformatted(job);
    if (!text)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    pid_t pid = -1;
    int rd = -1;
    int src = child_start(&pid, &rd, text, strlen(text));
    cJSON_free(text);
    if (src < 0)
        return src;
    int p[2] = {rd, -1};

    char *buf = malloc(REPORT_CAP + 1);
    size_t used = 0, line = 0;
    cJSON *final = NULL;
    int rc = 0, killed = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!buf)
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
    while (rc == 0) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        int64_t left = (int64_t)b->wall_seconds * 1000 - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0) {
            kill(pid, SIGKILL);
            killed = 1;
            rc = assay_error_set(ASSAY_ETIMEOUT, "over the wall-clock budget of %llu s (ingest.wall_seconds) while %s",
                                 (unsigned long long)b->wall_seconds, where);
            break;
        }
        struct pollfd pf = {p[0], POLLIN, 0};
        int r = poll(&pf, 1, left > 60000 ? 60000 : (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        if (used == REPORT_CAP) {
            kill(pid, SIGKILL);
            killed = 1;
            rc = assay_error_set(ASSAY_ETOOBIG, "the checks' result is over %u bytes while %s", REPORT_CAP, where);
            break;
        }
        ssize_t n = read(p[0], buf + used, REPORT_CAP - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        /* Whole lines: phases as they come, the verdict last. */
        for (char *nl; (nl = memchr(buf + line, '\n', used - line));) {
            *nl = '\0';
            cJSON *o = cJSON_Parse(buf + line);
            line = (size_t)(nl - buf) + 1;
            const cJSON *ph = cJSON_GetObjectItemCaseSensitive(o, "phase");
            if (cJSON_IsString(ph)) {
                snprintf(where, sizeof where, "%s", ph->valuestring);
                if (!strncmp(where, "preflight", 9))
                    kill_point("preflight");
                cJSON_Delete(o);
            } else {
                cJSON_Delete(final);
                final = o;
            }
        }
    }
    close(p[0]);
    int status = 0;
    struct rusage ru = {0};
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                 ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    free(buf);
    if (rc < 0 || killed) {
        cJSON_Delete(final);
        return rc;
    }
    /* SIGXCPU at the soft limit, SIGKILL at the hard one a second later. */
    if (WIFSIGNALED(status) &&
        (WTERMSIG(status) == SIGXCPU || (WTERMSIG(status) == SIGKILL && cpu >= (double)b->cpu_seconds))) {
        cJSON_Delete(final);
        return assay_error_set(ASSAY_ETIMEOUT, "over the CPU budget of %llu s (ingest.cpu_seconds) while %s",
                               (unsigned long long)b->cpu_seconds, where);
    }
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(final, "result");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(final, "error");
    if (cJSON_IsNumber(err)) {
        int code = (int)err->valuedouble;
        const char *msg = assay_json_str(final, "message");
        if (code == ASSAY_ENOMEM)
            rc = assay_error_set(ASSAY_ETOOBIG, "over the memory budget of %llu bytes (ingest.memory_bytes) while %s",
                                 (unsigned long long)b->memory_bytes, where);
        else
            rc = assay_error_set(code < 0 ? code : ASSAY_EINVAL, "%s", msg);
    } else if (!res || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        /* A sanitizer that cannot map memory aborts instead of failing a
         * malloc: the ceiling is then what stopped it. */
        rc = assay_error_set(ASSAY_ETOOBIG, "the checks stopped (%s %d) while %s: over the memory budget of %llu bytes "
                                            "(ingest.memory_bytes)?", WIFSIGNALED(status) ? "signal" : "exit status",
                             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), where,
                             (unsigned long long)b->memory_bytes);
    } else {
        *out = cJSON_DetachItemFromObjectCaseSensitive(final, "result");
    }
    cJSON_Delete(final);
    return rc;
}

/* ---- in the child ----------------------------------------------------------
 *
 * Its job comes as JSON (what to read, the lab's blob and profile folders,
 * the limits and the budget), whether it was forked or run again as
 * `assay __budgeted`: one way in, whichever way it was started. */

static const char *jstr(const cJSON *o, const char *k)
{
    return assay_json_str(o, k);
}

static uint64_t ju64(const cJSON *o, const char *k)
{
    return strtoull(jstr(o, k), NULL, 10);
}

static void add_u64(cJSON *o, const char *k, uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    cJSON_AddStringToObject(o, k, b);
}

/* What every job carries: its kind, the lab's folders, the limits. */
static cJSON *job_new(const char *kind, const assay_lab *lab, const assay_ingest_limits *l)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "kind", kind);
    cJSON_AddStringToObject(j, "blobs", lab->blobs);
    cJSON_AddStringToObject(j, "profiles", lab->profiles);
    add_u64(j, "max_entries", l->max_entries);
    add_u64(j, "max_entry", l->max_entry);
    add_u64(j, "max_total", l->max_total);
    add_u64(j, "max_ratio", l->max_ratio);
    return j;
}

/* The budget, before anything of the vendor's is read. */
static void child_limits(const cJSON *job)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_DFL);
    /* Names in archives are UTF-8 more often than not: libarchive
     * converts them to the locale's charset, and "C" has no room for
     * them ("an entry has no name"). */
    setlocale(LC_CTYPE, "C.UTF-8");
    uint64_t cpu_s = ju64(job, "cpu_seconds"), mem = ju64(job, "memory_bytes");
    struct rlimit cpu = {(rlim_t)cpu_s, (rlim_t)cpu_s + 1};
    struct rlimit as = {(rlim_t)(assay_mapped_bytes() + mem), (rlim_t)(assay_mapped_bytes() + mem)};
    setrlimit(RLIMIT_CPU, &cpu);
    setrlimit(RLIMIT_AS, &as);
    setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
    /* Reading a vendor's archive is batch work: the dispatcher's loop,
     * on the same CPUs, goes first (under assay serve's 16 uploads at
     * once it was slowed several times over). */
    errno = 0;
    int prio = getpriority(PRIO_PROCESS, 0);
    if (errno == 0)
        setpriority(PRIO_PROCESS, 0, prio + 10 > 19 ? 19 : prio + 10);
}

/* ---- in the child: read the submission, check it, preflight it ---------- */

struct add_job {
    assay_lab *lab;
    const char *staged;   /* the submission, read once into staging */
    const char *stagedir; /* where everything else is staged */
    uint64_t size;
    assay_ingest_limits lim;
    char id[65];
};

static int add_work(struct add_job *j, cJSON **out)
{
    assay_ingest *in = NULL;
    assay_manifest *m = NULL;
    assay_artifact_rec *arts = NULL;
    char **blobs = NULL;
    cJSON *res = NULL, *pf = NULL;
    assay_ingest_tally tally = {.lim = &j->lim, .raw = j->size};
    int rc;

    phase("reading the archive");
    if ((rc = assay_ingest_open(&in, j->staged, j->lab->blobs, j->stagedir, &tally, ASSAY_MANIFEST_NAME)) < 0)
        goto out;
    size_t mlen;
    const char *mtext = assay_ingest_manifest(in, &mlen);
    if (!mtext) {
        rc = assay_error_set(ASSAY_EINVAL, "the archive has no %s at its root", ASSAY_MANIFEST_NAME);
        goto out;
    }
    phase("checking " ASSAY_MANIFEST_NAME);
    if ((rc = assay_manifest_parse(&m, mtext, mlen)) < 0) {
        assay_error_wrap("%s", ASSAY_MANIFEST_NAME);
        goto out;
    }
    /* One record per file: an artifact of several files ("files") is as
     * many records with its arch and ABI world. */
    if (!(arts = calloc(m->nfiles, sizeof *arts)) || !(blobs = calloc(m->nfiles, sizeof *blobs))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    res = cJSON_CreateObject();
    cJSON *ja = cJSON_AddArrayToObject(res, "artifacts");
    for (size_t i = 0; i < m->nfiles; i++) {
        size_t ai = 0, k;
        while (ai + 1 < m->nartifacts && m->artifacts[ai + 1].first <= i)
            ai++;
        const assay_manifest_artifact *ma = &m->artifacts[ai];
        const char *file = m->files[i];
        k = i - ma->first;
        char field[48];
        if (ma->nfiles > 1)
            snprintf(field, sizeof field, "artifacts[%zu].files[%zu]", ai, k);
        else
            snprintf(field, sizeof field, "artifacts[%zu].file", ai);
        assay_ingest_file f;
        char staged[4096], fmt[16], arch[64], what[400];
        snprintf(what, sizeof what, "reading the package metadata of artifact '%s'", file);
        phase(what);
        if ((rc = assay_ingest_find(in, file, &f, staged, sizeof staged)) < 0) {
            if (rc == ASSAY_ENOTFOUND)
                assay_error_set(rc, "%s: %s: '%s' is not in the archive", ASSAY_MANIFEST_NAME, field, file);
            goto out;
        }
        if ((rc = assay_package_probe(staged, fmt, sizeof fmt, arch, sizeof arch, &tally)) < 0) {
            assay_error_wrap("artifact '%s'", file);
            goto out;
        }
        const char *want = expected_format(file);
        if (want && strcmp(want, fmt) != 0) {
            rc = assay_error_set(ASSAY_EINVAL, "artifact '%s': named like a .%s but its content is %s%s", file,
                                 want, strcmp(fmt, "file") == 0 ? "not an archive or package" : "a ",
                                 strcmp(fmt, "file") == 0 ? "" : fmt);
            goto out;
        }
        /* In a set, a package for every architecture (Debian's "all",
         * rpm's "noarch": data, documentation) may go with the others. */
        if (arch[0] && strcmp(arch, ma->arch) != 0 && !(ma->nfiles > 1 && !strcmp(arch, "noarch"))) {
            rc = assay_error_set(ASSAY_EINVAL, "artifact '%s': its %s metadata says arch %s, the manifest says %s",
                                 file, fmt, arch, ma->arch);
            goto out;
        }
        assay_artifact_rec *a = &arts[i];
        snprintf(a->name, sizeof a->name, "%s", file);
        snprintf(a->arch, sizeof a->arch, "%s", ma->arch);
        snprintf(a->abi, sizeof a->abi, "%s", ma->abi);
        snprintf(a->format, sizeof a->format, "%s", fmt);
        memcpy(a->sha256, f.sha256, sizeof a->sha256);
        a->size = f.size;
        blobs[i] = strdup(staged);
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", a->name);
        cJSON_AddStringToObject(x, "arch", a->arch);
        cJSON_AddStringToObject(x, "abi", a->abi);
        cJSON_AddStringToObject(x, "format", a->format);
        cJSON_AddStringToObject(x, "sha256", a->sha256);
        char sz[24]; /* 64-bit sizes travel as text (cJSON's numbers are doubles) */
        snprintf(sz, sizeof sz, "%llu", (unsigned long long)a->size);
        cJSON_AddStringToObject(x, "size", sz);
        cJSON_AddStringToObject(x, "staged", staged);
        cJSON_AddItemToArray(ja, x);
    }
    /* Preflight: every ELF file of every artifact, against the lab's
     * profiles. Its result is stored with the package, in one transaction;
     * a payload that does not read refuses the submission. */
    phase("preflight");
    if ((rc = assay_pkgcheck_files(&pf, j->lab, j->id, mtext, arts, m->nfiles, blobs, NULL, 0, &tally)) < 0)
        goto out;
    cJSON_AddStringToObject(res, "manifest", mtext);
    cJSON_AddStringToObject(res, "product", m->product);
    cJSON_AddStringToObject(res, "version", m->version);
    cJSON_AddStringToObject(res, "vendor", m->vendor);
    cJSON_AddItemToObject(res, "preflight", pf);
    pf = NULL;
    *out = res;
    res = NULL;
out:
    /* The staged artifacts stay for the parent to publish: they are in the
     * submission's staging directory, which the parent removes whatever
     * happens. Freeing `in` here would unlink them. */
    (void)in;
    for (size_t i = 0; blobs && m && i < m->nfiles; i++)
        free(blobs[i]);
    free(blobs);
    free(arts);
    cJSON_Delete(res);
    cJSON_Delete(pf);
    assay_manifest_free(m);
    return rc;
}

/* ---- in the child: preflight of a stored package ------------------------- */

struct pf_job {
    assay_lab *lab;
    const assay_package_rec *p;
    const char *mtext;
    const assay_artifact_rec *arts;
    size_t na;
    char **blobs;
    char *const *profiles;
    size_t nprof;
    assay_ingest_limits lim;
};

static int pf_work(struct pf_job *j, cJSON **out)
{
    assay_ingest_tally tally = {.lim = &j->lim, .raw = j->p->size};
    phase("preflight");
    return assay_pkgcheck_files(out, j->lab, j->p->id, j->mtext, j->arts, j->na, j->blobs, j->profiles, j->nprof,
                                &tally);
}

/* An artifact's record as JSON, but for its size (a number to show, a
 * string to carry). */
static cJSON *art_json(const assay_artifact_rec *a)
{
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "name", a->name);
    cJSON_AddStringToObject(x, "arch", a->arch);
    cJSON_AddStringToObject(x, "abi", a->abi);
    cJSON_AddStringToObject(x, "format", a->format);
    cJSON_AddStringToObject(x, "sha256", a->sha256);
    return x;
}

/* The artifacts' records as a job carries them (child_run reads them back). */
static cJSON *arts_json(const assay_artifact_rec *a, size_t n, char *const *blobs)
{
    cJSON *l = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *x = art_json(&a[i]);
        add_u64(x, "size", a[i].size);
        cJSON_AddStringToObject(x, "path", blobs[i]);
        cJSON_AddItemToArray(l, x);
    }
    return l;
}

/* The job in the child: its result or error as one line on report_fd;
 * the exit status. */
static int child_run(const char *text, size_t len)
{
    cJSON *job = cJSON_ParseWithLength(text, len), *res = NULL, *msg = cJSON_CreateObject(), *x;
    assay_lab lab = {0};
    int rc;
    if (!job || !msg) {
        rc = assay_error_set(ASSAY_EINVAL, "the child's job is not JSON");
        goto done;
    }
    child_limits(job);
    snprintf(lab.blobs, sizeof lab.blobs, "%s", jstr(job, "blobs"));
    snprintf(lab.profiles, sizeof lab.profiles, "%s", jstr(job, "profiles"));
    assay_ingest_limits lim = {ju64(job, "max_entries"), ju64(job, "max_entry"), ju64(job, "max_total"),
                               ju64(job, "max_ratio")};
    if (!strcmp(jstr(job, "kind"), "add")) {
        struct add_job j = {&lab, jstr(job, "staged"), jstr(job, "stagedir"), ju64(job, "size"), lim, {0}};
        snprintf(j.id, sizeof j.id, "%s", jstr(job, "id"));
        rc = add_work(&j, &res);
    } else {
        const cJSON *ja = cJSON_GetObjectItemCaseSensitive(job, "artifacts"),
                    *jp = cJSON_GetObjectItemCaseSensitive(job, "want");
        size_t na = (size_t)cJSON_GetArraySize(ja), np = (size_t)cJSON_GetArraySize(jp), i = 0;
        assay_artifact_rec *arts = calloc(na ? na : 1, sizeof *arts);
        char **blobs = calloc(na ? na : 1, sizeof *blobs), **profs = calloc(np ? np : 1, sizeof *profs);
        assay_package_rec p = {.size = ju64(job, "size")};
        snprintf(p.id, sizeof p.id, "%s", jstr(job, "id"));
        cJSON_ArrayForEach(x, ja)
        {
            snprintf(arts[i].name, sizeof arts[i].name, "%s", jstr(x, "name"));
            snprintf(arts[i].arch, sizeof arts[i].arch, "%s", jstr(x, "arch"));
            snprintf(arts[i].abi, sizeof arts[i].abi, "%s", jstr(x, "abi"));
            snprintf(arts[i].format, sizeof arts[i].format, "%s", jstr(x, "format"));
            snprintf(arts[i].sha256, sizeof arts[i].sha256, "%s", jstr(x, "sha256"));
            arts[i].size = ju64(x, "size");
            blobs[i++] = (char *)jstr(x, "path");
        }
        i = 0;
        cJSON_ArrayForEach(x, jp) profs[i++] = cJSON_IsString(x) ? x->valuestring : "";
        struct pf_job j = {&lab, &p, jstr(job, "manifest"), arts, na, blobs, np ? profs : NULL, np, lim};
        rc = arts && blobs && profs ? pf_work(&j, &res) : assay_error_set(ASSAY_ENOMEM, "out of memory");
        free(arts);
        free(blobs);
        free(profs);
    }
done:
    if (rc < 0) {
        cJSON_AddNumberToObject(msg, "error", rc);
        cJSON_AddStringToObject(msg, "message", assay_error_last()->message);
    } else {
        cJSON_AddItemToObject(msg, "result", res);
    }
    char *t = msg ? cJSON_PrintUnformatted(msg) : NULL;
    int status = !t || assay_write_all(report_fd, t, strlen(t)) != 0 || assay_write_all(report_fd, "\n", 1) != 0 ? 3 : 0;
    cJSON_free(t);
    cJSON_Delete(msg);
    cJSON_Delete(job);
    return status;
}

int assay_package_child_main(void)
{
    char *buf = malloc(JOB_CAP + 1);
    size_t len = 0;
    if (!buf)
        return 3;
    /* All of it, to its end: a parent still writing is never left blocked
     * (a job over the cap is read to its end and refused). */
    int over = 0;
    for (ssize_t n; (n = read(0, buf + len, JOB_CAP - len)) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(buf);
            return 3;
        }
        len += (size_t)n;
        if (len == JOB_CAP) {
            over = 1;
            len = 0;
        }
    }
    if (over) {
        free(buf);
        return 3;
    }
    report_fd = 1;
    int rc = child_run(buf, len);
    free(buf);
    return rc;
}

int assay_package_preflight(cJSON **out, assay_lab *lab, const char *id, char *const *profiles, size_t n)
{
    assay_package_rec p;
    assay_artifact_rec *arts = NULL;
    assay_package_budget_t b;
    size_t na = 0;
    char *mtext = NULL, **blobs = NULL;
    int rc;

    if ((rc = assay_store_package_get(lab->store, id, &p, &mtext)) < 0 ||
        (rc = assay_store_artifacts(lab->store, p.id, &arts, &na)) < 0)
        goto out;
    if (!(blobs = calloc(na ? na : 1, sizeof *blobs))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < na; i++) {
        char path[4096];
        if ((rc = assay_blob_path(path, sizeof path, lab->blobs, arts[i].sha256)) < 0)
            goto out;
        if (!(blobs[i] = strdup(path))) {
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            goto out;
        }
    }
    assay_ingest_limits lim;
    assay_package_limits(lab, &lim);
    assay_package_budget(lab, &b);
    cJSON *job = job_new("preflight", lab, &lim), *want = cJSON_AddArrayToObject(job, "want");
    cJSON_AddStringToObject(job, "id", p.id);
    add_u64(job, "size", p.size);
    cJSON_AddStringToObject(job, "manifest", mtext);
    cJSON_AddItemToObject(job, "artifacts", arts_json(arts, na, blobs));
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(want, cJSON_CreateString(profiles[i]));
    if ((rc = budgeted(&b, job, out)) < 0)
        assay_error_wrap("preflight of package %.12s", p.id);
    cJSON_Delete(job);
out:
    for (size_t i = 0; blobs && i < na; i++)
        free(blobs[i]);
    free(blobs);
    free(mtext);
    free(arts);
    return rc;
}

int assay_package_complete(assay_lab *lab, const char *id, int *done)
{
    *done = 0;
    char *have = assay_store_package_preflight(lab->store, id);
    if (have) {
        free(have);
        return 0;
    }
    cJSON *pf = NULL;
    int rc = assay_package_preflight(&pf, lab, id, NULL, 0);
    if (rc < 0)
        return rc;
    char *text = cJSON_PrintUnformatted(pf);
    cJSON_Delete(pf);
    if (!text)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    rc = assay_store_package_set_preflight(lab->store, id, text);
    cJSON_free(text);
    if (rc == 0)
        *done = 1;
    return rc;
}

/* ---- garbage ---------------------------------------------------------------- */

static int referenced(void *ctx, const char *hex)
{
    return assay_store_blob_referenced(ctx, hex);
}

int assay_package_gc(assay_lab *lab, int64_t grace, size_t *staged, size_t *orphans)
{
    return assay_blob_gc(lab->blobs, grace, referenced, lab->store, staged, orphans);
}

/* ---- package add ------------------------------------------------------------ */

/* A staged file the child names must be one of ours: in the staging
 * directory, a plain name. */
static int staged_ok(const char *stagedir, const char *path)
{
    size_t n = strlen(stagedir);
    return !strncmp(path, stagedir, n) && path[n] == '/' && !strchr(path + n + 1, '/') && path[n + 1] != '.';
}

int assay_package_add(assay_lab *lab, const char *path, enum assay_add_mode mode, char id[65], int *existed)
{
    assay_blob_writer *sub = NULL;
    assay_package_budget_t b;
    assay_package_rec p;
    assay_artifact_rec *arts = NULL;
    cJSON *res = NULL;
    char stagedir[4096] = "";
    int stagelock = -1;
    char *pftext = NULL;
    uint64_t size;
    size_t na = 0;
    int rc, fd = -1;

    *existed = 0;
    /* Only what assay serve staged is taken: a file in the blob store's
     * staging, never a path named from elsewhere. */
    char tmp[PATH_MAX];
    int tn = snprintf(tmp, sizeof tmp, "%s/tmp/", lab->blobs);
    if (mode == ASSAY_ADD_TAKE && (tn < 0 || (size_t)tn >= sizeof tmp || strncmp(path, tmp, (size_t)tn) ||
                                   strstr(path + tn, "/..") || !strncmp(path + tn, "..", 2)))
        return assay_error_set(ASSAY_EINVAL, "%s: only a file in the blob store's staging is taken", path);
    assay_package_budget(lab, &b);
    /* Whatever killed adds left behind goes first. */
    size_t g1, g2;
    if ((rc = assay_package_gc(lab, (int64_t)b.grace_seconds, &g1, &g2)) < 0)
        return rc;

    /* One read: the submission is copied into staging while it is hashed
     * (or moved there, then hashed, when it is ours to take), and
     * everything after reads the staged file; the id names exactly the
     * bytes that were checked. Only a regular file is taken: a pipe or a
     * device could say one thing to the hash and another to the parser. */
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "%s", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "%s", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = assay_error_set(ASSAY_EINVAL, "not a regular file (%s): give the submission as a file",
                             S_ISFIFO(st.st_mode) ? "a named pipe" : S_ISCHR(st.st_mode) ? "a character device"
                             : S_ISDIR(st.st_mode) ? "a directory" : S_ISBLK(st.st_mode) ? "a block device"
                                                                      : "a socket");
        goto out;
    }
    if ((uint64_t)st.st_size > b.max_submission) {
        rc = assay_error_set(ASSAY_ETOOBIG, "%lld bytes, over the %llu-byte cap on a submission "
                                            "(ingest.max_submission_bytes)", (long long)st.st_size,
                             (unsigned long long)b.max_submission);
        goto out;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if ((rc = assay_blob_stagedir(stagedir, sizeof stagedir, &stagelock, lab->blobs, "add")) < 0)
        goto out;
    if (mode == ASSAY_ADD_TAKE)
        rc = assay_blob_stage_take(&sub, lab->blobs, stagedir, path, b.max_submission, id, &size);
    else
        rc = assay_blob_stage_fd(&sub, lab->blobs, stagedir, fd, b.max_submission, path, id, &size);
    if (rc < 0)
        goto out;
    close(fd);
    fd = -1;
    if (assay_store_package_get(lab->store, id, &p, NULL) == 0) {
        /* Added before: complete what a crash may have left pending. */
        int done;
        *existed = 1;
        rc = assay_package_complete(lab, id, &done);
        goto out;
    }
    assay_error_clear();

    assay_ingest_limits lim;
    assay_package_limits(lab, &lim);
    cJSON *job = job_new("add", lab, &lim);
    cJSON_AddStringToObject(job, "staged", assay_blob_writer_path(sub));
    cJSON_AddStringToObject(job, "stagedir", stagedir);
    add_u64(job, "size", size);
    cJSON_AddStringToObject(job, "id", id);
    rc = budgeted(&b, job, &res);
    cJSON_Delete(job);
    if (rc < 0)
        goto out;

    /* The child's verdict: publish the artifacts, then the submission,
     * then one transaction with the package, its artifacts and preflight.
     * A crash between leaves orphan blobs, which gc removes. */
    const cJSON *ja = cJSON_GetObjectItemCaseSensitive(res, "artifacts"), *x;
    na = (size_t)cJSON_GetArraySize(ja);
    if (!(arts = calloc(na ? na : 1, sizeof *arts))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    size_t i = 0;
    cJSON_ArrayForEach(x, ja)
    {
        assay_artifact_rec *a = &arts[i++];
        const char *staged = assay_json_str(x, "staged");
        snprintf(a->name, sizeof a->name, "%s", assay_json_str(x, "name"));
        snprintf(a->arch, sizeof a->arch, "%s", assay_json_str(x, "arch"));
        snprintf(a->abi, sizeof a->abi, "%s", assay_json_str(x, "abi"));
        snprintf(a->format, sizeof a->format, "%s", assay_json_str(x, "format"));
        snprintf(a->sha256, sizeof a->sha256, "%s", assay_json_str(x, "sha256"));
        a->size = strtoull(assay_json_str(x, "size"), NULL, 10);
        if (!staged_ok(stagedir, staged) || !assay_hex_digest_valid(a->sha256)) {
            rc = assay_error_set(ASSAY_EPROTO, "artifact '%s': the checks named no staged file", a->name);
            goto out;
        }
        if ((rc = assay_blob_adopt(lab->blobs, staged, a->sha256)) < 0)
            goto out;
        kill_point("publish");
    }
    memset(&p, 0, sizeof p);
    memcpy(p.id, id, 65);
    const char *base = strrchr(path, '/');
    snprintf(p.file_name, sizeof p.file_name, "%s", base ? base + 1 : path);
    assay_text_clean(p.file_name); /* a file name is bytes: stored as text people can read */
    p.size = size;
    snprintf(p.product, sizeof p.product, "%s", assay_json_str(res, "product"));
    snprintf(p.version, sizeof p.version, "%s", assay_json_str(res, "version"));
    snprintf(p.vendor, sizeof p.vendor, "%s", assay_json_str(res, "vendor"));
    if ((rc = assay_blob_writer_commit(sub, NULL, NULL)) < 0) {
        sub = NULL;
        goto out;
    }
    sub = NULL;
    kill_point("commit");
    if (!(pftext = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(res, "preflight")))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    rc = assay_store_package_add(lab->store, &p, assay_json_str(res, "manifest"), arts, na, pftext);
    if (rc == ASSAY_EEXISTS) { /* added by someone else meanwhile */
        *existed = 1;
        rc = 0;
    }
out:
    if (fd >= 0)
        close(fd);
    assay_blob_writer_abort(sub);
    assay_blob_unstage(stagedir, stagelock);
    cJSON_free(pftext);
    cJSON_Delete(res);
    free(arts);
    return rc;
}

cJSON *assay_package_json(const assay_package_rec *p, const assay_artifact_rec *arts, size_t n)
{
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "artifacts");
    cJSON_AddStringToObject(o, "id", p->id);
    cJSON_AddStringToObject(o, "file_name", p->file_name);
    cJSON_AddNumberToObject(o, "size", (double)p->size);
    cJSON_AddStringToObject(o, "product", p->product);
    cJSON_AddStringToObject(o, "version", p->version);
    cJSON_AddStringToObject(o, "vendor", p->vendor);
    cJSON_AddStringToObject(o, "added_at", p->added_at);
    for (size_t i = 0; i < n; i++) {
        cJSON *x = art_json(&arts[i]);
        cJSON_AddNumberToObject(x, "size", (double)arts[i].size);
        cJSON_AddItemToArray(a, x);
    }
    return o;
}

void assay_package_targets_free(assay_package_targets_t *t)
{
    for (size_t i = 0; t->gaps && i < t->n; i++)
        free(t->gaps[i]);
    free(t->gaps);
    free(t->list);
    free(t->ids);
    memset(t, 0, sizeof *t);
}

int assay_package_targets(assay_package_targets_t *out, assay_lab *lab, const char *package_id, const char *spec)
{
    assay_package_targets_t t = {0};
    assay_package_rec p;
    char *manifest = NULL;
    assay_manifest *m = NULL;
    int rc;
    if ((rc = assay_store_package_get(lab->store, package_id, &p, &manifest)) < 0 ||
        (rc = assay_manifest_parse(&m, manifest, strlen(manifest))) < 0 ||
        (rc = assay_profile_select(&t.ids, &t.n, lab->profiles, spec)) < 0)
        goto out;
    t.gaps = calloc(t.n ? t.n : 1, sizeof *t.gaps);
    t.list = calloc(t.n ? t.n : 1, sizeof *t.list);
    if (!t.gaps || !t.list) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < t.n; i++) {
        assay_profile *pr;
        t.list[i] = t.ids[i];
        if ((rc = assay_profile_load(&pr, lab->profiles, t.ids[i])) < 0)
            goto out;
        const char *world = pr->loongarch_world[0] ? pr->loongarch_world : NULL;
        if (!assay_manifest_pick(m, pr->arch, world)) {
            char why[256];
            snprintf(why, sizeof why, "the package has no artifact for %s%s%s%s (not provided by the vendor)",
                     pr->arch, world ? ", " : "", world ? world : "", world ? "-world ABI" : "");
            if (!(t.gaps[i] = strdup(why)))
                rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            t.ngaps++;
        }
        assay_profile_free(pr);
        if (rc < 0)
            goto out;
    }
    memcpy(out->id, p.id, sizeof p.id);
    out->ids = t.ids;
    out->list = t.list;
    out->gaps = t.gaps;
    out->n = t.n;
    out->ngaps = t.ngaps;
    memset(&t, 0, sizeof t);
    rc = 0;
out:
    assay_package_targets_free(&t);
    free(manifest);
    assay_manifest_free(m);
    return rc;
}
