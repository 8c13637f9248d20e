/* The job's event log; see evlog.h. */
#include "evlog.h"
#include "assay/evmac.h"
#include "assay/error.h"
#include "assay/io.h"
#include "assay/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RESERVE_BYTES (256 * 1024)

struct assay_evlog {
    int fd;
    char *reserve;    /* path of the spare-bytes file, NULL once used */
    int64_t next_seq;
    off_t end;        /* file size after our last append */
    int keyed;        /* lines end with a MAC under key (assay/evmac.h) */
    uint8_t key[ASSAY_EVMAC_KEY];
};

void assay_evlog_set_key(assay_evlog *log, const uint8_t key[ASSAY_EVMAC_KEY])
{
    memcpy(log->key, key, ASSAY_EVMAC_KEY);
    log->keyed = 1;
}

void assay_ts_now(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%06uZ", (unsigned)(ts.tv_nsec / 1000) % 1000000u);
}

int assay_event_head(int64_t *seq, char *type, size_t typelen, const char *line, size_t len)
{
    cJSON *o = cJSON_ParseWithLength(line, len);
    int rc = ASSAY_EPROTO;
    const cJSON *s, *t, *v;
    if (!o)
        return assay_error_set(ASSAY_EPROTO, "event is not JSON");
    v = cJSON_GetObjectItemCaseSensitive(o, "v");
    s = cJSON_GetObjectItemCaseSensitive(o, "seq");
    t = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!cJSON_IsNumber(v) || v->valuedouble != ASSAY_PROTO_VERSION)
        assay_error_set(rc, "event has no protocol version %d", ASSAY_PROTO_VERSION);
    else if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > 9007199254740992.0 ||
             s->valuedouble != (double)(int64_t)s->valuedouble)
        assay_error_set(rc, "event has no valid seq");
    else if (!cJSON_IsString(t) || strlen(t->valuestring) >= typelen)
        assay_error_set(rc, "event has no valid type");
    else {
        *seq = (int64_t)s->valuedouble;
        memcpy(type, t->valuestring, strlen(t->valuestring) + 1);
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

/* Read the file (under our lock) to find the last complete line's seq, and
 * cut off a torn tail. Event logs are small (two events per step run). */
static int resync(assay_evlog *log)
{
    struct stat st;
    if (fstat(log->fd, &st) != 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "events: stat");
    if (st.st_size == log->end)
        return 0;
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf && st.st_size)
        return assay_error_set(ASSAY_ENOMEM, "events: out of memory");
    ssize_t n = lseek(log->fd, 0, SEEK_SET) == 0 ? assay_read_full(log->fd, buf, (size_t)st.st_size) : -1;
    size_t got = n > 0 ? (size_t)n : 0;
    int64_t last = -1;
    size_t complete = 0;
    for (size_t at = 0; at < got;) {
        char *nl = memchr(buf + at, '\n', got - at);
        if (!nl)
            break;
        int64_t seq;
        char type[32];
        if (assay_event_head(&seq, type, sizeof type, buf + at, (size_t)(nl - (buf + at))) == 0)
            last = seq;
        at = (size_t)(nl - buf) + 1;
        complete = at;
    }
    free(buf);
    assay_error_clear();
    if (complete < (size_t)st.st_size && ftruncate(log->fd, (off_t)complete) != 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "events: cut torn line");
    log->next_seq = last + 1;
    log->end = (off_t)complete;
    return 0;
}

int assay_evlog_open(assay_evlog **out, const char *path, const char *reserve)
{
    assay_evlog *log = calloc(1, sizeof *log);
    if (!log)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    log->end = -1;
    log->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log->fd < 0) {
        int e = errno;
        free(log);
        return assay_error_set_errno(ASSAY_EIO, e, "open %s", path);
    }
    if (reserve) {
        /* Blocks allocated, not written (glibc writes zeros on a file
         * system that cannot allocate): the space is taken now and given
         * back by the unlink. Nothing in it is worth an fsync. */
        int fd = open(reserve, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            if (posix_fallocate(fd, 0, RESERVE_BYTES) == 0)
                log->reserve = strdup(reserve);
            close(fd);
            if (!log->reserve)
                unlink(reserve);
        }
    }
    int rc = 0;
    if (flock(log->fd, LOCK_EX) == 0) {
        rc = resync(log);
        flock(log->fd, LOCK_UN);
    }
    if (rc < 0) {
        assay_evlog_free(log);
        return rc;
    }
    *out = log;
    return 0;
}

void assay_evlog_free(assay_evlog *log)
{
    if (!log)
        return;
    if (log->fd >= 0)
        close(log->fd);
    if (log->reserve)
        unlink(log->reserve);
    free(log->reserve);
    free(log);
}

int assay_evlog_emit(assay_evlog *log, cJSON *ev, int64_t *seq_out)
{
    char *body = NULL, *line = NULL;
    int rc = -1, locked = 0;

    if (!ev || !cJSON_IsObject(ev)) {
        rc = assay_error_set(ASSAY_EINVAL, "event must be an object");
        goto out;
    }
    body = cJSON_PrintUnformatted(ev);
    if (!body) {
        rc = assay_error_set(ASSAY_ENOMEM, "events: out of memory");
        goto out;
    }
    if (flock(log->fd, LOCK_EX) != 0) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "events: lock");
        goto out;
    }
    locked = 1;
    if ((rc = resync(log)) < 0)
        goto out;

    char ts[32], head[96];
    assay_ts_now(ts);
    snprintf(head, sizeof head, "{\"v\":%d,\"seq\":%" PRId64 ",\"ts\":\"%s\"", ASSAY_PROTO_VERSION,
             log->next_seq, ts);
    size_t blen = strlen(body); /* "{...}" or "{}" */
    size_t len = strlen(head) + blen + 2;
    if (len > ASSAY_EVENT_MAX) {
        rc = assay_error_set(ASSAY_ETOOBIG, "event of %zu bytes exceeds the %d-byte cap", len,
                             ASSAY_EVENT_MAX);
        goto out;
    }
    line = malloc(len + ASSAY_EVMAC_SUFFIX + 1);
    if (!line) {
        rc = assay_error_set(ASSAY_ENOMEM, "events: out of memory");
        goto out;
    }
    snprintf(line, len + 1, "%s%s%s\n", head, blen > 2 ? "," : "", blen > 2 ? body + 1 : "}");
    len = strlen(line);
    if (log->keyed) {
        /* "{...}\n" becomes "{...,"mac":"<hex>"}\n", the MAC over "{...}". */
        char mac[ASSAY_EVMAC_SUFFIX + 1];
        assay_evmac_suffix(mac, log->key, line, len - 1);
        memcpy(line + len - 2, mac, ASSAY_EVMAC_SUFFIX);
        len = len - 2 + ASSAY_EVMAC_SUFFIX;
        line[len++] = '\n';
        line[len] = '\0';
    }

    for (int attempt = 0;; attempt++) {
        int e = 0;
        if (assay_write_all(log->fd, line, len) != 0 || (fsync(log->fd) != 0 && errno != EINVAL))
            e = -errno;
        if (e == 0)
            break;
        /* Undo a partial line, then spend the reserve once if the disk is
         * full, so the error and the job-end can still be recorded. */
        if (ftruncate(log->fd, log->end) != 0) {
            /* nothing more to do: resync cuts a torn line next time */
        }
        if ((e == -ENOSPC || e == -EDQUOT) && attempt == 0 && log->reserve) {
            unlink(log->reserve);
            free(log->reserve);
            log->reserve = NULL;
            continue;
        }
        rc = assay_error_set_errno(ASSAY_EIO, -e, "events: write");
        goto out;
    }
    if (seq_out)
        *seq_out = log->next_seq;
    log->next_seq++;
    log->end += (off_t)len;
    rc = 0;
out:
    if (locked)
        flock(log->fd, LOCK_UN);
    free(line);
    cJSON_free(body);
    cJSON_Delete(ev);
    return rc;
}
