#!/usr/bin/env bash
# Real binaries for the ELF reader's tests and the fuzzer's seed corpus,
# built with the lab's compilers: gcc, aarch64-linux-gnu-gcc, and the Debian
# 13 root's loongarch64-linux-gnu-gcc.
# It also writes the crafted files of make-hostile-elf.py to DIR/hostile/.
#
#   tests/data/make-elf.sh DIR
set -euo pipefail
. "$(dirname "$0")/../../ci/common.sh"
out=$(mkdir -p "$1" && cd "$1" && pwd)
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' > "$w/hello.c"
printf '#include <stdlib.h>\n#include <stdio.h>\nint main(void) { printf("%%u\\n", arc4random()); return 0; }\n' > "$w/arc.c"
printf '#include <filesystem>\n#include <iostream>\nstruct alignas(64) A { char c; };\nA *volatile g;\nint main(int, char **argv) { std::cout << std::filesystem::exists(argv[0]) << std::endl; g = new A; delete g; try { throw 1; } catch (int) {} return 0; }\n' > "$w/cxx.cc"
gcc -O2 -o "$out/hello-x86_64" "$w/hello.c"
gcc -O2 -march=x86-64-v3 -Wl,-z,x86-64-v3 -o "$out/hello-x86_64-v3" "$w/hello.c"
gcc -O2 -o "$out/arc4random-x86_64" "$w/arc.c"
# Many symbols of one glibc version: more than the reader keeps of each.
printf '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\nint main(int c, char **v) { char *e = getenv("X"); char *d = malloc(64); if (!d) abort(); memset(d, 0, 64); strncpy(d, v[0], 63); printf("%%zu %%s\\n", strlen(d), e ? e : ""); fputs(d, stderr); FILE *f = fopen(v[0], "r"); if (f) fclose(f); free(d); return c > 9 ? (int)getpid() : 0; }\n' > "$w/many.c"
gcc -O0 -fno-builtin -o "$out/many-x86_64" "$w/many.c"
g++ -O2 -o "$out/cxx-x86_64" "$w/cxx.cc"
aarch64-linux-gnu-gcc -O2 -o "$out/hello-aarch64" "$w/hello.c"
aarch64-linux-gnu-gcc -O2 -Wl,-z,max-page-size=4096 -o "$out/hello-aarch64-4k" "$w/hello.c"
python3 "$(dirname "$0")/make-hostile-elf.py" "$out/hostile"
cp "$w/hello.c" "$out/.hello.c"
toolroot_run "loongarch64-linux-gnu-gcc -O2 -o /src/assay/${out#"$ASSAY_TOP"/}/hello-loongarch64 /src/assay/${out#"$ASSAY_TOP"/}/.hello.c"
rm -f "$out/.hello.c"
# An old-world copy: the old interpreter path and OBJABI v0 in e_flags, as
# old-world toolchains make them.
python3 - "$out/hello-loongarch64" "$out/hello-loongarch64-oldworld" <<'PY'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
new = b'/lib64/ld-linux-loongarch-lp64d.so.1'
i = b.index(new)
b[i:i + len(new)] = b'/lib64/ld.so.1'.ljust(len(new), b'\0')
b[48] &= ~0xc0 & 0xff  # e_flags low byte: OBJABI v0
open(sys.argv[2], 'wb').write(bytes(b))
PY
ls "$out"
