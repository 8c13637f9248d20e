#!/usr/bin/env bash
# Install everything assay's build, cross builds, emulation, lab and tests need
# on a Debian 12 machine, as root. Idempotent: a second run changes nothing and
# takes seconds.
#
#   ci/deps.sh            host packages, Debian 13 tool root, cJSON source,
#                         binfmt_misc registration
#   ci/deps.sh --host     host packages only
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ "$(id -u)" = 0 ] || die "run as root (it installs packages)"

HOST_PKGS=(
    build-essential cmake pkg-config git ca-certificates file
    libssh2-1-dev libcjson-dev libarchive-dev libssl-dev libsqlite3-dev libiberty-dev
    libcriterion-dev
    libmicrohttpd-dev libcurl4-openssl-dev libargon2-dev python3-yaml llvm-16-dev
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    libclang-rt-14-dev clang-14
    debootstrap dpkg-dev
    openssh-server openssh-client
    rpm cpio libarchive-tools xz-utils zstd zip bc
    sqlite3 openssl libxml2-utils python3 util-linux jq shellcheck
    groff-base
    libcairo2-dev libpango1.0-dev libqrencode-dev fonts-noto-cjk poppler-utils tzdata
    chromium
)

host_packages() {
    local missing=() p
    for p in "${HOST_PKGS[@]}" libc6:arm64; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' \
            || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || { say "host packages: present"; return 0; }
    say "host packages: installing ${missing[*]}"
    # Foreign aarch64 binaries of vendors are dynamic: they need Debian's
    # arm64 loader and libc, which multiarch provides beside the native ones.
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq -o DPkg::Lock::Timeout=900 --no-install-recommends "${HOST_PKGS[@]}" libc6:arm64 >/dev/null
}

# Debian 12 has no loongarch64 cross compiler and its qemu (7.2) cannot run
# code from GCC 14 / glibc 2.41. Debian 13 has both; we keep them in a minimal
# Debian 13 root and never install Debian 13 packages on this system.
# It also holds the third DSSE verifier of tests/dsse: Debian 12's
# python3-securesystemslib (0.26) predates securesystemslib's DSSE module.
TOOLROOT_PKGS=(gcc-loongarch64-linux-gnu libc6-dev-loong64-cross cmake make qemu-user-static
               python3-securesystemslib python3-cryptography)

toolroot() {
    local stamp="$ASSAY_TOOLROOT/.assay-ready" mirror
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${TOOLROOT_PKGS[*]}" ]; then
        say "Debian 13 tool root: present ($ASSAY_TOOLROOT)"
        return 0
    fi
    mirror=$(debian_mirror) || die "cannot find the Debian archive in this machine's apt sources"
    if [ ! -x "$ASSAY_TOOLROOT/usr/bin/apt-get" ]; then
        say "Debian 13 tool root: debootstrap into $ASSAY_TOOLROOT"
        rm -rf "$ASSAY_TOOLROOT"
        mkdir -p "$(dirname "$ASSAY_TOOLROOT")"
        debootstrap --variant=minbase trixie "$ASSAY_TOOLROOT" "$mirror" >"$ASSAY_CACHE/debootstrap.log" 2>&1 \
            || die "debootstrap failed; see $ASSAY_CACHE/debootstrap.log"
    fi
    say "Debian 13 tool root: installing ${TOOLROOT_PKGS[*]}"
    local log="$ASSAY_CACHE/toolroot.log"
    { chroot "$ASSAY_TOOLROOT" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      chroot "$ASSAY_TOOLROOT" env DEBIAN_FRONTEND=noninteractive \
          apt-get install -y -qq --no-install-recommends "${TOOLROOT_PKGS[@]}" &&
      chroot "$ASSAY_TOOLROOT" apt-get clean; } >"$log" 2>&1 \
        || { tail -n 30 "$log" >&2; die "installing into the Debian 13 root failed; see $log"; }
    # qemu with QEMU_LD_PREFIX looks for the interpreter of new-world binaries
    # (/lib64/ld-linux-loongarch-lp64d.so.1) under the cross sysroot.
    local sysroot="$ASSAY_TOOLROOT/usr/loongarch64-linux-gnu"
    [ -e "$sysroot/lib64" ] || ln -s lib "$sysroot/lib64"
    printf '%s\n' "${TOOLROOT_PKGS[*]}" >"$stamp"
}

# Debian ships cJSON only as a shared library; static agents compile Debian's
# own source (with Debian's patches applied) into themselves.
cjson_source() {
    local dest="$ASSAY_CACHE/src" mirror conf
    if ls -d "$dest"/cjson-*/cJSON.c >/dev/null 2>&1; then
        say "cJSON source: present ($(ls -d "$dest"/cjson-*/ | head -1))"
        return 0
    fi
    mirror=$(debian_mirror) || die "cannot find the Debian archive in this machine's apt sources"
    conf="$ASSAY_CACHE/apt-src"
    mkdir -p "$conf/lists/partial" "$dest"
    # A private apt configuration with deb-src entries for this machine's own
    # Debian 12 mirror, so the system's apt state is not touched.
    printf 'deb-src %s bookworm main\n' "$mirror" >"$conf/sources.list"
    local aptopt=(-o "Dir::Etc::SourceList=$conf/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
                  -o "APT::Sandbox::User=root"
                  -o "Dir::State::Lists=$conf/lists" -o "Dir::Cache=$conf/cache")
    mkdir -p "$conf/cache/archives/partial"
    apt-get "${aptopt[@]}" update -qq
    (cd "$dest" && apt-get "${aptopt[@]}" source -qq cjson >/dev/null 2>&1) \
        || die "apt-get source cjson failed"
    ls -d "$dest"/cjson-*/cJSON.c >/dev/null 2>&1 || die "cJSON source unpacked without cJSON.c"
    say "cJSON source: fetched ($(ls -d "$dest"/cjson-*/ | head -1))"
}

# The portal's browser test (tests/portal-browser.sh): puppeteer-core and
# axe-core as pinned by tests/browser/package-lock.json. puppeteer-core
# downloads no browser (the test drives Debian's chromium); scripts are not
# run. Again only when the lockfile changed.
browser_modules() {
    # Node.js and npm: the machine's own when it has them (a Node.js from
    # elsewhere bundles its npm, and Debian's npm package would conflict
    # with it), else Debian's.
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        say "browser test modules: installing Debian's nodejs and npm"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 --no-install-recommends \
            nodejs npm >/dev/null || die "cannot install nodejs and npm"
    fi
    local dir="$ASSAY_TOP/tests/browser" stamp="$ASSAY_TOP/tests/browser/node_modules/.assay-lock"
    if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then
        say "browser test modules: present"
        return 0
    fi
    say "browser test modules: npm ci (tests/browser)"
    (cd "$dir" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund >/dev/null) \
        || die "npm ci in tests/browser failed"
    cp "$dir/package-lock.json" "$stamp"
}

host_packages
browser_modules
[ "${1:-}" = --host ] && exit 0
toolroot
cjson_source
"$ASSAY_TOP/ci/binfmt.sh"
