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
# The run is on the lab's fastest host only, the reference host debian-1
# (this machine as the x86_64 Debian 12 host it is), with the demo's sumx
# built for it: the four emulated hosts take longer than this test's
# budget, and ci/demo.sh covers them.
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

# The lab: debian-1 only (net 60 or the next free one, so that
# concurrent labs never collide), owned by this script (ci/lab.sh's own
# watcher takes it down too when this script ends).
ASSAY_LAB_OWNER=$$ "$top/ci/lab.sh" --dir "$hosts" --net 60 up 1 --reference >"$work/lab.log" 2>&1 || { cat "$work/lab.log"; exit 1; }
"$A" init --centre "Test Centre 测试中心" >/dev/null
jq '{version: .version, hosts: [.hosts[] | select(.name == "debian-1")]}' "$hosts/hosts.json" >"$work/hosts.json"
"$A" host import "$work/hosts.json" >/dev/null

# The accounts: two vendors of two organisations, an engineer.
for u in "acme vendor --org acme" "globex vendor --org globex" "alice engineer"; do
    set -- $u
    "$A" user add "$1" --role "$2" ${3:-} ${4:-} >/dev/null
    printf '%s-password-1\n' "$1" | "$A" user passwd "$1" >/dev/null
done

# The demo's sumx for the reference host, as the vendor submits it; a
# hostile one (an entry that climbs out of the archive); a bad manifest.
s="$work/sub"
mkdir -p "$s/pkgs" "$s/tar/usr/bin" "$work/hostile/pkgs"
gcc -O2 -pthread -o "$s/tar/usr/bin/sumx" "$top/ci/demo/sumx.c" -Wl,--no-as-needed -lsqlite3 -Wl,--as-needed
tar -C "$s/tar" -czf "$s/pkgs/sumx-1.2.0-x86_64.tar.gz" usr
cat >"$s/manifest.json" <<'JSON'
{
  "manifest": 1,
  "product": "sumx",
  "version": "1.2.0",
  "vendor": "acme",
  "artifacts": [{"file": "pkgs/sumx-1.2.0-x86_64.tar.gz", "arch": "x86_64"}],
  "install": {"command": "mkdir -p root && tar -C root -xzf \"$ASSAY_ARTIFACT\" && root/usr/bin/sumx --version", "timeout": 120},
  "tests": [
    {"id": "version", "name": "reports its version", "command": "root/usr/bin/sumx --version | grep -qx 'sumx 1.2.0'", "timeout": 60},
    {"id": "known-vector", "name": "FNV-1a of 'hello'", "command": "printf hello > h && root/usr/bin/sumx h | grep -q '^a430d84680aabd0b  h$'", "timeout": 60}
  ],
  "benchmarks": [
    {"id": "throughput", "name": "hash throughput", "command": "root/usr/bin/sumx --bench 4", "timeout": 60, "unit": "MB/s",
     "repeat": {"min": 3, "max": 5, "target_rse": 0.05, "budget": 10, "warmup": 1}},
    {"id": "startup", "name": "start and exit", "command": "root/usr/bin/sumx --version", "timeout": 60, "unit": "ms",
     "repeat": {"min": 3, "max": 5, "target_rse": 0.05, "budget": 10, "warmup": 1}}
  ],
  "uninstall": {"command": "rm -rf root", "timeout": 60},
  "inspect": ["root/usr/bin/sumx"]
}
JSON
tar -C "$s" -czf "$work/sumx-1.2.0-submission.tar.gz" manifest.json pkgs
sed 's/"timeout": 60}/"timeout": -1}/' "$s/manifest.json" >"$work/bad-manifest.json"
cp "$s/manifest.json" "$work/hostile/manifest.json"
echo x >"$work/hostile/pkgs/sumx-1.2.0-x86_64.tar.gz"
python3 - "$work/hostile-1.0.tar.gz" "$work/hostile" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as t:
    t.add(sys.argv[2] + "/manifest.json", "manifest.json")
    t.add(sys.argv[2] + "/pkgs/sumx-1.2.0-x86_64.tar.gz", "../../escape/sumx-1.2.0-x86_64.tar.gz")
PY

"$A" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
pids+=($!)
"$A" dispatch --wait >"$work/dispatch.log" 2>&1 &
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
PORTAL_URL="$url" PORTAL_OUT="$work" PORTAL_KEYID="$keyid" PORTAL_PROFILE=x86_64-debian-12 \
    PORTAL_DB="$ASSAY_LAB/assay.db" \
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
