#!/usr/bin/env bash
# The picture of the live view in the README (docs/img/live-view.png):
# `assay dispatch --once` on a terminal, over a lab of four emulated hosts
# (ci/lab.sh), certifying a small submission whose tests take a few
# seconds, one of them failing on the Loongson host, with one target no
# host of the lab serves. (The lab's hosts share this machine's shell and
# tools, so uname says x86_64 on all of them: the tests tell the hosts
# apart by their job directory, which is under the host's own folder.) script(1) gives the dispatcher a pseudo-terminal of
# 110 x 24 and keeps every byte it wrote; docs/term2html.py plays them
# back to the screen as it stood mid-run (escaped HTML), and headless
# Chromium takes its picture.
#
#   docs/live-view-shot.sh [OUT.png]     default docs/img/live-view.png
#
# Needs what ci/lab.sh needs (root), the agents in build-agents/
# (ci/build-agents.sh), a built assay ($ASSAY, default build/assay) and
# chromium. Leaves nothing behind: the lab goes down, its folder goes.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/docs/img/live-view.png}
assay=${ASSAY:-$top/build/assay}
[ -x "$assay" ] || { echo "live-view-shot: no assay at $assay (build it, or set ASSAY)" >&2; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "live-view-shot: chromium is not installed (apt-get install chromium)" >&2; exit 1; }
command -v script >/dev/null || { echo "live-view-shot: script(1) is missing (util-linux)" >&2; exit 1; }

work=$(mktemp -d)
chmod 711 "$work" # the hosts' run user reaches the lab's folders through it
cleanup() {
    "$top/ci/lab.sh" --dir "$work/hosts" down >/dev/null 2>&1 || true
    [ -n "${KEEP:-}" ] && cp "$work/typescript" "$KEEP" 2>/dev/null; rm -rf "$work"
}
trap cleanup EXIT

"$top/ci/lab.sh" --dir "$work/hosts" --net 40 up 4 >/dev/null
A=("$assay" --lab "$work/lab")
"${A[@]}" init --centre "Example Test Centre" >/dev/null
"${A[@]}" host import "$work/hosts/hosts.json" >/dev/null

# A noarch submission: a tarball and a manifest whose tests take a while.
sub=$work/sub
mkdir -p "$sub/payload" "$sub/pkgs"
# shellcheck disable=SC2016 # $(uname -m) is for the host's shell
printf '#!/bin/sh\necho "sumx on $(uname -m)"\n' >"$sub/payload/sumx"
chmod 755 "$sub/payload/sumx"
tar -C "$sub/payload" -czf "$sub/pkgs/sumx.tar.gz" sumx
cat >"$sub/manifest.json" <<'EOF'
{"manifest": 1, "product": "sumx", "version": "1.2.0", "vendor": "Example Co.",
 "artifacts": [{"file": "pkgs/sumx.tar.gz", "arch": "noarch"}],
 "install": {"command": "tar -xzf \"$ASSAY_ARTIFACT\"", "timeout": 120},
 "tests": [{"id": "version", "command": "./sumx", "timeout": 60},
           {"id": "checksum", "command": "case $ASSAY_JOB_DIR in */zhaoxin-*) sleep 1;; */kunpeng-*) sleep 3;; *) sleep 5;; esac; ./sumx", "timeout": 60},
           {"id": "threads", "command": "sleep 1; case $ASSAY_JOB_DIR in */loongson-*) echo 'threads: checksums differ' >&2; exit 1;; esac", "timeout": 30},
           {"id": "large-file", "command": "case $ASSAY_JOB_DIR in */zhaoxin-*) sleep 2;; *) sleep 8;; esac", "timeout": 300}],
 "uninstall": {"command": "rm -f sumx", "timeout": 60}}
EOF
tar -C "$sub" -czf "$work/sumx.tar.gz" manifest.json pkgs
pkg=$("${A[@]}" package add "$work/sumx.tar.gz" 2>/dev/null)
"${A[@]}" run submit "${pkg:0:12}" --profiles kunpeng-920-kylin-v10,phytium-ft2000plus-uos-20,loongson-3a5000-openeuler-22.03,zhaoxin-kx6000-uos-20,phytium-s2500-kylin-v10 >/dev/null 2>&1

# The terminal: 110 columns, 24 rows, colour.
TERM=xterm-256color script -q -e -c "stty cols 110 rows 24; ${A[*]} dispatch --once" "$work/typescript" >/dev/null
python3 "$top/docs/term2html.py" "$work/typescript" --rows 24 --cols 110 --rows-out "$work/rows" \
    >"$work/screen.html"
# The window: the rows shown, 19 px each (14 px * 1.35), the padding, and
# 100 px more: headless Chromium leaves the bottom of a window that is just
# high enough unpainted.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-extensions --hide-scrollbars \
    --user-data-dir="$work/chromium" --window-size=1000,$(($(cat "$work/rows") * 19 + 126)) \
    --screenshot="$work/shot.png" "file://$work/screen.html" >/dev/null 2>&1
[ -s "$work/shot.png" ] || { echo "live-view-shot: chromium wrote no picture" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
cp "$work/shot.png" "$out"
echo "$out: $(stat -c %s "$out") bytes"
