#!/usr/bin/env bash
# CI check of the pip wheel (docs/install.md), run by scripts/test.sh after the tests:
#  - the launcher crate's own fmt, clippy and unit tests (it is outside the workspace);
#  - scripts/build-wheel.sh, reusing target/release (the interpreter is the tests' one);
#  - a fresh venv with the wheel, FastAPI and Flask installed by pip;
#  - with `env -i` and PATH=/usr/bin:/bin (no cargo, no rustc, no venv activated): `venv/bin/covetpy serve`
#    serves a FastAPI app (ASGI), a Flask app (WSGI) and a native covetpy app, checked with Python's urllib, and
#    stops on SIGTERM with exit code 0; the venv's python imports the same covetpy package files;
#  - the one-sentence refusal for an interpreter of another minor version, for one older than covetpy
#    supports and for one without a shared libpython, with whichever real interpreters this machine has
#    (each skipped with a message if there is none).
#
#   scripts/wheel-check.sh [--python /path/to/python3.X]
#
# --python checks the wheel for another interpreter (default: the tests' one, PYO3_PYTHON); its server is
# built apart, in target/wheel-build/ (see scripts/build-wheel.sh).
set -euo pipefail

. "$(dirname "$0")/env.sh"
cd "$COVETPY_ROOT"

python="$PYO3_PYTHON"
case "${1:-}" in
    --python) python="$("${2:?--python needs a path}" -c 'import sys; print(sys.executable)')" ;;
    "") ;;
    *) covetpy_die "unknown argument $1 (see the comment at the top of $0)" ;;
esac

work="$COVETPY_ROOT/target/wheel-check/$("$python" -c 'import sys, sysconfig; print("cp%d%d%s" % (*sys.version_info[:2], "t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""))')"
rm -rf "$work"
mkdir -p "$work/apps"

covetpy_log "launcher: cargo fmt, clippy, test"
launcher=(--manifest-path crates/launcher/Cargo.toml)
export CARGO_TARGET_DIR="$COVETPY_ROOT/target/launcher"
cargo fmt "${launcher[@]}" -- --check
nice -n 10 cargo clippy --release --locked "${launcher[@]}" --all-targets -- -D warnings
nice -n 10 cargo test --release --locked "${launcher[@]}" --quiet
unset CARGO_TARGET_DIR

wheel="$(scripts/build-wheel.sh --python "$python" --out "$work/dist" | tail -n1)"
covetpy_log "built $(basename "$wheel")"
"$python" - "$wheel" <<'PY' || covetpy_die "the wheel is not laid out as docs/install.md says"
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
data = "covetpy-%s.data" % sys.argv[1].rsplit("/", 1)[-1].split("-")[1]
assert not [n for n in names if "libpython" in n], "the wheel bundles a libpython"
for wanted in (f"{data}/scripts/covetpy", f"{data}/data/libexec/covetpy/covetpy",
               "covetpy/__init__.py", "covetpy/py.typed", "covetpy/static/favicon.svg"):
    assert wanted in names, f"{wanted} is missing"
PY

venv="$work/venv"
"$python" -m venv "$venv"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q "$wheel" fastapi flask </dev/null
ldd "$venv/bin/covetpy" >"$work/launcher.ldd" || covetpy_die "ldd could not read $venv/bin/covetpy"
if grep -q libpython "$work/launcher.ldd"; then
    covetpy_die "the launcher links libpython; it must not (docs/install.md)"
fi

cat >"$work/apps/fastapi_app.py" <<'PY'
from fastapi import FastAPI

app = FastAPI()


@app.get("/hello/{name}")
async def hello(name: str) -> dict[str, str]:
    return {"hello": name, "via": "fastapi"}
PY
cat >"$work/apps/flask_app.py" <<'PY'
from flask import Flask, request

app = Flask(__name__)


@app.get("/hello/<name>")
def hello(name: str) -> dict[str, str]:
    return {"hello": name, "via": request.environ["wsgi.url_scheme"] + " flask"}
PY
cat >"$work/apps/native_app.py" <<'PY'
import sys

from covetpy import FastAPI

app = FastAPI()


@app.get("/hello/{name}")
def hello(name: str) -> dict[str, str]:
    return {"hello": name, "via": "native", "prefix": sys.prefix}
PY

# Everything below runs as a user's shell would after `pip install`, without Rust or an active venv.
clean=(env -i "HOME=$HOME" "PATH=/usr/bin:/bin" "LANG=C.UTF-8")
if "${clean[@]}" sh -c 'command -v cargo || command -v rustc' >/dev/null; then
    covetpy_die "cargo or rustc is on PATH=/usr/bin:/bin; the check would not show the wheel runs without Rust"
fi

port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

# serve_and_check APP EXPECTED: serves APP from the venv's covetpy, GETs /hello/wheel, requires
# EXPECTED in the answer, stops it with SIGTERM and requires exit code 0.
serve_and_check() {
    local app="$1" expected="$2" log="$work/$1.log" pid answer="" code=0 i
    (cd "$work/apps" && exec "${clean[@]}" "$venv/bin/covetpy" serve "$app" --port "$port") >"$log" 2>&1 &
    pid=$!
    for i in $(seq 1 100); do
        answer="$("$python" -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
            "http://127.0.0.1:$port/hello/wheel" 2>/dev/null)" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || code=$?
    if [[ "$answer" != *"$expected"* ]] || [ "$code" -ne 0 ]; then
        cat "$log" >&2
        covetpy_die "$app: expected $expected and exit code 0, got answer '$answer' and exit code $code"
    fi
    covetpy_log "$app: $answer (exit code 0)"
}
serve_and_check fastapi_app:app '"via":"fastapi"'
serve_and_check flask_app:app '"via":"http flask"'
serve_and_check native_app:app "\"prefix\":\"$venv\""

# The package pip installed is the one the server embeds, file for file.
site="$("${clean[@]}" "$venv/bin/python" -c 'import covetpy, os; print(os.path.dirname(covetpy.__file__))')"
diff -r -x __pycache__ -x CONTRACT.md crates/embed/python/covetpy "$site" >/dev/null ||
    covetpy_die "the covetpy package in the wheel differs from crates/embed/python/covetpy"
covetpy_log "venv python imports covetpy from $site (same files as crates/embed/python/covetpy)"

# expect_refusal PYTHON WHAT: a venv made with PYTHON, active through VIRTUAL_ENV, must get one line
# containing WHAT from the wheel's covetpy and exit code 1, not a dynamic-loader error.
expect_refusal() {
    local python="$1" what="$2" other="$work/other-venv" out code=0
    rm -rf "$other"
    "$python" -m venv --without-pip "$other"
    out="$("${clean[@]}" "VIRTUAL_ENV=$other" "$venv/bin/covetpy" serve native_app:app 2>&1)" || code=$?
    if [ "$code" -ne 1 ] || [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ] || [[ "$out" != *"$what"* ]]; then
        covetpy_die "with $python: expected one line with '$what' and exit code 1, got exit code $code: $out"
    fi
    covetpy_log "with $python: $out"
}

built_for="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
# One interpreter of another supported minor version (told which wheel to install), one older than
# covetpy supports (told the oldest), one of the same version without a shared libpython.
other="" old="" static=""
for candidate in /usr/bin/python3.1[0-9] /usr/local/bin/python3.1[0-9] "$HOME"/.pyenv/versions/3.*/bin/python3; do
    [ -x "$candidate" ] || continue
    read -r version supported shared < <("$candidate" -c \
        'import sys, sysconfig; print("%d.%d" % sys.version_info[:2], int(sys.version_info >= (3, 11)), sysconfig.get_config_var("Py_ENABLE_SHARED") or 0)' \
        2>/dev/null) || continue
    if [ "$version" = "$built_for" ]; then
        [ "$shared" = 0 ] && [ -z "$static" ] && static="$candidate"
    elif [ "$supported" = 1 ]; then
        [ -z "$other" ] && other="$candidate" && other_version="$version"
    else
        [ -z "$old" ] && old="$candidate" && old_version="$version"
    fi
done
if [ -n "$other" ]; then
    expect_refusal "$other" "is CPython $other_version: install the covetpy wheel built for cp${other_version/./}"
else
    covetpy_log "skipped the other-minor-version refusal: no CPython 3.11+ other than $built_for on this machine"
fi
if [ -n "$old" ]; then
    expect_refusal "$old" "is CPython $old_version, and covetpy needs CPython 3.11 or newer"
else
    covetpy_log "skipped the too-old refusal: no CPython older than 3.11 on this machine"
fi
if [ -n "$static" ]; then
    expect_refusal "$static" "was built without --enable-shared"
else
    covetpy_log "skipped the no-shared-libpython refusal: no CPython $built_for without a shared libpython here"
fi
covetpy_log "wheel check passed"
