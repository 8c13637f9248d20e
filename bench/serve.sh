#!/usr/bin/env bash
# assay serve: upload throughput against curl to the server's own sink,
# and how soon a stored event reaches a watcher of its job's event stream.
#
#   bench/serve.sh [MiB] [EVENTS]      (defaults 256 MiB, 50 events)
#
# The submission: an uncompressed tar holding a manifest and one .tar.zst
# artifact of MiB MiB of incompressible data (with three real ELF files),
# as bench/ingest.sh makes it. Each try starts a fresh lab and a server
# with --bench-sink (a benchmark-only option: POST /bench/sink reads a
# body and drops it, or with ?to=file writes it to a file in the server's
# staging and removes it; without the option the path does not exist),
# then `curl --data-binary @FILE` to
#  - /bench/sink: the same server, socket, token check and thread pool,
#    the bytes dropped as they come (what the network path alone gives);
#  - /bench/sink?to=file: the same, the bytes written to a file as they
#    come (the raw sink: what the network path and the disk give);
#  - POST /api/v1/packages: received and staged chunk by chunk (the access
#    log's body_ms), then the whole answer, after ingest and preflight
#    (curl's time_total).
# Best of 3 each. Goal (issue 16): the upload at least 0.8x the raw sink's
# throughput. Then events: job 1 of a run is started in the store as the
# dispatcher would, a stream of its events opened, and EVENTS events
# stored one at a time (bench_serve_sse): from each commit to its id on
# the stream. Goal: under 1 s.
set -euo pipefail
. "$(dirname "$0")/common.sh"
MB=${1:-256}
NEV=${2:-50}
w=$(mktemp -d /tmp/assay-serve-XXXXXX)
srv=""
cleanup() { [ -z "$srv" ] || kill "$srv" 2>/dev/null || true; rm -rf "$w"; }
trap cleanup EXIT
bench_build_assay
cmake --build "$ASSAY_TOP/build-bench" -j"$(nproc)" --target bench_serve_sse >/dev/null
SSE="$ASSAY_TOP/build-bench/bench_serve_sse"

bench_submission "$w/sub.tar" "$MB"
size=$(stat -c %s "$w/sub.tar")
cat "$w/sub.tar" > /dev/null # in the page cache for both

# serve_up: a fresh lab, an engineer's token in $tok, the server in $srv on $url.
serve_up() {
    rm -rf "$w/lab" "$w/serve.out" "$w/serve.log"
    export ASSAY_LAB="$w/lab"
    "$A" init >/dev/null
    "$A" user add bench --role engineer >/dev/null
    tok=$("$A" token create bench)
    : > "$w/serve.out"
    "$A" serve --listen 127.0.0.1:0 --bench-sink > "$w/serve.out" 2> "$w/serve.log" &
    srv=$!
    local line=""
    while [ -z "$line" ]; do # until it says where it listens (or dies)
        kill -0 "$srv" 2>/dev/null || die "assay serve did not start: $(cat "$w/serve.log")"
        line=$(head -1 "$w/serve.out")
        [ -n "$line" ] || sleep 0.05
    done
    url=${line##* }
}
serve_down() { kill "$srv"; wait "$srv" || true; srv=""; }
post() { # PATH: curl's total seconds; the answer in $w/answer
    curl -sS -o "$w/answer" -w '%{time_total}\n' -H "Authorization: Bearer $tok" --data-binary @"$w/sub.tar" "$url$1"
}

sink=999999 raw=999999 staged=999999 whole=999999
for i in 1 2 3; do
    serve_up
    x=$(post /bench/sink)
    grep -q "\"bytes\":$size" "$w/answer" || die "the sink did not read the file: $(cat "$w/answer")"
    (( $(echo "$x < $sink" | bc) )) && sink=$x
    x=$(post "/bench/sink?to=file")
    grep -q "\"bytes\":$size" "$w/answer" || die "the sink did not write the file: $(cat "$w/answer")"
    (( $(echo "$x < $raw" | bc) )) && raw=$x
    x=$(post "/api/v1/packages?name=big-1.0.tar")
    grep -q '"added":true' "$w/answer" || die "the upload was not added: $(cat "$w/answer")"
    (( $(echo "$x < $whole" | bc) )) && whole=$x
    ms=$(grep '"route":"package-add"' "$w/serve.log" | sed -n 's/.*"body_ms":\([0-9]*\).*/\1/p' | tail -1)
    x=$(echo "$ms / 1000" | bc -l)
    (( $(echo "$x < $staged" | bc) )) && staged=$x
    [ "$i" = 3 ] || serve_down
done

# Events: a run of the package on one target; its job 1 streamed.
pkg=$(sed -n 's/.*"id":"\([0-9a-f]\{64\}\)".*/\1/p' "$w/answer")
"$A" run submit "$pkg" --profiles zhaoxin-kx6000-uos-20 > /dev/null 2>&1
"$SSE" "$w/lab" "${url##*:}" "$tok" 1 "$NEV" > "$w/sse.ms"
serve_down
read -r med p95 max < <(sort -n "$w/sse.ms" | awk '{a[NR] = $1} END {
    printf "%s %s %s\n", a[int((NR + 1) / 2)], a[int(NR * 0.95 + 0.999)], a[NR]}')

mib=$(echo "$size / 1048576" | bc -l)
echo "assay serve, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m); submission $(printf %.0f "$mib") MiB, best of 3"
printf '  curl to /bench/sink, dropped          %6.2fs  %7.1f MiB/s\n' "$sink" "$(echo "$mib / $sink" | bc -l)"
printf '  curl to /bench/sink?to=file (raw sink) %6.2fs  %7.1f MiB/s\n' "$raw" "$(echo "$mib / $raw" | bc -l)"
printf '  upload, received and staged            %6.2fs  %7.1f MiB/s  %.2fx the raw sink (goal >= 0.8x), %.2fx dropped\n' \
    "$staged" "$(echo "$mib / $staged" | bc -l)" "$(echo "$raw / $staged" | bc -l)" "$(echo "$sink / $staged" | bc -l)"
printf '  upload, answered after ingest          %6.2fs  %7.1f MiB/s  %.2fx the raw sink\n' \
    "$whole" "$(echo "$mib / $whole" | bc -l)" "$(echo "$raw / $whole" | bc -l)"
printf '  SSE, stored -> seen (%s events)        median %s ms, p95 %s ms, max %s ms (goal < 1000 ms)\n' \
    "$NEV" "$med" "$p95" "$max"
echo "reproduce: bench/serve.sh $MB $NEV"
