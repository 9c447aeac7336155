#!/usr/bin/env bash
# The run command (README.md): runs freya's main job. Until the stack server exists, that is
# sip-inspect on a sample SIP message: one JSON line per message (verdict, start line, headers
# exactly as received, body length, or the typed error).
#
#   scripts/run.sh                                  # examples/data/invite.sip
#   scripts/run.sh --response some.sip other.sip    # any sip-inspect arguments
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v cargo >/dev/null 2>&1 || {
    echo "scripts/run.sh: cargo not found: install Rust with rustup (https://rustup.rs)" >&2
    exit 1
}
[ $# -eq 0 ] && set -- examples/data/invite.sip
exec cargo run --quiet --release -p freya-examples --bin sip-inspect -- "$@"
