#!/usr/bin/env python3
"""Replay a directory of `.http` request vectors against a running server.

The vectors use the escaped format of gunicorn's request corpus
(tests/requests/{valid,invalid}/*.http in its sdist): real newlines are
layout only, and `\\r\\n`, `\\n`, `\\t`, `\\0` and `\\xNN` stand for the bytes.
Each vector is sent on a fresh connection (without a half-close, which
hyper answers by closing); the first status line that comes back, or what
happened instead, is reported.

    scripts/replay_http_corpus.py --port 8000 DIR [--skip-prefix pp_ ...]

With --expect-reject, exits non-zero if any vector got a 2xx/3xx answer.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
from pathlib import Path

HEX_ESCAPE = re.compile(rb"\\x([0-9A-Fa-f]{2})")


def decode_vector(raw: bytes) -> bytes:
    """Turn the escaped text format into the bytes that go on the wire."""
    data = raw.replace(b"\n", b"").replace(b"\\r\\n", b"\r\n")
    data = data.replace(b"\\0", b"\0").replace(b"\\n", b"\n").replace(b"\\t", b"\t")
    return HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def send_vector(port: int, data: bytes, timeout: float) -> str:
    """Send one vector; return the first status line, or a note on what happened."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError as exc:
            return f"send failed: {exc}"
        received = b""
        try:
            while b"\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            return "no answer (timeout)"
        except ConnectionResetError:
            return (
                "connection reset"
                if not received
                else received.split(b"\r\n")[0].decode("latin-1")
            )
        if not received:
            return "closed without answer"
        return received.split(b"\r\n", 1)[0].decode("latin-1")


def accepted(status_line: str) -> bool:
    parts = status_line.split(" ")
    return len(parts) > 1 and parts[0].startswith("HTTP/") and parts[1][:1] in "23"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--skip-prefix", action="append", default=[])
    parser.add_argument(
        "--skip", action="append", default=[], help="vector name without .http"
    )
    parser.add_argument("--expect-reject", action="store_true")
    args = parser.parse_args()

    bad = []
    for path in sorted(args.directory.glob("*.http")):
        name = path.stem
        if name in args.skip or any(name.startswith(p) for p in args.skip_prefix):
            continue
        status = send_vector(args.port, decode_vector(path.read_bytes()), args.timeout)
        verdict = "ACCEPTED" if accepted(status) else "rejected"
        if accepted(status):
            bad.append(name)
        print(f"{verdict:9} {name:45} {status}")
    print(f"{len(bad)} accepted: {' '.join(bad)}")
    return 1 if args.expect_reject and bad else 0


if __name__ == "__main__":
    sys.exit(main())
