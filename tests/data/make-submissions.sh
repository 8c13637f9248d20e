#!/usr/bin/env bash
# Build submissions with real tools (tar, bsdtar, zip, zstd, mknod,
# dpkg-deb, rpmbuild) into DIR: good ones, and the hostile or broken ones a
# test centre receives. tests/test_ingest.c ingests each and checks the
# verdict; tests/data/README.md lists them with the error each must get.
# Python's zipfile makes only the zip entries no zip tool will write (a
# ".." or absolute name). Nothing here is committed but this script.
#
#   tests/data/make-submissions.sh DIR
set -euo pipefail
. "$(dirname "$0")/hello-packages.sh"
out=$1
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cd "$w"

manifest() { # artifacts-json
    cat <<JSON
{
  "manifest": 1,
  "product": "hello",
  "version": "1.0",
  "vendor": "Example Co.",
  "artifacts": $1,
  "install": {"command": "tar -xzf \"\$ASSAY_ARTIFACT\"", "timeout": 60},
  "tests": [{"id": "runs", "command": "./hello.sh", "timeout": 30}],
  "uninstall": {"command": "rm -f hello.sh", "timeout": 60}
}
JSON
}
NOARCH='[{"file": "pkgs/hello-1.0.tar.gz", "arch": "noarch"}]'

fresh() { rm -rf s; mkdir -p s/pkgs; printf '#!/bin/sh\necho hello\n' > s/hello.sh; chmod 755 s/hello.sh;
          tar -C s -czf s/pkgs/hello-1.0.tar.gz hello.sh; rm s/hello.sh; manifest "$NOARCH" > s/manifest.json; }

# --- good ---
fresh; tar -C s -czf "$out/ok.tar.gz" manifest.json pkgs

# --- a benchmark run until stable (test_report's figures and comparisons) ---
fresh
cat > s/manifest.json <<'JSON'
{
  "manifest": 1,
  "product": "hello",
  "version": "1.0",
  "vendor": "Example Co.",
  "artifacts": [{"file": "pkgs/hello-1.0.tar.gz", "arch": "noarch"}],
  "install": {"command": "tar -xzf \"$ASSAY_ARTIFACT\"", "timeout": 60},
  "tests": [{"id": "runs", "command": "./hello.sh", "timeout": 30}],
  "benchmarks": [{"id": "startup", "name": "start and exit", "command": "./hello.sh", "timeout": 30,
                  "repeat": {"min": 3, "max": 30, "target_rse": 0.02, "budget": 600, "warmup": 1}, "unit": "ms"}],
  "uninstall": {"command": "rm -f hello.sh", "timeout": 60}
}
JSON
tar -C s -czf "$out/bench.tar.gz" manifest.json pkgs
# Accepted, with a name a terminal must lay out: markup, and CJK wider than
# its column. (Control characters, bidi overrides and newlines in a
# manifest's text are refused: see make-hostile.sh.)
fresh; sed -i 's/"product": "hello"/"product": "产品<b>名称很长很长很长的产品"/; s/"version": "1.0"/"version": "1.0-2"/' s/manifest.json
tar -C s -czf "$out/hostile-names.tar.gz" manifest.json pkgs
fresh; tar -C s -cJf "$out/ok.tar.xz" manifest.json pkgs
fresh; (cd s && zip -qr "$out/ok.zip" manifest.json pkgs)
fresh; tar -C s -cf - manifest.json pkgs | zstd -q > "$out/ok.tar.zst"

# A .deb for arm64 and an .rpm for x86_64, both built by their own tools.
hello_deb arm64 gzip hello_1.0_arm64.deb
hello_deb amd64 xz hello_1.0_amd64.deb
hello_rpm hello-1.0-1.x86_64.rpm

rm -rf s; mkdir -p s/pkgs; cp hello_1.0_arm64.deb hello-1.0-1.x86_64.rpm s/pkgs/
manifest '[{"file": "pkgs/hello_1.0_arm64.deb", "arch": "aarch64"}, {"file": "pkgs/hello-1.0-1.x86_64.rpm", "arch": "x86_64"}]' > s/manifest.json
tar -C s -czf "$out/ok-deb-rpm.tar.gz" manifest.json pkgs

# --- package metadata that contradicts the manifest ---
rm -rf s; mkdir -p s/pkgs; cp hello_1.0_amd64.deb s/pkgs/hello_1.0_arm64.deb
manifest '[{"file": "pkgs/hello_1.0_arm64.deb", "arch": "aarch64"}]' > s/manifest.json
tar -C s -czf "$out/bad-deb-arch.tar.gz" manifest.json pkgs
rm -rf s; mkdir -p s/pkgs; cp hello-1.0-1.x86_64.rpm s/pkgs/hello-1.0-1.loongarch64.rpm
manifest '[{"file": "pkgs/hello-1.0-1.loongarch64.rpm", "arch": "loongarch64"}]' > s/manifest.json
tar -C s -czf "$out/bad-rpm-arch.tar.gz" manifest.json pkgs
rm -rf s; mkdir -p s/pkgs; echo 'not a package' > s/pkgs/hello.rpm
manifest '[{"file": "pkgs/hello.rpm", "arch": "x86_64"}]' > s/manifest.json
tar -C s -czf "$out/bad-fake-rpm.tar.gz" manifest.json pkgs

# --- broken submissions ---
fresh; rm s/manifest.json; tar -C s -czf "$out/no-manifest.tar.gz" pkgs
fresh; printf '{\n  "manifest": 1,\n  "product": "hello"\n  "version": "1.0"\n}\n' > s/manifest.json
tar -C s -czf "$out/bad-json.tar.gz" manifest.json pkgs
fresh; manifest '[{"file": "pkgs/missing.tar.gz", "arch": "noarch"}]' > s/manifest.json
tar -C s -czf "$out/missing-artifact.tar.gz" manifest.json pkgs
fresh; manifest '[{"file": "pkgs/hello-1.0.tar.gz", "arch": "arm64"}]' > s/manifest.json
tar -C s -czf "$out/bad-arch-name.tar.gz" manifest.json pkgs
echo 'this is not an archive' > "$out/not-an-archive.tar.gz"
fresh; tar -C s -czf - manifest.json pkgs | head -c 300 > "$out/truncated.tar.gz"
fresh; (cd s && zip -qr - manifest.json pkgs) | head -c 300 > "$out/truncated.zip"

# --- manifests that do not validate (one fault each) ---
# sub NAME: the submission in s/ as NAME.tar.gz.
sub() { tar -C s -czf "$out/$1.tar.gz" manifest.json pkgs; }
# 100000 levels of [...], valid JSON: cJSON alone would recurse 1000 deep
# and then say only "not valid JSON".
fresh; { printf '{"manifest": 1, "description": '; head -c 100000 /dev/zero | tr '\0' '['
         head -c 100000 /dev/zero | tr '\0' ']'; printf '}\n'; } > s/manifest.json; sub deep-json
fresh; manifest "$NOARCH" | sed '0,/"timeout": 60/s//"timeout": "60"/' > s/manifest.json; sub wrong-type-timeout
fresh; manifest "$NOARCH" | sed 's/"tests": \[.*\],/"tests": {},/' > s/manifest.json; sub wrong-type-tests
fresh; manifest "$NOARCH" | sed 's/"product": "hello"/"product": 42/' > s/manifest.json; sub wrong-type-product
# Multi-MiB strings, written by head and tr: no argument can carry them.
fresh; { printf '{"manifest": 1, "product": "'; head -c 4194304 /dev/zero | tr '\0' p
         printf '",\n'; manifest "$NOARCH" | sed '1,/"product"/d'; } > s/manifest.json; sub huge-product
fresh; { manifest "$NOARCH" | sed '/"tests"/,$d'; printf '  "tests": [{"id": "runs", "command": "echo '
         head -c 524288 /dev/zero | tr '\0' y; printf '", "timeout": 30}],\n'
         manifest "$NOARCH" | sed '1,/"tests"/d'; } > s/manifest.json; sub huge-command
fresh; manifest "$NOARCH" | sed 's/"vendor": "Example Co.",/&\n  "licence": "MIT",/' > s/manifest.json; sub unknown-field
fresh; manifest "$NOARCH" | sed 's/"timeout": 30}/"timout": 30}/' > s/manifest.json; sub unknown-nested-field
fresh; manifest '[{"file": "pkgs/hello-1.0.tar.gz", "arch": "noarch"}, {"file": "pkgs/hello-1.0.tar.gz", "arch": "x86_64"}]' \
    > s/manifest.json; sub duplicate-artifact

# --- hostile archives ---
fresh; ln -s /etc/passwd s/pkgs/link; tar -C s -cf "$out/symlink.tar" manifest.json pkgs
fresh; ln -s /etc/passwd s/pkgs/link; (cd s && zip -qry "$out/symlink.zip" manifest.json pkgs)
fresh; ln s/pkgs/hello-1.0.tar.gz s/pkgs/hard; tar -C s -cf "$out/hardlink.tar" manifest.json pkgs/hello-1.0.tar.gz pkgs/hard
# A hard link to a file outside the archive: GNU tar rewrites the link's
# target (R: not the regular file's own name; -P: keep the leading /).
fresh; ln s/pkgs/hello-1.0.tar.gz s/pkgs/hard
tar -C s -cf "$out/hardlink-escape.tar" -P --transform 's,^pkgs/hello-1.0.tar.gz$,/etc/passwd,R' \
    manifest.json pkgs/hello-1.0.tar.gz pkgs/hard
fresh; bsdtar -C s -cf "$out/dotdot.tar" -s ',^pkgs/hello,../../escape/hello,' manifest.json pkgs
fresh; tar -C s -cf "$out/absolute.tar" manifest.json pkgs
bsdtar -C s -rf "$out/absolute.tar" -P -s ',^manifest.json$,/tmp/assay-escape/manifest.json,' manifest.json
# No zip tool writes a ".." or absolute name (zip strips them): zipfile does.
fresh; python3 - "$out" <<'PY'
import sys, zipfile
for name, evil in (("dotdot.zip", "../../escape/hello-1.0.tar.gz"),
                   ("absolute.zip", "/tmp/assay-escape/hello-1.0.tar.gz")):
    with zipfile.ZipFile(sys.argv[1] + "/" + name, "w", zipfile.ZIP_DEFLATED) as z:
        z.write("s/manifest.json", "manifest.json")
        z.writestr(zipfile.ZipInfo(evil), open("s/pkgs/hello-1.0.tar.gz", "rb").read())
PY
fresh; touch s/pkgs/suid; chmod 4755 s/pkgs/suid; tar -C s -cf "$out/setuid.tar" manifest.json pkgs
fresh; mknod s/pkgs/dev c 1 3; tar -C s -cf "$out/device.tar" manifest.json pkgs
fresh; mkfifo s/pkgs/pipe; tar -C s -cf "$out/fifo.tar" manifest.json pkgs
fresh; tar -C s -cf "$out/duplicate.tar" manifest.json pkgs; tar -C s -rf "$out/duplicate.tar" manifest.json
fresh; tar -C s -cf "$out/duplicate-member.tar" manifest.json pkgs; tar -C s -rf "$out/duplicate-member.tar" pkgs/hello-1.0.tar.gz
# A path of 1254 bytes, in components of 250 (GNU tar's long-name records).
fresh; long=pkgs; for i in 1 2 3 4 5; do long=$long/$(head -c 250 /dev/zero | tr '\0' "$i"); done
mkdir -p "s/$(dirname "$long")"; echo x > "s/$long"; tar -C s -cf "$out/long-name.tar" manifest.json "$long"
fresh; for i in $(seq 1 20); do echo $i > s/pkgs/f$i; done; tar -C s -czf "$out/many-entries.tar.gz" manifest.json pkgs
# A good submission followed by a million empty files: an mtree spec that
# bsdtar reads as the list of entries (files absent on disk come out empty),
# streamed into zstd. 512 MiB of tar headers, under 2 MiB on disk.
fresh; (cd s && { printf '#mtree\nmanifest.json type=file\npkgs type=dir\npkgs/hello-1.0.tar.gz type=file\n'
                  awk 'BEGIN { for (i = 0; i < 1000000; i++) printf "many/%07d type=file mode=0644 size=0\n", i }'
                } | bsdtar -cf - @- | zstd -q -9 > "$out/million.tar.zst")
# 96 MiB of zeros: about 100 KiB compressed, a 1000:1 ratio.
fresh; head -c 100663296 /dev/zero > s/pkgs/zeros; tar -C s -czf "$out/bomb.tar.gz" manifest.json pkgs
(cd s && zip -q9r "$out/bomb.zip" manifest.json pkgs)
ls "$out"
