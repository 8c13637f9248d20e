#!/bin/sh
# Verify a signed assay report (a DSSE envelope) with openssl and jq alone,
# by the rules of docs/verify.md, which `assay verify` follows too.
#
#   sh verify-openssl.sh REPORT PUBKEY [PAYLOAD]
#
# Exit 0 when the report is valid, after writing the payload that was
# verified to PAYLOAD (default payload.json); exit 1 otherwise, leaving no
# PAYLOAD behind. Needs a POSIX shell, openssl 3, jq, base64 and iconv.
set -eu
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: sh verify-openssl.sh REPORT PUBKEY [PAYLOAD]" >&2
    exit 2
fi
out=${3:-payload.json}
type=application/vnd.in-toto+json
statement=https://in-toto.io/Statement/v1
predicate=https://in-toto.io/attestation/assay-adaptation-report/v1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "invalid: $*" >&2; exit 1; }
# Read each input once: every check below is of these copies.
cat "$1" >"$t/report.json" || fail "cannot read $1"
cat "$2" >"$t/key.pem" || fail "cannot read $2"
report=$t/report.json pub=$t/key.pem
rm -f "$out"

# b64 TEXT FILE: decode TEXT into FILE. Standard or URL-safe alphabet (not
# both, which step 2 checks, with '=' only at the end), padded or not;
# refused: incomplete padding, and unused bits that are not zero (a second
# spelling of the same bytes), found by encoding the result again. (Plain
# parameter expansion only: dash matches patterns such as *[+/]*[-_]* in
# time that grows with the square of the length.)
b64() {
    case $1 in *[!A-Za-z0-9+/=_-]*) return 1 ;; esac
    b64_data=${1%%=*}
    b64_pad=$((${#1} - ${#b64_data}))
    [ $((${#b64_data} % 4)) -ne 1 ] && [ "$b64_pad" -le 2 ] || return 1
    [ "$b64_pad" -eq 0 ] || [ $((${#1} % 4)) -eq 0 ] || return 1
    b64_std=$(printf '%s' "$b64_data" | tr -- '-_' '+/')
    case $((${#b64_data} % 4)) in 2) b64_std="$b64_std==" ;; 3) b64_std="$b64_std=" ;; esac
    printf '%s' "$b64_std" | base64 -d >"$2" 2>/dev/null || return 1
    [ "$(base64 -w0 <"$2")" = "$b64_std" ]
}

# strict FILE: one strict JSON object: UTF-8, nothing around it but
# whitespace, no name twice in one object (jq would keep the last one
# silently: its raw event stream then differs from that of the object it
# parsed), at most 64 levels deep, and no NUL in any string or name.
strict() {
    iconv -f UTF-8 -t UTF-8 "$1" >/dev/null 2>&1 || return 1
    [ "$(tr -d ' \t\r\n' <"$1" | head -c 1)" = "{" ] && [ "$(tr -d ' \t\r\n' <"$1" | tail -c 1)" = "}" ] \
        && [ "$(jq -s length "$1" 2>/dev/null)" = 1 ] || return 1
    jq -c --stream . "$1" >"$t/raw" && jq -c tostream "$1" >"$t/parsed" && cmp -s "$t/raw" "$t/parsed" || return 1
    [ "$(jq '([paths(type == "object" or type == "array") | length] | max + 1) <= 64
        and ([.. | (strings, (objects | keys[]))] | any(.[]; explode | index([0]) != null) | not)' "$1")" = true ]
}

# 1. The envelope is strict JSON.
strict "$report" || fail "not one strict JSON object (docs/verify.md)"

# 2. The DSSE fields: payload, payloadType and every signatures[].sig are
#    strings (keyid a string or unset); all other members are ignored. The
#    base64 strings use one alphabet, with '=' only at the end (\A and \z
#    anchor at the ends of the string, where ^ and $ would also match
#    around a newline).
n=$(jq -r '
    def b64: type == "string" and (test("\\A[A-Za-z0-9+/]*={0,2}\\z") or test("\\A[A-Za-z0-9_-]*={0,2}\\z"));
    if (.payloadType | type) != "string" or (.payload | b64 | not) or (.signatures | type) != "array"
        or (.signatures | length) == 0 then "not a DSSE envelope"
    elif any(.signatures[]; type != "object" or (.sig | b64 | not)
        or ((.keyid | type) != "string" and .keyid != null)) then "a signature entry is malformed"
    else .signatures | length end' "$report")
case $n in *[!0-9]*) fail "$n" ;; esac
[ "$n" -le 256 ] || fail "more than 256 signatures"

# 3. Decode everything before using anything: DSSE rejects an envelope when
#    decoding fails, whichever entry it is.
b64 "$(jq -j .payload "$report")" "$t/payload" || fail "the payload is not base64"
i=0
while [ "$i" -lt "$n" ]; do
    b64 "$(jq -j ".signatures[$i].sig" "$report")" "$t/sig.$i" || fail "signature $((i + 1)) is not base64"
    i=$((i + 1))
done
[ "$(jq -r .payloadType "$report")" = "$type" ] || fail "the payload type is not $type"

# 4. What was signed: the PAE, over the exact payload bytes.
printf 'DSSEv1 %d %s %d ' ${#type} "$type" $(($(wc -c <"$t/payload"))) >"$t/pae"
cat "$t/payload" >>"$t/pae"

# 5. Valid if one signature verifies under the key. An entry whose keyid is
#    set and names another key is not counted (the key id is the SHA-256 of
#    the key's DER form). pkeyutl -rawin wants regular files, not pipes.
openssl pkey -pubin -in "$pub" -outform DER -out "$t/key.der" 2>/dev/null || fail "$2 is not a public key in PEM"
keyid=$(sha256sum <"$t/key.der" | cut -c1-64)
if openssl pkey -pubin -in "$pub" -noout -text | grep -q 'ASN1 OID: SM2'; then
    alg=sm2-sm3
    set -- -digest sm3 -pkeyopt distid:1234567812345678
else
    alg=ed25519
    set --
fi
i=0 good=
while [ "$i" -lt "$n" ] && [ -z "$good" ]; do
    if [ "$(jq --arg k "$keyid" ".signatures[$i] | .keyid == null or .keyid == \"\" or .keyid == \$k" "$report")" = true ] \
        && openssl pkeyutl -verify -pubin -inkey "$pub" -rawin -in "$t/pae" -sigfile "$t/sig.$i" "$@" >/dev/null 2>&1; then
        good=$((i + 1))
    fi
    i=$((i + 1))
done
[ -n "$good" ] || fail "no signature verifies under key $keyid"

# 6. The payload, parsed from the bytes just verified, as strictly: an
#    assay statement.
if ! strict "$t/payload" || [ "$(jq --arg s "$statement" --arg p "$predicate" \
    '._type == $s and .predicateType == $p and (.predicate | type) == "object"' "$t/payload")" != true ]; then
    fail "signed, but the payload is not an assay report statement"
fi
cp "$t/payload" "$out"
echo "valid: signature $good of $n verifies under $alg key $keyid; the payload is in $out"
