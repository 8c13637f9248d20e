#!/usr/bin/env bash
# Register Debian 13's static qemu for aarch64 and loongarch64 with
# binfmt_misc, so foreign agents and vendors' foreign binaries run as they
# would on a real host. Idempotent.
#
#   ci/binfmt.sh          register (mounting binfmt_misc if needed)
#   ci/binfmt.sh --check  exit 0 if both are registered to our qemu
#
# Where binfmt_misc is unavailable, the controller's per-host `launcher`
# setting (for example the qemu path) is the fallback: ci/lab.sh sets it.
set -euo pipefail
. "$(dirname "$0")/common.sh"

BINFMT=/proc/sys/fs/binfmt_misc
# ELF header magic and mask for each machine, as qemu's qemu-binfmt-conf.sh
# writes them: 64-bit, little-endian, ET_EXEC or ET_DYN, e_machine.
declare -A MAGIC=(
    [aarch64]='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
    [loongarch64]='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x02\x01'
)
MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'

registered() { # arch qemu
    local e="$BINFMT/assay-$1"
    [ -f "$e" ] && grep -qx enabled "$e" && grep -qx "interpreter $2" "$e"
}

check_only=0
[ "${1:-}" = --check ] && check_only=1

if [ ! -f "$BINFMT/register" ]; then
    [ $check_only = 1 ] && exit 1
    mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null \
        || die "binfmt_misc is not available here (mount failed): use the per-host launcher setting"
fi

rc=0
for arch in aarch64 loongarch64; do
    qemu=$(qemu_for "$arch") || die "no qemu for $arch in $ASSAY_TOOLROOT: run ci/deps.sh"
    if registered "$arch" "$qemu"; then
        [ $check_only = 1 ] || say "binfmt $arch: registered ($qemu)"
        continue
    fi
    [ $check_only = 1 ] && { rc=1; continue; }
    [ -f "$BINFMT/assay-$arch" ] && echo -1 >"$BINFMT/assay-$arch"
    # F: the kernel opens qemu now, so it works inside chroots and other
    # mount namespaces. Newer entries are matched first, so ours wins over an
    # older qemu registered for the same magic.
    printf ':assay-%s:M::%s:%s:%s:F' "$arch" "${MAGIC[$arch]}" "$MASK" "$qemu" >"$BINFMT/register"
    say "binfmt $arch: registered ($qemu)"
done
exit $rc
