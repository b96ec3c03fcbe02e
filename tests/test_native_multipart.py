"""Multipart forms under `--interface covet`: the server parses a `multipart/form-data` body for a
path operation's `Form`/`File` parameters itself, and the app must see exactly the form real FastAPI
gives it (tests/apps/fidelity/multipart.py describes every item: values, file names, part headers,
sizes, content digests, whether a file stayed in memory). Malformed bodies must fail with the same
answer as well; a randomised set of broken bodies checks the grammar where a list of cases would
miss something. A counter proves the server parsed the bodies (python-multipart never ran)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_fastapi_fidelity import Pair, Pool, Reply

B = "BOUND"
CT = f"multipart/form-data; boundary={B}"


def part(headers: str, content: str | bytes) -> bytes:
    data = content.encode("latin-1") if isinstance(content, str) else content
    return f"--{B}\r\n{headers}\r\n\r\n".encode("latin-1") + data + b"\r\n"


def field(name: str, value: str) -> bytes:
    return part(f'Content-Disposition: form-data; name="{name}"', value)


def file(name: str, filename: str, content: str | bytes, ctype: str = "text/plain") -> bytes:
    return part(
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\nContent-Type: {ctype}',
        content,
    )


END = f"--{B}--\r\n".encode()
BASIC = field("a", "1") + file("f", "x.txt", "hello\r\nworld") + field("b", "two words") + END

# (description, body, content type): bodies that break or bend the grammar.
RAW_CASES: list[tuple[str, bytes, str]] = [
    ("basic", BASIC, CT),
    ("empty body", b"", CT),
    ("empty form", END, CT),
    ("only a closing delimiter without CRLF", f"--{B}--".encode(), CT),
    ("leading CRLF", b"\r\n\r\n" + BASIC, CT),
    ("text after a leading newline", b"\r\nnot a part " + BASIC, CT),
    ("preamble without newline", b"preamble\r\n" + BASIC, CT),
    ("epilogue", BASIC + b"epilogue \r\n--BOUND\r\n junk", CT),
    ("no closing delimiter", field("a", "1") + field("b", "2"), CT),
    (
        "truncated in content",
        field("a", "1") + b'--BOUND\r\nContent-Disposition: form-data; name="b"\r\n\r\npartial',
        CT,
    ),
    ("truncated in headers", field("a", "1") + b"--BOUND\r\nContent-Dispo", CT),
    (
        "delimiter padded with blanks",
        b'--BOUND\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--BOUND \t \r\n'
        b'Content-Disposition: form-data; name="b"\r\n\r\n2\r\n--BOUND--',
        CT,
    ),
    (
        "padding then junk",
        b'--BOUND\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--BOUND  x\r\n',
        CT,
    ),
    (
        "padding before closing dashes",
        b'--BOUND\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--BOUND --\r\n',
        CT,
    ),
    (
        "delimiter look-alikes in content",
        field("a", "x\r\n--BOUNDx\r\n--BOUN\r\n--BOUND-x\r\n--BOUND\rx\r\n-") + END,
        CT,
    ),
    ("content ends in CR", field("a", "x\r") + END, CT),
    ("opening without CRLF", b"--BOUNDx\r\n", CT),
    ("opening with LF only", b'--BOUND\nContent-Disposition: form-data; name="a"\n\n1\n--BOUND--', CT),
    ("wrong boundary", b"--OTHER\r\n", CT),
    ("opening dash then junk", b"--BOUND-x", CT),
    ("header without colon", b"--BOUND\r\nContent-Disposition form-data\r\n\r\n1\r\n--BOUND--", CT),
    ("empty header name", b"--BOUND\r\n: x\r\n\r\n1\r\n--BOUND--", CT),
    ("space in header name", b"--BOUND\r\nContent Disposition: form-data; name=a\r\n\r\n1\r\n--BOUND--", CT),
    (
        "header value with LF inside",
        b"--BOUND\r\nX-A: 1\n2\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--BOUND--",
        CT,
    ),
    (
        "header line CR without LF",
        b"--BOUND\r\nContent-Disposition: form-data; name=a\rX\r\n\r\n1\r\n--BOUND--",
        CT,
    ),
    (
        "headers end CR without LF",
        b"--BOUND\r\nContent-Disposition: form-data; name=a\r\n\rX1\r\n--BOUND--",
        CT,
    ),
    ("tab after colon", b"--BOUND\r\nContent-Disposition:\tform-data; name=a\r\n\r\n1\r\n--BOUND--", CT),
    (
        "eight headers",
        part(
            "\r\n".join([f"X-{i}: {i}" for i in range(7)] + ['Content-Disposition: form-data; name="a"']), "1"
        )
        + END,
        CT,
    ),
    (
        "nine headers",
        part(
            "\r\n".join([f"X-{i}: {i}" for i in range(8)] + ['Content-Disposition: form-data; name="a"']), "1"
        )
        + END,
        CT,
    ),
    (
        "longest header line",
        part('Content-Disposition: form-data; name="a"\r\nX-Big: ' + "v" * (4224 - 7), "1") + END,
        CT,
    ),
    (
        "header line too long",
        part('Content-Disposition: form-data; name="a"\r\nX-Big: ' + "v" * (4224 - 6), "1") + END,
        CT,
    ),
    ("no headers", b"--BOUND\r\n\r\n1\r\n--BOUND--", CT),
    ("no content-disposition", part("Content-Type: text/plain", "1") + END, CT),
    ("disposition without parameters", part("Content-Disposition: form-data", "1") + END, CT),
    ("disposition without name", part('Content-Disposition: form-data; filename="f.txt"', "1") + END, CT),
    ("name without value", part("Content-Disposition: form-data; name", "1") + END, CT),
    ("name in capitals", part("CONTENT-DISPOSITION: form-data; NAME=x; FileName=y.txt", "1") + END, CT),
    ("unquoted name", part("Content-Disposition: form-data; name=plain", "1") + END, CT),
    (
        "quoted semicolon and quotes",
        part(r'Content-Disposition: form-data; name="a;b\"c\\d"; filename="q\"x;.txt"', "1") + END,
        CT,
    ),
    ("odd quotes", part('Content-Disposition: form-data; name="a;b; filename=c"; x="', "1") + END, CT),
    (
        "extended parameters ignored",
        part("Content-Disposition: form-data; name*=utf-8''%C3%A9; name=plain; filename*=utf-8''x", "1")
        + END,
        CT,
    ),
    (
        "windows path file name",
        part(r'Content-Disposition: form-data; name="f"; filename="C:\Users\me\doc.txt"', "1") + END,
        CT,
    ),
    (
        "unc path file name",
        part(r'Content-Disposition: form-data; name="f"; filename="\\server\share\doc.txt"', "1") + END,
        CT,
    ),
    ("empty file name", part('Content-Disposition: form-data; name="f"; filename=""', "") + END, CT),
    (
        "two dispositions",
        part(
            'Content-Disposition: form-data; name="first"\r\nContent-Disposition: form-data; name="second"',
            "1",
        )
        + END,
        CT,
    ),
    (
        "utf-8 names and values",
        part(
            'Content-Disposition: form-data; name="caf\xc3\xa9"; filename="\xc3\xa9t\xc3\xa9.txt"',
            "\xe2\x82\xac",
        )
        + field("v", "\xc3\xa9")
        + END,
        CT,
    ),
    ("bytes not utf-8", part('Content-Disposition: form-data; name="n\xe9"', "\xff\xfe") + END, CT),
    (
        "charset latin-1",
        part('Content-Disposition: form-data; name="n\xe9"', "\xe9") + END,
        CT + "; charset=latin-1",
    ),
    ("unknown charset", field("a", "\xc3\xa9") + END, CT + "; charset=no-such-codec"),
    ("quoted boundary", BASIC, f'multipart/form-data; boundary="{B}"'),
    ("boundary in capitals key", BASIC, f"multipart/form-data; BOUNDARY={B}"),
    ("missing boundary", BASIC, "multipart/form-data"),
    (
        "empty boundary",
        b"--\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n----",
        "multipart/form-data; boundary=",
    ),
    ("boundary of 256", BASIC.replace(B.encode(), b"b" * 256), "multipart/form-data; boundary=" + "b" * 256),
    ("boundary of 257", BASIC.replace(B.encode(), b"b" * 257), "multipart/form-data; boundary=" + "b" * 257),
    ("content type in capitals", BASIC, f"Multipart/Form-Data; boundary={B}"),
    ("zero bytes in content", file("f", "z.bin", b"\x00\x01\r\n\x00--BOUN\x00") + END, CT),
    ("same name twice", field("a", "1") + field("a", "2") + file("a", "3.txt", "3") + END, CT),
]


@pytest.fixture(scope="module")
def pair(native_pool: Pool) -> Pair:
    return native_pool.get("multipart")


def same(pair: Pair, path: str, body: bytes, content_type: str) -> Reply:
    headers = {"content-type": content_type}
    got = Reply.of(pair.http.post(path, content=body, headers=headers))
    want = Reply.of(pair.reference.post(path, content=body, headers=headers))
    assert got == want, f"POST {path} {body[:200]!r} differs; server stderr:\n{pair.stderr_tail()}"
    return want


def python_parses(pair: Pair) -> int:
    return int(pair.http.get("/python-parses").json()["count"])


@pytest.mark.parametrize(("what", "body", "content_type"), RAW_CASES, ids=[c[0] for c in RAW_CASES])
def test_bodies_as_fastapi(pair: Pair, what: str, body: bytes, content_type: str) -> None:
    before = python_parses(pair)
    same(pair, "/echo", body, content_type)
    assert python_parses(pair) == before, "the form was parsed in Python"


def test_the_cases_cover_both_outcomes(pair: Pair) -> None:
    """The raw cases include accepted forms, each kind of refusal, and the lenient endings."""
    statuses = {same(pair, "/echo", body, ct).status for _, body, ct in RAW_CASES}
    assert statuses == {200, 400}
    details = {same(pair, "/echo", body, ct).body for _, body, ct in RAW_CASES}
    for detail in (b"Invalid multipart data.", b'field \\"name\\" must be provided', b"Missing boundary"):
        assert any(detail in d for d in details), detail


def encoded(fields: dict[str, Any], files: list[tuple[str, tuple[str, bytes, str]]]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", data=fields, files=files)
    return request.read(), request.headers["content-type"]


@pytest.mark.parametrize(
    ("size", "in_memory"),
    [(0, True), (1, True), (1024 * 1024, True), (1024 * 1024 + 1, False), (3 * 1024 * 1024 + 17, False)],
)
def test_files_spool_as_starlette(pair: Pair, size: int, in_memory: bool) -> None:
    """Up to the spool size (1 MiB) a file stays in memory; past it, it is on disk; the app reads the
    same bytes either way, from position 0."""
    content = random.Random(size).randbytes(size)
    body, content_type = encoded({"note": "n"}, [("file", ("data.bin", content, "application/octet-stream"))])
    reply = same(pair, "/upload", body, content_type)
    assert reply.status == 200
    described = httpx.Response(200, content=reply.body).json()
    assert (described["size"], described["in_memory"], described["position"]) == (size, in_memory, 0)


def test_large_upload_goes_to_disk_as_it_arrives(pair: Pair) -> None:
    """A 256 MiB file, streamed with chunked encoding: the server writes it to its temporary file as it
    reads it, so the process's peak memory grows by a small part of the file, and the app reads back
    exactly what was sent."""
    block = random.Random(7).randbytes(1024 * 1024)
    blocks = 256
    head = (
        f'--{B}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    sha = hashlib.sha256()
    for _ in range(blocks):
        sha.update(block)

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(blocks):
            yield block
        yield b"\r\n" + END

    before = pair.http.get("/memory").json()
    parses = python_parses(pair)
    response = pair.http.post("/digest", content=body(), headers={"content-type": CT}, timeout=120)
    assert response.status_code == 200, response.text
    got = response.json()
    assert (got["sha256"], got["in_memory"]) == (sha.hexdigest(), False)
    assert python_parses(pair) == parses, "the form was parsed in Python"
    growth_mib = (got["hwm_kb"] - max(before["hwm_kb"], before["rss_kb"])) / 1024
    assert growth_mib < 48, f"peak RSS grew by {growth_mib:.0f} MiB for a 256 MiB upload: {before} -> {got}"


def test_many_files_and_fields(pair: Pair) -> None:
    files = [("f", (f"{i}.txt", bytes([i]) * (i * 1000), "text/plain")) for i in range(12)]
    body, content_type = encoded({"a": ["1", "2"], "b": "x"}, files)
    before = python_parses(pair)
    assert same(pair, "/echo", body, content_type).status == 200
    assert same(pair, "/echo-sync", body, content_type).status == 200
    assert python_parses(pair) == before


@pytest.mark.parametrize(
    ("what", "body"),
    [
        (
            "at the limits",
            field("a", "x" * 100)
            + field("b", "")
            + field("c", "")
            + file("f", "1", "y" * 500)
            + file("g", "2", "")
            + END,
        ),
        ("a field too long", field("a", "x" * 101) + END),
        ("too many fields", field("a", "") + field("b", "") + field("c", "") + field("d", "") + END),
        ("too many files", file("f", "1", "") + file("g", "2", "") + file("h", "3", "") + END),
        (
            "the first broken limit wins",
            field("a", "x" * 101) + file("f", "1", "") + file("g", "2", "") + file("h", "3", "") + END,
        ),
        ("a limit before a syntax error", field("a", "x" * 101) + b"--BOUND\r\nbad header\r\n"),
        ("a syntax error before a limit", b"--BOUND\r\nbad header\r\n\r\n" + field("a", "x" * 101)),
        (
            "a field too long without its end",
            field("a", "1") + b"--BOUND\r\nContent-Disposition: form-data; name=z\r\n\r\n" + b"x" * 101,
        ),
        (
            "a counted part without its end",
            field("a", "")
            + field("b", "")
            + field("c", "")
            + b"--BOUND\r\nContent-Disposition: form-data; name=d\r\n\r\n",
        ),
    ],
)
def test_form_limits_as_fastapi(pair: Pair, what: str, body: bytes) -> None:
    """`form_limits=` (max_files 2, max_fields 3, max_part_size 100): the same 400s, and the first
    limit broken in body order is the one reported."""
    same(pair, "/echo-limited", body, CT)


def test_default_part_limit(pair: Pair) -> None:
    """A field over the default 1 MiB is refused; a file of any size is not."""
    assert same(pair, "/echo", field("a", "x" * (1024 * 1024 + 1)) + END, CT).status == 400
    assert same(pair, "/echo", field("a", "x" * (1024 * 1024)) + END, CT).status == 200


def test_validation_errors_as_fastapi(pair: Pair) -> None:
    """A form without the required file is a 422 naming it, as in FastAPI."""
    reply = same(pair, "/upload", field("note", "n") + END, CT)
    assert reply.status == 422


def test_chunked_uploads(pair: Pair) -> None:
    """A body sent in small chunked pieces gives the same form as one sent whole."""
    content = random.Random(7).randbytes(300_000)
    body, content_type = encoded(
        {"note": "chunks"}, [("file", ("c.bin", content, "application/octet-stream"))]
    )

    def pieces() -> Iterator[bytes]:
        for at in range(0, len(body), 997):
            yield body[at : at + 997]

    got = pair.http.post("/upload", content=pieces(), headers={"content-type": content_type})
    want = pair.reference.post("/upload", content=body, headers={"content-type": content_type})
    assert (got.status_code, got.json()) == (want.status_code, want.json())


MUTATIONS = [
    "\r",
    "\n",
    "\r\n",
    "-",
    "--",
    f"--{B}",
    f"\r\n--{B}",
    " ",
    "\t",
    ":",
    '"',
    ";",
    "=",
    "x",
    "\x00",
    "\xe9",
]


def mutated(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(data) + 1)
        action = rng.random()
        if action < 0.4:
            data[at:at] = rng.choice(MUTATIONS).encode("latin-1")
        elif action < 0.7:
            del data[at : at + rng.randint(1, 6)]
        else:
            data[at : at + 1] = rng.choice(MUTATIONS).encode("latin-1")
    return bytes(data)


SEEDS = [
    field("a", "1") + file("f", "x.txt", "hello\r\n--BOUN") + END,
    BASIC,
    b"\r\n" + field("n", "v") + END,
]


@pytest.mark.parametrize("batch", range(8))
def test_random_broken_bodies_as_fastapi(pair: Pair, batch: int) -> None:
    """Bodies with random insertions, deletions and replacements of grammar characters."""
    rng = random.Random(batch)
    outcomes = set()
    for _ in range(60):
        body = mutated(rng, rng.choice(SEEDS))
        outcomes.add(same(pair, "/echo", body, CT).status)
    assert outcomes == {200, 400}


def test_the_counter_counts_python_parses(pair: Pair) -> None:
    """In-process (real FastAPI) every form goes through python-multipart and is counted, so the
    counter staying put under the server means something."""
    before = int(pair.reference.get("/python-parses").json()["count"])
    pair.reference.post("/echo", content=BASIC, headers={"content-type": CT})
    assert int(pair.reference.get("/python-parses").json()["count"]) == before + 1
