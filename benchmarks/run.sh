#!/usr/bin/env bash
# CovetPy benchmark, one worker per server, server on CPU 0, load generator on CPU 1.
# Scenarios: asgi (raw ASGI app: covetpy vs granian vs uvicorn, HTTP/1.1 and HTTP/2),
# wsgi (Flask app: covetpy vs granian vs gunicorn, HTTP/1.1) and native (HTTP/1.1, one table
# each: native-items, a native CovetPy app's GET /items/42?q=hello vs the same app in FastAPI
# on uvicorn; native-plain, its GET /plain vs nginx answering from its config; then app files
# that import fastapi, served by covetpy --interface covet and by FastAPI on uvicorn:
# native-sync, a def endpoint with native-items' parameters (and covetpy's def / async def
# cost); native-realistic, middleware + bearer auth + yield dependency + response_model,
# also on covetpy --interface asgi; native-body, a pydantic body failing validation (422);
# native-multipart, a 1 MiB UploadFile upload; native-cors, a CORSMiddleware preflight;
# native-static, a 1 MiB StaticFiles file, also vs nginx) and fastapi (a FastAPI app with one
# def and one async def route, served as ASGI: covetpy vs granian vs uvicorn) and websocket
# (raw ASGI WebSocket echo app: covetpy vs granian, measured with crates/loadgen) and tls (raw
# ASGI app over TLS: HTTP/2 with ALPN h2, covetpy vs granian, measured with h2load; HTTP/3,
# covetpy --http3 vs hypercorn --quic-bind, measured with crates/loadgen).
# One command on a clean Debian/Ubuntu machine:
#
#   benchmarks/run.sh
#
# Environment:
#   DURATION     seconds of measurement per server and protocol (default 10)
#   ROUNDS       interleaved rounds; the median is reported (default 3)
#   SCENARIOS    comma-separated subset of asgi,wsgi,native,fastapi,websocket,tls, or single
#                tables of a group: native-items, native-plain, native-sync,
#                native-realistic, native-body, native-multipart, native-cors,
#                native-static, fastapi-async, fastapi-sync, tls-h2, tls-h3 (default: all);
#                or one of these alone, each a harness of its own that takes the extra
#                arguments and writes PNG charts to docs/img/:
#                connections: memory per idle HTTP/1.1 and WebSocket connection, covetpy
#                  vs uvicorn vs granian (benchmarks/connections.py);
#                techempower: JSON, single query, 20 queries, fortunes, 20 updates and
#                  pipelined plaintext against PostgreSQL (benchmarks/techempower.py);
#                latency: p50/p99/p99.9 at 50% and 90% of each server's peak, measured
#                  at a constant rate by oha (benchmarks/latency.py);
#                scaling: 1 and 2 workers vs granian and nginx, and cold start to the
#                  first 200 (benchmarks/scaling.py);
#                uploads: RSS per uploading connection and CPU per MiB uploaded, covetpy
#                  vs uvicorn vs granian (benchmarks/uploads.py, no chart)
#   SERVERS      comma-separated subset of covetpy,covetpy-asgi,granian,uvicorn,gunicorn,
#                fastapi-uvicorn,nginx,hypercorn; each scenario runs the selected servers
#                it has
#                (default: all)
#   COVETPY_BIN  use this covetpy binary instead of building target/release/covetpy
#   WSBENCH_BIN  use this wsbench binary instead of building target/release/wsbench
#   H3BENCH_BIN  use this h3bench binary instead of building target/release/h3bench
#   NGINX_BIN    nginx executable for native-plain and native-static (default: nginx on PATH, or
#                /usr/sbin/nginx; Debian package nginx installed if missing)
#   PYTHON       interpreter to build against and make the venv from (default python3)
#
# Output: a Markdown table on stdout, also saved to benchmarks/results-latest.md;
# raw wrk/h2load/wsbench output and server logs in benchmarks/logs/.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$BENCH_DIR/.." && pwd)"
VENV="$BENCH_DIR/.venv"
SCENARIOS="${SCENARIOS:-asgi,wsgi,native,fastapi,websocket,tls}"

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# --- 1. system tools: wrk, h2load, taskset, and nginx for native-plain/native-static ---
find_nginx() {
    if [ -n "${NGINX_BIN:-}" ]; then
        [ -x "$NGINX_BIN" ] && printf '%s\n' "$NGINX_BIN"
    else
        # Debian puts it in /usr/sbin, which is not on a normal user's PATH.
        PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v nginx
    fi
}
wants_nginx=false
if [[ ",$SCENARIOS," =~ ,(native|native-plain|native-static|scaling), ]] &&
    { [ -z "${SERVERS:-}" ] || [[ ",$SERVERS," == *",nginx,"* ]]; }; then
    wants_nginx=true
fi
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
if [[ ",$SCENARIOS," == *",tls,"* ]]; then
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
fi
if "$wants_nginx" && ! find_nginx >/dev/null 2>&1; then
    [ -z "${NGINX_BIN:-}" ] || die "NGINX_BIN=$NGINX_BIN is not an executable"
    missing+=(nginx)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "need ${missing[*]} and apt-get is not available"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root or sudo to install ${missing[*]}"
        SUDO=(sudo)
    fi
    log "installing ${missing[*]}"
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if "$wants_nginx"; then
    NGINX_BIN="$(find_nginx)" || die "nginx not found after installing it"
    export NGINX_BIN
fi

nproc_count="$(nproc)"
[ "$nproc_count" -ge 2 ] || die "need at least 2 CPUs (server on CPU 0, load on CPU 1); nproc=$nproc_count"

# --- 2. python: the real executable behind python3 (pyenv shims resolved) -------------
if [ -z "${PYO3_PYTHON:-}" ] && [ -z "${PYTHON:-}" ] && ! command -v python3 >/dev/null 2>&1; then
    die "python3 not found"
fi
REAL_PYTHON="${PYO3_PYTHON:-$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')}"
[ -x "$REAL_PYTHON" ] || die "python executable $REAL_PYTHON not found"

# --- 3. venv with granian, uvicorn, gunicorn, flask, fastapi and python-multipart ------
# (FastAPI needs python-multipart for the UploadFile endpoint of native-multipart.)
venv_ok() {
    [ -x "$VENV/bin/python" ] &&
        [ -x "$VENV/bin/granian" ] &&
        [ -x "$VENV/bin/uvicorn" ] &&
        [ -x "$VENV/bin/gunicorn" ] &&
        "$VENV/bin/python" -c \
            'import granian, uvicorn, uvloop, httptools, gunicorn, flask, fastapi, python_multipart' \
            >/dev/null 2>&1
}
if ! venv_ok; then
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV with $REAL_PYTHON"
        if ! "$REAL_PYTHON" -m venv "$VENV"; then
            # Debian's python splits venv/ensurepip into python3-venv.
            case "$REAL_PYTHON" in
                /usr/bin/python3*)
                    ver="$("$REAL_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
                    log "installing python${ver}-venv"
                    SUDO=()
                    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
                    "${SUDO[@]}" apt-get update -qq
                    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq \
                        "python${ver}-venv" >/dev/null
                    rm -rf "$VENV"
                    "$REAL_PYTHON" -m venv "$VENV"
                    ;;
                *) die "cannot create a venv with $REAL_PYTHON" ;;
            esac
        fi
    fi
    log "installing granian, uvicorn[standard], gunicorn, flask, fastapi and python-multipart into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q granian 'uvicorn[standard]' gunicorn flask fastapi python-multipart
    venv_ok || die "venv at $VENV is incomplete after pip install"
fi

# --- 3b. hypercorn with HTTP/3 (aioquic) for the tls scenario ---------------------------
if [[ ",$SCENARIOS," == *",tls,"* ]] &&
    ! { [ -x "$VENV/bin/hypercorn" ] && "$VENV/bin/python" -c 'import hypercorn, aioquic' >/dev/null 2>&1; }; then
    log "installing hypercorn[h3] into $VENV"
    "$VENV/bin/python" -m pip install -q 'hypercorn[h3]'
    [ -x "$VENV/bin/hypercorn" ] || die "hypercorn missing from $VENV after pip install"
fi

# --- 4. covetpy binary ---------------------------------------------------------------
if [ -n "${COVETPY_BIN:-}" ]; then
    [ -x "$COVETPY_BIN" ] || die "COVETPY_BIN=$COVETPY_BIN is not an executable"
    COVETPY_BIN="$(cd "$(dirname "$COVETPY_BIN")" && pwd)/$(basename "$COVETPY_BIN")"
elif [[ ",${SERVERS:-covetpy}," =~ ,covetpy(-asgi)?, ]]; then
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        # shellcheck source=/dev/null
        . "$HOME/.cargo/env"
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust, or set COVETPY_BIN)"
    export PYO3_PYTHON="$REAL_PYTHON"
    log "cargo build --release (PYO3_PYTHON=$PYO3_PYTHON)"
    (cd "$REPO_ROOT" && cargo build --release)
    COVETPY_BIN="$REPO_ROOT/target/release/covetpy"
    [ -x "$COVETPY_BIN" ] || die "build finished but $COVETPY_BIN does not exist"
else
    COVETPY_BIN="$REPO_ROOT/target/release/covetpy"
fi
export COVETPY_BIN

# --- 4b. wsbench, the WebSocket load generator (crates/loadgen) -------------------------
if [[ ",$SCENARIOS," == *",websocket,"* ]]; then
    if [ -n "${WSBENCH_BIN:-}" ]; then
        [ -x "$WSBENCH_BIN" ] || die "WSBENCH_BIN=$WSBENCH_BIN is not an executable"
    else
        WSBENCH_BIN="$REPO_ROOT/target/release/wsbench"
        if [ ! -x "$WSBENCH_BIN" ]; then
            command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust, or set WSBENCH_BIN)"
            log "cargo build --release -p loadgen --bin wsbench"
            (cd "$REPO_ROOT" && cargo build --release -p loadgen --bin wsbench)
        fi
        [ -x "$WSBENCH_BIN" ] || die "build finished but $WSBENCH_BIN does not exist"
    fi
    WSBENCH_BIN="$(cd "$(dirname "$WSBENCH_BIN")" && pwd)/$(basename "$WSBENCH_BIN")"
    export WSBENCH_BIN
fi

# --- 4c. h3bench, the HTTP/3 load generator (crates/loadgen) ----------------------------
if [[ ",$SCENARIOS," == *",tls,"* ]]; then
    if [ -n "${H3BENCH_BIN:-}" ]; then
        [ -x "$H3BENCH_BIN" ] || die "H3BENCH_BIN=$H3BENCH_BIN is not an executable"
    else
        H3BENCH_BIN="$REPO_ROOT/target/release/h3bench"
        if [ ! -x "$H3BENCH_BIN" ]; then
            command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust, or set H3BENCH_BIN)"
            log "cargo build --release -p loadgen --bin h3bench"
            (cd "$REPO_ROOT" && cargo build --release -p loadgen --bin h3bench)
        fi
        [ -x "$H3BENCH_BIN" ] || die "build finished but $H3BENCH_BIN does not exist"
    fi
    H3BENCH_BIN="$(cd "$(dirname "$H3BENCH_BIN")" && pwd)/$(basename "$H3BENCH_BIN")"
    export H3BENCH_BIN
fi

# --- 5. run --------------------------------------------------------------------------
# Separate harnesses that plot with matplotlib: connections, techempower, latency, scaling.
ensure_python_packages() {
    # $1: import names to check; the rest: what pip installs when one is missing.
    local imports="$1"
    shift
    if ! "$VENV/bin/python" -c "import $imports" >/dev/null 2>&1; then
        log "installing $* into $VENV"
        "$VENV/bin/python" -m pip install -q "$@"
    fi
}
ensure_postgres() {
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        SUDO=()
        [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
        log "installing postgresql"
        "${SUDO[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq postgresql >/dev/null
    fi
}
ensure_oha() {
    # oha measures latency at a constant rate, corrected for coordinated omission.
    OHA_BIN="${OHA_BIN:-$BENCH_DIR/.tools/bin/oha}"
    if [ ! -x "$OHA_BIN" ]; then
        command -v cargo >/dev/null 2>&1 || die "cargo not found (needed to install oha, or set OHA_BIN)"
        log "cargo install oha into $BENCH_DIR/.tools"
        cargo install oha --locked --quiet --root "$BENCH_DIR/.tools"
    fi
    export OHA_BIN
}
case "$SCENARIOS" in
    techempower)
        ensure_postgres
        ensure_python_packages "matplotlib, asyncpg, psycopg, psycopg_pool, jinja2" \
            matplotlib asyncpg 'psycopg[binary,pool]' jinja2
        log "TechEmpower-style tests against PostgreSQL; keep the machine otherwise idle"
        exec "$VENV/bin/python" "$BENCH_DIR/techempower.py" --covetpy "$COVETPY_BIN" --venv "$VENV" \
            --duration "${DURATION:-10}" --rounds "${ROUNDS:-3}" "$@"
        ;;
    latency)
        ensure_postgres
        ensure_oha
        ensure_python_packages "matplotlib, asyncpg, jinja2" matplotlib asyncpg jinja2
        log "latency at constant rates; keep the machine otherwise idle"
        exec "$VENV/bin/python" "$BENCH_DIR/latency.py" --covetpy "$COVETPY_BIN" --venv "$VENV" \
            --oha "$OHA_BIN" --duration "${DURATION:-10}" --rounds "${ROUNDS:-3}" "$@"
        ;;
    uploads)
        log "memory and CPU of uploads in progress; keep the machine otherwise idle"
        exec "$VENV/bin/python" "$BENCH_DIR/uploads.py" --covetpy "$COVETPY_BIN" --venv "$VENV" \
            --duration "${DURATION:-5}" --rounds "${ROUNDS:-3}" "$@"
        ;;
    scaling)
        ensure_python_packages matplotlib matplotlib
        log "1 and 2 workers, and cold start; keep the machine otherwise idle"
        exec "$VENV/bin/python" "$BENCH_DIR/scaling.py" --covetpy "$COVETPY_BIN" --venv "$VENV" \
            --duration "${DURATION:-10}" --rounds "${ROUNDS:-3}" "$@"
        ;;
esac
if [ "$SCENARIOS" = connections ]; then
    # Memory per idle connection, a separate harness (benchmarks/connections.py) that plots with matplotlib.
    ensure_python_packages matplotlib matplotlib
    log "measuring memory per idle connection; keep the machine otherwise idle"
    exec "$VENV/bin/python" "$BENCH_DIR/connections.py" --covetpy "$COVETPY_BIN" --venv "$VENV" "$@"
fi
log "benchmarking (SCENARIOS=$SCENARIOS, DURATION=${DURATION:-10}s, ROUNDS=${ROUNDS:-3}); keep the machine otherwise idle"
exec "$VENV/bin/python" "$BENCH_DIR/bench.py" \
    --duration "${DURATION:-10}" \
    --rounds "${ROUNDS:-3}" \
    --scenarios "$SCENARIOS" \
    --servers "${SERVERS:-}" \
    --covetpy-bin "$COVETPY_BIN" \
    --venv "$VENV" \
    "$@"
