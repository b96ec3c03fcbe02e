"""Shared helpers for the WSGI tests (tests/apps/wsgi_app.py)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from conftest import Server, ServerFactory

MARKER_TIMEOUT = 15.0


@dataclass
class WsgiServer:
    server: Server
    marker_dir: Path

    def url(self, path: str) -> str:
        return self.server.url(path)

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    def marker(
        self, key: str, contains: str = "", timeout: float = MARKER_TIMEOUT
    ) -> str:
        """Wait for the marker file of `key` (holding `contains`); return its text,
        or "" if it never appeared."""
        path = self.marker_dir / key
        deadline = time.monotonic() + timeout
        while True:
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            if (text and contains in text) or time.monotonic() > deadline:
                return text
            time.sleep(0.05)


def start_wsgi_app(
    factory: ServerFactory, marker_dir: Path, *extra_args: str
) -> WsgiServer:
    marker_dir.mkdir(parents=True, exist_ok=True)
    server = factory(
        "wsgi_app:app", *extra_args, env={"WSGI_MARKER_DIR": str(marker_dir)}
    )
    return WsgiServer(server, marker_dir)


def new_key() -> str:
    return uuid.uuid4().hex
