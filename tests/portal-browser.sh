#!/usr/bin/env bash
# The portal in a real browser (docs/portal.md): Debian's chromium, driven
# by puppeteer-core (tests/browser, `npm ci` by ci/deps.sh; no browser is
# downloaded), against a live `assay serve` and `assay dispatch` on a
# local lab. tests/browser/portal.mjs is the flow; this script makes the
# lab, the accounts and the submissions, and stops everything it started,
# also when ctest kills it.
#
#   tests/portal-browser.sh BUILD_DIR
# Exit 0: the flow passed; 1: it failed; 77: no chromium or no node
# modules (a failure instead when ASSAY_REQUIRE_BROWSER is set).
#
# The run is the demo's: its submission (ci/demo/submission.sh: sumx for
# aarch64, loongarch64 and x86_64, as an .rpm, a .deb and a tarball) on
# the four emulated hosts of the lab, one per CPU family, with their
# profiles; its Phytium job fails, as the demo's does (ci/demo.sh).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
A="$build/assay"
skip() {
    if [ -n "${ASSAY_REQUIRE_BROWSER:-}" ]; then echo "FAIL: $1"; exit 1; fi
    echo "SKIP: $1"
    exit 77
}
[ -x /usr/bin/chromium ] || skip "chromium is not installed (ci/deps.sh installs it)"
[ -d "$top/tests/browser/node_modules/puppeteer-core" ] || skip "no node modules: ci/deps.sh runs npm ci in tests/browser"
command -v node >/dev/null || skip "node is not installed (ci/deps.sh installs nodejs)"
. "$top/ci/common.sh"
for arch in aarch64 loongarch64; do
    qemu_for $arch >/dev/null || skip "no qemu-$arch: ci/deps.sh makes the Debian 13 tool root"
done
command -v aarch64-linux-gnu-gcc >/dev/null || skip "no aarch64 cross compiler (ci/deps.sh installs it)"

work="$build/portal-browser"
hosts="$work/hosts"
export ASSAY_LAB="$work/lab"
export ASSAY_AGENTS_DIR=${ASSAY_AGENTS_DIR:-$top/build-agents}
rm -rf "$work"
mkdir -p "$work/shots"
chmod 711 "$work"

pids=()
cleanup() {
    [ -z "${watcher:-}" ] || kill "$watcher" 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    "$top/ci/lab.sh" --dir "$hosts" down >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 1' TERM INT HUP
# ctest kills a test that runs too long with SIGKILL, which no trap sees,
# and kills its descendants with it: a watcher that is not one (started
# from a subshell that exits at once, so init adopts it) stops the lab, the
# server and the dispatcher when this script is gone.
watch_parent() {
    local me=$1
    while kill -0 "$me" 2>/dev/null; do sleep 1; done
    for p in $(cat "$work/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    "$top/ci/lab.sh" --dir "$hosts" down >/dev/null 2>&1 || true
}
(setsid bash -c "$(declare -f watch_parent); top='$top' work='$work' hosts='$hosts' watch_parent $$" \
    </dev/null >/dev/null 2>&1 & echo $! >"$work/watcher")
watcher=$(cat "$work/watcher")

# The lab: the four families' hosts (net 60 or the next free one, so that
# concurrent labs never collide), owned by this script (ci/lab.sh's own
# watcher takes it down too when this script ends).
ASSAY_LAB_OWNER=$$ "$top/ci/lab.sh" --dir "$hosts" --net 60 up 4 >"$work/lab.log" 2>&1 || { cat "$work/lab.log"; exit 1; }
"$A" init --centre "Test Centre 测试中心" >/dev/null
"$A" host import "$hosts/hosts.json" >/dev/null
profiles=$(jq -r '[.hosts[].profile] | join(",")' "$hosts/hosts.json")

# The accounts: two vendors of two organisations, an engineer.
for u in "acme vendor --org acme" "globex vendor --org globex" "alice engineer"; do
    set -- $u
    "$A" user add "$1" --role "$2" ${3:-} ${4:-} >/dev/null
    printf '%s-password-1\n' "$1" | "$A" user passwd "$1" >/dev/null
done

# The demo's submission, as the vendor submits it; a hostile one (an
# entry that climbs out of the archive); a bad manifest.
"$top/ci/demo/submission.sh" "$work/sub" >"$work/submission.log" 2>&1 || { cat "$work/submission.log"; exit 1; }
mv "$work/sub/sumx-1.2.0-submission.tar.gz" "$work/"
sed 's/"timeout": 60}/"timeout": -1}/' "$work/sub/pkg/manifest.json" >"$work/bad-manifest.json"
mkdir -p "$work/hostile"
cp "$work/sub/pkg/manifest.json" "$work/hostile/manifest.json"
echo x >"$work/hostile/artifact"
python3 - "$work/hostile-1.0.tar.gz" "$work/hostile" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as t:
    t.add(sys.argv[2] + "/manifest.json", "manifest.json")
    t.add(sys.argv[2] + "/artifact", "../../escape/sumx-1.2.0-1.x86_64.rpm")
PY

"$A" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
pids+=($!)
# The dispatcher starts once the engineer's page watches the queued run
# (portal.mjs writes the file then), so that every step reaches the page
# live, however slow the browser is on a busy machine.
(while [ ! -e "$work/dispatch-go" ]; do sleep 0.1; done; exec "$A" dispatch --wait) >"$work/dispatch.log" 2>&1 &
pids+=($!)
printf '%s\n' "${pids[@]}" >"$work/pids"
# The server's first line says where it listens (progress, not time).
for _ in $(seq 1 200); do
    url=$(sed -n 's/^assay serve: listening on //p' "$work/serve.out")
    [ -n "$url" ] && break
    kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
    sleep 0.05
done
[ -n "$url" ] || { echo "FAIL: assay serve did not start"; exit 1; }
keyid=$("$A" key show --json | jq -r .keyid)

rc=0
PORTAL_URL="$url" PORTAL_OUT="$work" PORTAL_KEYID="$keyid" PORTAL_PROFILES="$profiles" \
    PORTAL_DB="$ASSAY_LAB/assay.db" PORTAL_DISPATCH_GO="$work/dispatch-go" \
    PORTAL_STEPS=$(jq '2 + (.tests | length) + (.benchmarks | length)' "$work/sub/pkg/manifest.json") \
    timeout 240 node "$top/tests/browser/portal.mjs" &
pids+=($!)
printf '%s\n' "${pids[@]}" >"$work/pids" # the watcher stops the browser's driver too
wait "${pids[2]}" || rc=1
if grep -qE 'Sanitizer|runtime error' "$work/serve.log"; then
    echo "FAIL: the server's log has a sanitizer report"
    grep -m3 -E 'Sanitizer|runtime error' "$work/serve.log"
    rc=1
fi
echo "screenshots: $work/shots"
exit $rc
