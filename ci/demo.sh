#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine (as root): install
# what is needed, build assay and its agents, start a lab of four emulated
# hosts (Kunpeng and Phytium on aarch64 and Loongson on loongarch64 under
# qemu, Zhaoxin on x86_64) and a reference host (this machine as what it is,
# x86_64 Debian 12), build a vendor's submission, certify it, and verify the
# signed reports. Everything it makes is in ./demo.
#
#   ci/demo.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$ASSAY_TOP"
OUT="$ASSAY_TOP/demo"
step() { printf '\n== %s\n' "$*"; }

step "dependencies"
ci/deps.sh

step "build assay and the static agents"
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build-demo -j"$(nproc)" >/dev/null
ci/build-agents.sh --require-all
A="$ASSAY_TOP/build-demo/assay"

# A previous demo's lab hosts are stopped before their folder goes.
[ -d "$OUT/hosts" ] && ci/lab.sh --dir "$OUT/hosts" down >/dev/null
rm -rf "$OUT"
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
toolroot_run "loongarch64-linux-gnu-gcc -O2 -pthread -o /src/assay/demo/build/sumx-loongarch64 /src/assay/ci/demo/sumx.c"
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
echo "  $OUT/sumx-1.2.0-submission.tar.gz"

step "the lab: four emulated hosts"
ci/lab.sh --dir "$OUT/hosts" --net 30 up 4 --reference
export ASSAY_LAB="$OUT/lab" ASSAY_AGENTS_DIR="$ASSAY_TOP/build-agents"

step "assay init, host import, host check"
"$A" init --centre "assay demo test centre (适配测试中心)"
"$A" host import "$OUT/hosts/hosts.json"
"$A" host list
for h in kunpeng-1 phytium-1 loongson-1 zhaoxin-1; do
    "$A" host check "$h" || true   # an emulated host differs from its profile: shown, not fatal
done

step "package add"
pkg=$("$A" package add "$OUT/sumx-1.2.0-submission.tar.gz")
"$A" package show "${pkg:0:12}"
"$A" package inspect "${pkg:0:12}" --profile zhaoxin-kx6000-uos-20 || true   # errors and warnings: shown, not fatal
# The Phytium failure, predicted from the code itself: sumx-aarch64 holds
# inline LSE atomics, which FT-2000+ lacks (docs/preflight.md, "Instructions").
"$A" package inspect "${pkg:0:12}" --profile phytium-ft2000plus-uos-20 --json > "$OUT/preflight-phytium.json" || true
jq -e '[.. | objects | select(.check? == "instructions" and .severity == "error" and (.lacks | test("LSE")))] | length > 0' \
    "$OUT/preflight-phytium.json" >/dev/null || die "preflight did not find the LSE atomics FT-2000+ lacks"

step "run submit"
run=$("$A" run submit "${pkg:0:12}" \
    --profiles kunpeng-920-kylin-v10,phytium-ft2000plus-uos-20,loongson-3a5000-openeuler-22.03,zhaoxin-kx6000-uos-20)
echo "  run $run"

step "dispatch"
"$A" dispatch --once
"$A" run show "$run"

step "the conclusion, as a CI pipeline reads it"
# run wait exits 0 when the run certifies its targets, 1 when the product
# failed on one, 3 when it is short of certified for another reason. Here:
# 1, the threaded mode dies with SIGILL on Phytium; and even where it
# passed, no target certifies (emulated, host does not match, glibc floor).
rc=0; "$A" run wait "$run" || rc=$?
echo "  run wait $run: exit $rc"
[ "$rc" = 1 ] || die "run wait $run: expected exit 1 (a product failure), got $rc"

step "a run that certifies: the reference host, an x86_64 Debian 12 machine that is what it says"
ref=$("$A" run submit "${pkg:0:12}" --profiles x86_64-debian-12)
"$A" dispatch --once
"$A" run wait "$ref"
"$A" report "$ref" -o "$OUT/report-reference.json"

step "the same package again on the reference host: is the difference real?"
# Two runs of one package on one host: the comparison says whether the
# figures differ by more than their noise (docs/report.md, "Benchmarks").
ref2=$("$A" run submit "${pkg:0:12}" --profiles x86_64-debian-12)
"$A" dispatch --once
"$A" run wait "$ref2"
"$A" compare "$ref" "$ref2"
"$A" report "$ref2" --baseline "$ref" --format html -o "$OUT/report-against-baseline.html"

step "the report, in every format"
"$A" report "$run" -o "$OUT/report.json"
"$A" report "$run" --format html -o "$OUT/report.html"
"$A" report "$run" --format junit -o "$OUT/junit.xml"
"$A" report "$run" --format md -o "$OUT/report.md"
"$A" report "$run" --format pdf -o "$OUT/report.pdf"   # to print, sign and seal (A4)
"$A" key export --public "$OUT/lab.pub.pem"
cat "$OUT/report.md"
# The SIGILL on Phytium is linked to what preflight found.
grep -q 'predicted by preflight: .* (LSE) in ' "$OUT/report.md" || die "the report does not link the SIGILL to preflight's finding"

step "verify the signed report"
"$A" verify "$OUT/report.json" --pubkey "$OUT/lab.pub.pem"
"$A" verify "$OUT/report-reference.json" --pubkey "$OUT/lab.pub.pem" --require-certified
# And with nothing but openssl and jq: docs/verify-openssl.sh, as
# docs/verify.md runs it.
mkdir -p "$OUT/openssl-check"
cp "$OUT/report.json" "$OUT/lab.pub.pem" docs/verify-openssl.sh "$OUT/openssl-check/"
(cd "$OUT/openssl-check" && sh verify-openssl.sh report.json lab.pub.pem && jq -r '.predicate.conclusion | "conclusion: \(.zh) \(.en)"' payload.json)

step "done"
cat <<DONE
  submission      $OUT/sumx-1.2.0-submission.tar.gz
  lab             $OUT/lab   (export ASSAY_LAB=$OUT/lab to look around)
  signed report   $OUT/report.json   (public key: $OUT/lab.pub.pem): 未认证 not certified
  certifying run  $OUT/report-reference.json: 已认证 certified (x86_64-debian-12)
  other forms     $OUT/report.html  $OUT/report.pdf  $OUT/junit.xml  $OUT/report.md
  two runs        $OUT/report-against-baseline.html (assay compare $ref $ref2)
  lab hosts       ci/lab.sh --dir $OUT/hosts down   to stop them
DONE
