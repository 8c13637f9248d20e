#!/bin/bash
# Run the DSSE tamper corpus (tests/dsse/corpus.py) through three verifiers
# and compare each answer with the one the DSSE specification gives:
#   - `assay verify`;
#   - docs/verify-openssl.sh (openssl and jq);
#   - Debian's securesystemslib (tests/dsse/sslib_verify.py), Ed25519 only,
#     in the Debian 13 tool root: Debian 12's python3-securesystemslib
#     (0.26) predates its DSSE module (0.27).
# securesystemslib's known departures from DSSE are listed in the corpus
# (expected.tsv, third column) and in docs/verify.md; any other difference
# fails.
#
#   run-corpus.sh ASSAY ENVELOPE PUBKEY PRIVKEY WORKDIR
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../ci/common.sh"
[ $# -eq 5 ] || die "usage: run-corpus.sh ASSAY ENVELOPE PUBKEY PRIVKEY WORKDIR"
assay=$1 env=$2 pub=$3 key=$4 work=$5
type=application/vnd.in-toto+json
rm -rf "$work"
mkdir -p "$work/cases"
python3 "$ASSAY_TOP/tests/dsse/corpus.py" "$env" "$pub" "$key" "$work/cases"
cp "$pub" "$work/cases/pub.pem"
keyid=$(openssl pkey -pubin -in "$pub" -outform DER | sha256sum | cut -c1-64)

sslib=no
if ! openssl pkey -pubin -in "$pub" -noout -text | grep -q 'ASN1 OID: SM2'; then
    sslib=yes
    toolroot_run "python3 -c 'import securesystemslib.dsse, cryptography'" \
        || die "securesystemslib is not in the Debian 13 tool root: run ci/deps.sh"
    (cd "$work/cases" && tar cf - pub.pem ./*.json) \
        | toolroot_run "python3 /src/assay/tests/dsse/sslib_verify.py $keyid $type" >"$work/sslib.tsv"
fi

# answer RC: valid (0) or invalid (1); anything else (a crash, a sanitizer
# report, a usage error) is an error of the verifier, not an answer.
answer() { case $1 in 0) echo valid ;; 1) echo invalid ;; *) echo "error($1)" ;; esac; }

bad=0 n=0
printf '%-34s %-8s %-8s %-8s %-8s\n' case DSSE assay script sslib
while IFS=$'\t' read -r name dsse sslib_expect digest why; do
    n=$((n + 1))
    f=$work/cases/$name.json
    rc=0
    "$assay" verify "$f" --pubkey "$pub" >"$work/$name.assay" 2>&1 || rc=$?
    a=$(answer $rc)
    rc=0
    sh "$ASSAY_TOP/docs/verify-openssl.sh" "$f" "$pub" "$work/$name.payload" >"$work/$name.script" 2>&1 || rc=$?
    s=$(answer $rc)
    # What the script hands on must be the payload it verified, byte for byte.
    if [ "$s" = valid ] && [ "$(sha256sum <"$work/$name.payload" | cut -c1-64)" != "$digest" ]; then
        s="valid(other payload)"
    fi
    p=-
    if [ $sslib = yes ]; then
        p=$(awk -F'\t' -v c="$name" '$1 == c { print $2 }' "$work/sslib.tsv")
        want=$dsse
        [ "$sslib_expect" = "=" ] || want=$sslib_expect
    fi
    printf '%-34s %-8s %-8s %-8s %-8s %s\n' "$name" "$dsse" "$a" "$s" "$p" "$why"
    if [ "$a" != "$dsse" ] || [ "$s" != "$dsse" ] || { [ $sslib = yes ] && [ "$p" != "$want" ]; }; then
        bad=$((bad + 1))
        echo "  MISMATCH: assay said: $(tail -n 1 "$work/$name.assay")"
        echo "            script said: $(tail -n 1 "$work/$name.script")"
        [ $sslib = no ] || echo "            securesystemslib said: $(awk -F'\t' -v c="$name" '$1 == c { print $3 }' "$work/sslib.tsv") (expected $want)"
    fi
done <"$work/cases/expected.tsv"
echo "$n cases, $bad disagreements$([ $sslib = yes ] || echo ' (securesystemslib not run: it has no SM2)')"
[ "$bad" -eq 0 ] && [ "$n" -ge 40 ]
