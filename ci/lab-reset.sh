#!/bin/sh
# The local lab's host reset (ci/lab.sh gives every lab host this as its
# `reset` command). The controller runs it on the host over SSH, as the
# host's login user, before a job of another product, with the host's
# agent root in ASSAY_AGENT_ROOT and its name in ASSAY_HOST.
#
# What it resets: everything under the host's agent root. It kills what
# is left running of the jobs there (processes whose environment names a
# job directory of this root), then removes the agent root and makes it
# again, empty: every job directory with whatever the jobs installed in it
# (the lab's jobs, ci/demo.sh's and the tests', install into their job
# directory), and the cached agents and artifacts too, since a vendor's
# steps, running as the login user, could have changed them. The next job
# uploads the agent and its artifact again, as on a reinstalled host.
#
# What it cannot reset: lab hosts share this machine's file system outside
# their agent roots, so whatever a job installed system-wide (dpkg -i,
# rpm -i, files under /usr, /etc or the login user's home) stays. A real
# centre reverts a VM snapshot or reinstalls the machine (PXE) with its own
# tooling instead; this script only stands in for that on the local lab.
set -eu

root=${ASSAY_AGENT_ROOT:-}
die() { echo "lab-reset: $*" >&2; exit 1; }

# Only ever a lab host's agent root: <lab dir>/hosts/<name>/root, next to
# the sshd_config ci/lab.sh wrote for that host.
case "$root" in
/*/hosts/*/root) ;;
*) die "ASSAY_AGENT_ROOT '$root' is not a lab host's agent root (<lab>/hosts/<name>/root)" ;;
esac
case "$root" in *'/../'*|*'/./'*|*//*) die "ASSAY_AGENT_ROOT '$root' is not a plain path" ;; esac
host_dir=${root%/root}
[ -f "$host_dir/sshd_config" ] || die "$host_dir has no sshd_config: not a lab host"
if [ -n "${ASSAY_HOST:-}" ] && [ "${host_dir##*/}" != "$ASSAY_HOST" ]; then
    die "agent root $root is not host $ASSAY_HOST's"
fi

# The agent root is a link to a folder the hosts' run user can reach
# (ci/lab.sh); the jobs know it by its real path.
real=$(readlink -f "$root")
case "$real" in /*) ;; *) die "cannot resolve $root" ;; esac

# Leftovers of the jobs: a step's processes carry ASSAY_JOB_DIR=<real root>/jobs/...
killed=0
for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" != $$ ] || continue
    if tr '\0' '\n' <"$p/environ" 2>/dev/null |
        awk -v pre="ASSAY_JOB_DIR=$real/jobs/" 'index($0, pre) == 1 { f = 1 } END { exit !f }'; then
        kill -9 "$pid" 2>/dev/null && killed=$((killed + 1))
    fi
done

rm -rf "$real"
mkdir -p "$real"
chmod 755 "$real"
echo "lab-reset: $root recreated, $killed leftover processes killed"
