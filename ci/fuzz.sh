#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for a while on its
# seed corpus: real binaries (tests/data/make-elf.sh), the submission
# corpus's manifests, and job specs.
#
#   ci/fuzz.sh [SECONDS-PER-TARGET]     (default 30)
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$ASSAY_TOP"
T=${1:-30}
B=build-fuzz
CC=$(command -v clang-14 || command -v clang) || die "no clang: run ci/deps.sh"
cmake -S . -B "$B" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DASSAY_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build "$B" -j"$(nproc)" --target fuzz_elf fuzz_spec fuzz_manifest >"$B/build.log" 2>&1 \
    || { tail -n 30 "$B/build.log"; die "fuzz build failed"; }
mkdir -p "$B/seeds/elf" "$B/seeds/spec" "$B/seeds/manifest" "$B/found"
tests/data/make-elf.sh "$B/seeds/elf" >/dev/null
tests/data/make-submissions.sh "$B/seeds/subs" >/dev/null
for f in "$B"/seeds/subs/*.tar.gz; do
    tar -xzOf "$f" manifest.json > "$B/seeds/manifest/$(basename "$f" .tar.gz).json" 2>/dev/null || true
done
printf '{"protocol":1,"id":"j","steps":[{"id":"t","kind":"test","command":"true","timeout":5}]}' > "$B/seeds/spec/a.json"
printf '{"protocol":1,"id":"j","artifact":"a.rpm","env":{"X":"y"},"inspect":["/bin/x"],"log_cap":"1048576","steps":[{"id":"i","kind":"install","command":"x","timeout":1},{"id":"b","kind":"bench","command":"x","timeout":1,"repeat":3,"unit":"MB/s"}]}' > "$B/seeds/spec/b.json"
rc=0
for t in elf spec manifest; do
    printf 'fuzz_%s: ' "$t"
    if "$B/fuzz_$t" -max_total_time="$T" -max_len=1048576 -artifact_prefix="$B/found/$t-" \
           "$B/seeds/$t" >"$B/fuzz_$t.log" 2>&1; then
        grep -E '^#[0-9]+.*DONE' "$B/fuzz_$t.log" | tail -n 1 || tail -n 1 "$B/fuzz_$t.log"
    else
        echo "FAILED (crash input in $B/found)"; tail -n 40 "$B/fuzz_$t.log"; rc=1
    fi
done
exit $rc
