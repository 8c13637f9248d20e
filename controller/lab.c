/* The lab directory; see lab.h. */
#include "lab.h"
#include "assay/error.h"
#include "assay/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#ifndef ASSAY_INSTALL_PREFIX
#define ASSAY_INSTALL_PREFIX "/usr/local"
#endif

const char *assay_lab_dir(const char *opt)
{
    if (opt && *opt)
        return opt;
    const char *env = getenv("ASSAY_LAB");
    return env && *env ? env : "assay-lab";
}

static void paths(assay_lab *lab, const char *dir)
{
    snprintf(lab->dir, sizeof lab->dir, "%s", dir);
    snprintf(lab->blobs, sizeof lab->blobs, "%s/blobs", dir);
    snprintf(lab->profiles, sizeof lab->profiles, "%s/profiles", dir);
    snprintf(lab->key, sizeof lab->key, "%s/signing.key", dir);
}

/* The directory of the running executable. */
static int exe_dir(char *out, size_t outlen)
{
    ssize_t n = readlink("/proc/self/exe", out, outlen - 1);
    if (n <= 0)
        return -1;
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return 0;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A folder assay ships under share/assay/NAME: $ENV, else next to the
 * running assay (an install), else SRC of the source tree it was built
 * from, else under the install prefix. */
static int shipped_dir(char *out, size_t outlen, const char *envname, const char *name, const char *src)
{
    char exe[PATH_MAX];
    const char *env = getenv(envname);
    if (env && is_dir(env)) {
        snprintf(out, outlen, "%s", env);
        return 0;
    }
    if (exe_dir(exe, sizeof exe) == 0) {
        snprintf(out, outlen, "%s/../share/assay/%s", exe, name);
        if (is_dir(out))
            return 0;
    }
#ifdef ASSAY_SOURCE_TREE
    snprintf(out, outlen, "%s/%s", ASSAY_SOURCE_TREE, src);
    if (is_dir(out))
        return 0;
#else
    (void)src;
#endif
    snprintf(out, outlen, "%s/share/assay/%s", ASSAY_INSTALL_PREFIX, name);
    if (is_dir(out))
        return 0;
    return assay_error_set(ASSAY_ENOTFOUND, "cannot find assay's %s (set %s)", name, envname);
}

int assay_lab_shipped_profiles(char *out, size_t outlen)
{
    return shipped_dir(out, outlen, "ASSAY_PROFILES_DIR", "profiles", "profiles");
}

int assay_lab_shipped_web(char *out, size_t outlen)
{
    return shipped_dir(out, outlen, "ASSAY_WEB_DIR", "web", "web");
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
    char buf[65536];
    if (in < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "%s", from);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "%s", to);
        close(in);
        return rc;
    }
    for (;;) {
        ssize_t n = assay_read_full(in, buf, sizeof buf);
        if (n < 0 || (n > 0 && assay_write_all(out, buf, (size_t)n) != 0)) {
            rc = assay_error_set_errno(ASSAY_EIO, errno, "copy %s", from);
            break;
        }
        if (n == 0)
            break;
    }
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = assay_error_set_errno(ASSAY_EIO, errno, "%s", to);
    return rc;
}

/* A lab's id: 16 random hex digits. Hosts may serve several labs (or a lab
 * made anew), so job ids on hosts carry it to stay unique. */
static int make_id(char out[17])
{
    unsigned char r[8];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || assay_read_full(fd, r, sizeof r) != (ssize_t)sizeof r) {
        if (fd >= 0)
            close(fd);
        return assay_error_set(ASSAY_EIO, "cannot read /dev/urandom");
    }
    close(fd);
    assay_hex(out, r, 8);
    return 0;
}

int assay_lab_init(const char *dir, assay_key_type key_type, const char *centre)
{
    assay_lab lab;
    char src[PATH_MAX], db[PATH_MAX];
    int rc;
    paths(&lab, dir);
    snprintf(db, sizeof db, "%s/assay.db", dir);
    if (access(db, F_OK) == 0)
        return assay_error_set(ASSAY_EEXISTS, "%s holds a lab already", dir);
    if ((rc = assay_lab_shipped_profiles(src, sizeof src)) < 0)
        return rc;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return assay_error_set_errno(ASSAY_EIO, errno, "mkdir %s", dir);
    if ((mkdir(lab.blobs, 0755) != 0 && errno != EEXIST) || (mkdir(lab.profiles, 0755) != 0 && errno != EEXIST))
        return assay_error_set_errno(ASSAY_EIO, errno, "mkdir in %s", dir);
    DIR *d = opendir(src);
    if (!d)
        return assay_error_set_errno(ASSAY_EIO, errno, "%s", src);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && rc == 0) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json") || e->d_name[0] == '.')
            continue;
        char from[PATH_MAX], to[PATH_MAX];
        snprintf(from, sizeof from, "%s/%s", src, e->d_name);
        snprintf(to, sizeof to, "%s/%s", lab.profiles, e->d_name);
        rc = copy_file(from, to, 0644);
    }
    closedir(d);
    if (rc < 0)
        return rc;
    if ((rc = assay_key_generate(lab.key, key_type)) < 0)
        return rc;
    if ((rc = assay_store_open(&lab.store, dir, 1)) < 0)
        return rc;
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char id[17];
    if ((rc = make_id(id)) == 0 && (rc = assay_store_meta_set(lab.store, "lab_id", id)) == 0 &&
        (rc = assay_store_meta_set(lab.store, "created_at", now)) == 0 &&
        (rc = assay_store_meta_set(lab.store, "key_type", key_type == ASSAY_KEY_SM2 ? "sm2" : "ed25519")) == 0)
        rc = assay_store_meta_set(lab.store, "centre", centre && *centre ? centre : "assay test centre");
    assay_store_close(lab.store);
    return rc;
}

int assay_lab_open(assay_lab *lab, const char *dir)
{
    char db[PATH_MAX];
    int rc;
    paths(lab, dir);
    lab->store = NULL;
    snprintf(db, sizeof db, "%s/assay.db", dir);
    if (access(db, F_OK) != 0)
        return assay_error_set(ASSAY_ENOTFOUND, "no lab at %s: run 'assay init' (or give --lab DIR)", dir);
    if ((rc = assay_store_open(&lab->store, dir, 0)) < 0)
        return rc;
    if (assay_store_meta_get(lab->store, "lab_id", lab->id, sizeof lab->id) < 0) {
        if ((rc = make_id(lab->id)) < 0 || (rc = assay_store_meta_set(lab->store, "lab_id", lab->id)) < 0) {
            assay_lab_close(lab);
            return rc;
        }
        assay_error_clear();
    }
    return 0;
}

void assay_lab_close(assay_lab *lab)
{
    assay_store_close(lab->store);
    lab->store = NULL;
}

uint64_t assay_lab_setting(assay_lab *lab, const char *key, uint64_t min, uint64_t max, uint64_t def)
{
    char v[32], *end;
    if (assay_store_meta_get(lab->store, key, v, sizeof v) == 0 && v[0] >= '0' && v[0] <= '9') {
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (!*end && errno == 0 && x >= min && x <= max)
            def = x;
    }
    assay_error_clear();
    return def;
}

int assay_lab_agent(char *path, size_t pathlen, char sha256[ASSAY_SHA256_HEX], const char *arch)
{
    char base[PATH_MAX], exe[PATH_MAX];
    const char *env = getenv("ASSAY_AGENTS_DIR");
    const char *cands[3] = {NULL, NULL, NULL};
    char c1[PATH_MAX] = "", c2[PATH_MAX] = "";
    if (env && *env)
        cands[0] = env;
    if (exe_dir(exe, sizeof exe) == 0) {
        snprintf(c1, sizeof c1, "%s/../lib/assay/agents", exe);
        cands[1] = c1;
    }
#ifdef ASSAY_SOURCE_TREE
    snprintf(c2, sizeof c2, "%s/build-agents", ASSAY_SOURCE_TREE);
    cands[2] = c2;
#endif
    for (int i = 0; i < 3; i++) {
        if (!cands[i])
            continue;
        snprintf(base, sizeof base, "%s/%s-linux-gnu/assay-agent", cands[i], arch);
        if (access(base, R_OK) == 0) {
            snprintf(path, pathlen, "%s", base);
            return assay_sha256_file(sha256, NULL, path);
        }
    }
    return assay_error_set(ASSAY_ENOTFOUND, "no %s agent (build it with ci/build-agents.sh, or set ASSAY_AGENTS_DIR)",
                           arch);
}

int assay_lab_lock_dispatch(assay_lab *lab, int wait)
{
    static int fd = -1; /* held for the life of the process */
    char path[PATH_MAX + 32], pid[32] = "";
    if (fd >= 0)
        return 0;
    snprintf(path, sizeof path, "%s/dispatch.lock", lab->dir);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "open %s", path);
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e != EWOULDBLOCK || !wait) {
            ssize_t n = pread(f, pid, sizeof pid - 1, 0);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            close(f);
            if (e != EWOULDBLOCK)
                return assay_error_set_errno(ASSAY_EIO, e, "lock %s", path);
            return assay_error_set(ASSAY_ESTATE, "another dispatcher (pid %s) serves lab %s; stop it, or use --wait",
                                   pid[0] ? pid : "unknown", lab->dir);
        }
        while (flock(f, LOCK_EX) != 0)
            if (errno != EINTR) {
                e = errno;
                close(f);
                return assay_error_set_errno(ASSAY_EIO, e, "lock %s", path);
            }
    }
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(f, 0) != 0 || pwrite(f, pid, (size_t)n, 0) != n) {
        /* the lock holds; only the message of a second dispatcher loses the pid */
    }
    fd = f;
    return 0;
}

int assay_lab_dispatch_held(const assay_lab *lab)
{
    char path[PATH_MAX + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/dispatch.lock", lab->dir);
    if (stat(path, &st) != 0)
        return errno == ENOENT ? 0 : assay_error_set_errno(ASSAY_EIO, errno, "stat %s", path);
    /* The holder writes its pid into the file (assay_lab_lock_dispatch). */
    long pid = -1;
    FILE *pf = fopen(path, "re");
    if (pf) {
        if (fscanf(pf, "%ld", &pid) != 1)
            pid = -1;
        fclose(pf);
    }
    FILE *f = fopen("/proc/locks", "re");
    if (f) {
        /* "1: FLOCK  ADVISORY  WRITE 4242 08:01:131 0 EOF": the holder's
         * pid, the device as major:minor in hex, the inode in decimal. On
         * an overlay file system the device is the upper layer's, not
         * stat's: then the inode and the pid in the file must agree. */
        char line[256];
        int held = 0;
        while (!held && fgets(line, sizeof line, f)) {
            char kind[16], dev[40];
            long lpid;
            unsigned long long ino;
            unsigned maj, min;
            if (sscanf(line, "%*[^:]: %15s %*s %*s %ld %39[^ ] ", kind, &lpid, dev) != 3 || strcmp(kind, "FLOCK"))
                continue;
            char *c2 = strrchr(dev, ':');
            if (!c2 || sscanf(dev, "%x:%x", &maj, &min) != 2 || sscanf(c2 + 1, "%llu", &ino) != 1 ||
                ino != (unsigned long long)st.st_ino)
                continue;
            held = (maj == major(st.st_dev) && min == minor(st.st_dev)) || lpid == pid;
        }
        fclose(f);
        return held;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "open %s", path);
    int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* drops the shared lock, if it was taken */
    return held;
}
