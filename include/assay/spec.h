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

/* How often a benchmark runs (docs/manifest.md). A whole number n is
 * {min n, max n}: exactly n samples. An object repeats until the relative
 * standard error of the mean of the samples taken falls to target_rse
 * (after at least min samples), max samples are taken, or the time budget
 * is spent; warm-up runs come first, are recorded and are not samples. */
typedef struct assay_repeat {
    int min, max;      /* samples: 1 <= min <= max <= 1000 */
    int warmup;        /* runs before the first sample, 0-100 */
    double target_rse; /* stop when sd/sqrt(n)/|mean| <= this; 0: never (fixed count) */
    double budget_s;   /* stop when the next run would likely end past this since the step began; 0: none */
    int adaptive;      /* given as an object (stop reasons "stable", "max", "budget", "failed") */
} assay_repeat;

/*
 * Parse a "repeat" member: a whole number 1-1000 or an object
 * {min?, max, target_rse?, budget?, warmup?} (docs/manifest.md). `where`
 * prefixes the messages ("steps[2]."). Returns 0 and fills *out, or
 * ASSAY_EINVAL naming the field. Shared by the agent's spec and the
 * controller's manifest so that both accept the same thing.
 */
struct cJSON;
int assay_repeat_parse(assay_repeat *out, const struct cJSON *v, const char *where);

/* Relative standard error of the mean of n samples with this sum and sum
 * of squared deviations (Welford's m2): sqrt(m2/(n-1))/sqrt(n)/|mean|;
 * infinity when n < 2 or the mean is 0. */
double assay_repeat_rse(int n, double mean, double m2);

typedef struct assay_step {
    char *id;
    char *name;        /* human name; the id when absent */
    char *command;     /* run with /bin/sh -c */
    char *unit;        /* bench only: "s" or "ms" time the run; else the value is stdout's last line */
    assay_step_kind kind;
    double timeout_s;
    int expect_exit;
    assay_repeat repeat; /* bench: how often it runs; {1, 1} otherwise */
    int privileged;    /* test/bench: runs as the login user, not the run user */
} assay_step;

typedef struct assay_spec {
    char *id;
    char *artifact;    /* job-dir-relative file name (a set's: "artifacts/<first>"), or NULL */
    char **artifacts;  /* a set: plain file names in the job directory's artifacts/ folder */
    size_t nartifacts; /* 0 unless the spec has "artifacts" */
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

#define ASSAY_ARTIFACT_DIR "artifacts" /* a set's folder in the job directory */
#define ASSAY_SPEC_SET_MAX 32             /* files in one set */
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
