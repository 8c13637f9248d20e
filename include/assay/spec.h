/* The job spec that `assay-agent start` reads on stdin; docs/protocol.md. */
#ifndef ASSAY_AGENT_SPEC_H
#define ASSAY_AGENT_SPEC_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ASSAY_STEP_INSTALL,
    ASSAY_STEP_TEST,
    ASSAY_STEP_BENCH,
    ASSAY_STEP_UNINSTALL
} assay_step_kind;

typedef struct assay_step {
    char *id;
    char *name;        /* human name; the id when absent */
    char *command;     /* run with /bin/sh -c */
    char *unit;        /* bench only: "s" or "ms" time the run; else the value is stdout's last line */
    assay_step_kind kind;
    double timeout_s;
    int expect_exit;
    int repeat;        /* bench: samples to take; 1 otherwise */
    int privileged;    /* test/bench: runs as the login user, not the run user */
} assay_step;

typedef struct assay_spec {
    char *id;
    char *artifact;    /* job-dir-relative file name, or NULL */
    char **env;        /* extra "NAME=value" entries */
    size_t nenv;
    char **inspect;    /* ELF files to inspect after install */
    size_t ninspect;
    uint64_t log_cap;  /* bytes kept per stream per step run */
    double kill_grace_s;
    int stop_on_inspect_error;
    assay_step *steps;
    size_t nsteps;
    int keyed;             /* event_key given: every event carries a MAC */
    unsigned char event_key[32];
    char *record;          /* keyed: the spec without its key, for job.json */
    char *run_user;        /* tests and benches run as this account, or NULL */
} assay_spec;

#define ASSAY_LOG_CAP_DEFAULT (8u << 20)
#define ASSAY_TIMEOUT_MAX (30.0 * 24 * 3600) /* 30 days: 72-hour soak tests fit */

/*
 * Parse and validate a job spec. Returns 0 with *out owned by the caller,
 * or ASSAY_EINVAL with a message naming the field and the problem
 * ("steps[2].timeout: must be a number in (0, 2592000]").
 */
int assay_spec_parse(assay_spec **out, const char *json, size_t len);

void assay_spec_free(assay_spec *spec);

/* 1 if s is a run user's name: a login name useradd takes,
 * [a-z_][a-z0-9_-]{0,31}, and not root. */
int assay_login_name_valid(const char *s);

const char *assay_step_kind_name(assay_step_kind k);

/* 1 if `s` is a valid job or step id: [A-Za-z0-9._-]{1,64}, not "." or "..". */
int assay_id_valid(const char *s);

#endif
