#!/usr/bin/env bash
# Fan-out: a job of five short steps on N lab hosts (default 32), assay
# against ansible-playbook (five raw tasks, forks N) and five rounds of
# parallel-ssh -p N, on the same lab in the same run.
#
#   bench/fanout.sh [N]
#
# All hosts get the x86_64 profile (native agents; this measures the tools).
# assay is timed twice: cold (agents and artifact uploaded to every host)
# and warm (already there, as in a lab that certifies all day). Goal
# (issue 7): at least 3x faster than ansible and 2x faster than pssh.
set -euo pipefail
. "$(dirname "$0")/common.sh"
N=${1:-32}
command -v ansible-playbook >/dev/null && command -v parallel-ssh >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ansible-core pssh >/dev/null; }
w=$(mktemp -d /tmp/assay-fanout-XXXXXX)
hosts="$w/hosts"
export ASSAY_LAB="$w/lab" ASSAY_AGENTS_DIR="$ASSAY_TOP/build-agents"
# ansible's SSH control masters (ControlPersist) outlive it: stopped with
# the lab, or they and their sshd sessions linger into the next run.
trap 'pkill -f "$w/cp-" 2>/dev/null; "$ASSAY_TOP/ci/lab.sh" --dir "$hosts" down >/dev/null 2>&1 || true; rm -rf "$w"' EXIT
bench_build_assay
"$ASSAY_TOP/ci/lab.sh" --dir "$hosts" --net 42 up "$N" >/dev/null
"$A" init >/dev/null
"$A" host import "$hosts/hosts.json" >/dev/null
sqlite3 "$ASSAY_LAB/assay.db" "update hosts set profile = 'zhaoxin-kx6000-uos-20'"

# The job: five short steps (install, three tests, uninstall).
mkdir -p "$w/sub/pkgs" "$w/p"
echo x > "$w/p/x"
tar -C "$w/p" -czf "$w/sub/pkgs/x.tar.gz" x
cat > "$w/sub/manifest.json" <<'JSON'
{"manifest": 1, "product": "fanout", "version": "1", "vendor": "bench",
 "artifacts": [{"file": "pkgs/x.tar.gz", "arch": "noarch"}],
 "install": {"command": "true", "timeout": 60},
 "tests": [{"id": "a", "command": "true", "timeout": 60}, {"id": "b", "command": "true", "timeout": 60},
           {"id": "c", "command": "true", "timeout": 60}],
 "uninstall": {"command": "true", "timeout": 60}}
JSON
tar -C "$w/sub" -czf "$w/sub.tar.gz" manifest.json pkgs
pkg=$("$A" package add "$w/sub.tar.gz" 2>/dev/null)

assay_round() {
    for i in $(seq 1 "$N"); do "$A" run submit "${pkg:0:12}" --profiles zhaoxin-kx6000-uos-20 >/dev/null; done
    t "$A" dispatch --once --max-starting "$N"
}
cold=$(assay_round)
warm=$(assay_round)

# ansible: the same hosts, keys and pinned host keys. Its SSH control
# masters live in this run's folder: a master left by an earlier run
# (ControlPersist) would make ansible's first contact a warm one.
{
    echo "[lab]"
    python3 - "$hosts/hosts.json" <<'PY'
import json, sys
for h in json.load(open(sys.argv[1]))["hosts"]:
    print(f'{h["name"]} ansible_host={h["address"]} ansible_port={h["port"]} ansible_user={h["user"]} '
          f'ansible_ssh_private_key_file={h["identity"]}')
PY
} > "$w/inventory"
cat > "$w/play.yml" <<'YML'
- hosts: lab
  gather_facts: false
  tasks:
    - raw: "true"
    - raw: "true"
    - raw: "true"
    - raw: "true"
    - raw: "true"
YML
export ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_SSH_ARGS="-o UserKnownHostsFile=$hosts/known_hosts -o ControlMaster=auto -o ControlPersist=60s -o ControlPath=$w/cp-%C"
ans=$(t ansible-playbook -i "$w/inventory" -f "$N" "$w/play.yml")

# parallel-ssh: five rounds of one command on every host.
python3 - "$hosts/hosts.json" > "$w/pssh-hosts" <<'PY'
import json, sys
for h in json.load(open(sys.argv[1]))["hosts"]:
    print(f'{h["user"]}@{h["address"]}:{h["port"]}')
PY
pssh_round() {
    for _ in 1 2 3 4 5; do
        parallel-ssh -h "$w/pssh-hosts" -p "$N" -x "-i $hosts/client_key -o UserKnownHostsFile=$hosts/known_hosts -o StrictHostKeyChecking=yes" true
    done
}
ps=$(t pssh_round)

echo "assay fan-out, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m); 5 steps on $N lab hosts"
printf '  ansible-playbook (5 raw tasks, forks %d)   %6.2fs\n' "$N" "$ans"
printf '  parallel-ssh -p %d, 5 rounds             %6.2fs\n' "$N" "$ps"
printf '  assay, cold (agents and artifact sent)    %6.2fs   %.1fx ansible, %.1fx pssh\n' "$cold" \
    "$(echo "$ans / $cold" | bc -l)" "$(echo "$ps / $cold" | bc -l)"
printf '  assay, warm                               %6.2fs   %.1fx ansible, %.1fx pssh\n' "$warm" \
    "$(echo "$ans / $warm" | bc -l)" "$(echo "$ps / $warm" | bc -l)"
echo "reproduce: bench/fanout.sh $N"
