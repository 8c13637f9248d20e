#!/usr/bin/env bash
# Events stored per second: one dispatcher, N chatty hosts at once.
#
#   bench/events.sh [N] [TESTS]      (defaults 256 hosts, 200 tests per job)
#
# Each of N hosts runs one job of TESTS tests: 2 * TESTS + 7 events. The
# hosts are the tests' in-process fake host (tests/fakehost.c), so the
# figure is the dispatcher's and its store's alone (no sshd, no agent). It
# is measured twice on fresh labs, side by side: every event in its own
# transaction (how the dispatcher stored them before group commit), then
# the events of each read in one transaction.
set -euo pipefail
. "$(dirname "$0")/common.sh"
N=${1:-256}
TESTS=${2:-200}
work=$(mktemp -d /tmp/assay-events-XXXXXX)
trap 'rm -rf "$work"' EXIT

bench_build_assay
cmake --build "$ASSAY_TOP/build-bench" -j"$(nproc)" --target bench_events >/dev/null
B="$ASSAY_TOP/build-bench/bench_events"

make_lab() { # DIR
    local lab=$1 i tests=""
    export ASSAY_LAB=$lab
    "$A" init >/dev/null
    ssh-keygen -q -t ed25519 -N '' -f "$lab.key"
    for i in $(seq "$N"); do
        "$A" host add "fake-$i" --profile zhaoxin-kx6000-uos-20 --address 192.0.2.1 --user root \
            --identity "$lab.key" --trust-on-first-use >/dev/null
    done
    for i in $(seq "$TESTS"); do tests="$tests{\"id\": \"t$i\", \"command\": \"true\", \"timeout\": 60},"; done
    mkdir -p "$lab.sub/pkgs"
    echo hi > "$lab.sub/a.txt"
    tar -C "$lab.sub" -czf "$lab.sub/pkgs/a.tar.gz" a.txt
    cat > "$lab.sub/manifest.json" <<JSON
{"manifest": 1, "product": "chatty", "version": "1.0", "vendor": "Example Co.",
 "artifacts": [{"file": "pkgs/a.tar.gz", "arch": "noarch"}],
 "install": {"command": "true", "timeout": 60}, "tests": [${tests%,}],
 "uninstall": {"command": "true", "timeout": 60}}
JSON
    tar -C "$lab.sub" -czf "$lab.sub.tar.gz" manifest.json pkgs/a.tar.gz
    local p
    p=$("$A" package add "$lab.sub.tar.gz" 2>/dev/null)
    for i in $(seq "$N"); do "$A" run submit "${p:0:12}" --profiles zhaoxin-kx6000-uos-20 >/dev/null; done
}

make_lab "$work/a"
one=$("$B" "$work/a" "$N" 1)
make_lab "$work/b"
group=$("$B" "$work/b" "$N" 0)
echo "assay events stored per second, $(date +%F), $(nproc) cores, $(uname -m); $N hosts x $TESTS tests"
echo "  one transaction per event   $one"
echo "  one transaction per read    $group"
echo "reproduce: bench/events.sh $N $TESTS"
