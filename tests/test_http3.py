"""HTTP/3 over QUIC (`--http3`), driven by an aioquic client (tests/h3client.py)."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import requests
from conftest import Server, ServerFactory, run_to_exit
from h3client import H3Client, H3Response, StreamError, h3_connect
from tls_support import Certs

T = TypeVar("T")


def pattern(index: int, size: int) -> bytes:
    """The chunk content of stream_app's /chunks."""
    seed = f"chunk-{index:06d}|".encode("ascii")
    return (seed * (size // len(seed) + 1))[:size]


def h3_args(certs: Certs) -> list[str]:
    return [*certs.server_args(), "--http3"]


def run_h3(server: Server, certs: Certs, body: Callable[[H3Client], Awaitable[T]]) -> T:
    """Open one HTTP/3 connection to `server` and run `body` with it."""
    port = server.port
    assert port is not None

    async def main() -> T:
        async with h3_connect(port, certs.ca) as client:
            return await body(client)

    return asyncio.run(main())


def get(server: Server, certs: Certs, path: str) -> H3Response:
    return run_h3(server, certs, lambda client: client.request("GET", path))


@pytest.fixture(scope="module")
def echo_h3(module_servers: ServerFactory, tls_certs: Certs) -> Server:
    return module_servers("echo_app:app", *h3_args(tls_certs))


@pytest.fixture(scope="module")
def stream_h3(module_servers: ServerFactory, tls_certs: Certs) -> Server:
    return module_servers("stream_app:app", *h3_args(tls_certs))


@pytest.fixture(scope="module")
def upload_h3(module_servers: ServerFactory, tls_certs: Certs) -> Server:
    return module_servers("upload_app:app", *h3_args(tls_certs))


def test_scope_is_http3_https(echo_h3: Server, tls_certs: Certs) -> None:
    response = get(echo_h3, tls_certs, "/some/path?a=1&b=two")
    assert response.status == 200
    scope = response.json()
    assert scope["type"] == "http"
    assert scope["http_version"] == "3"
    assert scope["scheme"] == "https"
    assert scope["method"] == "GET"
    assert scope["path"] == "/some/path"
    assert scope["query_string"] == "a=1&b=two"
    assert scope["server"]["items"] == ["127.0.0.1", echo_h3.port]
    assert scope["client"]["items"][0] == "127.0.0.1"
    names = [name for name, _ in scope["headers"]]
    assert all(name == name.lower() for name in names)
    assert not any(name.startswith(":") for name in names), names
    assert response.header("set-cookie") is not None
    cookies = [v for k, v in response.headers if k == "set-cookie"]
    assert cookies == ["first=1", "second=2"]


def test_post_body_and_headers(echo_h3: Server, tls_certs: Certs) -> None:
    response = run_h3(
        echo_h3,
        tls_certs,
        lambda client: client.request(
            "POST",
            "/submit",
            body=[b"hello ", b"over ", b"quic"],
            headers=[("content-type", "text/plain"), ("x-custom", "yes")],
        ),
    )
    assert response.status == 200
    scope = response.json()
    assert scope["method"] == "POST"
    assert scope["body"] == "hello over quic"
    headers = dict(scope["headers"])
    assert headers["x-custom"] == "yes"
    assert headers["content-type"] == "text/plain"
    assert headers.get("host") == f"localhost:{echo_h3.port}"


def test_fifty_concurrent_requests_on_one_connection(
    stream_h3: Server, tls_certs: Certs
) -> None:
    """50 requests wait on a barrier that opens only when all 50 have reached
    the app: they can only all pass if the streams are served concurrently."""
    key = uuid.uuid4().hex
    count = 50

    async def body(client: H3Client) -> list[H3Response]:
        return await asyncio.gather(
            *(
                client.request("GET", f"/barrier?key={key}&n={count}")
                for _ in range(count)
            )
        )

    responses = run_h3(stream_h3, tls_certs, body)
    assert [r.status for r in responses] == [200] * count
    assert [r.content for r in responses] == [b"barrier-passed"] * count


def test_many_concurrent_distinct_requests(echo_h3: Server, tls_certs: Certs) -> None:
    """Each of 100 concurrent streams gets the response to its own request."""
    count = 100

    async def body(client: H3Client) -> list[H3Response]:
        return await asyncio.gather(
            *(
                client.request("POST", f"/item/{i}?i={i}", body=f"body-{i}".encode())
                for i in range(count)
            )
        )

    responses = run_h3(echo_h3, tls_certs, body)
    for i, response in enumerate(responses):
        assert response.status == 200
        scope = response.json()
        assert scope["path"] == f"/item/{i}"
        assert scope["query_string"] == f"i={i}"
        assert scope["body"] == f"body-{i}"


def test_upload_several_megabytes(upload_h3: Server, tls_certs: Certs) -> None:
    chunk_size = 64 * 1024
    chunks = [
        hashlib.sha256(str(i).encode()).digest() * (chunk_size // 32)
        for i in range(128)
    ]  # 8 MiB
    expected = hashlib.sha256(b"".join(chunks)).hexdigest()
    response = run_h3(
        upload_h3,
        tls_certs,
        lambda client: client.request(
            "POST",
            "/upload?hash=1",
            body=chunks,
            headers=[("content-type", "application/octet-stream")],
            timeout=60,
        ),
    )
    assert response.status == 200, response.content[:500]
    result = response.json()
    assert result["bytes"] == chunk_size * len(chunks)
    assert result["sha256"] == expected
    assert result["method"] == "POST"
    assert result["other_messages"] == []


def test_streamed_download(stream_h3: Server, tls_certs: Certs) -> None:
    count, size = 64, 64 * 1024
    response = run_h3(
        stream_h3,
        tls_certs,
        lambda client: client.request("GET", f"/chunks?n={count}&size={size}"),
    )
    assert response.status == 200
    assert response.header("content-type") == "application/octet-stream"
    assert response.header("content-length") is None
    expected = b"".join(pattern(i, size) for i in range(count))
    assert len(response.content) == len(expected)
    assert response.content == expected
    assert len(response.chunks) > 1


def test_response_streams_before_app_finishes(
    stream_h3: Server, tls_certs: Certs
) -> None:
    """The first chunk of /gated arrives while the app still waits for its gate,
    which is opened by a second request on the same connection."""
    key = uuid.uuid4().hex

    async def body(client: H3Client) -> tuple[H3Response, H3Response]:
        gated = client.start_request("GET", f"/gated?key={key}")
        await asyncio.wait_for(gated.first_data.wait(), 20)
        assert gated.response.content == b"first-chunk\n"
        assert not gated.done.done()
        released = await client.request("GET", f"/release?key={key}")
        return released, await asyncio.wait_for(gated.done, 20)

    released, gated = run_h3(stream_h3, tls_certs, body)
    assert released.content == b"released"
    assert gated.status == 200
    assert gated.content == b"first-chunk\nsecond-chunk\n"


def test_request_body_streams_back(stream_h3: Server, tls_certs: Certs) -> None:
    chunks = [bytes([65 + i % 26]) * 32 * 1024 for i in range(64)]  # 2 MiB
    response = run_h3(
        stream_h3,
        tls_certs,
        lambda client: client.request("POST", "/echo", body=chunks, timeout=60),
    )
    assert response.status == 200
    assert response.content == b"".join(chunks)


def test_not_found_status(stream_h3: Server, tls_certs: Certs) -> None:
    response = get(stream_h3, tls_certs, "/nope")
    assert response.status == 404
    assert response.content == b"not found"


def test_wsgi_over_http3(start_server: ServerFactory, tls_certs: Certs) -> None:
    server = start_server("wsgi_app:app", *h3_args(tls_certs))
    response = get(server, tls_certs, "/env/x?y=1")
    assert response.status == 200
    environ = response.json()
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["PATH_INFO"] == "/env/x"
    assert environ["QUERY_STRING"] == "y=1"
    assert environ["SERVER_PROTOCOL"] == "HTTP/3"


def test_tcp_still_served_alongside_http3(echo_h3: Server, tls_certs: Certs) -> None:
    response = requests.get(
        echo_h3.url("/tcp").replace("http://", "https://"),
        verify=str(tls_certs.ca),
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["http_version"] == "1.1"
    assert response.headers["alt-svc"] == f'h3=":{echo_h3.port}"; ma=86400'


def h3_get_with_cert(
    server: Server, certs: Certs, client_cert: tuple[Path, Path] | None
) -> H3Response:
    port = server.port
    assert port is not None

    async def main() -> H3Response:
        async with h3_connect(port, certs.ca, client_cert=client_cert) as client:
            return await client.request("GET", "/mtls")

    return asyncio.run(main())


def test_http3_client_certificates(
    start_server: ServerFactory, tls_certs: Certs
) -> None:
    """--ssl-cert-reqs 2 applies to QUIC connections as well."""
    server = start_server(
        "echo_app:app",
        *h3_args(tls_certs),
        "--ssl-ca-certs", str(tls_certs.ca),
        "--ssl-cert-reqs", "2",
    )  # fmt: skip
    good = (tls_certs.client_cert, tls_certs.client_key)
    response = h3_get_with_cert(server, tls_certs, good)
    assert response.status == 200
    assert response.json()["http_version"] == "3"
    with pytest.raises(StreamError, match="no certificates"):
        h3_get_with_cert(server, tls_certs, None)
    stranger = (tls_certs.other_client_cert, tls_certs.other_client_key)
    with pytest.raises(StreamError, match="UnknownIssuer"):
        h3_get_with_cert(server, tls_certs, stranger)
    assert server.proc.poll() is None


@pytest.mark.parametrize(
    "cipher", ["TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_256_GCM_SHA384"]
)
def test_http3_with_one_tls13_cipher(
    start_server: ServerFactory, tls_certs: Certs, cipher: str
) -> None:
    """QUIC Initial packets always use AES-128-GCM (RFC 9001 section 5.2), so
    restricting the negotiated TLS 1.3 suite must not break HTTP/3."""
    server = start_server(
        "echo_app:app", *h3_args(tls_certs), "--ssl-ciphers", cipher, wait=False
    )
    server.wait_ready()
    time.sleep(0.5)  # a QUIC setup failure ends the process right after startup
    assert server.proc.poll() is None, server.stderr
    response = get(server, tls_certs, "/cipher")
    assert response.status == 200
    assert response.json()["http_version"] == "3"


def test_http3_with_only_tls12_ciphers_fails(tls_certs: Certs) -> None:
    """QUIC needs TLS 1.3; with only TLS 1.2 suites the server cannot serve it."""
    result = run_to_exit(
        "echo_app:app",
        *h3_args(tls_certs),
        "--ssl-ciphers",
        "ECDHE-RSA-AES128-GCM-SHA256",
    )
    assert result.returncode == 1, result.stderr
    assert "QUIC" in result.stderr or "TLS 1.3" in result.stderr, result.stderr


def test_http3_requires_certfile() -> None:
    result = run_to_exit("echo_app:app", "--http3")
    assert result.returncode != 0
    assert "ssl-certfile" in result.stderr


@pytest.fixture
def shutdown_files(tmp_path: Path) -> Iterator[dict[str, Path]]:
    yield {
        "COVET_STARTED_FILE": tmp_path / "started",
        "COVET_RELEASE_FILE": tmp_path / "release",
        "COVET_SHUTDOWN_FILE": tmp_path / "shutdown",
    }


def wait_for_file(path: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was not created within {timeout}s"
        time.sleep(0.05)


def test_graceful_shutdown_completes_http3_request(
    start_server: ServerFactory,
    tls_certs: Certs,
    shutdown_files: dict[str, Path],
) -> None:
    server = start_server(
        "slow_app:app",
        *h3_args(tls_certs),
        env={k: str(v) for k, v in shutdown_files.items()},
    )

    async def body(client: H3Client) -> H3Response:
        pending = client.start_request("GET", "/gated")
        await asyncio.to_thread(wait_for_file, shutdown_files["COVET_STARTED_FILE"])
        server.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)  # let the server begin its shutdown
        assert server.proc.poll() is None, "server exited with a request in flight"
        assert not pending.done.done()
        shutdown_files["COVET_RELEASE_FILE"].touch()
        return await asyncio.wait_for(pending.done, 30)

    response = run_h3(server, tls_certs, body)
    assert response.status == 200
    assert response.content == b"slow request finished"
    assert server.wait() == 0
    assert shutdown_files["COVET_SHUTDOWN_FILE"].read_text() == "lifespan.shutdown"
