/* `assay host check`: reach one host now, outside the dispatcher. */
#ifndef ASSAY_CTL_HOSTCHECK_H
#define ASSAY_CTL_HOSTCHECK_H

#include "lab.h"

#include <cjson/cJSON.h>

/* The phases of reaching a host, in the order they run. */
typedef enum assay_hc_phase {
    ASSAY_HC_RESOLVE,   /* the host's address from its name */
    ASSAY_HC_CONNECT,   /* TCP */
    ASSAY_HC_HANDSHAKE, /* SSH banner and key exchange */
    ASSAY_HC_HOSTKEY,   /* the host's key against the pinned one */
    ASSAY_HC_AUTH,      /* public key authentication */
    ASSAY_HC_EXEC,      /* a command that does nothing: the session and the login shell (its profile) */
    ASSAY_HC_AGENT,     /* the agent: checked, uploaded if missing, its facts */
    ASSAY_HC_NPHASES
} assay_hc_phase;

/* What a check went through: filled as it goes, on success and on failure. */
typedef struct assay_hc_trace {
    double seconds[ASSAY_HC_NPHASES]; /* time in each phase begun */
    int reached;                      /* phases [0, reached) were begun; the last one ended the check */
    int failed;                       /* 1: the last phase begun failed or ran out of time */
    int status;                       /* the failed command's exit status (-1: none, or a signal) */
    char remote_stderr[4096];         /* the failed command's stderr, as the host sent it */
} assay_hc_trace;

/* "resolve", "connect", "handshake", "host key", "auth", "exec", "agent". */
const char *assay_hc_phase_name(assay_hc_phase p);

/*
 * Connect to host `name` (pinned key checked, or trusted on first use and
 * recorded), run a command that does nothing, make sure this controller's
 * agent is there, run `assay-agent facts`, and compare them with the host's
 * profile. *facts and *diffs (see assay_profile_check_facts) are the
 * caller's. timeout_s bounds the whole check (resolving a name excepted:
 * the C library's resolver cannot be bounded). `trace` (may be NULL) says
 * where the time went and, on failure, which phase failed; its error
 * message starts with "host NAME: PHASE: ".
 */
int assay_host_check(assay_hc_trace *trace, assay_lab *lab, const char *name, double timeout_s, cJSON **facts,
                     cJSON **diffs);

#endif
