#!/usr/bin/env bash
# The run command (README.md): runs freya's main job, the freya-stack server, on its embedded
# default config: SIP on 127.0.0.1:5060 (UDP and TCP), every call from 127.0.0.0/8 routed to
# 30 built-in echo agents, control API on 127.0.0.1:8088. It prints one line containing
# "ready" with where to call, then logs to stderr (one JSON line per call event).
#
#   scripts/run.sh                         # the embedded default config
#   scripts/run.sh --config my.toml        # any freya-stack arguments
#   scripts/run.sh --print-default-config  # a starting point for your own config
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v cargo >/dev/null 2>&1 || {
    echo "scripts/run.sh: cargo not found: install Rust with rustup (https://rustup.rs)" >&2
    exit 1
}
exec cargo run --quiet --release -p freya-examples --bin freya-stack -- "$@"
