#!/usr/bin/env bash
# The preflight corpus from real Debian 12 packages, fetched with
# `apt-get download` into DIR (never committed): jq, libjq1 and libonig5
# for arm64 and amd64, and qemu-system-data (firmware for other CPUs).
# Writes into DIR:
#   product.tar.gz  a submission: aarch64 = a tarball of the three arm64
#                   .debs, x86_64 = a gzipped tarball of the amd64 ones
#   set.tar.gz      a submission: the same products as artifact sets, the
#                   three .debs of each arch as one artifact's "files"
#   odd.tar.gz      a submission: aarch64 = the plain arm64 jq binary;
#                   x86_64 = a tarball holding amd64 jq without section
#                   headers, a truncated copy, and a kernel module;
#                   noarch = qemu-system-data
#   expected.tsv    the oracle, from readelf and dpkg-deb, not from assay:
#                   "elf ARTIFACT PATH GLIBC MINALIGN" for each ELF file
#                   the loader runs, "file ARTIFACT PATH" for every
#                   regular file, "foreign ARTIFACT PATH" for the ELF
#                   files under /usr/share.
# Exits 77 (skip) with a message when the packages cannot be fetched.
set -euo pipefail
out=$(realpath -m "$1")
mkdir -p "$out/debs"
cd "$out"
pkgs=(jq:arm64 libjq1:arm64 libonig5:arm64 jq:amd64 libjq1:amd64 libonig5:amd64 qemu-system-data)
if [ "$(ls debs/*.deb 2>/dev/null | wc -l)" -lt ${#pkgs[@]} ]; then
    if ! (cd debs && apt-get download "${pkgs[@]}" >download.log 2>&1); then
        echo "SKIP: cannot fetch Debian packages with apt-get download (no network or no arm64 lists):" >&2
        tail -3 debs/download.log >&2
        exit 77
    fi
fi
rm -rf work s1 s2 s3 && mkdir -p work s1 s2/t/usr/bin s2/t/lib/modules/4.19.90/extra s3/pkgs
: > expected.tsv

# oracle ART PREFIX ROOT: every regular file under ROOT, its ELF facts.
oracle() {
    local art=$1 prefix=$2 root=$3 f rel
    while IFS= read -r -d '' f; do
        rel=${f#"$root"}
        printf 'file\t%s\t%s%s\n' "$art" "$prefix" "$rel" >> expected.tsv
        [ "$(head -c4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
        case $rel in
        /usr/share/*) printf 'foreign\t%s\t%s%s\n' "$art" "$prefix" "$rel" >> expected.tsv; continue ;;
        esac
        local glibc align
        glibc=$(readelf -V --wide "$f" 2>/dev/null | grep -o 'Name: GLIBC_[0-9.]*' | sed 's/Name: GLIBC_//' |
            sort -V | tail -1)
        align=$(readelf -lW "$f" | awk '$1 == "LOAD" {print $NF}' | while read -r h; do echo $((h)); done |
            sort -n | head -1)
        printf 'elf\t%s\t%s%s\t%s\t%s\n' "$art" "$prefix" "$rel" "${glibc:-0}" "${align:-0}" >> expected.tsv
    done < <(find "$root" -type f -print0)
}

for a in arm64 amd64; do
    for d in debs/*_"$a".deb; do
        b=$(basename "$d")
        dpkg-deb -x "$d" "work/$b"
        art=jq-$a.tar; [ "$a" = amd64 ] && art=jq-$a.tar.gz
        oracle "$art" "$art!$b!" "work/$b"
    done
done
tar -C debs -cf s1/jq-arm64.tar $(cd debs && ls *_arm64.deb)
tar -C debs -czf s1/jq-amd64.tar.gz $(cd debs && ls *_amd64.deb)
cat > s1/manifest.json <<'JSON'
{"manifest":1,"product":"jq","version":"1.6","vendor":"Debian",
 "artifacts":[{"file":"jq-arm64.tar","arch":"aarch64"},{"file":"jq-amd64.tar.gz","arch":"x86_64"}],
 "install":{"command":"true","timeout":9},"uninstall":{"command":"true","timeout":9},
 "tests":[{"id":"t","command":"true","timeout":9}]}
JSON
tar -C s1 -czf product.tar.gz manifest.json jq-arm64.tar jq-amd64.tar.gz

# The same products as sets: each .deb is a file of the artifact, its
# files named under it ("pkgs/libjq1_..._arm64.deb!/usr/lib/...").
files_json() { # arch: the set's files, jq first, as JSON strings
    local d sep=
    for d in $(cd debs && ls *_"$1".deb); do printf '%s"pkgs/%s"' "$sep" "$d"; sep=,; done
}
for a in arm64 amd64; do
    for d in debs/*_"$a".deb; do
        b=$(basename "$d")
        cp "$d" s3/pkgs/
        oracle "pkgs/$b" "pkgs/$b!" "work/$b"
    done
done
cat > s3/manifest.json <<JSON
{"manifest":1,"product":"jq","version":"1.6","vendor":"Debian",
 "artifacts":[{"files":[$(files_json arm64)],"arch":"aarch64"},{"files":[$(files_json amd64)],"arch":"x86_64"}],
 "install":{"command":"true","timeout":9},"uninstall":{"command":"true","timeout":9},
 "tests":[{"id":"t","command":"true","timeout":9}]}
JSON
tar -C s3 -czf set.tar.gz manifest.json pkgs

# The plain arm64 binary: the artifact is the ELF file itself.
jqa=$(ls -d work/jq_*_arm64.deb)/usr/bin/jq
cp "$jqa" s2/jq
printf 'file\tjq\tjq\n' >> expected.tsv
line=$(grep -P "^elf\tjq-arm64.tar\t[^\t]*jq_[^\t]*!/usr/bin/jq\t" expected.tsv)
printf 'elf\tjq\tjq\t%s\t%s\n' "$(cut -f4 <<<"$line")" "$(cut -f5 <<<"$line")" >> expected.tsv
# amd64 jq with its section headers removed (e_shoff, e_shnum, e_shstrndx
# zeroed, as sstrip leaves it): it still runs and still needs its glibc.
jqx=$(ls -d work/jq_*_amd64.deb)/usr/bin/jq
cp "$jqx" s2/t/usr/bin/jq-nosections
printf '\0\0\0\0\0\0\0\0' | dd of=s2/t/usr/bin/jq-nosections bs=1 seek=40 conv=notrunc status=none
printf '\0\0\0\0' | dd of=s2/t/usr/bin/jq-nosections bs=1 seek=60 conv=notrunc status=none
head -c 3000 "$jqx" > s2/t/usr/bin/jq-truncated
# A kernel module (ET_REL with .modinfo) built for a 4.19 kernel.
printf 'int init_module(void) { return 0; }\n' > work/m.c
gcc -c -o work/m.o work/m.c
printf 'license=GPL\0vermagic=4.19.90-52.22.v2207.ky10.x86_64 SMP mod_unload modversions \0' > work/modinfo
objcopy --add-section .modinfo=work/modinfo --set-section-flags .modinfo=alloc,readonly work/m.o \
    s2/t/lib/modules/4.19.90/extra/m.ko
g=$(grep -P "^elf\tjq-amd64.tar.gz\t[^\t]*jq_[^\t]*!/usr/bin/jq\t" expected.tsv | cut -f4)
al=$(grep -P "^elf\tjq-amd64.tar.gz\t[^\t]*jq_[^\t]*!/usr/bin/jq\t" expected.tsv | cut -f5)
printf 'file\todd.tar\t/usr/bin/jq-nosections\nfile\todd.tar\t/usr/bin/jq-truncated\nfile\todd.tar\t/lib/modules/4.19.90/extra/m.ko\n' >> expected.tsv
printf 'elf\todd.tar\t/usr/bin/jq-nosections\t%s\t%s\n' "$g" "$al" >> expected.tsv
printf 'kmod\todd.tar\t/lib/modules/4.19.90/extra/m.ko\t4.19\n' >> expected.tsv
tar -C s2/t -cf s2/odd.tar usr lib
fw=$(ls debs/qemu-system-data_*.deb)
cp "$fw" s2/fw.deb
dpkg-deb -x "$fw" work/fw
oracle fw.deb "" work/fw
cat > s2/manifest.json <<'JSON'
{"manifest":1,"product":"odd","version":"1","vendor":"Debian",
 "artifacts":[{"file":"jq","arch":"aarch64"},{"file":"odd.tar","arch":"x86_64"},{"file":"fw.deb","arch":"noarch"}],
 "install":{"command":"true","timeout":9},"uninstall":{"command":"true","timeout":9},
 "tests":[{"id":"t","command":"true","timeout":9}]}
JSON
tar -C s2 -czf odd.tar.gz manifest.json jq odd.tar fw.deb
echo "debian corpus: $(grep -c '^file' expected.tsv) files, $(grep -c '^elf' expected.tsv) ELF files for the loader"
