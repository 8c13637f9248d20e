/* libssh2, non-blocking; see ssh.h. */
#include "ssh.h"
#include "crypto.h"
#include "assay/error.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum cstate { C_CONNECT, C_CONNECTING, C_HANDSHAKE, C_AUTH, C_READY, C_DEAD };

struct assay_conn {
    enum cstate state;
    int sock;
    LIBSSH2_SESSION *s;
    char address[256], user[64], identity[4096], pinned[64], seen[64];
    int port, tofu, keepalive_s;
    double last_rx;          /* when bytes last arrived (or the connect began) */
    double ready_at;         /* when authentication succeeded */
};

enum xstate { X_OPEN, X_EXEC, X_IO, X_EOF, X_CLOSE, X_DONE };

struct assay_exec {
    enum xstate state;
    assay_conn *c;
    LIBSSH2_CHANNEL *ch;
    char *command;
    const char *in;
    size_t inlen, inoff;
    int fds[2 + ASSAY_EXEC_FDS_MAX]; /* stdin: these files to their ends (-1: none), then `in` */
    int nfds;
    int fdi;                 /* the file being sent (nfds: the buffer) */
    char *buf;               /* stdin chunk read from a file, not yet sent (uploads only) */
    size_t bufoff, buflen;
    int in_eof;
    uint64_t sent;
    assay_sink sink;
    void *arg;
    char err[4096];
    size_t errlen;
    int status;
    char signal[32];
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* libssh2's own recv (misc.c: -errno on failure), noting when bytes come:
 * a host that stops answering without closing (a hung kernel, a stopped
 * sshd, a cable pulled) shows only as silence. */
static LIBSSH2_RECV_FUNC(recv_noting)
{
    assay_conn *c = *abstract;
    ssize_t r = recv(socket, buffer, length, flags);
    if (r < 0)
        return errno == EWOULDBLOCK || errno == ENOENT ? -EAGAIN : -errno;
    if (r > 0)
        c->last_rx = mono_s();
    return r;
}

int assay_ssh_init(void)
{
    if (libssh2_init(0) != 0)
        return assay_error_set(ASSAY_ERROR, "libssh2_init failed");
    return 0;
}

void assay_ssh_exit(void)
{
    libssh2_exit();
}

static int sess_error(assay_conn *c, int code, const char *what)
{
    char *msg = NULL;
    libssh2_session_last_error(c->s, &msg, NULL, 0);
    c->state = C_DEAD;
    return assay_error_set(code, "%s:%d: %s: %s", c->address, c->port, what, msg ? msg : "failed");
}

int assay_conn_new(assay_conn **out, const assay_conn_opts *o)
{
    assay_conn *c = calloc(1, sizeof *c);
    if (!c)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    c->sock = -1;
    snprintf(c->address, sizeof c->address, "%s", o->address);
    snprintf(c->user, sizeof c->user, "%s", o->user);
    snprintf(c->identity, sizeof c->identity, "%s", o->identity);
    snprintf(c->pinned, sizeof c->pinned, "%s", o->hostkey ? o->hostkey : "");
    c->port = o->port;
    c->tofu = o->tofu;
    c->keepalive_s = o->keepalive_s > 0 ? o->keepalive_s : 15;
    *out = c;
    return 0;
}

const char *assay_conn_hostkey(const assay_conn *c)
{
    return c->seen;
}

/* The client key must be ours and private: a key others can read is a key
 * others may have copied. */
static int check_identity(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return assay_error_set_errno(ASSAY_EAUTH, errno, "identity %s", path);
    if (!S_ISREG(st.st_mode))
        return assay_error_set(ASSAY_EAUTH, "identity %s is not a regular file", path);
    if (st.st_mode & 077)
        return assay_error_set(ASSAY_EAUTH, "identity %s is readable by others (mode %o): chmod 600 it",
                               path, (unsigned)(st.st_mode & 0777));
    if (st.st_uid != geteuid())
        return assay_error_set(ASSAY_EAUTH, "identity %s is not owned by this user", path);
    return 0;
}

static int start_connect(assay_conn *c)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    int r = getaddrinfo(c->address, port, &hints, &res);
    if (r == EAI_NONAME) {
        /* A name, not an address: resolving blocks, once per connection. */
        hints.ai_flags = AI_NUMERICSERV;
        r = getaddrinfo(c->address, port, &hints, &res);
    }
    if (r != 0)
        return assay_error_set(ASSAY_EIO, "%s: cannot resolve: %s", c->address, gai_strerror(r));
    c->sock = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->sock < 0) {
        freeaddrinfo(res);
        return assay_error_set_errno(ASSAY_EIO, errno, "socket");
    }
    int one = 1;
    setsockopt(c->sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    r = connect(c->sock, res->ai_addr, res->ai_addrlen);
    int e = errno;
    freeaddrinfo(res);
    if (r != 0 && e != EINPROGRESS)
        return assay_error_set_errno(ASSAY_EIO, e, "%s:%d: connect", c->address, c->port);
    c->state = C_CONNECTING;
    c->last_rx = mono_s();
    return ASSAY_SSH_AGAIN;
}

static int check_hostkey(assay_conn *c)
{
    size_t len;
    int type;
    const char *key = libssh2_session_hostkey(c->s, &len, &type);
    if (!key)
        return sess_error(c, ASSAY_EHOSTKEY, "no host key");
    assay_ssh_fingerprint(c->seen, (const unsigned char *)key, len);
    if (c->pinned[0] == '\0') {
        if (c->tofu)
            return 0; /* the caller records it and says so */
        c->state = C_DEAD;
        return assay_error_set(ASSAY_EHOSTKEY, "%s:%d: host key %s is not pinned (give --hostkey or "
                                               "--trust-on-first-use)", c->address, c->port, c->seen);
    }
    if (strcmp(c->pinned, c->seen) != 0) {
        c->state = C_DEAD;
        return assay_error_set(ASSAY_EHOSTKEY, "%s:%d: HOST KEY MISMATCH: pinned %s, host presented %s; someone may "
                                               "be intercepting the connection. If the host was reinstalled, compare "
                                               "with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on its console, "
                                               "then `assay host remove` it and add it again with the new --hostkey",
                               c->address, c->port, c->pinned, c->seen);
    }
    return 0;
}

int assay_conn_open(assay_conn *c)
{
    int r;
    for (;;) {
        switch (c->state) {
        case C_CONNECT:
            if ((r = check_identity(c->identity)) < 0) {
                c->state = C_DEAD;
                return r;
            }
            if ((r = start_connect(c)) < 0) {
                c->state = C_DEAD;
                return r;
            }
            break;
        case C_CONNECTING: {
            struct pollfd p = {c->sock, POLLOUT, 0};
            if (poll(&p, 1, 0) == 0)
                return ASSAY_SSH_AGAIN;
            int err = 0;
            socklen_t l = sizeof err;
            getsockopt(c->sock, SOL_SOCKET, SO_ERROR, &err, &l);
            if (err) {
                c->state = C_DEAD;
                return assay_error_set_errno(ASSAY_EIO, err, "%s:%d: connect", c->address, c->port);
            }
            if (!(c->s = libssh2_session_init_ex(NULL, NULL, NULL, c))) {
                c->state = C_DEAD;
                return assay_error_set(ASSAY_ENOMEM, "out of memory");
            }
            libssh2_session_set_blocking(c->s, 0);
            libssh2_session_callback_set(c->s, LIBSSH2_CALLBACK_RECV, (void *)recv_noting);
            c->last_rx = mono_s();
            /* libssh2 1.10 would prefer ECDSA host keys: ask for Ed25519 first. */
            libssh2_session_method_pref(c->s, LIBSSH2_METHOD_HOSTKEY,
                                        "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521");
            c->state = C_HANDSHAKE;
            break;
        }
        case C_HANDSHAKE:
            r = libssh2_session_handshake(c->s, c->sock);
            if (r == LIBSSH2_ERROR_EAGAIN)
                return ASSAY_SSH_AGAIN;
            if (r == LIBSSH2_ERROR_KEX_FAILURE) {
                /* Not worth retrying: the host must change its configuration.
                 * The usual case is a host with only an RSA host key, which
                 * libssh2 1.10 can check only with SHA-1 signatures. */
                sess_error(c, ASSAY_EHOSTKEY, "handshake");
                return assay_error_set(ASSAY_EHOSTKEY,
                                       "%s:%d: no host key type or key exchange in common with the host: assay "
                                       "accepts ssh-ed25519 and ecdsa-sha2-nistp256/384/521 host keys; give the host "
                                       "an Ed25519 key (ssh-keygen -t ed25519 -f /etc/ssh/ssh_host_ed25519_key, then a "
                                       "HostKey line for it in sshd_config and a restart of sshd)",
                                       c->address, c->port);
            }
            if (r)
                return sess_error(c, ASSAY_EIO, "handshake");
            if ((r = check_hostkey(c)) < 0)
                return r;
            /* want_reply: the host answers each keepalive, so a live
             * connection is never silent for long. */
            libssh2_keepalive_config(c->s, 1, (unsigned)c->keepalive_s);
            c->state = C_AUTH;
            break;
        case C_AUTH:
            r = libssh2_userauth_publickey_fromfile_ex(c->s, c->user, (unsigned)strlen(c->user), NULL,
                                                       c->identity, NULL);
            if (r == LIBSSH2_ERROR_EAGAIN)
                return ASSAY_SSH_AGAIN;
            if (r)
                return sess_error(c, ASSAY_EAUTH, "public key authentication refused (is the public half in the "
                                                  "user's ~/.ssh/authorized_keys? the key must be Ed25519 or ECDSA: "
                                                  "libssh2 1.10 cannot sign with RSA SHA-2)");
            c->state = C_READY;
            c->ready_at = mono_s();
            return 0;
        case C_READY:
            return 0;
        case C_DEAD:
            return assay_error_set(ASSAY_EIO, "%s:%d: connection is closed", c->address, c->port);
        }
    }
}

void assay_conn_pollfd(assay_conn *c, struct pollfd *p)
{
    p->fd = c->sock;
    p->events = 0;
    p->revents = 0;
    if (c->state == C_CONNECTING) {
        p->events = POLLOUT;
        return;
    }
    if (!c->s) {
        p->fd = -1;
        return;
    }
    int dir = libssh2_session_block_directions(c->s);
    if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
        p->events |= POLLIN;
    if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
        p->events |= POLLOUT;
    if (!p->events)
        p->events = POLLIN; /* data may arrive for a channel we read */
}

double assay_conn_silent_s(const assay_conn *c)
{
    return c->state == C_CONNECT ? 0 : mono_s() - c->last_rx;
}

void assay_conn_touch(assay_conn *c)
{
    c->last_rx = mono_s();
}

double assay_conn_age_s(const assay_conn *c)
{
    return c->state == C_READY ? mono_s() - c->ready_at : 0;
}

int assay_conn_keepalive(assay_conn *c, int *next_s)
{
    *next_s = c->keepalive_s;
    if (c->state != C_READY)
        return 0;
    int r = libssh2_keepalive_send(c->s, next_s);
    /* BAD_USE: another packet is half sent (an upload waiting for the
     * socket); the keepalive goes on a later call. */
    if (r && r != LIBSSH2_ERROR_EAGAIN && r != LIBSSH2_ERROR_BAD_USE)
        return sess_error(c, ASSAY_EIO, "keepalive");
    return 0;
}

void assay_conn_free(assay_conn *c)
{
    if (!c)
        return;
    if (c->s) {
        /* Best effort and bounded: a dead peer must not hold us here. */
        libssh2_session_set_blocking(c->s, 0);
        libssh2_session_disconnect(c->s, "bye");
        /* A channel still open (a peer still streaming) makes libssh2 wait
         * for the peer's close, which non-blocking means "EAGAIN, freed
         * nothing". With the socket shut, libssh2 sees the disconnect and
         * frees every channel and the session. */
        if (c->sock >= 0)
            shutdown(c->sock, SHUT_RDWR);
        libssh2_session_free(c->s);
    }
    if (c->sock >= 0)
        close(c->sock);
    free(c);
}

/* ---- exec ---------------------------------------------------------------- */

int assay_exec_new(assay_exec **out, assay_conn *c, const assay_exec_opts *o)
{
    assay_exec *x = calloc(1, sizeof *x);
    if (!x || !(x->command = strdup(o->command))) {
        free(x);
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    }
    x->c = c;
    x->in = o->in;
    x->inlen = o->in ? o->inlen : 0;
    x->fds[0] = o->infd > 0 ? o->infd : -1;
    x->fds[1] = o->infd2 > 0 ? o->infd2 : -1;
    x->nfds = 2;
    for (size_t i = 0; o->infds && i < o->ninfds && i < ASSAY_EXEC_FDS_MAX; i++)
        x->fds[x->nfds++] = o->infds[i] > 0 ? o->infds[i] : -1;
    x->sink = o->sink;
    x->arg = o->arg;
    x->status = -1;
    *out = x;
    return 0;
}

static int chan_error(assay_exec *x, const char *what)
{
    return sess_error(x->c, ASSAY_EIO, what);
}

/* Drain stdout and stderr; both share the window, so read both every time. */
static int pump_out(assay_exec *x)
{
    char b[32768];
    for (int i = 0; i < 64; i++) {
        int progress = 0;
        ssize_t n = libssh2_channel_read(x->ch, b, sizeof b);
        if (n > 0) {
            progress = 1;
            int rc = x->sink ? x->sink(x->arg, b, (size_t)n) : 0;
            if (rc < 0) {
                x->c->state = C_DEAD;
                return rc; /* the sink's own code and message */
            }
        } else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
            return chan_error(x, "read");
        }
        ssize_t m = libssh2_channel_read_stderr(x->ch, b, sizeof b);
        if (m > 0) {
            progress = 1;
            size_t room = sizeof x->err - 1 - x->errlen;
            size_t take = (size_t)m < room ? (size_t)m : room;
            memcpy(x->err + x->errlen, b, take);
            x->errlen += take;
            x->err[x->errlen] = '\0';
        } else if (m < 0 && m != LIBSSH2_ERROR_EAGAIN) {
            return chan_error(x, "read stderr");
        }
        if (!progress)
            break;
    }
    return 0;
}

/* Send stdin: from the buffer, or a file read in large chunks (libssh2
 * sends large writes in pipelined packets). */
static int pump_in(assay_exec *x)
{
    for (;;) {
        const char *p = NULL;
        size_t left = 0;
        int from_fd = x->fdi < x->nfds;
        if (from_fd && x->fds[x->fdi] < 0) {
            x->fdi++;
            continue;
        }
        if (from_fd) {
            /* 64 KiB reads: libssh2 cuts writes into 32 KiB packets and keeps
             * the window full; a larger buffer per upload only costs memory. */
            enum { UPLOAD_CHUNK = 64 * 1024 };
            if (!x->buf && !(x->buf = malloc(UPLOAD_CHUNK)))
                return assay_error_set(ASSAY_ENOMEM, "out of memory");
            if (x->bufoff == x->buflen) {
                ssize_t n = read(x->fds[x->fdi], x->buf, UPLOAD_CHUNK);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0)
                    return assay_error_set_errno(ASSAY_EIO, errno, "read upload");
                x->bufoff = 0;
                x->buflen = (size_t)n;
                if (n == 0) { /* this file is sent: the next, then the buffer */
                    x->fdi++;
                    continue;
                }
            }
            p = x->buf + x->bufoff;
            left = x->buflen - x->bufoff;
        } else if (x->in) {
            p = x->in + x->inoff;
            left = x->inlen - x->inoff;
        }
        if (left == 0) {
            x->in_eof = 1;
            return 0;
        }
        ssize_t w = libssh2_channel_write(x->ch, p, left);
        if (w == LIBSSH2_ERROR_EAGAIN)
            return ASSAY_SSH_AGAIN;
        if (w < 0)
            return chan_error(x, "write");
        x->sent += (uint64_t)w;
        if (from_fd)
            x->bufoff += (size_t)w;
        else
            x->inoff += (size_t)w;
    }
}

int assay_exec_run(assay_exec *x)
{
    LIBSSH2_SESSION *s = x->c->s;
    int r;
    for (;;) {
        switch (x->state) {
        case X_OPEN:
            x->ch = libssh2_channel_open_session(s);
            if (!x->ch) {
                if (libssh2_session_last_errno(s) == LIBSSH2_ERROR_EAGAIN)
                    return ASSAY_SSH_AGAIN;
                return chan_error(x, "open channel");
            }
            x->state = X_EXEC;
            break;
        case X_EXEC:
            r = libssh2_channel_exec(x->ch, x->command);
            if (r == LIBSSH2_ERROR_EAGAIN)
                return ASSAY_SSH_AGAIN;
            if (r)
                return chan_error(x, "exec");
            x->state = X_IO;
            break;
        case X_IO:
            if ((r = pump_out(x)) < 0)
                return r;
            if (!x->in_eof) {
                if ((r = pump_in(x)) < 0)
                    return r;
                if (r == ASSAY_SSH_AGAIN)
                    return r;
                if (x->in_eof)
                    x->state = X_EOF;
                break;
            }
            x->state = X_EOF;
            break;
        case X_EOF:
            r = libssh2_channel_send_eof(x->ch);
            if (r == LIBSSH2_ERROR_EAGAIN)
                return ASSAY_SSH_AGAIN;
            if (r)
                return chan_error(x, "send eof");
            x->state = X_CLOSE;
            break;
        case X_CLOSE:
            if ((r = pump_out(x)) < 0)
                return r;
            if (!libssh2_channel_eof(x->ch))
                return ASSAY_SSH_AGAIN;
            r = libssh2_channel_close(x->ch);
            if (r == LIBSSH2_ERROR_EAGAIN)
                return ASSAY_SSH_AGAIN;
            r = libssh2_channel_wait_closed(x->ch);
            if (r == LIBSSH2_ERROR_EAGAIN)
                return ASSAY_SSH_AGAIN;
            {
                /* get_exit_status says 0 for a process killed by a signal:
                 * ask for the signal too. */
                char *sig = NULL;
                size_t siglen = 0;
                libssh2_channel_get_exit_signal(x->ch, &sig, &siglen, NULL, NULL, NULL, NULL);
                if (sig && siglen) {
                    snprintf(x->signal, sizeof x->signal, "%.*s", (int)siglen, sig);
                    x->status = -1;
                } else {
                    x->status = libssh2_channel_get_exit_status(x->ch);
                }
                if (sig)
                    libssh2_free(s, sig);
            }
            libssh2_channel_free(x->ch);
            x->ch = NULL;
            x->state = X_DONE;
            return 0;
        case X_DONE:
            return 0;
        }
    }
}

int assay_exec_status(const assay_exec *x, const char **signal)
{
    if (signal)
        *signal = x->signal[0] ? x->signal : NULL;
    return x->status;
}

const char *assay_exec_stderr(const assay_exec *x)
{
    return x->err;
}

uint64_t assay_exec_sent(const assay_exec *x)
{
    return x->sent;
}

void assay_exec_free(assay_exec *x)
{
    if (!x)
        return;
    if (x->ch)
        libssh2_channel_free(x->ch); /* the connection is being dropped anyway */
    free(x->buf);
    free(x->command);
    free(x);
}

int assay_shell_quote(char *out, size_t outlen, const char *s)
{
    size_t o = 0;
    if (outlen < 3)
        return assay_error_set(ASSAY_EINVAL, "quote buffer too small");
    out[o++] = '\'';
    for (; *s; s++) {
        const char *piece = *s == '\'' ? "'\\''" : NULL;
        size_t n = piece ? 4 : 1;
        if (o + n + 2 > outlen)
            return assay_error_set(ASSAY_EINVAL, "string too long to quote");
        if (piece)
            memcpy(out + o, piece, 4);
        else
            out[o] = *s;
        o += n;
    }
    out[o++] = '\'';
    out[o] = '\0';
    return 0;
}

/* ---- the dispatcher's transport (transport.h) ------------------------------ */

#include "transport.h"

static int t_conn_new(void **out, const assay_conn_opts *o, void *arg)
{
    (void)arg;
    return assay_conn_new((assay_conn **)out, o);
}
static int t_conn_open(void *c) { return assay_conn_open(c); }
static const char *t_conn_hostkey(void *c) { return assay_conn_hostkey(c); }
static void t_conn_pollfd(void *c, struct pollfd *p) { assay_conn_pollfd(c, p); }
static double t_conn_silent_s(void *c) { return assay_conn_silent_s(c); }
static void t_conn_touch(void *c) { assay_conn_touch(c); }
static double t_conn_age_s(void *c) { return assay_conn_age_s(c); }
static int t_conn_keepalive(void *c, int *next_s) { return assay_conn_keepalive(c, next_s); }
static void t_conn_free(void *c) { assay_conn_free(c); }
static int t_exec_new(void **out, void *c, assay_remote_kind kind, const assay_exec_opts *o)
{
    (void)kind;
    return assay_exec_new((assay_exec **)out, c, o);
}
static int t_exec_run(void *x) { return assay_exec_run(x); }
static int t_exec_status(void *x, const char **sig) { return assay_exec_status(x, sig); }
static const char *t_exec_stderr(void *x) { return assay_exec_stderr(x); }
static void t_exec_free(void *x) { assay_exec_free(x); }

const assay_transport assay_transport_ssh = {
    .name = "ssh",
    .conn_new = t_conn_new,
    .conn_open = t_conn_open,
    .conn_hostkey = t_conn_hostkey,
    .conn_pollfd = t_conn_pollfd,
    .conn_silent_s = t_conn_silent_s,
    .conn_touch = t_conn_touch,
    .conn_age_s = t_conn_age_s,
    .conn_keepalive = t_conn_keepalive,
    .conn_free = t_conn_free,
    .exec_new = t_exec_new,
    .exec_run = t_exec_run,
    .exec_status = t_exec_status,
    .exec_stderr = t_exec_stderr,
    .exec_free = t_exec_free,
};
