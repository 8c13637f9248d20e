/*
 * assay: the controller's command line. Keeps the lab (store, submissions,
 * hosts), queues certification runs, drives hosts over SSH, and (with the
 * report issue) signs adaptation reports. Every failure prints
 * "assay: <what failed>: <why>" and exits non-zero.
 */
#include "assay/error.h"
#include "assay/json.h"
#include "assay/proto.h"
#include "assay/version.h"
#include "buildinfo.h"
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
#include "report.h"
#include "ssh.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *lab_opt;

static int usage(FILE *f)
{
    fputs("usage: assay [--lab DIR] <command> [options]\n"
          "\n"
          "  init [--key-type ed25519|sm2] [--centre NAME]   make a lab ($ASSAY_LAB or ./assay-lab)\n"
          "  config get KEY | set KEY VALUE                  lab settings (centre, ingest.max_*)\n"
          "  package add FILE | list | show ID [--json]      vendors' submissions\n"
          "  package inspect ID [--profile ID]... [--json]   preflight: what will not run where\n"
          "  profile list | show ID [--json]                 target profiles\n"
          "  host add NAME --profile ID --address HOST[:PORT] --user USER --identity KEY\n"
          "           [--launcher CMD] [--agent-root DIR] [--reset CMD] [--run-user NAME] (--hostkey SHA256:... | --trust-on-first-use)\n"
          "  host import FILE | list [--json] | remove NAME | check NAME [--timeout S] [--json]\n"
          "  run submit PACKAGE --profiles ID[,ID...] [--priority N] [--stop-on-preflight-error]\n"
          "  run list [--json] | show RUN [--follow] [--json] | cancel RUN [--now]\n"
          "  run wait RUN [--timeout S]           wait for the run; exit 0 certified, 1 product failed,\n"
          "                                       3 error or not certified (show --follow: the same)\n"
          "  dispatch [--once] [--wait] [--max-parallel N] [--max-starting N] [--unreachable-timeout S]\n"
          "           [--silence-timeout S] [--max-attempts N] [--reset-timeout S]\n"
          "  report RUN [--format json|html|junit|md] [-o FILE]  the signed adaptation report\n"
          "  verify FILE [--pubkey PEM] [--require-certified]\n"
          "                                                  check a signed report (default: the lab's key);\n"
          "                                                  exit 3 if it is valid but not certified\n"
          "  key show | export --public FILE                 the lab's signing key (public half)\n"
          "  version                                         assay and its libraries\n",
          f);
    return f == stderr ? 2 : 0;
}

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

/* Refuse options we do not know (a typo must not be ignored). `vals` take a
 * value, `flags` do not; positional arguments are counted into *npos. */
static int check_opts(int argc, char **argv, const char *what, const char *const *vals, const char *const *flags,
                      int maxpos, char **pos)
{
    int np = 0;
    for (int i = 0; i < argc; i++) {
        int known = 0;
        for (const char *const *v = vals; v && *v && !known; v++)
            if (strcmp(argv[i], *v) == 0) {
                if (i + 1 >= argc) {
                    char m[128];
                    snprintf(m, sizeof m, "%s needs a value", argv[i]);
                    return bad(what, m);
                }
                i++;
                known = 1;
            }
        for (const char *const *f = flags; f && *f && !known; f++)
            known = strcmp(argv[i], *f) == 0;
        if (known)
            continue;
        if (argv[i][0] == '-' && argv[i][1]) {
            char m[160];
            snprintf(m, sizeof m, "unknown option '%s'", argv[i]);
            return bad(what, m);
        }
        if (np >= maxpos) {
            char m[160];
            snprintf(m, sizeof m, "unexpected argument '%s'", argv[i]);
            return bad(what, m);
        }
        pos[np++] = argv[i];
    }
    for (int i = np; i < maxpos; i++)
        pos[i] = NULL;
    return 0;
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
    static const char *const vals[] = {"--key-type", "--centre", NULL};
    char *pos[1];
    int rc = check_opts(argc, argv, "init", vals, NULL, 0, pos);
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
    printf("lab %s ready (signing key %s)\n", dir, type == ASSAY_KEY_SM2 ? "SM2" : "Ed25519");
    return 0;
}

static const char *const SETTINGS[] = {"centre", "ingest.max_entries", "ingest.max_entry_bytes",
                                       "ingest.max_total_bytes", "ingest.max_ratio", NULL};

static int cmd_config(int argc, char **argv)
{
    assay_lab lab;
    if (argc < 2 || (strcmp(argv[0], "get") && strcmp(argv[0], "set")) || (argv[0][0] == 's' && argc != 3) ||
        (argv[0][0] == 'g' && argc != 2))
        return bad("config", "use: config get KEY | config set KEY VALUE");
    int known = 0;
    for (const char *const *k = SETTINGS; *k; k++)
        known |= strcmp(*k, argv[1]) == 0;
    if (!known)
        return bad("config", "unknown setting (centre, ingest.max_entries, ingest.max_entry_bytes, "
                             "ingest.max_total_bytes, ingest.max_ratio)");
    if (strncmp(argv[1], "ingest.", 7) == 0 && argc == 3) {
        char *end;
        unsigned long long v = strtoull(argv[2], &end, 10);
        if (*end || v == 0 || argv[2][0] == '-')
            return bad("config", "ingest limits are positive whole numbers");
    }
    if (open_lab(&lab, "config"))
        return 1;
    int rc = 0;
    if (argc == 3) {
        if (assay_store_meta_set(lab.store, argv[1], argv[2]) < 0)
            rc = fail("config");
    } else {
        char v[1024];
        if (assay_store_meta_get(lab.store, argv[1], v, sizeof v) < 0)
            rc = fail("config");
        else
            puts(v);
    }
    assay_lab_close(&lab);
    return rc;
}

/* ---- packages ------------------------------------------------------------ */

static int cmd_package(int argc, char **argv)
{
    assay_lab lab;
    char *pos[2];
    static const char *const flags[] = {"--json", NULL};
    static const char *const vals[] = {"--profile", NULL};
    if (argc < 1)
        return bad("package", "use: package add FILE | list | show ID | inspect ID");
    const char *sub = argv[0];
    int rc = check_opts(argc - 1, argv + 1, "package", vals, flags, 1, pos);
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
        if (assay_package_add(&lab, pos[0], id, &existed) < 0) {
            char what[600];
            snprintf(what, sizeof what, "package add %s", pos[0]);
            rc = fail(what);
        } else {
            printf("%s\n", id);
            cJSON *pf = NULL, *x;
            if (existed) {
                fprintf(stderr, "assay: package %.12s was added before; nothing changed\n", id);
            } else if (assay_pkgcheck(&pf, &lab, id, NULL, 0) == 0) {
                /* Preflight for every profile an artifact serves, stored with
                 * the package; a summary here, the details with inspect. */
                char *text = cJSON_PrintUnformatted(pf);
                assay_store_package_set_preflight(lab.store, id, text);
                cJSON_free(text);
                int e = 0, w = 0, np = 0;
                cJSON_ArrayForEach(x, cJSON_GetObjectItem(pf, "profiles"))
                {
                    e += (int)assay_json_num(x, "errors");
                    w += (int)assay_json_num(x, "warnings");
                    np++;
                }
                fprintf(stderr, "assay: preflight: %d errors, %d warnings over %d profiles%s%.12s\n", e, w, np,
                        e || w ? "; see: assay package inspect " : "", e || w ? id : "");
                cJSON_Delete(pf);
            } else {
                fprintf(stderr, "assay: package add: preflight failed: %s\n", assay_error_last()->message);
            }
        }
    } else if (strcmp(sub, "list") == 0) {
        cJSON *l, *p;
        if (open_lab(&lab, "package list"))
            return 1;
        if (assay_store_package_list(lab.store, &l) < 0) {
            rc = fail("package list");
        } else if (json) {
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
                cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "artifacts");
                cJSON_AddStringToObject(o, "id", p.id);
                cJSON_AddStringToObject(o, "file_name", p.file_name);
                cJSON_AddNumberToObject(o, "size", (double)p.size);
                cJSON_AddStringToObject(o, "product", p.product);
                cJSON_AddStringToObject(o, "version", p.version);
                cJSON_AddStringToObject(o, "vendor", p.vendor);
                cJSON_AddStringToObject(o, "added_at", p.added_at);
                for (size_t i = 0; i < n; i++) {
                    cJSON *x = cJSON_CreateObject();
                    cJSON_AddStringToObject(x, "name", arts[i].name);
                    cJSON_AddStringToObject(x, "arch", arts[i].arch);
                    cJSON_AddStringToObject(x, "abi", arts[i].abi);
                    cJSON_AddStringToObject(x, "format", arts[i].format);
                    cJSON_AddStringToObject(x, "sha256", arts[i].sha256);
                    cJSON_AddNumberToObject(x, "size", (double)arts[i].size);
                    cJSON_AddItemToArray(a, x);
                }
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
        if (assay_pkgcheck(&pf, &lab, pos[0], profs, np) < 0) {
            rc = fail("package inspect");
        } else {
            int errors = 0;
            cJSON_ArrayForEach(x, cJSON_GetObjectItem(pf, "profiles")) errors += (int)assay_json_num(x, "errors");
            if (json) {
                print_json(pf);
            } else {
                cJSON_ArrayForEach(x, cJSON_GetObjectItem(pf, "profiles"))
                {
                    printf("%s (%s): %d errors, %d warnings, %d ELF files\n", cell(assay_json_str(x, "profile"), 0),
                           cell(cJSON_IsString(cJSON_GetObjectItem(x, "artifact")) ? assay_json_str(x, "artifact") : assay_json_str(x, "message"), 0),
                           (int)assay_json_num(x, "errors"), (int)assay_json_num(x, "warnings"), (int)assay_json_num(x, "elf_files"));
                    cJSON_ArrayForEach(f, cJSON_GetObjectItem(x, "files")) cJSON_ArrayForEach(fd, cJSON_GetObjectItem(f, "findings"))
                        printf("  %s %s %s: %s (expected %s)\n           %s\n", cell(assay_json_str(fd, "severity"), 7),
                               cell(assay_json_str(fd, "check"), 15), cell(assay_json_str(f, "path"), 0), cell(assay_json_str(fd, "found"), 0),
                               cell(assay_json_str(fd, "expected"), 0), cell(assay_json_str(fd, "hint"), 0));
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
    char *pos[1];
    static const char *const flags[] = {"--json", NULL};
    if (argc < 1)
        return bad("profile", "use: profile list | show ID");
    int rc = check_opts(argc - 1, argv + 1, "profile", NULL, flags, 1, pos);
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
                printf("%-36s %-12s %-6s %-6s %-5s %s\n", "ID", "ARCH", "GLIBC", "PAGE", "PKG", "NAME");
            for (size_t i = 0; i < n; i++) {
                if (json)
                    cJSON_AddItemToArray(arr, cJSON_Duplicate(v[i]->doc, 1));
                else
                    printf("%-36s %-12s %-6s %-6d %-5s %s\n", v[i]->id, v[i]->arch, v[i]->glibc, v[i]->page_size / 1024,
                           v[i]->package_format, v[i]->name);
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
    char *pos[1];
    static const char *const vals[] = {"--profile", "--address", "--user", "--identity", "--launcher",
                                       "--agent-root", "--hostkey", "--timeout", "--reset", "--run-user", NULL};
    static const char *const flags[] = {"--trust-on-first-use", "--json", NULL};
    if (argc < 1)
        return bad("host", "use: host add | import | list | remove | check");
    const char *sub = argv[0];
    int rc = check_opts(argc - 1, argv + 1, "host", vals, flags, 1, pos);
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
        else
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
                    cJSON_AddItemToArray(arr, o);
                } else {
                    printf("%-16s %-36s %-22s %-8s %s%s%s\n", v[i].name, v[i].profile, addr, v[i].user,
                           v[i].hostkey[0] ? v[i].hostkey : "(trust on first use)", v[i].disabled[0] ? "  DISABLED: " : "",
                           v[i].disabled);
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
    } else {
        return bad("host", "use: host add | import | list | remove | check");
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

static void print_run(assay_lab *lab, const cJSON *r, int64_t id)
{
    assay_job_rec *jobs;
    size_t n;
    printf("run %" PRId64 ": %s %s (%s), package %.12s, priority %d, %s\n", id, cell(assay_json_str(r, "product"), 0),
           cell(assay_json_str(r, "version"), 0), cell(assay_json_str(r, "vendor"), 0), assay_json_str(r, "package"),
           (int)assay_json_num(r, "priority"), assay_json_str(r, "state"));
    if (assay_store_run_jobs(lab->store, id, &jobs, &n) < 0)
        return;
    printf("  %-6s %-36s %-9s %-14s %-8s %-8s %s\n", "JOB", "PROFILE", "STATE", "HOST", "ATTEMPT", "OUTCOME", "REASON");
    for (size_t i = 0; i < n; i++)
        printf("  %-6" PRId64 " %-36s %-9s %s %-8d %-8s %s\n", jobs[i].id, jobs[i].profile, jobs[i].state,
               cell(jobs[i].host[0] ? jobs[i].host : "-", 14), jobs[i].attempt, jobs[i].outcome[0] ? jobs[i].outcome : "-",
               cell(jobs[i].reason, 0));
    free(jobs);
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
    int tty = isatty(1), drawn = 0;
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
            if (assay_store_job_events(lab->store, jobs[i].id, jobs[i].attempt, seen[i] + 1, &evs) < 0)
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
    int rc = certified ? 0 : !strcmp(assay_json_str(p, "verdict"), "fail") ? 1 : 3;
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

static int cmd_run(int argc, char **argv)
{
    assay_lab lab;
    char *pos[1];
    static const char *const vals[] = {"--profiles", "--priority", "--timeout", NULL};
    static const char *const flags[] = {"--follow", "--json", "--stop-on-preflight-error", "--now", NULL};
    if (argc < 1)
        return bad("run", "use: run submit | list | show | wait | cancel");
    const char *sub = argv[0];
    int rc = check_opts(argc - 1, argv + 1, "run", vals, flags, 1, pos);
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
        char *list[128], *copy = NULL;
        size_t n = 0;
        if (!pos[0] || !profs) {
            rc = bad("run submit", "give PACKAGE --profiles ID[,ID...]");
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
        if (assay_store_package_get(lab.store, pos[0], &p, NULL) < 0) {
            rc = fail("run submit");
            goto out;
        }
        copy = strdup(profs);
        for (char *s = copy, *save = NULL, *t; (t = strtok_r(s, ",", &save)) && n < 128; s = NULL) {
            assay_profile *pr;
            if (assay_profile_load(&pr, lab.profiles, t) < 0) {
                rc = fail("run submit");
                free(copy);
                goto out;
            }
            assay_profile_free(pr);
            for (size_t k = 0; k < n; k++)
                if (strcmp(list[k], t) == 0) {
                    fprintf(stderr, "assay: run submit: profile %s is listed twice\n", t);
                    free(copy);
                    rc = 2;
                    goto out;
                }
            list[n++] = t;
        }
        if (n == 0) {
            free(copy);
            rc = bad("run submit", "--profiles is empty");
            goto out;
        }
        if (assay_store_run_submit(lab.store, p.id, list, n, priority,
                                   has_flag(argc, argv, "--stop-on-preflight-error"), &run) < 0)
            rc = fail("run submit");
        else
            printf("%" PRId64 "\n", run);
        free(copy);
    } else if (strcmp(sub, "list") == 0) {
        cJSON *l, *r;
        if (assay_store_run_list(lab.store, &l) < 0) {
            rc = fail("run list");
        } else if (json) {
            print_json(l);
        } else {
            printf("%-5s %-20s %-10s %-4s %-9s %-11s %s\n", "RUN", "PRODUCT", "VERSION", "PRIO", "STATE", "JOBS", "SUBMITTED");
            cJSON_ArrayForEach(r, l)
            {
                char jobs[64];
                snprintf(jobs, sizeof jobs, "%d/%d", (int)assay_json_num(r, "done"), (int)assay_json_num(r, "jobs"));
                printf("%-5d %s %s %-4d %-9s %-11s %s\n", (int)assay_json_num(r, "id"), cell(assay_json_str(r, "product"), 20),
                       cell(assay_json_str(r, "version"), 10), (int)assay_json_num(r, "priority"), assay_json_str(r, "state"), jobs,
                       assay_json_str(r, "submitted_at"));
            }
        }
        cJSON_Delete(l);
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
            rc = run_conclusion(&lab, id);
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
            else if (now)
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
    char *pos[1];
    static const char *const vals[] = {"--max-parallel", "--max-starting", "--unreachable-timeout", "--max-attempts",
                                       "--silence-timeout", "--reset-timeout", NULL};
    static const char *const flags[] = {"--once", "--wait", NULL};
    int rc = check_opts(argc, argv, "dispatch", vals, flags, 0, pos);
    if (rc)
        return rc;
    assay_dispatch_opts o = {.once = has_flag(argc, argv, "--once"), .out = stdout, .tty = isatty(1)};
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
    char *pos[1], *payload = NULL, *env = NULL, *pem = NULL, *text = NULL;
    static const char *const vals[] = {"--format", "-o", NULL};
    int rc = check_opts(argc, argv, "report", vals, NULL, 1, pos);
    int64_t run = 0;
    if (rc)
        return rc;
    const char *fmt = opt(argc, argv, "--format") ? opt(argc, argv, "--format") : "json";
    if (strcmp(fmt, "json") && strcmp(fmt, "html") && strcmp(fmt, "junit") && strcmp(fmt, "md"))
        return bad("report", "--format must be json, html, junit or md");
    if (!pos[0])
        return bad("report", "give a run number");
    if (parse_run(pos[0], &run) < 0)
        return fail("report");
    if (open_lab(&lab, "report"))
        return 1;
    char keyid[65], alg[16];
    assay_report_check chk = {0};
    if (assay_report_statement(&payload, &lab, run) < 0 || assay_report_sign(&env, &lab, payload, strlen(payload)) < 0 ||
        assay_key_public(lab.key, &pem, keyid, alg) < 0 ||
        /* The other forms are made from the signed payload, checked. */
        assay_report_verify(&chk, env, strlen(env), pem, strlen(pem)) < 0) {
        rc = fail("report");
        goto out;
    }
    if (!strcmp(fmt, "json"))
        rc = write_out(opt(argc, argv, "-o"), env, "report");
    else if ((!strcmp(fmt, "html") ? assay_report_html(&text, &chk)
              : !strcmp(fmt, "junit") ? assay_report_junit(&text, &lab, &chk)
                                      : assay_report_md(&text, &chk)) < 0)
        rc = fail("report");
    else
        rc = write_out(opt(argc, argv, "-o"), text, "report");
out:
    cJSON_Delete(chk.statement);
    free(payload);
    free(env);
    free(pem);
    free(text);
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
    char *pos[1], *env = NULL, *pem = NULL;
    size_t elen, plen;
    static const char *const vals[] = {"--pubkey", NULL}, *const flags[] = {"--require-certified", NULL};
    int rc = check_opts(argc, argv, "verify", vals, flags, 1, pos);
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

static int cmd_key(int argc, char **argv)
{
    assay_lab lab;
    char *pem = NULL, keyid[65], alg[16];
    int rc = 0;
    if (argc < 1 || (strcmp(argv[0], "show") && strcmp(argv[0], "export")) || (!strcmp(argv[0], "show") && argc != 1) ||
        (!strcmp(argv[0], "export") && (argc != 3 || strcmp(argv[1], "--public"))))
        return bad("key", "use: key show | key export --public FILE");
    if (open_lab(&lab, "key"))
        return 1;
    if (assay_key_public(lab.key, &pem, keyid, alg) < 0)
        rc = fail("key");
    else if (!strcmp(argv[0], "show"))
        printf("algorithm %s\nkey id    %s\n%s", alg, keyid, pem);
    else
        rc = write_out(argv[2], pem, "key export");
    free(pem);
    assay_lab_close(&lab);
    return rc;
}

static int cmd_version(int argc, char **argv)
{
    if (argc > 0)
        return bad("version", "takes no arguments");
    (void)argv;
    printf("assay %s (%s) commit %s\n", assay_version(), assay_build_triple(), assay_build_commit());
    assay_buildinfo_print(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    int i = 1;
    while (i < argc && strcmp(argv[i], "--lab") == 0) {
        if (i + 1 >= argc)
            return bad("--lab", "needs a directory");
        lab_opt = argv[i + 1];
        i += 2;
    }
    if (i >= argc)
        return usage(stderr);
    const char *cmd = argv[i];
    int sargc = argc - i - 1;
    char **sargv = argv + i + 1;
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"init", cmd_init}, {"config", cmd_config}, {"package", cmd_package}, {"profile", cmd_profile},
        {"host", cmd_host}, {"run", cmd_run},       {"dispatch", cmd_dispatch}, {"version", cmd_version},
        {"report", cmd_report}, {"verify", cmd_verify}, {"key", cmd_key},
        {"--version", cmd_version},
    };
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
        if (strcmp(cmd, cmds[k].name) == 0) {
            if (strcmp(cmd, "host") == 0 && sargc > 0 && strcmp(sargv[0], "check") == 0 && assay_ssh_init() < 0)
                return fail("host check");
            return cmds[k].fn(sargc, sargv);
        }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return usage(stdout);
    fprintf(stderr, "assay: unknown command '%s'\n", cmd);
    return usage(stderr);
}
