/*
 * `assay host check` names the phase where a host was slow or failed,
 * without an sshd: a port nothing listens on fails in connect; a socket
 * that accepts TCP but never says a word stalls the handshake. (A refused
 * key, a failing agent and a whole check with every phase are tested on
 * the lab, in tests/test_controller.c.)
 */
#include "helpers.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ASSAY ASSAY_BINARY_DIR "/assay"

static char dir[64], out[1 << 16];
static const char *fake_key = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/assay-hc-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(th_run(out, sizeof out,
                        "cd %s && export ASSAY_LAB=%s/lab && %s init >/dev/null && "
                        "ssh-keygen -q -t ed25519 -N '' -f key",
                        dir, dir, ASSAY),
                 0, "%s", out);
}

static void teardown(void)
{
    th_run(NULL, 0, "rm -rf %s", dir);
}

TestSuite(hostcheck, .init = setup, .fini = teardown, .timeout = 60);

/* A loopback socket on a free port; listening: the kernel completes TCP
 * connects to it, and nothing ever reads or answers. */
static int tcp_socket(int listening, int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(s, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    if (listening)
        cr_assert_eq(listen(s, 8), 0);
    socklen_t l = sizeof a;
    cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &l), 0);
    *port = ntohs(a.sin_port);
    return s;
}

static int check(int port, const char *args)
{
    return th_run(out, sizeof out,
                  "cd %s && export ASSAY_LAB=%s/lab && "
                  "%s host add h --profile zhaoxin-kx6000-uos-20 --address 127.0.0.1:%d --user nobody "
                  "--identity key --hostkey %s >/dev/null && %s host check h %s",
                  dir, dir, ASSAY, port, fake_key, ASSAY, args);
}

Test(hostcheck, a_host_that_never_answers_stalls_in_the_handshake)
{
    int port, s = tcp_socket(1, &port);
    int rc = check(port, "--timeout 1.5");
    close(s);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "assay: host check: host h: handshake: no answer within the check's 1.5 s (--timeout)"),
              "%s", out);
    /* Every phase up to the one that failed, with its time; the failed one
     * took most of the timeout (resolving and connecting to loopback took
     * the rest; a loaded machine may wake the check late, never early). */
    cr_assert(strstr(out, "  resolve "), "%s", out);
    cr_assert(strstr(out, "  connect "), "%s", out);
    const char *hs = strstr(out, "  handshake ");
    cr_assert(hs, "%s", out);
    double secs = strtod(hs + strlen("  handshake "), NULL);
    cr_assert(secs >= 0.75 && secs < 30, "handshake took %g s: %s", secs, out);
    cr_assert(strstr(hs, "<- failed here"), "%s", out);
    cr_assert_null(strstr(out, "  auth "), "%s", out);
}

Test(hostcheck, nothing_listening_fails_in_connect)
{
    /* Bound, not listening: a connect is refused. */
    int port, s = tcp_socket(0, &port);
    int rc = check(port, "");
    close(s);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "assay: host check: host h: connect: "), "%s", out);
    cr_assert(strstr(out, "Connection refused"), "%s", out);
    const char *c = strstr(out, "  connect ");
    cr_assert(c && strstr(c, "<- failed here"), "%s", out);
    cr_assert_null(strstr(out, "  handshake "), "%s", out);
}

Test(hostcheck, the_timeout_must_be_seconds)
{
    const char *bad[] = {"0", "-1", "abc", "1e9", "nan", "5s", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = th_run(out, sizeof out, "cd %s && ASSAY_LAB=%s/lab %s host check h --timeout '%s'", dir, dir,
                        ASSAY, bad[i]);
        cr_assert_eq(rc, 2, "--timeout '%s': %d %s", bad[i], rc, out);
        cr_assert(strstr(out, "--timeout takes seconds"), "%s", out);
    }
}
