#!/usr/bin/env bash
# Binaries for the instruction check of preflight (controller/isa.c), built
# at test time with the lab's compilers, never committed:
#   x86-64      plain baseline; -march=x86-64-v3 and -march=x86-64-v4
#               without -mneeded (no GNU ISA note: only the code tells);
#               a target_clones build (AVX2 behind an ifunc)
#   aarch64     armv8-a baseline without outline atomics; armv8.2-a+fp16
#               with inline LSE atomics; armv8-a with GCC's outline atomics
#               (LSE only inside libgcc's __aarch64_* helpers)
#
#   tests/data/make-isa.sh DIR
set -euo pipefail
out=$(mkdir -p "$1" && cd "$1" && pwd)
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT

# Work a compiler vectorises and atomics it must emit: the loops over
# 32- and 64-bit integers become AVX2 at v3 and AVX-512 (vpmullq) at v4.
cat > "$w/work.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#define N 4096
long long a[N], b[N], c[N];
int x[N], y[N], z[N];
int counter;
__attribute__((noinline)) void vec_work(void)
{
    for (int i = 0; i < N; i++)
        a[i] = b[i] * c[i];
    for (int i = 0; i < N; i++)
        x[i] = y[i] + z[i];
}
__attribute__((noinline)) int atomic_work(int n)
{
    int expected = 0;
    __atomic_compare_exchange_n(&counter, &expected, n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return __atomic_fetch_add(&counter, n, __ATOMIC_SEQ_CST);
}
int main(int argc, char **argv)
{
    for (int i = 0; i < N; i++)
        b[i] = c[i] = y[i] = z[i] = i + argc;
    vec_work();
    printf("%lld %d %d\n", a[N - 1], x[N - 1], atomic_work(argc));
    return 0;
}
C
cat > "$w/clones.c" <<'C'
#include <stdio.h>
#define N 4096
int x[N], y[N], z[N];
__attribute__((target_clones("default", "avx2"), noinline)) void add_all(void)
{
    for (int i = 0; i < N; i++)
        x[i] = y[i] + z[i];
}
int main(int argc, char **argv)
{
    for (int i = 0; i < N; i++)
        y[i] = z[i] = i + argc;
    add_all();
    printf("%d\n", x[N - 1]);
    return 0;
}
C
cat > "$w/half.c" <<'C'
__attribute__((noinline)) _Float16 half_add(_Float16 p, _Float16 q) { return p * q + p; }
C

gcc -O2 -o "$out/x86_64-baseline" "$w/work.c"
gcc -O3 -march=x86-64-v3 -o "$out/x86_64-v3" "$w/work.c"
gcc -O3 -march=x86-64-v4 -o "$out/x86_64-v4" "$w/work.c"
gcc -O3 -o "$out/x86_64-clones" "$w/clones.c"
aarch64-linux-gnu-gcc -O2 -march=armv8-a -mno-outline-atomics -o "$out/aarch64-baseline" "$w/work.c"
aarch64-linux-gnu-gcc -O2 -march=armv8.2-a+fp16 -mno-outline-atomics -o "$out/aarch64-v8.2-lse" "$w/work.c" "$w/half.c"
aarch64-linux-gnu-gcc -O2 -march=armv8-a -moutline-atomics -o "$out/aarch64-outline-atomics" "$w/work.c"
# Stripped copies: the helpers and functions lose their names.
aarch64-linux-gnu-strip -o "$out/aarch64-outline-atomics-stripped" "$out/aarch64-outline-atomics"
aarch64-linux-gnu-strip -o "$out/aarch64-v8.2-lse-stripped" "$out/aarch64-v8.2-lse"
# A submission of the aarch64 LSE build, as a vendor would make it for
# Kunpeng 920 (preflight and report tests).
mkdir -p "$w/sub/pkgs" "$w/root/usr/bin"
cp "$out/aarch64-v8.2-lse" "$w/root/usr/bin/work"
tar -C "$w/root" -czf "$w/sub/pkgs/work-1.0-aarch64.tar.gz" usr
cat > "$w/sub/manifest.json" <<'JSON'
{"manifest": 1, "product": "work", "version": "1.0", "vendor": "isa test",
 "artifacts": [{"file": "pkgs/work-1.0-aarch64.tar.gz", "arch": "aarch64"}],
 "install": {"command": "true", "timeout": 60}, "tests": [{"id": "t", "command": "root/usr/bin/work", "timeout": 60}],
 "uninstall": {"command": "true", "timeout": 60}}
JSON
tar -C "$w/sub" -cf "$out/work-aarch64-submission.tar" manifest.json pkgs
ls "$out"
