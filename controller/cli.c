/* The command line's table and everything written from it; see cli.h. */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define JSON {"--json", NULL, "print JSON instead of text", ASSAY_CLI_NONE, NULL, 0}
#define END {NULL, NULL, NULL, ASSAY_CLI_NONE, NULL, 0}

static const assay_cli_cmd CMDS[] = {
    {"init", NULL, "", 0, ASSAY_CLI_NONE, 0, "make a lab: store, blob store, signing key, profiles",
     "Creates the lab directory (--lab DIR, else $ASSAY_LAB, else ./assay-lab)\n"
     "with its SQLite store, the content-addressed blob store, a signing key\n"
     "(private, mode 600) and a copy of the shipped target profiles.",
     {{"--key-type", "ed25519|sm2", "the signing key's algorithm (ed25519)", ASSAY_CLI_WORDS, "ed25519 sm2", 0},
      {"--centre", "NAME", "the test centre named in reports", ASSAY_CLI_NONE, NULL, 0},
      JSON, END}},
    {"config", "get", "KEY", 1, ASSAY_CLI_WORDS, 1, "print a lab setting",
     "Settings: centre, ingest.max_entries, ingest.max_entry_bytes,\n"
     "ingest.max_total_bytes, ingest.max_ratio, ingest.max_submission_bytes,\n"
     "ingest.wall_seconds, ingest.cpu_seconds, ingest.memory_bytes,\n"
     "ingest.grace_seconds, report.max_ci_pct, report.tested_by,\n"
     "report.reviewed_by, report.approved_by, report.timezone, report.verify_url,\n"
     "hosts.health_interval, hosts.quarantine_after, hosts.job_retention_days.",
     {JSON, END}},
    {"config", "set", "KEY VALUE", 2, ASSAY_CLI_WORDS, 1, "change a lab setting",
     "Settings: centre (the test centre named in reports); the ingest limits\n"
     "ingest.max_entries, ingest.max_entry_bytes, ingest.max_total_bytes,\n"
     "ingest.max_ratio and the submission's budget ingest.max_submission_bytes,\n"
     "ingest.wall_seconds, ingest.cpu_seconds, ingest.memory_bytes,\n"
     "ingest.grace_seconds (positive whole numbers; docs/manifest.md#budgets);\n"
     "report.max_ci_pct, the widest interval of a stable benchmark;\n"
     "the people a report names: report.tested_by, report.reviewed_by,\n"
     "report.approved_by; report.timezone, the centre's time zone for dates\n"
     "beside UTC (Asia/Shanghai); report.verify_url, the address the printed\n"
     "report's QR code leads to, before the payload's SHA-256\n"
     "(docs/report.md); hosts.health_interval, seconds between the\n"
     "dispatcher's health checks of an idle host (600); hosts.quarantine_after,\n"
     "infrastructure failures in a row that quarantine a host (3);\n"
     "hosts.job_retention_days, days after which an ended job's directory is\n"
     "removed from its host (7; 0: as soon as the host is idle).",
     {END}},
    {"package", "add", "FILE", 1, ASSAY_CLI_FILE, 1, "ingest a vendor's submission; prints its id",
     "Checks the archive (hostile-archive checks), its manifest and the\n"
     "rpm/deb architecture tags, stores it and runs preflight against every\n"
     "profile an artifact serves (docs/manifest.md, docs/preflight.md).\n"
     "Adding the same file again changes nothing.",
     {JSON, END}},
    {"package", "list", "", 0, ASSAY_CLI_NONE, 1, "the lab's submissions", "", {JSON, END}},
    {"package", "show", "ID", 1, ASSAY_CLI_NONE, 1, "a submission: product, vendor, artifacts",
     "ID is the package id or a unique prefix of at least 8 hex digits.", {JSON, END}},
    {"package", "inspect", "ID", 1, ASSAY_CLI_NONE, 1, "preflight: what will not run where",
     "Checks every ELF file of the package's artifacts against target\n"
     "profiles (architecture, LoongArch world, glibc and libstdc++ symbol\n"
     "versions, page size, libraries, ISA level). Exit 1 if a check found an\n"
     "error.",
     {{"--profile", "ID", "only this profile (repeatable)", ASSAY_CLI_PROFILE, NULL, 0}, JSON, END}},
    {"package", "remove", "ID", 1, ASSAY_CLI_NONE, 1, "remove a submission and its blobs",
     "Refused while a run refers to the package, unless --force, which removes\n"
     "those runs too (and refuses while any of them has a job on a host).\n"
     "The submission's blobs (archive, artifacts, the runs' logs) are deleted\n"
     "unless another package or run still refers to them.",
     {{"--force", NULL, "remove the runs that refer to it as well", ASSAY_CLI_NONE, NULL, 0}, JSON, END}},
    {"gc", NULL, "", 0, ASSAY_CLI_NONE, 1, "remove what killed adds left behind",
     "Removes staging files and blobs no package, artifact or log names, once\n"
     "older than the grace period (ingest.grace_seconds; every package add\n"
     "does the same). With --hosts, instead: removes now, on every host in\n"
     "use, the directories of jobs that ended more than\n"
     "hosts.job_retention_days ago (7) and whose events and logs are in the\n"
     "store, as the dispatcher does by itself; takes the dispatcher's lock.\n"
     "Exit 1 if a removal failed (tried again later, 3 times at most).",
     {{"--grace", "SECONDS", "only what is older than this", ASSAY_CLI_NONE, NULL, 0},
      {"--hosts", NULL, "ended jobs' directories on the hosts instead", ASSAY_CLI_NONE, NULL, 0}, JSON, END}},
    {"profile", "list", "", 0, ASSAY_CLI_NONE, 1, "target profiles, with their Chinese names", "", {JSON, END}},
    {"profile", "show", "ID", 1, ASSAY_CLI_PROFILE, 1, "one target profile (JSON)", "", {JSON, END}},
    {"host", "add", "NAME", 1, ASSAY_CLI_NONE, 1, "add a target host of the lab",
     "Give exactly one of --hostkey and --trust-on-first-use. Client keys\n"
     "must be ed25519 or ecdsa and private (mode 600).",
     {{"--profile", "ID", "the target profile the host stands for", ASSAY_CLI_PROFILE, NULL, 1},
      {"--address", "HOST[:PORT]", "where its sshd listens", ASSAY_CLI_NONE, NULL, 1},
      {"--user", "USER", "the SSH login", ASSAY_CLI_NONE, NULL, 1},
      {"--identity", "KEY", "the client's private key file", ASSAY_CLI_FILE, NULL, 1},
      {"--hostkey", "SHA256:...", "the host key's pinned fingerprint", ASSAY_CLI_NONE, NULL, 0},
      {"--trust-on-first-use", NULL, "pin the key the host shows first (said loudly)", ASSAY_CLI_NONE, NULL, 0},
      {"--launcher", "CMD", "put in front of the agent (e.g. a qemu path)", ASSAY_CLI_NONE, NULL, 0},
      {"--agent-root", "DIR", "the agent's folder on the host (.assay)", ASSAY_CLI_NONE, NULL, 0},
      {"--reset", "CMD", "run on the host before a job of another product", ASSAY_CLI_NONE, NULL, 0},
      {"--run-user", "NAME", "the unprivileged account tests run as (assay-run)", ASSAY_CLI_NONE, NULL, 0},
      JSON, END}},
    {"host", "import", "FILE", 1, ASSAY_CLI_FILE, 1, "add or update the hosts of a lab host file",
     "The host file ci/lab.sh writes (hosts.json).", {JSON, END}},
    {"host", "list", "", 0, ASSAY_CLI_NONE, 1, "the lab's hosts, their keys and state", "", {JSON, END}},
    {"host", "remove", "NAME", 1, ASSAY_CLI_HOST, 1, "remove a host (refused while it has a job)", "", {END}},
    {"host", "drain", "NAME", 1, ASSAY_CLI_HOST, 1, "maintenance: the host takes no new job",
     "A job running there finishes; then the host stays out of use, and out\n"
     "of the health checks, until host resume.",
     {JSON, END}},
    {"host", "resume", "NAME", 1, ASSAY_CLI_HOST, 1, "take a drained or quarantined host back into use",
     "Lifts a drain and a quarantine and forgets the failures in a row; the\n"
     "last error stays in host list.",
     {JSON, END}},
    {"host", "check", "NAME", 1, ASSAY_CLI_HOST, 1, "reach a host and compare its facts with its profile",
     "Connects, verifies the pinned host key, runs the agent's facts and\n"
     "compares them with the host's profile. Exit 1 on a difference that is\n"
     "an error. Says how long each phase took (resolve, connect, handshake,\n"
     "host key, auth, exec, agent), which was slowest, and which failed, with\n"
     "the host's stderr.",
     {{"--timeout", "S", "give up after S seconds, the whole check (60)", ASSAY_CLI_NONE, NULL, 0}, JSON, END}},
    {"run", "submit", "PACKAGE", 1, ASSAY_CLI_NONE, 1, "queue a certification run; prints its number",
     "--profiles takes profile ids, families (kunpeng, phytium, loongson,\n"
     "zhaoxin), OS ids (kylin, uos, openeuler), globs (kunpeng-*,\n"
     "*-kylin-v10) and all, comma-separated. A profile for which the\n"
     "package has no artifact of its architecture and LoongArch world is\n"
     "refused (the vendor's gap, not the lab's), or with --allow-missing\n"
     "recorded as not provided. A profile no enabled host serves is a\n"
     "warning.",
     {{"--profiles", "SPEC[,SPEC...]", "the target profiles (ids, families, OS ids, globs, all)",
       ASSAY_CLI_PROFILE, NULL, 1},
      {"--priority", "N", "higher runs first (-1000 to 1000, default 0)", ASSAY_CLI_NONE, NULL, 0},
      {"--stop-on-preflight-error", NULL, "stop a target with preflight errors before install", ASSAY_CLI_NONE,
       NULL, 0},
      {"--allow-missing", NULL, "record targets without an artifact as not provided", ASSAY_CLI_NONE, NULL, 0},
      JSON, END}},
    {"run", "list", "", 0, ASSAY_CLI_NONE, 1, "runs with their conclusion",
     "The conclusion of a finished run: certified, not certified, failed (the\n"
     "product failed on a target) or canceled. --state takes a run state\n"
     "(queued, running, done, canceled) or a conclusion (certified,\n"
     "not-certified, failed). --since takes a date (2026-11-30), a UTC time\n"
     "(2026-11-30T08:00:00Z) or an age (3d, 12h).",
     {{"--product", "NAME", "only runs of this product", ASSAY_CLI_NONE, NULL, 0},
      {"--vendor", "NAME", "only runs of this vendor's packages", ASSAY_CLI_NONE, NULL, 0},
      {"--state", "STATE", "only runs in this state or with this conclusion", ASSAY_CLI_WORDS,
       "queued running done canceled certified not-certified failed", 0},
      {"--since", "WHEN", "only runs submitted since then", ASSAY_CLI_NONE, NULL, 0},
      JSON, END}},
    {"run", "show", "RUN", 1, ASSAY_CLI_NONE, 1, "a run's jobs, and why each failed",
     "For every failed job: the failing step and the first line of its\n"
     "stderr. --follow watches the run until it ends, then exits as run\n"
     "wait does; it says so while no dispatcher serves the lab.",
     {{"--follow", NULL, "watch the run until it ends", ASSAY_CLI_NONE, NULL, 0}, JSON, END}},
    {"run", "wait", "RUN", 1, ASSAY_CLI_NONE, 1, "wait for a run; exit by its conclusion",
     "Prints the conclusion; exit 0 certified, 1 the product failed on a\n"
     "target, 3 error or not certified.",
     {{"--timeout", "S", "give up after S seconds (exit 3)", ASSAY_CLI_NONE, NULL, 0}, JSON, END}},
    {"run", "cancel", "RUN", 1, ASSAY_CLI_NONE, 1, "cancel a run",
     "Queued jobs end at once; running jobs stop, then run their uninstall\n"
     "(with its timeout), unless --now.",
     {{"--now", NULL, "stop running jobs without their uninstall", ASSAY_CLI_NONE, NULL, 0}, JSON, END}},
    {"run", "publish", "RUN", 1, ASSAY_CLI_NONE, 1, "publish an ended run's report in the public registry",
     "The report is signed and verified with the lab's key and kept as it\n"
     "is: the portal's certificate registry lists it for anyone and serves\n"
     "those very bytes (docs/portal.md), with product, version, who\n"
     "submitted it, the manifest's vendor, CPUs, OSes, conclusion, date.\n"
     "Publishing again replaces the entry and its signed report.",
     {JSON, END}},
    {"run", "logs", "RUN", 1, ASSAY_CLI_NONE, 1, "print the logs of a run's steps",
     "Every step's stdout and stderr as the lab stored them (by digest), each\n"
     "under a header naming the job, step and stream. Text is made safe for\n"
     "the terminal; piped, it is written as stored.",
     {{"--job", "N", "only this job", ASSAY_CLI_NONE, NULL, 0},
      {"--step", "ID", "only this step (install, uninstall, a test or benchmark id)", ASSAY_CLI_NONE, NULL, 0},
      {"--stderr", NULL, "only stderr", ASSAY_CLI_NONE, NULL, 0},
      {"--stdout", NULL, "only stdout", ASSAY_CLI_NONE, NULL, 0},
      END}},
    {"job", "show", "JOB", 1, ASSAY_CLI_NONE, 1, "one job: its steps, verdicts and logs",
     "Every step of the job's last attempt with its verdict, exit status,\n"
     "duration and log digests, earlier attempts, and for a failed step the\n"
     "tail of its stderr.",
     {JSON, END}},
    {"dispatch", NULL, "", 0, ASSAY_CLI_NONE, 1, "run the queue on the lab's hosts",
     "One dispatcher per lab: a second one exits 2 naming the first's pid,\n"
     "or with --wait waits for it to end. On a terminal: a table of the jobs\n"
     "running (step k/n, the step's time against its timeout), each job that\n"
     "ends printed once above it with its verdict and failing steps, queued\n"
     "jobs no host can take with why, and a recap per run at the end; in\n"
     "colour unless NO_COLOR is set (TERM=dumb: the plain lines). Ctrl-C\n"
     "detaches: the jobs go on on their hosts, the next dispatch re-attaches\n"
     "(exit 130). Host health: hosts.health_interval, hosts.quarantine_after;\n"
     "ended jobs' directories on hosts: hosts.job_retention_days.",
     {{"--once", NULL, "stop when the queue is empty", ASSAY_CLI_NONE, NULL, 0},
      {"--wait", NULL, "wait for another dispatcher of the lab to end", ASSAY_CLI_NONE, NULL, 0},
      {"--max-parallel", "N", "jobs at once", ASSAY_CLI_NONE, NULL, 0},
      {"--max-starting", "N", "jobs connecting or uploading at once (16)", ASSAY_CLI_NONE, NULL, 0},
      {"--unreachable-timeout", "S", "a host down this long fails the attempt (120)", ASSAY_CLI_NONE, NULL, 0},
      {"--silence-timeout", "S", "a connection silent this long is dead (60)", ASSAY_CLI_NONE, NULL, 0},
      {"--max-attempts", "N", "attempts per job on infrastructure errors (3)", ASSAY_CLI_NONE, NULL, 0},
      {"--reset-timeout", "S", "a host's reset must end within S seconds (1800)", ASSAY_CLI_NONE, NULL, 0},
      {"--log-cap", "BYTES", "a log a host sends is cut there, with a marker (64 MiB)", ASSAY_CLI_NONE, NULL, 0},
      END}},
    {"report", NULL, "RUN", 1, ASSAY_CLI_NONE, 1, "the adaptation report of a finished run",
     "json is the signed one (a DSSE envelope); html, pdf, junit and md are\n"
     "made from its verified payload (docs/report.md). pdf is the document to\n"
     "print, sign and seal: A4, Chinese and English, with the payload's SHA-256\n"
     "and a QR code of the verification address on every page.",
     {{"--format", "json|html|pdf|junit|md", "the form (json)", ASSAY_CLI_WORDS, "json html pdf junit md", 0},
      {"-o", "FILE", "write to FILE instead of stdout", ASSAY_CLI_FILE, NULL, 0},
      {"--baseline", "RUN", "compare the benchmarks with an earlier run's", ASSAY_CLI_NONE, NULL, 0},
      END}},
    {"compare", NULL, "RUN_A RUN_B", 2, ASSAY_CLI_NONE, 1, "RUN_B's benchmarks against RUN_A's",
     "Per benchmark and target: the ratio of medians with its 95% interval, a\n"
     "Mann-Whitney U test and a verdict (faster, slower, no measurable\n"
     "difference); emulated figures are never compared with real hardware.",
     {JSON, END}},
    {"verify", NULL, "FILE", 1, ASSAY_CLI_FILE, 0, "check a signed report",
     "Default key: this lab's. Exit 3 with --require-certified if the report\n"
     "is valid but not certified (docs/verify.md).",
     {{"--pubkey", "PEM", "the signer's public key", ASSAY_CLI_FILE, NULL, 0},
      {"--require-certified", NULL, "exit 3 unless the report certifies", ASSAY_CLI_NONE, NULL, 0},
      JSON, END}},
    {"key", "show", "", 0, ASSAY_CLI_NONE, 1, "the lab's signing key: algorithm, key id, public PEM", "",
     {JSON, END}},
    {"key", "export", "", 0, ASSAY_CLI_NONE, 1, "write the lab's public key to a file", "",
     {{"--public", "FILE", "the PEM file to write", ASSAY_CLI_FILE, NULL, 1}, END}},
    {"serve", NULL, "", 0, ASSAY_CLI_NONE, 1, "the centre's HTTP API for vendors, engineers and CI",
     "Serves the lab over HTTP (docs/api.md) until SIGTERM or SIGINT: uploads\n"
     "through the same ingest as package add, runs, reports, verification.\n"
     "Requests carry a token (assay token create). Prints the address it\n"
     "listens on; port 0 takes a free port. HTTPS with --tls-cert and\n"
     "--tls-key, or behind a reverse proxy (docs/api.md#behind-nginx).",
     {{"--listen", "ADDR:PORT", "IPv4 ADDR:PORT or IPv6 [ADDR]:PORT (127.0.0.1:8470)", ASSAY_CLI_NONE, NULL, 0},
      {"--tls-cert", "PEM", "serve HTTPS with this certificate (chain)", ASSAY_CLI_FILE, NULL, 0},
      {"--tls-key", "PEM", "the certificate's private key", ASSAY_CLI_FILE, NULL, 0},
      {"--threads", "N", "requests served at once (8)", ASSAY_CLI_NONE, NULL, 0},
      {"--timeout", "S", "close a connection idle, or sending its headers, this long (30)", ASSAY_CLI_NONE, NULL, 0},
      {"--web", "DIR", "the portal's files (share/assay/web, found without it)", ASSAY_CLI_DIR, NULL, 0},
      {"--grace", "S", "on SIGTERM, seconds uploads in flight get to finish (30)", ASSAY_CLI_NONE, NULL, 0},
      {"--public-url", "URL", "the server's address as clients reach it, for webhooks' report_url", ASSAY_CLI_NONE,
       NULL, 0},
      {"--webhook-backoff", "S", "seconds before a failed webhook's first retry, doubling (30)", ASSAY_CLI_NONE, NULL,
       0},
      {"--streams-per-account", "N", "event streams one account may hold open at once (8)", ASSAY_CLI_NONE, NULL,
       0},
      {"--bench-sink", NULL, "for bench/serve.sh only: POST /bench/sink reads a body and drops it", ASSAY_CLI_NONE,
       NULL, 0},
      END}},
    {"user", "add", "NAME", 1, ASSAY_CLI_NONE, 1, "add an account of assay serve",
     "Roles: admin and engineer see everything and queue runs; a vendor sees\n"
     "only its organisation's packages, runs and reports (--org).",
     {{"--role", "admin|engineer|vendor", "what the account may do", ASSAY_CLI_WORDS, "admin engineer vendor", 1},
      {"--org", "ORG", "a vendor's organisation", ASSAY_CLI_NONE, NULL, 0},
      JSON, END}},
    {"user", "list", "", 0, ASSAY_CLI_NONE, 1, "accounts, their roles and tokens", "", {JSON, END}},
    {"user", "passwd", "NAME", 1, ASSAY_CLI_NONE, 1, "set a user's web login password (read from stdin)",
     "Reads the password from the first line of standard input (12 to 1024\n"
     "bytes) and stores only its Argon2id hash. Web logins (POST\n"
     "/api/v1/login) need one; API tokens do not.",
     {END}},
    {"user", "disable", "NAME", 1, ASSAY_CLI_NONE, 1, "stop an account; its tokens stop working", "", {END}},
    {"token", "create", "USER", 1, ASSAY_CLI_NONE, 1, "a new API token for a user, shown once",
     "The token is printed once and stored only as its SHA-256: keep it (for\n"
     "example in a CI secret). Send it as Authorization: Bearer TOKEN.",
     {JSON, END}},
    {"token", "revoke", "USER", 1, ASSAY_CLI_NONE, 1, "revoke every token of a user", "", {JSON, END}},
    {"webhook", "add", "ORG URL", 2, ASSAY_CLI_NONE, 1, "post an organisation's ended runs to a URL",
     "When a run of a package the organisation uploaded ends, assay serve\n"
     "posts a JSON summary to URL, signed with HMAC-SHA256 under the hook's\n"
     "secret, which is printed once (docs/api.md#webhooks).",
     {JSON, END}},
    {"webhook", "list", "[ORG]", 1, ASSAY_CLI_NONE, 1, "webhooks and their deliveries so far", "", {JSON, END}},
    {"webhook", "remove", "ID", 1, ASSAY_CLI_NONE, 1, "remove a webhook and its delivery records", "", {END}},
    {"version", NULL, "", 0, ASSAY_CLI_NONE, 0, "assay's version, build and libraries", "", {JSON, END}},
    {"help", NULL, "[COMMAND [SUBCOMMAND]]", 2, ASSAY_CLI_NONE, 0, "help on a command",
     "--man and --bash-completion write the man page and the bash completion\n"
     "script (the build installs both).",
     {{"--man", NULL, "write the man page (roff)", ASSAY_CLI_NONE, NULL, 0},
      {"--bash-completion", NULL, "write the bash completion script", ASSAY_CLI_NONE, NULL, 0},
      END}},
};

#define NCMDS (sizeof CMDS / sizeof CMDS[0])

const assay_cli_cmd *assay_cli_commands(size_t *n)
{
    *n = NCMDS;
    return CMDS;
}

const assay_cli_cmd *assay_cli_find(const char *name, const char *sub)
{
    for (size_t i = 0; i < NCMDS; i++)
        if (!strcmp(CMDS[i].name, name) &&
            ((!sub && !CMDS[i].sub) || (sub && CMDS[i].sub && !strcmp(CMDS[i].sub, sub))))
            return &CMDS[i];
    return NULL;
}

int assay_cli_is_command(const char *name)
{
    for (size_t i = 0; i < NCMDS; i++)
        if (!strcmp(CMDS[i].name, name))
            return 1;
    return 0;
}

int assay_cli_has_subs(const char *name)
{
    for (size_t i = 0; i < NCMDS; i++)
        if (!strcmp(CMDS[i].name, name) && CMDS[i].sub)
            return 1;
    return 0;
}

const assay_cli_opt *assay_cli_opt_find(const assay_cli_cmd *c, const char *name)
{
    for (const assay_cli_opt *o = c->opts; o->name; o++)
        if (!strcmp(o->name, name))
            return o;
    return NULL;
}

/* ---- did you mean ---------------------------------------------------------- */

#define ED_MAX 64

size_t assay_edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > ED_MAX || m > ED_MAX)
        return 255;
    /* Three rows of the optimal-string-alignment table. */
    size_t r0[ED_MAX + 1], r1[ED_MAX + 1], r2[ED_MAX + 1];
    size_t *pp = r0, *p = r1, *c = r2;
    for (size_t j = 0; j <= m; j++)
        p[j] = j;
    for (size_t i = 1; i <= n; i++) {
        c[0] = i;
        for (size_t j = 1; j <= m; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t cost = ca != cb;
            size_t v = p[j] + 1;
            if (c[j - 1] + 1 < v)
                v = c[j - 1] + 1;
            if (p[j - 1] + cost < v)
                v = p[j - 1] + cost;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            c[j] = v;
        }
        size_t *t = pp;
        pp = p, p = c, c = t;
    }
    return p[m] > 255 ? 255 : p[m];
}

const char *assay_cli_suggest(const char *word, const char *const *cands, size_t n)
{
    /* Leading dashes do not count towards the word's length. */
    size_t len = strlen(word) - strspn(word, "-");
    size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3, best = 255;
    const char *pick = NULL;
    if (len == 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t d = assay_edit_distance(word, cands[i]);
        if (d < best && d <= limit && d < len) {
            best = d;
            pick = cands[i];
        }
    }
    return pick;
}

int assay_cli_check(const assay_cli_cmd *c, int argc, char **argv, char **pos, char *msg, size_t msglen)
{
    int np = 0;
    for (int i = 0; i < c->npos; i++)
        pos[i] = NULL;
    for (int i = 0; i < argc; i++) {
        const assay_cli_opt *o = argv[i][0] == '-' && argv[i][1] ? assay_cli_opt_find(c, argv[i]) : NULL;
        if (o) {
            if (o->arg && i + 1 >= argc) {
                snprintf(msg, msglen, "%s needs a value (%s)", argv[i], o->arg);
                return -1;
            }
            i += o->arg ? 1 : 0;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            const char *names[ASSAY_CLI_MAX_OPTS];
            size_t k = 0;
            for (const assay_cli_opt *x = c->opts; x->name && k < ASSAY_CLI_MAX_OPTS; x++)
                names[k++] = x->name;
            const char *s = assay_cli_suggest(argv[i], names, k);
            if (s)
                snprintf(msg, msglen, "unknown option '%s' (did you mean '%s'?)", argv[i], s);
            else
                snprintf(msg, msglen, "unknown option '%s' (see: assay help %s%s%s)", argv[i], c->name,
                         c->sub ? " " : "", c->sub ? c->sub : "");
            return -1;
        }
        if (np >= c->npos) {
            snprintf(msg, msglen, "unexpected argument '%s'", argv[i]);
            return -1;
        }
        pos[np++] = argv[i];
    }
    return 0;
}

void assay_cli_unknown(char *msg, size_t msglen, const char *name, const char *sub)
{
    const char *names[NCMDS];
    size_t k = 0;
    for (size_t i = 0; i < NCMDS; i++) {
        const char *w = sub ? CMDS[i].sub : CMDS[i].name;
        if (!w || (sub && strcmp(CMDS[i].name, name)))
            continue;
        if (k > 0 && !strcmp(names[k - 1], w))
            continue;
        names[k++] = w;
    }
    const char *word = sub ? sub : name;
    const char *s = assay_cli_suggest(word, names, k);
    if (sub)
        snprintf(msg, msglen, "unknown subcommand '%s %s'%s%s%s", name, sub, s ? " (did you mean '" : "",
                 s ? s : "", s ? "'?)" : "");
    else
        snprintf(msg, msglen, "unknown command '%s'%s%s%s", name, s ? " (did you mean '" : "", s ? s : "",
                 s ? "'?)" : "");
}

/* ---- help text --------------------------------------------------------------- */

/* "run submit PACKAGE --profiles SPEC[,SPEC...] [--priority N] ..." */
static void synopsis(FILE *f, const assay_cli_cmd *c, const char *lead)
{
    fprintf(f, "%s%s%s%s%s%s", lead, c->name, c->sub ? " " : "", c->sub ? c->sub : "", c->args[0] ? " " : "",
            c->args);
    for (const assay_cli_opt *o = c->opts; o->name; o++) {
        /* Options the command cannot do without are shown bare. */
        int required = o->required;
        fprintf(f, " %s%s%s%s%s", required ? "" : "[", o->name, o->arg ? " " : "", o->arg ? o->arg : "",
                required ? "" : "]");
    }
    fputc('\n', f);
}

void assay_cli_usage(FILE *f)
{
    fputs("usage: assay [--lab DIR | --server URL [--token-file FILE]] <command> [<subcommand>] [options]\n"
          "       the lab: --lab DIR, else $ASSAY_LAB, else ./assay-lab\n"
          "       or an assay serve (docs/api.md): package add, run submit, run show,\n"
          "       run wait and report, with a token from --token-file or $ASSAY_TOKEN\n\n",
          f);
    for (size_t i = 0; i < NCMDS; i++) {
        char head[64];
        snprintf(head, sizeof head, "%s%s%s", CMDS[i].name, CMDS[i].sub ? " " : "", CMDS[i].sub ? CMDS[i].sub : "");
        fprintf(f, "  %-18s %s\n", head, CMDS[i].summary);
    }
    fputs("\n'assay help COMMAND [SUBCOMMAND]' or 'assay COMMAND ... --help' says more.\n"
          "Failures print 'assay: <what failed>: <why>' and exit non-zero.\n",
          f);
}

int assay_cli_help(FILE *f, const char *name, const char *sub)
{
    if (!assay_cli_is_command(name))
        return -1;
    if (!sub && assay_cli_has_subs(name)) {
        fprintf(f, "usage: assay %s <subcommand> ...\n\n", name);
        for (size_t i = 0; i < NCMDS; i++)
            if (!strcmp(CMDS[i].name, name)) {
                synopsis(f, &CMDS[i], "  assay ");
                fprintf(f, "      %s\n", CMDS[i].summary);
            }
        fprintf(f, "\n'assay help %s SUBCOMMAND' says more.\n", name);
        return 0;
    }
    const assay_cli_cmd *c = assay_cli_find(name, sub);
    if (!c)
        return -1;
    synopsis(f, c, "usage: assay ");
    fprintf(f, "\n%s.\n", c->summary);
    if (c->help[0])
        fprintf(f, "\n%s\n", c->help);
    if (c->opts[0].name) {
        fputs("\noptions:\n", f);
        for (const assay_cli_opt *o = c->opts; o->name; o++) {
            char head[64];
            snprintf(head, sizeof head, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
            fprintf(f, "  %-28s %s\n", head, o->help);
        }
    }
    if (c->needs_lab)
        fputs("\nThe lab: --lab DIR before the command, else $ASSAY_LAB, else ./assay-lab.\n", f);
    return 0;
}

/* ---- the man page -------------------------------------------------------- */

/* Text for roff: a backslash doubled, a leading dot or quote guarded, and
 * dashes of options as \- so they copy as ASCII. */
static void roff(FILE *f, const char *s)
{
    int bol = 1;
    for (; *s; s++) {
        if (bol && (*s == '.' || *s == '\''))
            fputs("\\&", f);
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
        bol = *s == '\n';
    }
}

void assay_cli_man(FILE *f)
{
    fputs(".TH ASSAY 1 \"\" \"assay\" \"User Commands\"\n"
          ".SH NAME\nassay \\- software adaptation testing on Chinese domestic CPUs\n"
          ".SH SYNOPSIS\n.B assay\n[\\fB\\-\\-lab\\fR \\fIDIR\\fR | \\fB\\-\\-server\\fR \\fIURL\\fR [\\fB\\-\\-token\\-file\\fR \\fIFILE\\fR]] \\fIcommand\\fR [\\fIsubcommand\\fR] "
          "[\\fIoptions\\fR]\n"
          ".SH DESCRIPTION\n"
          "assay certifies that vendors' software runs on Kunpeng, Phytium, Loongson and Zhaoxin\n"
          "CPUs under Kylin, UOS and openEuler. It keeps a lab (a store, a blob store, a signing key,\n"
          "target profiles and hosts reached over SSH), queues certification runs, drives the hosts\n"
          "through a small static agent and issues signed adaptation reports.\n"
          ".PP\nThe lab is \\fB\\-\\-lab\\fR \\fIDIR\\fR, else \\fB$ASSAY_LAB\\fR, else \\fI./assay\\-lab\\fR.\n"
          "Failures print \\fIassay: <what failed>: <why>\\fR and exit non\\-zero.\n"
          ".SH COMMANDS\n",
          f);
    for (size_t i = 0; i < NCMDS; i++) {
        const assay_cli_cmd *c = &CMDS[i];
        fputs(".TP\n.B ", f);
        roff(f, c->name);
        if (c->sub) {
            fputc(' ', f);
            roff(f, c->sub);
        }
        if (c->args[0]) {
            fputs(" \\fI", f);
            roff(f, c->args);
            fputs("\\fR", f);
        }
        fputc('\n', f);
        roff(f, c->summary);
        fputs(".\n", f);
        if (c->help[0]) {
            fputs(".br\n", f);
            roff(f, c->help);
            fputc('\n', f);
        }
        for (const assay_cli_opt *o = c->opts; o->name; o++) {
            fputs(".RS\n.TP\n.B ", f);
            roff(f, o->name);
            if (o->arg) {
                fputs(" \\fI", f);
                roff(f, o->arg);
                fputs("\\fR", f);
            }
            fputc('\n', f);
            roff(f, o->help);
            fputs("\n.RE\n", f);
        }
    }
    fputs(".SH ENVIRONMENT\n.TP\n.B ASSAY_LAB\nthe lab directory when \\fB\\-\\-lab\\fR is not given\n"
          ".TP\n.B ASSAY_AGENTS_DIR\nwhere the static agents are, per target triple\n"
          ".TP\n.B NO_COLOR\nno colour on the terminal\n"
          ".SH EXIT STATUS\n0 success; 1 a failure (for \\fBrun wait\\fR: the product failed on a target);\n"
          "2 a usage error, or another dispatcher holds the lab; 3 not certified (\\fBrun wait\\fR,\n"
          "\\fBverify \\-\\-require\\-certified\\fR).\n"
          ".SH SEE ALSO\n\\fBassay\\-agent\\fR, and the guides in the source tree: docs/report.md,\n"
          "docs/verify.md, docs/manifest.md, docs/profiles.md.\n",
          f);
}

/* ---- bash completion ------------------------------------------------------- */

static const char *completer(assay_cli_complete k)
{
    switch (k) {
    case ASSAY_CLI_FILE: return "COMPREPLY=($(compgen -f -- \"$cur\"))";
    case ASSAY_CLI_DIR: return "COMPREPLY=($(compgen -d -- \"$cur\"))";
    case ASSAY_CLI_PROFILE: return "COMPREPLY=($(compgen -W \"$(_assay_list profile)\" -- \"$cur\"))";
    case ASSAY_CLI_HOST: return "COMPREPLY=($(compgen -W \"$(_assay_list host)\" -- \"$cur\"))";
    default: return NULL;
    }
}

void assay_cli_bash(FILE *f)
{
    fputs("# bash completion for assay (written by 'assay help --bash-completion')\n"
          "_assay_list() {\n"
          "    local lab=()\n"
          "    [ -n \"$_assay_lab\" ] && lab=(--lab \"$_assay_lab\")\n"
          "    assay \"${lab[@]}\" \"$1\" list 2>/dev/null | awk 'NR > 1 { print $1 }'\n"
          "}\n"
          "_assay() {\n"
          "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
          "    local i=1 cmd= sub= _assay_lab=\n"
          "    while [ $i -lt $COMP_CWORD ] && [ \"${COMP_WORDS[i]}\" = --lab ]; do\n"
          "        _assay_lab=\"${COMP_WORDS[i+1]}\"; i=$((i + 2)); done\n"
          "    if [ \"$prev\" = --lab ]; then COMPREPLY=($(compgen -d -- \"$cur\")); return; fi\n"
          "    if [ $i -eq $COMP_CWORD ]; then\n"
          "        COMPREPLY=($(compgen -W \"--lab",
          f);
    for (size_t i = 0; i < NCMDS; i++)
        if (i == 0 || strcmp(CMDS[i].name, CMDS[i - 1].name))
            fprintf(f, " %s", CMDS[i].name);
    fputs("\" -- \"$cur\")); return\n    fi\n    cmd=\"${COMP_WORDS[i]}\"\n"
          "    case \"$cmd\" in\n",
          f);
    /* Subcommands of each command. */
    for (size_t i = 0; i < NCMDS; i++) {
        if (!CMDS[i].sub || (i > 0 && !strcmp(CMDS[i].name, CMDS[i - 1].name)))
            continue;
        fprintf(f, "    %s)\n        if [ $((i + 1)) -eq $COMP_CWORD ]; then COMPREPLY=($(compgen -W \"",
                CMDS[i].name);
        for (size_t k = i; k < NCMDS && !strcmp(CMDS[k].name, CMDS[i].name); k++)
            fprintf(f, "%s%s", k > i ? " " : "", CMDS[k].sub);
        fputs("\" -- \"$cur\")); return; fi\n        sub=\"${COMP_WORDS[i+1]}\";;\n", f);
    }
    fputs("    esac\n    case \"$cmd $sub\" in\n", f);
    for (size_t i = 0; i < NCMDS; i++) {
        const assay_cli_cmd *c = &CMDS[i];
        fprintf(f, "    \"%s %s\")\n        case \"$prev\" in\n", c->name, c->sub ? c->sub : "");
        for (const assay_cli_opt *o = c->opts; o->name; o++) {
            if (!o->arg)
                continue;
            if (o->complete == ASSAY_CLI_WORDS)
                fprintf(f, "        %s) COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")); return;;\n", o->name, o->words);
            else if (completer(o->complete))
                fprintf(f, "        %s) %s; return;;\n", o->name, completer(o->complete));
            else
                fprintf(f, "        %s) return;;\n", o->name);
        }
        fputs("        esac\n        if [[ \"$cur\" == -* ]]; then COMPREPLY=($(compgen -W \"--help", f);
        for (const assay_cli_opt *o = c->opts; o->name; o++)
            fprintf(f, " %s", o->name);
        fputs("\" -- \"$cur\")); return; fi\n", f);
        if (c->pos_complete == ASSAY_CLI_WORDS && !strcmp(c->name, "config"))
            fputs("        COMPREPLY=($(compgen -W \"centre ingest.max_entries ingest.max_entry_bytes "
                  "ingest.max_total_bytes ingest.max_ratio report.max_ci_pct report.tested_by report.reviewed_by "
                  "report.approved_by report.timezone report.verify_url\" -- \"$cur\"));;\n",
                  f);
        else if (!strcmp(c->name, "help")) {
            fputs("        COMPREPLY=($(compgen -W \"", f);
            for (size_t k = 0; k < NCMDS; k++)
                if (k == 0 || strcmp(CMDS[k].name, CMDS[k - 1].name))
                    fprintf(f, "%s%s", k ? " " : "", CMDS[k].name);
            fputs("\" -- \"$cur\"));;\n", f);
        }
        else if (completer(c->pos_complete))
            fprintf(f, "        %s;;\n", completer(c->pos_complete));
        else
            fputs("        ;;\n", f);
    }
    fputs("    esac\n}\ncomplete -F _assay assay\n", f);
}
