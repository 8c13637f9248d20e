/*
 * The job supervisor, and the commands that start, follow, query and
 * cancel it. See docs/protocol.md for the events it writes.
 */
#include "job.h"
#include "evlog.h"
#include "facts.h"
#include "inspect.h"
#include "run.h"
#include "assay/spec.h"
#include "assay/error.h"
#include "assay/evmac.h"
#include "assay/io.h"
#include "assay/proto.h"
#include "assay/version.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int path_in(char *out, size_t outlen, const char *dir, const char *name)
{
    int n = snprintf(out, outlen, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= outlen)
        return assay_error_set(ASSAY_EINVAL, "path too long: %s/%s", dir, name);
    return 0;
}

/* Write `name` in `dir` whole or not at all: a temp file of our own beside
 * it, synced, then put in place. With `excl` the name must not exist yet
 * (link(2) fails on an existing name, where rename(2) replaces it): the one
 * job.json of a job directory is created once, never overwritten. */
static int write_file_atomic_mode(const char *dir, const char *name, const char *data, size_t len, int excl,
                                  mode_t mode);

static int write_file_atomic(const char *dir, const char *name, const char *data, size_t len, int excl)
{
    return write_file_atomic_mode(dir, name, data, len, excl, 0);
}

/* The same; `mode` (when not 0) given to the file before it is put in
 * place (mkostemp makes it 0600). */
static int write_file_atomic_mode(const char *dir, const char *name, const char *data, size_t len, int excl,
                                  mode_t mode)
{
    char path[PATH_MAX], tmp[PATH_MAX + 16];
    if (path_in(path, sizeof path, dir, name) < 0)
        return ASSAY_EINVAL;
    /* A name of our own beside the target (two starts at once must not
     * share one), renamed over it only when whole. */
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "create %s", tmp);
    if (assay_write_all(fd, data, len) != 0 || (mode && fchmod(fd, mode) != 0)) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return assay_error_set_errno(ASSAY_EIO, e, "write %s", tmp);
    }
    if (fsync(fd) != 0 || close(fd) != 0 || (excl ? link(tmp, path) : rename(tmp, path)) != 0) {
        int e = errno;
        unlink(tmp);
        return assay_error_set_errno(e == EEXIST ? ASSAY_EEXISTS : ASSAY_EIO, e, "write %s", path);
    }
    if (excl)
        unlink(tmp);
    /* The rename is durable only once its folder is. */
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *slash = '/';
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL)) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        return assay_error_set_errno(ASSAY_EIO, e, "sync the folder of %s", path);
    }
    close(dfd);
    return 0;
}

static char *read_file(const char *path, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = malloc(cap + 1);
    ssize_t n = buf ? assay_read_full(fd, buf, cap) : -1;
    close(fd);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* The job directory as an absolute path without links: the supervisor
 * puts it in every step's environment, and recovery finds processes by it. */
static int resolve_dir(char out[PATH_MAX], const char *arg)
{
    struct stat st;
    if (!realpath(arg, out) || stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
        return assay_error_set(ASSAY_ENOTFOUND, "job directory %s does not exist", arg);
    if (strlen(out) > PATH_MAX - 256)
        return assay_error_set(ASSAY_EINVAL, "job directory path too long");
    return 0;
}

/* 1 if a supervisor holds the job's lock, 0 if not. */
static int supervisor_running(const char *dir)
{
    char path[PATH_MAX];
    if (path_in(path, sizeof path, dir, ASSAY_JOB_LOCK) < 0)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int running = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* drops a lock we may have taken */
    return running;
}

/* A job's step running as root can stop the supervisor (SIGSTOP) that
 * enforces its timeouts; a stopped supervisor holds its lock, so the job
 * looks alive for ever. Whoever looks at the job (attach, cancel) resumes
 * it: 1 when it was stopped, 0 when not, negative when it cannot tell. */
/* The supervisor's pid from its pid file: a number > 1 and nothing but an
 * optional newline after it, or a negative code (a missing file is
 * ASSAY_EIO, anything else in it ASSAY_EPROTO). One rule for every reader. */
static long supervisor_pid(const char *dir)
{
    char path[PATH_MAX];
    size_t len;
    if (path_in(path, sizeof path, dir, ASSAY_JOB_PID) < 0)
        return assay_error_set(ASSAY_EINVAL, "job directory path too long");
    char *s = read_file(path, 31, &len);
    if (!s)
        return assay_error_set_errno(ASSAY_EIO, errno, "read %s", path);
    char *end;
    errno = 0;
    long pid = strtol(s, &end, 10);
    int bad = errno || pid <= 1 || end == s || (*end && strcmp(end, "\n"));
    free(s);
    if (bad)
        return assay_error_set(ASSAY_EPROTO, "%s does not hold a pid", path);
    return pid;
}

static int supervisor_resume(const char *dir)
{
    long pid = supervisor_pid(dir);
    if (pid < 0) {
        assay_error_clear();
        return -1;
    }
    char state;
    if (assay_proc_stat(pid, &state, NULL) < 0)
        return -1;
    if (state != 'T')
        return 0;
    return kill((pid_t)pid, SIGCONT) == 0 ? 1 : -1;
}

/* ---- events -------------------------------------------------------------- */

static cJSON *event(const char *type)
{
    cJSON *e = cJSON_CreateObject();
    if (e && !cJSON_AddStringToObject(e, "type", type)) {
        cJSON_Delete(e);
        e = NULL;
    }
    return e;
}

static int add_u64(cJSON *o, const char *k, uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%" PRIu64, v);
    return cJSON_AddStringToObject(o, k, b) ? 0 : -1;
}

static int emit_error(assay_evlog *log, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int emit_error(assay_evlog *log, const char *step, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *e = event("error");
    if (!e || !cJSON_AddStringToObject(e, "message", msg) ||
        !(step ? cJSON_AddStringToObject(e, "step", step) : cJSON_AddNullToObject(e, "step"))) {
        cJSON_Delete(e);
        return ASSAY_ENOMEM;
    }
    return assay_evlog_emit(log, e, NULL);
}

struct tally {
    int pass, fail, error, skipped;
    int infra;      /* infrastructure errors: never the vendor's failure */
    int canceled;
};

static int emit_job_end(assay_evlog *log, const char *id, const struct tally *t, uint64_t wall_ns,
                        const char *reason)
{
    const char *outcome = t->canceled ? "canceled" : t->infra || t->error ? "error"
                          : t->fail                                      ? "failed"
                                                                         : "passed";
    cJSON *e = event("job-end"), *c;
    if (!e || !(id ? cJSON_AddStringToObject(e, "job", id) : cJSON_AddNullToObject(e, "job")) ||
        !cJSON_AddStringToObject(e, "outcome", outcome) ||
        !(reason ? cJSON_AddStringToObject(e, "reason", reason) : cJSON_AddNullToObject(e, "reason")) ||
        !(c = cJSON_AddObjectToObject(e, "counts")) || !cJSON_AddNumberToObject(c, "pass", t->pass) ||
        !cJSON_AddNumberToObject(c, "fail", t->fail) || !cJSON_AddNumberToObject(c, "error", t->error) ||
        !cJSON_AddNumberToObject(c, "skipped", t->skipped) || add_u64(e, "wall_ns", wall_ns)) {
        cJSON_Delete(e);
        return ASSAY_ENOMEM;
    }
    /* The load and clocks after the job, beside the facts' before: what a
     * benchmark's figures ran under. */
    cJSON *env = assay_facts_environment();
    if (!env || !cJSON_AddItemToObject(e, "environment", env)) {
        cJSON_Delete(env);
        cJSON_Delete(e);
        return ASSAY_ENOMEM;
    }
    return assay_evlog_emit(log, e, NULL);
}

/* ---- the supervisor ------------------------------------------------------ */

static int wake_pipe[2] = {-1, -1};
/* A cancel stops the running step and skips the rest, but uninstall still
 * runs (with its own timeout): a canceled job must not leave the vendor's
 * package on the host. A cancel "now" stops uninstall too. SIGTERM and
 * SIGINT ask for the first, and a second one for the second (a person
 * pressing Ctrl-C twice); SIGUSR1 asks for "now" at once. */
static volatile sig_atomic_t cancel_requested, cancel_now;

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGTERM || sig == SIGINT) {
        if (cancel_requested)
            cancel_now = 1;
        cancel_requested = 1;
    } else if (sig == SIGUSR1) {
        cancel_requested = cancel_now = 1;
    }
    if (wake_pipe[1] >= 0 && write(wake_pipe[1], "x", 1) < 0) {
        /* pipe full: a wake-up is already pending */
    }
    errno = saved;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the run user --------------------------------------------------------- */

/* Whom tests and benchmarks run as (docs/security.md): an unprivileged
 * account, so that a test cannot write the event log, signal the
 * supervisor or replace the agent. Install and uninstall run as the login
 * user (root), as package managers need. */
static struct runas {
    int active;      /* tests and benchmarks drop to uid/gid */
    uid_t uid;
    gid_t gid;
    char name[33];
    char why[256];   /* when not active: why not */
} runas;

static int step_drops(const assay_step *st)
{
    return runas.active && !st->privileged && (st->kind == ASSAY_STEP_TEST || st->kind == ASSAY_STEP_BENCH);
}

/* The account `name` in /etc/passwd (the files a static binary can read;
 * a run user is a local system account). 1 found, 0 not, -1 unreadable. */
static int passwd_find(const char *name, uid_t *uid, gid_t *gid)
{
    size_t len;
    char *buf = read_file("/etc/passwd", 16u << 20, &len), *line, *save = NULL;
    if (!buf)
        return -1;
    size_t nl = strlen(name);
    int found = 0;
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, name, nl) != 0 || line[nl] != ':')
            continue;
        char *f = strchr(line + nl + 1, ':'), *end;
        if (!f)
            break;
        unsigned long u = strtoul(f + 1, &end, 10);
        if (*end != ':')
            break;
        unsigned long g = strtoul(end + 1, &end, 10);
        if (*end != ':')
            break;
        *uid = (uid_t)u;
        *gid = (gid_t)g;
        found = 1;
        break;
    }
    free(buf);
    return found;
}

/* Run useradd for a system account without a home or a login shell. */
static int add_user(const char *name)
{
    static const char *const tools[] = {"/usr/sbin/useradd", "/sbin/useradd"};
    for (size_t i = 0; i < 2; i++) {
        if (access(tools[i], X_OK) != 0)
            continue;
        char *argv[] = {(char *)tools[i], "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/sbin/nologin", (char *)name, NULL};
        pid_t pid = fork();
        if (pid == 0) {
            int devnull = open("/dev/null", O_RDWR);
            if (devnull >= 0) {
                dup2(devnull, 0);
                dup2(devnull, 1);
                dup2(devnull, 2);
            }
            char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
            execve(tools[i], argv, envp);
            _exit(127);
        }
        int st = 0;
        while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        return pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
    }
    return -1;
}

/* Decide whom tests run as, creating the account if it is missing, and
 * give it the work tree. Fills `runas`; never fails the job by itself:
 * a job without isolation says so in its job-start (and the report). */
static void runas_setup(const char *dir, const assay_spec *sp)
{
    memset(&runas, 0, sizeof runas);
    if (!sp->run_user) {
        snprintf(runas.why, sizeof runas.why, "the job names no run user");
        return;
    }
    if (geteuid() != 0) {
        snprintf(runas.why, sizeof runas.why, "the agent does not run as root: every step runs as uid %u",
                 (unsigned)geteuid());
        return;
    }
    uid_t uid = 0;
    gid_t gid = 0;
    int found = 0;
    /* Several jobs may create the account at once (useradd locks
     * /etc/passwd and one of them fails): look again after each try. */
    for (int i = 0; i < 20 && (found = passwd_find(sp->run_user, &uid, &gid)) == 0; i++) {
        if (add_user(sp->run_user) == 0)
            continue;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (found <= 0) {
        snprintf(runas.why, sizeof runas.why, "run user %s: %s", sp->run_user,
                 found < 0 ? "cannot read /etc/passwd" : "missing, and useradd could not create it");
        return;
    }
    if (uid == 0) {
        snprintf(runas.why, sizeof runas.why, "run user %s has uid 0", sp->run_user);
        return;
    }
    static const char *const own[] = {ASSAY_JOB_WORK, ASSAY_JOB_WORK "/home", ASSAY_JOB_WORK "/tmp"};
    char path[PATH_MAX];
    for (size_t i = 0; i < 3; i++) {
        path_in(path, sizeof path, dir, own[i]);
        if (lchown(path, uid, gid) != 0) {
            snprintf(runas.why, sizeof runas.why, "chown %s: %s", path, strerror(errno));
            return;
        }
    }
    runas.active = 1;
    runas.uid = uid;
    runas.gid = gid;
    snprintf(runas.name, sizeof runas.name, "%s", sp->run_user);
}

/* "isolation" in job-start: whom tests ran as, or why they ran as root. */
static cJSON *isolation_json(void)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int ok = runas.active ? cJSON_AddStringToObject(o, "run_user", runas.name) &&
                                cJSON_AddNumberToObject(o, "uid", (double)runas.uid) &&
                                cJSON_AddNullToObject(o, "note")
                          : cJSON_AddNullToObject(o, "run_user") && cJSON_AddNullToObject(o, "uid") &&
                                cJSON_AddStringToObject(o, "note", runas.why);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The environment of every step: documented in docs/protocol.md. */
struct env {
    char *v[64 + 256 + 1];
    size_t n;
};

static int env_set(struct env *e, const char *name, const char *value)
{
    size_t nl = strlen(name);
    char *s = malloc(nl + strlen(value) + 2);
    if (!s)
        return -1;
    snprintf(s, nl + strlen(value) + 2, "%s=%s", name, value);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], name, nl) == 0 && e->v[i][nl] == '=') {
            free(e->v[i]);
            e->v[i] = s;
            return 0;
        }
    if (e->n + 1 >= sizeof e->v / sizeof e->v[0]) {
        free(s);
        return -1;
    }
    e->v[e->n++] = s;
    e->v[e->n] = NULL;
    return 0;
}

static void env_free(struct env *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    e->n = 0;
}

static int build_env(struct env *e, const char *dir, const assay_spec *sp, const assay_step *st,
                     int run)
{
    char b[PATH_MAX];
    e->n = 0;
    e->v[0] = NULL;
    if (env_set(e, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") ||
        env_set(e, "LANG", "C.UTF-8") || env_set(e, "SHELL", "/bin/sh"))
        return -1;
    snprintf(b, sizeof b, "%s/" ASSAY_JOB_WORK "/home", dir);
    if (env_set(e, "HOME", b))
        return -1;
    snprintf(b, sizeof b, "%s/" ASSAY_JOB_WORK "/tmp", dir);
    if (env_set(e, "TMPDIR", b))
        return -1;
    /* Passed through from the agent's own environment: who we are, the time
     * zone, and the emulated lab's qemu settings (CPU model, loader prefix),
     * which must reach the vendor's binaries too. */
    for (char **p = environ; p && *p; p++) {
        if (strncmp(*p, "QEMU_", 5) == 0 || strncmp(*p, "USER=", 5) == 0 ||
            strncmp(*p, "LOGNAME=", 8) == 0 || strncmp(*p, "TZ=", 3) == 0) {
            const char *eq = strchr(*p, '=');
            char name[128];
            size_t nl = (size_t)(eq - *p);
            if (!eq || nl >= sizeof name)
                continue;
            memcpy(name, *p, nl);
            name[nl] = '\0';
            if (env_set(e, name, eq + 1))
                return -1;
        }
    }
    if (step_drops(st) && (env_set(e, "USER", runas.name) || env_set(e, "LOGNAME", runas.name)))
        return -1;
    for (size_t i = 0; i < sp->nenv; i++) {
        char *eq = strchr(sp->env[i], '=');
        char name[160];
        size_t nl = (size_t)(eq - sp->env[i]);
        if (nl >= sizeof name)
            return -1;
        memcpy(name, sp->env[i], nl);
        name[nl] = '\0';
        if (env_set(e, name, eq + 1))
            return -1;
    }
    snprintf(b, sizeof b, "%d", run);
    if (env_set(e, "ASSAY_JOB_DIR", dir) || env_set(e, "ASSAY_JOB_ID", sp->id) ||
        env_set(e, "ASSAY_STEP_ID", st->id) || env_set(e, "ASSAY_STEP_KIND", assay_step_kind_name(st->kind)) ||
        env_set(e, "ASSAY_RUN", b))
        return -1;
    if (sp->artifact) {
        /* The artifact (a set's first file), every file of it one per
         * line in the manifest's order, and the folder holding them. */
        snprintf(b, sizeof b, "%s/%s", dir, sp->artifact);
        if (env_set(e, "ASSAY_ARTIFACT", b))
            return -1;
        if (sp->nartifacts == 0) {
            if (env_set(e, "ASSAY_ARTIFACTS", b))
                return -1;
            snprintf(b, sizeof b, "%s", dir);
        } else {
            size_t cap = sp->nartifacts * (strlen(dir) + sizeof ASSAY_ARTIFACT_DIR + 258), used = 0;
            char *list = malloc(cap);
            if (!list)
                return -1;
            list[0] = '\0';
            for (size_t i = 0; i < sp->nartifacts; i++)
                used += (size_t)snprintf(list + used, cap - used, "%s%s/%s/%s", i ? "\n" : "", dir,
                                         ASSAY_ARTIFACT_DIR, sp->artifacts[i]);
            int bad = env_set(e, "ASSAY_ARTIFACTS", list);
            free(list);
            if (bad)
                return -1;
            snprintf(b, sizeof b, "%s/%s", dir, ASSAY_ARTIFACT_DIR);
        }
        if (env_set(e, "ASSAY_ARTIFACT_DIR", b))
            return -1;
    }
    return 0;
}

/* A bench sample in a unit other than time is the number on the last
 * non-empty line of the run's stdout. */
static int last_line_number(const char *path, double *out)
{
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    char *line = strrchr(buf, '\n');
    line = line ? line + 1 : buf;
    char *end;
    errno = 0;
    double v = strtod(line, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    if (end == line || *end || errno || v != v)
        return -1;
    *out = v;
    return 0;
}

static const char *signame(int sig)
{
    switch (sig) {
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGSEGV: return "SIGSEGV";
    case SIGILL: return "SIGILL";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT";
    case SIGFPE: return "SIGFPE";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    case SIGPIPE: return "SIGPIPE";
    default: return NULL;
    }
}

/*
 * A benchmark's runs (docs/manifest.md, "repeat"): warm-up runs first, then
 * samples until a stop rule holds. The rule is decided after each run, so
 * that the run's step-end carries the reason the benchmark stopped; the
 * controller's jobcheck recomputes it from the samples it saw.
 */
struct bench {
    const assay_repeat *rep;
    uint64_t t0;        /* monotonic ns when the step's first run began */
    int n;              /* samples taken */
    double mean, m2;    /* Welford: running mean, sum of squared deviations */
    const char *stop;   /* why the benchmark stopped, after its last run */
    double rse;         /* at the last sample */
};

static void bench_sample(struct bench *b, double v)
{
    b->n++;
    double d = v - b->mean;
    b->mean += d / b->n;
    b->m2 += d * (v - b->mean);
    b->rse = assay_repeat_rse(b->n, b->mean, b->m2);
}

/* After run `run` ended with `verdict` (0 pass) and took wall_ns: stop
 * now, and why? NULL: run again. */
static const char *bench_decide(struct bench *b, int run, int verdict, uint64_t wall_ns, int canceled)
{
    const assay_repeat *r = b->rep;
    if (canceled)
        return "canceled";
    if (!r->adaptive)
        return run >= r->warmup + r->max ? "count" : NULL;
    /* A failed run says the benchmark is broken here: more samples of it
     * would not make a figure to trust. */
    if (verdict != 0)
        return "failed";
    if (run > r->warmup && r->target_rse > 0 && b->n >= r->min && b->rse <= r->target_rse)
        return "stable";
    if (b->n >= r->max)
        return "max";
    /* Stop before a run that would likely end after the budget: the last
     * run's time is the best guess of the next one's. */
    if (r->budget_s > 0 && (double)(mono_ns() - b->t0 + wall_ns) / 1e9 > r->budget_s)
        return "budget";
    return NULL;
}

static int emit_step_start(assay_evlog *log, const assay_step *st, int run)
{
    cJSON *e = event("step-start");
    if (!e || !cJSON_AddStringToObject(e, "step", st->id) ||
        !cJSON_AddStringToObject(e, "kind", assay_step_kind_name(st->kind)) ||
        !cJSON_AddStringToObject(e, "name", st->name) || !cJSON_AddNumberToObject(e, "run", run) ||
        !cJSON_AddNumberToObject(e, "runs", st->repeat.warmup + st->repeat.max) ||
        (st->kind == ASSAY_STEP_BENCH && !cJSON_AddBoolToObject(e, "warmup", run <= st->repeat.warmup))) {
        cJSON_Delete(e);
        return ASSAY_ENOMEM;
    }
    return assay_evlog_emit(log, e, NULL);
}

static int emit_skip(assay_evlog *log, const assay_step *st, const char *reason, struct tally *t)
{
    cJSON *e = event("step-end");
    t->skipped++;
    if (!e || !cJSON_AddStringToObject(e, "step", st->id) ||
        !cJSON_AddStringToObject(e, "kind", assay_step_kind_name(st->kind)) ||
        !cJSON_AddStringToObject(e, "verdict", "skipped") || !cJSON_AddStringToObject(e, "reason", reason)) {
        cJSON_Delete(e);
        return ASSAY_ENOMEM;
    }
    return assay_evlog_emit(log, e, NULL);
}

/* ---- live output: "output" events while a step runs -------------------- */

struct live {
    assay_evlog *log;
    const assay_step *st;
    int run;
    char buf[2][ASSAY_LIVE_CHUNK];
    size_t held[2];       /* bytes in buf */
    uint64_t sent[2];     /* bytes of the stream already sent (the next offset) */
    uint64_t due;         /* when what is held goes out, or 0 */
    int failed;           /* an event could not be written: no more live output */
};

static uint64_t live_job; /* the job's live output so far, every run's (the supervisor runs one job) */

static void b64(char *out, const unsigned char *in, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = '\0';
}

/* One chunk of stream k out as an "output" event. A write that fails ends
 * the live output, never the step: the log on disk has every byte. */
static void live_send(struct live *l, int k)
{
    static const char *const names[] = {"stdout", "stderr"};
    if (!l->held[k] || l->failed)
        return;
    char data[ASSAY_LIVE_CHUNK / 3 * 4 + 8];
    b64(data, (const unsigned char *)l->buf[k], l->held[k]);
    cJSON *e = event("output");
    char off[24];
    snprintf(off, sizeof off, "%" PRIu64, l->sent[k]);
    if (!e || !cJSON_AddStringToObject(e, "step", l->st->id) || !cJSON_AddNumberToObject(e, "run", l->run) ||
        !cJSON_AddStringToObject(e, "stream", names[k]) || !cJSON_AddStringToObject(e, "offset", off) ||
        !cJSON_AddStringToObject(e, "data", data)) {
        cJSON_Delete(e);
        l->failed = 1;
        return;
    }
    if (assay_evlog_emit(l->log, e, NULL) < 0) {
        assay_error_clear();
        l->failed = 1;
        return;
    }
    l->sent[k] += l->held[k];
    live_job += l->held[k];
    l->held[k] = 0;
}

static void live_put(void *arg, int k, const char *data, size_t len)
{
    struct live *l = arg;
    while (len && !l->failed) {
        uint64_t room = ASSAY_LIVE_MAX - l->sent[k] - l->held[k], held = l->held[0] + l->held[1];
        if (live_job + held >= ASSAY_LIVE_JOB_MAX)
            room = 0;
        else if (room > ASSAY_LIVE_JOB_MAX - live_job - held)
            room = ASSAY_LIVE_JOB_MAX - live_job - held;
        size_t take = ASSAY_LIVE_CHUNK - l->held[k];
        if (take > room)
            take = (size_t)room;
        if (take > len)
            take = len;
        if (!take)
            return; /* past what is sent live: the log keeps it */
        memcpy(l->buf[k] + l->held[k], data, take);
        l->held[k] += take;
        data += take;
        len -= take;
        if (!l->due)
            l->due = mono_ns() + (uint64_t)ASSAY_LIVE_MS * 1000000u;
        if (l->held[k] == ASSAY_LIVE_CHUNK || l->sent[k] + l->held[k] == ASSAY_LIVE_MAX || take == room)
            live_send(l, k);
    }
}

static uint64_t live_flush(void *arg, uint64_t now, int force)
{
    struct live *l = arg;
    if (l->failed || (!l->held[0] && !l->held[1]))
        return l->due = 0;
    if (force || now >= l->due) {
        live_send(l, 0);
        live_send(l, 1);
        return l->due = 0;
    }
    return l->due;
}

/* Run one step run and emit its step-end; `stop` is the cancel flag that
 * stops this step. *verdict_out: 0 pass, 1 fail, 2 error. A benchmark's
 * run passes `bench`, which decides whether it was the last (bench->stop). */
static int run_once(assay_evlog *log, const char *dir, const assay_spec *sp, const assay_step *st,
                    int run, volatile sig_atomic_t *stop, struct tally *t, int *verdict_out, struct bench *bench)
{
    char out_rel[128], err_rel[128], out_path[PATH_MAX], err_path[PATH_MAX], reason[256] = "";
    struct env env;
    assay_run_result r;
    int rc;

    if ((rc = emit_step_start(log, st, run)) < 0)
        return rc;
    snprintf(out_rel, sizeof out_rel, ASSAY_JOB_LOGS "/%s.%d.stdout", st->id, run);
    snprintf(err_rel, sizeof err_rel, ASSAY_JOB_LOGS "/%s.%d.stderr", st->id, run);
    snprintf(out_path, sizeof out_path, "%s/%s", dir, out_rel);
    snprintf(err_path, sizeof err_path, "%s/%s", dir, err_rel);
    if (build_env(&env, dir, sp, st, run) < 0) {
        env_free(&env);
        return assay_error_set(ASSAY_ENOMEM, "step environment too large");
    }
    char work[PATH_MAX];
    path_in(work, sizeof work, dir, ASSAY_JOB_WORK);
    assay_run_opts o = {
        .command = st->command, .cwd = work, .envp = env.v, .out_path = out_path,
        .drop = step_drops(st), .uid = runas.uid, .gid = runas.gid,
        .err_path = err_path, .log_cap = sp->log_cap, .timeout_s = st->timeout_s,
        .grace_s = sp->kill_grace_s, .wake_fd = wake_pipe[0], .cancel = stop,
    };
    /* A benchmark's runs are measured: no live output beside them. */
    struct live live = {.log = log, .st = st, .run = run};
    const assay_run_live hook = {live_put, live_flush, &live};
    if (st->kind != ASSAY_STEP_BENCH)
        o.live = &hook;
    rc = assay_run_step(&r, &o);
    env_free(&env);
    if (rc < 0) {
        /* The agent could not supervise (logs unopenable: disk full, job
         * directory gone). The step's tree is gone; say why. */
        emit_error(log, st->id, "cannot run step: %s", assay_error_last()->message);
        memset(&r, 0, sizeof r);
        r.spawn_errno = EIO;
    }

    int verdict; /* 0 pass, 1 fail, 2 error */
    double value = 0;
    int have_value = 0;
    const char *sn = r.term_signal ? signame(r.term_signal) : NULL;
    if (!r.spawned) {
        verdict = 2;
        snprintf(reason, sizeof reason, "could not start /bin/sh: %s",
                 rc < 0 ? assay_error_last()->message : strerror(r.spawn_errno));
    } else if (r.canceled) {
        verdict = 2;
        snprintf(reason, sizeof reason, "canceled");
    } else if (r.timed_out) {
        verdict = 1;
        snprintf(reason, sizeof reason, "timed out after %gs", st->timeout_s);
    } else if (!r.exited) {
        verdict = 1;
        if (sn)
            snprintf(reason, sizeof reason, "killed by %s", sn);
        else
            snprintf(reason, sizeof reason, "killed by signal %d", r.term_signal);
    } else if (r.exit_code != st->expect_exit) {
        verdict = 1;
        snprintf(reason, sizeof reason, "exit status %d, expected %d", r.exit_code, st->expect_exit);
    } else {
        verdict = 0;
    }
    if (verdict == 0 && st->kind == ASSAY_STEP_BENCH) {
        if (strcmp(st->unit, "s") == 0) {
            value = (double)r.wall_ns / 1e9;
            have_value = 1;
        } else if (strcmp(st->unit, "ms") == 0) {
            value = (double)r.wall_ns / 1e6;
            have_value = 1;
        } else if (last_line_number(out_path, &value) == 0) {
            have_value = 1;
        } else {
            verdict = 1;
            snprintf(reason, sizeof reason, "no number on the last line of stdout (unit %s)", st->unit);
        }
    }
    if (r.log_errno) {
        t->infra++;
        emit_error(log, st->id, "writing the step's log failed: %s", strerror(r.log_errno));
    }
    if (verdict == 0)
        t->pass++;
    else if (verdict == 1)
        t->fail++;
    else
        t->error++;

    cJSON *e = event("step-end"), *m, *lg, *io;
    static const char *const vnames[] = {"pass", "fail", "error"};
    int ok = e && cJSON_AddStringToObject(e, "step", st->id) &&
             cJSON_AddStringToObject(e, "kind", assay_step_kind_name(st->kind)) &&
             cJSON_AddNumberToObject(e, "run", run) &&
             cJSON_AddStringToObject(e, "verdict", vnames[verdict]) &&
             (reason[0] ? cJSON_AddStringToObject(e, "reason", reason) != NULL
                        : cJSON_AddNullToObject(e, "reason") != NULL) &&
             (r.spawned && r.exited ? cJSON_AddNumberToObject(e, "exit_code", r.exit_code) != NULL
                                    : cJSON_AddNullToObject(e, "exit_code") != NULL) &&
             (r.spawned && !r.exited && r.term_signal
                  ? cJSON_AddStringToObject(e, "signal", sn ? sn : "other") != NULL &&
                        cJSON_AddNumberToObject(e, "signal_number", r.term_signal) != NULL
                  : cJSON_AddNullToObject(e, "signal") != NULL) &&
             cJSON_AddBoolToObject(e, "timed_out", r.timed_out) &&
             cJSON_AddNumberToObject(e, "expect_exit", st->expect_exit) &&
             (m = cJSON_AddObjectToObject(e, "metrics")) && !add_u64(m, "wall_ns", r.wall_ns) &&
             !add_u64(m, "user_ns", r.user_ns) && !add_u64(m, "sys_ns", r.sys_ns) &&
             !add_u64(m, "max_rss_kb", r.max_rss_kb) && !add_u64(m, "minflt", r.minflt) &&
             !add_u64(m, "majflt", r.majflt) && !add_u64(m, "nvcsw", r.nvcsw) &&
             !add_u64(m, "nivcsw", r.nivcsw) && cJSON_AddNumberToObject(m, "strays_killed", r.strays);
    if (ok && r.have_io) {
        ok = (io = cJSON_AddObjectToObject(m, "io")) && !add_u64(io, "rchar", r.rchar) &&
             !add_u64(io, "wchar", r.wchar) && !add_u64(io, "read_bytes", r.read_bytes) &&
             !add_u64(io, "write_bytes", r.write_bytes);
    } else if (ok) {
        ok = cJSON_AddNullToObject(m, "io") != NULL;
    }
    ok = ok && (lg = cJSON_AddObjectToObject(e, "logs")) &&
         cJSON_AddStringToObject(lg, "stdout", out_rel) && cJSON_AddStringToObject(lg, "stderr", err_rel) &&
         !add_u64(lg, "stdout_bytes", r.out_bytes) && !add_u64(lg, "stdout_kept", r.out_kept) &&
         !add_u64(lg, "stderr_bytes", r.err_bytes) && !add_u64(lg, "stderr_kept", r.err_kept) &&
         cJSON_AddBoolToObject(lg, "truncated", r.out_bytes > r.out_kept || r.err_bytes > r.err_kept);
    if (ok && st->kind == ASSAY_STEP_BENCH)
        ok = (have_value ? cJSON_AddNumberToObject(e, "value", value) != NULL
                         : cJSON_AddNullToObject(e, "value") != NULL) &&
             cJSON_AddStringToObject(e, "unit", st->unit) &&
             cJSON_AddBoolToObject(e, "warmup", run <= st->repeat.warmup);
    if (ok && bench) {
        /* A warm-up run's value is recorded and is not a sample. */
        if (have_value && run > st->repeat.warmup)
            bench_sample(bench, value);
        bench->stop = bench_decide(bench, run, verdict, r.wall_ns, r.canceled || *stop);
        cJSON *so;
        if (bench->stop)
            ok = (so = cJSON_AddObjectToObject(e, "stop")) && cJSON_AddStringToObject(so, "reason", bench->stop) &&
                 cJSON_AddNumberToObject(so, "samples", bench->n) &&
                 cJSON_AddNumberToObject(so, "warmup", run < st->repeat.warmup ? run : st->repeat.warmup) &&
                 (isfinite(bench->rse) ? cJSON_AddNumberToObject(so, "rse", bench->rse) != NULL
                                       : cJSON_AddNullToObject(so, "rse") != NULL);
    }
    if (!ok) {
        cJSON_Delete(e);
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    }
    *verdict_out = verdict;
    return assay_evlog_emit(log, e, NULL);
}

static int emit_inspect(assay_evlog *log, const char *dir, const assay_spec *sp, int *errors)
{
    cJSON *facts = NULL, *res = NULL;
    int rc = assay_facts_collect(&facts);
    if (rc < 0)
        return rc;
    char work[PATH_MAX];
    path_in(work, sizeof work, dir, ASSAY_JOB_WORK);
    rc = assay_inspect_files(&res, sp->inspect, sp->ninspect, work, facts);
    cJSON_Delete(facts);
    if (rc < 0)
        return rc;
    *errors = cJSON_GetObjectItem(res, "errors")->valueint;
    cJSON *e = event("inspect");
    if (!e || !cJSON_AddItemToObject(e, "result", res)) {
        cJSON_Delete(e);
        cJSON_Delete(res);
        return ASSAY_ENOMEM;
    }
    return assay_evlog_emit(log, e, NULL);
}

static cJSON *agent_identity(void)
{
    char id[129] = "";
    cJSON *a = cJSON_CreateObject();
    if (assay_build_id(id, sizeof id) < 0)
        id[0] = '\0';
    if (!a || !cJSON_AddStringToObject(a, "version", assay_version()) ||
        !cJSON_AddStringToObject(a, "triple", assay_build_triple()) ||
        !cJSON_AddStringToObject(a, "commit", assay_build_commit()) ||
        !(id[0] ? cJSON_AddStringToObject(a, "build_id", id) : cJSON_AddNullToObject(a, "build_id"))) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

/* Runs in the detached supervisor process. Returns its exit status. */
static int supervise(const char *dir, assay_spec *sp, int ready_fd)
{
    char path[PATH_MAX], reserve[PATH_MAX];
    assay_evlog *log = NULL;
    struct tally t = {0};
    uint64_t t0 = mono_ns();
    int lockfd = -1, status = 1;

    /* Hold the job lock for our whole life: its being held is what "the
     * supervisor is running" means to attach, status and cancel. */
    path_in(path, sizeof path, dir, ASSAY_JOB_LOCK);
    lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int locked = 0;
    for (int i = 0; lockfd >= 0 && i < 100 && !locked; i++) {
        if (flock(lockfd, LOCK_EX | LOCK_NB) == 0)
            locked = 1;
        else {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (!locked) {
        if (write(ready_fd, "L", 1) < 0) {
        }
        return 1;
    }
    char pidbuf[32];
    int pl = snprintf(pidbuf, sizeof pidbuf, "%d\n", (int)getpid());
    if (write_file_atomic(dir, ASSAY_JOB_PID, pidbuf, (size_t)pl, 0) < 0) {
        if (write(ready_fd, "P", 1) < 0) {
        }
        return 1;
    }

    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        if (write(ready_fd, "S", 1) < 0) {
        }
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* Orphans of the steps (daemons) come back to us, to be caught. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    path_in(path, sizeof path, dir, ASSAY_JOB_EVENTS);
    path_in(reserve, sizeof reserve, dir, ASSAY_JOB_RESERVE);
    if (assay_evlog_open(&log, path, reserve) < 0) {
        if (write(ready_fd, "E", 1) < 0) {
        }
        return 1;
    }
    if (sp->keyed)
        assay_evlog_set_key(log, sp->event_key);
    if (write(ready_fd, "ok", 2) < 0) {
    }
    close(ready_fd);

    cJSON *e = event("job-start"), *facts = NULL, *agent = agent_identity();
    if (assay_facts_collect(&facts) < 0)
        facts = NULL;
    int ok = e && agent && facts && cJSON_AddStringToObject(e, "job", sp->id) &&
             cJSON_AddItemToObject(e, "agent", agent);
    if (ok)
        agent = NULL; /* owned by e now */
    ok = ok && cJSON_AddItemToObject(e, "facts", facts);
    if (ok)
        facts = NULL;
    runas_setup(dir, sp);
    ok = ok && cJSON_AddItemToObject(e, "isolation", isolation_json());
    ok = ok && cJSON_AddNumberToObject(e, "steps", (double)sp->nsteps) &&
         (sp->artifact ? cJSON_AddStringToObject(e, "artifact", sp->artifact)
                       : cJSON_AddNullToObject(e, "artifact"));
    cJSON_Delete(agent);
    cJSON_Delete(facts);
    if (!ok) {
        cJSON_Delete(e);
        goto out;
    }
    if (assay_evlog_emit(log, e, NULL) < 0)
        goto out;

    const char *end_reason = NULL;
    for (size_t k = 0; sp->artifact && k < (sp->nartifacts ? sp->nartifacts : 1); k++) {
        struct stat st;
        char rel[300];
        if (sp->nartifacts)
            snprintf(rel, sizeof rel, "%s/%s", ASSAY_ARTIFACT_DIR, sp->artifacts[k]);
        else
            snprintf(rel, sizeof rel, "%s", sp->artifact);
        path_in(path, sizeof path, dir, rel);
        errno = 0;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            t.infra++;
            emit_error(log, NULL, "artifact %s: %s", rel, errno ? strerror(errno) : "not a regular file");
            end_reason = "artifact missing";
            for (size_t i = 0; i < sp->nsteps; i++)
                emit_skip(log, &sp->steps[i], "artifact missing", &t);
            goto end;
        }
    }

    const char *skip_body = NULL; /* why tests and benches are skipped */
    for (size_t i = 0; i < sp->nsteps; i++) {
        const assay_step *st = &sp->steps[i];
        /* After a cancel only uninstall runs, and only if not "now". */
        volatile sig_atomic_t *stop = st->kind == ASSAY_STEP_UNINSTALL ? &cancel_now : &cancel_requested;
        if (*stop) {
            t.canceled = 1;
            emit_skip(log, st, stop == &cancel_now ? "canceled now" : "canceled", &t);
            continue;
        }
        if (skip_body && (st->kind == ASSAY_STEP_TEST || st->kind == ASSAY_STEP_BENCH)) {
            emit_skip(log, st, skip_body, &t);
            continue;
        }
        int verdict = 0;
        /* A benchmark runs until its stop rule says so, and a cancel is one
         * of its reasons: its last step-end always says why it stopped. */
        struct bench bench = {.rep = &st->repeat, .t0 = mono_ns(), .rse = INFINITY};
        for (int run = 1;; run++) {
            int v = 2;
            if (run_once(log, dir, sp, st, run, stop, &t, &v, st->kind == ASSAY_STEP_BENCH ? &bench : NULL) < 0)
                goto out; /* the event log itself failed */
            if (v > verdict)
                verdict = v;
            if (st->kind != ASSAY_STEP_BENCH || bench.stop)
                break;
        }
        if (cancel_requested)
            t.canceled = 1;
        if (st->kind == ASSAY_STEP_INSTALL) {
            if (verdict != 0) {
                skip_body = "install failed";
            } else if (sp->ninspect) {
                int errors = 0;
                if (emit_inspect(log, dir, sp, &errors) < 0) {
                    t.infra++;
                    emit_error(log, st->id, "inspect: %s", assay_error_last()->message);
                } else if (errors && sp->stop_on_inspect_error) {
                    skip_body = "preflight errors on the host";
                }
            }
        }
    }
end:
    assay_run_kill_descendants(NULL);
    if (emit_job_end(log, sp->id, &t, mono_ns() - t0, end_reason) == 0)
        status = 0;
out:
    assay_evlog_free(log);
    /* lockfd closes at exit, releasing the lock after the last event. */
    return status;
}

/* ---- start --------------------------------------------------------------- */

static int record_rejection(const char *dir, const char *why)
{
    char path[PATH_MAX];
    assay_evlog *log = NULL;
    struct tally t = {0};
    t.infra = 1;
    if (path_in(path, sizeof path, dir, ASSAY_JOB_EVENTS) < 0)
        return -1;
    unlink(path);
    if (assay_evlog_open(&log, path, NULL) < 0)
        return -1;
    int rc = emit_error(log, NULL, "job spec rejected: %s", why);
    if (rc == 0)
        rc = emit_job_end(log, NULL, &t, 0, "job spec rejected");
    assay_evlog_free(log);
    return rc;
}

int assay_job_start(const char *dir_arg, const char *spec, size_t len, char *id_out, size_t idlen)
{
    char dir[PATH_MAX], path[PATH_MAX];
    assay_spec *sp = NULL;
    int rc;

    if ((rc = resolve_dir(dir, dir_arg)) < 0)
        return rc;

    /* The agent's own folder: 0700, ours, no link (docs/security.md). */
    struct stat sst;
    path_in(path, sizeof path, dir, ASSAY_JOB_STATE);
    if ((mkdir(path, 0700) != 0 && errno != EEXIST) || lstat(path, &sst) != 0 || !S_ISDIR(sst.st_mode) ||
        sst.st_uid != geteuid() || chmod(path, 0700) != 0)
        return assay_error_set(ASSAY_EIO, "%s: cannot make the agent's state folder (0700, owned by uid %u)", path,
                               (unsigned)geteuid());
    /* One start at a time per job directory: a controller that retries
     * while its first start still runs (a dropped link, a second
     * dispatcher) waits here for it, then finds the job started. Held until
     * this process exits; starts are short. */
    path_in(path, sizeof path, dir, ASSAY_JOB_START_LOCK);
    int slock = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (slock < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "open %s", path);
    while (flock(slock, LOCK_EX) != 0)
        if (errno != EINTR) {
            int e = errno;
            close(slock);
            return assay_error_set_errno(ASSAY_EIO, e, "lock %s", path);
        }
    path_in(path, sizeof path, dir, ASSAY_JOB_SPEC);
    size_t oldlen = 0;
    char *old = read_file(path, ASSAY_SPEC_MAX + 1, &oldlen);

    if ((rc = assay_spec_parse(&sp, spec, len)) < 0) {
        if (!old) { /* never clobber a real job's log */
            assay_error last = *assay_error_last();
            record_rejection(dir, last.message);
            assay_error_set(last.code, "%s", last.message);
        }
        free(old);
        close(slock);
        return rc;
    }
    /* What job.json holds: the spec as sent, without its event key. */
    const char *rec = sp->keyed ? sp->record : spec;
    size_t reclen = sp->keyed ? strlen(sp->record) : len;
    int had_spec = old != NULL; /* the same job's, from a start that did not finish */
    if (old) {
        int same = oldlen == reclen && memcmp(old, rec, reclen) == 0;
        free(old);
        if (!same) {
            rc = assay_error_set(ASSAY_EEXISTS, "job directory %s holds another job", dir);
            goto out;
        }
        /* The same job again: the controller retrying. If its supervisor is
         * running or has written events, there is nothing to start. */
        path_in(path, sizeof path, dir, ASSAY_JOB_EVENTS);
        if (supervisor_running(dir) || access(path, F_OK) == 0) {
            snprintf(id_out, idlen, "%s", sp->id);
            rc = 0;
            goto out;
        }
    }

    static const char *const subdirs[] = {ASSAY_JOB_LOGS, ASSAY_JOB_WORK, ASSAY_JOB_WORK "/tmp",
                                          ASSAY_JOB_WORK "/home"};
    for (size_t i = 0; i < 4; i++) {
        path_in(path, sizeof path, dir, subdirs[i]);
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            rc = assay_error_set_errno(ASSAY_EIO, errno, "mkdir %s", path);
            goto out;
        }
    }
    path_in(path, sizeof path, dir, ASSAY_JOB_EVENTS);
    unlink(path); /* a rejected spec's events, if any */
    if (!had_spec && (rc = write_file_atomic(dir, ASSAY_JOB_SPEC, rec, reclen, 1)) < 0)
        goto out;

    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "pipe");
        goto out;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "fork");
        close(ready[0]);
        close(ready[1]);
        goto out;
    }
    if (child == 0) {
        /* Detach: a new session (no controlling terminal, not in the SSH
         * session's process group), then fork again so the supervisor is
         * not a session leader, and let go of the SSH channel's stdio. */
        close(ready[0]);
        close(slock); /* the start lock is the starter's, not the job's */
        setsid();
        pid_t sup = fork();
        if (sup != 0)
            _exit(sup < 0 ? 1 : 0);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
            if (devnull > 2)
                close(devnull);
        }
        umask(022);
        if (chdir(dir) != 0)
            _exit(1);
        _exit(supervise(dir, sp, ready[1]));
    }
    close(ready[1]);
    int wst;
    while (waitpid(child, &wst, 0) < 0 && errno == EINTR)
        ;
    char ans[8] = "";
    ssize_t n;
    do
        n = read(ready[0], ans, sizeof ans - 1);
    while (n < 0 && errno == EINTR);
    close(ready[0]);
    if (n != 2 || memcmp(ans, "ok", 2) != 0) {
        const char *why = n <= 0 ? "it exited at once"
                          : ans[0] == 'L' ? "another supervisor holds the job lock"
                          : ans[0] == 'E' ? "cannot open the event log"
                                          : "cannot set up";
        rc = assay_error_set(ASSAY_EIO, "job supervisor did not start: %s", why);
        goto out;
    }
    snprintf(id_out, idlen, "%s", sp->id);
    rc = 0;
out:
    close(slock);
    assay_spec_free(sp);
    return rc;
}

/* ---- status, cancel ------------------------------------------------------ */

/* Scan the event log: last seq, whether it has a job-end and its outcome. */
static int scan_events(const char *dir, int64_t *last_seq, int *ended, char *outcome, size_t olen,
                       char *job, size_t jlen)
{
    char path[PATH_MAX];
    size_t len;
    path_in(path, sizeof path, dir, ASSAY_JOB_EVENTS);
    char *buf = read_file(path, 256u << 20, &len);
    *last_seq = -1;
    *ended = 0;
    outcome[0] = job[0] = '\0';
    if (!buf)
        return assay_error_set(ASSAY_ENOTFOUND, "no job in %s", dir);
    for (char *line = buf; line < buf + len;) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        if (!nl)
            break;
        int64_t seq;
        char type[32];
        if (assay_event_head(&seq, type, sizeof type, line, (size_t)(nl - line)) == 0) {
            *last_seq = seq;
            cJSON *o = NULL;
            if (strcmp(type, "job-end") == 0 || strcmp(type, "job-start") == 0)
                o = cJSON_ParseWithLength(line, (size_t)(nl - line));
            const cJSON *v = o ? cJSON_GetObjectItem(o, "job") : NULL;
            if (cJSON_IsString(v))
                snprintf(job, jlen, "%s", v->valuestring);
            if (strcmp(type, "job-end") == 0) {
                *ended = 1;
                v = cJSON_GetObjectItem(o, "outcome");
                if (cJSON_IsString(v))
                    snprintf(outcome, olen, "%s", v->valuestring);
            }
            cJSON_Delete(o);
        }
        line = nl + 1;
    }
    free(buf);
    assay_error_clear();
    return 0;
}

/* ---- logs: the job's logs in one stream --------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One log: its header, then exactly the size fstat gave (a log that is
 * shorter by the time it is read breaks the frame: an error, not a lie). */
static int log_out(int dfd, const char *name, int fd, char *buf, size_t cap)
{
    int lf = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (lf < 0 && errno != ENOENT && errno != ELOOP)
        return assay_error_set_errno(ASSAY_EIO, errno, "open log %s", name); /* a log there, unread: not left out */
    if (lf < 0 || fstat(lf, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (lf >= 0)
            close(lf);
        return 0; /* gone, a link, a folder: not a log */
    }
    int n = snprintf(buf, cap, "%lld logs/%s\n", (long long)st.st_size, name);
    int rc = assay_write_all(fd, buf, (size_t)n) == 0 ? 0 : assay_error_set_errno(ASSAY_EIO, errno, "write");
    for (off_t left = st.st_size; rc == 0 && left > 0;) {
        ssize_t r = read(lf, buf, (size_t)left < cap ? (size_t)left : cap);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            rc = assay_error_set(ASSAY_EIO, "log %s: %s", name, r < 0 ? strerror(errno) : "shorter than it was");
        else if (assay_write_all(fd, buf, (size_t)r) != 0)
            rc = assay_error_set_errno(ASSAY_EIO, errno, "write");
        else
            left -= r;
    }
    close(lf);
    return rc;
}

int assay_job_logs(const char *dir_arg, int fd)
{
    char dir[PATH_MAX], path[PATH_MAX];
    int rc = resolve_dir(dir, dir_arg);
    if (rc < 0 || (rc = path_in(path, sizeof path, dir, ASSAY_JOB_LOGS)) < 0)
        return rc;
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : assay_error_set_errno(ASSAY_EIO, errno, "open %s", path);
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return assay_error_set_errno(ASSAY_EIO, errno, "read %s", path);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d)) != NULL;) {
        if (!assay_log_name_valid(e->d_name, strlen(e->d_name)))
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
            if (!nn) {
                rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name)))
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        else
            n++;
    }
    if (n)
        qsort(names, n, sizeof *names, by_name);
    static char buf[64 * 1024];
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = log_out(dirfd(d), names[i], fd, buf, sizeof buf);
        free(names[i]);
    }
    free(names);
    closedir(d);
    return rc;
}

int assay_job_status(const char *dir_arg, cJSON **out)
{
    char dir[PATH_MAX];
    if (resolve_dir(dir, dir_arg) < 0)
        return ASSAY_ENOTFOUND;
    int64_t last;
    int ended;
    char outcome[32], job[ASSAY_ID_MAX + 1];
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    int running = supervisor_running(dir);
    int have = scan_events(dir, &last, &ended, outcome, sizeof outcome, job, sizeof job) == 0;
    assay_error_clear();
    const char *state = !have ? "none" : running ? "running" : ended ? "ended" : "stopped";
    char path[PATH_MAX];
    long pid = running ? supervisor_pid(dir) : -1;
    assay_error_clear();
    char cancel[16] = "";
    size_t clen = 0;
    path_in(path, sizeof path, dir, ASSAY_JOB_CANCEL);
    char *c = read_file(path, 15, &clen);
    if (c && (strcmp(c, "now\n") == 0 || strcmp(c, "uninstall\n") == 0))
        snprintf(cancel, sizeof cancel, "%.*s", (int)clen - 1, c);
    free(c);
    if (!(job[0] ? cJSON_AddStringToObject(o, "job", job) : cJSON_AddNullToObject(o, "job")) ||
        !(cancel[0] ? cJSON_AddStringToObject(o, "cancel", cancel) : cJSON_AddNullToObject(o, "cancel")) ||
        !cJSON_AddStringToObject(o, "state", state) ||
        !(pid > 0 ? cJSON_AddNumberToObject(o, "pid", (double)pid) : cJSON_AddNullToObject(o, "pid")) ||
        !cJSON_AddNumberToObject(o, "last_seq", (double)last) ||
        !(outcome[0] ? cJSON_AddStringToObject(o, "outcome", outcome) : cJSON_AddNullToObject(o, "outcome"))) {
        cJSON_Delete(o);
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    }
    *out = o;
    return 0;
}

int assay_job_cancel(const char *dir_arg, int now)
{
    char path[PATH_MAX], dir[PATH_MAX];
    if (resolve_dir(dir, dir_arg) < 0)
        return ASSAY_ENOTFOUND;
    int64_t last;
    int ended = 0;
    char outcome[32], job[ASSAY_ID_MAX + 1];
    /* A supervisor that has written its job-end is only exiting. */
    if (!supervisor_running(dir) ||
        (scan_events(dir, &last, &ended, outcome, sizeof outcome, job, sizeof job) == 0 && ended))
        return assay_error_set(ASSAY_ESTATE, "no job is running in %s", dir);
    /* A second plain cancel is a cancel "now": the supervisor counts the
     * SIGTERMs too; the file says which was asked for, for status and for
     * a controller that must not escalate by repeating itself. */
    path_in(path, sizeof path, dir, ASSAY_JOB_CANCEL);
    if (access(path, F_OK) == 0)
        now = 1;
    const char *what = now ? "now\n" : "uninstall\n";
    int rc = write_file_atomic(dir, ASSAY_JOB_CANCEL, what, strlen(what), 0);
    if (rc < 0)
        return rc;
    long pid = supervisor_pid(dir);
    if (pid < 0)
        return (int)pid;
    if (kill((pid_t)pid, now ? SIGUSR1 : SIGTERM) != 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "signal supervisor %ld", pid);
    (void)supervisor_resume(dir); /* a stopped one would not see the signal */
    return 0;
}

/* ---- attach -------------------------------------------------------------- */

/* The supervisor is gone and the log has no job-end: say so in the log.
 * Taking the job lock makes sure only one attacher does it. */
static int recover_dead_job(const char *dir)
{
    char path[PATH_MAX];
    int rc = 0;
    path_in(path, sizeof path, dir, ASSAY_JOB_LOCK);
    int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        if (lfd >= 0)
            close(lfd);
        return 0; /* someone else holds it: a supervisor or another recovery */
    }
    int64_t last;
    int ended;
    char outcome[32], job[ASSAY_ID_MAX + 1];
    if (scan_events(dir, &last, &ended, outcome, sizeof outcome, job, sizeof job) == 0 && !ended) {
        /* The steps the supervisor was running outlive it; they carry the
         * job's environment, which finds them wherever they were reparented. */
        char entry[PATH_MAX + 32];
        snprintf(entry, sizeof entry, "ASSAY_JOB_DIR=%s", dir);
        int killed = assay_run_kill_by_env(entry);
        assay_evlog *log = NULL;
        struct tally t = {0};
        t.infra = 1;
        path_in(path, sizeof path, dir, ASSAY_JOB_EVENTS);
        if ((rc = assay_evlog_open(&log, path, NULL)) == 0) {
            rc = emit_error(log, NULL, "the job's supervisor stopped without ending the job "
                                       "(killed, or the host restarted); %d leftover processes killed",
                            killed);
            if (rc == 0)
                rc = emit_job_end(log, job[0] ? job : NULL, &t, 0, "supervisor lost");
            assay_evlog_free(log);
        }
    }
    close(lfd);
    return rc;
}

/* SIGTERM to an attach: a newer attach of the same job replaces it (or
 * someone asks it to stop). The flag is read between reads, polls and
 * writes; the handler is installed without SA_RESTART, so a blocked poll()
 * or write() returns EINTR and the loop sees it at once. */
static volatile sig_atomic_t attach_stop;

static void on_attach_term(int sig)
{
    (void)sig;
    attach_stop = 1;
}

/* Write one event line to the reader. EPIPE (SIGPIPE is ignored while
 * attaching) means the reader is gone: ASSAY_ECLOSED. A SIGTERM while the
 * write blocks (the reader is alive but not reading) ends it too. */
static int attach_write(int fd, const char *p, size_t len)
{
    while (len) {
        if (attach_stop)
            return assay_error_set(ASSAY_ECANCELED, "replaced by a newer attach (SIGTERM)");
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EPIPE)
            return assay_error_set(ASSAY_ECLOSED, "nobody reads the events any more");
        if (w < 0)
            return assay_error_set_errno(ASSAY_EIO, errno, "write events");
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* 1 if process `pid` is an `attach` of the job directory `dir` (stat'ed as
 * `st`): its command line has an argument "attach" and a --job-dir that
 * names the same directory (relative to its own working directory if need
 * be). A pid file can be stale and a pid reused: never signal a process on
 * the file's word alone. Works under qemu-user too (the emulator's command
 * line carries the agent's arguments after its own). */
static int is_attach_of(pid_t pid, const struct stat *st)
{
    char path[64], arg[PATH_MAX + 64];
    size_t len = 0;
    int attach = 0, same = 0;
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    char *cmd = read_file(path, 64 * 1024, &len);
    if (!cmd)
        return 0;
    for (size_t at = 0; at < len;) {
        const char *a = cmd + at;
        size_t alen = strnlen(a, len - at);
        size_t next = at + alen + 1;
        if (strcmp(a, "attach") == 0)
            attach = 1;
        if (strcmp(a, "--job-dir") == 0 && next < len) {
            const char *d = cmd + next;
            struct stat ds;
            int n = d[0] == '/' ? snprintf(arg, sizeof arg, "%s", d)
                                : snprintf(arg, sizeof arg, "/proc/%d/cwd/%s", (int)pid, d);
            if (n > 0 && (size_t)n < sizeof arg && stat(arg, &ds) == 0 && ds.st_dev == st->st_dev &&
                ds.st_ino == st->st_ino)
                same = 1;
        }
        at = next;
    }
    free(cmd);
    return attach && same;
}

/* Become the job's only attach: hold an exclusive flock on attach.lock for
 * the rest of our life and write our pid to attach.pid. An older attach
 * still holding it (its controller lost the connection, or reconnected) is
 * sent SIGTERM and exits; we wait up to `wait_s` for it to let go. So a
 * controller that comes back never races a stale reader of the same job.
 * *lockfd_out: the lock's descriptor (closing it, or exiting, releases). */
static int attach_claim(int *lockfd_out, const char *dir, double wait_s)
{
    char path[PATH_MAX], pidpath[PATH_MAX];
    struct stat st;
    int fd = -1, rc = -1;
    pid_t signalled = 0;
    long holder = 0; /* the pid attach.pid names */

    if (path_in(path, sizeof path, dir, ASSAY_JOB_ATTACH_LOCK) < 0 ||
        path_in(pidpath, sizeof pidpath, dir, ASSAY_JOB_ATTACH_PID) < 0)
        return ASSAY_EINVAL;
    if (stat(dir, &st) != 0)
        return assay_error_set_errno(ASSAY_ENOTFOUND, errno, "%s", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "open %s", path);
    uint64_t deadline = mono_ns() + (uint64_t)(wait_s * 1e9);
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            rc = assay_error_set_errno(ASSAY_EIO, errno, "lock %s", path);
            goto out;
        }
        if (attach_stop) {
            rc = assay_error_set(ASSAY_ECANCELED, "replaced by a newer attach (SIGTERM)");
            goto out;
        }
        if (mono_ns() > deadline) {
            rc = signalled ? assay_error_set(ASSAY_ESTATE,
                                             "the attach this one replaces (pid %d) did not exit",
                                             (int)signalled)
                           : assay_error_set(ASSAY_ESTATE,
                                             "%s is held (pid %ld) by no attach of this job", path,
                                             holder);
            goto out;
        }
        /* The holder's pid: a file being rewritten reads empty; try again. */
        size_t len = 0;
        char *s = read_file(pidpath, 31, &len);
        char *end = NULL;
        long pid = s ? strtol(s, &end, 10) : 0;
        holder = pid;
        if (s && pid > 1 && pid != (long)getpid() && (*end == '\n' || *end == '\0') &&
            (pid_t)pid != signalled && is_attach_of((pid_t)pid, &st) &&
            kill((pid_t)pid, SIGTERM) == 0)
            signalled = (pid_t)pid;
        free(s);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    char pidbuf[32];
    int pl = snprintf(pidbuf, sizeof pidbuf, "%d\n", (int)getpid());
    int pfd = open(pidpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (pfd < 0 || assay_write_all(pfd, pidbuf, (size_t)pl) != 0) {
        int e = errno;
        if (pfd >= 0)
            close(pfd);
        /* A full disk must not stop the events (they say so): we hold the
         * lock; a newer attach just cannot find us to replace us. */
        if (e != ENOSPC && e != EDQUOT) {
            rc = assay_error_set_errno(ASSAY_EIO, e, "write %s", pidpath);
            goto out;
        }
        unlink(pidpath);
    } else {
        close(pfd);
    }
    *lockfd_out = fd;
    fd = -1;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int assay_job_attach(const char *dir_arg, int64_t from, int outfd)
{
    char path[PATH_MAX], dir[PATH_MAX];
    int fd = -1, ino = -1, lockfd = -1, rc = -1;
    char *buf = NULL;
    size_t have = 0, cap = 64 * 1024;
    off_t off = 0;
    int64_t expect = -1;
    struct sigaction term = {.sa_handler = on_attach_term}, pipe_ign = {.sa_handler = SIG_IGN};
    struct sigaction old_term, old_pipe;

    if (resolve_dir(dir, dir_arg) < 0)
        return ASSAY_ENOTFOUND;
    if (fcntl(outfd, F_GETFD) < 0)
        return assay_error_set_errno(ASSAY_EINVAL, errno, "output descriptor %d", outfd);
    /* A reader that goes away is EPIPE, not a signal; SIGTERM (a newer
     * attach) interrupts a blocked poll or write: no SA_RESTART. */
    attach_stop = 0;
    sigemptyset(&term.sa_mask);
    sigemptyset(&pipe_ign.sa_mask);
    sigaction(SIGTERM, &term, &old_term);
    sigaction(SIGPIPE, &pipe_ign, &old_pipe);

    path_in(path, sizeof path, dir, ASSAY_JOB_EVENTS);
    /* Watch before the first read, so no append falls between the two. */
    ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ino >= 0 && inotify_add_watch(ino, path, IN_MODIFY | IN_CLOSE_WRITE) < 0) {
        close(ino);
        ino = -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = assay_error_set(ASSAY_ENOTFOUND, "no job in %s", dir);
        goto out;
    }
    if ((rc = attach_claim(&lockfd, dir, 10.0)) < 0)
        goto out;
    if (!(buf = malloc(cap))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    int idle_checks = 0;
    for (;;) {
        if (attach_stop) {
            rc = assay_error_set(ASSAY_ECANCELED, "replaced by a newer attach (SIGTERM)");
            goto out;
        }
        if (have == cap) {
            if (cap > ASSAY_EVENT_MAX) {
                rc = assay_error_set(ASSAY_EPROTO, "event log line longer than %d bytes", ASSAY_EVENT_MAX);
                goto out;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = pread(fd, buf + have, cap - have, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = assay_error_set_errno(ASSAY_EIO, errno, "read %s", path);
            goto out;
        }
        if (n > 0) {
            off += n;
            have += (size_t)n;
            size_t at = 0;
            for (char *nl; (nl = memchr(buf + at, '\n', have - at)) != NULL;) {
                size_t len = (size_t)(nl - (buf + at));
                int64_t seq;
                char type[32];
                if (assay_event_head(&seq, type, sizeof type, buf + at, len) < 0) {
                    rc = assay_error_wrap("event log line after seq %" PRId64, expect);
                    goto out;
                }
                if (expect >= 0 && seq != expect + 1) {
                    rc = assay_error_set(ASSAY_EPROTO, "event log jumps from seq %" PRId64 " to %" PRId64,
                                         expect, seq);
                    goto out;
                }
                expect = seq;
                if (seq >= from && (rc = attach_write(outfd, buf + at, len + 1)) < 0)
                    goto out;
                if (strcmp(type, "job-end") == 0) {
                    rc = 0;
                    goto out;
                }
                at += len + 1;
            }
            memmove(buf, buf + at, have - at);
            have -= at;
            idle_checks = 0;
            continue;
        }
        /* At the end of the log for now. */
        if (!supervisor_running(dir)) {
            /* Read once more (the last event may have landed just now),
             * then end the job on the supervisor's behalf. */
            if (idle_checks++ >= 1) {
                if ((rc = recover_dead_job(dir)) < 0)
                    goto out;
                /* A torn last line was cut where it began, and the ending
                 * written from there: read on from that point, without
                 * the torn bytes already read. */
                off -= (off_t)have;
                have = 0;
                if (idle_checks > 3) {
                    rc = assay_error_set(ASSAY_EPROTO, "job log has no job-end and cannot be ended");
                    goto out;
                }
            }
            continue;
        }
        idle_checks = 0;
        /* Quiet, and alive: it may be stopped (see supervisor_resume). */
        (void)supervisor_resume(dir);
        /* Wait for an append (inotify; without it, look every 200 ms), at
         * most a second, then re-check that the supervisor is alive. The
         * reader is in the same poll with no events asked for: poll()
         * reports POLLERR on a pipe whose read end is closed and POLLHUP on
         * a socket whose peer is gone (sshd feeds an exec channel through
         * either), so a quiet job notices a dead controller at once, at no
         * cost while events flow. A regular file never reports either; a
         * terminal only once it is hung up. */
        struct pollfd p[2] = {{outfd, 0, 0}, {ino, POLLIN, 0}};
        int r = poll(p, ino >= 0 ? 2 : 1, ino >= 0 ? 1000 : 200);
        if (r < 0 && errno != EINTR) {
            rc = assay_error_set_errno(ASSAY_EIO, errno, "poll");
            goto out;
        }
        if (r > 0 && (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))) {
            rc = assay_error_set(ASSAY_ECLOSED, "nobody reads the events any more");
            goto out;
        }
        if (r > 0 && ino >= 0 && (p[1].revents & POLLIN)) {
            char ev[4096];
            while (read(ino, ev, sizeof ev) > 0)
                ;
        }
    }
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    if (ino >= 0)
        close(ino);
    if (lockfd >= 0)
        close(lockfd); /* the next attach may go */
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    return rc;
}

int assay_job_receive(const char *path, uint64_t size, const char *sha256)
{
    if (size > ASSAY_RECEIVE_MAX)
        return assay_error_set(ASSAY_ETOOBIG, "%llu bytes: over the %llu a receive takes", (unsigned long long)size,
                               (unsigned long long)ASSAY_RECEIVE_MAX);
    if (strspn(sha256, "0123456789abcdef") != 64 || sha256[64])
        return assay_error_set(ASSAY_EINVAL, "'%.80s' is not a SHA-256 in lower-case hex", sha256);
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path || !slash[1] || (size_t)(slash - path) >= PATH_MAX)
        return assay_error_set(ASSAY_EINVAL, "'%.200s': give a file's path in a folder", path);
    char *buf = malloc(size ? (size_t)size : 1);
    if (!buf)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    ssize_t n = assay_read_full(0, buf, (size_t)size);
    int rc = 0;
    if (n < 0)
        rc = assay_error_set_errno(ASSAY_EIO, errno, "read stdin");
    else if ((uint64_t)n < size)
        rc = assay_error_set(ASSAY_EPROTO, "stdin ended after %zd of %llu bytes", n, (unsigned long long)size);
    if (rc == 0) {
        uint8_t d[32];
        char hex[65];
        assay_evmac_sha256(d, buf, (size_t)size);
        assay_hex(hex, d, 32);
        if (strcmp(hex, sha256) != 0)
            rc = assay_error_set(ASSAY_EPROTO, "digest mismatch: got %s", hex);
    }
    if (rc == 0) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        rc = write_file_atomic_mode(dir, slash + 1, buf, (size_t)size, 0, 0644);
    }
    free(buf);
    return rc;
}
