/* Lab hosts; see hosts.h. */
#include "hosts.h"
#include "profile.h"
#include "assay/error.h"
#include "assay/proto.h"
#include "assay/spec.h"
#include "assay/io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int name_valid(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 64 && s[0] != '-' && s[0] != '.' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int assay_host_parse_address(assay_host_rec *h, const char *s)
{
    const char *colon;
    char addr[256];
    h->port = 22;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end - s - 1 <= 0 || (size_t)(end - s - 1) >= sizeof addr)
            return assay_error_set(ASSAY_EINVAL, "address '%s': bad [IPv6] form", s);
        snprintf(addr, sizeof addr, "%.*s", (int)(end - s - 1), s + 1);
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] && !colon)
            return assay_error_set(ASSAY_EINVAL, "address '%s': junk after ]", s);
    } else {
        colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':'))
            return assay_error_set(ASSAY_EINVAL, "address '%s': write IPv6 addresses as [addr]:port", s);
        size_t n = colon ? (size_t)(colon - s) : strlen(s);
        if (n == 0 || n >= sizeof addr)
            return assay_error_set(ASSAY_EINVAL, "address '%s': empty or too long", s);
        snprintf(addr, sizeof addr, "%.*s", (int)n, s);
    }
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end || p < 1 || p > 65535 || !colon[1])
            return assay_error_set(ASSAY_EINVAL, "address '%s': port must be 1-65535", s);
        h->port = (int)p;
    }
    if (strspn(addr, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") != strlen(addr))
        return assay_error_set(ASSAY_EINVAL, "address '%s': not a host name or IP address", s);
    snprintf(h->address, sizeof h->address, "%s", addr);
    return 0;
}

int assay_host_validate(assay_lab *lab, const assay_host_rec *h)
{
    assay_profile *p;
    struct stat st;
    int rc;
    if (!name_valid(h->name))
        return assay_error_set(ASSAY_EINVAL, "name: '%s' must be 1-63 of [A-Za-z0-9._-]", h->name);
    if ((rc = assay_profile_load(&p, lab->profiles, h->profile)) < 0)
        return assay_error_wrap("host %s: profile", h->name);
    assay_profile_free(p);
    if (h->port < 1 || h->port > 65535)
        return assay_error_set(ASSAY_EINVAL, "host %s: port %d", h->name, h->port);
    if (!h->user[0] || strspn(h->user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                           strlen(h->user))
        return assay_error_set(ASSAY_EINVAL, "host %s: user '%s' is not a user name", h->name, h->user);
    if (h->identity[0] != '/')
        return assay_error_set(ASSAY_EINVAL, "host %s: identity '%s' must be an absolute path", h->name, h->identity);
    if (stat(h->identity, &st) != 0)
        return assay_error_set_errno(ASSAY_EINVAL, errno, "host %s: identity %s", h->name, h->identity);
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077))
        return assay_error_set(ASSAY_EUNSAFE, "host %s: identity %s must be a private file (mode 600, not %o)",
                               h->name, h->identity, (unsigned)(st.st_mode & 0777));
    if (h->hostkey[0]) {
        if (strncmp(h->hostkey, "SHA256:", 7) != 0 || strlen(h->hostkey) != 50 ||
            strspn(h->hostkey + 7, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") != 43)
            return assay_error_set(ASSAY_EINVAL, "host %s: hostkey '%s' is not an OpenSSH SHA256 fingerprint "
                                                 "(ssh-keygen -lf KEY.pub -E sha256)", h->name, h->hostkey);
    } else if (!h->tofu) {
        return assay_error_set(ASSAY_EINVAL, "host %s: give --hostkey SHA256:... or --trust-on-first-use", h->name);
    }
    if (!h->agent_root[0] || strchr(h->agent_root, '\n') || strchr(h->agent_root, '\''))
        return assay_error_set(ASSAY_EINVAL, "host %s: agent root '%s' must be a path without quotes", h->name,
                               h->agent_root);
    if (strchr(h->launcher, '\n'))
        return assay_error_set(ASSAY_EINVAL, "host %s: launcher has a newline", h->name);
    if (strchr(h->reset, '\n'))
        return assay_error_set(ASSAY_EINVAL, "host %s: reset command has a newline", h->name);
    if (!assay_login_name_valid(h->run_user))
        return assay_error_set(ASSAY_EINVAL, "host %s: run user '%s' must be a login name [a-z_][a-z0-9_-]{0,31} "
                                             "other than root", h->name, h->run_user);
    return 0;
}

static int get(const cJSON *o, const char *k, char *out, size_t len, int required, size_t i)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    out[0] = '\0';
    if (!v && !required)
        return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= len)
        return assay_error_set(ASSAY_EINVAL, "hosts[%zu].%s: %s", i, k, v ? "must be a string of modest length" : "missing");
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

static int host_same(const assay_host_rec *a, const assay_host_rec *b)
{
    return !strcmp(a->name, b->name) && !strcmp(a->profile, b->profile) && !strcmp(a->address, b->address) &&
           a->port == b->port && !strcmp(a->user, b->user) && !strcmp(a->identity, b->identity) &&
           !strcmp(a->hostkey, b->hostkey) && a->tofu == b->tofu && !strcmp(a->launcher, b->launcher) &&
           !strcmp(a->agent_root, b->agent_root) && !strcmp(a->reset, b->reset) && !strcmp(a->run_user, b->run_user);
}

int assay_host_import(assay_lab *lab, const char *file, int *added, int *updated)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_ENOTFOUND, errno, "%s", file);
    size_t cap = 16u << 20;
    char *buf = malloc(cap + 1);
    ssize_t n = buf ? assay_read_full(fd, buf, cap + 1) : -1;
    close(fd);
    if (n < 0 || (size_t)n > cap) {
        free(buf);
        return assay_error_set(ASSAY_EINVAL, "%s: unreadable or over 16 MiB", file);
    }
    cJSON *doc = cJSON_ParseWithLength(buf, (size_t)n);
    free(buf);
    const cJSON *hosts = cJSON_GetObjectItemCaseSensitive(doc, "hosts"), *e;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(doc, "version");
    int rc = 0;
    if (!doc || !cJSON_IsNumber(ver) || ver->valuedouble != 1 || !cJSON_IsArray(hosts)) {
        cJSON_Delete(doc);
        return assay_error_set(ASSAY_EINVAL, "%s: not a host file (want {\"version\": 1, \"hosts\": [...]})", file);
    }
    size_t cnt = (size_t)cJSON_GetArraySize(hosts), i = 0;
    assay_host_rec *recs = calloc(cnt ? cnt : 1, sizeof *recs);
    if (!recs) {
        cJSON_Delete(doc);
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    }
    /* Validate everything first: a file with one bad entry changes nothing. */
    cJSON_ArrayForEach(e, hosts)
    {
        assay_host_rec *h = &recs[i];
        const cJSON *port = cJSON_GetObjectItemCaseSensitive(e, "port");
        char address[256];
        if ((rc = get(e, "name", h->name, sizeof h->name, 1, i)) < 0 ||
            (rc = get(e, "profile", h->profile, sizeof h->profile, 1, i)) < 0 ||
            (rc = get(e, "address", address, sizeof address, 1, i)) < 0 ||
            (rc = get(e, "user", h->user, sizeof h->user, 1, i)) < 0 ||
            (rc = get(e, "identity", h->identity, sizeof h->identity, 1, i)) < 0 ||
            (rc = get(e, "hostkey", h->hostkey, sizeof h->hostkey, 1, i)) < 0 ||
            (rc = get(e, "agent_root", h->agent_root, sizeof h->agent_root, 0, i)) < 0 ||
            (rc = get(e, "launcher", h->launcher, sizeof h->launcher, 0, i)) < 0 ||
            (rc = get(e, "reset", h->reset, sizeof h->reset, 0, i)) < 0 ||
            (rc = get(e, "run_user", h->run_user, sizeof h->run_user, 0, i)) < 0)
            break;
        if (!h->run_user[0])
            snprintf(h->run_user, sizeof h->run_user, "%s", ASSAY_RUN_USER_DEFAULT);
        h->last_job = -1;
        snprintf(h->address, sizeof h->address, "%s", address);
        h->port = 22;
        if (port && (!cJSON_IsNumber(port) || port->valuedouble < 1 || port->valuedouble > 65535)) {
            rc = assay_error_set(ASSAY_EINVAL, "hosts[%zu].port: must be 1-65535", i);
            break;
        }
        if (port)
            h->port = port->valueint;
        if (!h->agent_root[0])
            snprintf(h->agent_root, sizeof h->agent_root, ".assay");
        if ((rc = assay_host_validate(lab, h)) < 0) {
            assay_error_wrap("%s: hosts[%zu]", file, i);
            break;
        }
        i++;
    }
    cJSON_Delete(doc);
    *added = *updated = 0;
    for (size_t k = 0; rc == 0 && k < i; k++) {
        assay_host_rec old;
        if (assay_store_host_get(lab->store, recs[k].name, &old) == 0) {
            if (host_same(&old, &recs[k]))
                continue;
            if ((rc = assay_store_host_remove(lab->store, recs[k].name)) < 0)
                break;
            /* New settings, same machine: what ran there still counts. */
            recs[k].last_job = old.last_job;
            recs[k].clean = old.clean;
            recs[k].drained = old.drained;
            recs[k].failures = old.failures;
            snprintf(recs[k].quarantined, sizeof recs[k].quarantined, "%s", old.quarantined);
            snprintf(recs[k].last_error, sizeof recs[k].last_error, "%s", old.last_error);
            snprintf(recs[k].last_package, sizeof recs[k].last_package, "%s", old.last_package);
            (*updated)++;
        } else {
            (*added)++;
        }
        assay_error_clear();
        rc = assay_store_host_add(lab->store, &recs[k]);
    }
    free(recs);
    return rc;
}
