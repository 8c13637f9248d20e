/*
 * assay: the controller's command line. Keeps the lab (store, submissions,
 * hosts), queues certification runs, drives hosts over SSH, and (with the
 * report issue) signs adaptation reports. Every failure prints
 * "assay: <what failed>: <why>" and exits non-zero.
 */
#include "accounts.h"
#include "assay/error.h"
#include "assay/json.h"
#include "assay/proto.h"
#include "assay/version.h"
#include "blob.h"
#include "buildinfo.h"
#include "cli.h"
#include "client.h"
#include "dispatch.h"
#include "hostcheck.h"
#include "hosts.h"
#include "ingest.h"
#include "lab.h"
#include "manifest.h"
#include "markup.h"
#include "package.h"
#include "pkgcheck.h"
#include "profile.h"
#include "pdf.h"
#include "report.h"
#include "registry.h"
#include "serve.h"
#include "ssh.h"
#include "webhook.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *lab_opt;
static const char *server_opt, *token_file_opt; /* --server URL, --token-file FILE */

/*
 * Text from vendors, hosts and agents made safe for a terminal: control
 * characters (escape sequences), bidi overrides and invalid UTF-8 become
 * U+FFFD, newlines become spaces, and the text is cut and padded to `width`
 * display columns (CJK counts two; 0: neither). The result lives until 16
 * more calls: enough for the cells of one printf.
 */
static const char *cell(const char *s, size_t width)
{
    static char ring[16][4096];
    static unsigned next;
    return assay_markup_term(ring[next++ % 16], sizeof ring[0], s, width);
}

static int fail(const char *what)
{
    fprintf(stderr, "assay: %s: %s\n", cell(what, 0), cell(assay_error_last()->message, 0));
    return 1;
}

static int bad(const char *what, const char *why)
{
    fprintf(stderr, "assay: %s: %s\n", cell(what, 0), cell(why, 0));
    return 2;
}

static int open_lab(assay_lab *lab, const char *what)
{
    if (assay_lab_open(lab, assay_lab_dir(lab_opt)) < 0)
        return fail(what);
    return 0;
}

static int has_flag(int argc, char **argv, const char *flag)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return 1;
    return 0;
}

/* The value after `--name`, or NULL. */
static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static int conclusion_code(const cJSON *p);

/* The entry of the command being run (main sets it). */
static const assay_cli_cmd *cli_cmd;

/* Its options checked against the table (a typo must not be ignored; the
 * nearest known option is named) and its positional arguments into pos
 * (cli_cmd->npos of them, missing ones NULL). Returns 0 or the exit status. */
static int check_opts(int argc, char **argv, char **pos)
{
    char msg[256], what[64];
    if (assay_cli_check(cli_cmd, argc, argv, pos, msg, sizeof msg) == 0)
        return 0;
    snprintf(what, sizeof what, "%s%s%s", cli_cmd->name, cli_cmd->sub ? " " : "", cli_cmd->sub ? cli_cmd->sub : "");
    return bad(what, msg);
}

static void print_json(const cJSON *o)
{
    char *s = cJSON_Print(o);
    if (s)
        puts(s);
    cJSON_free(s);
}


/* ---- init, config -------------------------------------------------------- */

static int cmd_init(int argc, char **argv)
{
    char *pos[2];
    int rc = check_opts(argc, argv, pos);
    if (rc)
        return rc;
    const char *kt = opt(argc, argv, "--key-type");
    assay_key_type type = ASSAY_KEY_ED25519;
    if (kt && strcmp(kt, "sm2") == 0)
        type = ASSAY_KEY_SM2;
    else if (kt && strcmp(kt, "ed25519") != 0)
        return bad("init", "--key-type must be ed25519 or sm2");
    const char *dir = assay_lab_dir(lab_opt);
    if (assay_lab_init(dir, type, opt(argc, argv, "--centre")) < 0)
        return fail("init");
    if (has_flag(argc, argv, "--json")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "lab", dir);
        cJSON_AddStringToObject(o, "key_type", type == ASSAY_KEY_SM2 ? "sm2" : "ed25519");
        print_json(o);
        cJSON_Delete(o);
    } else {
        printf("lab %s ready (signing key %s)\n", dir, type == ASSAY_KEY_SM2 ? "SM2" : "Ed25519");
    }
    return 0;
}

static const char *const SETTINGS[] = {"centre", "ingest.max_entries", "ingest.max_entry_bytes",
                                       "ingest.max_total_bytes", "ingest.max_ratio", "ingest.max_submission_bytes",
                                       "ingest.wall_seconds", "ingest.cpu_seconds", "ingest.memory_bytes",
                                       "ingest.grace_seconds", "report.max_ci_pct", "report.tested_by",
                                       "report.reviewed_by", "report.approved_by", "report.timezone",
                                       "report.verify_url", "hosts.health_interval", "hosts.quarantine_after",
                                       "hosts.job_retention_days", NULL};

static int cmd_config(int argc, char **argv)
{
    assay_lab lab;
    char *pos[2];
    int rc = check_opts(argc - 1, argv + 1, pos), set = !strcmp(argv[0], "set");
    if (rc)
        return rc;
    const char *key = pos[0], *value = pos[1];
    if (!key || (set && !value) || (!set && value))
        return bad("config", "use: config get KEY | config set KEY VALUE");
    int known = 0;
    for (const char *const *k = SETTINGS; *k; k++)
        known |= strcmp(*k, key) == 0;
    if (!known) {
        const char *near = assay_cli_suggest(key, SETTINGS, sizeof SETTINGS / sizeof SETTINGS[0] - 1);
        char m[600];
        snprintf(m, sizeof m, "unknown setting '%s'%s%s%s (centre, ingest.max_entries, ingest.max_entry_bytes, "
                              "ingest.max_total_bytes, ingest.max_ratio, ingest.max_submission_bytes, ingest.wall_seconds, "
                              "ingest.cpu_seconds, ingest.memory_bytes, ingest.grace_seconds, report.max_ci_pct, "
                              "report.tested_by, report.reviewed_by, report.approved_by, report.timezone, report.verify_url, "
                              "hosts.health_interval, hosts.quarantine_after, hosts.job_retention_days)",
                 key, near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
        return bad("config", m);
    }
    if (set && !strcmp(key, "hosts.job_retention_days")) {
        char *end;
        unsigned long long v = strtoull(value, &end, 10);
        if (end == value || *end || value[0] == '-' || v > 36500)
            return bad("config", "hosts.job_retention_days is a whole number of days, 0 to 36500");
    } else if ((strncmp(key, "ingest.", 7) == 0 || strncmp(key, "hosts.", 6) == 0) && set) {
        char *end;
        unsigned long long v = strtoull(value, &end, 10);
        if (*end || v == 0 || value[0] == '-')
            return bad("config", "ingest limits and host settings are positive whole numbers");
    }
    if (!strcmp(argv[1], "report.max_ci_pct") && argc == 3) {
        char *end;
        double v = strtod(argv[2], &end);
        if (end == argv[2] || *end || !(v > 0 && v <= 1000))
            return bad("config", "report.max_ci_pct is a percentage in (0, 1000]");
    }
    if (set && !strcmp(key, "report.timezone") && assay_report_timezone_check(value) < 0)
        return fail("config");
    if (set && strncmp(key, "report.", 7) == 0 && assay_text_check(value, strlen(value), 0))
        return bad("config", "report settings are one line of text (UTF-8, no control characters)");
    if (open_lab(&lab, "config"))
        return 1;
    if (set) {
        if (assay_store_meta_set(lab.store, key, value) < 0)
            rc = fail("config");
    } else {
        char v[1024];
        if (assay_store_meta_get(lab.store, key, v, sizeof v) < 0)
            rc = fail("config");
        else if (has_flag(argc, argv, "--json")) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, key, v);
            print_json(o);
            cJSON_Delete(o);
        } else
            puts(v);
    }
    assay_lab_close(&lab);
    return rc;
}

/* ---- packages ------------------------------------------------------------ */

/* assay gc --hosts: the job directories on the hosts that the lab's
 * retention allows to go, now, as a dispatcher would (and with its lock:
 * one process drives the hosts at a time). */
static int gc_hosts(int argc, char **argv)
{
    assay_lab lab;
    size_t removed = 0, failed = 0;
    int rc = 0;
    if (open_lab(&lab, "gc"))
        return 1;
    int lr = assay_lab_lock_dispatch(&lab, 0);
    if (lr == ASSAY_ESTATE)
        assay_error_set(ASSAY_ESTATE, "a dispatcher serves lab %s: it removes the job directories due itself", lab.dir);
    if (lr < 0 || assay_ssh_init() < 0) {
        rc = fail("gc");
        assay_lab_close(&lab);
        return rc;
    }
    int json = has_flag(argc, argv, "--json");
    assay_dispatch_opts o = {.gc_only = 1, .out = json ? stderr : stdout, .dirs_removed = &removed,
                             .dirs_failed = &failed};
    if (assay_dispatch(&lab, &o) < 0) {
        rc = fail("gc");
    } else if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "host_dirs_removed", (double)removed);
        cJSON_AddNumberToObject(j, "host_dirs_failed", (double)failed);
        print_json(j);
        cJSON_Delete(j);
    } else {
        printf("removed %zu job directories on hosts%s", removed, failed ? "" : "\n");
        if (failed)
            printf("; %zu could not be removed (tried again later, %d times at most)\n", failed,
                   ASSAY_HOST_DIR_TRIES);
    }
    if (rc == 0 && failed)
        rc = 1;
    assay_ssh_exit();
    assay_lab_close(&lab);
    return rc;
}

/* assay gc [--grace SECONDS]: what killed adds left in staging, and blobs
 * nothing in the store names, older than the grace period. */
static int cmd_gc(int argc, char **argv)
{
    char *pos[2];
    assay_lab lab;
    int rc = check_opts(argc, argv, pos);
    if (rc)
        return rc;
    if (has_flag(argc, argv, "--hosts"))
        return gc_hosts(argc, argv);
    const char *g = opt(argc, argv, "--grace");
    long long grace = -1;
    if (g) {
        char *end;
        grace = strtoll(g, &end, 10);
        if (*end || !g[0] || grace < 0)
            return bad("gc", "--grace is a whole number of seconds");
    }
    if (open_lab(&lab, "gc"))
        return 1;
    if (grace < 0) {
        assay_package_budget_t b;
        assay_package_budget(&lab, &b);
        grace = (long long)b.grace_seconds;
    }
    size_t staged, orphans;
    if (assay_package_gc(&lab, grace, &staged, &orphans) < 0) {
        rc = fail("gc");
    } else if (has_flag(argc, argv, "--json")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "staged_removed", (double)staged);
        cJSON_AddNumberToObject(o, "orphan_blobs_removed", (double)orphans);
        print_json(o);
        cJSON_Delete(o);
    } else {
        printf("removed %zu staged files or directories and %zu orphan blobs\n", staged, orphans);
    }
    assay_lab_close(&lab);
    return rc;
}

static int cmd_package(int argc, char **argv)
{
    assay_lab lab;
    char *pos[2];
    if (argc < 1)
        return bad("package", "use: package add FILE | list | show ID | inspect ID");
    const char *sub = argv[0];
    int rc = check_opts(argc - 1, argv + 1, pos);
    if (rc)
        return rc;
    int json = has_flag(argc, argv, "--json");
    if (strcmp(sub, "add") == 0) {
        if (!pos[0])
            return bad("package add", "give the submission file");
        if (open_lab(&lab, "package add"))
            return 1;
        char id[65];
        int existed;
        if (assay_package_add(&lab, pos[0], ASSAY_ADD_COPY, id, &existed) < 0) {
            char what[600];
            snprintf(what, sizeof what, "package add %s", pos[0]);
            rc = fail(what);
        } else {
            /* --json: the id, whether it was new, and the preflight summary
             * (stored with the package, in the add's transaction). */
            cJSON *x, *o = json ? cJSON_CreateObject() : NULL;
            cJSON_AddStringToObject(o, "id", id);
            cJSON_AddBoolToObject(o, "added", !existed);
            if (!json)
                printf("%s\n", id);
            char *text = assay_store_package_preflight(lab.store, id);
            cJSON *pf = text ? cJSON_Parse(text) : NULL;
            free(text);
            if (existed)
                fprintf(stderr, "assay: package %.12s was added before; nothing changed\n", id);
            int e = 0, w = 0, np = 0;
            cJSON_ArrayForEach(x, cJSON_GetObjectItem(pf, "profiles"))
            {
                e += (int)assay_json_num(x, "errors");
                w += (int)assay_json_num(x, "warnings");
                np++;
            }
            char ce[48], cw[48], cp[48];
            if (pf && !existed)
                fprintf(stderr, "assay: preflight: %s, %s over %s%s%.12s\n", assay_counted(ce, sizeof ce, e, "error", "errors"),
                        assay_counted(cw, sizeof cw, w, "warning", "warnings"), assay_counted(cp, sizeof cp, np, "profile", "profiles"),
                        e || w ? "; see: assay package inspect " : "", e || w ? id : "");
            if (pf) {
                cJSON *ps = cJSON_AddObjectToObject(o, "preflight");
                cJSON_AddNumberToObject(ps, "errors", e);
                cJSON_AddNumberToObject(ps, "warnings", w);
                cJSON_AddNumberToObject(ps, "profiles", np);
            }
            cJSON_Delete(pf);
            if (json)
                print_json(o);
            cJSON_Delete(o);
        }
    } else if (strcmp(sub, "remove") == 0) {
        char(*dig)[65] = NULL, full[65];
        size_t nd = 0, freed = 0;
        int runs = 0;
        if (!pos[0])
            return bad("package remove", "give a package id");
        if (open_lab(&lab, "package remove"))
            return 1;
        if (assay_store_package_remove(lab.store, pos[0], has_flag(argc, argv, "--force"), full, &dig, &nd, &runs) < 0) {
            rc = fail("package remove");
        } else {
            /* Its blobs, unless another package or run refers to one. */
            for (size_t i = 0; i < nd; i++) {
                int ref = assay_store_blob_referenced(lab.store, dig[i]);
                if (ref == 0 && assay_blob_remove(lab.blobs, dig[i]) == 0)
                    freed++;
                else if (ref < 0 || ref == 0)
                    fprintf(stderr, "assay: package remove: blob %.16s kept: %s\n", dig[i],
                            cell(assay_error_last()->message, 0));
            }
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "id", full);
                cJSON_AddNumberToObject(o, "runs_removed", runs);
                cJSON_AddNumberToObject(o, "blobs_removed", (double)freed);
                print_json(o);
                cJSON_Delete(o);
            } else {
                printf("package %.12s removed (%d runs, %zu blobs)\n", full, runs, freed);
            }
            free(dig);
        }
    } else if (strcmp(sub, "list") == 0) {
        cJSON *l, *p;
        if (open_lab(&lab, "package list"))
            return 1;
        if (assay_store_package_list(lab.store, &l) < 0) {
            rc = fail("package list");
        } else if (json) {
            /* Rows stored before manifests' text was checked may hold bytes
             * that are not UTF-8: JSON out is always JSON. */
            cJSON_ArrayForEach(p, l) for (cJSON *f = p->child; f; f = f->next) if (cJSON_IsString(f) &&
                assay_text_check(f->valuestring, strlen(f->valuestring), 0)) assay_text_clean(f->valuestring);
            print_json(l);
        } else {
            printf("%-14s %-24s %-12s %-24s %s\n", "ID", "PRODUCT", "VERSION", "VENDOR", "FILE");
            cJSON_ArrayForEach(p, l)
                printf("%-14.12s %s %s %s %s\n", assay_json_str(p, "id"), cell(assay_json_str(p, "product"), 24),
                       cell(assay_json_str(p, "version"), 12), cell(assay_json_str(p, "vendor"), 24),
                       cell(assay_json_str(p, "file_name"), 0));
        }
        cJSON_Delete(l);
    } else if (strcmp(sub, "show") == 0) {
        assay_package_rec p;
        assay_artifact_rec *arts;
        size_t n;
        char *manifest;
        if (!pos[0])
            return bad("package show", "give a package id");
        if (open_lab(&lab, "package show"))
            return 1;
        if (assay_store_package_get(lab.store, pos[0], &p, &manifest) < 0 ||
            assay_store_artifacts(lab.store, p.id, &arts, &n) < 0) {
            rc = fail("package show");
        } else {
            if (json) {
                cJSON *o = assay_package_json(&p, arts, n);
                cJSON_AddItemToObject(o, "manifest", cJSON_Parse(manifest));
                print_json(o);
                cJSON_Delete(o);
            } else {
                printf("package   %s\nproduct   %s %s\nvendor    %s\nfile      %s (%" PRIu64 " bytes)\nadded     %s\n"
                       "artifacts\n",
                       p.id, cell(p.product, 0), cell(p.version, 0), cell(p.vendor, 0), cell(p.file_name, 0), p.size,
                       p.added_at);
                for (size_t i = 0; i < n; i++)
                    printf("  %-12s %-4s %-4s %10" PRIu64 "  %.16s  %s\n", arts[i].arch, arts[i].abi, arts[i].format,
                           arts[i].size, arts[i].sha256, cell(arts[i].name, 0));
                /* The artifacts of several files: which files go together,
                 * in the order the install step gets them. */
                assay_manifest *m = NULL;
                if (assay_manifest_parse(&m, manifest, strlen(manifest)) == 0) {
                    for (size_t i = 0; i < m->nartifacts; i++) {
                        const assay_manifest_artifact *a = &m->artifacts[i];
                        if (a->nfiles < 2)
                            continue;
                        printf("  set for %s%s%s, installed together in this order:\n", a->arch,
                               a->abi[0] ? ", ABI " : "", a->abi);
                        for (size_t k = 0; k < a->nfiles; k++)
                            printf("    %zu. %s\n", k + 1, cell(assay_manifest_file(m, a, k), 0));
                    }
                }
                assay_error_clear();
                assay_manifest_free(m);
            }
            free(arts);
            free(manifest);
        }
    } else if (strcmp(sub, "inspect") == 0) {
        char *profs[64];
        size_t np = 0;
        cJSON *pf, *x, *f, *fd;
        for (int i = 1; i + 1 < argc && np < 64; i++)
            if (!strcmp(argv[i], "--profile"))
                profs[np++] = argv[++i];
        if (!pos[0])
            return bad("package inspect", "give a package id");
        if (open_lab(&lab, "package inspect"))
            return 1;
        int done;
        assay_package_rec pr;
        /* A package whose preflight a crash left pending gets it now. */
        if (assay_store_package_get(lab.store, pos[0], &pr, NULL) < 0 || assay_package_complete(&lab, pr.id, &done) < 0 ||
            assay_package_preflight(&pf, &lab, pr.id, profs, np) < 0) {
            rc = fail("package inspect");
        } else {
            int errors = 0;
            cJSON_ArrayForEach(x, cJSON_GetObjectItem(pf, "profiles")) errors += (int)assay_json_num(x, "errors");
            if (json) {
                print_json(pf);
            } else {
                cJSON_ArrayForEach(x, cJSON_GetObjectItem(pf, "profiles"))
                {
                    char counts[200], label[2048];
                    /* The artifact: its file, or every file of a set. */
                    const cJSON *set = cJSON_GetObjectItem(x, "artifact_files"), *sf;
                    if (cJSON_GetArraySize(set) > 1) {
                        size_t used = (size_t)snprintf(label, sizeof label, "set of %d: ", cJSON_GetArraySize(set));
                        cJSON_ArrayForEach(sf, set) if (cJSON_IsString(sf) && used < sizeof label)
                            used += (size_t)snprintf(label + used, sizeof label - used, "%s%s",
                                                     sf == set->child ? "" : ", ", sf->valuestring);
                    } else {
                        snprintf(label, sizeof label, "%s",
                                 cJSON_IsString(cJSON_GetObjectItem(x, "artifact")) ? assay_json_str(x, "artifact")
                                                                                    : assay_json_str(x, "message"));
                    }
                    printf("%s (%s): %s\n", cell(assay_json_str(x, "profile"), 0), cell(label, 0),
                           assay_pkgcheck_counts(counts, sizeof counts, x));
                    cJSON_ArrayForEach(f, cJSON_GetObjectItem(x, "files")) cJSON_ArrayForEach(fd, cJSON_GetObjectItem(f, "findings"))
                        printf("  %s %s %s: %s (expected %s)\n           %s\n", cell(assay_json_str(fd, "severity"), 7),
                               cell(assay_json_str(fd, "check"), 15), cell(assay_json_str(f, "path"), 0), cell(assay_json_str(fd, "found"), 0),
                               cell(assay_json_str(fd, "expected"), 0), cell(assay_json_str(fd, "hint"), 0));
                }
                /* Coverage: every file, examined or not, with the reason. */
                cJSON_ArrayForEach(x, cJSON_GetObjectItem(pf, "coverage"))
                {
                    char a[48], b[48], c[48];
                    printf("coverage of %s: %s read, %s not for this host, %s not examined\n",
                           cell(assay_json_str(x, "artifact"), 0),
                           assay_counted(a, sizeof a, (long)assay_json_num(x, "elf_read"), "ELF file", "ELF files"),
                           assay_counted(b, sizeof b, (long)assay_json_num(x, "not_for_host"), "file", "files"),
                           assay_counted(c, sizeof c, (long)assay_json_num(x, "not_examined"), "file", "files"));
                    cJSON_ArrayForEach(f, cJSON_GetObjectItem(x, "examined_files"))
                        printf("  read          %s\n", cell(cJSON_IsString(f) ? f->valuestring : "", 0));
                    cJSON_ArrayForEach(f, cJSON_GetObjectItem(x, "not_for_host_files"))
                        printf("  not for host  %s (%s): %s\n", cell(assay_json_str(f, "path"), 0),
                               cell(assay_json_str(f, "arch"), 0), cell(assay_json_str(f, "reason"), 0));
                    cJSON_ArrayForEach(f, cJSON_GetObjectItem(x, "not_examined_files"))
                        printf("  not examined  %s: %s\n", cell(assay_json_str(f, "path"), 0),
                               cell(assay_json_str(f, "reason"), 0));
                }
            }
            cJSON_Delete(pf);
            rc = errors ? 1 : 0;
        }
    } else {
        return bad("package", "use: package add FILE | list | show ID | inspect ID [--profile ID]...");
    }
    assay_lab_close(&lab);
    return rc;
}

/* ---- profiles ------------------------------------------------------------ */

static int cmd_profile(int argc, char **argv)
{
    assay_lab lab;
    char *pos[2];
    if (argc < 1)
        return bad("profile", "use: profile list | show ID");
    int rc = check_opts(argc - 1, argv + 1, pos);
    if (rc)
        return rc;
    int json = has_flag(argc, argv, "--json");
    if (open_lab(&lab, "profile"))
        return 1;
    if (strcmp(argv[0], "list") == 0) {
        assay_profile **v;
        size_t n;
        if (assay_profile_list(&v, &n, lab.profiles) < 0) {
            rc = fail("profile list");
        } else {
            cJSON *arr = json ? cJSON_CreateArray() : NULL;
            if (!json)
                printf("%-36s %s %-12s %-6s %-6s %-5s %s\n", "ID", cell("名称", 32), "ARCH", "GLIBC", "PAGE", "PKG",
                       "NAME");
            for (size_t i = 0; i < n; i++) {
                if (json)
                    cJSON_AddItemToArray(arr, cJSON_Duplicate(v[i]->doc, 1));
                else
                    printf("%-36s %s %-12s %-6s %-6d %-5s %s\n", v[i]->id, cell(v[i]->name_zh, 32), v[i]->arch,
                           v[i]->glibc, v[i]->page_size / 1024, v[i]->package_format, cell(v[i]->name, 0));
            }
            if (json)
                print_json(arr);
            cJSON_Delete(arr);
            assay_profile_list_free(v, n);
        }
    } else if (strcmp(argv[0], "show") == 0 && pos[0]) {
        assay_profile *p;
        if (assay_profile_load(&p, lab.profiles, pos[0]) < 0) {
            rc = fail("profile show");
        } else {
            print_json(p->doc);
            assay_profile_free(p);
        }
    } else {
        rc = bad("profile", "use: profile list | show ID");
    }
    assay_lab_close(&lab);
    return rc;
}

/* ---- hosts --------------------------------------------------------------- */

/* A number of seconds, more than 0 and at most max. */
static int parse_seconds(const char *s, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0 && v <= max))
        return -1;
    *out = v;
    return 0;
}

/* Where `host check` spent its time, one line per phase it ran, the
 * slowest (or the one that failed) named; then the failed command's stderr. */
static void print_trace(FILE *f, const assay_hc_trace *t)
{
    int slow = -1;
    for (int i = 0; i < t->reached; i++)
        if (t->seconds[i] >= 0 && (slow < 0 || t->seconds[i] > t->seconds[slow]))
            slow = i;
    if (t->failed && t->reached > 0)
        slow = t->reached - 1;
    for (int i = 0; i < t->reached; i++) {
        if (t->seconds[i] < 0)
            continue;
        const char *mark = "";
        if (i == slow)
            mark = t->failed ? "  <- failed here" : "  <- slowest";
        fprintf(f, "  %-10s %8.3f s%s\n", assay_hc_phase_name((assay_hc_phase)i), t->seconds[i], mark);
    }
    if (t->failed && t->remote_stderr[0]) {
        fprintf(f, "  remote stderr (exit status %d):\n", t->status);
        char line[4096];
        for (const char *p = t->remote_stderr; *p;) {
            size_t n = strcspn(p, "\n");
            snprintf(line, sizeof line, "%.*s", (int)n, p);
            fprintf(f, "    %s\n", cell(line, 0));
            p += n + (p[n] == '\n');
        }
    }
}

static int cmd_host(int argc, char **argv)
{
    assay_lab lab;
    char *pos[2];
    if (argc < 1)
        return bad("host", "use: host add | import | list | remove | check | drain | resume");
    const char *sub = argv[0];
    int rc = check_opts(argc - 1, argv + 1, pos);
    if (rc)
        return rc;
    int json = has_flag(argc, argv, "--json");
    if (strcmp(sub, "add") == 0) {
        assay_host_rec h;
        memset(&h, 0, sizeof h);
        const char *profile = opt(argc, argv, "--profile"), *addr = opt(argc, argv, "--address"),
                   *user = opt(argc, argv, "--user"), *id = opt(argc, argv, "--identity");
        if (!pos[0] || !profile || !addr || !user || !id)
            return bad("host add", "give NAME --profile --address --user --identity");
        if (!!opt(argc, argv, "--hostkey") == has_flag(argc, argv, "--trust-on-first-use"))
            return bad("host add", "give exactly one of --hostkey SHA256:... and --trust-on-first-use");
        snprintf(h.name, sizeof h.name, "%s", pos[0]);
        snprintf(h.profile, sizeof h.profile, "%s", profile);
        snprintf(h.user, sizeof h.user, "%s", user);
        if (id[0] != '/' && getcwd(h.identity, sizeof h.identity)) {
            size_t l = strlen(h.identity);
            snprintf(h.identity + l, sizeof h.identity - l, "/%s", id);
        } else {
            snprintf(h.identity, sizeof h.identity, "%s", id);
        }
        snprintf(h.hostkey, sizeof h.hostkey, "%s", opt(argc, argv, "--hostkey") ? opt(argc, argv, "--hostkey") : "");
        h.tofu = has_flag(argc, argv, "--trust-on-first-use");
        snprintf(h.launcher, sizeof h.launcher, "%s", opt(argc, argv, "--launcher") ? opt(argc, argv, "--launcher") : "");
        snprintf(h.agent_root, sizeof h.agent_root, "%s",
                 opt(argc, argv, "--agent-root") ? opt(argc, argv, "--agent-root") : ".assay");
        const char *reset = opt(argc, argv, "--reset");
        if (reset && strlen(reset) >= sizeof h.reset)
            return bad("host add", "--reset: the command is too long");
        snprintf(h.reset, sizeof h.reset, "%s", reset ? reset : "");
        const char *ru = opt(argc, argv, "--run-user");
        if (ru && strlen(ru) >= sizeof h.run_user)
            return bad("host add", "--run-user: the name is too long");
        snprintf(h.run_user, sizeof h.run_user, "%s", ru ? ru : ASSAY_RUN_USER_DEFAULT);
        h.last_job = -1;
        if (assay_host_parse_address(&h, addr) < 0)
            return fail("host add");
        if (open_lab(&lab, "host add"))
            return 1;
        if (assay_host_validate(&lab, &h) < 0 || assay_store_host_add(lab.store, &h) < 0)
            rc = fail("host add");
        else if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", h.name);
            cJSON_AddStringToObject(o, "address", h.address);
            cJSON_AddNumberToObject(o, "port", h.port);
            cJSON_AddStringToObject(o, "profile", h.profile);
            cJSON_AddBoolToObject(o, "trust_on_first_use", h.tofu);
            print_json(o);
            cJSON_Delete(o);
        } else
            printf("host %s added (%s:%d, %s)%s\n", h.name, h.address, h.port, h.profile,
                   h.tofu ? "; its key is pinned on first contact" : "");
    } else if (strcmp(sub, "import") == 0) {
        int added, updated;
        if (!pos[0])
            return bad("host import", "give the host file");
        if (open_lab(&lab, "host import"))
            return 1;
        if (assay_host_import(&lab, pos[0], &added, &updated) < 0)
            rc = fail("host import");
        else
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "added", added);
                cJSON_AddNumberToObject(o, "updated", updated);
                print_json(o);
                cJSON_Delete(o);
            } else
            printf("%d hosts added, %d updated\n", added, updated);
    } else if (strcmp(sub, "list") == 0) {
        assay_host_rec *v;
        size_t n;
        if (open_lab(&lab, "host list"))
            return 1;
        if (assay_store_hosts(lab.store, &v, &n) < 0) {
            rc = fail("host list");
        } else {
            cJSON *arr = cJSON_CreateArray();
            if (!json)
                printf("%-16s %-36s %-22s %-8s %s\n", "NAME", "PROFILE", "ADDRESS", "USER", "HOST KEY / STATE");
            for (size_t i = 0; i < n; i++) {
                char addr[300];
                snprintf(addr, sizeof addr, "%s:%d", v[i].address, v[i].port);
                if (json) {
                    cJSON *o = cJSON_CreateObject();
                    cJSON_AddStringToObject(o, "name", v[i].name);
                    cJSON_AddStringToObject(o, "profile", v[i].profile);
                    cJSON_AddStringToObject(o, "address", v[i].address);
                    cJSON_AddNumberToObject(o, "port", v[i].port);
                    cJSON_AddStringToObject(o, "user", v[i].user);
                    cJSON_AddStringToObject(o, "identity", v[i].identity);
                    cJSON_AddStringToObject(o, "hostkey", v[i].hostkey);
                    cJSON_AddBoolToObject(o, "trust_on_first_use", v[i].tofu);
                    cJSON_AddStringToObject(o, "launcher", v[i].launcher);
                    cJSON_AddStringToObject(o, "agent_root", v[i].agent_root);
                    cJSON_AddStringToObject(o, "disabled", v[i].disabled);
                    cJSON_AddStringToObject(o, "reset", v[i].reset);
                    cJSON_AddStringToObject(o, "run_user", v[i].run_user);
                    if (v[i].last_job > 0) {
                        cJSON_AddNumberToObject(o, "last_job", (double)v[i].last_job);
                        cJSON_AddStringToObject(o, "last_package", v[i].last_package);
                    } else {
                        cJSON_AddNullToObject(o, "last_job");
                        cJSON_AddNullToObject(o, "last_package");
                    }
                    cJSON_AddBoolToObject(o, "clean", v[i].last_job <= 0 || v[i].clean);
                    cJSON_AddBoolToObject(o, "drained", v[i].drained);
                    cJSON_AddStringToObject(o, "quarantined", v[i].quarantined);
                    cJSON_AddNumberToObject(o, "failures", v[i].failures);
                    cJSON_AddStringToObject(o, "last_error", v[i].last_error);
                    cJSON_AddItemToArray(arr, o);
                } else {
                    printf("%-16s %-36s %-22s %-8s %s%s%s", cell(v[i].name, 0), cell(v[i].profile, 0), cell(addr, 0),
                           cell(v[i].user, 0), v[i].hostkey[0] ? cell(v[i].hostkey, 0) : "(trust on first use)",
                           v[i].disabled[0] ? "  DISABLED: " : "", cell(v[i].disabled, 0));
                    if (v[i].quarantined[0])
                        printf("  QUARANTINED after %d failures in a row: %s", v[i].failures, cell(v[i].quarantined, 0));
                    if (v[i].drained)
                        printf("  DRAINED");
                    if (!v[i].quarantined[0] && v[i].failures)
                        printf("  %d failures in a row, the last: %s", v[i].failures, cell(v[i].last_error, 0));
                    putchar('\n');
                }
            }
            if (json)
                print_json(arr);
            cJSON_Delete(arr);
            free(v);
        }
    } else if (strcmp(sub, "remove") == 0) {
        if (!pos[0])
            return bad("host remove", "give a host name");
        if (open_lab(&lab, "host remove"))
            return 1;
        if (assay_store_host_remove(lab.store, pos[0]) < 0)
            rc = fail("host remove");
        else
            printf("host %s removed\n", pos[0]);
    } else if (strcmp(sub, "check") == 0) {
        cJSON *facts = NULL, *diffs = NULL, *d;
        if (!pos[0])
            return bad("host check", "give a host name");
        if (open_lab(&lab, "host check"))
            return 1;
        const char *t = opt(argc, argv, "--timeout");
        double timeout = 60;
        if (t && parse_seconds(t, 86400, &timeout) < 0) {
            assay_lab_close(&lab);
            return bad("host check", "--timeout takes seconds, more than 0 and at most 86400");
        }
        assay_hc_trace tr;
        if (assay_host_check(&tr, &lab, pos[0], timeout, &facts, &diffs) < 0) {
            rc = fail("host check");
            print_trace(stderr, &tr);
        } else {
            int errors = 0;
            cJSON_ArrayForEach(d, diffs) errors += strcmp(assay_json_str(d, "severity"), "error") == 0;
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToObject(o, "facts", facts);
                cJSON_AddItemToObject(o, "differences", diffs);
                facts = diffs = NULL;
                cJSON *ph = cJSON_AddArrayToObject(o, "phases");
                for (int i = 0; i < tr.reached; i++) {
                    if (tr.seconds[i] < 0)
                        continue;
                    cJSON *p = cJSON_CreateObject();
                    cJSON_AddStringToObject(p, "phase", assay_hc_phase_name((assay_hc_phase)i));
                    cJSON_AddNumberToObject(p, "seconds", tr.seconds[i]);
                    cJSON_AddItemToArray(ph, p);
                }
                print_json(o);
                cJSON_Delete(o);
            } else {
                const cJSON *cpu = cJSON_GetObjectItem(facts, "cpu"), *os = cJSON_GetObjectItem(facts, "os");
                printf("host %s: reached, host key verified\n", cell(pos[0], 0));
                print_trace(stdout, &tr);
                printf("  arch %s, cpu %s %s, %s %s, kernel %s, glibc %s, page %d\n",
                       cell(assay_json_str(facts, "arch"), 0), cell(assay_json_str(cpu, "vendor"), 0),
                       cell(assay_json_str(cpu, "model"), 0), cell(assay_json_str(os, "id"), 0), cell(assay_json_str(os, "version_id"), 0),
                       cell(assay_json_str(cJSON_GetObjectItem(facts, "kernel"), "release"), 0), cell(assay_json_str(facts, "glibc"), 0),
                       (int)assay_json_num(facts, "page_size"));
                if (cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(facts, "emulation"), "emulated")))
                    printf("  EMULATED: results from this host do not certify real hardware\n");
                if (!cJSON_GetArraySize(diffs))
                    printf("  matches its profile\n");
                cJSON_ArrayForEach(d, diffs)
                    printf("  %s %s profile %s, host %s\n", cell(assay_json_str(d, "severity"), 7), cell(assay_json_str(d, "field"), 16),
                           cell(assay_json_str(d, "profile"), 0),
                           cell(cJSON_IsString(cJSON_GetObjectItem(d, "host")) ? assay_json_str(d, "host") : "(unknown)", 0));
            }
            cJSON_Delete(facts);
            cJSON_Delete(diffs);
            rc = errors ? 1 : 0;
        }
    } else if (strcmp(sub, "drain") == 0 || strcmp(sub, "resume") == 0) {
        int drain = sub[0] == 'd';
        if (!pos[0])
            return bad(drain ? "host drain" : "host resume", "give a host name");
        if (open_lab(&lab, drain ? "host drain" : "host resume"))
            return 1;
        assay_host_rec h;
        if ((drain ? assay_store_host_drain(lab.store, pos[0]) : assay_store_host_resume(lab.store, pos[0])) < 0 ||
            assay_store_host_get(lab.store, pos[0], &h) < 0) {
            rc = fail(drain ? "host drain" : "host resume");
        } else if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", h.name);
            cJSON_AddBoolToObject(o, "drained", h.drained);
            cJSON_AddBoolToObject(o, "quarantined", h.quarantined[0] != 0);
            print_json(o);
            cJSON_Delete(o);
        } else if (drain) {
            printf("host %s drained: it takes no new job; a job running there finishes (assay host resume %s)\n",
                   cell(h.name, 0), cell(h.name, 0));
        } else {
            printf("host %s back in use\n", cell(h.name, 0));
        }
    } else {
        return bad("host", "use: host add | import | list | remove | check | drain | resume");
    }
    assay_lab_close(&lab);
    return rc;
}

/* ---- runs ---------------------------------------------------------------- */

static int parse_run(const char *s, int64_t *id)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v <= 0)
        return assay_error_set(ASSAY_EINVAL, "'%s' is not a run number", s);
    *id = v;
    return 0;
}

/* ---- steps and their logs ------------------------------------------------ */

/* The step-end bodies of a job's last attempt, in order (the caller
 * deletes the array); an empty array when there are none. */
static cJSON *step_ends(assay_lab *lab, const assay_job_rec *j)
{
    cJSON *evs = NULL, *e, *out = cJSON_CreateArray();
    if (assay_store_job_events_page(lab->store, j->id, j->attempt, 0, -1, 0, &evs) < 0) {
        assay_error_clear();
        return out;
    }
    cJSON_ArrayForEach(e, evs)
    {
        if (strcmp(assay_json_str(e, "type"), "step-end"))
            continue;
        cJSON *b = cJSON_Parse(assay_json_str(e, "body"));
        if (b)
            cJSON_AddItemToArray(out, b);
    }
    cJSON_Delete(evs);
    return out;
}

/* The first step of `ends` that failed or had an error, or NULL. */
static const cJSON *failing_step(const cJSON *ends)
{
    const cJSON *b;
    cJSON_ArrayForEach(b, ends)
    {
        const char *v = assay_json_str(b, "verdict");
        if (!strcmp(v, "fail") || !strcmp(v, "error"))
            return b;
    }
    return NULL;
}

/* The stored log `path` (as a step-end names it) of the job's attempt:
 * its record {path, sha256, size} in `logs`, and its blob's path. NULL if
 * it was not stored. */
static const cJSON *log_rec(assay_lab *lab, const cJSON *logs, const char *path, char *blob, size_t bloblen)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, logs)
        if (path[0] && !strcmp(assay_json_str(l, "path"), path))
            return assay_blob_path(blob, bloblen, lab->blobs, assay_json_str(l, "sha256")) == 0 ? l : NULL;
    return NULL;
}

/* At most `cap` bytes of a file from offset `from` (negative: that many
 * bytes before its end), NUL-terminated; the caller frees it. */
static char *read_part(const char *path, long from, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    *len = 0;
    if (!f)
        return NULL;
    if (from < 0 && fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        from = size + from > 0 ? size + from : 0;
    }
    if (fseek(f, from, SEEK_SET) == 0 && (buf = malloc(cap + 1)))
        *len = fread(buf, 1, cap, f);
    fclose(f);
    if (buf)
        buf[*len] = '\0';
    return buf;
}

/* The first line of a log that is not blank, cut to `max` bytes on a
 * character boundary (the terminal writer makes it safe). */
static void first_line(char *out, size_t max, const char *blob)
{
    size_t n;
    char *buf = read_part(blob, 0, 64 * 1024, &n);
    out[0] = '\0';
    for (size_t i = 0; buf && i < n;) {
        size_t e = i;
        while (e < n && buf[e] != '\n')
            e++;
        size_t k = i;
        while (k < e && (buf[k] == ' ' || buf[k] == '\t' || buf[k] == '\r'))
            k++;
        if (k < e) {
            size_t l = assay_utf8_cut(buf + i, e - i, max - 1);
            memcpy(out, buf + i, l);
            out[l] = '\0';
            break;
        }
        i = e + 1;
    }
    free(buf);
}

/* "install: exit status 100" / "hello: SIGSEGV" / "t1: timed out" */
static void step_status(char *out, size_t len, const cJSON *b)
{
    const cJSON *ec = cJSON_GetObjectItemCaseSensitive(b, "exit_code");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "timed_out")))
        snprintf(out, len, "timed out");
    else if (cJSON_IsNumber(ec))
        snprintf(out, len, "exit status %d", ec->valueint);
    else if (assay_json_str(b, "signal")[0])
        snprintf(out, len, "%s", assay_json_str(b, "signal"));
    else
        snprintf(out, len, "%s", assay_json_str(b, "verdict"));
}

/* Why a job did not pass: its failing step (a copy, the caller deletes
 * it; NULL if no step failed), that step's status, and the first line of
 * its stderr (else of its stdout), or "". */
static cJSON *job_failure(assay_lab *lab, const assay_job_rec *j, char *status, size_t slen, char *line, size_t llen)
{
    cJSON *ends = step_ends(lab, j), *logs = NULL, *out = NULL;
    const cJSON *b = failing_step(ends);
    char blob[4096];
    line[0] = status[0] = '\0';
    if (b && assay_store_job_logs(lab->store, j->id, j->attempt, &logs) == 0) {
        const cJSON *lg = cJSON_GetObjectItemCaseSensitive(b, "logs");
        if (log_rec(lab, logs, assay_json_str(lg, "stderr"), blob, sizeof blob))
            first_line(line, llen, blob);
        if (!line[0] && log_rec(lab, logs, assay_json_str(lg, "stdout"), blob, sizeof blob))
            first_line(line, llen, blob);
    }
    assay_error_clear();
    if (b) {
        step_status(status, slen, b);
        out = cJSON_Duplicate(b, 1);
    }
    cJSON_Delete(logs);
    cJSON_Delete(ends);
    return out;
}

/* The same on one line under the job's row. */
static void print_failure(assay_lab *lab, const assay_job_rec *j)
{
    char status[64], line[200];
    cJSON *b = job_failure(lab, j, status, sizeof status, line, sizeof line);
    if (b) {
        const char *kind = assay_json_str(b, "kind"), *step = assay_json_str(b, "step");
        int same = !strcmp(kind, step); /* install, uninstall */
        printf("         %s at %s%s%s: %s%s%s\n", !strcmp(assay_json_str(b, "verdict"), "fail") ? "失败 failed" : "错误 error",
               cell(kind, 0), same ? "" : " ", cell(same ? "" : step, 0), status, line[0] ? ": " : "", cell(line, 0));
    }
    cJSON_Delete(b);
}

/* The Chinese name of a profile beside its id, for tables. */
static const char *profile_zh(assay_lab *lab, const char *id, char *out, size_t len)
{
    assay_profile *p;
    out[0] = '\0';
    if (assay_profile_load(&p, lab->profiles, id) == 0) {
        snprintf(out, len, "%s", p->name_zh);
        assay_profile_free(p);
    }
    assay_error_clear();
    return out;
}

static void print_run(assay_lab *lab, const cJSON *r, int64_t id)
{
    assay_job_rec *jobs;
    size_t n;
    printf("run %" PRId64 ": %s %s (%s), package %.12s, priority %d, %s\n", id, cell(assay_json_str(r, "product"), 0),
           cell(assay_json_str(r, "version"), 0), cell(assay_json_str(r, "vendor"), 0), assay_json_str(r, "package"),
           (int)assay_json_num(r, "priority"), assay_json_str(r, "state"));
    if (assay_store_run_jobs(lab->store, id, &jobs, &n) < 0)
        return;
    printf("  %-6s %-36s %s %-9s %-14s %-8s %-12s %s\n", "JOB", "PROFILE", cell("平台", 32), "STATE", "HOST", "ATTEMPT",
           "OUTCOME", "REASON");
    for (size_t i = 0; i < n; i++) {
        char zh[192];
        printf("  %-6" PRId64 " %-36s %s %-9s %s %-8d %-12s %s\n", jobs[i].id, jobs[i].profile,
               cell(profile_zh(lab, jobs[i].profile, zh, sizeof zh), 32), jobs[i].state,
               cell(jobs[i].host[0] ? jobs[i].host : "-", 14), jobs[i].attempt,
               jobs[i].outcome[0] ? jobs[i].outcome : "-", cell(jobs[i].reason, 0));
        if (!strcmp(jobs[i].outcome, "failed") || !strcmp(jobs[i].outcome, "error"))
            print_failure(lab, &jobs[i]);
    }
    free(jobs);
}

#define LOG_SHOWN_MAX (64u << 20) /* bytes of one log that run logs prints, at most */
#define LOG_CHUNK (1u << 20)      /* bytes of a log asked of a server at once */

/* A log's text: on a terminal through the terminal writer, piped as
 * stored; ended with a newline. */
static void print_log_text(const char *text, size_t len, int tty)
{
    if (tty) {
        assay_markup *w;
        char *safe = NULL;
        if (assay_markup_new(&w, ASSAY_MARKUP_TEXT, 0) == 0) {
            assay_markup_textn(w, text, len);
            if (assay_markup_done(&safe, w) == 0)
                fputs(safe, stdout);
        }
        free(safe);
    } else {
        fwrite(text, 1, len, stdout);
    }
    if (len && text[len - 1] != '\n')
        putchar('\n');
}

/* `run logs`: every stored log of the run's jobs' steps, under a header;
 * on a terminal through the terminal writer, piped as stored. */
static int print_logs(assay_lab *lab, int64_t run, int64_t only_job, const char *only_step, int out_, int err_)
{
    assay_job_rec *jobs;
    size_t n, shown = 0;
    int tty = isatty(1);
    if (assay_store_run_jobs(lab->store, run, &jobs, &n) < 0)
        return fail("run logs");
    for (size_t i = 0; i < n; i++) {
        if (only_job && jobs[i].id != only_job)
            continue;
        cJSON *ends = step_ends(lab, &jobs[i]), *logs = NULL, *b;
        if (assay_store_job_logs(lab->store, jobs[i].id, jobs[i].attempt, &logs) < 0) {
            cJSON_Delete(ends);
            free(jobs);
            return fail("run logs");
        }
        cJSON_ArrayForEach(b, ends)
        {
            if (only_step && strcmp(assay_json_str(b, "step"), only_step))
                continue;
            static const char *const streams[] = {"stdout", "stderr"};
            for (int k = 0; k < 2; k++) {
                char blob[4096];
                if ((k == 0 && !out_) || (k == 1 && !err_))
                    continue;
                const cJSON *l = log_rec(lab, logs, assay_json_str(cJSON_GetObjectItemCaseSensitive(b, "logs"), streams[k]),
                                         blob, sizeof blob);
                if (!l)
                    continue;
                shown++;
                printf("==> job %" PRId64 " %s step %s run %d %s (%.0f bytes, sha256 %.16s) <==\n", jobs[i].id,
                       jobs[i].profile, cell(assay_json_str(b, "step"), 0), (int)assay_json_num(b, "run"), streams[k],
                       assay_json_num(l, "size"), assay_json_str(l, "sha256"));
                size_t len;
                char *text = read_part(blob, 0, LOG_SHOWN_MAX, &len);
                if (!text)
                    continue;
                print_log_text(text, len, tty);
                free(text);
            }
        }
        cJSON_Delete(ends);
        cJSON_Delete(logs);
    }
    free(jobs);
    if (!shown) {
        fprintf(stderr, "assay: run logs: no stored log matches (logs are fetched when a job ends)\n");
        return 1;
    }
    return 0;
}

/* `job show`: a job's steps with verdicts and log digests, its earlier
 * attempts, and the stderr tail of the step that failed. */
static int show_job(assay_lab *lab, int64_t id, int json)
{
    assay_job_rec j;
    cJSON *ends, *logs = NULL, *hist = NULL, *b;
    char zh[192], blob[4096];
    if (assay_store_job_get(lab->store, id, &j) < 0 || assay_store_job_logs(lab->store, id, j.attempt, &logs) < 0 ||
        assay_store_job_attempts(lab->store, id, &hist) < 0) {
        cJSON_Delete(logs);
        return fail("job show");
    }
    ends = step_ends(lab, &j);
    const cJSON *failed = failing_step(ends);
    if (json) {
        cJSON *o = cJSON_CreateObject(), *steps = cJSON_AddArrayToObject(o, "steps");
        cJSON_AddNumberToObject(o, "id", (double)j.id);
        cJSON_AddNumberToObject(o, "run", (double)j.run_id);
        cJSON_AddStringToObject(o, "profile", j.profile);
        cJSON_AddStringToObject(o, "profile_zh", profile_zh(lab, j.profile, zh, sizeof zh));
        cJSON_AddStringToObject(o, "state", j.state);
        cJSON_AddStringToObject(o, "host", j.host);
        cJSON_AddNumberToObject(o, "attempt", j.attempt);
        cJSON_AddStringToObject(o, "outcome", j.outcome);
        cJSON_AddStringToObject(o, "reason", j.reason);
        cJSON_ArrayForEach(b, ends)
        {
            cJSON *x = cJSON_CreateObject();
            static const char *const keys[] = {"step", "kind", "run", "verdict", "reason", "exit_code", "signal",
                                               "timed_out", "metrics"};
            for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, keys[k]);
                cJSON_AddItemToObject(x, keys[k], v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
            }
            static const char *const streams[] = {"stdout", "stderr"};
            for (int k = 0; k < 2; k++) {
                const cJSON *l = log_rec(lab, logs, assay_json_str(cJSON_GetObjectItemCaseSensitive(b, "logs"), streams[k]),
                                         blob, sizeof blob);
                cJSON_AddItemToObject(x, streams[k], l ? cJSON_Duplicate(l, 1) : cJSON_CreateNull());
            }
            cJSON_AddItemToArray(steps, x);
        }
        cJSON_AddItemToObject(o, "attempts", hist);
        hist = NULL;
        print_json(o);
        cJSON_Delete(o);
    } else {
        printf("job %" PRId64 " of run %" PRId64 ": %s (%s), host %s, attempt %d, %s%s%s\n", j.id, j.run_id, j.profile,
               cell(profile_zh(lab, j.profile, zh, sizeof zh), 0), cell(j.host[0] ? j.host : "-", 0), j.attempt,
               j.outcome[0] ? j.outcome : j.state, j.reason[0] ? ": " : "", cell(j.reason, 0));
        printf("  %-10s %s %-4s %-8s %-16s %9s  %-17s %s\n", "KIND", cell("STEP", 24), "RUN", "VERDICT", "STATUS",
               "DURATION", "STDOUT", "STDERR");
        cJSON_ArrayForEach(b, ends)
        {
            char status[64], so[40] = "-", se[40] = "-";
            const cJSON *lg = cJSON_GetObjectItemCaseSensitive(b, "logs"), *l;
            step_status(status, sizeof status, b);
            if ((l = log_rec(lab, logs, assay_json_str(lg, "stdout"), blob, sizeof blob)))
                snprintf(so, sizeof so, "%.0fB %.8s", assay_json_num(l, "size"), assay_json_str(l, "sha256"));
            if ((l = log_rec(lab, logs, assay_json_str(lg, "stderr"), blob, sizeof blob)))
                snprintf(se, sizeof se, "%.0fB %.8s", assay_json_num(l, "size"), assay_json_str(l, "sha256"));
            /* wall_ns is a string: 64-bit nanoseconds do not fit a double exactly. */
            const cJSON *mt = cJSON_GetObjectItemCaseSensitive(b, "metrics");
            char dur[32] = "-";
            if (assay_json_str(mt, "wall_ns")[0])
                snprintf(dur, sizeof dur, "%.3fs", strtod(assay_json_str(mt, "wall_ns"), NULL) / 1e9);
            printf("  %-10s %s %-4d %-8s %s %9s  %-17s %s\n", cell(assay_json_str(b, "kind"), 10),
                   cell(assay_json_str(b, "step"), 24), (int)assay_json_num(b, "run"), cell(assay_json_str(b, "verdict"), 8),
                   cell(status, 16), dur, so, se);
        }
        const cJSON *a;
        cJSON_ArrayForEach(a, hist)
            if (assay_json_num(a, "attempt") < j.attempt)
                printf("  attempt %d on %s: %s: %s\n", (int)assay_json_num(a, "attempt"), cell(assay_json_str(a, "host"), 0),
                       cell(assay_json_str(a, "outcome"), 0), cell(assay_json_str(a, "reason"), 0));
        if (failed && log_rec(lab, logs, assay_json_str(cJSON_GetObjectItemCaseSensitive(failed, "logs"), "stderr"), blob,
                              sizeof blob)) {
            size_t len;
            char *tail = read_part(blob, -2048, 2048 + 3, &len);
            if (tail) {
                size_t at = assay_utf8_tail(tail, len, 2048);
                printf("  stderr of %s (last %zu bytes; all of it: assay run logs %" PRId64 " --job %" PRId64
                       " --step %s --stderr):\n",
                       cell(assay_json_str(failed, "step"), 0), len - at, j.run_id, j.id,
                       cell(assay_json_str(failed, "step"), 0));
                /* Line by line, each made safe for the terminal. */
                for (char *s_ = tail + at, *nl; *s_; s_ = nl ? nl + 1 : s_ + strlen(s_)) {
                    nl = strchr(s_, '\n');
                    if (nl)
                        *nl = '\0';
                    printf("    %s\n", cell(s_, 0));
                    if (!nl)
                        break;
                }
                free(tail);
            }
        }
    }
    assay_error_clear();
    cJSON_Delete(ends);
    cJSON_Delete(logs);
    cJSON_Delete(hist);
    return 0;
}

static int cmd_job(int argc, char **argv)
{
    assay_lab lab;
    char *pos[2];
    int64_t id = 0;
    int rc = check_opts(argc - 1, argv + 1, pos);
    if (rc)
        return rc;
    if (!pos[0])
        return bad("job show", "give a job number");
    if (parse_run(pos[0], &id) < 0)
        return bad("job show", "give a job number (a whole number from 1)");
    if (open_lab(&lab, "job show"))
        return 1;
    rc = show_job(&lab, id, has_flag(argc, argv, "--json"));
    assay_lab_close(&lab);
    return rc;
}

/* Seconds since an ISO 8601 UTC time ("2026-11-26T23:15:27Z"), or -1. */
static double since(const char *iso)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!iso[0] || !strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return -1;
    return difftime(time(NULL), timegm(&tm));
}

static int follow_run(assay_lab *lab, int64_t id)
{
    /* The store is the source: the dispatcher writes every event there as
     * it arrives; this only reads it. On a terminal, a table redrawn in
     * place; otherwise one timestamped line per event. */
    int tty = isatty(1), drawn = 0, was_held = -1;
    int64_t *seen = NULL;
    int *attempts = NULL;
    char (*cur)[96] = NULL;
    size_t nseen = 0;
    int rc = 0;
    for (;;) {
        cJSON *r;
        assay_job_rec *jobs;
        size_t n;
        if (assay_store_run_get(lab->store, id, &r) < 0 || assay_store_run_jobs(lab->store, id, &jobs, &n) < 0) {
            rc = fail("run show");
            break;
        }
        if (n > nseen) {
            seen = realloc(seen, n * sizeof *seen);
            attempts = realloc(attempts, n * sizeof *attempts);
            cur = realloc(cur, n * sizeof *cur);
            for (size_t i = nseen; i < n; i++) {
                seen[i] = -1;
                attempts[i] = 0;
                cur[i][0] = '\0';
            }
            nseen = n;
        }
        for (size_t i = 0; i < n; i++) {
            cJSON *evs, *e;
            if (attempts[i] != jobs[i].attempt) {
                attempts[i] = jobs[i].attempt;
                seen[i] = -1;
            }
            if (assay_store_job_events_page(lab->store, jobs[i].id, jobs[i].attempt, seen[i] + 1, -1, 0, &evs) < 0)
                continue;
            cJSON_ArrayForEach(e, evs)
            {
                cJSON *b = cJSON_Parse(assay_json_str(e, "body"));
                const char *type = assay_json_str(e, "type");
                if (strcmp(type, "step-start") == 0)
                    snprintf(cur[i], sizeof cur[i], "%s #%d", assay_json_str(b, "step"), (int)assay_json_num(b, "run"));
                if (!tty) {
                    if (strcmp(type, "step-end") == 0)
                        printf("%s job %" PRId64 " %s %s %s%s%s\n", cell(assay_json_str(b, "ts"), 0), jobs[i].id, cell(jobs[i].host, 14),
                               cell(assay_json_str(b, "step"), 20), cell(assay_json_str(b, "verdict"), 0),
                               *assay_json_str(b, "reason") ? ": " : "", cell(assay_json_str(b, "reason"), 0));
                    else if (strcmp(type, "job-end") == 0)
                        printf("%s job %" PRId64 " %s ended: %s\n", cell(assay_json_str(b, "ts"), 0), jobs[i].id, cell(jobs[i].host, 14),
                               cell(assay_json_str(b, "outcome"), 0));
                    else if (strcmp(type, "job-start") == 0)
                        printf("%s job %" PRId64 " %s started (%s)\n", cell(assay_json_str(b, "ts"), 0), jobs[i].id, cell(jobs[i].host, 14),
                               jobs[i].profile);
                    else if (strcmp(type, "error") == 0)
                        printf("%s job %" PRId64 " %s error: %s\n", cell(assay_json_str(b, "ts"), 0), jobs[i].id, cell(jobs[i].host, 14),
                               cell(assay_json_str(b, "message"), 0));
                }
                seen[i] = (int64_t)assay_json_num(e, "seq");
                cJSON_Delete(b);
            }
            cJSON_Delete(evs);
        }
        /* A run nobody serves would be followed forever: said, and said
         * again when a dispatcher comes. */
        int held = assay_lab_dispatch_held(lab);
        const char *finished_state = assay_json_str(r, "state");
        if (!strcmp(finished_state, "done") || !strcmp(finished_state, "canceled"))
            held = 1;
        if (!tty && held >= 0 && held != was_held && (held == 0 || was_held == 0)) {
            char ts[32];
            time_t now = time(NULL);
            struct tm tm;
            gmtime_r(&now, &tm);
            strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
            if (held)
                printf("%s a dispatcher serves the lab now\n", ts);
            else
                printf("%s no dispatcher serves lab %s: the run waits until `assay dispatch` runs\n", ts,
                       cell(lab->dir, 0));
        }
        if (held >= 0)
            was_held = held;
        if (tty) {
            for (int k = 0; k < drawn; k++)
                fputs("\033[1A\033[2K", stdout);
            size_t done = 0;
            for (size_t i = 0; i < n; i++) {
                int ended = !strcmp(jobs[i].state, "ended") || !strcmp(jobs[i].state, "canceled");
                double el = since(jobs[i].started_at);
                char elapsed[32] = "-";
                if (el >= 0)
                    snprintf(elapsed, sizeof elapsed, "%.0fs", el);
                done += ended;
                printf("  job %-5" PRId64 " %s %-9s %s %6s\n", jobs[i].id, cell(jobs[i].host[0] ? jobs[i].host : "-", 14),
                       ended ? jobs[i].outcome : jobs[i].state, cell(ended ? "" : cur[i], 24), ended ? "" : elapsed);
            }
            int width = 30, fill = n ? (int)(width * done / n) : 0;
            printf("  [%.*s%*s] %zu of %zu jobs done\n", fill, "##############################", width - fill, "",
                   done, n);
            drawn = (int)n + 1;
            if (held == 0) {
                printf("  no dispatcher serves this lab: the run waits until `assay dispatch` runs\n");
                drawn++;
            }
        }
        fflush(stdout);
        int finished = strcmp(assay_json_str(r, "state"), "done") == 0 || strcmp(assay_json_str(r, "state"), "canceled") == 0;
        cJSON_Delete(r);
        free(jobs);
        if (finished)
            break;
        struct timespec ts = {0, 500 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    free(seen);
    free(attempts);
    free(cur);
    return rc;
}

/*
 * What a finished run means for a CI pipeline, from the report's own
 * conclusion (the one that is signed): prints it, and returns 0 when the
 * run certifies its targets, 1 when the product failed on a target, 3 for
 * anything else short of certified (an infrastructure error, a cancel, an
 * emulated or mismatched host, preflight errors).
 */
static int run_conclusion(assay_lab *lab, int64_t id)
{
    char *payload = NULL;
    if (assay_report_statement(&payload, lab, id) < 0) {
        fail("run");
        return 3;
    }
    cJSON *st = cJSON_Parse(payload);
    free(payload);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(st, "predicate");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(p, "conclusion"), *x;
    int certified = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "certified"));
    printf("run %" PRId64 ": %s %s\n", id, assay_json_str(c, "zh"), assay_json_str(c, "en"));
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(c, "reasons"))
        printf("  %s: %s / %s\n", cell(assay_json_str(x, "target"), 0), cell(assay_json_str(x, "zh"), 0),
               cell(assay_json_str(x, "en"), 0));
    int rc = certified ? 0 : conclusion_code(p);
    cJSON_Delete(st);
    return rc;
}

/* Wait until run `id` has finished (at most timeout_s seconds, 0: no
 * limit), watching the store the dispatcher writes. */
static int wait_run(assay_lab *lab, int64_t id, double timeout_s)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        cJSON *r;
        if (assay_store_run_get(lab->store, id, &r) < 0)
            return fail("run wait");
        const char *state = assay_json_str(r, "state");
        int finished = !strcmp(state, "done") || !strcmp(state, "canceled");
        cJSON_Delete(r);
        if (finished)
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (timeout_s > 0 && (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 > timeout_s) {
            fprintf(stderr, "assay: run wait: run %" PRId64 " has not finished after %gs\n", id, timeout_s);
            return 3;
        }
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* --since: "2026-11-30", "2026-11-30T08:00:00Z", or an age "3d", "12h",
 * "30m", into an ISO 8601 UTC time to compare with submitted_at. */
static int parse_since(char out[32], const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end;
    if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) && !*end) {
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return 0;
    }
    memset(&tm, 0, sizeof tm);
    if ((end = strptime(s, "%Y-%m-%d", &tm)) && !*end) {
        strftime(out, 32, "%Y-%m-%dT00:00:00Z", &tm);
        return 0;
    }
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    long unit = !strcmp(e, "d") ? 86400 : !strcmp(e, "h") ? 3600 : !strcmp(e, "m") ? 60 : 0;
    if (errno || e == s || v < 0 || !unit || v > 100L * 365 * 86400 / unit)
        return -1;
    time_t t = time(NULL) - (time_t)(v * unit);
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return 0;
}

/* What a run's report predicate `p` means for a pipeline: 0 certified, 1
 * the product failed on a target (or gave nothing for one), 3 anything
 * else short of certified. */
static int conclusion_code(const cJSON *p)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(p, "conclusion");
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "certified")) ? 0
           : !strcmp(assay_json_str(p, "verdict"), "fail")               ? 1
                                                                          : 3;
}

/* `run wait --json`: the run's signed conclusion as JSON; returns as
 * run_conclusion does. */
static int conclusion_json(assay_lab *lab, int64_t id)
{
    char *payload = NULL;
    if (assay_report_statement(&payload, lab, id) < 0) {
        fail("run wait");
        return 3;
    }
    cJSON *st = cJSON_Parse(payload), *o = cJSON_CreateObject();
    free(payload);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(st, "predicate");
    cJSON_AddNumberToObject(o, "run", (double)id);
    cJSON_AddStringToObject(o, "verdict", assay_json_str(p, "verdict"));
    cJSON_AddItemToObject(o, "conclusion", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(p, "conclusion"), 1));
    int rc = conclusion_code(p);
    cJSON_AddNumberToObject(o, "exit", rc);
    print_json(o);
    cJSON_Delete(o);
    cJSON_Delete(st);
    return rc;
}

/* A run's conclusion for `run list`: certified, not certified, failed (the
 * product failed on a target), canceled, or "-" while it runs; from the
 * report statement, as run wait decides. */
static const char *run_state_conclusion(assay_lab *lab, const cJSON *r)
{
    const char *state = assay_json_str(r, "state");
    char *payload = NULL;
    if (!strcmp(state, "canceled"))
        return "canceled";
    if (strcmp(state, "done") || assay_report_statement(&payload, lab, (int64_t)assay_json_num(r, "id")) < 0)
        return "-";
    cJSON *st = cJSON_Parse(payload);
    free(payload);
    int code = conclusion_code(cJSON_GetObjectItemCaseSensitive(st, "predicate"));
    const char *out = code == 0 ? "certified" : code == 1 ? "failed" : "not certified";
    cJSON_Delete(st);
    return out;
}

/*
 * `run submit`: the profiles the spec selects, each checked before anything
 * is queued. A profile the package has no artifact for (its architecture,
 * and for LoongArch its ABI world) can never run: refused as the vendor's
 * gap, or with allow_missing queued as "not provided". A profile that no
 * enabled host serves is a warning: its job waits for one. Returns 0 or
 * the exit status (after printing why).
 */
static int submit_run(assay_lab *lab, const char *pkg, const char *spec, int priority, int stop_on_pf,
                      int allow_missing, assay_package_rec *p, int64_t *run)
{
    assay_package_targets_t t = {0};
    assay_host_rec *hosts = NULL;
    size_t nh = 0;
    int rc = 1;
    if (assay_store_package_get(lab->store, pkg, p, NULL) < 0 || assay_package_targets(&t, lab, p->id, spec) < 0 ||
        assay_store_hosts(lab->store, &hosts, &nh) < 0) {
        fail("run submit");
        goto out;
    }
    for (size_t i = 0; i < t.n; i++) {
        assay_profile *pr;
        if (assay_profile_load(&pr, lab->profiles, t.ids[i]) < 0) {
            fail("run submit");
            goto out;
        }
        if (t.gaps[i] && !allow_missing)
            fprintf(stderr, "assay: run submit: %s (%s): %s\n", t.ids[i], cell(pr->name_zh, 0), t.gaps[i]);
        int served = 0;
        for (size_t k = 0; k < nh; k++)
            served += !strcmp(hosts[k].profile, t.ids[i]) && !hosts[k].disabled[0];
        if (!served && !t.gaps[i])
            fprintf(stderr, "assay: run submit: warning: no enabled host serves profile %s (%s); its job waits "
                            "until one does (assay host add)\n", t.ids[i], cell(pr->name_zh, 0));
        assay_profile_free(pr);
    }
    if (t.ngaps && !allow_missing) {
        fprintf(stderr, "assay: run submit: refused: %zu target(s) can never run; --allow-missing records them as "
                        "not provided\n", t.ngaps);
        goto out;
    }
    if (assay_store_run_submit(lab->store, p->id, t.list, t.n, priority, stop_on_pf, (const char *const *)t.gaps,
                               run) < 0) {
        fail("run submit");
        goto out;
    }
    if (t.ngaps)
        fprintf(stderr, "assay: run submit: %zu target(s) recorded as not provided\n", t.ngaps);
    rc = 0;
out:
    assay_package_targets_free(&t);
    free(hosts);
    return rc;
}

static int cmd_run(int argc, char **argv)
{
    assay_lab lab;
    char *pos[2];
    if (argc < 1)
        return bad("run", "use: run submit | list | show | wait | cancel");
    const char *sub = argv[0];
    int rc = check_opts(argc - 1, argv + 1, pos);
    if (rc)
        return rc;
    int json = has_flag(argc, argv, "--json");
    if (open_lab(&lab, "run"))
        return 1;
    if (strcmp(sub, "submit") == 0) {
        const char *profs = opt(argc, argv, "--profiles"), *prio = opt(argc, argv, "--priority");
        assay_package_rec p;
        int64_t run;
        int priority = 0;
        if (!pos[0] || !profs) {
            rc = bad("run submit", "give PACKAGE --profiles SPEC[,SPEC...]");
            goto out;
        }
        if (prio) {
            char *end;
            long v = strtol(prio, &end, 10);
            if (*end || v < -1000 || v > 1000) {
                rc = bad("run submit", "--priority must be a whole number from -1000 to 1000");
                goto out;
            }
            priority = (int)v;
        }
        int done;
        assay_package_rec pc;
        if (assay_store_package_get(lab.store, pos[0], &pc, NULL) < 0 || assay_package_complete(&lab, pc.id, &done) < 0) {
            rc = fail("run submit");
            goto out;
        }
        rc = submit_run(&lab, pos[0], profs, priority, has_flag(argc, argv, "--stop-on-preflight-error"),
                        has_flag(argc, argv, "--allow-missing"), &p, &run);
        if (rc == 0) {
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "run", (double)run);
                cJSON_AddStringToObject(o, "package", p.id);
                print_json(o);
                cJSON_Delete(o);
            } else {
                printf("%" PRId64 "\n", run);
            }
        }
    } else if (strcmp(sub, "list") == 0) {
        cJSON *l, *r, *keep = cJSON_CreateArray();
        assay_run_filter f = {opt(argc, argv, "--product"), opt(argc, argv, "--vendor"), NULL, NULL, NULL, 0, 0};
        const char *state = opt(argc, argv, "--state"), *sincearg = opt(argc, argv, "--since");
        char since_iso[32];
        static const char *const states[] = {"queued", "running", "done", "canceled", NULL},
                                 *const concls[] = {"certified", "not-certified", "failed", NULL};
        int is_state = 0, is_concl = 0;
        for (int k = 0; state && states[k]; k++)
            is_state |= !strcmp(state, states[k]);
        for (int k = 0; state && concls[k]; k++)
            is_concl |= !strcmp(state, concls[k]);
        if (state && !is_state && !is_concl) {
            const char *all[] = {"queued", "running", "done", "canceled", "certified", "not-certified", "failed"};
            const char *s_ = assay_cli_suggest(state, all, 7);
            char m_[200];
            snprintf(m_, sizeof m_, "--state: '%s' is no run state (queued, running, done, canceled) or conclusion "
                                    "(certified, not-certified, failed)%s%s%s", state, s_ ? "; did you mean '" : "",
                     s_ ? s_ : "", s_ ? "'?" : "");
            cJSON_Delete(keep);
            rc = bad("run list", m_);
            goto out;
        }
        f.state = is_state ? state : is_concl ? "done" : NULL;
        if (sincearg) {
            if (parse_since(since_iso, sincearg) < 0) {
                cJSON_Delete(keep);
                rc = bad("run list", "--since takes a date (2026-11-30), a UTC time (2026-11-30T08:00:00Z) or an age "
                                     "(3d, 12h, 30m)");
                goto out;
            }
            f.since = since_iso;
        }
        if (assay_store_run_list(lab.store, &f, &l) < 0) {
            rc = fail("run list");
            cJSON_Delete(keep);
            goto out;
        }
        /* Each finished run's conclusion, from its report statement. */
        while ((r = cJSON_DetachItemFromArray(l, 0))) {
            const char *c = run_state_conclusion(&lab, r);
            cJSON_AddStringToObject(r, "conclusion", c);
            if (is_concl && strcmp(c, !strcmp(state, "not-certified") ? "not certified" : state)) {
                cJSON_Delete(r);
                continue;
            }
            cJSON_AddItemToArray(keep, r);
        }
        cJSON_Delete(l);
        if (json) {
            print_json(keep);
        } else {
            printf("%-5s %s %s %s %-4s %-9s %-7s %s %s\n", "RUN", cell("PRODUCT", 20), cell("VERSION", 10),
                   cell("VENDOR", 20), "PRIO", "STATE", "JOBS", cell("结论 CONCLUSION", 22), "SUBMITTED");
            cJSON_ArrayForEach(r, keep)
            {
                char jobs[64];
                snprintf(jobs, sizeof jobs, "%d/%d", (int)assay_json_num(r, "done"), (int)assay_json_num(r, "jobs"));
                /* Chinese first, English beside it. */
                const char *c = assay_json_str(r, "conclusion");
                char both[64];
                snprintf(both, sizeof both, "%s%s", !strcmp(c, "certified")       ? "已认证 "
                                                    : !strcmp(c, "not certified") ? "未认证 "
                                                    : !strcmp(c, "failed")        ? "不通过 "
                                                    : !strcmp(c, "canceled")      ? "已取消 "
                                                                                  : "",
                         c);
                printf("%-5d %s %s %s %-4d %-9s %-7s %s %s\n", (int)assay_json_num(r, "id"),
                       cell(assay_json_str(r, "product"), 20), cell(assay_json_str(r, "version"), 10),
                       cell(assay_json_str(r, "vendor"), 20), (int)assay_json_num(r, "priority"),
                       assay_json_str(r, "state"), jobs, cell(both, 22), assay_json_str(r, "submitted_at"));
            }
        }
        cJSON_Delete(keep);
    } else if (strcmp(sub, "logs") == 0) {
        int64_t id = 0, job = 0;
        const char *jv = opt(argc - 1, argv + 1, "--job");
        int only_err = has_flag(argc, argv, "--stderr"), only_out = has_flag(argc, argv, "--stdout");
        if (!pos[0])
            rc = bad("run logs", "give a run number");
        else if (parse_run(pos[0], &id) < 0)
            rc = fail("run logs");
        else if (jv && parse_run(jv, &job) < 0)
            rc = bad("run logs", "--job takes a job number");
        else
            rc = print_logs(&lab, id, job, opt(argc - 1, argv + 1, "--step"), only_out || !only_err,
                            only_err || !only_out);
    } else if (strcmp(sub, "wait") == 0) {
        int64_t id = 0;
        const char *to = opt(argc - 1, argv + 1, "--timeout");
        char *end = NULL;
        double timeout = to ? strtod(to, &end) : 0;
        if (!pos[0])
            rc = bad("run wait", "give a run number");
        else if (to && (end == to || *end || !(timeout > 0) || timeout > 1e7))
            rc = bad("run wait", "--timeout takes seconds, more than 0");
        else if (parse_run(pos[0], &id) < 0)
            rc = fail("run wait");
        else if ((rc = wait_run(&lab, id, timeout)) == 0)
            rc = json ? conclusion_json(&lab, id) : run_conclusion(&lab, id);
    } else if (strcmp(sub, "publish") == 0) {
        int64_t id = 0;
        cJSON *e = NULL;
        if (!pos[0]) {
            rc = bad(sub, "give a run number");
            goto out;
        }
        if (parse_run(pos[0], &id) < 0 || assay_registry_publish(&e, &lab, id, "cli") < 0) {
            rc = fail("run publish");
            goto out;
        }
        if (json)
            print_json(e);
        else
            printf("run %" PRId64 ": report %s (%s) published in the registry\n", id, assay_json_str(e, "report_number"),
                   assay_json_str(e, "conclusion"));
        cJSON_Delete(e);
    } else if (strcmp(sub, "show") == 0 || strcmp(sub, "cancel") == 0) {
        int64_t id = 0;
        cJSON *r;
        if (!pos[0]) {
            rc = bad(sub, "give a run number");
            goto out;
        }
        if (parse_run(pos[0], &id) < 0) {
            rc = fail(sub);
            goto out;
        }
        if (strcmp(sub, "cancel") == 0) {
            int now = has_flag(argc, argv, "--now");
            if (assay_store_run_cancel(lab.store, id, now) < 0)
                rc = fail("run cancel");
            else if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "run", (double)id);
                cJSON_AddBoolToObject(o, "canceled", 1);
                cJSON_AddBoolToObject(o, "uninstall", !now);
                print_json(o);
                cJSON_Delete(o);
            } else if (now)
                printf("run %" PRId64 " canceled (running jobs stop now, without their uninstall)\n", id);
            else
                printf("run %" PRId64 " canceled (running jobs stop, then run their uninstall)\n", id);
        } else if (assay_store_run_get(lab.store, id, &r) < 0) {
            rc = fail("run show");
        } else {
            if (json) {
                assay_job_rec *jobs;
                size_t n;
                cJSON *a = cJSON_AddArrayToObject(r, "job_list");
                if (assay_store_run_jobs(lab.store, id, &jobs, &n) == 0) {
                    for (size_t i = 0; i < n; i++) {
                        cJSON *o = cJSON_CreateObject();
                        cJSON_AddNumberToObject(o, "id", (double)jobs[i].id);
                        cJSON_AddStringToObject(o, "profile", jobs[i].profile);
                        cJSON_AddStringToObject(o, "state", jobs[i].state);
                        cJSON_AddStringToObject(o, "host", jobs[i].host);
                        cJSON_AddNumberToObject(o, "attempt", jobs[i].attempt);
                        cJSON_AddNumberToObject(o, "last_seq", (double)jobs[i].last_seq);
                        cJSON_AddStringToObject(o, "outcome", jobs[i].outcome);
                        cJSON_AddStringToObject(o, "reason", jobs[i].reason);
                        char status[64], line[200];
                        cJSON *fs = job_failure(&lab, &jobs[i], status, sizeof status, line, sizeof line);
                        if (fs) {
                            cJSON *f = cJSON_AddObjectToObject(o, "failed_step");
                            cJSON_AddStringToObject(f, "step", assay_json_str(fs, "step"));
                            cJSON_AddStringToObject(f, "kind", assay_json_str(fs, "kind"));
                            cJSON_AddStringToObject(f, "status", status);
                            /* Valid UTF-8 for JSON: what a terminal cell would show. */
                            cJSON_AddStringToObject(f, "stderr_first_line", cell(line, 0));
                            cJSON_Delete(fs);
                        } else {
                            cJSON_AddNullToObject(o, "failed_step");
                        }
                        if (jobs[i].host_reset < 0)
                            cJSON_AddNullToObject(o, "host_reset");
                        else
                            cJSON_AddBoolToObject(o, "host_reset", jobs[i].host_reset);
                        cJSON_AddItemToArray(a, o);
                    }
                    free(jobs);
                }
                print_json(r);
            } else if (has_flag(argc, argv, "--follow")) {
                rc = follow_run(&lab, id);
                cJSON *r2;
                if (rc == 0 && assay_store_run_get(lab.store, id, &r2) == 0) {
                    print_run(&lab, r2, id);
                    cJSON_Delete(r2);
                    rc = run_conclusion(&lab, id);
                }
            } else {
                print_run(&lab, r, id);
            }
            cJSON_Delete(r);
        }
    } else {
        rc = bad("run", "use: run submit | list | show | wait | cancel");
    }
out:
    assay_lab_close(&lab);
    return rc;
}

static int cmd_dispatch(int argc, char **argv)
{
    assay_lab lab;
    char *pos[2];
    int rc = check_opts(argc, argv, pos);
    if (rc)
        return rc;
    /* The live view on a terminal that can move its cursor (not TERM=dumb);
     * colour there unless NO_COLOR is set (no-color.org). */
    const char *term = getenv("TERM"), *nocolor = getenv("NO_COLOR");
    int stopped_by = 0;
    assay_dispatch_opts o = {.once = has_flag(argc, argv, "--once"), .out = stdout,
                             .tty = isatty(1) && !(term && !strcmp(term, "dumb")), .stopped_by = &stopped_by};
    o.color = o.tty && !(nocolor && nocolor[0]);
    struct winsize ws;
    if (o.tty && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        o.cols = ws.ws_col;
    const char *v;
    if ((v = opt(argc, argv, "--max-parallel")))
        o.max_parallel = atoi(v);
    if ((v = opt(argc, argv, "--max-starting")))
        o.max_starting = atoi(v);
    if ((v = opt(argc, argv, "--unreachable-timeout")))
        o.unreachable_s = atof(v);
    if ((v = opt(argc, argv, "--max-attempts")))
        o.max_attempts = atoi(v);
    if ((v = opt(argc, argv, "--silence-timeout")))
        o.silence_s = atof(v);
    if ((v = opt(argc, argv, "--reset-timeout"))) {
        char *end;
        o.reset_timeout_s = strtod(v, &end);
        if (end == v || *end || !(o.reset_timeout_s > 0 && o.reset_timeout_s <= 7 * 24 * 3600.0))
            return bad("dispatch", "--reset-timeout: seconds, more than 0 and at most a week");
    }
    if ((v = opt(argc, argv, "--log-cap"))) {
        char *end;
        unsigned long long c = strtoull(v, &end, 10);
        if (end == v || *end || v[0] == '-' || c < 4096 || c > ((unsigned long long)1 << 40))
            return bad("dispatch", "--log-cap: bytes, from 4096 to 1099511627776");
        o.log_cap = c;
    }
    if (o.max_parallel < 0 || o.max_starting < 0 || o.unreachable_s < 0 || o.max_attempts < 0 || o.silence_s < 0)
        return bad("dispatch", "options take positive numbers");
    if (open_lab(&lab, "dispatch"))
        return 1;
    int lr = assay_lab_lock_dispatch(&lab, 0);
    if (lr == ASSAY_ESTATE && has_flag(argc, argv, "--wait")) {
        fprintf(stderr, "assay: dispatch: %s: waiting\n", assay_error_last()->message);
        lr = assay_lab_lock_dispatch(&lab, 1);
    }
    if (lr < 0) {
        rc = lr == ASSAY_ESTATE ? 2 : 1;
        fail("dispatch");
        assay_lab_close(&lab);
        return rc;
    }
    if (assay_ssh_init() < 0) {
        assay_lab_close(&lab);
        return fail("dispatch");
    }
    if (assay_dispatch(&lab, &o) < 0)
        rc = fail("dispatch");
    else if (stopped_by)
        rc = 128 + stopped_by; /* as a shell reports a job stopped by the signal: 130 for Ctrl-C */
    assay_ssh_exit();
    assay_lab_close(&lab);
    return rc;
}

/* Write text to -o FILE (atomically, via a temporary name) or stdout. */
static int write_out(const char *path, const char *text, const char *what)
{
    if (!path) {
        fputs(text, stdout);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        assay_error_set_errno(ASSAY_EIO, errno, "write %s", path);
        unlink(tmp);
        return fail(what);
    }
    return 0;
}

/* The report as PDF to -o FILE (atomically) or stdout: binary, so written
 * by length, never as a string. */
static int write_pdf(const char *path, const unsigned char *pdf, size_t n)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path ? path : "");
    FILE *f = path ? fopen(tmp, "wb") : stdout;
    int ok = f && fwrite(pdf, 1, n, f) == n;
    ok = path ? (f && fclose(f) == 0 && ok && rename(tmp, path) == 0) : (fflush(stdout) == 0 && ok);
    if (!ok) {
        assay_error_set_errno(ASSAY_EIO, errno, "write %s", path ? path : "stdout");
        if (path)
            unlink(tmp);
        return fail("report");
    }
    return 0;
}

static char *slurp(const char *path, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        assay_error_set_errno(ASSAY_ENOTFOUND, errno, "%s", path);
        return NULL;
    }
    char *buf = malloc(cap + 1);
    size_t n = buf ? fread(buf, 1, cap + 1, f) : 0;
    fclose(f);
    if (!buf || n > cap) {
        free(buf);
        assay_error_set(ASSAY_ETOOBIG, "%s: larger than %zu bytes", path, cap);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int cmd_report(int argc, char **argv)
{
    assay_lab lab;
    char *pos[2], *text = NULL;
    const char *type;
    int rc = check_opts(argc, argv, pos);
    int64_t run = 0, baseline = 0;
    if (rc)
        return rc;
    const char *fmt = opt(argc, argv, "--format") ? opt(argc, argv, "--format") : "json";
    if (strcmp(fmt, "json") && strcmp(fmt, "html") && strcmp(fmt, "junit") && strcmp(fmt, "md") && strcmp(fmt, "pdf"))
        return bad("report", "--format must be json, html, pdf, junit or md");
    if (!pos[0])
        return bad("report", "give a run number");
    if (parse_run(pos[0], &run) < 0 || (opt(argc, argv, "--baseline") && parse_run(opt(argc, argv, "--baseline"), &baseline) < 0))
        return fail("report");
    if (open_lab(&lab, "report"))
        return 1;
    if (!strcmp(fmt, "pdf")) {
        unsigned char *pdf = NULL;
        size_t n = 0;
        rc = assay_report_make_pdf(&pdf, &n, &lab, run, baseline) < 0 ? fail("report")
                                                                      : write_pdf(opt(argc, argv, "-o"), pdf, n);
        free(pdf);
        assay_lab_close(&lab);
        return rc;
    }
    if (assay_report_make(&text, &type, &lab, run, baseline, fmt) < 0)
        rc = fail("report");
    else
        rc = write_out(opt(argc, argv, "-o"), text, "report");
    free(text);
    assay_lab_close(&lab);
    return rc;
}

/* One side of a comparison: "412 [405, 420] n 10 stable (host-1 load
 * 0.20-1.50, 8 cores)". */
static void print_side(const cJSON *x)
{
    printf("%.4g [%.4g, %.4g] n %.0f %s", assay_json_num(x, "median"), assay_json_num(x, "ci_lo"),
           assay_json_num(x, "ci_hi"), assay_json_num(x, "n"), cell(assay_json_str(x, "stability"), 0));
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(x, "load_before")) &&
        cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(x, "load_after")))
        printf(" (%s load %.2f-%.2f, %.0f cores)", cell(assay_json_str(x, "host"), 0), assay_json_num(x, "load_before"),
               assay_json_num(x, "load_after"), assay_json_num(x, "cores"));
}

static int cmd_compare(int argc, char **argv)
{
    assay_lab lab;
    char *pos[2];
    int64_t a = 0, b = 0;
    cJSON *cmp = NULL;
    int rc = check_opts(argc, argv, pos);
    if (rc)
        return rc;
    if (!pos[0] || !pos[1])
        return bad("compare", "give two run numbers: the baseline, then the run to compare with it");
    if (parse_run(pos[0], &a) < 0 || parse_run(pos[1], &b) < 0)
        return fail("compare");
    if (open_lab(&lab, "compare"))
        return 1;
    if (assay_report_compare(&cmp, &lab, a, b) < 0) {
        rc = fail("compare");
        goto out;
    }
    if (has_flag(argc, argv, "--json")) {
        print_json(cmp);
        goto out;
    }
    const cJSON *x;
    int n = 0;
    printf("run %" PRId64 " against run %" PRId64 " (the baseline); ratio = this run / baseline, 95%% interval\n", b, a);
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(cmp, "benchmarks"))
    {
        printf("%s (%s, %s is better) on %s: ", cell(assay_json_str(x, "name"), 0), cell(assay_json_str(x, "unit"), 0),
               cell(assay_json_str(x, "better"), 0), cell(assay_json_str(x, "profile"), 0));
        print_side(cJSON_GetObjectItemCaseSensitive(x, "baseline"));
        fputs(" -> ", stdout);
        print_side(cJSON_GetObjectItemCaseSensitive(x, "this"));
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(x, "ratio")))
            printf("; ratio %.3f [%.3f, %.3f], p %.2g", assay_json_num(x, "ratio"), assay_json_num(x, "ratio_lo"),
                   assay_json_num(x, "ratio_hi"), assay_json_num(x, "p"));
        printf(": %s %s", cell(assay_json_str(x, "verdict_zh"), 0), cell(assay_json_str(x, "verdict"), 0));
        if (assay_json_str(x, "why")[0])
            printf(" (%s)", cell(assay_json_str(x, "why"), 0));
        putchar('\n');
        n++;
    }
    if (n == 0)
        puts("no benchmark of a target profile is in both runs");
out:
    cJSON_Delete(cmp);
    assay_lab_close(&lab);
    return rc;
}

/* The conclusion's reasons on one line: "target: what; target: what". */
static void print_reasons(FILE *f, const cJSON *concl)
{
    const cJSON *r, *reasons = cJSON_GetObjectItemCaseSensitive(concl, "reasons");
    int n = 0;
    if (!cJSON_IsObject(concl)) {
        fputs("the report has no conclusion (it was made before assay wrote one)\n", f);
        return;
    }
    cJSON_ArrayForEach(r, reasons)
    {
        fprintf(f, "%s%s%s%s", n++ ? "; " : "", cell(assay_json_str(r, "target"), 0),
                assay_json_str(r, "target")[0] ? ": " : "",
                cell(assay_json_str(r, "en")[0] ? assay_json_str(r, "en") : assay_json_str(r, "code"), 0));
    }
    fputs(n ? "\n" : "no reason given\n", f);
}

static int cmd_verify(int argc, char **argv)
{
    char *pos[2], *env = NULL, *pem = NULL;
    size_t elen, plen;
    int rc = check_opts(argc, argv, pos);
    if (rc)
        return rc;
    if (!pos[0])
        return bad("verify", "give the report file");
    const char *pk = opt(argc, argv, "--pubkey");
    char what[600];
    snprintf(what, sizeof what, "verify %s", pos[0]);
    if (pk) {
        if (!(pem = slurp(pk, 64 * 1024, &plen)))
            return fail(what);
    } else {
        assay_lab lab;
        char keyid[65], alg[16];
        if (assay_lab_open(&lab, assay_lab_dir(lab_opt)) < 0) {
            assay_error_wrap("no --pubkey given and no lab to take the key from");
            return fail(what);
        }
        rc = assay_key_public(lab.key, &pem, keyid, alg);
        assay_lab_close(&lab);
        if (rc < 0)
            return fail(what);
        plen = strlen(pem);
    }
    if (!(env = slurp(pos[0], 512u << 20, &elen))) {
        free(pem);
        return fail(what);
    }
    assay_report_check chk;
    if (assay_report_verify(&chk, env, elen, pem, plen) < 0) {
        rc = fail(what);
    } else {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(chk.statement, "predicate");
        const cJSON *prod = cJSON_GetObjectItemCaseSensitive(p, "product");
        const cJSON *concl = cJSON_GetObjectItemCaseSensitive(p, "conclusion");
        int certified = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(concl, "certified"));
        if (has_flag(argc, argv, "--json")) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddBoolToObject(o, "valid", 1);
            cJSON_AddStringToObject(o, "report_number", assay_json_str(p, "report_number"));
            cJSON_AddItemToObject(o, "product", cJSON_Duplicate(prod, 1));
            cJSON_AddStringToObject(o, "verdict", assay_json_str(p, "verdict"));
            if (cJSON_IsObject(concl))
                cJSON_AddBoolToObject(o, "certified", certified);
            else
                cJSON_AddNullToObject(o, "certified");
            cJSON_AddItemToObject(o, "reasons",
                                  cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(concl, "reasons"), 1));
            cJSON_AddNumberToObject(o, "targets", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "targets")));
            cJSON_AddStringToObject(o, "algorithm", chk.alg);
            cJSON_AddStringToObject(o, "keyid", chk.keyid);
            cJSON_AddStringToObject(o, "payload_sha256", chk.payload_sha256);
            print_json(o);
            cJSON_Delete(o);
        } else
        printf("valid: report %s, %s %s by %s, verdict %s, %s, %d targets, signed by %s key %.16s\n",
               cell(assay_json_str(p, "report_number"), 0), cell(assay_json_str(prod, "name"), 0),
               cell(assay_json_str(prod, "version"), 0), cell(assay_json_str(prod, "vendor"), 0),
               cell(assay_json_str(p, "verdict"), 0),
               certified ? "certified" : cJSON_IsObject(concl) ? "not certified" : "no conclusion",
               cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "targets")), chk.alg, chk.keyid);
        /* Valid means "this lab signed it", not "this lab certifies it":
         * a gate that wants the latter asks for it, and gets its own exit
         * code. */
        if (has_flag(argc, argv, "--require-certified") && !certified) {
            fprintf(stderr, "assay: %s: not certified: ", cell(what, 0));
            print_reasons(stderr, concl);
            rc = 3;
        }
        cJSON_Delete(chk.statement);
    }
    free(env);
    free(pem);
    return rc;
}

/* ---- serve, user, token ------------------------------------------------- */

/* A whole number from lo to hi, or -1. */
static long bounded(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno || *end || end == s || v < lo || v > hi ? -1 : v;
}

static int cmd_serve(int argc, char **argv)
{
    assay_serve_opts o = {assay_lab_dir(lab_opt), "127.0.0.1:8470", opt(argc, argv, "--tls-cert"),
                          opt(argc, argv, "--tls-key"), 8, 30, NULL, 0, 30, NULL, 0, 0};
    char *pos[2];
    int rc = check_opts(argc, argv, pos);
    if (rc)
        return rc;
    if (opt(argc, argv, "--listen"))
        o.listen = opt(argc, argv, "--listen");
    o.bench_sink = has_flag(argc, argv, "--bench-sink");
    if (opt(argc, argv, "--threads")) {
        long v = bounded(opt(argc, argv, "--threads"), 1, 256);
        if (v < 0)
            return bad("serve", "--threads takes 1 to 256");
        o.threads = (unsigned)v;
    }
    if (opt(argc, argv, "--timeout")) {
        long v = bounded(opt(argc, argv, "--timeout"), 1, 3600);
        if (v < 0)
            return bad("serve", "--timeout takes 1 to 3600 seconds");
        o.timeout = (unsigned)v;
    }
    o.web = opt(argc, argv, "--web");
    if (opt(argc, argv, "--grace")) {
        long v = bounded(opt(argc, argv, "--grace"), 1, 3600);
        if (v < 0)
            return bad("serve", "--grace takes 1 to 3600 seconds");
        o.grace = (unsigned)v;
    }
    o.public_url = opt(argc, argv, "--public-url");
    if (o.public_url && strncmp(o.public_url, "http://", 7) && strncmp(o.public_url, "https://", 8))
        return bad("serve", "--public-url takes an http:// or https:// URL");
    if (opt(argc, argv, "--streams-per-account")) {
        long v = bounded(opt(argc, argv, "--streams-per-account"), 1, ASSAY_SERVE_STREAMS_MAX);
        if (v < 0) {
            char why[64];
            snprintf(why, sizeof why, "--streams-per-account takes 1 to %d", ASSAY_SERVE_STREAMS_MAX);
            return bad("serve", why);
        }
        o.streams_per_account = (unsigned)v;
    }
    if (opt(argc, argv, "--webhook-backoff")) {
        long v = bounded(opt(argc, argv, "--webhook-backoff"), 1, 3600);
        if (v < 0)
            return bad("serve", "--webhook-backoff takes 1 to 3600 seconds");
        o.webhook_backoff = (unsigned)v;
    }
    return assay_serve(&o) < 0 ? fail("serve") : 0;
}

/* webhook add ORG URL | list [ORG] | remove ID (docs/api.md#webhooks). */
static int cmd_webhook(int argc, char **argv)
{
    assay_lab lab;
    char *pos[2];
    const char *sub = argv[0];
    int rc = check_opts(argc - 1, argv + 1, pos), json = has_flag(argc, argv, "--json");
    if (rc)
        return rc;
    if (!strcmp(sub, "add") && !pos[1])
        return bad("webhook add", "give ORG URL");
    if (!strcmp(sub, "remove") && !pos[0])
        return bad("webhook remove", "give the webhook's id (webhook list)");
    int64_t id = 0;
    if (!strcmp(sub, "remove") && parse_run(pos[0], &id) < 0)
        return fail("webhook remove");
    if (open_lab(&lab, "webhook"))
        return 1;
    if (!strcmp(sub, "add")) {
        char secret[ASSAY_WEBHOOK_SECRET_LEN];
        if (assay_webhook_add(&id, secret, lab.store, pos[0], pos[1]) < 0) {
            rc = fail("webhook add");
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "id", (double)id);
            cJSON_AddStringToObject(o, "org", pos[0]);
            cJSON_AddStringToObject(o, "url", pos[1]);
            cJSON_AddStringToObject(o, "secret", secret);
            if (json)
                print_json(o);
            else
                printf("webhook %" PRId64 " of %s; its secret (shown once):\n%s\n", id, cell(pos[0], 0), secret);
            explicit_bzero(secret, sizeof secret);
            cJSON_Delete(o);
        }
    } else if (!strcmp(sub, "remove")) {
        if (assay_store_webhook_remove(lab.store, id, NULL) < 0)
            rc = fail("webhook remove");
    } else {
        cJSON *l, *h;
        if (assay_store_webhook_list(lab.store, pos[0], &l) < 0) {
            rc = fail("webhook list");
        } else {
            if (json)
                print_json(l);
            else
                cJSON_ArrayForEach(h, l)
                    printf("%-5.0f %s %.0f delivered, %.0f pending, %.0f failed  %s\n", assay_json_num(h, "id"),
                           cell(assay_json_str(h, "org"), 20), assay_json_num(h, "delivered"),
                           assay_json_num(h, "pending"), assay_json_num(h, "failed"), cell(assay_json_str(h, "url"), 0));
            cJSON_Delete(l);
        }
    }
    assay_lab_close(&lab);
    return rc;
}

static int cmd_user(int argc, char **argv)
{
    assay_lab lab;
    char *pos[2];
    const char *sub = argv[0];
    int rc = check_opts(argc - 1, argv + 1, pos), json = has_flag(argc, argv, "--json");
    if (rc)
        return rc;
    if (strcmp(sub, "list") && !pos[0])
        return bad(cli_cmd->sub[0] == 'a' ? "user add" : cli_cmd->sub[0] == 'p' ? "user passwd" : "user disable",
                   "give a user name");
    if (open_lab(&lab, "user"))
        return 1;
    if (!strcmp(sub, "add")) {
        if (assay_account_user_add(lab.store, pos[0], opt(argc, argv, "--role"), opt(argc, argv, "--org")) < 0) {
            rc = fail("user add");
        } else if (json) {
            assay_user_rec u;
            cJSON *o = cJSON_CreateObject();
            if (assay_store_user_get(lab.store, pos[0], &u) == 0) {
                cJSON_AddStringToObject(o, "name", u.name);
                cJSON_AddStringToObject(o, "role", u.role);
                cJSON_AddStringToObject(o, "org", u.org);
            }
            print_json(o);
            cJSON_Delete(o);
        }
    } else if (!strcmp(sub, "disable")) {
        if (assay_store_user_disable(lab.store, pos[0]) < 0)
            rc = fail("user disable");
    } else if (!strcmp(sub, "passwd")) {
        char pw[1100] = "";
        if (!fgets(pw, sizeof pw, stdin))
            rc = bad("user passwd", "give the password on standard input");
        else {
            pw[strcspn(pw, "\r\n")] = 0;
            if (assay_account_set_password(lab.store, pos[0], pw) < 0)
                rc = fail("user passwd");
        }
        explicit_bzero(pw, sizeof pw);
    } else {
        cJSON *l, *u;
        if (assay_store_user_list(lab.store, &l) < 0) {
            rc = fail("user list");
        } else {
            if (json)
                print_json(l);
            else
                cJSON_ArrayForEach(u, l)
                    printf("%s %s %s %.0f token(s)%s\n", cell(assay_json_str(u, "name"), 24),
                           cell(assay_json_str(u, "role"), 8), cell(assay_json_str(u, "org")[0] ? assay_json_str(u, "org") : "-", 20),
                           assay_json_num(u, "tokens"), assay_json_num(u, "disabled") ? " disabled" : "");
            cJSON_Delete(l);
        }
    }
    assay_lab_close(&lab);
    return rc;
}

static int cmd_token(int argc, char **argv)
{
    assay_lab lab;
    char *pos[2];
    const char *sub = argv[0];
    int rc = check_opts(argc - 1, argv + 1, pos), json = has_flag(argc, argv, "--json");
    if (rc)
        return rc;
    if (!pos[0])
        return bad(!strcmp(sub, "create") ? "token create" : "token revoke", "give a user name");
    if (open_lab(&lab, "token"))
        return 1;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "user", pos[0]);
    if (!strcmp(sub, "create")) {
        char token[ASSAY_TOKEN_LEN];
        if (assay_account_token_create(lab.store, pos[0], token) < 0) {
            rc = fail("token create");
        } else {
            cJSON_AddStringToObject(o, "token", token);
            if (json)
                print_json(o);
            else
                printf("%s\n", token);
            explicit_bzero(token, sizeof token);
        }
    } else {
        int n = 0;
        if (assay_store_token_revoke(lab.store, pos[0], &n) < 0) {
            rc = fail("token revoke");
        } else {
            cJSON_AddNumberToObject(o, "revoked", n);
            if (json)
                print_json(o);
            else
                printf("%d token(s) of %s revoked\n", n, cell(pos[0], 0));
        }
    }
    cJSON_Delete(o);
    assay_lab_close(&lab);
    return rc;
}

static int cmd_key(int argc, char **argv)
{
    assay_lab lab;
    char *pem = NULL, keyid[65], alg[16];
    int rc = 0;
    if (argc < 1 || (strcmp(argv[0], "show") && strcmp(argv[0], "export")) ||
        (!strcmp(argv[0], "export") && (argc != 3 || strcmp(argv[1], "--public"))))
        return bad("key", "use: key show | key export --public FILE");
    if (open_lab(&lab, "key"))
        return 1;
    if (assay_key_public(lab.key, &pem, keyid, alg) < 0)
        rc = fail("key");
    else if (!strcmp(argv[0], "show") && has_flag(argc, argv, "--json")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "algorithm", alg);
        cJSON_AddStringToObject(o, "keyid", keyid);
        cJSON_AddStringToObject(o, "public_pem", pem);
        print_json(o);
        cJSON_Delete(o);
    } else if (!strcmp(argv[0], "show"))
        printf("algorithm %s\nkey id    %s\n%s", alg, keyid, pem);
    else
        rc = write_out(argv[2], pem, "key export");
    free(pem);
    assay_lab_close(&lab);
    return rc;
}

static int cmd_version(int argc, char **argv)
{
    char *pos[2];
    int rc = check_opts(argc, argv, pos);
    if (rc)
        return rc;
    if (has_flag(argc, argv, "--json")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "version", assay_version());
        cJSON_AddStringToObject(o, "triple", assay_build_triple());
        cJSON_AddStringToObject(o, "commit", assay_build_commit());
        cJSON_AddItemToObject(o, "libraries", assay_buildinfo_json());
        print_json(o);
        cJSON_Delete(o);
        return 0;
    }
    printf("assay %s (%s) commit %s\n", assay_version(), assay_build_triple(), assay_build_commit());
    assay_buildinfo_print(stdout);
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    char *pos[2];
    int rc = check_opts(argc, argv, pos);
    if (rc)
        return rc;
    if (has_flag(argc, argv, "--man")) {
        assay_cli_man(stdout);
        return 0;
    }
    if (has_flag(argc, argv, "--bash-completion")) {
        assay_cli_bash(stdout);
        return 0;
    }
    if (!pos[0]) {
        assay_cli_usage(stdout);
        return 0;
    }
    if (assay_cli_help(stdout, pos[0], pos[1]) < 0) {
        char msg[256];
        assay_cli_unknown(msg, sizeof msg, pos[0], assay_cli_is_command(pos[0]) ? pos[1] : NULL);
        return bad("help", msg);
    }
    return 0;
}

static int is_help(const char *a)
{
    return !strcmp(a, "--help") || !strcmp(a, "-h");
}

/* ---- as a client of assay serve (--server URL) ------------------------------ */

/* The run's exit code as run wait gives it, from the server's run. */
static int remote_conclusion(const cJSON *r, int json)
{
    const char *state = assay_json_str(r, "state");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "conclusion");
    int rc = !strcmp(state, "canceled") ? 3 : conclusion_code(r);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "run", assay_json_num(r, "id"));
        cJSON_AddStringToObject(o, "verdict", assay_json_str(r, "verdict"));
        cJSON_AddItemToObject(o, "conclusion", cJSON_Duplicate(c, 1));
        cJSON_AddNumberToObject(o, "exit", rc);
        print_json(o);
        cJSON_Delete(o);
    } else {
        printf("run %.0f: %s\n", assay_json_num(r, "id"),
               !strcmp(state, "canceled") ? "canceled"
               : rc == 0                  ? "certified"
               : rc == 1                  ? "failed"
                                          : "not certified");
    }
    return rc;
}

/* `run logs` through a server: the run's jobs (GET /api/v1/runs/N), each
 * job's step-ends and logs (GET /api/v1/jobs/J), each log in ranges of
 * LOG_CHUNK bytes (GET /api/v1/jobs/J/log); printed as the lab's are. */
static int remote_logs(assay_client *cl, int64_t run, int64_t only_job, const char *only_step, int out_, int err_)
{
    cJSON *r = NULL, *j;
    char path[2048];
    size_t shown = 0;
    int rc = 0, tty = isatty(1);
    snprintf(path, sizeof path, "/api/v1/runs/%" PRId64, run);
    if (assay_client_request(cl, &r, NULL, "GET", path, NULL, NULL) < 0)
        return fail("run logs");
    cJSON_ArrayForEach(j, cJSON_GetObjectItemCaseSensitive(r, "job_list"))
    {
        int64_t jid = (int64_t)assay_json_num(j, "id");
        cJSON *jo = NULL, *e;
        if (only_job && jid != only_job)
            continue;
        snprintf(path, sizeof path, "/api/v1/jobs/%" PRId64, jid);
        if (assay_client_request(cl, &jo, NULL, "GET", path, NULL, NULL) < 0) {
            rc = fail("run logs");
            break;
        }
        const cJSON *logs = cJSON_GetObjectItemCaseSensitive(jo, "logs");
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(jo, "events"))
        {
            if (strcmp(assay_json_str(e, "type"), "step-end"))
                continue;
            cJSON *b = cJSON_Parse(assay_json_str(e, "body"));
            if (!b || (only_step && strcmp(assay_json_str(b, "step"), only_step))) {
                cJSON_Delete(b);
                continue;
            }
            static const char *const streams[] = {"stdout", "stderr"};
            for (int k = 0; k < 2 && rc == 0; k++) {
                const char *lp = assay_json_str(cJSON_GetObjectItemCaseSensitive(b, "logs"), streams[k]);
                const cJSON *l, *hit = NULL;
                if ((k == 0 && !out_) || (k == 1 && !err_) || !lp[0])
                    continue;
                cJSON_ArrayForEach(l, logs)
                    if (!strcmp(assay_json_str(l, "path"), lp))
                        hit = l;
                if (!hit)
                    continue;
                shown++;
                printf("==> job %" PRId64 " %s step %s run %d %s (%.0f bytes, sha256 %.16s) <==\n", jid,
                       cell(assay_json_str(jo, "profile"), 0), cell(assay_json_str(b, "step"), 0),
                       (int)assay_json_num(b, "run"), streams[k], assay_json_num(hit, "size"),
                       cell(assay_json_str(hit, "sha256"), 0));
                /* The log in ranges into a temporary file, then printed
                 * whole, so that no character is cut between two ranges. */
                double sz = assay_json_num(hit, "size");
                uint64_t size = sz > 0 ? (uint64_t)sz : 0, want = size < LOG_SHOWN_MAX ? size : LOG_SHOWN_MAX;
                FILE *tmp = tmpfile();
                char qp[1200], *text = NULL;
                if (!tmp) {
                    assay_error_set_errno(ASSAY_EIO, errno, "a temporary file");
                    rc = fail("run logs");
                    break;
                }
                /* The log's path as the server named it, percent-encoded. */
                int qn = snprintf(qp, sizeof qp, "/api/v1/jobs/%" PRId64 "/log?path=", jid);
                for (const char *p = lp; *p && qn + 4 < (int)sizeof qp; p++)
                    qn += strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~/-", *p)
                              ? snprintf(qp + qn, sizeof qp - (size_t)qn, "%c", *p)
                              : snprintf(qp + qn, sizeof qp - (size_t)qn, "%%%02X", (unsigned char)*p);
                for (uint64_t off = 0; off < want && rc == 0;) {
                    uint64_t n = want - off < LOG_CHUNK ? want - off : LOG_CHUNK;
                    int st = assay_client_get_range(cl, tmp, qp, off, n);
                    if (st < 0)
                        rc = fail("run logs");
                    off = st == 200 ? want : off + n; /* 200: the server sent it whole */
                }
                size_t len = 0;
                if (rc == 0 && fflush(tmp) == 0 && fseek(tmp, 0, SEEK_END) == 0) {
                    long got = ftell(tmp);
                    len = got > 0 ? (size_t)got : 0;
                    len = len < LOG_SHOWN_MAX ? len : LOG_SHOWN_MAX;
                    rewind(tmp);
                    if ((text = malloc(len + 1)) && fread(text, 1, len, tmp) == len)
                        print_log_text(text, len, tty);
                }
                free(text);
                fclose(tmp);
            }
            cJSON_Delete(b);
        }
        cJSON_Delete(jo);
        if (rc)
            break;
    }
    cJSON_Delete(r);
    if (rc == 0 && !shown) {
        fprintf(stderr, "assay: run logs: no stored log matches (logs are fetched when a job ends)\n");
        return 1;
    }
    return rc;
}

/*
 * package add, run submit, run show, run wait and report, through a
 * server's API: what a CI job without a shell on the controller runs.
 * The same options and exit codes as with a lab.
 */
static int cmd_remote(const char *cmd, const char *sub, int argc, char **argv)
{
    char what[64], *pos[2], path[2048];
    snprintf(what, sizeof what, "%s%s%s", cmd, sub ? " " : "", sub ? sub : "");
    int rc = sub ? check_opts(argc - 1, argv + 1, pos) : check_opts(argc, argv, pos);
    int json = has_flag(argc, argv, "--json");
    if (rc)
        return rc;
    if (!server_opt)
        return bad("--token-file", "only with --server URL");
    if (strcmp(what, "package add") && strcmp(what, "run submit") && strcmp(what, "run show") &&
        strcmp(what, "run wait") && strcmp(what, "run logs") && strcmp(what, "report"))
        return bad("--server", "only package add, run submit, run show, run wait, run logs and report talk to a server");
    if (!pos[0])
        return bad(what, !strcmp(cmd, "package") ? "give the submission file"
                         : !strcmp(what, "run submit") ? "give PACKAGE --profiles SPEC[,SPEC...]"
                                                       : "give a run number");
    assay_client cl;
    cJSON *o = NULL, *b = NULL;
    int64_t run = 0;
    if (assay_client_init(&cl, server_opt, token_file_opt) < 0)
        return fail(what);
    if (strcmp(what, "package add") && strcmp(what, "run submit") && parse_run(pos[0], &run) < 0) {
        rc = fail(what);
        goto out;
    }
    if (!strcmp(what, "package add")) {
        const char *base = strrchr(pos[0], '/') ? strrchr(pos[0], '/') + 1 : pos[0];
        for (const char *p = base; *p; p++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *p))
                base = "submission"; /* an unusual name: the server names it */
        snprintf(path, sizeof path, "/api/v1/packages?name=%s", base);
        if ((rc = assay_client_request(&cl, &o, NULL, "POST", path, NULL, pos[0])) < 0) {
            snprintf(path, sizeof path, "package add %s", pos[0]);
            rc = fail(path);
            goto out;
        }
        /* The id is the server's text: made safe like everything else it sends. */
        if (json)
            print_json(o);
        else
            printf("%s\n", cell(assay_json_str(o, "id"), 0));
        if (rc == 200)
        {
            char short_id[13];
            snprintf(short_id, sizeof short_id, "%.12s", assay_json_str(o, "id"));
            fprintf(stderr, "assay: package %s was added before; nothing changed\n", cell(short_id, 0));
        }
        rc = 0;
    } else if (!strcmp(what, "run submit")) {
        const char *profs = opt(argc, argv, "--profiles"), *prio = opt(argc, argv, "--priority");
        if (!profs) {
            rc = bad("run submit", "give PACKAGE --profiles SPEC[,SPEC...]");
            goto out;
        }
        b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "package", pos[0]);
        cJSON_AddStringToObject(b, "profiles", profs);
        if (prio) {
            long v = bounded(prio, -1000, 1000);
            if (v == -1 && strcmp(prio, "-1")) {
                rc = bad("run submit", "--priority must be a whole number from -1000 to 1000");
                goto out;
            }
            cJSON_AddNumberToObject(b, "priority", (double)v);
        }
        cJSON_AddBoolToObject(b, "stop_on_preflight_error", has_flag(argc, argv, "--stop-on-preflight-error"));
        cJSON_AddBoolToObject(b, "allow_missing", has_flag(argc, argv, "--allow-missing"));
        char *text = cJSON_PrintUnformatted(b);
        rc = assay_client_request(&cl, &o, NULL, "POST", "/api/v1/runs", text, NULL);
        cJSON_free(text);
        if (rc < 0) {
            rc = fail("run submit");
            goto out;
        }
        if (json)
            print_json(o);
        else
            printf("%.0f\n", assay_json_num(o, "run"));
        rc = 0;
    } else if (!strcmp(what, "run logs")) {
        const char *jv = opt(argc - 1, argv + 1, "--job");
        int64_t job = 0;
        int only_err = has_flag(argc, argv, "--stderr"), only_out = has_flag(argc, argv, "--stdout");
        if (jv && parse_run(jv, &job) < 0)
            rc = bad("run logs", "--job takes a job number");
        else
            rc = remote_logs(&cl, run, job, opt(argc - 1, argv + 1, "--step"), only_out || !only_err,
                             only_err || !only_out);
    } else if (!strcmp(what, "report")) {
        const char *fmt = opt(argc, argv, "--format") ? opt(argc, argv, "--format") : "json", *file = opt(argc, argv, "-o");
        if (opt(argc, argv, "--baseline")) {
            rc = bad("report", "--baseline is not offered by the server");
            goto out;
        }
        FILE *f = file ? fopen(file, "we") : stdout;
        if (!f) {
            assay_error_set_errno(ASSAY_EIO, errno, "%s", file);
            rc = fail("report");
            goto out;
        }
        snprintf(path, sizeof path, "/api/v1/runs/%" PRId64 "/report?format=%s", run, fmt);
        rc = assay_client_request(&cl, NULL, f, "GET", path, NULL, NULL);
        if (file && fclose(f) != 0 && rc >= 0)
            rc = assay_error_set_errno(ASSAY_EIO, errno, "%s", file);
        rc = rc < 0 ? fail("report") : 0;
    } else {
        /* run show, run wait: the run as the server has it; wait asks
         * again every second until it is done or canceled. */
        const char *to = opt(argc - 1, argv + 1, "--timeout");
        long timeout = to ? bounded(to, 1, 10000000) : 0;
        if (to && timeout < 0) {
            rc = bad("run wait", "--timeout takes seconds, more than 0");
            goto out;
        }
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        snprintf(path, sizeof path, "/api/v1/runs/%" PRId64, run);
        for (;;) {
            cJSON_Delete(o);
            if (assay_client_request(&cl, &o, NULL, "GET", path, NULL, NULL) < 0) {
                rc = fail(what);
                goto out;
            }
            const char *state = assay_json_str(o, "state");
            if (!strcmp(sub, "show")) {
                print_json(o);
                rc = 0;
                break;
            }
            if (!strcmp(state, "done") || !strcmp(state, "canceled")) {
                rc = remote_conclusion(o, json);
                break;
            }
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (timeout && now.tv_sec - t0.tv_sec >= timeout) {
                fprintf(stderr, "assay: run wait: run %" PRId64 " has not finished after %lds\n", run, timeout);
                rc = 3;
                break;
            }
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
        }
    }
out:
    cJSON_Delete(o);
    cJSON_Delete(b);
    assay_client_done(&cl);
    return rc;
}

int main(int argc, char **argv)
{
    int i = 1;
    /* The child of assay serve that reads one submission (package.h); it
     * ends as a forked one does, with _exit: what it staged is the
     * parent's, and so is the cleaning up. */
    if (argc == 2 && !strcmp(argv[1], "__budgeted"))
        _exit(assay_package_child_main());
    while (i < argc && (!strcmp(argv[i], "--lab") || !strcmp(argv[i], "--server") || !strcmp(argv[i], "--token-file"))) {
        if (i + 1 >= argc)
            return bad(argv[i], !strcmp(argv[i], "--server") ? "needs a URL" : !strcmp(argv[i], "--lab") ? "needs a directory" : "needs a file");
        *(!strcmp(argv[i], "--lab") ? &lab_opt : !strcmp(argv[i], "--server") ? &server_opt : &token_file_opt) = argv[i + 1];
        i += 2;
    }
    if (i >= argc) {
        assay_cli_usage(stderr);
        return 2;
    }
    const char *cmd = argv[i];
    if (is_help(cmd)) {
        assay_cli_usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version"))
        cmd = "version";
    int sargc = argc - i - 1;
    char **sargv = argv + i + 1;
    char msg[256];
    if (!assay_cli_is_command(cmd)) {
        assay_cli_unknown(msg, sizeof msg, cmd, NULL);
        fprintf(stderr, "assay: %s; see: assay help\n", cell(msg, 0));
        return 2;
    }
    const char *sub = NULL;
    if (assay_cli_has_subs(cmd)) {
        if (sargc == 0 || is_help(sargv[0])) {
            assay_cli_help(sargc ? stdout : stderr, cmd, NULL);
            return sargc ? 0 : 2;
        }
        sub = sargv[0];
        if (!assay_cli_find(cmd, sub)) {
            assay_cli_unknown(msg, sizeof msg, cmd, sub);
            return bad(cmd, msg);
        }
    }
    cli_cmd = assay_cli_find(cmd, sub);
    /* --help anywhere: the help, whatever else is there, and no lab. */
    for (int k = sub ? 1 : 0; k < sargc; k++)
        if (is_help(sargv[k])) {
            assay_cli_help(stdout, cmd, sub);
            return 0;
        }
    char *pos[2];
    int rc = sub ? check_opts(sargc - 1, sargv + 1, pos) : check_opts(sargc, sargv, pos);
    if (rc)
        return rc;
    if (server_opt || token_file_opt)
        return cmd_remote(cmd, sub, sargc, sargv);
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"init", cmd_init},     {"config", cmd_config},   {"package", cmd_package},   {"gc", cmd_gc},
        {"profile", cmd_profile}, {"host", cmd_host},     {"run", cmd_run},           {"dispatch", cmd_dispatch},
        {"version", cmd_version}, {"report", cmd_report}, {"compare", cmd_compare},   {"verify", cmd_verify},
        {"key", cmd_key},       {"help", cmd_help},       {"job", cmd_job},
        {"serve", cmd_serve},   {"user", cmd_user},       {"token", cmd_token},
        {"webhook", cmd_webhook},
    };
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
        if (strcmp(cmd, cmds[k].name) == 0) {
            if (strcmp(cmd, "host") == 0 && strcmp(sub, "check") == 0 && assay_ssh_init() < 0)
                return fail("host check");
            return cmds[k].fn(sargc, sargv);
        }
    return bad(cmd, "not implemented (a bug: the command table names it)");
}
