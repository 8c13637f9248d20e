/*
 * Run one step: /bin/sh -c COMMAND in its own process group, stdout and
 * stderr to capped log files, a deadline that kills the whole process tree,
 * and the resources it used. The caller (the job supervisor) must be a
 * child subreaper (PR_SET_CHILD_SUBREAPER) so that daemonised descendants
 * come back to it and are caught too, and must have no other children.
 */
#ifndef ASSAY_AGENT_RUN_H
#define ASSAY_AGENT_RUN_H

#include <signal.h>
#include <sys/types.h>
#include <stdint.h>

/*
 * Live output (docs/protocol.md, "output"): the bytes of each stream as they
 * are kept in its log, for a caller that sends them on while the step runs.
 * `put` gets them (stream 0 stdout, 1 stderr); `flush` sends what it holds
 * when that is due at now_ns (or at once, when `force`) and returns when it
 * is next due (CLOCK_MONOTONIC ns), or 0 when it holds nothing. Neither may
 * block for long: the step's pipes wait on them.
 */
typedef struct assay_run_live {
    void (*put)(void *arg, int stream, const char *data, size_t len);
    uint64_t (*flush)(void *arg, uint64_t now_ns, int force);
    void *arg;
} assay_run_live;

typedef struct assay_run_opts {
    const char *command;
    const char *cwd;
    char *const *envp;
    const char *out_path;        /* stdout log */
    const char *err_path;        /* stderr log */
    uint64_t log_cap;            /* bytes kept per stream; the rest is counted, not kept */
    double timeout_s;
    double grace_s;              /* SIGTERM, then SIGKILL after this long */
    int wake_fd;                 /* readable when a signal arrived (self-pipe), or -1 */
    volatile sig_atomic_t *cancel; /* set by the SIGTERM handler, or NULL */
    int drop;                    /* run as uid/gid (no supplementary groups) */
    uid_t uid;
    gid_t gid;
    const assay_run_live *live; /* or NULL */
} assay_run_opts;

typedef struct assay_run_result {
    int spawned;                 /* 0: could not start (see spawn_errno) */
    int spawn_errno;
    int exited;                  /* 1: exit_code is valid; else term_signal */
    int exit_code;
    int term_signal;
    int timed_out;
    int canceled;
    uint64_t wall_ns, user_ns, sys_ns;
    uint64_t max_rss_kb, minflt, majflt, nvcsw, nivcsw;
    int have_io;                 /* /proc/<pid>/io was readable */
    uint64_t rchar, wchar, read_bytes, write_bytes;
    uint64_t out_bytes, out_kept, err_bytes, err_kept;
    int log_errno;               /* first error writing a log (ENOSPC ...), 0 if none */
    int strays;                  /* processes left when the step ended, killed */
} assay_run_result;

/*
 * Run the step to completion. Returns 0 when the step ran (whatever its
 * exit status) or could not be spawned (result.spawned == 0), or a negative
 * code for an agent failure (cannot open logs, poll fails). The process
 * tree is gone when it returns, in every case.
 */
int assay_run_step(assay_run_result *out, const assay_run_opts *o);

/*
 * Kill every descendant of this process (SIGKILL) and reap them, adding
 * their count to *killed. Used by the step runner and when the supervisor
 * stops.
 */
void assay_run_kill_descendants(int *killed);

/*
 * SIGKILL every process whose environment holds exactly the entry `entry`
 * ("ASSAY_JOB_DIR=/path"), repeating until none is left or `rounds` passes
 * found nothing new. For a supervisor that is gone: its steps' processes
 * were reparented elsewhere, but they still carry the job's environment.
 * Returns how many were killed.
 */
int assay_run_kill_by_env(const char *entry);

/* The poll timeout, in ms, for a wake-up at wake_ns seen at now_ns
 * (CLOCK_MONOTONIC): never negative, at most an hour. */
int assay_run_poll_ms(uint64_t wake_ns, uint64_t now_ns);

/* A process's state letter and parent from /proc/PID/stat (either may be
 * NULL): 0, or -1 when it is gone or unreadable. */
int assay_proc_stat(long pid, char *state, long *ppid);

#endif
