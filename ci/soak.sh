#!/usr/bin/env bash
# Kill the controller with SIGKILL at random moments while it runs 16 jobs
# on a lab of 8 hosts (two per CPU family), restarting it each time, then
# check that nothing was lost: every job ended and passed on its first
# attempt (a controller crash is not a host's failure), every job's events
# are stored exactly once (seq 0..n, no gap, no duplicate, job-start to
# job-end), every log of every step run is in the blob store with the
# digest and size the store records, each run's signed report verifies,
# and no attach or remote shell is left on a host at the end (within 10 s
# of each kill is tests/test_hangup.c).
#
#   ci/soak.sh [--kills N] [--runs N] [--assay BIN]
#   (ASSAY_SOAK_STALL: seconds a controller may store nothing before the
#   soak fails as stuck; default 300)
#
# --kills: at least this many kills before the jobs may finish (default 20):
# the jobs' steps are short until then. --runs: runs of 4 jobs each
# (one per family; default 4, so 16 jobs). --assay: the controller binary
# (default: a Release build in build-bench). Prints its figures and the
# command that reproduces them. Needs what ci/deps.sh installs and the
# agents of ci/build-agents.sh.
#
# A controller is killed only once it has moved the run forward (an event,
# a log or a job's end stored since it started), so the soak progresses on
# a loaded machine too: killed on the clock alone, no controller there got
# past the agent upload and the run never moved (docs/reliability.md).
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$ASSAY_TOP"

KILLS=20 RUNS=4 A=""
while [ $# -gt 0 ]; do
    case "$1" in
    --kills) KILLS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --assay) A=$2; shift 2 ;;
    *) die "usage: ci/soak.sh [--kills N] [--runs N] [--assay BIN]" ;;
    esac
done
case "$KILLS$RUNS" in *[!0-9]*) die "--kills and --runs take numbers" ;; esac
if [ -z "$A" ]; then
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
    cmake --build build-bench -j"$(nproc)" --target assay >/dev/null
    A="$ASSAY_TOP/build-bench/assay"
fi
[ -x "$A" ] || die "no controller binary $A"
ci/build-agents.sh >/dev/null

W=$(mktemp -d /tmp/assay-soak-XXXXXX)
# Searchable: the jobs' run user looks for the gate (below) in it.
chmod 711 "$W"
HOSTS="$W/hosts"
export ASSAY_LAB="$W/lab" ASSAY_AGENTS_DIR="$ASSAY_TOP/build-agents"
dpid=""
cleanup() {
    local rc=$?
    [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null || true
    ci/lab.sh --dir "$HOSTS" down >/dev/null 2>&1 || true
    if [ "$rc" != 0 ] || [ "${KEEP:-0}" = 1 ]; then say "kept $W (dispatch.log, lab/assay.db)"; else rm -rf "$W"; fi
}
trap cleanup EXIT

# The lab goes down with this script, even killed by ctest (ci/lab.sh).
ASSAY_LAB_OWNER=$$ ci/lab.sh --dir "$HOSTS" --net 15 up 8 >/dev/null
"$A" init >/dev/null
"$A" host import "$HOSTS/hosts.json" >/dev/null

# A submission whose jobs cannot end before the kills asked for, and store
# events all along: a controller stores an event as a step starts or ends,
# never for a line of output, so the jobs are made of many short steps.
# Each test prints eight lines half a second apart (a step every 4 s) until
# the gate file exists, which this script makes once it has killed the
# controller KILLS times; after that each test prints one line and ends.
# With 8 + 2 * KILLS tests, the gate opens long before the tests run out
# (a life lasts about 5 s), and then the jobs finish quickly: their three
# benchmark runs print eight lines each. (The lab's hosts share this
# machine's file system: a job sees the gate.)
gate="$W/gate/open"
mkdir -p "$W/sub/pkgs" "$W/sub/payload" "$W/gate"
chmod 755 "$W/gate"
cat > "$W/sub/payload/work.sh" <<'SH'
#!/bin/sh
# work.sh NAME [GATE]: eight lines half a second apart; one once GATE exists.
n=8
if [ -n "${2:-}" ] && [ -e "$2" ]; then n=1; fi
i=0
while [ $i -lt $n ]; do
    i=$((i + 1))
    echo "$1 line $i from $(uname -m)"
    [ $n = 1 ] || sleep 0.5
done
SH
chmod 755 "$W/sub/payload/work.sh"
tar -C "$W/sub/payload" -czf "$W/sub/pkgs/work.tar.gz" work.sh
tests=""
for i in $(seq 1 $((8 + 2 * KILLS))); do
    tests="$tests${tests:+, }{\"id\": \"t$i\", \"command\": \"./work.sh t$i $gate\", \"timeout\": 600}"
done
cat > "$W/sub/manifest.json" <<JSON
{"manifest": 1, "product": "soak", "version": "1.0", "vendor": "Example Co.",
 "artifacts": [{"file": "pkgs/work.tar.gz", "arch": "noarch"}],
 "install": {"command": "tar -xzf \"\$ASSAY_ARTIFACT\"", "timeout": 60},
 "tests": [$tests],
 "benchmarks": [{"id": "b", "command": "./work.sh b >/dev/null; echo 1.0", "timeout": 600, "repeat": 3, "unit": "s"}],
 "uninstall": {"command": "rm -f work.sh", "timeout": 60}}
JSON
tar -C "$W/sub" -czf "$W/soak.tar.gz" manifest.json pkgs
pkg=$("$A" package add "$W/soak.tar.gz" 2>/dev/null)
profiles=kunpeng-920-kylin-v10,phytium-ft2000plus-uos-20,loongson-3a5000-openeuler-22.03,zhaoxin-kx6000-uos-20
for r in $(seq 1 "$RUNS"); do "$A" run submit "${pkg:0:12}" --profiles "$profiles" >/dev/null; done
jobs=$((RUNS * 4))

# The store is read while the controller writes it (WAL): wait for its lock
# rather than fail on a checkpoint.
q() { sqlite3 -cmd '.timeout 10000' "$ASSAY_LAB/assay.db" "$1"; }
left() { q "select count(*) from jobs where state not in ('ended','canceled')"; }
# The run's steps so far: events, logs and ended jobs stored. Each only
# grows; a life that raised it moved the run forward.
steps() {
    q "select (select count(*) from events) + (select count(*) from logs) +
              (select count(*) from jobs where state in ('ended','canceled'))"
}
alive() { [ -e "/proc/$1" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

# Each controller lives 1 to 6 s at random, and on until it has stored a
# step: its start costs every busy host a connection and an agent run
# (under qemu a few tenths of a CPU second), which on a loaded machine can
# outlast any fixed life. A controller that stores nothing for STALL
# seconds is stuck: the soak fails saying so.
STALL=${ASSAY_SOAK_STALL:-300}
say "soak: $jobs jobs on 8 hosts, the controller killed at least $KILLS times"
start=$(now)
kills=0 lives=0 slowest=0 waited=0
while [ "$(left)" -gt 0 ]; do
    s0=$(steps) born=$(now)
    "$A" dispatch >> "$W/dispatch.log" 2>&1 &
    dpid=$!
    lives=$((lives + 1))
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 1 + (r % 500) / 100 }')"
    if alive "$dpid" && [ "$(steps)" -le "$s0" ]; then waited=$((waited + 1)); fi
    while alive "$dpid" && [ "$(steps)" -le "$s0" ]; do
        [ "$(awk -v t="$(since "$born")" -v m="$STALL" 'BEGIN { print (t > m) }')" = 0 ] ||
            die "controller $lives stored nothing in ${STALL} s; see $W/dispatch.log"
        sleep 0.2
    done
    slowest=$(awk -v a="$slowest" -v b="$(since "$born")" 'BEGIN { print (b > a ? b : a) }')
    if alive "$dpid"; then
        kill -9 "$dpid" && kills=$((kills + 1))
        wait "$dpid" 2>/dev/null || true
    else
        rc=0; wait "$dpid" || rc=$?
        say "controller $lives exited by itself (status $rc)"
    fi
    dpid=""
    [ "$kills" -lt "$KILLS" ] || [ -e "$gate" ] || touch "$gate"
done
elapsed=$(since "$start")
[ "$kills" -ge "$KILLS" ] || die "the jobs ended after only $kills kills (wanted $KILLS): their tests ran out first"
# One last, unkilled dispatcher must find nothing to do (under ASan this
# is also the leak check of a dispatcher that resumes).
"$A" dispatch --once

say "checking"
# Nothing of the killed controllers is left on the hosts: no attach and no
# remote shell running one (docs/protocol.md, "One reader").
left=$(for d in /proc/[0-9]*; do
    c=$(cat "$d/cmdline" 2>/dev/null | tr '\0' ' ')
    case "$c" in *"attach --job-dir "*"$HOSTS/"*) printf '%s %.160s\n' "${d#/proc/}" "$c" ;; esac
done)
[ -z "$left" ] || die "left on the hosts after $kills kills:
$left"
bad=$(q "select id || ': ' || state || ' ' || outcome || ' attempt ' || attempt from jobs
         where state != 'ended' or outcome != 'passed' or attempt != 1")
[ -z "$bad" ] || die "jobs that did not pass on their first attempt:
$bad"
bad=$(q "select job_id || ': ' || count(*) || ' events, max seq ' || max(seq) from events group by job_id, attempt
         having count(*) != max(seq) + 1 or min(seq) != 0")
[ -z "$bad" ] || die "events lost or stored twice: $bad"
bad=$(q "select j.id from jobs j where
           (select type from events where job_id = j.id and seq = 0) != 'job-start' or
           (select type from events where job_id = j.id order by seq desc limit 1) != 'job-end'")
[ -z "$bad" ] || die "jobs whose events do not run from job-start to job-end: $bad"
# Each step run (install, 8 tests, 3 bench runs, uninstall) has a stdout and a stderr.
bad=$(q "select j.id || ': ' || (select count(*) from logs where job_id = j.id) || ' logs for ' ||
           (select count(*) from events where job_id = j.id and type = 'step-end') || ' step runs' from jobs j
         where (select count(*) from logs where job_id = j.id) !=
               2 * (select count(*) from events where job_id = j.id and type = 'step-end')")
[ -z "$bad" ] || die "logs missing: $bad"
nlogs=0
while IFS='|' read -r sha size; do
    f="$ASSAY_LAB/blobs/${sha:0:2}/${sha:2}"
    [ -f "$f" ] || die "log blob $sha is missing"
    [ "$(stat -c %s "$f")" = "$size" ] || die "log blob $sha has the wrong size"
    [ "$(sha256sum < "$f" | cut -d' ' -f1)" = "$sha" ] || die "log blob $sha is corrupt"
    nlogs=$((nlogs + 1))
done < <(q "select sha256, size from logs")
for r in $(seq 1 "$RUNS"); do
    "$A" report "$r" -o "$W/report-$r.json" >/dev/null
    "$A" verify "$W/report-$r.json" >/dev/null || die "report $r does not verify"
done
nevents=$(q "select count(*) from events")
[ "$(q "pragma integrity_check")" = ok ] || die "the store fails its integrity check"

printf 'soak: %d jobs passed, %d controller lives, %d kills (SIGKILL), each after a stored step, %s s\n' \
    "$jobs" "$lives" "$kills" "$elapsed"
printf 'soak: %d lives outlived their random 1-6 s to store a step; the longest life %s s\n' "$waited" "$slowest"
printf 'soak: %d events stored exactly once, %d logs present and intact, %d reports verified\n' \
    "$nevents" "$nlogs" "$RUNS"
printf 'reproduce: ci/soak.sh --kills %d --runs %d\n' "$KILLS" "$RUNS"
