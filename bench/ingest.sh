#!/usr/bin/env bash
# Ingest and preflight of a large submission, against reading it once.
#
#   bench/ingest.sh [MiB]          (default 500)
#
# Makes a submission of about MiB MiB: an uncompressed tar holding the
# manifest and one .tar.zst artifact of real ELF binaries and MiB MiB of
# incompressible data. Baseline: `sha256sum` plus `bsdtar -tf` of the
# submission, which reads it twice, as a lab's scripts would. Then
# `assay package add` (copies it into the store, validates every entry,
# stores the artifact, and runs preflight over every ELF file inside the
# artifact for every profile) and `assay package inspect` alone. Goals
# (issues 6 and 7): at most 1.5x the baseline.
set -euo pipefail
. "$(dirname "$0")/common.sh"
MB=${1:-500}
w=$(mktemp -d /tmp/assay-ingest-XXXXXX)
trap 'rm -rf "$w"' EXIT
bench_build_assay

bench_submission "$w/sub.tar" "$MB"
size=$(stat -c %s "$w/sub.tar")
cat "$w/sub.tar" > /dev/null   # in the page cache for everyone

base() { t sha256sum "$w/sub.tar"; }
list() { t bsdtar -tf "$w/sub.tar"; }
add() { rm -rf "$w/lab"; ASSAY_LAB="$w/lab" "$A" init >/dev/null; t env ASSAY_LAB="$w/lab" "$A" package add "$w/sub.tar"; }
pkgid() { ASSAY_LAB="$w/lab" "$A" package list --json | grep -o '[0-9a-f]\{64\}' | head -1; }
inspect() { t env ASSAY_LAB="$w/lab" "$A" package inspect "$(pkgid)" --profile zhaoxin-kx6000-uos-20; }

s1=$(best 3 base); s2=$(best 3 list)
baseline=$(echo "$s1 + $s2" | bc)
tadd=$(best 3 add)
tins=$(best 3 inspect)
# It must have read the artifact: three ELF files inside the .tar.zst.
found=$(ASSAY_LAB="$w/lab" "$A" package inspect "$(pkgid)" --profile zhaoxin-kx6000-uos-20 --json || true)
grep -q '"elf_files":[[:space:]]*3' <<<"$found" || die "package inspect did not find the artifact's 3 ELF files"
echo "assay ingest, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m); submission $((size / 1048576)) MiB"
printf '  sha256sum                  %6.2fs\n' "$s1"
printf '  bsdtar -tf                 %6.2fs\n' "$s2"
printf '  baseline (both)            %6.2fs\n' "$baseline"
printf '  assay package add          %6.2fs   %.2fx the baseline\n' "$tadd" "$(echo "$tadd / $baseline" | bc -l)"
printf '  assay package inspect      %6.2fs   %.2fx the baseline\n' "$tins" "$(echo "$tins / $baseline" | bc -l)"
echo "reproduce: bench/ingest.sh $MB"
