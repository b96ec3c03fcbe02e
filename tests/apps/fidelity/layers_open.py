"""CORS open to every origin, method and header, behind HTTPSRedirect-free TrustedHost with a
`www.` redirect, and GZip with a custom minimum size."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse

app = FastAPI(title="fidelity open layers")

app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
app.add_middleware(GZipMiddleware, minimum_size=10)
app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "www.example.com"])


class Oops(Exception):
    pass


@app.exception_handler(Oops)
async def oops_handler(request: Request, exc: Oops) -> JSONResponse:
    # Run by Starlette's ExceptionMiddleware: inside the user middleware, so CORS applies.
    return JSONResponse({"oops": True}, status_code=409)


@app.exception_handler(Exception)
def anything_handler(request: Request, exc: Exception) -> PlainTextResponse:
    # Run by Starlette's ServerErrorMiddleware: outside the user middleware, so no CORS headers.
    return PlainTextResponse("handled " + type(exc).__name__, status_code=500)


@app.get("/oops")
def oops() -> None:
    raise Oops()


@app.get("/boom")
async def boom() -> None:
    raise RuntimeError("boom")


def token() -> str:
    return "dep"


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}


@app.get("/dep")
def with_dep(value: str = Depends(token)) -> dict[str, str]:
    return {"value": value}
