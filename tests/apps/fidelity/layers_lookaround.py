"""CORS whose `allow_origin_regex` needs Python's regex engine (a lookahead): the server leaves the
middleware to Python for this app, with the same answers."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

app = FastAPI(title="fidelity lookaround layers")

app.add_middleware(CORSMiddleware, allow_origin_regex=r"https://(?!evil)[a-z]+\.example\.org")


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}
