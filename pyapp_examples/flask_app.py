"""A Flask application served as WSGI: forms, file uploads, sessions, streaming.

Run it with::

    pip install -r pyapp_examples/requirements.txt
    covetpy serve flask_app:app --app-dir pyapp_examples --threads 8

Then try::

    curl http://127.0.0.1:8000/
    curl -d name=Ada http://127.0.0.1:8000/greet
    curl -F file=@README.md http://127.0.0.1:8000/upload
    curl -c jar -b jar -X POST http://127.0.0.1:8000/visit; curl -b jar http://127.0.0.1:8000/visit
    curl -N http://127.0.0.1:8000/countdown?n=5
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator

from flask import Flask, Response, jsonify, request, session, stream_with_context

app = Flask(__name__)
# Sessions are signed cookies; set FLASK_SECRET_KEY to something secret in production.
app.secret_key = os.environ.get("FLASK_SECRET_KEY", "change-me")

FORM = """<!doctype html>
<title>CovetPy + Flask</title>
<form method="post" action="/greet"><input name="name"><button>Greet</button></form>
<form method="post" action="/upload" enctype="multipart/form-data">
  <input type="file" name="file"><button>Upload</button>
</form>
"""


@app.get("/")
def index() -> str:
    return FORM


@app.post("/greet")
def greet() -> str:
    name = request.form.get("name", "").strip() or "stranger"
    return f"Hello, {name}!\n"


@app.post("/upload")
def upload() -> Response:
    """Reads each uploaded file in blocks; werkzeug spools large ones to disk."""
    results = []
    for storage in request.files.getlist("file"):
        digest = hashlib.sha256()
        size = 0
        while block := storage.stream.read(64 * 1024):
            digest.update(block)
            size += len(block)
        results.append(
            {"filename": storage.filename, "bytes": size, "sha256": digest.hexdigest()}
        )
    return jsonify(files=results)


@app.route("/visit", methods=["GET", "POST"])
def visit() -> Response:
    """POST counts a visit in the session cookie; GET shows the count."""
    if request.method == "POST":
        session["visits"] = int(session.get("visits", 0)) + 1
    return jsonify(visits=session.get("visits", 0))


@app.get("/countdown")
def countdown() -> Response:
    """A streamed response: each line is sent as soon as it is produced.
    The sleep blocks one of the --threads worker threads, not the server."""
    start = int(request.args.get("n", "5"))

    def lines() -> Iterator[str]:
        for n in range(start, 0, -1):
            yield f"{request.path}: {n}\n"  # request is usable thanks to stream_with_context
            time.sleep(1)
        yield "liftoff\n"

    return Response(stream_with_context(lines()), mimetype="text/plain")
