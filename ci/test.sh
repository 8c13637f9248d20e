#!/usr/bin/env bash
# The test command: dependencies, a sanitizer build with -Werror, the static
# agents for every triple, a short run of every fuzzer, then every test
# through ctest. Run as root on
# Debian 12. Fails when any test fails, or when ASan, LeakSanitizer or UBSan
# report anything (ctest matches their output).
#
#   ci/test.sh [ctest args...]      e.g. ci/test.sh -L unit
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$ASSAY_TOP"

start=$(date +%s)
step() { say "[$(( $(date +%s) - start ))s] $*"; }

step "dependencies"
ci/deps.sh

step "sanitizer build (ASan + UBSan, -Werror)"
mkdir -p build-ci
{ cmake -S . -B build-ci -DCMAKE_BUILD_TYPE=Debug -DASSAY_SANITIZE=ON -DASSAY_WERROR=ON &&
  cmake --build build-ci -j"$(nproc)"; } >build-ci/build.log 2>&1 \
    || { tail -n 60 build-ci/build.log; die "build failed (build-ci/build.log)"; }

step "static agents"
ci/build-agents.sh --require-all

step "fuzzers (20 s each: ELF reader, job specs, manifests, profiles, agent events, markup, envelopes)"
ci/fuzz.sh 20

step "tests"
# deps.sh installed chromium: the browser check of the report must run here.
# One test per core at a time: the lab tests mostly wait on their hosts and
# pair well with the unit tests, which mostly compute (tests/CMakeLists.txt
# says what makes running them side by side safe).
(cd build-ci && ASSAY_REQUIRE_BROWSER=1 ctest --output-on-failure -j"$(nproc)" "$@")
step "done"
