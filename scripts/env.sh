# shellcheck shell=bash
# Common set-up for the CovetPy scripts. Source it; do not run it.
#
# After sourcing:
#   COVETPY_ROOT  the repository root
#   PYO3_PYTHON   the real python3 executable (pyenv shims resolved) that
#                 covetpy is built against and that the venvs are made from
#   cargo is on PATH (from ~/.cargo/env when present)
#
# Set PYO3_PYTHON before sourcing to pick another interpreter, for example
# PYO3_PYTHON=python3.12 scripts/test.sh

COVETPY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export COVETPY_ROOT

covetpy_log() {
    printf '==> %s\n' "$*" >&2
}

covetpy_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Put cargo on PATH if rustup installed it in the usual place.
covetpy_find_cargo() {
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        # shellcheck source=/dev/null
        . "$HOME/.cargo/env"
    fi
}

# Resolve PYO3_PYTHON (default: the first python3 on PATH) to the real
# executable. Leaves PYO3_PYTHON empty when no python3 is found.
covetpy_find_python() {
    local candidate="${PYO3_PYTHON:-python3}"
    PYO3_PYTHON=""
    if command -v "$candidate" >/dev/null 2>&1; then
        PYO3_PYTHON="$("$candidate" -c 'import sys; print(sys.executable)' 2>/dev/null || true)"
    fi
    export PYO3_PYTHON
}

# Install the Debian packages the build and the venvs need, only when they
# are missing. Does nothing on systems without apt-get.
covetpy_ensure_system_packages() {
    local -a wanted=()
    if ! command -v cc >/dev/null 2>&1; then
        wanted+=(build-essential)
    fi
    if [ -z "${PYO3_PYTHON:-}" ]; then
        wanted+=(python3 python3-dev python3-venv)
    else
        case "$PYO3_PYTHON" in
            /usr/bin/python3*)
                # A Debian python: venv/ensurepip and the shared libpython
                # for linking come in separate packages.
                local ver
                ver="$("$PYO3_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
                if ! "$PYO3_PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
                    wanted+=("python$ver-venv")
                fi
                if ! covetpy_has_shared_libpython; then
                    wanted+=("python$ver-dev")
                fi
                ;;
        esac
    fi
    [ "${#wanted[@]}" -eq 0 ] && return 0
    covetpy_apt_install "${wanted[@]}"
    covetpy_find_python
}

# Install the Debian packages only the tests need, when missing: Chromium, in which
# tests/test_native_docs.py renders the /docs and /redoc pages.
covetpy_ensure_test_packages() {
    if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
        covetpy_apt_install chromium
    fi
}

# covetpy_apt_install PACKAGE...: apt-get install them (with sudo when not root). Does nothing
# but say so on systems without apt-get.
covetpy_apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        covetpy_log "missing system packages ($*) and no apt-get; install them by hand"
        return 0
    fi
    local -a sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || covetpy_die "need root or sudo to install: $*"
        sudo=(sudo)
    fi
    covetpy_log "installing Debian packages: $*"
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "$@" </dev/null
}

# True when PYO3_PYTHON was built with a shared libpython that is present.
covetpy_has_shared_libpython() {
    "$PYO3_PYTHON" - <<'PY'
import os
import sys
import sysconfig

v = sysconfig.get_config_var
if not v("Py_ENABLE_SHARED"):
    sys.exit(1)
name = v("LDLIBRARY") or ""
dirs = [v("LIBDIR") or "", v("LIBPL") or ""]
sys.exit(0 if any(os.path.exists(os.path.join(d, name)) for d in dirs) else 1)
PY
}

# Fail with a helpful message unless the toolchain can build covetpy.
covetpy_check_toolchain() {
    command -v cargo >/dev/null 2>&1 ||
        covetpy_die "cargo not found; install Rust from https://rustup.rs and re-run"
    [ -n "${PYO3_PYTHON:-}" ] ||
        covetpy_die "python3 not found; install CPython 3.11 or newer"
    "$PYO3_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        covetpy_die "$PYO3_PYTHON is older than 3.11; CovetPy needs CPython 3.11 or newer"
    covetpy_has_shared_libpython ||
        covetpy_die "$PYO3_PYTHON has no shared libpython; rebuild it with --enable-shared" \
            "(pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install <version>)"
}

# covetpy_ensure_venv DIR REQUIREMENTS...
# Create (or re-create) a venv at DIR from PYO3_PYTHON and install the given
# pip arguments into it. The install is skipped when nothing changed since
# the last successful one, so re-runs work offline.
covetpy_ensure_venv() {
    local dir="$1"
    shift
    local base
    base="$("$PYO3_PYTHON" -c 'import sys; print(sys.base_prefix, sys.version)')"
    if [ -x "$dir/bin/python" ]; then
        local have
        have="$("$dir/bin/python" -c 'import sys; print(sys.base_prefix, sys.version)' 2>/dev/null || true)"
        if [ "$have" != "$base" ]; then
            covetpy_log "re-creating $dir (it was made with another Python)"
            rm -rf "$dir"
        fi
    fi
    if [ ! -x "$dir/bin/python" ]; then
        covetpy_log "creating venv $dir with $PYO3_PYTHON"
        "$PYO3_PYTHON" -m venv "$dir"
    fi
    local stamp_file="$dir/.covetpy-installed" stamp arg
    stamp="$base $*"
    for arg in "$@"; do
        if [ -f "$arg" ]; then
            stamp="$stamp $(cksum <"$arg")"
        fi
    done
    if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
        return 0
    fi
    covetpy_log "installing Python packages into $dir"
    PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$dir/bin/python" -m pip install -q "$@" </dev/null
    printf '%s' "$stamp" >"$stamp_file"
}

covetpy_find_cargo
covetpy_find_python
