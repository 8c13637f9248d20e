/* Lab hosts: validation and the lab's host file (ci/lab.sh writes one). */
#ifndef ASSAY_CTL_HOSTS_H
#define ASSAY_CTL_HOSTS_H

#include "lab.h"

/*
 * Check a host record before it is stored: name, profile (must exist in the
 * lab), address and port, user, identity (a private key file, 0600), pinned
 * key format or trust-on-first-use, agent root. Errors name the field.
 */
int assay_host_validate(assay_lab *lab, const assay_host_rec *h);

/* Parse "HOST[:PORT]" or "[V6]:PORT" into h->address / h->port (default 22). */
int assay_host_parse_address(assay_host_rec *h, const char *s);

/*
 * Import a host file: {"version":1,"hosts":[{name, address, port, user,
 * identity, hostkey, profile, agent_root, launcher, reset}...]}. New hosts are
 * added; a host that exists is updated only if it has no work in progress.
 * *added and *updated count them. Nothing is stored if any entry is bad.
 */
int assay_host_import(assay_lab *lab, const char *file, int *added, int *updated);

#endif
