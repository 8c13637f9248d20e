/*
 * The controller against a real lab (ci/lab.sh): one lab per test file,
 * a fresh controller store per test. The integration tests' shared
 * fixtures; each call fails the running criterion test on trouble.
 */
#ifndef ASSAY_TEST_LABCTL_H
#define ASSAY_TEST_LABCTL_H

#include <cjson/cJSON.h>

#define LC_LABSH ASSAY_SOURCE_DIR "/ci/lab.sh"
#define LC_ASSAY ASSAY_BINARY_DIR "/assay"

extern char lc_lab[256];     /* this test's controller store (ASSAY_LAB) */
extern char lc_out[1 << 18]; /* the output of the last lc_sh */
extern char lc_pkg[65];
extern int lc_reference;      /* lc_setup adds the reference host debian-1 */      /* the package id of the last lc_submission */

/* Bring up `nhosts` lab hosts in `hosts_dir` on 127.<net>.x.y, or on the next
 * free net if another lab holds that one (ci/lab.sh; idempotent),
 * make a store under a new temporary directory and import the hosts. */
void lc_setup(const char *hosts_dir, int net, int nhosts);
/* Remove the store (the lab stays up for the next test). */
void lc_teardown(void);
/* Stop the lab's hosts. */
void lc_down(const char *hosts_dir);

/* Run a shell command with ASSAY_LAB and ASSAY_AGENTS_DIR set; output
 * (stderr merged) in lc_out. Returns the exit status. */
int lc_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Add a noarch submission whose tests (a JSON array) the test chooses;
 * its id goes to lc_pkg. */
void lc_submission(const char *name, const char *tests_json);
/* The same, whose install step also runs the shell script install_sh. */
void lc_submission_install(const char *name, const char *install_sh, const char *tests_json);

/* `assay run show RUN --json`, parsed (the caller frees). */
cJSON *lc_run_json(const char *run);
/* Job `job` of run 1 (its index in job_list), its outcome and reason. */
const cJSON *lc_job(const cJSON *run, int index);

/* Events of a job's attempt: 0..n with no gap or duplicate, from job-start
 * to job-end. Returns the count of those that are not live output. */
int lc_check_events(int job, int attempt);

/* `assay dispatch ARGS` in the background, output to LOG in the store
 * directory; returns its pid. */
int lc_dispatch_bg(const char *log, const char *args);
/* Wait (up to `seconds`) until job `job` has an event of `type` for `step`. */
void lc_wait_event(int job, const char *type, const char *step, int seconds);
/* Wait (up to `seconds`) until run `run` is done; 0 if it is. */
int lc_wait_run(const char *run, int seconds);
/* Wait until `text` appears in the file `log` of the store directory. */
void lc_wait_log(const char *log, const char *text, int seconds);

#endif
