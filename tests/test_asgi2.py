"""`--interface asgi2|asgi3` as uvicorn has them, and uvicorn's auto-detection of ASGI 2 apps."""

from __future__ import annotations

import pytest
import requests
from conftest import ServerFactory


@pytest.mark.parametrize(
    ("app", "args", "kind"),
    [
        ("asgi2_app:ClassApp", [], "class"),
        ("asgi2_app:ClassApp", ["--interface", "asgi2"], "class"),
        ("asgi2_app:function_app", [], "function"),
        ("asgi2_app:function_app", ["--interface", "asgi2"], "function"),
    ],
)
def test_asgi2_app_is_served_with_lifespan(
    start_server: ServerFactory, app: str, args: list[str], kind: str
) -> None:
    server = start_server(app, *args)
    body = requests.get(server.url("/two"), timeout=15).json()
    assert body["kind"] == kind
    assert body["path"] == "/two"
    assert body["asgi"]["version"] == "2.0"
    # The lifespan scope reached the ASGI 2 app too.
    assert body["started"] == [kind]
    assert server.stop() == 0


@pytest.mark.parametrize("interface", ["asgi3", "asgi"])
def test_asgi3_spelling(start_server: ServerFactory, interface: str) -> None:
    server = start_server("asgi2_app:asgi3_app", "--interface", interface)
    body = requests.get(server.url("/"), timeout=15).json()
    assert body["kind"] == "asgi3"
    assert body["asgi"]["version"] == "3.0"
    assert server.stop() == 0
