/*
 * The remote side: every command the controller sends to a host is built
 * here, with one quoting function (assay_shell_quote), and every framed
 * answer is parsed here, with capped, length-checked reads. Nothing else in
 * the controller writes shell for a host or reads a host's frames.
 *
 * A host is named by where its agent lives: the agent root (the agent at
 * <root>/agents/<sha256>/assay-agent, artifacts at <root>/cache/<sha256>,
 * jobs at <root>/jobs/<id>) and an optional launcher (a prefix such as
 * "qemu-aarch64" or "sudo").
 */
#ifndef ASSAY_CTL_REMOTE_H
#define ASSAY_CTL_REMOTE_H

#include <stddef.h>
#include <stdint.h>

/* Exit statuses of the RUN command: ASSAY_REMOTE_MISSING plus 1 for no
 * agent (or not the one pushed), plus 2 for no artifact, before anything
 * runs; the artifact could not be linked, the start or the attach failed,
 * or a log could not be sent. */
enum {
    ASSAY_REMOTE_MISSING = 110,
    ASSAY_REMOTE_NO_START = 99,
    ASSAY_REMOTE_NO_ATTACH = 98,
    ASSAY_REMOTE_NO_LINK = 97,
    ASSAY_REMOTE_NO_LOGS = 96,
    ASSAY_REMOTE_NO_UPLOAD = 95 /* an upload of UPLOAD_RUN failed (its digest, its folder) */
};

/* What a command is, for logs and for transports that care (the tests'
 * fake host answers by kind). */
typedef enum assay_remote_kind {
    ASSAY_REMOTE_RUN,          /* check, start, attach, logs: a job in one command */
    ASSAY_REMOTE_UPLOAD_RUN,   /* the agent and/or the artifact on stdin, then RUN */
    ASSAY_REMOTE_UPLOAD_AGENT, /* stdin to <root>/agents/<sha>/assay-agent, digest-checked */
    ASSAY_REMOTE_UPLOAD_ART,   /* stdin to <root>/cache/<sha>, digest-checked */
    ASSAY_REMOTE_LOGS,         /* the job's logs, framed */
    ASSAY_REMOTE_CANCEL,       /* ask the agent to cancel (level 1: uninstall runs; 2: now) */
    ASSAY_REMOTE_STOP,         /* stop a job whose agent broke the protocol: now, quietly */
    ASSAY_REMOTE_RESET,        /* the host's own reset command */
    ASSAY_REMOTE_VERSION,      /* the agent's digest checked, then its version --json */
    ASSAY_REMOTE_FACTS,        /* the agent's facts */
    ASSAY_REMOTE_REMOVE,       /* remove ended jobs' directories (hosts.job_retention_days) */
    ASSAY_REMOTE_UPLOAD_VERSION /* the agent on stdin, digest-checked, then its version --json */
} assay_remote_kind;

const char *assay_remote_kind_name(assay_remote_kind k);

typedef struct assay_remote_host {
    const char *agent_root;
    const char *launcher;  /* "" for none */
    const char *agent_sha; /* hex */
    const char *name;      /* for messages and the reset's environment */
} assay_remote_host;

typedef struct assay_remote_job {
    const char *dir;        /* <root>/jobs/<agent job id> */
    const char *art_sha;    /* the artifact in the cache */
    const char *art_name;   /* its name in the job directory (a safe basename) */
    int64_t from;           /* the first event seq the store lacks (0: a new job) */
    /* An artifact of several files (nset > 1; then art_sha and art_name
     * are ignored): each set_sha[i] from the cache goes to
     * <dir>/artifacts/<set_names[i]> (safe basenames). A RUN that finds
     * some missing says which on stderr, "missing artifact files: 0 2"
     * (their indices), before it exits ASSAY_REMOTE_MISSING + 2. */
    const char *const *set_sha;
    const char *const *set_names;
    size_t nset;
} assay_remote_job;

/* The indices RUN's stderr `err` names as missing files of a set, into
 * miss[0..n) (1: missing). Returns how many it named; 0 when it names
 * none (then the caller cannot tell, and sends them all). */
size_t assay_remote_missing_files(unsigned char *miss, size_t n, const char *err);

/*
 * Build a command into out[len]. Each returns 0, or ASSAY_EINVAL if it does
 * not fit (the message names the host and why).
 */
int assay_remote_run(char *out, size_t len, const assay_remote_host *h, const assay_remote_job *j);
int assay_remote_upload(char *out, size_t len, const assay_remote_host *h, assay_remote_kind kind,
                        const char *sha);
/* A cold host in one command: the agent (agent_size bytes, 0 for none)
 * then the artifact (art_size bytes, 0 for none) come first on stdin, each
 * checked by SHA-256 before it is renamed into place, then the spec, and
 * RUN goes on as above. */
int assay_remote_upload_run(char *out, size_t len, const assay_remote_host *h, const assay_remote_job *j,
                            uint64_t agent_size, uint64_t art_size);
/* The same for a set: the files i with sizes[i] > 0 come, in order, after
 * the agent; each is checked by its own SHA-256 and renamed into the cache
 * on its own, so a transfer cut in the middle of one file keeps the files
 * before it (the next RUN names only what is still missing). */
int assay_remote_upload_run_set(char *out, size_t len, const assay_remote_host *h, const assay_remote_job *j,
                                uint64_t agent_size, const uint64_t *sizes);
int assay_remote_logs(char *out, size_t len, const char *jobdir);
int assay_remote_cancel(char *out, size_t len, const assay_remote_host *h, const char *jobdir, int level);
int assay_remote_stop(char *out, size_t len, const assay_remote_host *h, const char *jobdir);
int assay_remote_reset(char *out, size_t len, const assay_remote_host *h, const char *reset);
/* The health check's command: exits ASSAY_REMOTE_MISSING + 1 before
 * running anything when the agent is missing or not the one pushed (its
 * SHA-256, as RUN checks it), else runs the agent's version --json. */
int assay_remote_version(char *out, size_t len, const assay_remote_host *h);
/* The same after the agent goes up on stdin (all of it), checked by its
 * SHA-256 on the host before it is renamed into place; exits
 * ASSAY_REMOTE_NO_UPLOAD if that fails. */
int assay_remote_upload_version(char *out, size_t len, const assay_remote_host *h);
/* Is d[0..n) what our agent answers to version --json: a JSON object
 * naming assay-agent and its version, of protocol ASSAY_PROTO_VERSION, at
 * most ASSAY_REMOTE_VERSION_MAX bytes? Returns 0, or ASSAY_EPROTO saying
 * what came instead (its first bytes, printable). */
#define ASSAY_REMOTE_VERSION_MAX 4096
int assay_remote_version_answer(const char *d, size_t n);
int assay_remote_facts(char *out, size_t len, const assay_remote_host *h);

/* Is dir a job directory this controller made: "<root>/jobs/<name>", the
 * name of [A-Za-z0-9._-] not starting with '.', and no "." or ".." among
 * the root's components? Returns 0, or ASSAY_EINVAL saying why not. */
int assay_remote_job_dir_check(const char *dir);
/* Remove ended jobs' directories dirs[0..n) (each passing
 * assay_remote_job_dir_check, else ASSAY_EINVAL naming it): one command,
 * as the login user, every path quoted; exits 0 when none is left. */
int assay_remote_remove_dirs(char *out, size_t len, const char *const *dirs, size_t n);

/* The path of the agent on the host ("<root>/agents/<sha>/assay-agent"). */
int assay_remote_agent_path(char *out, size_t len, const assay_remote_host *h);

/*
 * The answer of RUN and LOGS: RUN's is event lines (each at most
 * ASSAY_EVENT_MAX bytes, '\n'-ended) up to and including the job-end, then
 * log frames; LOGS' is log frames only. A log frame is a header line
 * "<size> logs/<name>\n" and <size> bytes. A log larger than `log_cap` is
 * kept up to the cap, followed by a marker line, and the rest is read and
 * dropped: never trusted beyond it. A name is [A-Za-z0-9._-], not starting
 * with '.', at most 128 bytes.
 */
typedef struct assay_remote_stream_ops {
    /* One event line (without '\n'). Return < 0 to abort, 1 when it was
     * the job-end (what follows are log frames), else 0. */
    int (*event)(void *arg, const char *line, size_t len);
    /* A log begins; `announced` is the size its header gave. */
    int (*log_open)(void *arg, const char *path, uint64_t announced);
    int (*log_data)(void *arg, const char *data, size_t len);
    /* The log's last byte came (kept <= announced). */
    int (*log_close)(void *arg, uint64_t kept, uint64_t announced);
} assay_remote_stream_ops;

typedef struct assay_remote_stream {
    const assay_remote_stream_ops *ops;
    void *arg;
    uint64_t log_cap;  /* 0: 64 MiB */
    int in_logs;       /* events are over */
    char *line;        /* a partial event line or frame header */
    size_t linelen, linecap;
    int in_frame;      /* inside a log's bytes */
    uint64_t left;     /* bytes of the current log still to come */
    uint64_t kept, announced;
    uint64_t bytes;    /* bytes fed so far */
    int nlogs;         /* logs whole so far */
} assay_remote_stream;

/* Start (or restart, after a reconnect) a stream; events first or not. */
void assay_remote_stream_init(assay_remote_stream *s, const assay_remote_stream_ops *ops, void *arg, int events,
                              uint64_t log_cap);
/* Feed bytes as they come, split anywhere. Returns 0, or the first error
 * (ASSAY_EPROTO for a malformed stream; a callback's own code). */
int assay_remote_stream_feed(assay_remote_stream *s, const char *data, size_t len);
/* The stream ended (the command exited): 0 if it ended between frames,
 * ASSAY_EPROTO if inside an event line, a header or a log. */
int assay_remote_stream_end(const assay_remote_stream *s);
void assay_remote_stream_free(assay_remote_stream *s);

#endif
