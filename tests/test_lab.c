/*
 * The local lab (ci/lab.sh) against the real OpenSSH client: four hosts,
 * one per CPU family, reached with strict host-key checking, each running
 * the static agent of its own architecture (aarch64 and loongarch64 through
 * qemu), and `up`/`down` that start and stop exactly their own sshds.
 */
#include "helpers.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAB ASSAY_BINARY_DIR "/test-lab"
#define LABSH ASSAY_SOURCE_DIR "/ci/lab.sh"
#define NET "11"
#define SSH_OPTS                                                                                   \
    "-o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" LAB "/known_hosts "    \
    "-o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -i " LAB "/client_key"

static char out[65536];

static cJSON *lab_up(void)
{
    int rc = th_run(out, sizeof out, "%s --dir %s --net %s up 4", LABSH, LAB, NET);
    cr_assert_eq(rc, 0, "lab.sh up failed (%d): %s", rc, out);
    char *text = th_slurp(LAB "/hosts.json", NULL);
    cr_assert_not_null(text, "no hosts.json");
    cJSON *doc = cJSON_Parse(text);
    free(text);
    cr_assert_not_null(doc, "hosts.json is not JSON");
    return doc;
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    th_run(NULL, 0, "%s --dir %s down", LABSH, LAB);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    cr_assert(cJSON_IsString(v), "host field '%s' missing", k);
    return v->valuestring;
}

Test(lab, four_hosts_one_per_family_on_loopback)
{
    cJSON *doc = lab_up();
    const cJSON *hosts = cJSON_GetObjectItemCaseSensitive(doc, "hosts");
    cr_assert_eq(cJSON_GetArraySize(hosts), 4);
    const char *want[][2] = {{"kunpeng-1", "aarch64"},
                             {"phytium-1", "aarch64"},
                             {"loongson-1", "loongarch64"},
                             {"zhaoxin-1", "x86_64"}};
    int i = 0;
    const cJSON *h;
    cJSON_ArrayForEach(h, hosts)
    {
        cr_assert_str_eq(str(h, "name"), want[i][0]);
        cr_assert_str_eq(str(h, "arch"), want[i][1]);
        cr_assert(strncmp(str(h, "address"), "127.", 4) == 0, "%s", str(h, "address"));
        cr_assert(strncmp(str(h, "hostkey"), "SHA256:", 7) == 0);
        /* The fingerprint in the host file is the key the host serves. */
        int rc = th_run(out, sizeof out, "ssh-keyscan -t ed25519 -p %d %s 2>/dev/null | ssh-keygen -lf - -E sha256",
                        cJSON_GetObjectItem(h, "port")->valueint, str(h, "address"));
        cr_assert_eq(rc, 0, "%s", out);
        cr_assert(strstr(out, str(h, "hostkey")) != NULL, "%s served %s", str(h, "name"), out);
        i++;
    }
    cJSON_Delete(doc);

    /* Nothing listens outside 127.0.0.0/8: every listening socket on the lab's
     * ports has a 127.x address (/proc/net/tcp holds it little-endian, so
     * the first octet is the last hex pair). */
    char *tcp = th_slurp("/proc/net/tcp", NULL);
    cr_assert_not_null(tcp);
    int listening = 0;
    for (char *line = strtok(tcp, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned addr, port, st;
        if (sscanf(line, " %*d: %8X:%4X %*8X:%*4X %2X", &addr, &port, &st) == 3 && st == 0x0A &&
            port >= 22001 && port <= 22004) {
            cr_assert_eq(addr & 0xff, 127u, "port %u listens on a non-loopback address", port);
            listening++;
        }
    }
    free(tcp);
    cr_assert_geq(listening, 4);
}

Test(lab, every_agent_reports_its_own_architecture)
{
    cJSON *doc = lab_up();
    const cJSON *h;
    cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(doc, "hosts"))
    {
        char triple[64], agent[512];
        snprintf(triple, sizeof triple, "%s-linux-gnu", str(h, "arch"));
        cr_assert_not_null(th_agent_path(triple, agent, sizeof agent),
                           "no agent for %s: run ci/build-agents.sh", triple);
        int port = cJSON_GetObjectItem(h, "port")->valueint;
        /* Push the agent over SFTP (OpenSSH 9's scp speaks SFTP). */
        int rc = th_run(out, sizeof out, "scp -q " SSH_OPTS " -P %d %s %s@%s:%s/assay-agent", port,
                        agent, str(h, "user"), str(h, "address"), str(h, "agent_root"));
        cr_assert_eq(rc, 0, "scp to %s: %s", str(h, "name"), out);
        rc = th_run(out, sizeof out, "ssh " SSH_OPTS " -p %d %s@%s '%s %s/assay-agent version --json'",
                    port, str(h, "user"), str(h, "address"), str(h, "launcher"), str(h, "agent_root"));
        cr_assert_eq(rc, 0, "agent on %s: %s", str(h, "name"), out);
        cJSON *v = cJSON_Parse(out);
        cr_assert_not_null(v, "agent on %s printed %s", str(h, "name"), out);
        cr_assert_str_eq(cJSON_GetObjectItem(v, "machine")->valuestring, str(h, "arch"),
                         "%s runs on %s", str(h, "name"), out);
        cr_assert_str_eq(cJSON_GetObjectItem(v, "triple")->valuestring, triple);
        cJSON_Delete(v);
    }
    cJSON_Delete(doc);
}

/* Commands on a lab host run in the lab's own login environment, not the
 * machine's root profile: root's shell (bash) reads ~/.bashrc even for an
 * sshd `-c` command, and what it runs there (a pyenv init can hold a login
 * for a minute under load) would be timed as the host's. The lab's login user
 * is uid 0 (the agent installs packages and creates the run user) with
 * /bin/sh as its shell and a home of its own. */
Test(lab, commands_run_without_roots_login_profile)
{
    cJSON *doc = lab_up();
    char roothome[512], sh[512];
    cr_assert_eq(th_run(roothome, sizeof roothome, "getent passwd root | cut -d: -f6 | tr -d '\\n'"), 0);
    cr_assert_eq(th_run(sh, sizeof sh, "readlink -f /bin/sh | tr -d '\\n'"), 0);
    const cJSON *h;
    cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(doc, "hosts"))
    {
        cr_assert_str_neq(str(h, "user"), "root", "%s logs in as root", str(h, "name"));
        /* `; true`: the shell itself must answer, not a command it exec'd. */
        int rc = th_run(out, sizeof out,
                        "ssh " SSH_OPTS " -p %d %s@%s 'echo \"uid=$(id -u) home=$HOME "
                        "bash=${BASH_VERSION:-none} shell=$(readlink -f /proc/$$/exe) end\"; true'",
                        cJSON_GetObjectItem(h, "port")->valueint, str(h, "user"), str(h, "address"));
        cr_assert_eq(rc, 0, "%s: %s", str(h, "name"), out);
        cr_assert(strstr(out, "uid=0 ") != NULL, "%s: not uid 0: %s", str(h, "name"), out);
        cr_assert(strstr(out, " bash=none ") != NULL, "%s: bash ran the command: %s", str(h, "name"), out);
        char want[600], roots[600];
        snprintf(want, sizeof want, " shell=%s end", sh);
        cr_assert(strstr(out, want) != NULL, "%s: the login shell is not %s: %s", str(h, "name"), sh, out);
        snprintf(roots, sizeof roots, " home=%s ", roothome);
        cr_assert(strstr(out, roots) == NULL, "%s: HOME is root's: %s", str(h, "name"), out);
        cr_assert(strstr(out, " home=/") != NULL, "%s: no HOME: %s", str(h, "name"), out);
    }
    cJSON_Delete(doc);
}

Test(lab, unknown_host_key_is_refused)
{
    cJSON *doc = lab_up();
    const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "hosts"), 0);
    /* A known_hosts that holds another host's key for this address. */
    const cJSON *other = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "hosts"), 1);
    int rc = th_run(out, sizeof out,
                    "set -e; k=%s/wrong_known_hosts; "
                    "grep -F '[%s]:%d ' %s/known_hosts | sed 's/^[^ ]*/[%s]:%d/' > $k; "
                    "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$k "
                    "-o GlobalKnownHostsFile=/dev/null -i %s/client_key -p %d %s@%s true",
                    LAB, str(other, "address"), cJSON_GetObjectItem(other, "port")->valueint, LAB,
                    str(h, "address"), cJSON_GetObjectItem(h, "port")->valueint, LAB,
                    cJSON_GetObjectItem(h, "port")->valueint, str(h, "user"), str(h, "address"));
    cr_assert_neq(rc, 0, "ssh accepted a mismatched host key: %s", out);
    cr_assert(strstr(out, "HOST IDENTIFICATION HAS CHANGED") || strstr(out, "verification failed"),
              "%s", out);
    /* And an empty known_hosts: unknown, refused, not added. */
    rc = th_run(out, sizeof out,
                "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/dev/null "
                "-o GlobalKnownHostsFile=/dev/null -i %s/client_key -p %d %s@%s true",
                LAB, cJSON_GetObjectItem(h, "port")->valueint, str(h, "user"), str(h, "address"));
    cr_assert_neq(rc, 0);
    cr_assert(strstr(out, "verification failed") != NULL, "%s", out);
    cJSON_Delete(doc);
}

Test(lab, up_is_idempotent_and_down_stops_exactly_its_hosts)
{
    const char *dir = ASSAY_BINARY_DIR "/test-lab-idem";
    char pid1[64], pid2[64];
    int rc = th_run(out, sizeof out, "%s --dir %s --net 12 up 1", LABSH, dir);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_eq(th_run(pid1, sizeof pid1, "cat %s/hosts/kunpeng-1/sshd.pid", dir), 0);
    rc = th_run(out, sizeof out, "%s --dir %s --net 12 up 1", LABSH, dir);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_eq(th_run(pid2, sizeof pid2, "cat %s/hosts/kunpeng-1/sshd.pid", dir), 0);
    cr_assert_str_eq(pid1, pid2, "second `up` restarted a running host");

    /* The main lab must survive this lab's `down`. */
    cJSON *doc = lab_up();
    cJSON_Delete(doc);
    rc = th_run(out, sizeof out, "%s --dir %s down", LABSH, dir);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_neq(th_run(NULL, 0, "kill -0 %s", pid1), 0, "sshd %s still running", pid1);
    rc = th_run(out, sizeof out, "%s --dir %s status", LABSH, LAB);
    cr_assert(strstr(out, "down") == NULL, "main lab was touched: %s", out);
}

/* A lab started for a process (ASSAY_LAB_OWNER) goes down when that process
 * ends, however it ends: a test that ctest kills on a timeout leaves no sshd
 * behind. And a plain `down` stops the watcher too. */
Test(lab, a_lab_goes_down_with_its_owner)
{
    const char *dir = ASSAY_BINARY_DIR "/test-lab-owner";
    char sshd[64], watcher[64];
    /* The owner: a process of its own, killed with SIGKILL (no chance to
     * clean up), as ctest kills a test that times out. */
    int rc = th_run(out, sizeof out,
                    "sleep 600 </dev/null >/dev/null 2>&1 & echo $! > %s.owner; "
                    "ASSAY_LAB_OWNER=$(cat %s.owner) %s --dir %s --net 12 up 1",
                    dir, dir, LABSH, dir);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_eq(th_run(sshd, sizeof sshd, "cat %s/hosts/kunpeng-1/sshd.pid", dir), 0);
    cr_assert_eq(th_run(watcher, sizeof watcher, "cut -d' ' -f1 %s/watcher", dir), 0, "no watcher: %s", watcher);
    sshd[strcspn(sshd, "\n")] = watcher[strcspn(watcher, "\n")] = '\0';
    cr_assert_eq(th_run(NULL, 0, "kill -0 %s", watcher), 0, "watcher %s is not running", watcher);
    cr_assert_eq(th_run(out, sizeof out, "kill -9 $(cat %s.owner); rm -f %s.owner", dir, dir), 0, "%s", out);
    /* Wait for the watcher's `down` to end (the watcher runs it as its last
     * act, under its own pid; bounded only so a broken watcher fails rather
     * than hangs), then look at what it left. */
    rc = th_run(out, sizeof out, "for i in $(seq 600); do kill -0 %s 2>/dev/null || exit 0; sleep 0.2; done; exit 1",
                watcher);
    cr_assert_eq(rc, 0, "the watcher %s never ended", watcher);
    cr_assert_neq(th_run(NULL, 0, "kill -0 %s", sshd), 0, "sshd %s outlived its owner (%s/watcher.log)", sshd, dir);
    cr_assert_neq(th_run(NULL, 0, "test -e %s/watcher", dir), 0, "the watcher left its file");

    /* With an owner that lives on, `down` stops the watcher. */
    rc = th_run(out, sizeof out,
                "sleep 600 </dev/null >/dev/null 2>&1 & echo $! > %s.owner; "
                "ASSAY_LAB_OWNER=$(cat %s.owner) %s --dir %s --net 12 up 1",
                dir, dir, LABSH, dir);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_eq(th_run(watcher, sizeof watcher, "cut -d' ' -f1 %s/watcher", dir), 0);
    watcher[strcspn(watcher, "\n")] = '\0';
    rc = th_run(out, sizeof out, "%s --dir %s down; kill $(cat %s.owner); rm -f %s.owner", LABSH, dir, dir, dir);
    cr_assert_eq(rc, 0, "%s", out);
    rc = th_run(out, sizeof out, "for i in $(seq 100); do kill -0 %s 2>/dev/null || exit 0; sleep 0.1; done; exit 1",
                watcher);
    cr_assert_eq(rc, 0, "`down` left the watcher %s running", watcher);
}
