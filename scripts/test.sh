#!/usr/bin/env bash
# The test command (README.md; .ci/run calls it): installs whatever is missing, then runs every
# check and test in Rust, Python and Node, and prints a summary. Exits non-zero on any failure.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh rust python     # only some groups: lint rust python node fuzz
#
# Installs, each idempotent and quiet when already done:
#   - Debian packages listed in APT_PACKAGES below (apt-get; sudo when not root);
#   - rustfmt and clippy (rustup component);
#   - a Python venv in .venv with freya-py/requirements-dev.txt (maturin, pytest);
#   - freya-node/node_modules from freya-node/package-lock.json (npm ci).
# Per-step logs go to target/test-logs/.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

# Debian packages the tests need beyond the base machine (Rust, gcc, Python 3.9+, Node 20+).
# sox: independent G.711 reference for freya-media's codec tests.
# sip-tester: SIPp, the SIP peer of the transport and UA interop tests.
# baresip: the softphone of the UA interop tests (a call each way, tones checked).
APT_PACKAGES=(sox sip-tester baresip)

VENV="$ROOT/.venv"
PY_REQUIREMENTS="$ROOT/freya-py/requirements-dev.txt"
NODE_DIR="$ROOT/freya-node"
LOG_DIR="$ROOT/target/test-logs"
ALL_GROUPS=(lint rust python node fuzz)

T0=$SECONDS
note() { printf '%s\n' "$*"; }
die() {
    printf 'scripts/test.sh: %s\n' "$*" >&2
    exit 1
}

GROUPS_WANTED=("$@")
[ ${#GROUPS_WANTED[@]} -eq 0 ] && GROUPS_WANTED=("${ALL_GROUPS[@]}")
for g in "${GROUPS_WANTED[@]}"; do
    case " ${ALL_GROUPS[*]} " in
    *" $g "*) ;;
    *) die "unknown group '$g' (groups: ${ALL_GROUPS[*]})" ;;
    esac
done
want() { case " ${GROUPS_WANTED[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac }

# ---------------------------------------------------------------------------------------------
# Setup: install what is missing
# ---------------------------------------------------------------------------------------------

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $* (no sudo)"
    fi
}

setup_apt() {
    local pkgs=("${APT_PACKAGES[@]}") missing=() p
    # A Debian system Python needs python3-venv for `python -m venv` (pyenv builds do not).
    if want python && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        pkgs+=(python3-venv)
    fi
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing Debian packages (${missing[*]}) and no apt-get"
    note "setup: apt-get install ${missing[*]}"
    as_root apt-get update -qq || die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}

setup_rust() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs)"
    local comps=()
    cargo fmt --version >/dev/null 2>&1 || comps+=(rustfmt)
    cargo clippy --version >/dev/null 2>&1 || comps+=(clippy)
    if [ ${#comps[@]} -gt 0 ]; then
        command -v rustup >/dev/null 2>&1 || die "cargo ${comps[*]} missing and no rustup to add them"
        note "setup: rustup component add ${comps[*]}"
        rustup component add "${comps[@]}" >/dev/null 2>&1 || die "rustup component add ${comps[*]} failed"
    fi
}

# The venv is (re)filled when requirements-dev.txt changes (a hash stamp in the venv).
setup_python() {
    command -v python3 >/dev/null 2>&1 || die "python3 not found"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' || die "Python 3.9+ needed, found $(python3 --version 2>&1)"
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        note "setup: python venv in .venv"
        rm -rf "$VENV"
        python3 -m venv "$VENV" || die "python3 -m venv .venv failed"
    fi
    local stamp="$VENV/.freya-requirements.sha256" want_sum
    want_sum="$(sha256sum "$PY_REQUIREMENTS" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want_sum" ]; then
        note "setup: pip install -r freya-py/requirements-dev.txt"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$PY_REQUIREMENTS" ||
            die "pip install into .venv failed"
        printf '%s\n' "$want_sum" >"$stamp"
    fi
}

# The real pipecat agent of the media bridge test (freya-media/tests/pipecat_echo.rs): a venv
# of its own in .venv-pipecat (pipecat-ai pulls numpy, onnxruntime…; kept apart from the
# bindings' venv), refilled when tests/pipecat/requirements.txt changes.
PIPECAT_VENV="$ROOT/.venv-pipecat"
PIPECAT_REQUIREMENTS="$ROOT/tests/pipecat/requirements.txt"
setup_pipecat() {
    command -v python3 >/dev/null 2>&1 || die "python3 not found"
    if [ ! -x "$PIPECAT_VENV/bin/python" ] || ! "$PIPECAT_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        note "setup: python venv in .venv-pipecat"
        rm -rf "$PIPECAT_VENV"
        python3 -m venv "$PIPECAT_VENV" || die "python3 -m venv .venv-pipecat failed"
    fi
    local stamp="$PIPECAT_VENV/.freya-requirements.sha256" want_sum
    want_sum="$(sha256sum "$PIPECAT_REQUIREMENTS" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want_sum" ] ||
        ! "$PIPECAT_VENV/bin/python" -c 'import pipecat, uvicorn, pytest' >/dev/null 2>&1; then
        note "setup: pip install -r tests/pipecat/requirements.txt (pipecat-ai)"
        # pytest (the bindings' pin) runs freya-py/tests/pipecat in this venv.
        "$PIPECAT_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$PIPECAT_REQUIREMENTS" \
            "$(grep '^pytest==' "$PY_REQUIREMENTS")" ||
            die "pip install into .venv-pipecat failed"
        printf '%s\n' "$want_sum" >"$stamp"
    fi
    # The bridge test runs the agent with this interpreter, and may not skip.
    export FREYA_PIPECAT_PYTHON="$PIPECAT_VENV/bin/python"
    export FREYA_REQUIRE_PIPECAT=1
}

# node_modules is (re)installed when package-lock.json changes (a hash stamp in node_modules).
setup_node() {
    command -v node >/dev/null 2>&1 || die "node not found (Node.js 20+ needed)"
    command -v npm >/dev/null 2>&1 || die "npm not found"
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' || die "Node.js 20+ needed, found $(node --version)"
    local stamp="$NODE_DIR/node_modules/.freya-lock.sha256" want_sum
    want_sum="$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want_sum" ]; then
        note "setup: npm ci in freya-node"
        (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci in freya-node failed"
        printf '%s\n' "$want_sum" >"$stamp"
    fi
}

# A full run (venvs, node_modules, two cargo profiles) needs about 9 GB: on a full disk the
# first failure is an obscure one (`python -m venv` exits 1 from ensurepip), so say it first.
check_disk() {
    local need_kb=$((10 * 1024 * 1024)) free_kb
    free_kb="$(df -Pk "$ROOT" 2>/dev/null | awk 'NR == 2 { print $4 }')"
    [ -n "$free_kb" ] || return 0
    if [ "$free_kb" -lt $((1024 * 1024)) ]; then
        die "only $((free_kb / 1024)) MB free on $(df -P "$ROOT" | awk 'NR == 2 { print $6 }'): a full run needs about 9 GB (builds, venvs, node_modules)"
    elif [ "$free_kb" -lt "$need_kb" ]; then
        note "setup: warning: only $((free_kb / 1024 / 1024)) GB free; a full run needs about 9 GB"
    fi
}

check_disk
setup_apt
setup_rust
want python && setup_python
# The pipecat venv: the bridge test (rust) and freya.pipecat's test (python) run pipecat.
{ want rust || want python; } && setup_pipecat
want node && setup_node
note "setup: done ($((SECONDS - T0))s)"

# Same interpreter and linking mode for every cargo invocation (cargo test, clippy, maturin):
# nothing of pyo3 is rebuilt between them, and the freya-py cdylib never links libpython.
if want python; then
    export PYO3_PYTHON="$VENV/bin/python"
    export VIRTUAL_ENV="$VENV"
    export PATH="$VENV/bin:$PATH"
fi
export PYO3_BUILD_EXTENSION_MODULE=1
# `napi build` always passes `--target <host triple>`, which puts its artifacts in
# target/<triple>/ instead of target/debug/. Giving every cargo command here the same target
# makes cargo test, maturin and napi share one build instead of compiling the workspace twice.
# (So this script's builds live in target/<triple>/debug, apart from a plain `cargo test`'s.)
CARGO_BUILD_TARGET="${CARGO_BUILD_TARGET:-$(rustc -vV | sed -n 's/^host: //p')}"
export CARGO_BUILD_TARGET
# CI builds from scratch once: incremental caches would only cost time and disk there.
if [ "${CI:-}" = true ]; then
    export CARGO_INCREMENTAL=0
fi

# ---------------------------------------------------------------------------------------------
# Steps: each runs even when an earlier one failed; the summary says which failed
# ---------------------------------------------------------------------------------------------

mkdir -p "$LOG_DIR"
SUMMARY=()
FAILED_STEPS=0
TESTS_PASSED=0
TESTS_FAILED=0

# Adds the test counts a runner printed in LOG to the totals; sets COUNTS to "N passed, M failed".
count_tests() {
    local kind=$1 log=$2 p=0 f=0
    COUNTS=""
    case $kind in
    cargo)
        read -r p f < <(awk '/^test result: /{ for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p+0, f+0 }' "$log")
        ;;
    pytest)
        read -r p f < <(grep -E '[0-9]+ (passed|failed)' "$log" | tail -1 |
            awk '{ for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^(failed|errors?)/) f += $i } } END { print p+0, f+0 }')
        ;;
    node)
        read -r p f < <(awk '/^(# |ℹ )pass [0-9]+$/{ p = $NF } /^(# |ℹ )fail [0-9]+$/{ f = $NF } END { print p+0, f+0 }' "$log")
        ;;
    *) return 0 ;;
    esac
    TESTS_PASSED=$((TESTS_PASSED + p))
    TESTS_FAILED=$((TESTS_FAILED + f))
    COUNTS="$p passed, $f failed"
}

# step NAME COUNTER COMMAND... : runs COMMAND, logging to target/test-logs/NAME.log.
step() {
    local name=$1 counter=$2
    shift 2
    local log="$LOG_DIR/$name.log" start=$SECONDS rc counts=""
    note ""
    note "==> $name: $*"
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [ "$counter" != "-" ]; then
        count_tests "$counter" "$log"
        counts=" ($COUNTS)"
    fi
    if [ "$rc" -eq 0 ]; then
        SUMMARY+=("$(printf 'PASS  %-14s %5ss%s' "$name" $((SECONDS - start)) "$counts")")
    else
        FAILED_STEPS=$((FAILED_STEPS + 1))
        SUMMARY+=("$(printf 'FAIL  %-14s %5ss%s  exit %s, log: %s' "$name" $((SECONDS - start)) "$counts" "$rc" "${log#"$ROOT"/}")")
    fi
    return "$rc"
}

skip() { SUMMARY+=("$(printf 'SKIP  %-14s        %s' "$1" "$2")"); }

if want lint; then
    step fmt - cargo fmt --all -- --check
    step clippy - cargo clippy --workspace --all-targets --locked -- -D warnings
    # A broken intra-doc link is documentation that points nowhere: docs build warning-free.
    step docs - env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
fi

if want rust; then
    step cargo-test cargo cargo test --workspace --locked --no-fail-fast
    # 100 concurrent calls with media through freya-stack need optimized code: in the debug
    # build above this test is ignored (one core cannot carry it unoptimized), so it runs here.
    step stack-load cargo cargo test --profile ci-load --locked -p freya-examples --test stack_load
fi

if want python; then
    if step py-build - maturin develop --quiet --locked -m freya-py/Cargo.toml; then
        # freya-py/tests/pipecat needs pipecat-ai: its own step below, in the pipecat venv
        # (setup_pipecat exports FREYA_REQUIRE_PIPECAT=1, under which that folder would fail
        # in .venv).
        step pytest pytest python -m pytest -q freya-py/tests --ignore=freya-py/tests/pipecat
        # freya.pipecat over the extension just built in place (freya-py/python/freya/, abi3).
        step py-pipecat pytest env FREYA_REQUIRE_PIPECAT=1 PYTHONPATH="$ROOT/freya-py/python" \
            "$PIPECAT_VENV/bin/python" -m pytest -q freya-py/tests/pipecat
    else
        skip pytest "the build failed"
        skip py-pipecat "the build failed"
    fi
fi

if want node; then
    if step node-build - npm --prefix "$NODE_DIR" run --silent build:debug; then
        step node-test node node --test --test-reporter=spec "$NODE_DIR/__test__/"
        step node-types - npm --prefix "$NODE_DIR" run --silent typecheck
    else
        skip node-test "the build failed"
    fi
fi

if want fuzz; then
    if [ -f scripts/fuzz-smoke.sh ]; then
        step fuzz-smoke - env -u CARGO_BUILD_TARGET bash scripts/fuzz-smoke.sh
    else
        skip fuzz-smoke "scripts/fuzz-smoke.sh does not exist"
    fi
fi

note ""
note "==> summary ($((SECONDS - T0))s in all)"
for line in "${SUMMARY[@]}"; do note "  $line"; done
if [ "$FAILED_STEPS" -ne 0 ]; then
    note "FAILED: $FAILED_STEPS step(s)"
fi
note "tests: $TESTS_PASSED passed, $TESTS_FAILED failed"
[ "$FAILED_STEPS" -eq 0 ] && [ "$TESTS_FAILED" -eq 0 ]
