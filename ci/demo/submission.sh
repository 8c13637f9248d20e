#!/usr/bin/env bash
# The demo's submission, as its vendor makes it: sumx 1.2.0 (ci/demo/sumx.c)
# built for three CPUs with the cross compilers (aarch64 from Debian 12,
# loongarch64 from the Debian 13 tool root), packaged as an .rpm (x86_64),
# a .deb (arm64) and a tarball (loongarch64), with its manifest. ci/demo.sh
# certifies it; tests/portal-browser.sh uploads it through the portal.
#
#   ci/demo/submission.sh OUT
# leaves OUT/build (binaries, package trees), OUT/pkg (manifest.json and
# pkgs/) and OUT/sumx-1.2.0-submission.tar.gz, and prints that path last.
set -euo pipefail
. "$(dirname "$0")/../common.sh"
[ $# -eq 1 ] || die "usage: submission.sh OUT"
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
cd "$ASSAY_TOP"
step() { printf '\n== %s\n' "$*"; }

rm -rf "$OUT/build" "$OUT/pkg" "$OUT/sumx-1.2.0-submission.tar.gz"
mkdir -p "$OUT/build" "$OUT/pkg"

step "the vendor builds sumx 1.2.0 for three CPUs (ci/demo/sumx.c)"
# x86_64: the distribution's compiler, baseline ISA. The vendor also links
# SQLite, which the target OSes' base installs do not list: a preflight
# warning (a missing library), since the lab's Debian hosts do have it.
gcc -O2 -pthread -o "$OUT/build/sumx-x86_64" ci/demo/sumx.c -Wl,--no-as-needed -lsqlite3 -Wl,--as-needed
# aarch64: built for Kunpeng 920 only (ARMv8.2, LSE atomics inline). A
# real and common mistake: Phytium FT-2000+ has no LSE atomics, and the
# threaded mode dies with SIGILL there.
aarch64-linux-gnu-gcc -O2 -pthread -march=armv8.2-a -mno-outline-atomics -o "$OUT/build/sumx-aarch64" ci/demo/sumx.c
# loongarch64: Debian 13's cross compiler (new-world ABI), in the tool root.
# The tool root sees only the source tree (at /src/assay): build in a
# folder of the root's own /tmp, wherever OUT is, and take the binary out.
t=$(mktemp -d "$ASSAY_TOOLROOT/tmp/sumx.XXXXXX")
toolroot_run "loongarch64-linux-gnu-gcc -O2 -pthread -o /tmp/${t##*/}/sumx-loongarch64 /src/assay/ci/demo/sumx.c" || { rm -rf "$t"; exit 1; }
mv "$t/sumx-loongarch64" "$OUT/build/"
rmdir "$t"
file -b "$OUT"/build/sumx-* | cut -c1-60 | sed 's/^/  /'

step "the vendor packages it: .rpm (x86_64), .deb (arm64), tarball (loongarch64)"
w="$OUT/build"
# rpm, by rpmbuild
mkdir -p "$w/rpm/SPECS"
cat > "$w/rpm/SPECS/sumx.spec" <<SPEC
Name: sumx
Version: 1.2.0
Release: 1
Summary: file checksummer
License: MIT
%description
A small file checksummer.
%install
mkdir -p %{buildroot}/usr/bin
install -m 755 $w/sumx-x86_64 %{buildroot}/usr/bin/sumx
%files
/usr/bin/sumx
SPEC
rpmbuild -bb --quiet --define "_topdir $w/rpm" --define "_build_id_links none" --define "__strip /bin/true" \
    --target x86_64 "$w/rpm/SPECS/sumx.spec" >/dev/null 2>&1
mkdir -p "$OUT/pkg/pkgs"
cp "$w/rpm/RPMS/x86_64/sumx-1.2.0-1.x86_64.rpm" "$OUT/pkg/pkgs/"
# deb, by dpkg-deb
mkdir -p "$w/deb/DEBIAN" "$w/deb/usr/bin"
install -m 755 "$w/sumx-aarch64" "$w/deb/usr/bin/sumx"
cat > "$w/deb/DEBIAN/control" <<CTL
Package: sumx
Version: 1.2.0
Architecture: arm64
Maintainer: Example Software Co., Ltd. <dev@example.invalid>
Description: a small file checksummer
CTL
dpkg-deb --root-owner-group --build "$w/deb" "$OUT/pkg/pkgs/sumx_1.2.0_arm64.deb" >/dev/null
# tarball
mkdir -p "$w/tar/usr/bin"
install -m 755 "$w/sumx-loongarch64" "$w/tar/usr/bin/sumx"
tar -C "$w/tar" -czf "$OUT/pkg/pkgs/sumx-1.2.0-loongarch64.tar.gz" usr
# The manifest. Lab hosts share one machine, so the install step unpacks
# the package into the job directory with the package's own tools
# (dpkg-deb, rpm2cpio, tar) instead of installing it system-wide.
cat > "$OUT/pkg/manifest.json" <<'JSON'
{
  "manifest": 1,
  "product": "sumx",
  "version": "1.2.0",
  "vendor": "Example Software Co., Ltd.",
  "description": "A small file checksummer",
  "artifacts": [
    {"file": "pkgs/sumx-1.2.0-1.x86_64.rpm", "arch": "x86_64"},
    {"file": "pkgs/sumx_1.2.0_arm64.deb", "arch": "aarch64"},
    {"file": "pkgs/sumx-1.2.0-loongarch64.tar.gz", "arch": "loongarch64", "abi": "new"}
  ],
  "install": {"command": "mkdir -p root && case \"$ASSAY_ARTIFACT\" in *.deb) dpkg-deb -x \"$ASSAY_ARTIFACT\" root ;; *.rpm) (cd root && rpm2cpio \"$ASSAY_ARTIFACT\" | cpio -idm --quiet) ;; *) tar -C root -xzf \"$ASSAY_ARTIFACT\" ;; esac && root/usr/bin/sumx --version", "timeout": 300},
  "tests": [
    {"id": "version", "name": "reports its version", "command": "root/usr/bin/sumx --version | grep -qx 'sumx 1.2.0'", "timeout": 60},
    {"id": "known-vector", "name": "FNV-1a of 'hello'", "command": "printf hello > h && root/usr/bin/sumx h | grep -q '^a430d84680aabd0b  h$'", "timeout": 60},
    {"id": "empty-file", "name": "the empty file", "command": ": > e && root/usr/bin/sumx e | grep -q '^cbf29ce484222325  e$'", "timeout": 60},
    {"id": "missing-file", "name": "a missing file exits 2", "command": "root/usr/bin/sumx no-such-file", "timeout": 60, "expect_exit": 2},
    {"id": "check-list", "name": "writes and checks a list", "command": "head -c 100000 /dev/urandom > a && head -c 3000 /dev/urandom > b && root/usr/bin/sumx a b > list && root/usr/bin/sumx --check list", "timeout": 120},
    {"id": "parallel", "name": "four threads agree with one", "command": "head -c 8000000 /dev/urandom > r && s=$(root/usr/bin/sumx --blocks r) && p=$(root/usr/bin/sumx --parallel 4 r) && [ \"$s\" = \"$p\" ]", "timeout": 300}
  ],
  "benchmarks": [
    {"id": "throughput", "name": "hash throughput", "command": "root/usr/bin/sumx --bench 32", "timeout": 300, "unit": "MB/s",
     "repeat": {"min": 5, "max": 15, "target_rse": 0.02, "budget": 120, "warmup": 1}},
    {"id": "startup", "name": "start and exit", "command": "root/usr/bin/sumx --version", "timeout": 60, "unit": "ms",
     "repeat": {"min": 5, "max": 30, "target_rse": 0.02, "budget": 60, "warmup": 1}}
  ],
  "uninstall": {"command": "rm -rf root", "timeout": 120},
  "inspect": ["root/usr/bin/sumx"]
}
JSON
tar -C "$OUT/pkg" -czf "$OUT/sumx-1.2.0-submission.tar.gz" manifest.json pkgs
echo "$OUT/sumx-1.2.0-submission.tar.gz"
