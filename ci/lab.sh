#!/usr/bin/env bash
# The local lab: emulated target hosts on this machine, one real OpenSSH sshd
# each, on its own loopback address and port.
#
#   ci/lab.sh [--dir DIR] [--net K] up [N] [--reference]
#                                            start N hosts (default 4), idempotent;
#                                            --reference adds debian-1 (x86_64-debian-12)
#   ci/lab.sh [--dir DIR] down               stop exactly what `up` started
#   ci/lab.sh [--dir DIR] status             one line per host
#
# With ASSAY_LAB_OWNER=PID in the environment, `up` also leaves a watcher
# that takes the lab down when process PID ends, however it ends: a test
# that ctest kills on a timeout leaves no sshd behind. `down` stops it.
#
# DIR (default $ASSAY_LAB_HOSTS, else ./lab) holds the lab client key, the
# known_hosts file, the host file the controller imports (hosts.json) and one
# folder per host. Each host's reset command is ci/lab-reset.sh (it recreates
# the host's agent root; see there for what it cannot reset). Host i listens
# on 127.K.x.y:22000+i (K: --net, default 10; the next free one if another
# lab on this machine holds it, see choose_net), never outside 127.0.0.0/8.
#
# Hosts are named by CPU family, round-robin: kunpeng-1, phytium-1,
# loongson-1, zhaoxin-1, kunpeng-2, ... Kunpeng and Phytium run aarch64 code
# and Loongson loongarch64 code under Debian 13's qemu (through binfmt_misc),
# Zhaoxin runs x86_64 natively. qemu models the families' ISA differences:
# Kunpeng as Neoverse-N1 (ARMv8.2, LSE atomics), Phytium as Cortex-A72
# (ARMv8.0, no LSE: code built for armv8.1-a dies with SIGILL, as on an
# FT-2000+), Loongson as LA464.
#
# Every host is logged into as the lab's own login user, assay-lab (see
# ensure_lab_user), not as root: the lab measures assay and the host, not
# this machine's login profile.
set -Eeuo pipefail
. "$(dirname "$0")/common.sh"
# A command that fails under set -e says which, rather than ending the
# script without a word.
trap 'st=$?; echo "lab.sh: line $LINENO: $BASH_COMMAND: exit status $st" >&2' ERR
for sig in TERM INT HUP PIPE; do trap "echo 'lab.sh: stopped by SIG$sig' >&2; exit 1" $sig; done

DIR=${ASSAY_LAB_HOSTS:-$PWD/lab}
NET=${ASSAY_LAB_NET:-10}
while [ $# -gt 0 ]; do
    case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --net) NET=$2; shift 2 ;;
    *) break ;;
    esac
done
CMD=${1:-}
[ -n "$CMD" ] || die "usage: lab.sh [--dir DIR] [--net K] up [N] | down | status"
shift
case "$NET" in ''|*[!0-9]*) die "--net must be a number 1-254" ;; esac
[ "$NET" -ge 1 ] && [ "$NET" -le 254 ] || die "--net must be a number 1-254"
case "$DIR" in *[\"\\[:space:]]*) die "lab dir must not contain quotes, backslashes or spaces: $DIR" ;; esac
# The hosts' reset command (ci/lab-reset.sh) is a path in a shell command.
case "$ASSAY_TOP" in *[\"\\\'[:space:]]*) die "the source tree's path must not contain quotes, backslashes or spaces" ;; esac
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

FAMILIES=(kunpeng phytium loongson zhaoxin)
declare -A ARCH=([kunpeng]=aarch64 [phytium]=aarch64 [loongson]=loongarch64 [zhaoxin]=x86_64 [debian]=x86_64)
declare -A QCPU=([kunpeng]=neoverse-n1 [phytium]=cortex-a72 [loongson]=la464 [zhaoxin]= [debian]=)
declare -A PROFILE=(
    [kunpeng]=kunpeng-920-kylin-v10
    [phytium]=phytium-ft2000plus-uos-20
    [loongson]=loongson-3a5000-openeuler-22.03
    [zhaoxin]=zhaoxin-kx6000-uos-20
    [debian]=x86_64-debian-12
)

# Tests and benchmarks run on a host as an unprivileged account
# (docs/security.md), which must reach the job folders wherever this lab's
# folder is (a checkout under /root is not searchable by others). So each
# host's agent root lives under a searchable folder of its own, and
# $DIR/hosts/<name>/root links to it. `down` removes them.
ROOTS=/var/tmp/assay-lab/$(printf '%s' "$DIR" | sha256sum | cut -c1-16)

# The lab's login user. Each command the controller sends a host runs as
# `<shell> -c CMD` under sshd; for root that is bash, and bash started by
# sshd reads ~/.bashrc even for `-c` (Debian builds it so): whatever the
# machine's root profile does (a `pyenv init`, whose rehash lock can hold a
# login for a minute under load, conda, nvm) would be timed as assay's.
# So the lab logs in as assay-lab: uid 0 (the agent installs packages and
# creates the run user, as root does on a real host), shell /bin/sh (dash
# reads no rc file for `-c`, nor a profile: not a login shell), and a home
# of its own that holds nothing. sshd treats it as root (PermitRootLogin
# looks at the uid) and finds its key in the lab's AuthorizedKeysFile, an
# absolute path. Its password field is "*", no password but not locked:
# sshd without PAM refuses a login whose shadow entry starts with "!".
#
# The account is this machine's, shared by every lab on it (several test
# runs at once): created once under a lock, the same for all, never removed
# (`down` of one lab must not pull it from under another).
LAB_USER=assay-lab
LAB_HOME=/var/tmp/assay-lab/home
ensure_lab_user() {
    local entry t=0
    mkdir -p /var/tmp/assay-lab "$LAB_HOME"
    chmod 755 /var/tmp/assay-lab "$LAB_HOME"
    exec 9>/var/tmp/assay-lab/.user.lock
    flock 9
    # useradd fails while another useradd (an agent creating its run user)
    # holds /etc/passwd's lock: try again while the account is still missing.
    until entry=$(getent passwd "$LAB_USER"); do
        t=$((t + 1))
        [ "$t" -le 10 ] || die "cannot create the lab login user $LAB_USER: $(cat "$DIR/.useradd.err")"
        useradd -o -u 0 -g 0 -N -M -d "$LAB_HOME" -s /bin/sh -p '*' \
            -c "assay lab login (ci/lab.sh)" "$LAB_USER" 2>"$DIR/.useradd.err" || sleep 0.5
    done
    rm -f "$DIR/.useradd.err"
    exec 9>&-
    # An account of that name made by something else is not ours to use.
    case "$entry" in
    "$LAB_USER:x:0:0:"*":$LAB_HOME:/bin/sh") ;;
    *) die "user $LAB_USER exists but is not the lab's login user (uid 0, home $LAB_HOME, shell /bin/sh): $entry" ;;
    esac
}

# With --reference, host N+1 is debian-1: this machine as what it is, an
# x86_64 Debian 12 host (profile x86_64-debian-12), which can certify.
NFAM=0
host_name() {
    local i=$1
    if [ "$NFAM" -gt 0 ] && [ "$i" -gt "$NFAM" ]; then printf 'debian-%d\n' $(( i - NFAM )); return; fi
    printf '%s-%d\n' "${FAMILIES[$(( (i - 1) % 4 ))]}" $(( (i - 1) / 4 + 1 ))
}
host_addr() { local i=$1; printf '127.%d.%d.%d\n' "$NET" $(( (i - 1) / 200 )) $(( (i - 1) % 200 + 1 )); }
host_port() { printf '%d\n' $(( 22000 + $1 )); }

# pid of a running sshd started from this config, or nothing.
running_pid() {
    local h=$1 pid
    [ -f "$h/sshd.pid" ] || return 1
    pid=$(cat "$h/sshd.pid" 2>/dev/null) || return 1
    case "$pid" in ''|*[!0-9]*) return 1 ;; esac
    kill -0 "$pid" 2>/dev/null || return 1
    # Read whole, not piped into grep -q (which stops reading early, and
    # pipefail would take the writer's SIGPIPE for "not running").
    local cmd
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    case "$cmd" in *"$h/sshd_config"*) ;; *) return 1 ;; esac
    printf '%s\n' "$pid"
}

# The lab's network, 127.K.0.0/16. Several labs run on one machine at once
# (two checkouts' tests, a benchmark beside them): each holds its net in
# $NETS/K (the file names its folder), taken under a lock that `up` keeps
# until its sshds listen. A net held by another lab whose hosts are up, or
# whose first address answers on 22001 (a lab that does not register, or
# anything else), is taken: `up` moves on to the next free one and says
# so; hosts.json has the addresses. A lab that is up keeps its net.
NETS=/var/tmp/assay-lab/nets
lab_up_in() { # DIR: 0 if a host of the lab in DIR is running
    local h
    for h in "$1"/hosts/*/; do running_pid "${h%/}" >/dev/null && return 0; done
    return 1
}
net_taken() { # K
    local k=$1 other
    other=$(cat "$NETS/$k" 2>/dev/null) || other=""
    [ "$other" != "$DIR" ] || return 1
    if [ -n "$other" ] && lab_up_in "$other"; then return 0; fi
    (exec 3<>"/dev/tcp/127.$k.0.1/22001") 2>/dev/null
}
choose_net() {
    local want=$NET k f tries
    mkdir -p "$NETS"
    exec 8>"$NETS/.lock"
    flock 8
    for f in "$NETS"/*; do
        [ -f "$f" ] && [ "$(cat "$f" 2>/dev/null)" = "$DIR" ] && rm -f "$f"
    done
    if lab_up_in "$DIR"; then
        # Its sshds listen where their configs say.
        k=$(awk '/^ListenAddress/ { split($2, a, "."); print a[2]; exit }' "$DIR"/hosts/*/sshd_config)
        [ "$k" = "$want" ] || say "this lab is up on net $k: it stays there (down it to move it to $want)"
    else
        k=$want
        for tries in $(seq 1 254); do
            net_taken "$k" || break
            [ "$tries" -lt 254 ] || die "no free net: every 127.K.0.0/16 has a lab on it"
            k=$(( k % 254 + 1 ))
        done
        [ "$k" = "$want" ] || say "net $want is another lab's ($(cat "$NETS/$want" 2>/dev/null || echo 'not one that registers')): this lab is on 127.$k.0.0/16"
    fi
    printf '%s\n' "$DIR" >"$NETS/$k"
    NET=$k
}
# After `down`: the net is free again.
release_net() {
    local f
    [ -d "$NETS" ] || return 0
    exec 8>"$NETS/.lock"
    flock 8
    for f in "$NETS"/*; do
        [ -f "$f" ] && [ "$(cat "$f" 2>/dev/null)" = "$DIR" ] && rm -f "$f"
    done
    exec 8>&-
}

launcher_for() { # arch: empty when binfmt_misc runs foreign code by itself
    local arch=$1
    [ "$arch" = "$(uname -m)" ] && return 0
    "$ASSAY_TOP/ci/binfmt.sh" --check 2>/dev/null && return 0
    qemu_for "$arch" || die "no qemu for $arch and no binfmt_misc: run ci/deps.sh"
}

start_host() { # i
    local i=$1 name fam arch addr port h env=""
    name=$(host_name "$i"); fam=${name%-*}; arch=${ARCH[$fam]}
    addr=$(host_addr "$i"); port=$(host_port "$i")
    h="$DIR/hosts/$name"
    mkdir -p "$h" "$ROOTS/$name"
    chmod 755 /var/tmp/assay-lab "$ROOTS" "$ROOTS/$name"
    if [ ! -L "$h/root" ]; then rm -rf "$h/root"; ln -s "$ROOTS/$name" "$h/root"; fi
    chmod 711 "$h"
    [ -f "$h/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$h/ssh_host_ed25519_key"
    if [ -n "${QCPU[$fam]}" ]; then env="QEMU_CPU=${QCPU[$fam]}"; fi
    # Dynamic new-world loongarch64 binaries find their loader and libc in
    # the Debian 13 root's cross sysroot.
    # (A linked copy under $ROOTS: the run user cannot reach the tool root
    # when it is under /root.)
    if [ "$arch" = loongarch64 ]; then
        local sys="$ROOTS/sysroot-loongarch64"
        if [ ! -e "$sys/lib64" ]; then
            rm -rf "$sys" && mkdir -p "$sys"
            cp -al "$ASSAY_TOOLROOT/usr/loongarch64-linux-gnu/lib" "$sys/lib" 2>/dev/null ||
                cp -a "$ASSAY_TOOLROOT/usr/loongarch64-linux-gnu/lib" "$sys/lib"
            ln -s lib "$sys/lib64"
        fi
        env="$env QEMU_LD_PREFIX=$sys"
    fi
    cat >"$h/sshd_config" <<CFG
# lab host $name ($fam, $arch), written by ci/lab.sh
ListenAddress $addr:$port
HostKey $h/ssh_host_ed25519_key
HostKeyAlgorithms ssh-ed25519
PidFile $h/sshd.pid
AuthorizedKeysFile $DIR/client_key.pub
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
# The lab's files are made 0600/0700 by this script; StrictModes would also
# reject lab folders under a world-writable parent such as /tmp.
StrictModes no
# A dead controller (its machine gone, the network path cut: no FIN ever
# comes) is noticed by sshd within 30 s x 3 unanswered probes; sshd then
# closes the channel, and the agent's attach and its shell exit with it
# (docs/protocol.md, "One reader"). A live controller answers the probes.
ClientAliveInterval 30
ClientAliveCountMax 3
# The controller holds one connection per host with at most a few
# channels (a job's command, a cancel beside it); the tests start several
# controllers against one lab, and a soak restarts one every second or so.
MaxSessions 64
MaxStartups 256:30:512
Subsystem sftp /usr/lib/openssh/sftp-server
${env:+SetEnv $env}
CFG
    if pid=$(running_pid "$h"); then
        return 0
    fi
    rm -f "$h/sshd.pid"
    /usr/sbin/sshd -t -f "$h/sshd_config" || die "$name: sshd rejects its config ($h/sshd_config)"
    /usr/sbin/sshd -f "$h/sshd_config" -E "$h/sshd.log" || die "$name: sshd failed to start; see $h/sshd.log"
    local t
    for t in $(seq 1 100); do
        if running_pid "$h" >/dev/null && (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    die "$name: sshd did not come up on $addr:$port: $(tail -n 1 "$h/sshd.log" 2>/dev/null) (another lab on --net $NET?)"
}

cmd_up() {
    local n=4 i name fam arch addr port h fp launcher sep=""
    case "${1:-}" in ''|--reference) ;; *) n=$1; shift ;; esac
    case "$n" in ''|*[!0-9]*) die "N must be a positive number" ;; esac
    [ "$n" -ge 1 ] && [ "$n" -le 10000 ] || die "N must be 1-10000"
    case "${1:-}" in
    '') ;;
    --reference) NFAM=$n; n=$((n + 1)) ;;
    *) die "unknown option '$1' (up [N] [--reference])" ;;
    esac
    [ -x /usr/sbin/sshd ] || die "no /usr/sbin/sshd: run ci/deps.sh"
    mkdir -p /run/sshd && chmod 755 /run/sshd
    chmod 711 "$DIR"
    ensure_lab_user
    [ -f "$DIR/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C assay-lab -f "$DIR/client_key"
    chmod 600 "$DIR/client_key"
    choose_net
    for i in $(seq 1 "$n"); do start_host "$i"; done
    exec 8>&- # the net's lock: our sshds listen now
    start_watcher

    # The controller's host file and an OpenSSH known_hosts for the same keys.
    local hosts="$DIR/hosts.json.tmp" known="$DIR/known_hosts.tmp"
    : >"$known"
    {
        printf '{\n  "version": 1,\n  "hosts": [\n'
        for i in $(seq 1 "$n"); do
            name=$(host_name "$i"); fam=${name%-*}; arch=${ARCH[$fam]}
            addr=$(host_addr "$i"); port=$(host_port "$i"); h="$DIR/hosts/$name"
            fp=$(ssh-keygen -l -E sha256 -f "$h/ssh_host_ed25519_key.pub" | awk '{print $2}')
            launcher=$(launcher_for "$arch")
            printf '[%s]:%s %s\n' "$addr" "$port" "$(cut -d' ' -f1-2 "$h/ssh_host_ed25519_key.pub")" >>"$known"
            printf '%s    {"name": "%s", "address": "%s", "port": %d, "user": "%s", "identity": "%s",\n' \
                "$sep" "$name" "$addr" "$port" "$LAB_USER" "$DIR/client_key"
            printf '     "hostkey": "%s", "profile": "%s", "arch": "%s", "emulated": %s,\n' \
                "$fp" "${PROFILE[$fam]}" "$arch" "$([ "$arch" = "$(uname -m)" ] && echo false || echo true)"
            printf '     "agent_root": "%s", "launcher": "%s", "reset": "%s"}' "$h/root" "$launcher" \
                "$ASSAY_TOP/ci/lab-reset.sh"
            sep=$',\n'
        done
        printf '\n  ]\n}\n'
    } >"$hosts"
    mv "$known" "$DIR/known_hosts"
    mv "$hosts" "$DIR/hosts.json"
    say "$n hosts up; host file $DIR/hosts.json, known_hosts $DIR/known_hosts, key $DIR/client_key"
}

cmd_down() {
    local h pid t pids=()
    # Signal every host first, then wait for them together: a 256-host lab
    # goes down in about a second, not one host after another.
    for h in "$DIR"/hosts/*/; do
        h=${h%/}
        [ -d "$h" ] || continue
        if pid=$(running_pid "$h"); then
            kill "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$h/sshd.pid"
    done
    for t in $(seq 1 100); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1 && break; done
        [ $alive = 0 ] && break
        sleep 0.05
    done
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$ROOTS"
    release_net
    stop_watcher
    say "${#pids[@]} hosts stopped"
}

# The lab's watcher (see ASSAY_LAB_OWNER above): "PID OWNER" in $DIR/watcher.
# A detached session of its own, so that killing the owner's process tree
# does not kill it; it polls the owner once a second (it waits on nothing
# but the owner's end, and a second's delay there costs nothing).
start_watcher() {
    local owner=${ASSAY_LAB_OWNER:-} w="" wo=""
    [ -n "$owner" ] || return 0
    case "$owner" in *[!0-9]*) die "ASSAY_LAB_OWNER must be a process id, not '$owner'" ;; esac
    kill -0 "$owner" 2>/dev/null || die "ASSAY_LAB_OWNER: no process $owner"
    if [ -f "$DIR/watcher" ]; then
        read -r w wo <"$DIR/watcher" || true
        if [ -n "$w" ] && [ "$wo" = "$owner" ] && kill -0 "$w" 2>/dev/null; then return 0; fi
        [ -n "$w" ] && kill "$w" 2>/dev/null || true
    fi
    setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" --dir "$3" down' \
        lab-watcher "$owner" "$ASSAY_TOP/ci/lab.sh" "$DIR" </dev/null >>"$DIR/watcher.log" 2>&1 &
    echo "$! $owner" >"$DIR/watcher"
}

stop_watcher() {
    local w="" wo=""
    [ -f "$DIR/watcher" ] || return 0
    read -r w wo <"$DIR/watcher" || true
    rm -f "$DIR/watcher"
    # The watcher runs this very `down` as its last act (exec keeps its pid).
    [ -n "$w" ] && [ "$w" != "$$" ] && kill "$w" 2>/dev/null || true
}

cmd_status() {
    local h pid
    for h in "$DIR"/hosts/*/; do
        h=${h%/}
        [ -d "$h" ] || continue
        if pid=$(running_pid "$h"); then
            printf '%-14s up    pid %-7s %s\n' "${h##*/}" "$pid" "$(awk '/^ListenAddress/ {print $2}' "$h/sshd_config")"
        else
            printf '%-14s down\n' "${h##*/}"
        fi
    done
}

case "$CMD" in
up) cmd_up "$@" ;;
down) cmd_down ;;
status) cmd_status ;;
*) die "unknown command '$CMD' (up, down, status)" ;;
esac
