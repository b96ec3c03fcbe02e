"""For tests/test_lifecycle.py: a WSGI app whose requests can block.

/               the worker's pid
/sleep?S        time.sleep(S) on the WSGI thread, then answers
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/sleep":
        time.sleep(float(environ.get("QUERY_STRING") or "0"))
    body = json.dumps({"pid": os.getpid(), "path": path}).encode()
    start_response("200 OK", [("content-type", "application/json"), ("content-length", str(len(body)))])
    return [body]
