# Container image with covetpy and Debian bookworm's CPython 3.11.
#
#   docker build -t covetpy .            (plain Docker, BuildKit or not, and `podman build`)
#   docker run --rm covetpy --version
#
# Build an app image on top of it: docs/container.md. The base images are build arguments so that a
# mirror, or a local stand-in image (scripts/container-check.sh makes them from Debian's packages),
# can be used where Docker Hub cannot be reached:
#
#   docker build --build-arg BUILDER_IMAGE=mirror.example/rust:1-bookworm \
#                --build-arg RUNTIME_IMAGE=mirror.example/debian:bookworm-slim -t covetpy .
#
# Both must be Debian bookworm: covetpy is linked against bookworm's libpython3.11.so.1.0, and the
# runtime stage installs that same library and interpreter.

ARG BUILDER_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------------
# Only the Cargo manifests, so that the dependency layer below is rebuilt only when they change
# (COPY --from is cached by content). The same idea as cargo-chef, with no tool to install.
FROM ${BUILDER_IMAGE} AS manifests
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
RUN find . -type f ! -name Cargo.toml ! -name Cargo.lock -delete \
    && find . -depth -type d -empty -delete

# ---------------------------------------------------------------------------------------------------
FROM ${BUILDER_IMAGE} AS builder
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3.11 python3.11-dev \
    && rm -rf /var/lib/apt/lists/*
# Symbols stripped by cargo itself (no binutils needed): about a third of the binary's size.
ENV PYO3_PYTHON=/usr/bin/python3.11 \
    CARGO_PROFILE_RELEASE_STRIP=symbols
WORKDIR /src

# Dependencies first: every workspace crate gets an empty lib.rs and main.rs (and each bin path its
# manifest names), and the dependency graph of the covetpy binary is compiled against those stubs.
COPY --from=manifests /src ./
RUN for manifest in crates/*/Cargo.toml; do \
        crate=$(dirname "$manifest"); \
        mkdir -p "$crate/src"; \
        : > "$crate/src/lib.rs"; \
        echo 'fn main() {}' > "$crate/src/main.rs"; \
        for bin in $(sed -n 's/^path = "\(src\/[^"]*\)"/\1/p' "$manifest"); do \
            mkdir -p "$crate/$(dirname "$bin")"; echo 'fn main() {}' > "$crate/$bin"; \
        done; \
    done \
    && cargo build --locked --release -p covetpy \
    && rm -rf crates

# Then the sources (everything the build reads is under crates/: a change to docs or tests does not
# rebuild). They are touched so cargo does not take the stubs' newer outputs for up to date.
COPY crates crates
RUN find crates -type f -exec touch {} + \
    && cargo build --locked --release -p covetpy \
    && install -m 0755 target/release/covetpy /usr/local/bin/covetpy \
    && /usr/local/bin/covetpy --version

# ---------------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
# libpython3.11 is what the binary links; python3.11 (interpreter and standard library) is what it
# runs as and what app venvs are made from (python3.11-venv brings ensurepip for `python3 -m venv`).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates libpython3.11 python3.11 python3.11-venv \
    && ln -sf python3.11 /usr/bin/python3 \
    && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log \
    && groupadd --system --gid 10001 covetpy \
    && useradd --system --uid 10001 --gid covetpy --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin covetpy
COPY --from=builder /usr/local/bin/covetpy /usr/local/bin/covetpy
COPY docker/healthcheck.py /usr/local/lib/covetpy/healthcheck.py

# Every `covetpy serve` option can be set as COVETPY_<OPTION> (docs/cli.md). These are the ones a
# container needs; the HEALTHCHECK reads the same variables, so set COVETPY_PORT, the health path and
# TLS as variables (ENV, `docker run -e`) rather than on the command line.
#  - 0.0.0.0: the default 127.0.0.1 cannot be reached through `docker run -p`. The port stays 8000.
#  - The graceful timeout is covetpy's default, 5 s: in-flight requests, then cancellation and
#    lifespan shutdown, finish inside Docker's 10 s before SIGKILL (and Kubernetes' 30 s).
ENV COVETPY_HOST=0.0.0.0 \
    COVETPY_HEALTH_PATH=/healthz \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# /app (the app's code and venv, docs/container.md) belongs to root: the server can read it, not change it.
WORKDIR /app
# A numeric user, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000/tcp 8000/udp

# No tini or dumb-init: covetpy is PID 1. It handles SIGTERM/SIGINT itself (a PID 1 without handlers
# would ignore them), forwards them to its workers, and reaps every child that is orphaned onto it,
# so an init in front would only add a process between Docker's signal and the server.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3.11", "-I", "/usr/local/lib/covetpy/healthcheck.py"]

ENTRYPOINT ["covetpy"]
CMD ["--help"]
