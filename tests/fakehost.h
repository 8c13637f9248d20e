/*
 * An in-process fake host behind the dispatcher's transport interface
 * (controller/transport.h). It answers the commands remote.c builds by
 * their kind, as an agent would: RUN checks for the agent and the artifact,
 * then streams the job's events (made from the spec it is sent, signed with
 * the spec's event key) and one stdout log per step run; LOGS the logs;
 * uploads take their stdin. And it fails on demand, as a real sshd cannot:
 * refuse connections, stall, drop the connection after N bytes of a
 * command's output, answer EAGAIN on every call, deliver output in pieces
 * of any size, close a channel in the middle of a frame, break the MAC.
 */
#ifndef ASSAY_TEST_FAKEHOST_H
#define ASSAY_TEST_FAKEHOST_H

#include "transport.h"

typedef struct fake_host {
    /* What the host has. has_agent: our agent (0: none, or one whose
     * digest is not the one pushed: the same to every command). */
    int has_agent, has_art;
    /* Artifact sets (a RUN with "for f in 'sha/name' ..."): the digests in
     * its cache, each file checked on its own. */
    char cache[64][65];
    int ncache;
    /* Faults. */
    int connect_fail;          /* the next N connects fail (refused) */
    int auth_fail;             /* every connect is refused at authentication */
    int eagain;                /* every call returns "again" once before it advances */
    size_t split;              /* output in pieces of at most this many bytes (0: 64 KiB) */
    /* A fault for ASSAY_REMOTE_RUN applies to ASSAY_REMOTE_UPLOAD_RUN too. */
    int drop_kind;             /* commands of this kind (ASSAY_REMOTE_*, -1: none)... */
    long drop_at;              /* ...drop the connection after this many bytes of output (< 0: from its end) */
    int drop_times;            /* ...this many times */
    int close_kind;            /* commands of this kind end (status 255) after close_at bytes */
    long close_at;             /* (< 0: from the end) */
    int close_times;
    int stall_kind;            /* commands of this kind never answer, stall_times times */
    int stall_times;
    int fail_kind, fail_status; /* commands of this kind exit fail_status, fail_times times */
    int fail_times;
    int bad_mac;               /* events carry a MAC that does not verify */
    int drop_upload_file;      /* an upload of a set's files drops the connection in its n-th file (1-based)... */
    int drop_upload_times;     /* ...this many times (the files before it are whole in the cache) */
    int quiet_after;           /* a RUN's output stops after this many lines and stays silent, */
    int quiet_times;           /* ...this many times */
    int fail_step;             /* the spec's step at this index (1-based) fails (exit 1); 0: none */
    size_t log_bytes;          /* each step run's stdout log (default 100 bytes) */
    long announce_extra;       /* a log header announces this many bytes more than the log has */
    int extra_logs;            /* this many more (empty) logs after the steps' */
    const char *version_answer; /* what the agent prints for version --json (NULL: our agent's JSON) */
    int lie_unsent;            /* an upload and run answers that whatever it did not carry is missing */
                               /* (the agent, the artifact, a set's files: a host that names in turn */
                               /* what the last upload left out), this many times; what it carried */
                               /* arrives all the same */
    void (*on_run)(struct fake_host *); /* called when a RUN command starts */
    void (*on_version)(struct fake_host *); /* called when a VERSION command (a health check) starts */
    /* What happened. */
    int connects, runs, upload_runs, uploads_agent, uploads_art, logs_cmds, cancels, stops, resets, versions;
    int removes;               /* REMOVE commands (ended jobs' directories) */
    int version_pushes;        /* UPLOAD_VERSION commands (a health check pushing the agent) */
    int lies;                  /* answers lie_unsent gave */
    char last_lie[300];        /* what the last of them named missing */
    char *last_remove;         /* the last REMOVE command, as sent */
    char last_address[256];
    char uploaded[64][65];     /* each artifact file of a set that came whole, in order */
    int nuploaded;
    char last_missing[256];    /* what the last RUN of a set said was missing, on stderr */
    char *spec;                /* the last RUN's job spec (LOGS answers from it) */
} fake_host;

/* The transport; its `arg` is the fake_host. */
assay_transport fake_transport(fake_host *h);
void fake_host_init(fake_host *h);
void fake_host_free(fake_host *h);

#endif
