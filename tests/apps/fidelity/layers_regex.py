"""CORS with `allow_origin_regex` (matched in Rust) and credentials on every origin."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

app = FastAPI(title="fidelity regex layers")

app.add_middleware(
    CORSMiddleware,
    allow_origins=["*"],
    allow_origin_regex=r"https://[a-z]+\.example\.org",
    allow_credentials=True,
    allow_private_network=True,
)


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}
