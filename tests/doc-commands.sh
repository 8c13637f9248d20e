#!/usr/bin/env bash
# Every runnable command of README.md and docs/*.md, run as written
# (docs/doc-commands.md says which blocks are runnable and how a block
# says what it needs and how it exits).
#
#   tests/doc-commands.sh BUILD_DIR [FILE.md...]    default: README.md docs/*.md
#
# The blocks run in a scratch copy of the source tree's top (each entry a
# symlink to the real one, so `ci/lab.sh` and `demo/...` resolve, and what
# the commands write stays in the scratch folder), with BUILD_DIR's assay
# first on PATH, ASSAY_LAB=<scratch>/assay-lab (what the README's
# walkthrough exports) and the agents of build-agents/. The blocks of one
# file run in order and share their shell variables (a walkthrough's
# `pkg=...` is there for the next block); each runs under `bash -e -o
# pipefail` and must exit as its marker says (0 unless told). Prints one
# line per block: PASS, FAIL (with the block's output) or SKIP (with the
# reason); DOC_VERBOSE=1 shows every block's output. Exit 0 when no block
# failed. The lab brought up goes down.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: doc-commands.sh BUILD_DIR [FILE.md...]}" && pwd)
shift
[ -x "$build/assay" ] || { echo "FAIL: no assay in $build"; exit 1; }
files=("$@")
[ ${#files[@]} -gt 0 ] || files=("$top/README.md" "$top"/docs/*.md)

work=$(mktemp -d /tmp/assay-doc-XXXXXX)
chmod 711 "$work" # the lab hosts' run user reaches the lab's folders through it
tree=$work/tree
mkdir "$tree"
for e in "$top"/* "$top"/.clang-format; do
    [ -e "$e" ] || continue
    case $(basename "$e") in lab | assay-lab | build | build-*) continue ;; esac
    ln -s "$e" "$tree/$(basename "$e")"
done
# build-agents/ is read by `assay` and by the README's agent example.
[ -e "$tree/build-agents" ] || ln -s "$top/build-agents" "$tree/build-agents"
lab_up=0
cleanup() {
    if [ "$lab_up" = 1 ]; then (cd "$tree" && ci/lab.sh down >/dev/null 2>&1); fi
    rm -rf "$work"
}
trap cleanup EXIT

export PATH="$build:$PATH" ASSAY_LAB="$tree/assay-lab" ASSAY_AGENTS_DIR="${ASSAY_AGENTS_DIR:-$top/build-agents}"
# A lab the blocks bring up goes down with this script even when it is
# killed (a ctest timeout): ci/lab.sh's watcher.
export ASSAY_LAB_OWNER=$$

# The blocks: each as a file, with its file, line, expected exit, needs and
# skip reason, one per line of $work/blocks (tab-separated).
python3 - "$work" "${files[@]}" <<'PY'
import os, re, sys
work, files = sys.argv[1], sys.argv[2:]
mark = re.compile(r"^<!-- doc-test: (.*) -->\s*$")
n = 0
with open(os.path.join(work, "blocks"), "w") as out:
    for f in files:
        lines = open(f, encoding="utf-8").read().split("\n")
        i = 0
        while i < len(lines):
            if lines[i].strip() == "```sh":
                j = i + 1
                while j < len(lines) and not lines[j].startswith("```"):
                    j += 1
                skip, code, needs, prints = "", "0", [], []
                k = i - 1
                while k >= 0 and mark.match(lines[k]):
                    for part in mark.match(lines[k]).group(1).split(";"):
                        part = part.strip()
                        if part.startswith("skip:"):
                            skip = part[5:].strip()
                        elif part.startswith("exit "):
                            code = part[5:].strip()
                        elif part.startswith("needs "):
                            needs.append(part[6:].strip())
                        elif part.startswith("prints "):
                            prints.append(part[7:].strip())
                    k -= 1
                n += 1
                body = os.path.join(work, "block%03d.sh" % n)
                with open(body, "w") as b:
                    b.write("\n".join(lines[i + 1 : j]) + "\n")
                with open(body + ".prints", "w") as p:
                    p.write("".join(x + "\n" for x in prints))
                out.write("\t".join([os.path.basename(f) if "docs/" not in f else "docs/" + os.path.basename(f),
                                     str(i + 1), code, ",".join(needs) or "-", skip or "-", body]) + "\n")
                i = j
            i += 1
PY

pass=0 fail=0 skip=0 prev=
state=$work/state
while IFS=$'\t' read -r file line code needs why body; do
    if [ "$file" != "$prev" ]; then
        : >"$state" # a new file: a new shell's variables
        prev=$file
    fi
    if [ "$why" != "-" ]; then
        echo "SKIP $file:$line: $why"
        skip=$((skip + 1))
        continue
    fi
    case ",$needs," in *,demo,*)
        [ -s "$top/demo/sumx-1.2.0-submission.tar.gz" ] || {
            echo "FAIL $file:$line: needs demo/sumx-1.2.0-submission.tar.gz: run ci/demo.sh (the ctest test demo) first"
            fail=$((fail + 1)); continue; } ;;
    esac
    case ",$needs," in *,binfmt,*)
        compgen -G '/proc/sys/fs/binfmt_misc/*aarch64*' >/dev/null || {
            echo "FAIL $file:$line: needs binfmt_misc to run aarch64 code: ci/binfmt.sh"
            fail=$((fail + 1)); continue; } ;;
    esac
    case ",$needs," in *,lab,*)
        if [ "$lab_up" = 0 ]; then
            (cd "$tree" && ci/lab.sh up >"$work/lab.log" 2>&1) || { echo "FAIL $file:$line: the lab did not come up"; cat "$work/lab.log"; exit 1; }
            lab_up=1
        fi ;;
    esac
    # The block, with the variables the file's earlier blocks left.
    { echo "source '$state' 2>/dev/null"; echo "set -e -o pipefail"; cat "$body";
      echo "set +e; (set -o posix; set) > '$state.new'"; } >"$body.run"
    start=$(date +%s)
    (cd "$tree" && bash "$body.run") </dev/null >"$body.out" 2>&1
    rc=$?
    [ -s "$state.new" ] && grep -vE '^(BASH[A-Z_]*|EUID|PPID|SHELLOPTS|UID|GROUPS|PIPESTATUS|FUNCNAME|_)=' "$state.new" >"$state"
    rm -f "$state.new"
    # The lab's own blocks bring it up or take it down: its last word counts.
    case $(grep -oE 'ci/lab\.sh( [^#]*)? (up|down)' "$body" | tail -n 1) in
    *up) lab_up=1 ;;
    *down) lab_up=0 ;;
    esac
    missing=
    while IFS= read -r want; do
        grep -qF -- "$want" "$body.out" || missing="$missing '$want'"
    done <"$body.prints"
    if [ "$rc" = "$code" ] && [ -n "$missing" ]; then
        echo "FAIL $file:$line: the docs say it prints$missing"
        sed 's/^/    /' "$body.out" | tail -n 40
        fail=$((fail + 1))
    elif [ "$rc" = "$code" ]; then
        echo "PASS $file:$line ($(($(date +%s) - start))s)"
        [ -z "${DOC_VERBOSE:-}" ] || sed 's/^/    /' "$body.out"
        pass=$((pass + 1))
    else
        echo "FAIL $file:$line: exit $rc, the docs say $code"
        sed 's/^/    /' "$body.out" | tail -n 40
        fail=$((fail + 1))
    fi
done <"$work/blocks"
echo "doc-commands: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
