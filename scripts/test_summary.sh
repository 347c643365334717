#!/usr/bin/env bash
# Runs a cargo test command, then closes with totals that count skipped tests apart. A test that
# returns early for want of ../shared (or of a GPU adapter) has passed as far as cargo knows;
# tests/common's `skip` records it in the file MEDSEG_SKIP_LIST names, and this lists it by name.
#   scripts/test_summary.sh cargo test --all-targets
# Exits with the command's status.
set -uo pipefail
MEDSEG_SKIP_LIST=$(mktemp)
export MEDSEG_SKIP_LIST
log=$(mktemp)
trap 'rm -f "$MEDSEG_SKIP_LIST" "$log"' EXIT

"$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# libtest's "test result: ok. 12 passed; 0 failed; 1 ignored; …" lines, added up.
read -r passed failed ignored < <(awk '/^test result:/ {
        for (i = 1; i < NF; i++) {
            if ($(i + 1) ~ /^passed/) p += $i
            if ($(i + 1) ~ /^failed/) f += $i
            if ($(i + 1) ~ /^ignored/) g += $i
        }
    } END { print p + 0, f + 0, g + 0 }' "$log")
# A test that skips more than once counts once.
skipped=$(cut -f2 "$MEDSEG_SKIP_LIST" | sort -u | wc -l)
echo
sort -t$'\t' -k2,2 -u "$MEDSEG_SKIP_LIST" | awk -F'\t' '{ names[$1] = names[$1] (names[$1] ? ", " : "") $2 }
    END { for (reason in names) print "SKIPPED (" reason "): " names[reason] }'
[ "$ignored" -eq 0 ] || echo "IGNORED (#[ignore]): $ignored"
echo "summary: $((passed - skipped)) passed, $failed failed, $((skipped + ignored)) skipped"
exit "$status"
