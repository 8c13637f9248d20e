#!/usr/bin/env bash
# Run `assay package add FILE` in a scratch directory (HOME, TMPDIR, the
# working directory and the lab all inside it) and show everything that
# changed outside the lab's store. tests/test_ingest.c runs it for every
# hostile and broken submission of make-submissions.sh.
#
#   tests/data/snapshot-add.sh ASSAY FILE [CONFIG-KEY VALUE]...
#
# As root with mount namespaces (unshare -m) it runs in a namespace of its
# own with a fresh tmpfs on /tmp, so /tmp's top level is this run's alone
# and other processes writing to the real /tmp cannot make it fail; the
# scratch directory is /tmp/scratch. Without them (or when assay or the
# file are under /tmp, which the tmpfs would hide), the scratch directory's
# parent is a private directory under /tmp, and the real /tmp's top level
# is compared but for it: then nothing else may write to /tmp meanwhile.
#
# Prints, for the test to check:
#   == private-tmp 0|1      whether /tmp was this run's alone
#   == rc N                 assay's exit status
#   == stderr ... == end    what assay printed (stdout and stderr)
#   == blobs N M            files under the store's blobs/ before and after
#   == packages JSON        `assay package list --json` after
#   == changed ... == end   the snapshots' diff, empty if nothing changed
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: tests/data/snapshot-add.sh ASSAY FILE [CONFIG-KEY VALUE]..." >&2; exit 2; }
A=$1 F=$2
shift 2
if [ "${SNAPSHOT_IN_NS:-}" != 1 ]; then
    case "$A $F" in
    /tmp/* | *" /tmp/"*) ;; # a tmpfs on /tmp would hide them
    *)
        if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
            SNAPSHOT_IN_NS=1 exec unshare -m --propagation private "$0" "$A" "$F" "$@"
        fi
        ;;
    esac
fi
if [ "${SNAPSHOT_IN_NS:-}" = 1 ]; then
    mount -t tmpfs -o mode=1777,size=1g assay-snapshot /tmp || exit 90
    P=/tmp
    echo "== private-tmp 1"
else
    P=$(mktemp -d /tmp/assay-snapshot-XXXXXX) || exit 90
    trap 'rm -rf "$P"' EXIT
    echo "== private-tmp 0"
fi
S=$P/scratch
mkdir -p "$S/home" "$S/tmp" "$S/work"
name=$(basename "$F")
cp "$F" "$S/work/$name" || exit 91
export HOME=$S/home TMPDIR=$S/tmp ASSAY_LAB=$S/lab
cd "$S/work" || exit 91
"$A" init >/dev/null 2>&1 || { echo "assay init failed"; exit 92; }
while [ $# -ge 2 ]; do
    "$A" config set "$1" "$2" >/dev/null || exit 93
    shift 2
done

# Where an extracting tool would write: the archive's absolute and ".."
# names and its link targets, taken from every directory the run has to
# hand, and their parents (a directory made on the way counts too).
watched=$(
    {
        bsdtar -tf "$name" 2>/dev/null | grep -E '^/|(^|/)\.\.(/|$)'
        bsdtar -tvf "$name" 2>/dev/null | sed -n 's/.* -> //p; s/.* link to //p'
    } | while IFS= read -r n; do
        case $n in
        /*) p=$n ;;
        *) p= ;;
        esac
        for base in "$S/work" "$S/lab" "$S/lab/blobs" "$S/lab/blobs/tmp" "$HOME" "$TMPDIR"; do
            q=${p:-$(realpath -m "$base/$n")}
            printf '%s\n%s\n' "$q" "$(dirname "$q")"
        done
    done | sort -u
)

snapshot() {
    # (a) the scratch tree but for the store
    find "$S" -path "$S/lab" -prune -o -printf '%p %y %s %m %T@\n'
    # (b) the top level of /tmp (but for the private parent), and the
    # watched paths
    find /tmp -mindepth 1 -maxdepth 1 ! -path "$P" -printf '%p %y %s %m %T@\n'
    [ -n "$watched" ] && printf '%s\n' "$watched" | while IFS= read -r w; do
        find "$w" -maxdepth 0 -printf '%p %y %s %m %T@\n' 2>/dev/null
    done
}
blobs() { find "$S/lab/blobs" -type f | wc -l; }

before=$(snapshot | sort)
b0=$(blobs)
out=$("$A" package add "$name" 2>&1)
rc=$?
b1=$(blobs)
after=$(snapshot | sort)
echo "== rc $rc"
echo "== stderr"
printf '%s\n' "$out" | head -c 4096
echo "== end"
echo "== blobs $b0 $b1"
echo "== packages $("$A" package list --json 2>&1 | tr -d ' \t\n')"
echo "== changed"
diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | head -n 40
echo "== end"
