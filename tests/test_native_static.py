"""`StaticFiles` mounts under `--interface covet`: the server answers a file itself (200, one range,
304) and leaves everything else to the app's Python `StaticFiles`. Every answer, byte for byte and
header for header, must equal the one the same app gives under real FastAPI in-process
(tests/apps/fidelity/statics.py); the raw bytes are compared, before any content decoding."""

from __future__ import annotations

import re

import httpx
import pytest
from test_fastapi_fidelity import SERVER_HEADERS, Pair, Pool

FILES = [
    "/static/hello.txt",
    "/static/css/site.css",
    "/static/big.bin",
    "/static/chunk.bin",
    "/static/empty.txt",
    "/static/archive.tar.gz",
    "/static/README",
    "/static/a%20b.txt",
    "/static/caf%C3%A9.txt",
    "/static/inner-link.txt",
    "/static//css/./site.css",
    "/static/css/%2e%2e/hello.txt",
    "/static/hello.txt/",
    "/site/page.html",
    "/linked/hello.txt",
    "/linked/escape.txt",  # follow_symlink: the link's target outside the directory is served
    "/pre/hello.txt",
]

# Answers Python gives (a miss, a directory, html mode, an escape, a route, a later route hidden by
# the mount): the server hands them over, so they are the same too.
PYTHON_ANSWERS = [
    "/static/missing.txt",
    "/static/escape.txt",
    "/static/css",
    "/static/css/",
    "/static/",
    "/static",
    "/static/%2e%2e/%2e%2e/etc/passwd",
    "/static/%5Cetc",
    "/static/override.txt",
    "/site/",
    "/site",
    "/site/nothing.html",
    "/late/hello.txt",
    "/items/3",
]


@pytest.fixture(scope="module")
def pair(native_pool: Pool) -> Pair:
    return native_pool.get("statics")


Raw = tuple[int, list[tuple[str, str]], bytes]


def raw(client: httpx.Client, method: str, path: str, headers: dict[str, str] | None = None) -> Raw:
    with client.stream(method, path, headers=headers) as response:
        body = b"".join(response.iter_raw())
        kept = [(k.lower(), v) for k, v in response.headers.multi_items() if k.lower() not in SERVER_HEADERS]
        # The order of different fields carries no meaning (HTTP/1.1 writers move content-length).
        return response.status_code, sorted(kept, key=lambda kv: kv[0]), body


def same(pair: Pair, method: str, path: str, **headers: str) -> Raw:
    """The server's raw answer equals the in-process one; returns it."""
    got = raw(pair.http, method, path, headers)
    want = raw(pair.reference, method, path, headers)
    assert got == want, f"{method} {path} {headers} differs; server stderr:\n{pair.stderr_tail()}"
    return want


def header(answer: Raw, name: str) -> str:
    return next(v for k, v in answer[1] if k == name)


def lookups(pair: Pair) -> int:
    return int(pair.http.get("/python-lookups").json()["count"])


@pytest.mark.parametrize("path", FILES)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_files_as_fastapi(pair: Pair, method: str, path: str) -> None:
    answer = same(pair, method, path)
    assert answer[0] == 200
    assert header(answer, "etag").startswith('"')


@pytest.mark.parametrize("path", PYTHON_ANSWERS)
def test_python_answers_as_fastapi(pair: Pair, path: str) -> None:
    same(pair, "GET", path)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_as_fastapi(pair: Pair, method: str) -> None:
    assert same(pair, method, "/static/hello.txt")[0] == 405


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/static/hello.txt", "bytes=0-4"),
        ("/static/hello.txt", "bytes=-5"),
        ("/static/hello.txt", "bytes=5-"),
        ("/static/hello.txt", "bytes=3-1000"),
        ("/static/hello.txt", "BYTES = 2-3"),
        ("/static/hello.txt", "bytes=2-3,junk"),
        ("/static/big.bin", "bytes=70000-200000"),  # streamed
        ("/static/big.bin", "bytes=0-65535"),  # exactly one chunk
        ("/static/big.bin", "bytes=-65537"),
        # Malformed, unsatisfiable, other units: Python's 400 and 416.
        ("/static/hello.txt", "bytes=500-"),
        ("/static/hello.txt", "bytes=abc"),
        ("/static/hello.txt", "bytes=4-1"),
        ("/static/hello.txt", "items=0-1"),
        ("/static/hello.txt", "bytes=+1-2"),
        ("/static/empty.txt", "bytes=0-"),
    ],
)
def test_ranges_as_fastapi(pair: Pair, path: str, value: str) -> None:
    for method in ("GET", "HEAD"):
        same(pair, method, path, range=value)


def test_several_ranges_are_pythons_multipart(pair: Pair) -> None:
    # Each answer draws its own boundary, so only the boundary may differ.
    got = raw(pair.http, "GET", "/static/hello.txt", {"range": "bytes=0-1,4-6"})
    want = raw(pair.reference, "GET", "/static/hello.txt", {"range": "bytes=0-1,4-6"})
    boundary = re.compile(r"[0-9a-f]{26}")
    assert got[0] == want[0] == 206
    assert boundary.sub("B", got[2].decode()) == boundary.sub("B", want[2].decode())


def test_conditional_requests_as_fastapi(pair: Pair) -> None:
    first = same(pair, "GET", "/static/big.bin")
    etag, modified = header(first, "etag"), header(first, "last-modified")
    weak = "W/" + etag
    for headers in [
        {"if-none-match": etag},
        {"if-none-match": weak},
        {"if-none-match": f'"other", {weak}'},
        {"if-none-match": '"other"'},
        {"if-none-match": "*"},
        {"if-none-match": "", "if-modified-since": modified},
        {"if-modified-since": modified},
        {"if-modified-since": "Mon, 01 Jan 2001 00:00:00 GMT"},
        {"if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT"},
        {"if-modified-since": "Friday, 01-Jan-99 00:00:00 GMT"},  # parsedate's, left to Python
        {"if-modified-since": "garbage"},
        {"if-none-match": '"other"', "if-modified-since": modified},
        {"range": "bytes=0-9", "if-range": etag},
        {"range": "bytes=0-9", "if-range": modified},
        {"range": "bytes=0-9", "if-range": weak},
        {"range": "bytes=0-9", "if-range": '"stale"'},
        {"range": "bytes=0-9", "if-none-match": etag},
    ]:
        for method in ("GET", "HEAD"):
            same(pair, method, "/static/big.bin", **headers)
    assert same(pair, "GET", "/static/big.bin", **{"if-none-match": etag})[0] == 304


@pytest.mark.parametrize("path", ["/pre/app.js", "/pre/only-gzip.css", "/pre/hello.txt"])
@pytest.mark.parametrize(
    "accept",
    ["gzip, deflate, br", "gzip", "br", "br;q=0, gzip", "gzip;q=0.5, br;q=0.4", "identity", "*", "*;q=0"],
)
def test_precompressed_siblings(pair: Pair, path: str, accept: str) -> None:
    answer = same(pair, "GET", path, **{"accept-encoding": accept})
    assert header(answer, "vary") == "Accept-Encoding"
    same(pair, "HEAD", path, **{"accept-encoding": accept})
    same(pair, "GET", path, **{"accept-encoding": accept, "if-none-match": header(answer, "etag")})


def test_precompressed_picks_the_accepted_sibling(pair: Pair) -> None:
    br = same(pair, "GET", "/pre/app.js", **{"accept-encoding": "gzip, br"})
    assert header(br, "content-encoding") == "br" and br[2].startswith(b"pretend-brotli:")
    assert header(br, "content-type") == header(same(pair, "GET", "/static/app.js"), "content-type")
    gz = same(pair, "GET", "/pre/app.js", **{"accept-encoding": "gzip"})
    assert header(gz, "content-encoding") == "gzip" and gz[2].startswith(b"\x1f\x8b")
    plain = same(pair, "GET", "/pre/app.js", **{"accept-encoding": "identity"})
    assert "content-encoding" not in dict(plain[1]) and plain[2].startswith(b"function hello()")


def test_files_never_enter_python(pair: Pair) -> None:
    before = lookups(pair)
    for path in FILES:
        assert pair.http.get(path).status_code == 200
    assert pair.http.get("/static/hello.txt", headers={"range": "bytes=0-1"}).status_code == 206
    etag = pair.http.get("/static/hello.txt").headers["etag"]
    assert pair.http.get("/static/hello.txt", headers={"if-none-match": etag}).status_code == 304
    assert lookups(pair) == before
    # The counter does count what reaches Python: a miss is its 404.
    assert pair.http.get("/static/missing.txt").status_code == 404
    assert lookups(pair) == before + 1


def test_a_changed_file_is_served_fresh(pair: Pair) -> None:
    from fidelity import statics

    path = statics.ROOT / "changing.txt"
    for text in (b"first version\n", b"second, longer version\n"):
        path.write_bytes(text)
        answer = same(pair, "GET", "/static/changing.txt")
        assert answer[2] == text
    path.unlink()
    assert same(pair, "GET", "/static/changing.txt")[0] == 404
