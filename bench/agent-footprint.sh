#!/usr/bin/env bash
# Agent footprint: the supervisor's memory and CPU while it supervises a
# step, for each static agent (aarch64 and loongarch64 under qemu, whose
# figures include qemu's own).
#
#   bench/agent-footprint.sh [SECONDS]      (default 10)
#
# Two cases per agent:
#   idle   a step that sleeps: the supervisor must sleep in poll/waitid, so
#          its CPU time over the whole step should be ~0 (no busy polling).
#   flood  a step writing 1 GiB to stdout as fast as it can (log capped at
#          8 MiB): the supervisor's CPU per GiB drained, and its peak RSS.
# Goal (issue 3): RSS under 8 MiB while supervising; no busy polling.
set -euo pipefail
. "$(dirname "$0")/../ci/common.sh"

SECS=${1:-10}
TICK=$(getconf CLK_TCK)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# utime+stime of a pid, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

run_case() { # agent name command
    local agent=$1 name=$2 cmd=$3
    local d="$work/$name-$RANDOM"
    mkdir -p "$d"
    printf '{"protocol":1,"id":"bench","steps":[{"id":"s","kind":"test","command":"%s","timeout":600}]}' "$cmd" \
        | "$agent" start --job-dir "$d" >/dev/null
    local pid c0 c1 peak=0 hwm=0 rss h
    pid=$(cat "$d/state/supervisor.pid")
    c0=$(cpu_ticks "$pid")
    c1=$c0
    # Sample until the supervisor exits; the last good sample stands.
    while rss=$(kb "$pid" VmRSS 2>/dev/null) && h=$(kb "$pid" VmHWM 2>/dev/null) &&
          c=$(cpu_ticks "$pid" 2>/dev/null); do
        [ "${rss:-0}" -gt "$peak" ] && peak=$rss
        hwm=${h:-$hwm} c1=$c
        sleep 0.1
    done
    local wall ns
    # The step's own wall time, from its step-end event.
    ns=$("$agent" attach --job-dir "$d" | grep '"type":"step-end"' | sed 's/.*"wall_ns":"\([0-9]*\)".*/\1/')
    wall=$(echo "$ns / 1000000000" | bc -l)
    printf '  %-6s step %6.2fs  supervisor cpu %6.3fs (%5.2f%% of one core)  peak rss %5d KiB  hwm %5d KiB\n' \
        "$name" "$wall" "$(echo "($c1 - $c0) / $TICK" | bc -l)" \
        "$(echo "100 * ($c1 - $c0) / $TICK / $wall" | bc -l)" "$peak" "$hwm"
}

echo "assay-agent footprint, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m) $(uname -r)"
for t in x86_64-linux-gnu aarch64-linux-gnu loongarch64-linux-gnu; do
    a="$ASSAY_TOP/build-agents/$t/assay-agent"
    [ -x "$a" ] || { echo "$t: no agent (run ci/build-agents.sh)"; continue; }
    echo "$t$([ "${t%%-*}" = "$(uname -m)" ] || echo ' (under qemu: figures include the emulator)'):"
    run_case "$a" idle "sleep $SECS"
    run_case "$a" flood "head -c 1073741824 /dev/zero"
done
echo "reproduce: bench/agent-footprint.sh $SECS"
