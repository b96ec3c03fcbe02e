"""A Flask app for the WSGI tests: forms, multipart uploads, the session
cookie, a streamed response with stream_with_context, and JSON."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from flask import Flask, Response, jsonify, request, session, stream_with_context

app = Flask(__name__)
app.secret_key = "covetpy-test-secret"


@app.get("/")
def index() -> str:
    return "hello from flask"


@app.post("/form")
def form() -> Response:
    return jsonify(
        name=request.form.get("name"),
        tags=request.form.getlist("tag"),
        content_type=request.mimetype,
    )


@app.post("/upload")
def upload() -> Response:
    files = []
    for field, storage in request.files.items(multi=True):
        data = storage.read()
        files.append(
            {
                "field": field,
                "filename": storage.filename,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    return jsonify(files=files, note=request.form.get("note"))


@app.post("/session/<value>")
def set_session(value: str) -> Response:
    session["value"] = value
    session["count"] = int(session.get("count", 0)) + 1
    return jsonify(stored=value)


@app.get("/session")
def get_session() -> Response:
    return jsonify(value=session.get("value"), count=session.get("count", 0))


@app.get("/stream")
def stream() -> Response:
    count = int(request.args.get("n", "5"))

    def generate() -> Iterator[str]:
        # request is still available here thanks to stream_with_context
        for index in range(count):
            yield f"{request.args.get('prefix', 'line')}-{index}\n"

    return Response(stream_with_context(generate()), mimetype="text/plain")


@app.post("/json")
def echo_json() -> Response:
    payload = request.get_json()
    return jsonify(received=payload, path=request.path, script_root=request.script_root)


@app.get("/url")
def url() -> Response:
    return jsonify(url=request.url, host=request.host, remote_addr=request.remote_addr)
