"""Runs FastAPI's own user-guide tests (``tests/test_tutorial`` of FastAPI's sdist) against covetpy.

Modes:

- ``reference``: the tests unmodified against the real FastAPI, to learn which pass on this machine at all;
- ``inprocess``: ``import fastapi`` aliased to covetpy, apps driven by covetpy's TestClient in-process;
- ``network``: aliased too, and ``fastapi.testclient.TestClient`` replaced by a client that starts the real
  ``covetpy`` binary for each app and talks HTTP/WebSocket to it.

``python -m fastapi_docs --help`` (from ``tests/``) runs them and prints counts per user-guide area.
"""
