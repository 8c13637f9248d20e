/*
 * The lab directory: where the controller keeps everything. --lab DIR, else
 * $ASSAY_LAB, else ./assay-lab.
 *
 *   assay.db      the store (SQLite, WAL)
 *   blobs/        content-addressed blobs: submissions, artifacts, logs
 *   profiles/     the lab's target profiles (copied at init, editable)
 *   signing.key   the lab's signing key (PKCS#8 PEM, 0600)
 */
#ifndef ASSAY_CTL_LAB_H
#define ASSAY_CTL_LAB_H

#include "crypto.h"
#include "store.h"

#include <limits.h>
#include <stdint.h>

typedef struct assay_lab {
    char dir[PATH_MAX];
    char blobs[PATH_MAX];
    char profiles[PATH_MAX];
    char key[PATH_MAX];
    char id[17];         /* random, made at init: part of every job id on hosts */
    assay_store *store;
} assay_lab;

/* The lab directory chosen by --lab (may be NULL), $ASSAY_LAB or the default. */
const char *assay_lab_dir(const char *opt);

/* Create a lab: directories, store, signing key, profiles. ASSAY_EEXISTS if
 * dir holds a lab already. */
int assay_lab_init(const char *dir, assay_key_type key_type, const char *centre);

/* Open an existing lab. */
int assay_lab_open(assay_lab *lab, const char *dir);
void assay_lab_close(assay_lab *lab);

/*
 * Become the lab's one dispatcher: an flock on <lab>/dispatch.lock, held
 * until this process exits (so a SIGKILLed dispatcher frees it at once),
 * with our pid written in it. Two dispatchers on one lab would attach to
 * each other's jobs and put two jobs on one host. wait: block until the
 * holder exits. Returns 0, or ASSAY_ESTATE naming the holder's pid.
 */
int assay_lab_lock_dispatch(assay_lab *lab, int wait);

/*
 * Does a dispatcher hold the lab's dispatch.lock? 1 yes, 0 no, read from
 * the kernel's table of locks (/proc/locks) without taking the lock, so a
 * dispatcher starting at the same moment is never refused because of the
 * question. Where /proc/locks cannot be read, a shared lock tried without
 * waiting answers instead. Returns 1, 0, or a negative code.
 */
int assay_lab_dispatch_held(const assay_lab *lab);

/*
 * The static agent for `arch` that this controller ships: $ASSAY_AGENTS_DIR,
 * else lib/assay/agents next to the installed binary, else the source
 * tree's build-agents/. Fills path and its SHA-256.
 */
int assay_lab_agent(char *path, size_t pathlen, char sha256[ASSAY_SHA256_HEX], const char *arch);

/* A whole-number lab setting (`assay config set KEY VALUE`) within
 * [min, max], or `def` when it is unset or is not such a number (a store
 * edited by hand). Never fails: a setting that cannot be read is its
 * default. */
uint64_t assay_lab_setting(assay_lab *lab, const char *key, uint64_t min, uint64_t max, uint64_t def);

/* Where the profiles shipped with assay are (for init). */
int assay_lab_shipped_profiles(char *out, size_t outlen);
/* Where the portal's files are (assay serve): $ASSAY_WEB_DIR, else
 * share/assay/web next to the running assay, else the source tree's web/,
 * else the install prefix's. 0, or ASSAY_ENOTFOUND. */
int assay_lab_shipped_web(char *out, size_t outlen);

#endif
