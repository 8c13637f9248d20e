/*
 * The portal's static files (web/, docs/portal.md), as `assay serve`
 * answers them: only regular files under one directory, reached without
 * following a symbolic link, none whose path has a segment starting with
 * a dot, and only of the types listed here. No HTTP in this module: serve.c
 * turns a found file into a response with the headers webfiles gives.
 */
#ifndef ASSAY_CTL_WEBFILES_H
#define ASSAY_CTL_WEBFILES_H

#include <stddef.h>
#include <stdint.h>

/* The headers every portal file is answered with: a policy that allows
 * nothing but this server's own scripts, styles, images and API. */
#define ASSAY_WEB_CSP                                                                              \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src "  \
    "'self'; "                                                                                     \
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

typedef struct assay_webfile {
    int fd; /* open for reading; the caller closes it (or hands it on) */
    uint64_t size;
    const char *type; /* Content-Type, a static string */
    char etag[64];    /* a strong validator: "size-mtime-inode" in hex, quoted */
} assay_webfile;

/*
 * Open the file that url (a decoded request path, starting with '/') names
 * under the directory `root` (an O_DIRECTORY descriptor): "/" and a path
 * ending in '/' mean its index.html. Each segment is 1-100 bytes of
 * [A-Za-z0-9._-], not starting with '.'; every step is opened with
 * O_NOFOLLOW, so a symbolic link anywhere, in or out of the folder, is not
 * followed. 0 and *out set, or ASSAY_ENOTFOUND for anything else (the same
 * answer for a forbidden path as for a missing file).
 */
int assay_webfile_open(assay_webfile *out, int root, const char *url);

/* 1 if an If-None-Match header value names this ETag (or is "*"). */
int assay_webfile_etag_matches(const char *if_none_match, const char *etag);

#endif
