#!/usr/bin/env bash
# assay serve under load while the dispatcher runs jobs on the local lab
# (issue 16, "Bad input and load"). Not part of ctest: it takes minutes.
#
#   bench/serve-load.sh [--size MiB] [--clients N] [--think S] [--uploads N] [--jobs N] [--hosts N]
#                       [--blobs DIR]
#              (defaults 256 MiB, 200 clients, 1 s, 16 uploads, 32 jobs, 16 hosts)
# --blobs DIR puts the lab's blob store, where uploads are staged and
# artifacts kept, in DIR (an empty folder, say on a disk of its own),
# linked from the lab; the store (assay.db) stays in the lab.
#
# A lab of --hosts hosts (ci/lab.sh; all with the x86_64 profile, so the
# figure is assay's, not qemu's), a Release assay, and two rounds of
# --jobs jobs (each a run of one target: install, 8 tests of 0.5 s,
# uninstall) under `assay dispatch --once`:
#  1. alone: the dispatcher's event latency with no other load;
#  2. the same jobs while `assay serve` takes --clients clients reading runs
#     and jobs (GET /api/v1/runs, /runs/N, /jobs/J, each client one
#     kept-alive connection, --think seconds between its requests, as a
#     page or a CI job polling; 0: without pause), spread over four
#     loopback addresses (the server takes 128 connections per address), and
#     --uploads uploads at once of --size MiB submissions, each its own
#     file (its own manifest and its own large artifact).
# The event latency is from each event's `ts` (the agent's clock, this
# machine's) to the moment a reader of the store first sees it (a reader
# looking for a change every 1 ms, so up to about 1 ms late), split at the time
# the dispatcher read the event off its host's channel (the store's
# received_ms): the host's side (the agent, sshd, the network) and the
# dispatcher's (checking and storing it). It checks: every
# request answered 200, every upload 201 and its package listed whole
# (its submission's blob there with its size and SHA-256), nothing left in
# the server's staging nor the blob store's, every job passed; and prints
# the server's peak RSS (VmHWM).
#
#   bench/serve-load.sh --size 16 --clients 50 --uploads 4 --jobs 8 --hosts 4   # a quick try
set -euo pipefail
. "$(dirname "$0")/common.sh"
SIZE=256 CLIENTS=200 THINK=1 UPLOADS=16 JOBS=32 HOSTS=16 BLOBS=""
while [ $# -gt 0 ]; do
    case $1 in
    --size) SIZE=$2 ;;
    --clients) CLIENTS=$2 ;;
    --think) THINK=$2 ;;
    --uploads) UPLOADS=$2 ;;
    --jobs) JOBS=$2 ;;
    --hosts) HOSTS=$2 ;;
    --blobs) BLOBS=$2 ;;
    *) die "unknown option $1 (see the comment at the top)" ;;
    esac
    shift 2
done
w=$(mktemp -d /tmp/assay-serve-load-XXXXXX)
hosts="$w/hosts"
srv="" cpid="" blobs_ours=""
export ASSAY_LAB="$w/lab" ASSAY_AGENTS_DIR="$ASSAY_TOP/build-agents"
cleanup() {
    [ -z "$cpid" ] || kill "$cpid" 2>/dev/null || true
    [ -z "$srv" ] || kill "$srv" 2>/dev/null || true
    "$ASSAY_TOP/ci/lab.sh" --dir "$hosts" down >/dev/null 2>&1 || true
    [ -n "${ASSAY_KEEP:-}" ] || rm -rf "$w"
    # --blobs: what this run put in the folder (it was empty)
    [ -z "$blobs_ours" ] || [ -n "${ASSAY_KEEP:-}" ] || find "$BLOBS" -mindepth 1 -delete
}
trap cleanup EXIT
bench_build_assay
[ -x "$ASSAY_AGENTS_DIR/x86_64-linux-gnu/assay-agent" ] || "$ASSAY_TOP/ci/build-agents.sh" x86_64-linux-gnu >/dev/null
"$ASSAY_TOP/ci/lab.sh" --dir "$hosts" --net 43 up "$HOSTS" >/dev/null
if [ -n "$BLOBS" ]; then
    [ -d "$BLOBS" ] && [ -z "$(ls -A "$BLOBS")" ] || die "--blobs $BLOBS: give an empty folder"
    blobs_ours=1
    mkdir -p "$ASSAY_LAB"
    ln -s "$(cd "$BLOBS" && pwd)" "$ASSAY_LAB/blobs"
fi
"$A" init >/dev/null
"$A" host import "$hosts/hosts.json" >/dev/null
sqlite3 "$ASSAY_LAB/assay.db" "update hosts set profile = 'zhaoxin-kx6000-uos-20'"
"$A" user add eng --role engineer >/dev/null
tok=$("$A" token create eng)

# The jobs' package: steps that take a while, so the jobs stream events
# through the whole of the load.
mkdir -p "$w/job/pkgs" "$w/p"
echo x > "$w/p/x"
tar -C "$w/p" -czf "$w/job/pkgs/x.tar.gz" x
tests=""
for i in 1 2 3 4 5 6 7 8; do tests="$tests{\"id\": \"t$i\", \"command\": \"sleep 0.5\", \"timeout\": 60},"; done
cat > "$w/job/manifest.json" <<JSON
{"manifest": 1, "product": "load", "version": "1", "vendor": "bench",
 "artifacts": [{"file": "pkgs/x.tar.gz", "arch": "noarch"}],
 "install": {"command": "true", "timeout": 60}, "tests": [${tests%,}],
 "uninstall": {"command": "true", "timeout": 60}}
JSON
tar -C "$w/job" -czf "$w/job.tar.gz" manifest.json pkgs
jobpkg=$("$A" package add "$w/job.tar.gz" 2>/dev/null)

# The uploads: a manifest each and an artifact each, all different bytes
# (the store keeps an artifact it has already without writing it to disk
# again: 16 of the same would measure that). Each artifact is the first
# one with one more zstd skippable frame at its end (4 bytes the
# decompressor skips), so they cost no more to make.
bench_submission "$w/up-1.tar" "$SIZE" 1.1
mkdir -p "$w/up"
tar -C "$w/up" -xf "$w/up-1.tar"
for i in $(seq 2 "$UPLOADS"); do
    printf '\x50\x2a\x4d\x18\x04\x00\x00\x00%04d' "$i" >> "$w/up/pkgs/big-1.0.tar.zst"
    bench_manifest "$w/up" "1.$i"
    tar -C "$w/up" -cf "$w/up-$i.tar" manifest.json pkgs
done
rm -rf "$w/up"
sync # what the setup wrote is on disk before the first round

# The event reader: each event's ts to when the store first shows it.
# The reader runs at a real-time priority where it may (root: chrt -f), so
# that what it measures is the store, not its own wait for a CPU among the
# load's 200 clients and 16 adds.
RT=""
if chrt -f 10 true 2>/dev/null; then RT="chrt -f 10"; fi
watch_events() { # OUT FROM: events after rowid FROM, until $w/stop-events exists
    $RT python3 - "$ASSAY_LAB/assay.db" "$1" "$w/stop-events" "$2" <<'PY'
import datetime, json, os, sqlite3, sys, time
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)
last = int(sys.argv[4])
out = open(sys.argv[2], "w")
db.execute("select count(*) from events").fetchone()
open(sys.argv[3] + ".ready", "w").close()  # reading: the dispatcher may start
version = None
while True:
    stop = os.path.exists(sys.argv[3])
    # Read only when the store changed (a cheap check, so every 1 ms).
    v = db.execute("pragma data_version").fetchone()[0]
    if v == version and not stop:
        time.sleep(0.001)
        continue
    version = v
    for rowid, body, rcv in db.execute("select rowid, body, received_ms from events where rowid > ? order by rowid",
                                       (last,)):
        seen = time.time() * 1000
        ts = json.loads(body)["ts"]
        t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        t = t.timestamp() * 1000
        # in all; on the host's side (the agent's write to the dispatcher's
        # read); in the dispatcher (its read to the store's commit).
        out.write("%.1f %.1f %.1f\n" % (seen - t, rcv - t, seen - rcv))
        last = rowid
    if stop:
        break
PY
}
# round NAME: JOBS runs of the job package, dispatched until done; the
# event latencies into $w/NAME.ms.
round() {
    rm -f "$w/stop-events" "$w/stop-events.ready"
    for _ in $(seq "$JOBS"); do "$A" run submit "${jobpkg:0:12}" --profiles zhaoxin-kx6000-uos-20 >/dev/null; done
    watch_events "$w/$1.ms" "$(sqlite3 "$ASSAY_LAB/assay.db" "select coalesce(max(rowid), 0) from events")" &
    local wpid=$!
    while [ ! -e "$w/stop-events.ready" ]; do # until the reader reads
        kill -0 "$wpid" 2>/dev/null || die "the event reader did not start"
        sleep 0.05
    done
    local s e
    s=$(date +%s.%N)
    "$A" dispatch --once --max-starting "$JOBS" > "$w/$1.dispatch" 2>&1 || die "dispatch failed: $(tail -5 "$w/$1.dispatch")"
    e=$(date +%s.%N)
    touch "$w/stop-events"
    wait "$wpid"
    echo "$e - $s" | bc > "$w/$1.secs"
}
stats() { # FILE [COLUMN]: median p95 max count
    awk -v c="${2:-1}" '{print $c}' "$1" | sort -n | awk '{a[NR] = $1} END { printf "%s %s %s %d\n", a[int((NR + 1) / 2)], a[int(NR * 0.95 + 0.999)], a[NR], NR }'
}

round alone

# The server, its clients and uploads, then the same jobs again.
: > "$w/serve.out"
"$A" serve --listen 127.0.0.1:0 --threads 8 > "$w/serve.out" 2> "$w/serve.log" &
srv=$!
line=""
while [ -z "$line" ]; do
    kill -0 "$srv" 2>/dev/null || die "assay serve did not start: $(cat "$w/serve.log")"
    line=$(head -1 "$w/serve.out")
    [ -n "$line" ] || sleep 0.05
done
url=${line##* }
rm -f "$w/stop-clients"
python3 - "$url" "$tok" "$CLIENTS" "$w/stop-clients" "$JOBS" "$THINK" > "$w/clients.out" 2>&1 <<'PY' &
import http.client, random, sys, threading, os, time, urllib.parse
url, tok, n, stop, njobs, think = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
u = urllib.parse.urlparse(url)
counts, lock, ms = {}, threading.Lock(), []
def client(i):
    src = ("127.0.0.%d" % (2 + i % 4), 0)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60, source_address=src)
    h = {"Authorization": "Bearer " + tok}
    while not os.path.exists(stop):
        # The runs and jobs of the first round: there from the start.
        path = random.choice(["/api/v1/runs", "/api/v1/runs/%d" % random.randint(1, njobs),
                              "/api/v1/jobs/%d" % random.randint(1, njobs)])
        t0 = time.time()
        try:
            c.request("GET", path, headers=h)
            r = c.getresponse()
            r.read()
            st = r.status
        except Exception as e:
            st = type(e).__name__
            c.close()
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=60, source_address=src)
        with lock:
            counts[st] = counts.get(st, 0) + 1
            ms.append((time.time() - t0) * 1000)
        time.sleep(random.uniform(0.5, 1.5) * think)
ts = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
ms.sort()
print(" ".join("%s=%d" % kv for kv in sorted(counts.items(), key=str)))
print("%.0f %.0f %.0f" % (ms[len(ms) // 2], ms[int(len(ms) * 0.95)], ms[-1]))
PY
cpid=$!
up() { # I: upload up-I.tar; its answer into up-I.json, curl's status and seconds into up-I.st
    curl -sS --interface 127.0.0.6 -o "$w/up-$1.json" -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $tok" \
        --data-binary @"$w/up-$1.tar" "$url/api/v1/packages?name=up-$1.tar" > "$w/up-$1.st" 2>&1
}
us=$(date +%s.%N)
upids=()
for i in $(seq "$UPLOADS"); do
    up "$i" &
    upids+=($!)
done
round loaded &
rpid=$!
wait "${upids[@]}" || true
ue=$(date +%s.%N)
wait "$rpid"
touch "$w/stop-clients"
wait "$cpid"
cpid=""
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$srv/status")
kill "$srv"
wait "$srv" || true
srv=""

# The checks.
fail=0
check() { echo "  FAIL: $*"; fail=1; }
{ read -r requests; read -r rmed rp95 rmax; } < "$w/clients.out"
for s in $requests; do [ "${s%%=*}" = 200 ] || check "requests answered $s"; done
bytes=0
for i in $(seq "$UPLOADS"); do
    read -r code _ < "$w/up-$i.st" || code=none
    [ "$code" = 201 ] || check "upload $i: $code $(cat "$w/up-$i.json" "$w/up-$i.st" 2>/dev/null | head -c 300)"
    id=$(sed -n 's/.*"id":"\([0-9a-f]\{64\}\)".*/\1/p' "$w/up-$i.json")
    want=$(sha256sum < "$w/up-$i.tar" | cut -d' ' -f1)
    [ "$id" = "$want" ] || { check "upload $i: id $id is not the file's SHA-256 $want"; continue; }
    blob="$ASSAY_LAB/blobs/${id:0:2}/${id:2}"
    [ "$(sha256sum < "$blob" | cut -d' ' -f1)" = "$want" ] || check "upload $i: its blob is not whole"
    bytes=$((bytes + $(stat -c %s "$w/up-$i.tar")))
done
listed=$(sqlite3 "$ASSAY_LAB/assay.db" "select count(*) from packages where product = 'big'")
[ "$listed" = "$UPLOADS" ] || check "$listed packages listed of $UPLOADS uploads"
[ -z "$(ls -A "$ASSAY_LAB/blobs/tmp" 2>/dev/null)" ] || check "the blob store's staging (uploads' and adds') is not empty"
notpassed=$(sqlite3 "$ASSAY_LAB/assay.db" "select count(*) from jobs where not (state = 'ended' and outcome = 'passed')")
[ "$notpassed" = 0 ] || check "$notpassed jobs did not pass"

read -r am ap ax an < <(stats "$w/alone.ms")
read -r lm lp lx ln < <(stats "$w/loaded.ms")
read -r ahm ahp ahx _ < <(stats "$w/alone.ms" 2)
read -r lhm lhp lhx _ < <(stats "$w/loaded.ms" 2)
read -r adm adp adx _ < <(stats "$w/alone.ms" 3)
read -r ldm ldp ldx _ < <(stats "$w/loaded.ms" 3)
echo "assay serve under load, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m); $HOSTS lab hosts, $JOBS jobs a round"
printf '  dispatcher event latency, alone       median %6s ms  p95 %6s ms  max %6s ms  (%d events, %.0f s)\n' \
    "$am" "$ap" "$ax" "$an" "$(cat "$w/alone.secs")"
printf '  dispatcher event latency, under load  median %6s ms  p95 %6s ms  max %6s ms  (%d events, %.0f s)\n' \
    "$lm" "$lp" "$lx" "$ln" "$(cat "$w/loaded.secs")"
printf '    host side (agent write -> read), alone       median %6s ms  p95 %6s ms  max %6s ms\n' "$ahm" "$ahp" "$ahx"
printf '    host side (agent write -> read), under load  median %6s ms  p95 %6s ms  max %6s ms\n' "$lhm" "$lhp" "$lhx"
printf '    dispatcher (read -> stored), alone           median %6s ms  p95 %6s ms  max %6s ms\n' "$adm" "$adp" "$adx"
printf '    dispatcher (read -> stored), under load      median %6s ms  p95 %6s ms  max %6s ms\n' "$ldm" "$ldp" "$ldx"
printf '  %d clients reading runs and jobs (%s s apart): %s; median %s ms, p95 %s ms, max %s ms\n' \
    "$CLIENTS" "$THINK" "$requests" "$rmed" "$rp95" "$rmax"
printf '  %d uploads of %d MiB at once: %.0f s, %.1f MiB/s together\n' "$UPLOADS" "$SIZE" \
    "$(echo "$ue - $us" | bc)" "$(echo "$bytes / 1048576 / ($ue - $us)" | bc -l)"
printf '  assay serve peak RSS (VmHWM): %d MiB\n' "$((hwm / 1024))"
[ "$fail" = 0 ] && echo "  every request answered 200, every upload stored whole, no staging left, every job passed"
[ -n "$RT" ] || echo "  (the event reader at an ordinary priority: its own waits for a CPU count in the latencies)"
[ -z "$BLOBS" ] || echo "  the blob store in $BLOBS ($(df --output=fstype "$BLOBS" | tail -1)), the store on $(df --output=fstype "$w" | tail -1)"
echo "reproduce: bench/serve-load.sh --size $SIZE --clients $CLIENTS --think $THINK --uploads $UPLOADS --jobs $JOBS --hosts $HOSTS${BLOBS:+ --blobs $BLOBS}"
exit "$fail"
