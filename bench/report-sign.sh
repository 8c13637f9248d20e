#!/usr/bin/env bash
# Report signing and verification time for a report of about 1 MiB, with
# both algorithms (Ed25519, SM2/SM3).
#
#   bench/report-sign.sh [TESTS]     (default 2500 test results, ~1 MiB)
#
# A finished run with one target and TESTS test results is written into a
# fresh lab's store with the sqlite3 CLI (as the dispatcher would have
# stored them), then timed: `assay report` (build the statement, sign it,
# and verify it once before writing), `assay verify`, and openssl's own
# verification of the same signature (docs/verify.md), best of five.
set -euo pipefail
. "$(dirname "$0")/common.sh"
N=${1:-2500}
w=$(mktemp -d /tmp/assay-sign-XXXXXX)
trap 'rm -rf "$w"' EXIT
bench_build_assay
tests/data/make-submissions.sh "$w/corpus" >/dev/null


echo "assay report signing, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m); $N test results"
for alg in ed25519 sm2; do
    export ASSAY_LAB="$w/lab-$alg"
    "$A" init --key-type "$alg" >/dev/null
    pkg=$("$A" package add "$w/corpus/ok.tar.gz" 2>/dev/null)
    "$A" run submit "${pkg:0:12}" --profiles zhaoxin-kx6000-uos-20 >/dev/null
    {
        echo "BEGIN;"
        echo "UPDATE jobs SET state='ended', host='zhaoxin-1', outcome='passed', started_at='2026-11-27T00:00:00Z', ended_at='2026-11-27T01:00:00Z', last_seq=$((2 * N + 1));"
        echo "UPDATE runs SET state='done', finished_at='2026-11-27T01:00:00Z';"
        echo "INSERT INTO events VALUES (1, 1, 0, 'job-start', '{\"v\":1,\"seq\":0,\"ts\":\"2026-11-27T00:00:00Z\",\"type\":\"job-start\",\"facts\":{\"arch\":\"x86_64\",\"emulation\":{\"emulated\":false}},\"agent\":{\"version\":\"0.1.0\"}}');"
        for i in $(seq 1 "$N"); do
            echo "INSERT INTO events VALUES (1, 1, $((2 * i - 1)), 'step-start', '{\"v\":1,\"seq\":$((2 * i - 1)),\"ts\":\"2026-11-27T00:00:01Z\",\"type\":\"step-start\",\"step\":\"test-$i\",\"kind\":\"test\",\"name\":\"test number $i of the functional suite\",\"run\":1}');"
            echo "INSERT INTO events VALUES (1, 1, $((2 * i)), 'step-end', '{\"v\":1,\"seq\":$((2 * i)),\"ts\":\"2026-11-27T00:00:02Z\",\"type\":\"step-end\",\"step\":\"test-$i\",\"kind\":\"test\",\"run\":1,\"verdict\":\"pass\",\"reason\":null,\"exit_code\":0,\"signal\":null,\"timed_out\":false,\"metrics\":{\"wall_ns\":\"123456789\"},\"logs\":{\"stdout\":\"logs/test-$i.1.stdout\",\"stderr\":\"logs/test-$i.1.stderr\"}}');"
            echo "INSERT INTO logs VALUES (1, 1, 'logs/test-$i.1.stdout', '$(printf '%064d' "$i")', 1000);"
        done
        echo "INSERT INTO events VALUES (1, 1, $((2 * N + 1)), 'job-end', '{\"v\":1,\"seq\":$((2 * N + 1)),\"ts\":\"2026-11-27T01:00:00Z\",\"type\":\"job-end\",\"outcome\":\"passed\",\"reason\":null}');"
        echo "COMMIT;"
    } | sqlite3 "$ASSAY_LAB/assay.db"
    "$A" report 1 -o "$w/r-$alg.json"
    "$A" key export --public "$w/pub-$alg.pem"
    size=$(stat -c %s "$w/r-$alg.json")
    tr=$(best 5 t "$A" report 1 -o "$w/r-$alg.json")
    tv=$(best 5 t "$A" verify "$w/r-$alg.json" --pubkey "$w/pub-$alg.pem")
    mkdir -p "$w/o-$alg"
    cp "$w/r-$alg.json" "$w/o-$alg/report.json"
    cp "$w/pub-$alg.pem" "$w/o-$alg/lab.pub.pem"
    cp docs/verify-openssl.sh "$w/o-$alg/"
    to=$(best 5 t sh -c "cd $w/o-$alg && sh verify-openssl.sh report.json lab.pub.pem")
    printf '  %-8s report %5d KiB   assay report %5.3fs   assay verify %5.3fs   openssl script %5.3fs\n' \
        "$alg" $((size / 1024)) "$tr" "$tv" "$to"
done
echo "reproduce: bench/report-sign.sh $N"
