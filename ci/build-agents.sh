#!/usr/bin/env bash
# Build the static assay-agent for every CPU family's triple into
# build-agents/<triple>/assay-agent, and say per triple: built (size, SHA-256)
# or skipped (why).
#
#   ci/build-agents.sh [--require-all] [TRIPLE...]
#
# A triple builds with `<triple>-gcc` from PATH when there is one (as in a
# user's CI). Without it, loongarch64 builds inside the Debian 13 tool root
# made by ci/deps.sh, with the source bind-mounted. cJSON is compiled in from
# Debian's source package (ci/deps.sh fetches it), since Debian ships no
# static libcjson. --require-all turns a skip into a failure (CI uses it).
set -euo pipefail
. "$(dirname "$0")/common.sh"

require_all=0
if [ "${1:-}" = --require-all ]; then require_all=1; shift; fi
TRIPLES=("$@")
[ ${#TRIPLES[@]} -gt 0 ] || TRIPLES=(x86_64-linux-gnu aarch64-linux-gnu loongarch64-linux-gnu)

OUT="$ASSAY_TOP/build-agents"
CJSON=$(ls -d "$ASSAY_CACHE"/src/cjson-*/ 2>/dev/null | head -1)
CJSON=${CJSON%/}
COMMIT=$(git -C "$ASSAY_TOP" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$COMMIT" != unknown ] && ! git -C "$ASSAY_TOP" diff --quiet HEAD -- 2>/dev/null; then
    COMMIT="$COMMIT-dirty"
fi

# Put a built agent in place only if its bytes changed, and by rename:
# tests running beside this script (ctest -j, a lab that is up) never see
# the agent missing or half written, and an unchanged agent keeps its file.
place() { # built installed
    cmp -s "$1" "$2" && return 0
    install -m 755 "$1" "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"
}

configure_and_build() { # src cjson build toolchain-file
    cmake -S "$1" -B "$3" -DCMAKE_TOOLCHAIN_FILE="$4" -DCMAKE_BUILD_TYPE=Release \
        -DASSAY_AGENT_ONLY=ON -DASSAY_CJSON_SOURCE_DIR="$2" -DASSAY_WERROR=ON \
        -DASSAY_COMMIT="$COMMIT" &&
        cmake --build "$3" -j"$(nproc)"
}

build_host() { # triple
    local b="$OUT/.build/$1"
    configure_and_build "$ASSAY_TOP" "$CJSON" "$b" "$ASSAY_TOP/toolchains/$1.cmake" \
        && place "$b/assay-agent" "$OUT/$1/assay-agent"
}

# Build output goes to a log, shown only when the build fails.
logged() { # triple command...
    local log="$OUT/.build/$1.log"
    shift
    mkdir -p "$OUT/.build"
    "$@" >"$log" 2>&1 && return 0
    tail -n 40 "$log" >&2
    return 1
}

# Build inside the Debian 13 root: a private mount namespace holds the bind
# mounts, so nothing is left mounted if the build fails or is killed.
build_toolroot() { # triple
    local t=$1
    unshare -m bash -euo pipefail -c '
        root=$1 top=$2 cjson=$3 t=$4 commit=$5
        mkdir -p "$root/src/assay" "$root/src/cjson"
        mount --bind "$top" "$root/src/assay"
        mount --bind "$cjson" "$root/src/cjson"
        mount -t proc proc "$root/proc"
        chroot "$root" /bin/bash -euo pipefail -c "
            b=/src/assay/build-agents/.build/$t
            cmake -S /src/assay -B \$b -DCMAKE_TOOLCHAIN_FILE=/src/assay/toolchains/$t.cmake \
                -DCMAKE_BUILD_TYPE=Release -DASSAY_AGENT_ONLY=ON -DASSAY_CJSON_SOURCE_DIR=/src/cjson \
                -DASSAY_WERROR=ON -DASSAY_COMMIT=$commit
            cmake --build \$b -j$(nproc)"
    ' _ "$ASSAY_TOOLROOT" "$ASSAY_TOP" "$CJSON" "$t" "$COMMIT" &&
        place "$OUT/.build/$t/assay-agent" "$OUT/$t/assay-agent"
}

rc=0
for t in "${TRIPLES[@]}"; do
    [ -f "$ASSAY_TOP/toolchains/$t.cmake" ] || { say "$t: no toolchains/$t.cmake"; rc=1; continue; }
    mkdir -p "$OUT/$t"
    how=""
    if [ -z "$CJSON" ]; then
        how="skip:no cJSON source in $ASSAY_CACHE/src (run ci/deps.sh)"
    elif command -v "$t-gcc" >/dev/null; then
        how=host
    elif [ -x "$ASSAY_TOOLROOT/usr/bin/$t-gcc" ]; then
        how=toolroot
    else
        how="skip:no $t-gcc on PATH and none in the Debian 13 tool root (run ci/deps.sh)"
    fi
    case "$how" in
    skip:*)
        rm -f "$OUT/$t/assay-agent"
        printf '%-24s skipped: %s\n' "$t" "${how#skip:}"
        [ $require_all = 1 ] && rc=1
        continue ;;
    host) logged "$t" build_host "$t" || { rm -f "$OUT/$t/assay-agent"; printf '%-24s FAILED (build with %s-gcc)\n' "$t" "$t"; rc=1; continue; } ;;
    toolroot) logged "$t" build_toolroot "$t" || { rm -f "$OUT/$t/assay-agent"; printf '%-24s FAILED (build in %s)\n' "$t" "$ASSAY_TOOLROOT"; rc=1; continue; } ;;
    esac
    a="$OUT/$t/assay-agent"
    printf '%-24s built: %s, %d bytes, sha256 %s (%s)\n' "$t" "${a#"$ASSAY_TOP"/}" \
        "$(stat -c %s "$a")" "$(sha256_of "$a")" "$([ "$how" = host ] && echo "$t-gcc" || echo "Debian 13 tool root")"
done
exit $rc
