#!/usr/bin/env bash
# Controller scale: one `assay dispatch` keeping N lab hosts busy at once.
#
#   bench/controller-scale.sh [N] [STEP_SECONDS]     (defaults 256 and 30)
#
# Starts N lab hosts (ci/lab.sh, one sshd each), gives them all the x86_64
# profile so the agents run natively (this measures the controller, not
# qemu), submits N jobs whose test sleeps STEP_SECONDS, and samples the
# dispatcher: how many jobs run at once, its CPU time, and its resident
# memory. Memory per connected host = (peak RSS - RSS with no host
# connected) / N. Goal (issue 4): 256 hosts busy at once, under 256 KiB of
# controller memory per connected host.
set -euo pipefail
. "$(dirname "$0")/common.sh"
N=${1:-256}
STEP=${2:-30}
work=$(mktemp -d /tmp/assay-scale-XXXXXX)
hosts="$work/hosts"
export ASSAY_LAB="$work/lab" ASSAY_AGENTS_DIR="$ASSAY_TOP/build-agents"
cleanup() {
    [ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null || true
    "$ASSAY_TOP/ci/lab.sh" --dir "$hosts" down >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
[ -n "${KEEP_LOG:-}" ] && trap 'cp "$work/dispatch.log" "$KEEP_LOG"; cleanup' EXIT

bench_build_assay
[ -x "$ASSAY_AGENTS_DIR/x86_64-linux-gnu/assay-agent" ] || "$ASSAY_TOP/ci/build-agents.sh" x86_64-linux-gnu >/dev/null

t0=$(date +%s.%N)
"$ASSAY_TOP/ci/lab.sh" --dir "$hosts" --net 20 up "$N" >/dev/null
echo "lab: $N hosts up in $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5)s"
"$A" init >/dev/null
"$A" host import "$hosts/hosts.json" >/dev/null
sqlite3 "$ASSAY_LAB/assay.db" "update hosts set profile = 'zhaoxin-kx6000-uos-20'"

sub="$work/sub"
mkdir -p "$sub/pkgs"
printf '#!/bin/sh\necho hello\n' > "$sub/hello.sh"
tar -C "$sub" -czf "$sub/pkgs/hello.tar.gz" hello.sh
cat > "$sub/manifest.json" <<JSON
{"manifest": 1, "product": "scale", "version": "1", "vendor": "bench",
 "artifacts": [{"file": "pkgs/hello.tar.gz", "arch": "noarch"}],
 "install": {"command": "true", "timeout": 60},
 "tests": [{"id": "busy", "command": "sleep $STEP", "timeout": $((STEP * 4))}],
 "uninstall": {"command": "true", "timeout": 60}}
JSON
tar -C "$sub" -czf "$work/scale.tar.gz" manifest.json pkgs
pkg=$("$A" package add "$work/scale.tar.gz")
profiles=$(printf 'zhaoxin-kx6000-uos-20%.0s,' $(seq 1 4) | sed 's/,$//')
# Runs take a profile once; N/1 runs of one job each.
for i in $(seq 1 "$N"); do "$A" run submit "$pkg" --profiles zhaoxin-kx6000-uos-20 >/dev/null; done

"$A" dispatch --once > "$work/dispatch.log" 2>&1 &
dpid=$!
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status" 2>/dev/null; }
base=$(kb "$dpid" VmRSS || echo 0)
sleep 0.2
base=$(kb "$dpid" VmRSS || echo "$base")
peak_running=0 peak_rss=0 t_start=$(date +%s.%N) t_all="" steady=0
while kill -0 "$dpid" 2>/dev/null; do
    r=$(sqlite3 "$ASSAY_LAB/assay.db" "select count(*) from jobs where state = 'running'" 2>/dev/null || echo 0)
    rss=$(kb "$dpid" VmRSS || echo 0)
    [ "${r:-0}" -gt "$peak_running" ] && peak_running=$r
    [ "${rss:-0}" -gt "$peak_rss" ] && peak_rss=$rss
    if [ -z "$t_all" ] && [ "${r:-0}" -ge "$N" ]; then t_all=$(echo "$(date +%s.%N) - $t_start" | bc); fi
    # Steady state: (nearly) every host connected and streaming, no uploads.
    if [ "${r:-0}" -ge $(( N * 95 / 100 )) ] && [ "${rss:-0}" -gt "$steady" ]; then steady=$rss; fi
    cpu=$(awk '{print $14 + $15}' "/proc/$dpid/stat" 2>/dev/null || echo "$cpu")
    sleep 0.5
done
wall=$(echo "$(date +%s.%N) - $t_start" | bc)
tick=$(getconf CLK_TCK)
passed=$(sqlite3 "$ASSAY_LAB/assay.db" "select count(*) from jobs where outcome = 'passed'")
echo "assay controller scale, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)"
echo "  hosts                         $N"
echo "  jobs passed                   $passed of $N"
echo "  most jobs running at once     $peak_running"
echo "  time until all $N were running ${t_all:-"(not all at once)"}s"
echo "  wall time                     $(printf '%.1f' "$wall")s (each job sleeps ${STEP}s)"
echo "  controller CPU                $(echo "scale=2; $cpu / $tick" | bc)s"
echo "  controller RSS                $base KiB idle, $steady KiB with the hosts busy, $peak_rss KiB peak"
echo "  memory per connected host     $(( (steady - base) / N )) KiB busy, $(( (peak_rss - base) / N )) KiB at peak (uploads)"
echo "reproduce: bench/controller-scale.sh $N $STEP"
