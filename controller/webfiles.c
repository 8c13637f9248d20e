/* The portal's static files; see webfiles.h. */
#include "webfiles.h"

#include "assay/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEG_MAX 100 /* bytes of one path segment */
#define DEPTH_MAX 8 /* folders below the root */

/* The types the portal is made of; a file of any other type is not served
 * (a stray editor backup or archive in the folder stays private). */
static const struct {
    const char *ext, *type;
} TYPES[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".woff2", "font/woff2"},
};

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (!strcmp(dot, TYPES[i].ext))
            return TYPES[i].type;
    return NULL;
}

/* A segment the portal may have: [A-Za-z0-9._-], not starting with a dot
 * (no ".", "..", nor hidden files such as .git or .htpasswd). */
static int segment_ok(const char *s, size_t n)
{
    if (n == 0 || n > SEG_MAX || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int assay_webfile_open(assay_webfile *out, int root, const char *url)
{
    char seg[SEG_MAX + 1] = "";
    int dir = -1, fd = -1, depth = 0;
    struct stat sb;
    if (!url || url[0] != '/')
        return assay_error_set(ASSAY_ENOTFOUND, "no such file");
    if ((dir = dup(root)) < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "the portal's folder");
    const char *p = url + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 && !slash) {
            /* "/" or "dir/": the folder's index. */
            memcpy(seg, "index.html", sizeof "index.html");
        } else {
            if (!segment_ok(p, n))
                goto notfound;
            memcpy(seg, p, n);
            seg[n] = 0;
        }
        if (!slash)
            break;
        /* A folder on the way: never through a link. */
        if (++depth > DEPTH_MAX)
            goto notfound;
        int next = openat(dir, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(dir);
        dir = next;
        if (dir < 0)
            goto notfound;
        p = slash + 1;
    }
    const char *type = type_of(seg);
    if (!type)
        goto notfound;
    /* O_NONBLOCK: a FIFO planted in the folder must not hang a thread; it
     * is then refused as not a regular file. */
    fd = openat(dir, seg, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
        goto notfound;
    close(dir);
    out->fd = fd;
    out->size = (uint64_t)sb.st_size;
    out->type = type;
    snprintf(out->etag, sizeof out->etag, "\"%llx-%llx-%llx\"", (unsigned long long)sb.st_size,
             (unsigned long long)sb.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)sb.st_mtim.tv_nsec,
             (unsigned long long)sb.st_ino);
    return 0;
notfound:
    if (fd >= 0)
        close(fd);
    if (dir >= 0)
        close(dir);
    return assay_error_set(ASSAY_ENOTFOUND, "no such file");
}

int assay_webfile_etag_matches(const char *inm, const char *etag)
{
    size_t n = strlen(etag);
    if (!inm)
        return 0;
    /* A list of entity tags, "W/" prefixes compared weakly (RFC 9110 13.1.2). */
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (*p == '*')
            return 1;
        if (!strncmp(p, "W/", 2))
            p += 2;
        if (!strncmp(p, etag, n) && (p[n] == 0 || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
            return 1;
        while (*p && *p != ',')
            p++;
    }
    return 0;
}
