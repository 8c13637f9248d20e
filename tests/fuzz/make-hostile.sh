#!/usr/bin/env bash
# Write hostile inputs for the fuzz targets' entry points into DIR/<target>/
# (deep nesting, huge strings and numbers, invalid UTF-8, wrong types): the
# seeds of ci/fuzz.sh and, with tests/fuzz/regress/ (the fuzzers' findings),
# what ctest's fuzz-regress-* tests replay under the sanitizers.
#
#   tests/fuzz/make-hostile.sh DIR
set -euo pipefail
R=$1
mkdir -p "$R"/{spec,manifest,profile,event,markup,envelope}
deep() { python3 -c "import sys; n=int(sys.argv[1]); sys.stdout.write(sys.argv[2]*n)" "$1" "$2"; }
for t in spec manifest profile; do
    deep 100000 '[' > "$R/$t/deep-arrays"
    deep 100000 '{"a":' > "$R/$t/deep-objects"
done
{ printf '\001'; deep 100000 '['; } > "$R/event/deep-arrays"
printf '\001{"v":1,"seq":0,"ts":"\303(","type":"job-start","job":"lab-r1-j1-a1"}' > "$R/event/bad-utf8"
printf '\001{"v":1,"seq":0,"ts":"x","type":"job-start","job":"lab-r1-j1-a1\000x"}' > "$R/event/nul-in-job"
printf '\001{"v":1,"seq":1e308,"type":"error"}' > "$R/event/huge-seq"
printf '\001{"v":1,"seq":-0.5,"type":"error"}' > "$R/event/fraction-seq"
printf '\001{"v":1,"seq":0,"type":"job-start","job":null}' > "$R/event/null-job-start"
printf '\000{"v":1,"seq":0,"type":"job-end","job":7}' > "$R/event/number-job"
printf '\001{"v":1,"seq":0,"type":"job-start","job":"lab-r1-j1-a1","job":"x"}' > "$R/event/two-job-keys"
printf '\001{"v":1,"seq":0,"type":"job-start","job":"%s"}' "$(head -c 100000 /dev/zero | tr '\0' j)" > "$R/event/long-job"
printf '{"manifest":1,"product":"%s"}' "$(head -c 3000000 /dev/zero | tr '\0' p)" > "$R/manifest/huge-string"
printf '{"manifest":1e999,"product":[],"version":{},"tests":"x"}' > "$R/manifest/wrong-types"
printf '{"protocol":1,"id":"j","log_cap":1e300,"steps":[{"id":"t","kind":"test","command":"x","timeout":-1e300}]}' > "$R/spec/huge-numbers"
printf '{"profile":1,"id":"p","arch":"aarch64","page_size":1e300}\000{"arch":"aarch64","page_size":-1}' > "$R/profile/huge-numbers"
printf '{"profile":1,"id":"p"}\000{"arch":[],"os":{"id":7},"cpu":null}' > "$R/profile/facts-wrong-types"
# Markup: the first byte picks kind, text or attribute, and a cell width
# (fuzz_markup.c); the rest is what a vendor or a host could write.
for k in 0 1 2 3 4 5 6 7 84 123 255; do
    { printf "\\$(printf %03o "$k")"
      printf '<script>x</script>"'"'"'&amp;]]>|`[a](b)\n\t\r\001\033[31m\177\302\233\342\200\256\357\277\276\377\300\257\355\240\200中文名称\344\270'
    } > "$R/markup/hostile-$k"
done
deep 70000 '<' > "$R/markup/many-lt"

# Envelopes for fuzz_envelope.c, signed with its fuzz-only key, valid and
# hostile: deep nesting, many signatures, names twice, NULs, long base64.
key=$(mktemp)
trap 'rm -f "$key" "$key.msg"' EXIT
printf '%s\n' '-----BEGIN PRIVATE KEY-----' 'MC4CAQAwBQYDK2VwBCIEIM2iIfzHr8LsNPRbE/wH9wEhdDWysoFRxHp2cm8VrFtQ' \
    '-----END PRIVATE KEY-----' > "$key"
type=application/vnd.in-toto+json
body='{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://in-toto.io/attestation/assay-adaptation-report/v1","subject":[],"predicate":{"verdict":"pass","conclusion":{"certified":true,"reasons":[]}}}'
printf 'DSSEv1 %d %s %d %s' ${#type} "$type" ${#body} "$body" > "$key.msg"
sig=$(openssl pkeyutl -sign -inkey "$key" -rawin -in "$key.msg" | base64 -w0)
pl=$(printf '%s' "$body" | base64 -w0)
kid=$(openssl pkey -in "$key" -pubout -outform DER | sha256sum | cut -c1-64)
e() { printf '{"payloadType":"%s","payload":"%s","signatures":[%s]%s}\n' "$type" "$pl" "$1" "${2:-}"; }
e "{\"keyid\":\"$kid\",\"sig\":\"$sig\"}" > "$R/envelope/valid"
e "{\"sig\":\"$sig\"}" ',"x":{"payload":"AAAA"}' > "$R/envelope/valid-no-keyid"
e "$(for _ in $(seq 255); do printf '{"sig":"AAAA"},'; done){\"sig\":\"$sig\"}" > "$R/envelope/256-signatures"
e "$(for _ in $(seq 256); do printf '{"sig":"AAAA"},'; done){\"sig\":\"$sig\"}" > "$R/envelope/257-signatures"
e "{\"keyid\":\"$kid\",\"sig\":\"$sig\",\"sig\":\"$sig\"}" > "$R/envelope/sig-twice"
e "{\"keyid\":\"$kid\\u0000\",\"sig\":\"$sig\"}" > "$R/envelope/nul-keyid"
e "{\"sig\":\"$sig\"}" ",\"x\":$(deep 60 '[')$(deep 60 ']')" > "$R/envelope/deep-unknown"
e "{\"sig\":\"$sig\"}" ",\"x\":$(deep 70 '[')$(deep 70 ']')" > "$R/envelope/too-deep-unknown"
e "{\"sig\":\"$(head -c 3000000 /dev/zero | tr '\0' A)\"}" > "$R/envelope/long-sig"
e "{\"sig\":\"$sig\"}" ',"x":"\ud800\udc00\ud800"' > "$R/envelope/lone-surrogate"
printf '{"a":%s' "$(deep 100000 '{"a":')" > "$R/envelope/deep-objects"
