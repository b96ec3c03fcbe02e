"""Flask "Hello, world!" application used by the CovetPy benchmark harness (WSGI scenario).

The smallest idiomatic Flask app, so that the WSGI scenario measures each server with a
real framework rather than a raw WSGI callable.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    """200 "Hello, world!" (Flask's default content type, text/html; charset=utf-8)."""
    return "Hello, world!"
