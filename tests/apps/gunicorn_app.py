"""A WSGI app served by both covetpy and gunicorn in tests/test_gunicorn_cli.py, so their access
log lines for the same request can be compared. GET /env?NAME answers the value of an environment
variable; everything else answers a fixed body with an X-Custom response header."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/env":
        body = os.environ.get(environ["QUERY_STRING"], "<unset>").encode()
    else:
        body = b"hello from the gunicorn comparison app\n"
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/plain"),
            ("Content-Length", str(len(body))),
            ("X-Custom", 'say "hi"'),
        ],
    )
    return [body]
