#!/usr/bin/env bash
# Short, time-bounded fuzz run of freya-sip's message parser and TCP stream framer.
# Exits non-zero when a target crashes (the input is printed as an escaped byte string and kept
# under fuzz/artifacts/). Idempotent: installs cargo-fuzz if it is missing, reuses fuzz/corpus/.
#
#   scripts/fuzz-smoke.sh                 # libFuzzer (cargo fuzz, stable toolchain, -s none)
#   FREYA_FUZZ_SECONDS=300 scripts/fuzz-smoke.sh    # longer run (seconds per target)
#   FREYA_FUZZ_MODE=replay scripts/fuzz-smoke.sh    # no cargo-fuzz: seeds + random mutations
#
# See fuzz/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SECONDS_PER_TARGET=${FREYA_FUZZ_SECONDS:-20}
MODE=${FREYA_FUZZ_MODE:-libfuzzer}
TARGETS=(parse framer sdp rtp bridge upgrade)
RFC4475="$ROOT/../shared/corpus/rfc4475"

log() { echo "fuzz-smoke: $*"; }

# Print a crash input as an escaped byte string (b"...").
show_input() {
    python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print("b\"" + "".join(chr(c) if 32 <= c < 127 and c not in (34, 92) else "\\x%02x" % c for c in d) + "\"")' "$1" 2>/dev/null ||
        od -An -c "$1"
}

replay() {
    log "replay mode: seeds + ${FREYA_FUZZ_MUTATIONS:-20000} random mutations per target (stable cargo test)"
    cargo test --quiet --release --no-default-features --manifest-path fuzz/Cargo.toml --test replay
}

ensure_cargo_fuzz() {
    if cargo fuzz --version >/dev/null 2>&1; then
        return 0
    fi
    log "installing cargo-fuzz from crates.io (about a minute)"
    cargo install cargo-fuzz --locked --quiet
}

if [ "$MODE" = replay ]; then
    replay
    exit 0
fi

if ! ensure_cargo_fuzz; then
    log "cargo-fuzz could not be installed; falling back to replay mode"
    replay
    exit 0
fi

log "building fuzz targets (stable toolchain, no sanitizer, debug assertions on)"
cargo fuzz build -s none -O -a

LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/regressions/$t" "fuzz/artifacts/$t"
    # The first directory receives new inputs; the others are read-only seeds.
    dirs=("$ROOT/fuzz/corpus/$t" "$ROOT/fuzz/regressions/$t" "$ROOT/benches/data")
    if [ -d "$RFC4475" ]; then
        dirs+=("$RFC4475")
    else
        log "note: $RFC4475 not found, seeding from the bench messages only"
    fi
    log "running $t for ${SECONDS_PER_TARGET}s"
    out="$LOGS/$t.log"
    if cargo fuzz run -s none -O -a "$t" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 >"$out" 2>&1; then
        grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec)' "$out" |
            sed "s/^/  $t: /" || true
    else
        status=1
        log "$t CRASHED; libFuzzer's report:"
        grep -v -E '^#[0-9]+ +(NEW|REDUCE|pulse)' "$out" | tail -40
        newest=$(ls -t "fuzz/artifacts/$t" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | head -1 || true)
        if [ -n "$newest" ]; then
            log "input (fuzz/artifacts/$t/$newest):"
            show_input "fuzz/artifacts/$t/$newest"
            log "reproduce: cargo fuzz run -s none -O -a $t fuzz/artifacts/$t/$newest"
        fi
    fi
done
exit "$status"
