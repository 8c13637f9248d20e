/* Step execution; see run.h. */
#include "run.h"
#include "assay/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
#define MAX_PROCS 65536     /* /proc entries considered when looking for descendants */
#define DRAIN_AFTER_EXIT_MS 2000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t tv_ns(struct timeval tv)
{
    return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

static void add_rusage(assay_run_result *r, const struct rusage *ru)
{
    r->user_ns += tv_ns(ru->ru_utime);
    r->sys_ns += tv_ns(ru->ru_stime);
    if ((uint64_t)ru->ru_maxrss > r->max_rss_kb)
        r->max_rss_kb = (uint64_t)ru->ru_maxrss;
    r->minflt += (uint64_t)ru->ru_minflt;
    r->majflt += (uint64_t)ru->ru_majflt;
    r->nvcsw += (uint64_t)ru->ru_nvcsw;
    r->nivcsw += (uint64_t)ru->ru_nivcsw;
}

int assay_proc_stat(long pid, char *state, long *ppid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: parse after the last ')'. */
    char *rp = strrchr(buf, ')');
    char st;
    long pp;
    if (!rp || sscanf(rp + 1, " %c %ld", &st, &pp) != 2)
        return -1;
    if (state)
        *state = st;
    if (ppid)
        *ppid = pp;
    return 0;
}

static pid_t ppid_of(const char *pid)
{
    long pp;
    return assay_proc_stat(strtol(pid, NULL, 10), NULL, &pp) == 0 ? (pid_t)pp : -1;
}

/* Descendants of `root` found in /proc, SIGKILLed. Returns how many. */
static int kill_tree_once(pid_t root)
{
    pid_t *pids = malloc(sizeof(pid_t) * 2 * MAX_PROCS), *ppids;
    int n = 0, killed = 0;
    if (!pids)
        return 0;
    ppids = pids + MAX_PROCS;
    DIR *d = opendir("/proc");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL && n < MAX_PROCS) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9')
                continue;
            pid_t pp = ppid_of(e->d_name);
            if (pp < 0)
                continue;
            pids[n] = (pid_t)strtol(e->d_name, NULL, 10);
            ppids[n++] = pp;
        }
        closedir(d);
    }
    /* Mark descendants: repeat until no new process joins (the tree is
     * small; n passes at most). */
    char *mark = calloc((size_t)n + 1, 1);
    if (mark) {
        for (int changed = 1; changed;) {
            changed = 0;
            for (int i = 0; i < n; i++) {
                if (mark[i])
                    continue;
                int parent_marked = ppids[i] == root;
                for (int j = 0; !parent_marked && j < n; j++)
                    parent_marked = mark[j] && pids[j] == ppids[i];
                if (parent_marked) {
                    mark[i] = 1;
                    changed = 1;
                }
            }
        }
        for (int i = 0; i < n; i++)
            if (mark[i] && kill(pids[i], SIGKILL) == 0)
                killed++;
    }
    free(mark);
    free(pids);
    return killed;
}

void assay_run_kill_descendants(int *killed)
{
    pid_t self = getpid();
    for (int round = 0; round < 500; round++) {
        kill_tree_once(self);
        int status, reaped = 0;
        pid_t p;
        while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
            reaped++;
            if (killed)
                (*killed)++;
        }
        if (p < 0 && errno == ECHILD)
            return; /* no children left; orphans of children come back to us */
        if (!reaped) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
}

/* Every child that has ended, reaped and counted as a stray: how many,
 * or -1 when no child is left. */
static int reap_strays(assay_run_result *r)
{
    struct rusage ru;
    int status, reaped = 0;
    pid_t p;
    while ((p = wait4(-1, &status, WNOHANG, &ru)) > 0) {
        add_rusage(r, &ru);
        r->strays++;
        reaped++;
    }
    return p < 0 && errno == ECHILD ? -1 : reaped;
}

/* Kill the step's group, and every other descendant, then reap them all,
 * counting the processes that were not the step's main process. The
 * supervisor is a subreaper (job.c): an orphan of a step becomes its
 * child, so with no child left it has no descendant either, and /proc
 * (every process's stat on the host, at each step's end) is not read.
 * A caller that is no subreaper always reads it. */
static void finish_tree(pid_t pgid, assay_run_result *r)
{
    pid_t self = getpid();
    int subreaper = 0;
    if (prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0) != 0)
        subreaper = 0;
    for (int round = 0; round < 500; round++) {
        kill(-pgid, SIGKILL);
        int reaped = subreaper ? reap_strays(r) : 0;
        if (reaped < 0)
            return;
        kill_tree_once(self);
        int more = reap_strays(r);
        if (more < 0)
            return;
        if (!reaped && !more) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
}

/* 1 if /proc/<pid>/environ holds `entry` as a whole NUL-terminated entry. */
static int environ_has(const char *pid, const char *entry, size_t elen)
{
    char path[64];
    static char buf[128 * 1024];
    snprintf(path, sizeof path, "/proc/%s/environ", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t used = 0;
    ssize_t n;
    while (used < sizeof buf && (n = read(fd, buf + used, sizeof buf - used)) > 0)
        used += (size_t)n;
    close(fd);
    for (size_t at = 0; at < used;) {
        const char *e = buf + at;
        size_t len = strnlen(e, used - at);
        if (len == elen && memcmp(e, entry, elen) == 0)
            return 1;
        at += len + 1;
    }
    return 0;
}

int assay_run_kill_by_env(const char *entry)
{
    size_t elen = strlen(entry);
    int killed = 0;
    pid_t self = getpid();
    for (int round = 0; round < 50; round++) {
        int found = 0;
        DIR *d = opendir("/proc");
        if (!d)
            break;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9')
                continue;
            pid_t p = (pid_t)strtol(e->d_name, NULL, 10);
            if (p == self || !environ_has(e->d_name, entry, elen))
                continue;
            if (kill(p, SIGKILL) == 0) {
                found++;
                killed++;
            }
        }
        closedir(d);
        if (!found)
            break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return killed;
}

static void read_proc_io(pid_t pid, assay_run_result *r)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    struct { const char *key; uint64_t *dst; } f[] = {
        {"rchar:", &r->rchar}, {"wchar:", &r->wchar},
        {"read_bytes:", &r->read_bytes}, {"write_bytes:", &r->write_bytes},
    };
    int found = 0;
    for (size_t i = 0; i < 4; i++) {
        char *at = strstr(buf, f[i].key);
        if (at) {
            *f[i].dst = strtoull(at + strlen(f[i].key), NULL, 10);
            found++;
        }
    }
    r->have_io = found == 4;
}

struct stream {
    int fd;          /* pipe read end, -1 at EOF */
    int log;         /* log file */
    uint64_t *total, *kept;
    int index;       /* 0 stdout, 1 stderr (assay_run_live) */
    const assay_run_live *live;
};

/* Move what the pipe holds into the log, up to the cap; the rest is counted
 * and dropped, so a flood cannot fill the disk or stall the step. */
static void pump(struct stream *s, uint64_t cap, int *log_errno)
{
    static char buf[READ_CHUNK];
    for (int i = 0; i < 16; i++) { /* bounded: let the other stream and timers run */
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            close(s->fd);
            s->fd = -1;
            return;
        }
        *s->total += (uint64_t)n;
        uint64_t room = *s->kept < cap ? cap - *s->kept : 0;
        size_t take = (uint64_t)n < room ? (size_t)n : (size_t)room;
        const char *p = buf;
        while (take && s->log >= 0) {
            ssize_t w = write(s->log, p, take);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                if (!*log_errno)
                    *log_errno = errno;
                break;
            }
            if (s->live)
                s->live->put(s->live->arg, s->index, p, (size_t)w);
            p += w;
            take -= (size_t)w;
            *s->kept += (uint64_t)w;
        }
    }
}

static void note_truncation(struct stream *s)
{
    if (s->log < 0 || *s->total <= *s->kept)
        return;
    char note[160];
    int n = snprintf(note, sizeof note,
                     "\n[assay: output truncated: %llu of %llu bytes kept]\n",
                     (unsigned long long)*s->kept, (unsigned long long)*s->total);
    if (n > 0 && write(s->log, note, (size_t)n) < 0) {
        /* the event carries the same numbers */
    }
}

static void drain_fd(int fd)
{
    char b[64];
    while (read(fd, b, sizeof b) > 0)
        ;
}

/*
 * Start `sh -c command` as o->uid/o->gid (no supplementary groups), as the
 * posix_spawn below would: own process group, default signals, empty mask,
 * stdin /dev/null, stdout/stderr into the pipes, cwd o->cwd. posix_spawn
 * cannot change the user, so this forks; an error before the exec comes
 * back through a close-on-exec pipe as posix_spawn's would. Returns 0 or
 * an errno value.
 */
static int spawn_as(pid_t *pid, const assay_run_opts *o, int out_fd, int err_fd, char *const argv[])
{
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0)
        return errno;
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t p = fork();
    if (p == 0) {
        int e = 0;
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (int sig = 1; sig < NSIG; sig++)
            sigaction(sig, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        int devnull = open("/dev/null", O_RDONLY);
        if (setpgid(0, 0) != 0 || devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 ||
            dup2(err_fd, 2) < 0 || setgroups(0, NULL) != 0 || setgid(o->gid) != 0 || setuid(o->uid) != 0 ||
            (setuid(0) == 0 && (errno = EPERM)) || chdir(o->cwd) != 0)
            e = errno ? errno : EPERM;
        else if (sigprocmask(SIG_SETMASK, &none, NULL) == 0)
            execve("/bin/sh", argv, o->envp);
        if (!e)
            e = errno;
        if (write(ep[1], &e, sizeof e) < 0) {
            /* the parent sees EOF and a failed child */
        }
        _exit(127);
    }
    int fe = p < 0 ? errno : 0;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(ep[1]);
    if (p < 0) {
        close(ep[0]);
        return fe;
    }
    int child_errno = 0;
    ssize_t n;
    do
        n = read(ep[0], &child_errno, sizeof child_errno);
    while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n == (ssize_t)sizeof child_errno) {
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
            ;
        return child_errno;
    }
    *pid = p;
    return 0;
}

int assay_run_poll_ms(uint64_t wake_ns, uint64_t now_ns)
{
    /* 64-bit milliseconds, clamped: a 30-day timeout in an int would wrap
     * negative, and poll would then wait for ever. An hour at most: the
     * loop only looks again. */
    uint64_t ms = wake_ns > now_ns ? (wake_ns - now_ns + 999999) / 1000000 : 0;
    return ms > 3600000u ? 3600000 : (int)ms;
}

int assay_run_step(assay_run_result *out, const assay_run_opts *o)
{
    assay_run_result r;
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    int outlog = -1, errlog = -1, rc = -1;
    pid_t pid = -1;

    memset(&r, 0, sizeof r);
    outlog = open(o->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (outlog < 0) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "open %s", o->out_path);
        goto out;
    }
    errlog = open(o->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (errlog < 0) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "open %s", o->err_path);
        goto out;
    }
    if (pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "pipe");
        goto out;
    }

    /* posix_spawn (a vfork underneath) rather than fork: the child does not
     * start as a copy of the supervisor, so its max RSS is the step's own,
     * and an exec failure comes back as an error number. The child gets its
     * own process group, default signal handling, stdin from /dev/null,
     * stdout/stderr into the pipes; our other descriptors are close-on-exec. */
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    char *argv[] = {"sh", "-c", (char *)o->command, NULL};
    uint64_t t0 = now_ns();
    int se_rc = o->drop ? spawn_as(&pid, o, outp[1], errp[1], argv)
                        : posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, o->envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(outp[1]);
    close(errp[1]);
    outp[1] = errp[1] = -1;
    if (se_rc != 0) {
        r.spawn_errno = se_rc;
        rc = 0;
        goto out;
    }
    r.spawned = 1;

    fcntl(outp[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    struct stream so = {outp[0], outlog, &r.out_bytes, &r.out_kept, 0, o->live};
    struct stream se = {errp[0], errlog, &r.err_bytes, &r.err_kept, 1, o->live};
    uint64_t live_due = 0; /* when the live output held is next due out, or 0 */
    outp[0] = errp[0] = -1;

    uint64_t deadline = t0 + (uint64_t)(o->timeout_s * 1e9);
    uint64_t kill_at = 0;           /* SIGKILL time after SIGTERM */
    uint64_t drain_until = 0;       /* after the main process is gone */
    int main_done = 0;
    int status = 0;

    while (!main_done || so.fd >= 0 || se.fd >= 0) {
        uint64_t now = now_ns();
        if (!main_done) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            /* WNOWAIT: the exited process stays a zombie so its /proc/<pid>/io
             * (its own I/O and its reaped children's) can still be read. */
            if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
                struct rusage ru;
                read_proc_io(pid, &r);
                while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
                    ;
                add_rusage(&r, &ru);
                r.wall_ns = now_ns() - t0;
                main_done = 1;
                /* Whatever the step left running dies with it. */
                finish_tree(pid, &r);
                drain_until = now_ns() + (uint64_t)DRAIN_AFTER_EXIT_MS * 1000000u;
                continue;
            }
            if (o->cancel && *o->cancel && !r.canceled) {
                r.canceled = 1;
                kill(-pid, SIGTERM);
                kill_at = now + (uint64_t)(o->grace_s * 1e9);
            }
            if (now >= deadline && !r.timed_out && !r.canceled) {
                r.timed_out = 1;
                kill(-pid, SIGTERM);
                kill_at = now + (uint64_t)(o->grace_s * 1e9);
            }
            if (kill_at && now >= kill_at) {
                kill(-pid, SIGKILL);
                kill_tree_once(getpid());
                kill_at = 0;
            }
        } else if (now >= drain_until) {
            break; /* a pipe held by something we could not kill: stop reading */
        }

        uint64_t wake;
        if (main_done)
            wake = drain_until;
        else if (kill_at)
            wake = kill_at;
        else if (!r.timed_out && !r.canceled)
            wake = deadline;
        else
            wake = now + 100000000u; /* killed; waiting for it to be gone */
        if (live_due && live_due < wake)
            wake = live_due;
        int ms = assay_run_poll_ms(wake, now);
        /* SIGCHLD wakes us through the self-pipe; without one, look again
         * every 100 ms. */
        if (o->wake_fd < 0 && ms > 100)
            ms = 100;
        struct pollfd p[3] = {{so.fd, POLLIN, 0}, {se.fd, POLLIN, 0}, {o->wake_fd, POLLIN, 0}};
        int n = poll(p, 3, ms);
        if (n < 0 && errno != EINTR) {
            rc = assay_error_set_errno(ASSAY_EIO, errno, "poll");
            break;
        }
        if (n > 0) {
            if (p[2].revents)
                drain_fd(o->wake_fd);
            if (p[0].revents && so.fd >= 0)
                pump(&so, o->log_cap, &r.log_errno);
            if (p[1].revents && se.fd >= 0)
                pump(&se, o->log_cap, &r.log_errno);
        }
        if (o->live)
            live_due = o->live->flush(o->live->arg, now_ns(), 0);
    }
    if (o->live) /* the rest, before the caller's step-end */
        o->live->flush(o->live->arg, now_ns(), 1);
    if (rc == -1 && main_done)
        rc = 0;
    if (!main_done) { /* poll failed: never leave the step behind */
        kill(-pid, SIGKILL);
        finish_tree(pid, &r);
        r.wall_ns = now_ns() - t0;
    }
    if (so.fd >= 0)
        close(so.fd);
    if (se.fd >= 0)
        close(se.fd);
    note_truncation(&so);
    note_truncation(&se);
    if (WIFEXITED(status)) {
        r.exited = 1;
        r.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        r.term_signal = WTERMSIG(status);
    }
    if (fsync(outlog) != 0 && errno != EINVAL && !r.log_errno)
        r.log_errno = errno;
    if (fsync(errlog) != 0 && errno != EINVAL && !r.log_errno)
        r.log_errno = errno;
out:
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    if (outlog >= 0)
        close(outlog);
    if (errlog >= 0)
        close(errlog);
    if (rc == 0)
        *out = r;
    return rc;
}
