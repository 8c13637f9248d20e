#!/usr/bin/env python3
"""Crafted ELF files that cost the ELF reader time or memory out of all
proportion to their size (issue 19): each is what a vendor account could
submit. tests/test_elf.c reads each one in a child with CPU and memory
limits and checks the exact outcome; ci/fuzz.sh uses them as seeds.

    tests/data/make-hostile-elf.py DIR [--small | --fuzz]

Without an option, the cases where size is the point are as large as it
takes (up to 26 MiB, all of it repetition that compresses to a few KB
inside a package). --small writes the same structures at a few KB each (the
inputs kept in tests/fuzz/regress/elf/); --fuzz at up to 1 MiB, the
fuzzer's -max_len, which is still enough to keep a reader without bounds
busy for longer than ci/fuzz.sh's -timeout.

Every file is a 64-bit little-endian x86_64 shared object made only of
section headers and the sections a case needs.
"""
import struct
import sys
import os

SHT_STRTAB, SHT_DYNAMIC, SHT_NOTE, SHT_DYNSYM = 3, 6, 7, 11
SHT_VERNEED, SHT_VERSYM = 0x6FFFFFFE, 0x6FFFFFFF
DT_NULL, DT_NEEDED, DT_SONAME, DT_DEBUG = 0, 1, 14, 21


def elf(sections, extra_shdrs=()):
    """sections: [(type, data, link)] with link an index into the file's
    section headers (0 is the null section, the first given is 1).
    extra_shdrs: [(type, offset, size)] headers pointing at bytes of the
    file (offsets past the ELF header)."""
    body = b''
    placed = []
    for typ, data, link in sections:
        body += b'\0' * (-len(body) % 8)
        placed.append((typ, 64 + len(body), len(data), link))
        body += data
    body += b'\0' * (-len(body) % 8)
    shoff = 64 + len(body)
    sh = [struct.pack('<IIQQQQIIQQ', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]
    for typ, off, size, link in placed:
        sh.append(struct.pack('<IIQQQQIIQQ', 0, typ, 0, 0, off, size, link, 0, 8, 0))
    for typ, off, size in extra_shdrs:
        sh.append(struct.pack('<IIQQQQIIQQ', 0, typ, 0, 0, off, size, 0, 0, 4, 0))
    assert len(sh) < 0xFFFF
    hdr = b'\x7fELF' + bytes([2, 1, 1, 0]) + b'\0' * 8
    hdr += struct.pack('<HHIQQQIHHHHHH', 3, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(sh), 0)
    return hdr + body + b''.join(sh)


def pick(size, small, fuzz, full):
    """A case's parameters for the size asked for."""
    return {'small': small, 'fuzz': fuzz, 'full': full}[size]


def dyn(entries):
    return b''.join(struct.pack('<qQ', t, v) for t, v in entries) + struct.pack('<qQ', DT_NULL, 0)


def verneed(cnt, file, aux, nxt):
    return struct.pack('<HHIII', 1, cnt, file, aux, nxt)


def vernaux(other, name, nxt):
    return struct.pack('<IHHII', 0, 0, other, name, nxt)


def verneed_walk(small):
    """.gnu.version_r whose every record claims 65 535 version entries and
    whose entries (each record read as one) lead on 16 bytes at a time: a
    walk bounded per record only costs the section's size times 65 535
    (16 MiB: 159 s of CPU)."""
    n = pick(small, 256, 65000, 1 << 20)
    strs = b'\0libc.so.6\0'  # shorter than 16: vna_name (= vn_aux, 16) names nothing
    return elf([(SHT_STRTAB, strs, 0), (SHT_VERNEED, verneed(0xFFFF, 1, 16, 16) * n, 1)])


def verneed_shared(small):
    """Every Verneed's vn_aux leads into one chain of Vernaux entries that
    runs to the section's end: a walk per Verneed costs the square of the
    section's size."""
    n = pick(small, 128, 32000, 1 << 16)
    strs = b'\0libc.so.6\0'
    out = b''
    for i in range(n):  # Verneed i at 16 i, its aux reaches Vernaux n + ... at 16 n
        out += verneed(0xFFFF, 1, 16 * (n - i), 16 if i < n - 1 else 0)
    out += b''.join(vernaux(2, 0xFFFFFF, 16) for _ in range(n))
    return elf([(SHT_STRTAB, strs, 0), (SHT_VERNEED, out, 1)])


def vn_next_cycle(small):
    """vn_next and vna_next of -16 as 32-bit numbers: a reader that adds
    them in 32 bits goes back to the same record for ever. Read as the
    unsigned offsets they are, they lead past the section's end."""
    strs = b'\0libc.so.6\0GLIBC_2.2.5\0'
    vr = verneed(1, 1, 16, 0xFFFFFFF0) + vernaux(2, 11, 0xFFFFFFF0)
    return elf([(SHT_STRTAB, strs, 0), (SHT_VERNEED, vr, 1)])


def symbol_versions(small):
    """8 000 required versions and 2^20 symbols (the cap, exactly), all
    undefined and needing the last version: matching each symbol by
    searching the versions is quadratic (256k symbols: 28 s)."""
    nv, ns = pick(small, (64, 256), (8000, 33000), (8000, 1 << 20))
    strs = bytearray(b'\0libc.so.6\0sym\0')
    names = []
    for k in range(nv):
        names.append(len(strs))
        strs += b'V_%d\0' % k
    vr = verneed(nv, 1, 16, 0) + b''.join(
        vernaux(2 + k, names[k], 16 if k < nv - 1 else 0) for k in range(nv))
    sym = struct.pack('<IBBHQQ', 11, 0x12, 0, 0, 0, 0)  # "sym", global function, undefined
    dynsym = b'\0' * 24 + sym * (ns - 1)
    versym = struct.pack('<H', 0) + struct.pack('<H', 2 + nv - 1) * (ns - 1)
    # sections: 1 dynstr, 2 dynsym, 3 versym, 4 verneed
    return elf([(SHT_STRTAB, bytes(strs), 0), (SHT_DYNSYM, dynsym, 1), (SHT_VERSYM, versym, 2),
                (SHT_VERNEED, vr, 1)])


def symbols_over_cap(small):
    """One dynamic symbol more than the cap (2^20 + 1), all zero, with one
    required version: too large to check. Only at full size: the cap is the
    point."""
    strs = b'\0libc.so.6\0GLIBC_2.2.5\0'
    vr = verneed(1, 1, 16, 0) + vernaux(2, 11, 0)
    ns = (1 << 20) + 1
    return elf([(SHT_STRTAB, strs, 0), (SHT_DYNSYM, bytes(24 * ns), 1), (SHT_VERSYM, bytes(2 * ns), 2),
                (SHT_VERNEED, vr, 1)])


def strtab_scan(small):
    """A 4 MiB string table with one NUL, at its end, and 8 000 DT_SONAME
    entries naming its start: a lookup that looks for the NUL (or
    snprintf's "%s", which measures the whole string) scans all of it each
    time."""
    size, n = pick(small, (2048, 64), (1 << 19, 8000), (4 << 20, 8000))
    strs = b'a' * (size - 1) + b'\0'
    return elf([(SHT_STRTAB, strs, 0), (SHT_DYNAMIC, dyn([(DT_SONAME, 0)] * n), 1)])


def needed_1m(small):
    """1 048 576 DT_NEEDED entries naming one library that no OS has: one
    warning per entry per profile turned this into gigabytes."""
    n = pick(small, 1100, 65000, 1 << 20)
    strs = b'\0libnowhere.so.1\0'
    return elf([(SHT_STRTAB, strs, 0), (SHT_DYNAMIC, dyn([(DT_NEEDED, 1)] * n), 1)])


def needed_many(small):
    """1 000 different DT_NEEDED libraries, under the cap: read, and
    reported as one warning per file and profile."""
    n = 1000
    strs = bytearray(b'\0')
    offs = []
    for k in range(n):
        offs.append(len(strs))
        strs += b'libmissing%d.so.1\0' % k
    return elf([(SHT_STRTAB, bytes(strs), 0), (SHT_DYNAMIC, dyn([(DT_NEEDED, o) for o in offs]), 1)])


def dynamic_long(small):
    """A dynamic section of 8 193 entries before its DT_NULL."""
    return elf([(SHT_STRTAB, b'\0', 0), (SHT_DYNAMIC, dyn([(DT_DEBUG, 0)] * 8193), 1)])


def notes_overlap(small):
    """60 000 SHT_NOTE section headers over one region of tiny notes:
    without a count, each header costs the whole region again."""
    nh, size = pick(small, (64, 1200), (8000, 1 << 19), (60000, 1 << 20))
    note = struct.pack('<III', 0, 0, 1)  # no name, no descriptor, type 1
    region = note * (size // 12)
    return elf([(SHT_NOTE, region, 0)], [(SHT_NOTE, 64, len(region))] * (nh - 1))


CASES = {
    'verneed-walk': verneed_walk,
    'verneed-shared': verneed_shared,
    'vn-next-cycle': vn_next_cycle,
    'symbol-versions': symbol_versions,
    'symbols-over-cap': symbols_over_cap,
    'strtab-scan': strtab_scan,
    'needed-1m': needed_1m,
    'needed-many': needed_many,
    'dynamic-long': dynamic_long,
    'notes-overlap': notes_overlap,
}


def main():
    args = sys.argv[1:]
    size = 'full'
    if args and args[-1] in ('--small', '--fuzz'):
        size = args.pop()[2:]
    if len(args) != 1:
        sys.exit('usage: make-hostile-elf.py DIR [--small | --fuzz]')
    os.makedirs(args[0], exist_ok=True)
    for name, make in CASES.items():
        if size == 'small' and name == 'dynamic-long':  # 128 KiB whatever its size: the cap is the point
            continue
        if size != 'full' and name == 'symbols-over-cap':
            continue
        with open(os.path.join(args[0], name), 'wb') as f:
            f.write(make(size))


main()
