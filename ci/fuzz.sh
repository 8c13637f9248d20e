#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for a while on its
# seed corpus: real binaries (tests/data/make-elf.sh) and crafted ELF files
# that blew the reader up (tests/data/make-hostile-elf.py), the submission
# corpus's manifests, job specs, the shipped profiles with this host's
# facts, the events of a real job, signed envelopes, and the hostile inputs of
# tests/fuzz/make-hostile.sh. A crash (or, for fuzz_elf, an input over its
# time or memory limit) leaves its input in build-fuzz/found/:
# once fixed, copy it to tests/fuzz/regress/<target>/ (see the README there)
# and ctest replays it from then on.
#
#   ci/fuzz.sh [SECONDS-PER-TARGET]     (default 30)
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$ASSAY_TOP"
T=${1:-30}
B=build-fuzz
CC=$(command -v clang-14 || command -v clang) || die "no clang: run ci/deps.sh"
cmake -S . -B "$B" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DASSAY_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build "$B" -j"$(nproc)" --target fuzz_elf fuzz_spec fuzz_manifest fuzz_profile fuzz_event fuzz_markup fuzz_envelope >"$B/build.log" 2>&1 \
    || { tail -n 30 "$B/build.log"; die "fuzz build failed"; }
TARGETS="elf spec manifest profile event markup envelope"
for t in $TARGETS; do mkdir -p "$B/seeds/$t"; done
mkdir -p "$B/found"
tests/fuzz/make-hostile.sh "$B/hostile"
for t in spec manifest profile event markup envelope; do cp "$B/hostile/$t"/* "$B/seeds/$t/"; done
tests/data/make-elf.sh "$B/seeds/elf" >/dev/null
# The crafted blow-ups of the ELF reader at the fuzzer's -max_len (larger
# seeds would be cut, losing their section headers), and at a few KB.
tests/data/make-hostile-elf.py "$B/seeds/elf/hostile" --fuzz
cp tests/fuzz/regress/elf/* "$B/seeds/elf/"
tests/data/make-submissions.sh "$B/seeds/subs" >/dev/null
for f in "$B"/seeds/subs/*.tar.gz; do
    tar -xzOf "$f" manifest.json > "$B/seeds/manifest/$(basename "$f" .tar.gz).json" 2>/dev/null || true
done
printf '{"protocol":1,"id":"j","steps":[{"id":"t","kind":"test","command":"true","timeout":5}]}' > "$B/seeds/spec/a.json"
printf '{"protocol":1,"id":"j","artifact":"a.rpm","env":{"X":"y"},"inspect":["/bin/x"],"log_cap":"1048576","steps":[{"id":"i","kind":"install","command":"x","timeout":1},{"id":"b","kind":"bench","command":"x","timeout":1,"repeat":3,"unit":"MB/s"}]}' > "$B/seeds/spec/b.json"
printf '{"protocol":1,"id":"j","steps":[{"id":"b","kind":"bench","command":"x","timeout":1,"repeat":{"min":3,"max":30,"target_rse":0.02,"budget":600,"warmup":1},"unit":"ms"}]}' > "$B/seeds/spec/c.json"
# Profiles: the file, a NUL, then facts (this host's, measured by the agent).
agent="build-agents/$(uname -m)-linux-gnu/assay-agent"
facts='{}'
[ -x "$agent" ] && facts=$("$agent" facts)
for f in profiles/*.json; do
    { cat "$f"; printf '\0%s' "$facts"; } > "$B/seeds/profile/$(basename "$f")"
done
# Events: a real job's, each line after a byte that makes it the next one
# (fuzz_event.c: last stored seq = byte % 8 - 1).
if [ -x "$agent" ]; then
    jd=$(mktemp -d)
    printf '{"protocol":1,"id":"lab-r1-j1-a1","steps":[{"id":"t","kind":"test","command":"echo hi","timeout":5},{"id":"b","kind":"bench","command":"echo 2.5","timeout":5,"repeat":2,"unit":"ops/s"}]}' |
        "$agent" start --job-dir "$jd" >/dev/null
    i=0
    "$agent" attach --job-dir "$jd" | while IFS= read -r line; do
        { printf "\\$(printf %03o $((i % 8)))"; printf '%s' "$line"; } > "$B/seeds/event/real-$i"
        i=$((i + 1))
    done
    rm -rf "$jd"
fi
rc=0
# Per-target limits. The ELF reader must stay linear in its input and
# within its caps (docs/preflight.md): any input up to 1 MiB is read in
# milliseconds, so one that takes 2 s or 512 MiB is a finding. (Without
# those bounds each crafted seed of make-hostile-elf.py --fuzz took over 2 s
# here, most of them minutes.)
limits() {
    case $1 in
    elf) echo "-timeout=2 -rss_limit_mb=512" ;;
    *) echo "" ;;
    esac
}
# One fuzzer per core at a time: the same time per target, less waiting.
run_one() { # target: its result line in $B/fuzz_$t.result
    local t=$1
    # shellcheck disable=SC2046 # the limits are separate words
    if "$B/fuzz_$t" -max_total_time="$T" -max_len=1048576 $(limits "$t") -artifact_prefix="$B/found/$t-" \
           "$B/seeds/$t" >"$B/fuzz_$t.log" 2>&1; then
        { grep -E '^#[0-9]+.*DONE' "$B/fuzz_$t.log" | tail -n 1 || tail -n 1 "$B/fuzz_$t.log"; } >"$B/fuzz_$t.result"
    else
        echo "FAILED" >"$B/fuzz_$t.result"
    fi
}
cores=$(nproc)
running=0
for t in $TARGETS; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$cores" ]; then wait -n || true; running=$((running - 1)); fi
done
wait
for t in $TARGETS; do
    printf 'fuzz_%s: ' "$t"
    if grep -q '^FAILED' "$B/fuzz_$t.result"; then
        echo "FAILED (crash input in $B/found)"; tail -n 40 "$B/fuzz_$t.log"; rc=1
    else
        cat "$B/fuzz_$t.result"
    fi
done
exit $rc
