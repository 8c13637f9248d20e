/*
 * The dispatcher's insides, shared by its three files:
 *
 *   dispatch.c   the loop, each host's connection (one state machine), progress
 *   jobrun.c     each job's state machine: one handler per state
 *   placement.c  the queue: hosts from the store, jobs to hosts, resuming
 *
 * The commands a host runs and the parsing of their answers are remote.c's;
 * the connection itself is a transport's (transport.h: libssh2, or the
 * tests' fake host).
 */
#ifndef ASSAY_CTL_DISPATCH_INT_H
#define ASSAY_CTL_DISPATCH_INT_H

#include "blob.h"
#include "crypto.h"
#include "dispatch.h"
#include "jobcheck.h"
#include "remote.h"
#include "manifest.h"
#include "store.h"
#include "transport.h"
#include "assay/evmac.h"

#include <stdint.h>

/* A job's states, in the order a job goes through them. Every change goes
 * through job_state(), which logs it with its reason. */
#define JOB_STATES(X)                                                                                  \
    X(JS_RESETTING, "resetting")                    /* the host's reset command runs first */        \
    X(JS_STARTING, "starting")                      /* RUN: check agent and artifact, start */       \
    X(JS_ATTACHING, "attaching")                    /* RUN of a job running there: attach */         \
    X(JS_UPLOADING, "uploading")                    /* RUN found no agent or no artifact: */         \
                                                    /* they go up, then RUN, on one command */      \
    X(JS_STREAMING, "streaming")                    /* events arrive and are stored */               \
    X(JS_FETCHING_LOGS, "fetching logs")            /* after job-end: its logs */                    \
    X(JS_ENDING, "ending")                          /* the job's end goes into the store */          \
    X(JS_STOPPING, "stopping")                      /* a job whose agent broke the protocol */       \
    X(JS_WAITING, "waiting for host")               /* the host is down: back to `resume` after */   \
    X(JS_DONE, "done")

#define AS_ENUM(e, name) e,
enum jstate { JOB_STATES(AS_ENUM) JS_COUNT };

/* A host's connection. Every change goes through host_state(). */
#define HOST_STATES(X)                                                                                 \
    X(HS_IDLE, "idle")             /* no connection */                                             \
    X(HS_CONNECTING, "connecting") /* connect, handshake, host key, auth */                          \
    X(HS_READY, "ready")           /* connected */                                                 \
    X(HS_DOWN, "down")             /* a connection failed: retry at retry_at */                    \
    X(HS_DISABLED, "disabled")     /* refused its key or our auth; `host enable` to use it again */ \
    X(HS_QUARANTINED, "quarantined") /* too many infrastructure failures in a row; `host resume` */
enum hstate { HOST_STATES(AS_ENUM) HS_COUNT };

/* A job's command fails this many times in a row with no event stored in
 * between: failed over (a reconnect that works is no proof the host can
 * run it). */
#define MAX_TRIES 5

/* An artifact up to this size goes with the first command to a host the
 * lab has no record of it on; a larger one only once RUN found it missing. */
#define ASSAY_PREUPLOAD_MAX ((uint64_t)64 << 20)

/* The queued jobs no host can take that the live view names. */
#define ASSAY_UNPLACED_MAX 8

struct job;

struct host {
    assay_host_rec rec;
    char arch[32];
    char agent[4096], agent_sha[ASSAY_SHA256_HEX];
    char agent_err[256];
    void *conn;          /* the transport's */
    enum hstate state;
    double down_since, retry_at;
    double idle_since;   /* connected with no job since then */
    double failed_at;    /* the last connection failure */
    int backoff;
    char last_error[512];
    struct job *job;
    /* Health (docs/reliability.md#host-care): a cheap command on the
     * connection, every health_interval while idle, and soon after an
     * infrastructure failure. */
    void *hx;            /* the check's command (the transport's), or NULL */
    double cmd_deadline; /* a check or removal running past this is ended (host_cmd_timeout_s) */
    double next_check;   /* when the next check is due */
    int checking;        /* a check is under way (connecting or running) */
    int check_push;      /* the check found the agent missing or not ours: it goes up, then the check */
    int hfd;             /* the agent the check pushes, open, or -1 */
    char hout[ASSAY_REMOTE_VERSION_MAX + 1]; /* what the check's command printed, capped */
    size_t hout_len;     /* its bytes, ASSAY_REMOTE_VERSION_MAX + 1 once over the cap */
    /* Ended jobs' directories (hosts.job_retention_days): removed by one
     * command while the host is idle, as health checks are. */
    void *gx;            /* the removal's command (the transport's), or NULL */
    double next_gc;      /* when to look in the store for directories due */
    int cleaning;        /* a removal is under way (connecting or running) */
    assay_host_dir *gdirs; /* what it removes */
    size_t ngdirs;
};

/* An event checked and waiting for its transaction (group commit). */
struct pending {
    int64_t seq;
    char type[24];
    char *body;
    size_t len;
    int64_t received_ms; /* read off the channel at (ms since the epoch) */
};

struct job {
    assay_job_rec rec;
    struct host *host;
    enum jstate state;
    enum jstate resume;      /* JS_WAITING: where to go when the host is back */
    void *x;                 /* the state's command (the transport's), or NULL */
    assay_remote_kind xkind;
    void *xc;                /* a cancel, on a channel beside RUN */
    int sink_rc;             /* what the command's output handler failed with */
    int upfd;                /* the file an upload reads, or -1 */
    int cancel_sent;         /* the cancel level (assay_job_rec.cancel) the agent was sent */
    int claimed;             /* the store has the host as holding this job's package */
    double reset_deadline;   /* JS_RESETTING: the reset must have ended by then */
    int need_agent, need_art; /* what RUN found missing */
    int upload_rounds;        /* uploads that came back with something missing */
    unsigned char need_file[ASSAY_MANIFEST_SET_MAX]; /* need_art: which files of the set (all for one file) */
    int upfds[ASSAY_MANIFEST_SET_MAX]; /* JS_UPLOADING: the artifact's files, after the agent (upfd) */
    size_t nupfds;
    int guessed;              /* the first contact's guess from the store's records is made */
    assay_remote_stream stream;
    int ended;               /* job-end stored */
    int end_seen;            /* job-end checked (maybe not stored yet) */
    char outcome[16], reason[256];
    char agent_job[96], jobdir[4096];
    assay_artifact_rec art;  /* the artifact's (first) file */
    char art_name[256];      /* its name in the job directory */
    assay_artifact_rec set[ASSAY_MANIFEST_SET_MAX]; /* all its files, in the manifest's order (set[0] is art) */
    char set_names[ASSAY_MANIFEST_SET_MAX][256];     /* their names on the host */
    size_t nset;
    char *spec;
    unsigned char key[ASSAY_EVMAC_KEY]; /* its event key (assay/evmac.h) */
    assay_jobcheck *check;   /* its events against the spec (jobcheck.h) */
    int64_t checked_seq;     /* the last seq the checker has seen */
    struct pending *batch;   /* checked, not yet stored */
    size_t nbatch, capbatch, batch_bytes;
    char logpath[200];
    assay_log_row *logrows;  /* logs fetched, stored together at the end */
    size_t nlogrows, caplogrows;
    assay_blob_writer *bw;
    char cur[128];           /* what the host is doing, for progress */
    double started;
    int preflight_stop;      /* the run asked to stop on preflight errors, and there are some */
    int run_sent;            /* a RUN went to the host (the job may exist there) */
    int tries;               /* commands that ended wrong in a row */
    int marked_running;      /* the store has the job running */
    /* For the live view: */
    int stepk, nsteps;       /* the running step is the k-th of the spec's n (0: not known yet) */
    double step_started, step_timeout;
    char failed[200];        /* the steps that failed or erred so far, ", "-separated */
};

/* A job that ended in this dispatcher, for the closing recap. */
struct recap {
    int64_t run_id, job_id;
    char host[64], profile[96], outcome[16];
    char failed[200];
};

struct ctx {
    assay_lab *lab;
    const assay_dispatch_opts *o;
    const assay_transport *t;
    struct host **hosts;
    size_t nhosts;
    int64_t data_version;
    double next_poll, next_draw, next_hosts;
    int drawn_lines;
    size_t done, total;
    struct {
        int64_t id;
        char why[400];
    } unplaced[ASSAY_UNPLACED_MAX]; /* queued jobs no host can take, and why (for the live view) */
    int nunplaced;
    char **scroll;            /* tty: lines printed once above the table at the next draw */
    size_t nscroll;
    struct recap *recap;      /* the jobs that ended here, for the recap */
    size_t nrecap;
    double health_interval; /* lab setting hosts.health_interval (600 s) */
    int quarantine_after;   /* lab setting hosts.quarantine_after (3) */
    double retention_s;     /* lab setting hosts.job_retention_days, in seconds (7 days) */
    size_t dirs_removed, dirs_failed; /* job directories removed, and removals failed, here */
};

/* dispatch.c */
double now_s(void);
void say(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void host_state(struct ctx *x, struct host *h, enum hstate s, const char *why);
void host_down(struct ctx *x, struct host *h, const char *why);
void host_disable(struct ctx *x, struct host *h, const char *why);
void drop_conn(struct ctx *x, struct host *h);
struct host *find_host(struct ctx *x, const char *name);
void host_infra_failure(struct ctx *x, struct host *h, const char *why);
void host_worked(struct ctx *x, struct host *h);
void job_finished(struct ctx *x, const struct job *j, const char *outcome, const char *reason);
void job_retried(struct ctx *x, const struct job *j, const char *why);

/* jobrun.c */
const char *job_state_name(enum jstate s);
void job_state(struct ctx *x, struct job *j, enum jstate s, const char *why);
int job_drive(struct ctx *x, struct job *j);
void job_lost_link(struct ctx *x, struct job *j);
void job_failover(struct ctx *x, struct host *h, const char *why);
void job_free(struct ctx *x, struct job *j);
int job_is_starting(const struct job *j);
int job_flush(struct ctx *x, struct job *j);
int job_replay(struct ctx *x, struct job *j);

/* Is a command of the host's own (a health check, a removal) under way? */
int host_cmd_busy(const struct host *h);
/* A job ended on host h: its directory is due after the retention. */
void host_job_ended(struct ctx *x, struct host *h);

/* placement.c */
int poll_store(struct ctx *x, size_t *work);
void hosts_free(struct ctx *x);

#endif
