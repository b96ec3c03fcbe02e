"""HTTP/2 with prior knowledge on the same port as HTTP/1.1."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from conftest import Server, ServerFactory


@pytest.fixture(scope="module")
def upload_server(module_servers: ServerFactory) -> Server:
    return module_servers("upload_app:app")


@pytest.fixture(scope="module")
def stream_server(module_servers: ServerFactory) -> Server:
    return module_servers("stream_app:app")


def h2_client() -> httpx.Client:
    return httpx.Client(http1=False, http2=True, timeout=30)


def test_h2_scope(echo_server: Server) -> None:
    with h2_client() as client:
        response = client.get(
            echo_server.url("/h2/caf%C3%A9?x=1"), headers={"X-Test": "yes"}
        )
    assert response.http_version == "HTTP/2"
    assert response.status_code == 200
    scope = response.json()
    assert scope["http_version"] == "2"
    assert scope["type"] == "http"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/h2/café"
    assert scope["raw_path"] == "/h2/caf%C3%A9"
    assert scope["query_string"] == "x=1"
    headers = scope["headers"]
    assert ["host", f"127.0.0.1:{echo_server.port}"] in headers
    assert ["x-test", "yes"] in headers
    assert not [name for name, _ in headers if name.startswith(":")], headers
    assert scope["client"]["items"][0] == "127.0.0.1"


def test_h2_and_h1_on_same_port(echo_server: Server) -> None:
    with h2_client() as h2, httpx.Client(timeout=30) as h1:
        assert h2.get(echo_server.url("/a")).json()["http_version"] == "2"
        assert h1.get(echo_server.url("/b")).json()["http_version"] == "1.1"


def test_h2_several_requests_one_connection(echo_server: Server) -> None:
    with h2_client() as client:
        scopes = [client.get(echo_server.url(f"/n/{i}")).json() for i in range(5)]
    assert [scope["path"] for scope in scopes] == [f"/n/{i}" for i in range(5)]
    assert len({scope["client"]["items"][1] for scope in scopes}) == 1


def test_h2_post_body(echo_server: Server) -> None:
    with h2_client() as client:
        response = client.post(echo_server.url("/post"), content=b"h2 body")
    scope = response.json()
    assert scope["method"] == "POST"
    assert scope["body"] == "h2 body"


def test_h2_large_upload(upload_server: Server) -> None:
    """Larger than the default flow-control windows."""
    payload = os.urandom(20 * 1024 * 1024 + 5)

    def body() -> Iterator[bytes]:
        for start in range(0, len(payload), 256 * 1024):
            yield payload[start : start + 256 * 1024]

    with h2_client() as client:
        response = client.post(upload_server.url("/upload?hash=1"), content=body())
    assert response.http_version == "HTTP/2"
    result = response.json()
    assert result["bytes"] == len(payload)
    assert result["sha256"] == hashlib.sha256(payload).hexdigest()


def test_h2_streamed_download(stream_server: Server) -> None:
    with h2_client() as client:
        response = client.get(stream_server.url("/chunks?n=40&size=100000"))
    assert response.http_version == "HTTP/2"
    assert len(response.content) == 40 * 100000
    assert response.content.startswith(b"chunk-000000|")


def test_h2_concurrent_streams_on_one_connection(stream_server: Server) -> None:
    """Six requests multiplexed on one connection, each blocked until all six
    have reached the app."""
    key = uuid.uuid4().hex

    async def run() -> list[str]:
        async with httpx.AsyncClient(http1=False, http2=True, timeout=40) as client:
            url = stream_server.url(f"/barrier?n=6&key={key}")
            responses = await asyncio.gather(*(client.get(url) for _ in range(6)))
        assert all(r.http_version == "HTTP/2" for r in responses)
        return [r.text for r in responses]

    assert asyncio.run(run()) == ["barrier-passed"] * 6


def test_h2_head_and_204(module_servers: ServerFactory) -> None:
    server = module_servers("head_app:app")
    with h2_client() as client:
        head = client.head(server.url("/"))
        no_content = client.get(server.url("/204"))
    assert head.status_code == 200
    assert head.content == b""
    assert no_content.status_code == 204
    assert "content-length" not in no_content.headers


def test_h2_slow_reader_gets_backpressure(stream_server: Server) -> None:
    key = uuid.uuid4().hex
    with h2_client() as client:
        url = stream_server.url(f"/flood?n=256&size=1048576&key={key}")
        with client.stream("GET", url) as response:
            assert response.status_code == 200
            time.sleep(1.5)  # not a timing assertion: lets an unbounded buffer fill
            received = sum(len(block) for block in response.iter_bytes())
        status = client.get(stream_server.url(f"/flood-status?key={key}")).json()
    assert received == 256 * 1024 * 1024
    assert status["sent"] == 256
    growth_mib = (status["rss_max_kb"] - status["rss_before_kb"]) / 1024
    assert growth_mib < 100, f"server RSS grew by {growth_mib:.0f} MiB: {status}"
