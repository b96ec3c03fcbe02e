#!/usr/bin/env bash
# The CovetPy test command. Works on a fresh clone: installs what is missing,
# builds, then runs every check (cargo fmt, clippy, cargo test, ruff, mypy --strict on the
# covetpy package, pytest, Autobahn) and exits non-zero if any of them failed.
#
#   scripts/test.sh              everything
#   scripts/test.sh -k http2 -x  extra arguments go to pytest
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$COVETPY_ROOT"

covetpy_ensure_system_packages
covetpy_ensure_test_packages
covetpy_check_toolchain
covetpy_log "Python: $PYO3_PYTHON ($("$PYO3_PYTHON" -c 'import sys; print(sys.version.split()[0])'))"

if command -v rustup >/dev/null 2>&1; then
    installed="$(rustup component list --installed 2>/dev/null || true)"
    for component in rustfmt clippy; do
        if ! grep -q "^$component" <<<"$installed"; then
            covetpy_log "adding rustup component $component"
            rustup component add "$component"
        fi
    done
fi

failed=()

# run NAME COMMAND...: run one check, remember it if it fails, keep going.
run() {
    local name="$1"
    shift
    covetpy_log "$name"
    local rc=0
    "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        covetpy_log "FAILED: $name (exit $rc)"
        failed+=("$name")
    fi
    return 0
}

run_pytest() {
    local rc=0
    VIRTUAL_ENV="$COVETPY_ROOT/.venv" \
        COVETPY_BIN="$COVETPY_ROOT/target/release/covetpy" \
        "$COVETPY_ROOT/.venv/bin/python" -m pytest tests -q "$@" </dev/null || rc=$?
    if [ "$rc" -eq 5 ]; then
        covetpy_log "pytest collected no tests"
    fi
    return "$rc"
}

# ruff and mypy read their settings (rules, paths, strictness) from pyproject.toml.
run_ruff() {
    "$COVETPY_ROOT/.venv/bin/ruff" check "$COVETPY_ROOT"
}

run_mypy() {
    (cd "$COVETPY_ROOT" && "$COVETPY_ROOT/.venv/bin/mypy")
}

run "cargo fmt --check" cargo fmt --all -- --check

covetpy_log "cargo build --release"
cargo build --release
[ -x target/release/covetpy ] || covetpy_die "target/release/covetpy was not built"

run "cargo clippy" cargo clippy --release --workspace -- -D warnings
run "cargo test" cargo test --release --workspace

[ -f tests/requirements.txt ] || covetpy_die "tests/requirements.txt is missing"
covetpy_ensure_venv .venv -r tests/requirements.txt ruff mypy

run "ruff check" run_ruff
run "mypy --strict" run_mypy
run "pytest" run_pytest "$@"
run "autobahn" scripts/autobahn.sh
run "wheel check" scripts/wheel-check.sh
run "container image" scripts/container-check.sh

if [ "${#failed[@]}" -ne 0 ]; then
    covetpy_log "failed checks: ${failed[*]}"
    exit 1
fi
covetpy_log "all checks passed"
