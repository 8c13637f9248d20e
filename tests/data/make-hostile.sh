#!/usr/bin/env bash
# Build the submissions an attacker with a vendor account would try after
# the outer archive gate (issue 19): bombs inside .deb control and data
# archives and inside artifact tarballs, damaged nested packages, zips whose
# central directory and local headers disagree, an oversized pax header,
# manifests whose text would steer a terminal or hide behind a NUL, and the
# cases that must be accepted (a UTF-8 name in a zip, "hello..tar.gz").
# tests/test_ingest.c runs each with its verdict; tests/data/README.md
# lists them. Real tools throughout (dpkg-deb, rpmbuild, ar, tar, bsdtar,
# zstd, gzip); Python only patches bytes no tool writes (a zip's central
# directory, an .rpm's payload).
#
# Expansions of gigabytes are never written out: a tar header for a
# sparse file, then one zstd frame of 1 GiB of zeros (about 40 KB) repeated:
# a zstd stream may be a series of frames.
#
#   tests/data/make-hostile.sh DIR
set -euo pipefail
. "$(dirname "$0")/hello-packages.sh"
out=$1
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cd "$w"

manifest() { # artifacts-json [product] [version] [vendor]
    cat <<JSON
{
  "manifest": 1,
  "product": "${2:-hello}",
  "version": "${3:-1.0}",
  "vendor": "${4:-Example Co.}",
  "artifacts": $1,
  "install": {"command": "true", "timeout": 60},
  "tests": [{"id": "runs", "name": "runs", "command": "true", "timeout": 30}],
  "uninstall": {"command": "true", "timeout": 60}
}
JSON
}
# sub NAME ARTIFACT-FILE ARCH: a submission holding one artifact.
sub() {
    rm -rf s; mkdir -p s/pkgs; cp "$2" "s/pkgs/$(basename "$2")"
    manifest "[{\"file\": \"pkgs/$(basename "$2")\", \"arch\": \"$3\"}]" > s/manifest.json
    tar -C s -czf "$out/$1.tar.gz" manifest.json pkgs
}

# 1 GiB of zeros as one zstd frame, and a stream of N GiB + the header of a
# tar holding one N GiB file named $2: zstd-bomb N NAME > file
printf '' > zeros.zst
truncate -s 1G zero1g
zstd -q -1 -c zero1g > zeros.zst
rm zero1g
zstd_bomb() {
    mkdir -p bomb; truncate -s "$1G" "bomb/$2"
    tar -C bomb -cf - "$2" 2>/dev/null | head -c 512 | zstd -q -c || true
    for _ in $(seq 0 "$1"); do cat zeros.zst; done
    rm -rf bomb
}

# --- nested packages -----------------------------------------------------
hello_deb arm64 gzip hello.deb
(mkdir x && cd x && ar x ../hello.deb)   # debian-binary control.tar.gz data.tar.gz
# mkdeb NAME CONTROL-MEMBER DATA-MEMBER: an ar archive in .deb order.
mkdeb() { rm -f "$1"; ar qc "$1" x/debian-binary "$2" "$3"; }

# A control archive of 4 GiB: a zero-filled entry before ./control.
mkdir -p cb; zstd_bomb 4 aaaa-filler > cb/control.tar.zst
# ... followed by nothing: the control file is never reached.
mkdeb hello_1.0_arm64.deb cb/control.tar.zst x/data.tar.gz; sub deb-control-bomb hello_1.0_arm64.deb aarch64
# A data archive of 16 GiB.
mkdir -p db; zstd_bomb 16 usr-bin-zeros > db/data.tar.zst
mkdeb hello_1.0_arm64.deb x/control.tar.gz db/data.tar.zst; sub deb-data-bomb hello_1.0_arm64.deb aarch64
# A data archive of garbage.
mkdir -p dg; head -c 2000 /dev/zero | tr '\0' 'G' > dg/data.tar.xz
mkdeb hello_1.0_arm64.deb x/control.tar.gz dg/data.tar.xz; sub deb-garbage-data hello_1.0_arm64.deb aarch64
# An Architecture field that would clear the screen and set the title.
mkdir -p ce/c; tar -C ce -xzf x/control.tar.gz
sed -i 's/^Architecture: arm64/Architecture: arm64\x1b[2J\x1b]0;pwned\x07/' ce/control
tar -C ce -czf ce/control.tar.gz ./control ./md5sums 2>/dev/null || tar -C ce -czf ce/control.tar.gz ./control
mkdeb hello_1.0_arm64.deb ce/control.tar.gz x/data.tar.gz; sub deb-escape-arch hello_1.0_arm64.deb aarch64

# An artifact tarball of 16 GiB.
zstd_bomb 16 zeros > hello-1.0.tar.zst; sub tarball-bomb hello-1.0.tar.zst noarch

# A tarball holding a 200 MiB file that starts like an ELF file (sparse:
# never written out), for the memory budget.
mkdir -p big; printf '\177ELF' > big/blob; truncate -s 200M big/blob
tar -C big -cf - blob | zstd -q -c > hello-1.0.tar.zst; rm -rf big; sub elf-200m hello-1.0.tar.zst noarch

hello_rpm good.rpm
# Where the payload starts: lead, signature header (padded to 8), header.
off=$(python3 - good.rpm <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
def end(o):
    n, size = struct.unpack(">II", b[o + 8:o + 16])
    return o + 16 + 16 * n + size
o = end(96)
o = (o + 7) & ~7
print(end(o))
PY
)
rpm_with() { head -c "$off" good.rpm > hello-1.0-1.x86_64.rpm; cat >> hello-1.0-1.x86_64.rpm; }
head -c 2000 /dev/zero | tr '\0' 'G' | rpm_with; sub rpm-garbage-payload hello-1.0-1.x86_64.rpm x86_64
# A cpio header (newc) whose name size is 0xFFFFFFFF.
printf '070701%s' "00000001000081ed000000000000000000000001000000000000000000000000000000000000000000000000FFFFFFFF00000000" \
    | gzip -c | rpm_with; sub rpm-huge-cpio-name hello-1.0-1.x86_64.rpm x86_64
# Cut inside its header.
head -c $((off - 40)) good.rpm > hello-1.0-1.x86_64.rpm; sub rpm-truncated hello-1.0-1.x86_64.rpm x86_64

# --- zip: what installers read (the central directory) and what streams --
rm -rf s; mkdir -p s/pkgs; printf '#!/bin/sh\necho hello\n' > s/hello.sh
tar -C s -czf s/pkgs/hello-1.0.tar.gz hello.sh; rm s/hello.sh
manifest '[{"file": "pkgs/hello-1.0.tar.gz", "arch": "noarch"}]' > s/manifest.json
(cd s && zip -q -X -r ../plain.zip manifest.json pkgs/hello-1.0.tar.gz)
python3 - plain.zip "$out" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
cd = b.rfind(b"PK\x05\x06")
n, size, start = struct.unpack("<HII", b[cd + 10:cd + 20])
# The central directory names /tmp/... where the local header says pkgs/...
c = bytearray(b)
i = c.index(b"pkgs/hello-1.0.tar.gz", start)
c[i:i + 21] = b"/tmp/hello-1.0.tar.gz"
open(sys.argv[2] + "/zip-central-absolute.zip", "wb").write(c)
# ... or another name of the same length, and a different size.
c = bytearray(b)
c[i:i + 21] = b"pkgs/hellx-1.0.tar.gz"
open(sys.argv[2] + "/zip-central-rename.zip", "wb").write(c)
# Overlapping entries: a second central record for the same local header
# (the artifact's bytes twice, under another name).
rec = start
recs = []
for _ in range(n):
    nl, el, cl = struct.unpack("<HHH", b[rec + 28:rec + 34])
    recs.append(bytes(b[rec:rec + 46 + nl + el + cl]))
    rec += 46 + nl + el + cl
dup = bytearray(recs[1])
dup[46:46 + 21] = b"pkgs/again-1.0.tar.gz"
cdir = b"".join(recs) + bytes(dup)
eocd = bytearray(b[cd:cd + 22])
struct.pack_into("<HHII", eocd, 8, n + 1, n + 1, len(cdir), start)
open(sys.argv[2] + "/zip-overlap.zip", "wb").write(bytes(b[:start]) + cdir + bytes(eocd))
PY
# A UTF-8 name, written by bsdtar in a UTF-8 locale: accepted.
mkdir -p s/docs; echo 'read me' > 's/docs/说明.txt'
(cd s && LC_ALL=C.UTF-8 bsdtar --format zip -cf "$out/utf8-name.zip" manifest.json pkgs docs)

# --- tar: an oversized pax header (100 KB of comment) -------------------
(cd s && tar --format=pax --pax-option="comment=$(head -c 100000 /dev/zero | tr '\0' x)" \
     -cf "$out/pax-huge.tar" manifest.json pkgs)

# --- the outer entry names and the manifest's text ------------------------
rm -rf s/docs
# An entry whose name would set the terminal's title.
mkdir -p s/esc; echo x > "s/esc/$(printf 'a\033]0;pwned\007b')"
tar -C s -cf "$out/escape-entry.tar" manifest.json pkgs esc; rm -rf s/esc
msub() { # NAME: s/ with the manifest on stdin
    cat > s/manifest.json; tar -C s -czf "$out/$1.tar.gz" manifest.json pkgs
}
A='[{"file": "pkgs/hello-1.0.tar.gz", "arch": "noarch"}]'
manifest "$A" 'hello\u001b[31m' | msub escape-product
manifest "$A" hello '1.0\n2' | msub newline-version
manifest "$A" hello 1.0 'Trusted\u0000 Evil' | msub nul-vendor
manifest "$A" "$(printf 'hello\377')" | msub bad-utf8-product
manifest "$A" | sed 's/"name": "runs"/"name": "runs\\u202egnp.exe"/' | msub bidi-name
manifest "$A" | sed 's/"vendor": "Example Co.",/&\n  "product": "other",/' | msub duplicate-key
{ manifest "$A"; echo '{"manifest": 1}'; } | msub trailing-json
for r in logs events.jsonl; do
    rm -rf s/pkgs; mkdir -p s/pkgs; echo x > "s/pkgs/$r"
    manifest "[{\"file\": \"pkgs/$r\", \"arch\": \"noarch\"}]" | msub "reserved-$r"
done
# "hello..tar.gz" is a file name, not a path that climbs: accepted.
rm -rf s/pkgs; mkdir -p s/pkgs; echo x > s/hello.sh; tar -C s -czf s/pkgs/hello..tar.gz hello.sh; rm s/hello.sh
manifest '[{"file": "pkgs/hello..tar.gz", "arch": "noarch"}]' | msub dots-in-name
ls "$out"
