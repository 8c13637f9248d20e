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

# bench_submission OUT MiB [VERSION]: a submission tar at OUT: a manifest
# (product big, VERSION, default 1.0) and one x86_64 .tar.zst artifact of
# three real ELF files and MiB MiB of incompressible data. Made in a
# folder beside OUT, which it removes.
bench_submission() {
    local out=$1 mb=$2 version=${3:-1.0} d="$1.d"
    mkdir -p "$d/payload/usr/bin" "$d/payload/usr/share/big" "$d/sub/pkgs"
    for b in /usr/bin/sha256sum /usr/bin/tar /usr/bin/ssh; do cp "$b" "$d/payload/usr/bin/"; done
    head -c $((mb * 1024 * 1024)) /dev/urandom > "$d/payload/usr/share/big/data.bin"
    tar -C "$d/payload" -cf - usr | zstd -q -1 -T0 > "$d/sub/pkgs/big-1.0.tar.zst"
    bench_manifest "$d/sub" "$version"
    tar -C "$d/sub" -cf "$out" manifest.json pkgs
    rm -rf "$d"
}

# bench_manifest DIR VERSION: bench_submission's manifest into DIR.
bench_manifest() {
    cat > "$1/manifest.json" <<JSON
{"manifest": 1, "product": "big", "version": "$2", "vendor": "bench",
 "artifacts": [{"file": "pkgs/big-1.0.tar.zst", "arch": "x86_64"}],
 "install": {"command": "true", "timeout": 60}, "tests": [{"id": "t", "command": "true", "timeout": 60}],
 "uninstall": {"command": "true", "timeout": 60}}
JSON
}
