#!/usr/bin/env bash
# The hostile report page (written by test_report's
# hostile_text_is_text_in_every_form) in a headless Chromium: no script of
# the payload may run. The page's Content-Security-Policy would stop them
# anyway, so the check loads the page without it too: escaping alone must
# hold. A control page with the same text unescaped must show the marker,
# or this check could not see a script run.
#
#   tests/browser-check.sh DIR     DIR holds report.html and control.html
# Exit 0: no script ran; 1: one did, or the check failed; 77: no chromium
# (a failure instead when ASSAY_REQUIRE_BROWSER is set, as in ci/test.sh).
set -euo pipefail
dir=$(cd "$1" && pwd)
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    if [ -n "${ASSAY_REQUIRE_BROWSER:-}" ]; then
        echo "FAIL: chromium is not installed (ci/deps.sh installs it)"
        exit 1
    fi
    echo "SKIP: chromium is not installed; ci/deps.sh installs it (apt-get install chromium)"
    exit 77
fi
for f in report.html control.html; do
    [ -s "$dir/$f" ] || { echo "FAIL: $dir/$f is missing (run the report test first)"; exit 1; }
done
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

dom() { # page -> its DOM after load, as the browser built it
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync --disable-extensions \
        --user-data-dir="$profile" --virtual-time-budget=3000 --dump-dom "file://$1" 2>"$1.log"
}

sed 's|<meta http-equiv="Content-Security-Policy"[^>]*>||' "$dir/report.html" >"$dir/report-nocsp.html"
grep -q 'Content-Security-Policy' "$dir/report.html" || { echo "FAIL: the page has no Content-Security-Policy"; exit 1; }
! grep -q 'Content-Security-Policy' "$dir/report-nocsp.html" || { echo "FAIL: could not take the policy out"; exit 1; }

dom "$dir/control.html" >"$dir/control.dom" || { echo "FAIL: chromium failed on the control page"; tail -5 "$dir/control.html.log"; exit 1; }
if ! grep -q 'PWNED' "$dir/control.dom"; then
    echo "FAIL: the control page's script did not run, so this check cannot see one run"
    exit 1
fi
rc=0
for page in report.html report-nocsp.html; do
    dom "$dir/$page" >"$dir/$page.dom" || { echo "FAIL: chromium failed on $page"; tail -5 "$dir/$page.log"; exit 1; }
    if ! grep -q '适配测试报告' "$dir/$page.dom"; then
        echo "FAIL: $page did not render (no title in its DOM)"
        rc=1
    elif grep -q 'PWNED' "$dir/$page.dom"; then
        echo "FAIL: a script of the payload ran in $page"
        grep -o '.\{60\}PWNED.\{20\}' "$dir/$page.dom" | head -3
        rc=1
    else
        echo "ok: $page: no script ran ($(wc -c <"$dir/$page.dom") bytes of DOM)"
    fi
done
# Printed, the page is A4 with its number on every page (the page's
# @page rules), whatever the payload holds.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-extensions --user-data-dir="$profile" \
    --no-pdf-header-footer --print-to-pdf="$dir/report-print.pdf" "file://$dir/report.html" 2>"$dir/print.log" || {
    echo "FAIL: chromium could not print report.html"; tail -5 "$dir/print.log"; exit 1; }
if command -v pdftotext >/dev/null; then
    pages=$(pdfinfo "$dir/report-print.pdf" | sed -n 's/^Pages: *//p')
    numbered=$(pdftotext -enc UTF-8 "$dir/report-print.pdf" - | grep -c "^第 [0-9]* 页，共 $pages 页 Page [0-9]* of $pages\$" || true)
    if [ "$numbered" != "$pages" ]; then
        echo "FAIL: the printed page numbers $numbered of $pages pages"
        rc=1
    else
        echo "ok: printed, $pages A4 pages, each numbered"
    fi
fi
exit $rc
