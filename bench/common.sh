# Shared helpers for the bench/ scripts. Source it; do not run it.
. "$(dirname "${BASH_SOURCE[0]}")/../ci/common.sh"

# bench_build_assay: a Release build of the controller (sanitizers would
# measure themselves); sets A to the binary.
bench_build_assay() {
    cmake -S "$ASSAY_TOP" -B "$ASSAY_TOP/build-bench" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
    cmake --build "$ASSAY_TOP/build-bench" -j"$(nproc)" --target assay >/dev/null
    A="$ASSAY_TOP/build-bench/assay"
}

# t CMD...: run CMD with its output discarded; print the seconds it took.
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }

# best N CMD...: run CMD (which prints seconds) N times; print the least.
best() {
    local n=$1 b=999999 x
    shift
    for _ in $(seq "$n"); do x=$("$@"); if (( $(echo "$x < $b" | bc) )); then b=$x; fi; done
    echo "$b"
}
