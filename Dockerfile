# syntax=docker/dockerfile:1
#
# Container image with covetpy and Debian's CPython 3.11.
#
#   docker build -t covetpy .
#   docker run --rm covetpy --version
#
# covetpy is linked against /usr/lib/<arch>/libpython3.11.so.1.0, so the
# runtime stage installs the same Debian python3.11 as the build stage. Build
# your app image on top of this one; see docs/venv.md.

FROM rust:1-bookworm AS builder
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3.11 python3.11-dev \
    && rm -rf /var/lib/apt/lists/*
ENV PYO3_PYTHON=/usr/bin/python3.11
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --bin covetpy \
    && install -m 0755 target/release/covetpy /usr/local/bin/covetpy

FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates python3 python3.11 libpython3.11 python3-venv python3.11-venv \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /usr/local/bin/covetpy /usr/local/bin/covetpy
WORKDIR /app
EXPOSE 8000 8000/udp
ENTRYPOINT ["covetpy"]
CMD ["--help"]
