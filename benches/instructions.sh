#!/usr/bin/env bash
# Instructions per message for each parser and bench message, counted by callgrind: unlike
# criterion's times these do not move with the load of a shared machine. Prints a markdown table.
#   benches/instructions.sh [N]      (N iterations per count, default 2000)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-2000}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
cargo build --quiet --release -p freya-benches --example parse_loop
BIN=${CARGO_TARGET_DIR:-target}/release/examples/parse_loop
PARSERS=(freya freya-index freya-typed rsip rsip-serialize parsip)
MESSAGES=(invite 180_ringing 200_ok_sdp bye)
ir() { # total instructions of one run
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$@" 2>&1 >/dev/null |
        sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' | tr -d ,
}
echo "| message | $(printf '%s | ' "${PARSERS[@]}")rsip ÷ freya | parsip ÷ freya | rsip ÷ freya-index | parsip ÷ freya-index |"
echo "|---|$(printf -- '---|%.0s' "${PARSERS[@]}")---|---|---|---|"
for m in "${MESSAGES[@]}"; do
    row="| $m |"
    declare -A per=()
    for p in "${PARSERS[@]}"; do
        base=$(ir "$p" "$m" 0)
        full=$(ir "$p" "$m" "$N")
        per[$p]=$(((full - base) / N))
        row+=" ${per[$p]} |"
    done
    row+=" $(awk -v a="${per[freya]}" -v b="${per[rsip]}" 'BEGIN{printf "%.2f×", b/a}') |"
    row+=" $(awk -v a="${per[freya]}" -v b="${per[parsip]}" 'BEGIN{printf "%.2f×", b/a}') |"
    row+=" $(awk -v a="${per[freya-index]}" -v b="${per[rsip]}" 'BEGIN{printf "%.2f×", b/a}') |"
    row+=" $(awk -v a="${per[freya-index]}" -v b="${per[parsip]}" 'BEGIN{printf "%.2f×", b/a}') |"
    echo "$row"
done
