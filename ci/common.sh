# Shared helpers for the ci/ scripts. Source it; do not run it.
#
# Everything that is not the project's own source (the Debian 13 tool root,
# fetched source packages, the lab's state) lives under ASSAY_CACHE, outside
# the work tree, so a clean clone stays clean and a second run reuses work.

ASSAY_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ASSAY_CACHE=${ASSAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/assay}
# The Debian 13 root holding the loongarch64 cross compiler and qemu 10.
ASSAY_TOOLROOT=${ASSAY_TOOLROOT:-$ASSAY_CACHE/trixie-root}

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { say "$*"; exit 1; }

# debian_mirror: print the URI this machine's own apt sources use for the
# Debian archive (not the security archive). The project never names a mirror
# of its own: it goes where the machine's apt already goes.
debian_mirror() {
    local uri=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
            /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
            /etc/apt/sources.list)
    fi
    [ -n "$uri" ] || return 1
    printf '%s\n' "${uri%/}"
}

# The qemu binary (static, from the Debian 13 root) for a Debian arch name.
qemu_for() {
    local q
    for q in "$ASSAY_TOOLROOT/usr/bin/qemu-$1-static" "$ASSAY_TOOLROOT/usr/bin/qemu-$1"; do
        [ -x "$q" ] && { printf '%s\n' "$q"; return 0; }
    done
    return 1
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# toolroot_run CMD: run a shell command inside the Debian 13 tool root, with
# the work tree bind-mounted at /src/assay, in a private mount namespace so
# nothing stays mounted if it fails or is killed.
toolroot_run() {
    unshare -m bash -euo pipefail -c '
        root=$1 top=$2 cmd=$3
        mkdir -p "$root/src/assay"
        mount --bind "$top" "$root/src/assay"
        mount -t proc proc "$root/proc"
        chroot "$root" /bin/bash -euo pipefail -c "$cmd"
    ' _ "$ASSAY_TOOLROOT" "$ASSAY_TOP" "$1"
}
