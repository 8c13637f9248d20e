#!/usr/bin/env bash
# Transfer: uploading a large artifact to a lab host, against OpenSSH's scp
# to the same host with the same key.
#
#   bench/transfer.sh [MiB]      (default 256)
#
# assay's upload is the dispatcher's artifact step: the bytes stream through
# an exec channel into a temporary file, the host checks their SHA-256 and
# renames the file into its cache, then the job starts on the same command
# ("upload and run"). Its time is read from the dispatcher's log, from
# "-> uploading" to "uploading -> streaming" (the job's first event, a few
# milliseconds after the upload on a native host). Goal (issue 7): at least
# 0.8x scp's throughput.
set -euo pipefail
. "$(dirname "$0")/common.sh"
MB=${1:-256}
w=$(mktemp -d /tmp/assay-xfer-XXXXXX)
hosts="$w/hosts"
export ASSAY_LAB="$w/lab" ASSAY_AGENTS_DIR="$ASSAY_TOP/build-agents"
trap '"$ASSAY_TOP/ci/lab.sh" --dir "$hosts" down >/dev/null 2>&1 || true; rm -rf "$w"' EXIT
bench_build_assay
"$ASSAY_TOP/ci/lab.sh" --dir "$hosts" --net 40 up 4 >/dev/null
"$A" init >/dev/null
"$A" host import "$hosts/hosts.json" >/dev/null

mkdir -p "$w/sub/pkgs"
head -c $((MB * 1024 * 1024)) /dev/urandom > "$w/big.bin"
tar -C "$w" -cf "$w/sub/pkgs/big.tar" big.bin
cat > "$w/sub/manifest.json" <<'JSON'
{"manifest": 1, "product": "xfer", "version": "1", "vendor": "bench",
 "artifacts": [{"file": "pkgs/big.tar", "arch": "noarch"}],
 "install": {"command": "true", "timeout": 60}, "tests": [{"id": "t", "command": "true", "timeout": 60}],
 "uninstall": {"command": "true", "timeout": 60}}
JSON
tar -C "$w/sub" -cf "$w/sub.tar" manifest.json pkgs
pkg=$("$A" package add "$w/sub.tar" 2>/dev/null)
size=$(stat -c %s "$w/sub/pkgs/big.tar")

ms() { date -d "$1" +%s.%N; }
assay_run() { # one upload to zhaoxin-1 (native), from a fresh host cache
    rm -rf "$hosts/hosts/zhaoxin-1/root/cache"
    local run
    run=$("$A" run submit "${pkg:0:12}" --profiles zhaoxin-kx6000-uos-20)
    "$A" dispatch --once > "$w/d.log" 2>&1
    local a b
    a=$(grep "starting -> uploading" "$w/d.log" | tail -1 | cut -d' ' -f1)
    b=$(grep "uploading -> streaming" "$w/d.log" | tail -1 | cut -d' ' -f1)
    echo "$(ms "$b") - $(ms "$a")" | bc
}
# zhaoxin-1 as the lab's host file has it (the login user, the net lab.sh took).
read -r zuser zaddr zport < <(python3 - "$hosts/hosts.json" <<'PY'
import json, sys
h = [h for h in json.load(open(sys.argv[1]))["hosts"] if h["name"] == "zhaoxin-1"][0]
print(h["user"], h["address"], h["port"])
PY
)
scp_run() {
    local s e
    s=$(date +%s.%N)
    scp -q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$hosts/known_hosts" \
        -i "$hosts/client_key" -P "$zport" "$w/sub/pkgs/big.tar" "$zuser@$zaddr:$hosts/hosts/zhaoxin-1/root/scp.bin"
    e=$(date +%s.%N)
    rm -f "$hosts/hosts/zhaoxin-1/root/scp.bin"
    echo "$e - $s" | bc
}
cat "$w/sub/pkgs/big.tar" > /dev/null
ta=$(best 3 assay_run)
ts=$(best 3 scp_run)
echo "assay transfer, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m); $((size / 1048576)) MiB to a lab host on loopback"
printf '  scp (OpenSSH, SFTP)        %6.2fs  %6.1f MiB/s\n' "$ts" "$(echo "$size / 1048576 / $ts" | bc -l)"
printf '  assay upload (+ sha256)    %6.2fs  %6.1f MiB/s   %.2fx scp\n' "$ta" "$(echo "$size / 1048576 / $ta" | bc -l)" \
    "$(echo "$ts / $ta" | bc -l)"
echo "reproduce: bench/transfer.sh $MB"
