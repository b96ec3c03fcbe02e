#!/usr/bin/env bash
# The container image check, run at the end of scripts/test.sh (and on its own):
#
#   scripts/container-check.sh
#
# 1. Makes sure a Docker engine runs: installs Debian's docker.io and starts dockerd when none answers
#    (and stops the dockerd it started when done).
# 2. Stand-in base images, for machines that cannot reach Docker Hub: a Debian bookworm minbase made
#    with debootstrap and `docker import`ed (the runtime base), and a builder on top of it with Debian's
#    C compiler and this machine's Rust toolchain. Both are reused when a previous run left them, in the
#    engine or as the debootstrap tarball on disk. COVETPY_BUILDER_IMAGE / COVETPY_RUNTIME_IMAGE name
#    real (or mirrored) base images instead.
# 3. Builds the project's Dockerfile with the classic builder (DOCKER_BUILDKIT=0: no BuildKit needed).
# 4. Builds the app recipe extracted verbatim from docs/container.md (its blocks marked
#    `<!-- container-check: NAME -->`) for a FastAPI app and a Flask app, serves them with
#    `docker run -p`, and checks with curl: the answers, the HEALTHCHECK, the non-root user, covetpy
#    as PID 1 reaping orphans, `--read-only --tmpfs /tmp`, HTTP/3 through a published UDP port with
#    `--http3-alt-svc-port`, and `docker stop` exiting 0 well under Docker's 10 s, also with a slow
#    request in flight.
# 5. Prints the image sizes: covetpy's, and the same Debian base with a venv with uvicorn.
#
# Exits non-zero, with one line saying why, on the first failure, including when no engine can run.
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$COVETPY_ROOT"
covetpy_find_cargo
covetpy_find_python

CACHE="${COVETPY_CONTAINER_CACHE:-/var/cache/covetpy-container}"
STANDIN_RUNTIME=covetpy-standin/debian:bookworm-slim
STANDIN_BUILDER=covetpy-standin/rust:1-bookworm
RUNTIME_IMAGE="${COVETPY_RUNTIME_IMAGE:-$STANDIN_RUNTIME}"
BUILDER_IMAGE="${COVETPY_BUILDER_IMAGE:-$STANDIN_BUILDER}"
# docs/container.md's recipe starts `FROM covetpy`, so that is the tag.
IMAGE=covetpy
NAME="covetpy-check-$$"
# The classic builder: the Dockerfile must not need BuildKit.
export DOCKER_BUILDKIT=0
# A `docker stop` that takes longer than this fails the check; Docker kills at 10 s.
STOP_LIMIT=8
# The venv scripts/test.sh made; its Python has aioquic for the HTTP/3 request.
CLIENT_PYTHON="${COVETPY_CHECK_PYTHON:-$COVETPY_ROOT/.venv/bin/python}"

started="$EPOCHREALTIME"
work="$(mktemp -d "${TMPDIR:-/tmp}/covetpy-container.XXXXXX")"
dockerd_pid=""

step() { covetpy_log "container: $*"; }
fail() {
    printf 'container-check: FAILED: %s\n' "$*" >&2
    exit 1
}
elapsed() { # seconds since $1 (an $EPOCHREALTIME), one decimal
    awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

cleanup() {
    local ids
    ids="$(docker ps -aq --filter "name=^$NAME-" 2>/dev/null || true)"
    [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1 || true
    rm -rf "$work"
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid" 2>/dev/null || true
        wait "$dockerd_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# ----------------------------------------------------------------------------------------- engine
ensure_engine() {
    if docker info >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        covetpy_apt_install docker.io
    fi
    command -v dockerd >/dev/null 2>&1 || fail "no container engine: dockerd is missing and docker.io did not install"
    mkdir -p "$CACHE"
    step "starting dockerd (log: $CACHE/dockerd.log)"
    # nice: the image builds run in the daemon, not in this script.
    nice -n 10 dockerd >"$CACHE/dockerd.log" 2>&1 &
    dockerd_pid=$!
    local _
    for _ in $(seq 120); do
        if docker info >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            dockerd_pid=""
            break
        fi
        sleep 0.5
    done
    fail "no container engine can run here: dockerd did not start: $(grep -m1 -iE 'level=(fatal|error)|failed' "$CACHE/dockerd.log" || tail -n1 "$CACHE/dockerd.log")"
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# ------------------------------------------------------------------------------ stand-in images
# A Debian bookworm minbase, slimmed as Docker's debian:*-slim images are (no docs, man pages or
# locales, and dpkg told not to install them later), with this machine's Debian apt sources.
make_runtime_standin() {
    if have_image "$STANDIN_RUNTIME"; then
        step "reusing $STANDIN_RUNTIME"
        return 0
    fi
    local tarball="$CACHE/debian-bookworm-slim.tar"
    if [ ! -s "$tarball" ]; then
        command -v debootstrap >/dev/null 2>&1 || covetpy_apt_install debootstrap
        mkdir -p "$CACHE"
        local rootfs="$CACHE/rootfs.$$"
        rm -rf "$rootfs"
        step "debootstrap bookworm (log: $CACHE/debootstrap.log)"
        # COVETPY_DEBIAN_MIRROR: a mirror URL; without it debootstrap uses its default one.
        # shellcheck disable=SC2086
        nice -n 10 debootstrap --variant=minbase bookworm "$rootfs" ${COVETPY_DEBIAN_MIRROR:-} \
            >"$CACHE/debootstrap.log" 2>&1 || fail "debootstrap failed: $(tail -n1 "$CACHE/debootstrap.log")"
        cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
        cat >"$rootfs/etc/apt/apt.conf.d/slim" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
EOF
        find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
        find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
        rm -rf "$rootfs"/usr/share/{man,info,locale,lintian}/* \
            "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
            "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
        # This machine's Debian sources (updates and security too), when it has them in deb822 form.
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
            cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
            : >"$rootfs/etc/apt/sources.list"
        fi
        tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf "$rootfs"
    else
        step "reusing $tarball"
    fi
    docker import --change 'CMD ["bash"]' "$tarball" "$STANDIN_RUNTIME-rootfs" >/dev/null
    # This machine's own certificate authorities (/usr/local/share/ca-certificates: here, those of
    # the TLS-inspecting proxy on the way to the registries), as a company's base image carries them:
    # every image that installs ca-certificates then trusts them (cargo, apt), and pip, whose bundled
    # certifi would not, is pointed at the system bundle.
    local context="$work/runtime"
    mkdir -p "$context/ca"
    local -a env=()
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$context/ca/"
        env=("ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt")
    fi
    printf '%s\n' "FROM $STANDIN_RUNTIME-rootfs" "COPY ca/ /usr/local/share/ca-certificates/" "${env[@]}" \
        >"$context/Dockerfile"
    docker build -q -t "$STANDIN_RUNTIME" "$context" >"$CACHE/standin.log" 2>&1 \
        || fail "building $STANDIN_RUNTIME failed (log: $CACHE/standin.log)"
    docker rmi "$STANDIN_RUNTIME-rootfs" >/dev/null
}

# The runtime stand-in plus what rust:1-bookworm has that the build uses: a C compiler and this
# machine's Rust toolchain (bin, lib, libexec of `rustc --print sysroot`; no docs).
make_builder_standin() {
    if have_image "$STANDIN_BUILDER"; then
        step "reusing $STANDIN_BUILDER"
        return 0
    fi
    command -v rustc >/dev/null 2>&1 || fail "no Rust toolchain on this machine to put in $STANDIN_BUILDER"
    local sysroot context="$work/builder"
    sysroot="$(rustc --print sysroot)"
    mkdir -p "$context/rust"
    cp -a "$sysroot/bin" "$sysroot/lib" "$context/rust/"
    [ -d "$sysroot/libexec" ] && cp -a "$sysroot/libexec" "$context/rust/"
    cat >"$context/Dockerfile" <<EOF
FROM $STANDIN_RUNTIME
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        ca-certificates gcc libc6-dev pkg-config \\
    && rm -rf /var/lib/apt/lists/*
COPY rust /usr/local/rust
ENV CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EOF
    step "building $STANDIN_BUILDER ($(rustc --version))"
    docker build -q -t "$STANDIN_BUILDER" "$context" >"$CACHE/standin.log" 2>&1 \
        || fail "building $STANDIN_BUILDER failed (log: $CACHE/standin.log)"
    rm -rf "$context"
}

# ------------------------------------------------------------------------------- the app recipe
# Prints the fenced block that follows `<!-- container-check: $1 -->` in docs/container.md.
doc_block() {
    awk -v marker="<!-- container-check: $1 -->" '
        $0 == marker { found = 1; next }
        found && !inside && /^```/ { inside = 1; next }
        inside && /^```/ { exit }
        inside { print }
    ' docs/container.md
}

# make_app DIR: DIR gets the recipe's Dockerfile and .dockerignore, verbatim from the doc.
make_app() {
    mkdir -p "$1"
    local block
    for block in Dockerfile .dockerignore; do
        doc_block "$block" >"$1/$block"
        [ -s "$1/$block" ] || fail "docs/container.md has no block marked <!-- container-check: $block -->"
    done
}

write_apps() {
    make_app "$work/fastapi"
    echo fastapi >"$work/fastapi/requirements.txt"
    cat >"$work/fastapi/main.py" <<'EOF'
import asyncio
import subprocess

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root() -> dict[str, str]:
    return {"hello": "fastapi"}


@app.get("/slow")
async def slow() -> dict[str, str]:
    await asyncio.sleep(60)
    return {"slow": "done"}


@app.get("/orphan")
def orphan() -> dict[str, str]:
    # sh exits at once and leaves its background child to be re-parented to PID 1.
    subprocess.run(["sh", "-c", "sleep 0.5 & exit 0"], check=True)
    return {"orphaned": "yes"}
EOF
    # Something the .dockerignore must keep out of the image.
    mkdir -p "$work/fastapi/.venv" && echo stale >"$work/fastapi/.venv/marker"

    make_app "$work/flask"
    echo flask >"$work/flask/requirements.txt"
    cat >"$work/flask/main.py" <<'EOF'
import tempfile

from flask import Flask

app = Flask(__name__)


@app.get("/")
def root() -> dict[str, str]:
    return {"hello": "flask"}


@app.get("/tmpfile")
def tmpfile() -> dict[str, str]:
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"written")
        f.flush()
        return {"tmp": f.name}
EOF
}

# ------------------------------------------------------------------------------------- running
free_port() {
    "$PYO3_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_healthy CONTAINER: the image's HEALTHCHECK must report healthy (runs are started with a 1 s
# interval, so this takes seconds, not the image's 10 s period).
wait_healthy() {
    local status="" _
    for _ in $(seq 60); do
        status="$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null || echo gone)"
        case "$status" in
            healthy) return 0 ;;
            gone) break ;;
        esac
        [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ] || break
        sleep 0.5
    done
    docker logs "$1" 2>&1 | tail -n 20 >&2
    fail "$1 did not become healthy (health: $status)"
}

# expect_body URL TEXT [CURL ARGS...]: the answer must contain TEXT.
expect_body() {
    local url="$1" text="$2" body
    shift 2
    body="$(curl -fsS --max-time 10 "$@" "$url")" || fail "GET $url failed"
    case "$body" in
        *"$text"*) ;;
        *) fail "GET $url answered '$body', expected it to contain '$text'" ;;
    esac
}

# stop_cleanly CONTAINER WHAT: `docker stop` must end the container with exit code 0 within STOP_LIMIT s.
stop_cleanly() {
    local t0="$EPOCHREALTIME" took code
    docker stop "$1" >/dev/null
    took="$(elapsed "$t0")"
    code="$(docker inspect -f '{{.State.ExitCode}}' "$1")"
    step "docker stop ($2): exit code $code after ${took} s"
    if [ "$code" -ne 0 ]; then
        docker logs "$1" 2>&1 | tail -n 20 >&2
        fail "docker stop ($2): exit code $code, expected 0"
    fi
    awk -v t="$took" -v limit="$STOP_LIMIT" 'BEGIN { exit !(t < limit) }' \
        || fail "docker stop ($2) took ${took} s, expected under $STOP_LIMIT s (Docker kills at 10 s)"
}

zombies() {
    docker exec "$1" sh -c 'grep -l "^State:[[:space:]]*Z" /proc/[0-9]*/status 2>/dev/null | wc -l'
}

check_fastapi() {
    local c="$NAME-fastapi" port
    port="$(free_port)"
    docker run -d --name "$c" --health-interval 1s -p "127.0.0.1:$port:8000" app-fastapi:check >/dev/null
    wait_healthy "$c"
    expect_body "http://127.0.0.1:$port/" '"hello":"fastapi"'
    expect_body "http://127.0.0.1:$port/healthz" ok
    [ "$(docker exec "$c" id -u)" = 10001 ] || fail "the app does not run as uid 10001"
    [ "$(docker exec "$c" cat /proc/1/comm)" = covetpy ] || fail "PID 1 is not covetpy"
    docker exec "$c" test ! -e /app/.venv/marker || fail ".dockerignore did not keep .venv out of the image"
    expect_body "http://127.0.0.1:$port/orphan" orphaned
    expect_body "http://127.0.0.1:$port/orphan" orphaned
    sleep 2
    local count
    count="$(zombies "$c")"
    [ "$count" -eq 0 ] || fail "$count zombie process(es) in the container: PID 1 (covetpy) did not reap its orphans"
    step "FastAPI: answers, healthy, uid 10001, covetpy is PID 1, orphans reaped"

    # A request that would take 60 s is in flight: covetpy's 5 s graceful timeout cancels it.
    curl -sS --max-time 30 -o /dev/null "http://127.0.0.1:$port/slow" 2>/dev/null &
    local slow=$!
    sleep 1
    stop_cleanly "$c" "FastAPI, a 60 s request in flight"
    wait "$slow" 2>/dev/null || true
}

check_flask_read_only() {
    local c="$NAME-flask" port
    port="$(free_port)"
    docker run -d --name "$c" --health-interval 1s --read-only --tmpfs /tmp \
        -p "127.0.0.1:$port:8000" app-flask:check >/dev/null
    wait_healthy "$c"
    expect_body "http://127.0.0.1:$port/" '"hello":"flask"'
    expect_body "http://127.0.0.1:$port/tmpfile" '"tmp":"/tmp/'
    docker exec "$c" sh -c ': > /app/x' 2>/dev/null && fail "--read-only: /app was writable"
    step "Flask: answers with --read-only --tmpfs /tmp, healthy"
    stop_cleanly "$c" "Flask, read-only, idle"
}

# HTTPS and HTTP/3 on published ports (host port != container port), with the advertised port set.
check_http3() {
    local c="$NAME-h3" port certs="$work/certs"
    port="$(free_port)"
    mkdir -p "$certs"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$certs/key.pem" -out "$certs/cert.pem" 2>/dev/null
    chmod 0644 "$certs/key.pem"
    docker run -d --name "$c" --health-interval 1s \
        -p "127.0.0.1:$port:8000/tcp" -p "127.0.0.1:$port:8000/udp" \
        -v "$certs:/certs:ro" \
        -e COVETPY_SSL_CERTFILE=/certs/cert.pem -e COVETPY_SSL_KEYFILE=/certs/key.pem \
        -e COVETPY_HTTP3=true -e "COVETPY_HTTP3_ALT_SVC_PORT=$port" \
        app-fastapi:check >/dev/null
    wait_healthy "$c"
    local alt_svc
    alt_svc="$(curl -fsS --max-time 10 --cacert "$certs/cert.pem" -o /dev/null -D - "https://localhost:$port/" \
        | tr -d '\r' | awk -F': ' 'tolower($1) == "alt-svc" { print $2 }')"
    [ "$alt_svc" = "h3=\":$port\"; ma=86400" ] || fail "Alt-Svc is '$alt_svc', expected h3=\":$port\"; ma=86400"
    if [ -x "$CLIENT_PYTHON" ] && "$CLIENT_PYTHON" -c 'import aioquic' 2>/dev/null; then
        local answer
        answer="$(cd tests && "$CLIENT_PYTHON" - "$port" "$certs/cert.pem" <<'EOF'
import asyncio
import sys

from h3client import h3_connect


async def main() -> None:
    async with h3_connect(int(sys.argv[1]), sys.argv[2]) as client:
        response = await client.request("GET", "/")
        print(response.status, response.content.decode())


asyncio.run(main())
EOF
)" || fail "HTTP/3 request to the published UDP port $port failed"
        case "$answer" in
            "200 "*fastapi*) ;;
            *) fail "HTTP/3 answer: $answer" ;;
        esac
        step "HTTP/3: Alt-Svc names published port $port, and an HTTP/3 request through it is answered"
    else
        fail "no Python with aioquic at $CLIENT_PYTHON for the HTTP/3 request (set COVETPY_CHECK_PYTHON)"
    fi
    stop_cleanly "$c" "HTTPS + HTTP/3, idle"
}

# --------------------------------------------------------------------------------------- sizes
size_mb() {
    docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1000000 }'
}

report_sizes() {
    local spec tag line="covetpy $(size_mb "$IMAGE")"
    # The same Debian base and Python with a venv holding uvicorn: plain, and with the extras
    # (uvloop, httptools, websockets, ...) that production uvicorn images install.
    for spec in uvicorn 'uvicorn[standard]'; do
        tag="covetpy-check/$(tr -d '[]' <<<"$spec")-standin"
        mkdir -p "$work/$tag"
        cat >"$work/$tag/Dockerfile" <<EOF
FROM $RUNTIME_IMAGE
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        ca-certificates python3.11 python3.11-venv \\
    && rm -rf /var/lib/apt/lists/* \\
    && python3.11 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir '$spec'
EOF
        docker build -q -t "$tag" "$work/$tag" >"$CACHE/build-uvicorn.log" 2>&1 \
            || fail "building the $spec image for the size comparison failed (log: $CACHE/build-uvicorn.log)"
        line="$line; the same Debian base + python3.11 + a venv with $spec $(size_mb "$tag")"
    done
    step "image sizes: $line"
}

# ------------------------------------------------------------------------------------------ main
ensure_engine
step "engine: $(docker version -f 'server {{.Server.Version}}, client {{.Client.Version}}')"
if [ "$RUNTIME_IMAGE" = "$STANDIN_RUNTIME" ]; then make_runtime_standin; fi
if [ "$BUILDER_IMAGE" = "$STANDIN_BUILDER" ]; then make_builder_standin; fi
step "base images ready after $(elapsed "$started") s"

t0="$EPOCHREALTIME"
step "docker build (BUILDER_IMAGE=$BUILDER_IMAGE, RUNTIME_IMAGE=$RUNTIME_IMAGE; log: $CACHE/build.log)"
mkdir -p "$CACHE"
docker build --build-arg "BUILDER_IMAGE=$BUILDER_IMAGE" --build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE" \
    -t "$IMAGE" . >"$CACHE/build.log" 2>&1 || {
    tail -n 30 "$CACHE/build.log" >&2
    fail "docker build of the Dockerfile failed (log: $CACHE/build.log)"
}
step "image $IMAGE built in $(elapsed "$t0") s: $(docker run --rm "$IMAGE" --version)"

write_apps
t0="$EPOCHREALTIME"
for app in fastapi flask; do
    docker build -t "app-$app:check" "$work/$app" >"$CACHE/build-$app.log" 2>&1 || {
        tail -n 30 "$CACHE/build-$app.log" >&2
        fail "docker build of docs/container.md's recipe for the $app app failed"
    }
done
step "app images (docs/container.md's recipe) built in $(elapsed "$t0") s"

check_fastapi
check_flask_read_only
check_http3
report_sizes
step "all container checks passed in $(elapsed "$started") s"
