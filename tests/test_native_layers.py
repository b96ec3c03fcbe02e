"""Starlette's CORS, TrustedHost, HTTPSRedirect and GZip middleware run in Rust under
`--interface covet` (the outermost run of them in `app.user_middleware`), answering as the same app
does under real FastAPI in-process: native routes, Rust's own 404/405/422/500, and routes the
server hands to the app's ASGI side (which then must not run the layers a second time)."""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import pytest
from test_fastapi_fidelity import Pool, Reply, assert_same, exchange

ALLOWED = "https://allowed.example"


def preflight(origin: str, method: str, headers: str | None = None, **extra: str) -> dict[str, Any]:
    h = {"origin": origin, "access-control-request-method": method, **extra}
    if headers is not None:
        h["access-control-request-headers"] = headers
    return {"headers": h}


# --- CORS -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/items/1", {"headers": {"origin": ALLOWED}}),
        ("GET", "/items/1", {"headers": {"origin": "https://other.example"}}),
        ("GET", "/items/1", {}),
        ("GET", "/items/abc", {"headers": {"origin": ALLOWED}}),  # Rust's 422
        ("GET", "/nowhere", {"headers": {"origin": ALLOWED}}),  # Rust's 404
        ("POST", "/small", {"headers": {"origin": ALLOWED}}),  # Rust's 405
        ("GET", "/teapot", {"headers": {"origin": ALLOWED}}),  # HTTPException: inside the layers
        ("GET", "/dep", {"headers": {"origin": ALLOWED}}),  # the ASGI side
        ("GET", "/dep", {"headers": {"origin": "https://other.example"}}),
        ("OPTIONS", "/items/1", preflight(ALLOWED, "PUT", "X-Custom, content-type")),
        ("OPTIONS", "/items/1", preflight(ALLOWED, "GET")),
        ("OPTIONS", "/items/1", preflight("https://other.example", "DELETE", "X-Other")),
        ("OPTIONS", "/items/1", preflight(ALLOWED, "GET", "x-other")),
        (
            "OPTIONS",
            "/items/1",
            preflight(ALLOWED, "GET", **{"access-control-request-private-network": "true"}),
        ),
        ("OPTIONS", "/dep", preflight(ALLOWED, "POST")),
        ("OPTIONS", "/nowhere", preflight(ALLOWED, "GET")),
        # An OPTIONS without Access-Control-Request-Method is no preflight: the router answers it.
        ("OPTIONS", "/small", {"headers": {"origin": ALLOWED}}),
    ],
)
def test_cors_as_fastapi(native_pool: Pool, method: str, path: str, kwargs: dict[str, Any]) -> None:
    want = assert_same(native_pool.get("layers"), method, path, **kwargs)
    if "origin" in kwargs.get("headers", {}) and want.status != 500:
        # Each CORS header appears once, also on answers from the ASGI side.
        assert all(
            len(v) == 1 for k, v in want.headers.items() if k.startswith("access-control-") or k == "vary"
        )


def test_cors_headers_present_where_expected(native_pool: Pool) -> None:
    got, _ = exchange(native_pool.get("layers"), "GET", "/dep", headers={"origin": ALLOWED})
    assert got.headers["access-control-allow-origin"] == [ALLOWED]
    assert got.headers["access-control-allow-credentials"] == ["true"]
    assert got.headers["access-control-expose-headers"] == ["X-Process"]
    assert got.headers["vary"] == ["Origin"]
    got, _ = exchange(
        native_pool.get("layers"), "OPTIONS", "/items/1", **preflight(ALLOWED, "PUT", "x-custom")
    )
    assert got.status == 200 and got.body == b"OK"
    assert got.headers["access-control-max-age"] == ["321"]
    got, _ = exchange(
        native_pool.get("layers"), "OPTIONS", "/items/1", **preflight("https://x.example", "PATCH")
    )
    assert (got.status, got.body) == (400, b"Disallowed CORS origin, method")


def test_unhandled_exception_500_has_no_cors_headers(native_pool: Pool) -> None:
    for path in ("/boom", "/boom-dep"):
        got = assert_same(native_pool.get("layers"), "GET", path, headers={"origin": ALLOWED})
        assert got.status == 500
        assert not any(k.startswith("access-control-") for k in got.headers)
        assert "x-covetpy-unlayered" not in got.headers


def test_preflight_never_enters_python(native_pool: Pool) -> None:
    pair = native_pool.get("layers")

    def python_calls() -> int:
        return int(pair.http.get("/asgi-calls").json()["http"])

    before = python_calls()
    for path in ("/items/1", "/dep", "/nowhere"):
        response = pair.http.options(path, **preflight(ALLOWED, "PUT"))
        assert response.status_code == 200
    assert python_calls() == before
    # The counter does count what reaches Python: the dependency route runs there.
    assert pair.http.get("/dep").status_code == 200
    assert python_calls() == before + 1


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/hello", {"headers": {"origin": "https://any.example"}}),
        ("GET", "/dep", {"headers": {"origin": "https://any.example"}}),
        ("OPTIONS", "/hello", preflight("https://any.example", "DELETE", "X-Anything, X-Else")),
        ("OPTIONS", "/hello", preflight("https://any.example", "QUERY")),
        ("GET", "/oops", {"headers": {"origin": "https://any.example"}}),  # a handler inside the layers
        ("GET", "/boom", {"headers": {"origin": "https://any.example"}}),  # the Exception handler: outside
    ],
)
def test_cors_open_as_fastapi(native_pool: Pool, method: str, path: str, kwargs: dict[str, Any]) -> None:
    assert_same(native_pool.get("layers_open"), method, path, **kwargs)


@pytest.mark.parametrize("app", ["layers_regex", "layers_lookaround"])
@pytest.mark.parametrize(
    "origin",
    ["https://abc.example.org", "https://evil.example.org", "https://abc.example.org.evil", "http://x"],
)
def test_cors_origin_regex_as_fastapi(native_pool: Pool, app: str, origin: str) -> None:
    assert_same(native_pool.get(app), "GET", "/hello", headers={"origin": origin})
    assert_same(native_pool.get(app), "OPTIONS", "/hello", **preflight(origin, "GET"))
    assert_same(
        native_pool.get(app),
        "OPTIONS",
        "/hello",
        **preflight(origin, "GET", **{"access-control-request-private-network": "true"}),
    )


def test_python_only_regex_is_reported(native_pool: Pool) -> None:
    pair = native_pool.get("layers_lookaround")
    pair.http.get("/hello")
    assert "CORSMiddleware runs in Python for this app" in pair.server.stderr


# --- TrustedHost and HTTPSRedirect -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "a.trusted.example",
        "trusted.example",
        "localhost",
        "example.com:",
        "[::zz]",
        "[::1]",
        "127.0.0.1:99999",
    ],
)
def test_trusted_host_as_fastapi(native_pool: Pool, host: str) -> None:
    for path in ("/items/1", "/dep", "/nowhere"):
        assert_same(native_pool.get("layers"), "GET", path, headers={"host": host, "origin": ALLOWED})


@pytest.mark.parametrize("host", ["example.com", "example.com:8080", "www.example.com", "other.com"])
def test_trusted_host_www_redirect_as_fastapi(native_pool: Pool, host: str) -> None:
    want = assert_same(native_pool.get("layers_open"), "GET", "/hello?a=1&b=%20x", headers={"host": host})
    if host.startswith("example.com"):
        assert want.status == 307
        assert want.headers["location"] == [f"http://www.{host}/hello?a=1&b=%20x"]


@pytest.mark.parametrize(
    "host", [None, "example.com", "example.com:80", "Example.com:443", "example.com:8443"]
)
def test_https_redirect_as_fastapi(native_pool: Pool, host: str | None) -> None:
    headers = {} if host is None else {"host": host}
    want = assert_same(native_pool.get("layers_https"), "GET", "/hello/..%2f/x?q=%C3%A9 1", headers=headers)
    assert want.status == 307
    assert want.headers["location"][0].startswith("https://")


def test_https_redirect_of_a_websocket(native_pool: Pool) -> None:
    pair = native_pool.get("layers_https")
    handshake = {
        "connection": "Upgrade",
        "upgrade": "websocket",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
    }
    response = httpx.get(pair.server.url("/ws?x=1"), headers=handshake, timeout=10)
    assert response.status_code == 307
    assert response.headers["location"] == f"wss://127.0.0.1:{pair.server.port}/ws?x=1"


# --- GZip ---------------------------------------------------------------------------------------------


def same_decoded(got: Reply, want: Reply) -> None:
    """Equal apart from the compressed length (zlib implementations may pick other encodings of
    the same bytes); httpx has already decoded both bodies."""
    strip = {"content-length"}
    assert got.status == want.status
    assert {k: v for k, v in got.headers.items() if k not in strip} == {
        k: v for k, v in want.headers.items() if k not in strip
    }
    assert got.body == want.body


@pytest.mark.parametrize(
    "path",
    [
        "/large",
        "/large-text",
        "/small",
        "/encoded",
        "/image",
        "/stream",
        "/events",
        "/dep",
        "/nowhere",
        "/files/index.html",
        "/files/blob.bin",
        "/files/css/site.css",
        "/files/missing.txt",
    ],
)
@pytest.mark.parametrize("accept", ["gzip, deflate", "identity", "br"])
def test_gzip_as_fastapi(native_pool: Pool, path: str, accept: str) -> None:
    got, want = exchange(
        native_pool.get("layers"), "GET", path, headers={"accept-encoding": accept, "origin": ALLOWED}
    )
    same_decoded(got, want)


def test_gzip_compresses_large_json(native_pool: Pool) -> None:
    pair = native_pool.get("layers")
    raw = httpx.get(pair.server.url("/large"), headers={"accept-encoding": "gzip"}, timeout=15)
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["vary"] == "Accept-Encoding, Origin"
    with httpx.stream("GET", pair.server.url("/large"), headers={"accept-encoding": "gzip"}) as stream:
        compressed = b"".join(stream.iter_raw())
    assert int(stream.headers["content-length"]) == len(compressed) < len(raw.content) / 4
    assert gzip.decompress(compressed) == raw.content
    with httpx.stream("GET", pair.server.url("/stream"), headers={"accept-encoding": "gzip"}) as stream:
        streamed = b"".join(stream.iter_raw())
        assert "content-length" not in stream.headers
    assert gzip.decompress(streamed) == b"".join(f"chunk {i}\n".encode() * 50 for i in range(5))
