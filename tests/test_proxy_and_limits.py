"""uvicorn's proxy and limit options end to end: --proxy-headers, --forwarded-allow-ips,
--forwarded-header, --proxy-protocol, --limit-concurrency, --backlog, --header,
--server-header, --date-header and --h11-max-incomplete-event-size.

The test client is always 127.0.0.1; "untrusted" is simulated by trusting another
address (10.0.0.1), which is only ever a configuration value.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from conftest import Server, ServerFactory, run_to_exit
from h3client import H3Response, h3_connect
from rawhttp import RawConnection, RawResponse, request_bytes
from tls_support import Certs
from websockets.sync.client import connect as ws_connect

APP = "proxy_app:app"
PROXY_V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def get_json(server: Server, headers: dict[str, str] | None = None, path: str = "/") -> Any:
    response = requests.get(server.url(path), headers=headers, timeout=15)
    assert response.status_code == 200, response.text
    return response.json()


def raw_request(server: Server, data: bytes) -> RawResponse:
    with RawConnection.tcp(port_of(server)) as conn:
        conn.send(data)
        return conn.read_response()


def port_of(server: Server) -> int:
    assert server.port is not None
    return server.port


@pytest.fixture(scope="module")
def default_server(module_servers: ServerFactory) -> Server:
    return module_servers(APP)


@pytest.fixture(scope="module")
def untrusted_server(module_servers: ServerFactory) -> Server:
    return module_servers(APP, "--forwarded-allow-ips", "10.0.0.1")


# --- X-Forwarded-* -------------------------------------------------------------------------


def test_without_proxy_headers_the_socket_peer_is_reported(default_server: Server) -> None:
    data = get_json(default_server)
    assert data["client"][0] == "127.0.0.1"
    assert data["client"][1] > 0
    assert data["scheme"] == "http"


def test_trusted_peer_sets_client_scheme_and_host(default_server: Server) -> None:
    data = get_json(
        default_server,
        {
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "example.com:8443",
        },
    )
    assert data == {"client": ["203.0.113.9", 0], "scheme": "https", "host": "example.com:8443"}


def test_chain_is_read_from_the_right_up_to_the_first_untrusted_hop(default_server: Server) -> None:
    chain = "198.51.100.1, 203.0.113.9, 127.0.0.1"
    assert get_json(default_server, {"X-Forwarded-For": chain})["client"] == ["203.0.113.9", 0]


def test_all_trusted_chain_gives_the_leftmost_hop(default_server: Server) -> None:
    data = get_json(default_server, {"X-Forwarded-For": "127.0.0.1,127.0.0.1"})
    assert data["client"] == ["127.0.0.1", 0]


def test_repeated_x_forwarded_for_fields_are_one_list(default_server: Server) -> None:
    data = raw_request(
        default_server,
        request_bytes("GET", "/", [("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-For", "127.0.0.1")]),
    )
    assert data.status == 200
    assert json.loads(data.body)["client"] == ["198.51.100.1", 0]


def test_ipv6_in_x_forwarded_for(default_server: Server) -> None:
    assert get_json(default_server, {"X-Forwarded-For": "2001:db8::7"})["client"] == ["2001:db8::7", 0]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "not-an-address"},
        {"X-Forwarded-For": ""},
        {"X-Forwarded-For": ",,,"},
        {"X-Forwarded-Proto": "gopher"},
        {"X-Forwarded-Proto": "https, http"},
        {"X-Forwarded-Host": "a b"},
        {"X-Forwarded-Host": "user@evil.example"},
        {"X-Forwarded-Host": "one.example, two.example"},
    ],
)
def test_unparseable_values_are_ignored(default_server: Server, headers: dict[str, str]) -> None:
    data = get_json(default_server, headers)
    assert data["client"][0] == "127.0.0.1"
    assert data["client"][1] > 0
    assert data["scheme"] == "http"
    assert data["host"] == f"127.0.0.1:{default_server.port}"


def test_untrusted_peer_is_not_rewritten(untrusted_server: Server) -> None:
    data = get_json(
        untrusted_server,
        {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "example.com"},
    )
    assert data["client"][0] == "127.0.0.1"
    assert data["client"][1] > 0
    assert data["scheme"] == "http"
    assert data["host"] == f"127.0.0.1:{untrusted_server.port}"


def test_no_proxy_headers_turns_it_off(start_server: ServerFactory) -> None:
    server = start_server(APP, "--no-proxy-headers")
    data = get_json(server, {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert data["client"][0] == "127.0.0.1"
    assert data["scheme"] == "http"


def test_cidr_networks_are_trusted(start_server: ServerFactory) -> None:
    server = start_server(APP, "--forwarded-allow-ips", "127.0.0.0/8, 10.0.0.0/8")
    assert get_json(server, {"X-Forwarded-For": "198.51.100.1, 10.1.2.3"})["client"] == ["198.51.100.1", 0]
    assert get_json(server, {"X-Forwarded-For": "10.5.5.5, 10.1.2.3"})["client"] == ["10.5.5.5", 0]


def test_star_trusts_everything_and_takes_the_leftmost_hop(start_server: ServerFactory) -> None:
    server = start_server(APP, "--forwarded-allow-ips", "*")
    assert get_json(server, {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})["client"] == ["198.51.100.1", 0]


def test_forwarded_allow_ips_comes_from_the_environment(start_server: ServerFactory) -> None:
    server = start_server(APP, env={"FORWARDED_ALLOW_IPS": "10.0.0.1"})
    assert get_json(server, {"X-Forwarded-For": "203.0.113.9"})["client"][0] == "127.0.0.1"


def test_literals_match_chain_entries(start_server: ServerFactory) -> None:
    # nginx on a Unix socket writes `unix:` as the client in the chain.
    server = start_server(APP, "--forwarded-allow-ips", "127.0.0.1,unix:")
    assert get_json(server, {"X-Forwarded-For": "198.51.100.1, unix:"})["client"] == ["198.51.100.1", 0]


def test_websocket_scheme_and_client(default_server: Server) -> None:
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    with ws_connect(f"ws://127.0.0.1:{default_server.port}/", additional_headers=headers) as ws:
        data = json.loads(ws.recv(timeout=15))
    assert data["client"] == ["203.0.113.9", 0]
    assert data["scheme"] == "wss"


def test_http2_requests_are_rewritten_too(default_server: Server) -> None:
    with httpx.Client(http1=False, http2=True, timeout=15) as client:
        response = client.get(default_server.url("/"), headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.http_version == "HTTP/2"
    assert response.json()["client"] == ["203.0.113.9", 0]


def test_wsgi_environ_is_rewritten(module_servers: ServerFactory) -> None:
    server = module_servers("proxy_app:wsgi_app")
    headers = {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "example.com",
    }
    assert get_json(server, headers) == {
        "REMOTE_ADDR": "203.0.113.9",
        "REMOTE_PORT": "0",
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "example.com",
    }


def test_native_request_is_rewritten(module_servers: ServerFactory) -> None:
    server = module_servers("proxy_app:native_app")
    headers = {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "example.com",
    }
    assert get_json(server, headers) == {"client": ["203.0.113.9", 0], "url": "https://example.com/"}


def test_access_log_shows_the_forwarded_client(default_server: Server) -> None:
    get_json(default_server, {"X-Forwarded-For": "203.0.113.77"}, path="/?logged")
    deadline = time.monotonic() + 10
    while "203.0.113.77:0" not in default_server.stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert '203.0.113.77:0 - "GET /?logged HTTP/1.1" 200' in default_server.stdout


def uds_get(path: str, headers: list[tuple[str, str]]) -> Any:
    with RawConnection.unix(path) as conn:
        conn.send(request_bytes("GET", "/", headers))
        response = conn.read_response()
    assert response.status == 200
    return json.loads(response.body)


def test_unix_socket_peer_is_trusted_only_by_star(start_server: ServerFactory, tmp_path: Path) -> None:
    headers = [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https")]
    start_server(APP, uds=str(tmp_path / "default.sock"))
    assert uds_get(str(tmp_path / "default.sock"), headers) == {
        "client": None,
        "scheme": "http",
        "host": "testserver",
    }
    start_server(APP, "--forwarded-allow-ips", "*", uds=str(tmp_path / "star.sock"))
    data = uds_get(str(tmp_path / "star.sock"), headers)
    assert data["client"] == ["203.0.113.9", 0]
    assert data["scheme"] == "https"


# --- Forwarded (RFC 7239) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def forwarded_server(module_servers: ServerFactory) -> Server:
    return module_servers(APP, "--forwarded-header", "--forwarded-allow-ips", "127.0.0.1,10.0.0.0/8")


def test_forwarded_is_ignored_without_the_flag(default_server: Server) -> None:
    data = get_json(default_server, {"Forwarded": "for=203.0.113.9;proto=https"})
    assert data["client"][0] == "127.0.0.1"
    assert data["scheme"] == "http"


def test_forwarded_sets_client_scheme_and_host(forwarded_server: Server) -> None:
    data = get_json(forwarded_server, {"Forwarded": "for=203.0.113.9;proto=https;host=example.com"})
    assert data == {"client": ["203.0.113.9", 0], "scheme": "https", "host": "example.com"}


def test_forwarded_chain_picks_the_element_of_the_first_untrusted_hop(forwarded_server: Server) -> None:
    value = (
        'for=198.51.100.1;proto=http, for="[2001:db8:cafe::17]:4711";proto=https;host=a.example, for=10.1.1.1'
    )
    data = get_json(forwarded_server, {"Forwarded": value})
    assert data == {"client": ["2001:db8:cafe::17", 4711], "scheme": "https", "host": "a.example"}


def test_forwarded_wins_over_x_forwarded(forwarded_server: Server) -> None:
    data = get_json(forwarded_server, {"Forwarded": "for=203.0.113.9", "X-Forwarded-For": "198.51.100.1"})
    assert data["client"] == ["203.0.113.9", 0]
    # Without a Forwarded header, X-Forwarded-For still works.
    assert get_json(forwarded_server, {"X-Forwarded-For": "198.51.100.1"})["client"] == ["198.51.100.1", 0]


@pytest.mark.parametrize(
    "value", ['for="unterminated', "for", "=x", "for=unknown;proto=gopher", "for=_hidden", "garbage;;,,"]
)
def test_malformed_forwarded_is_ignored(forwarded_server: Server, value: str) -> None:
    data = get_json(forwarded_server, {"Forwarded": value})
    assert data["client"][0] == "127.0.0.1"
    assert data["scheme"] == "http"


def test_forwarded_from_an_untrusted_peer_is_ignored(start_server: ServerFactory) -> None:
    server = start_server(APP, "--forwarded-header", "--forwarded-allow-ips", "10.0.0.1")
    data = get_json(server, {"Forwarded": "for=203.0.113.9;proto=https"})
    assert data["client"][0] == "127.0.0.1"
    assert data["scheme"] == "http"


# --- PROXY protocol ---------------------------------------------------------------------------


def proxy_v2(source: str, source_port: int, command: int = 0x21) -> bytes:
    ip = ipaddress.ip_address(source)
    if ip.version == 4:
        family = 0x11
        addresses = ip.packed + bytes([127, 0, 0, 1]) + struct.pack("!HH", source_port, 8000)
    else:
        family = 0x21
        addresses = ip.packed + ipaddress.ip_address("::1").packed + struct.pack("!HH", source_port, 8000)
    # A TLV after the addresses (PP2_TYPE_NOOP) must be skipped.
    tlv = bytes([0x04, 0x00, 0x02, 0xAA, 0xBB])
    body = addresses + tlv
    return PROXY_V2_SIGNATURE + bytes([command, family]) + struct.pack("!H", len(body)) + body


def proxy_v2_local() -> bytes:
    return PROXY_V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)


@pytest.fixture(scope="module")
def proxy_protocol_server(module_servers: ServerFactory) -> Server:
    return module_servers(APP, "--proxy-protocol")


def proxied_get(server: Server, header: bytes, extra: list[tuple[str, str]] | None = None) -> Any:
    with RawConnection.tcp(port_of(server)) as conn:
        conn.send(header + request_bytes("GET", "/", extra))
        response = conn.read_response()
    assert response.status == 200
    return json.loads(response.body)


def test_proxy_v1_tcp4(proxy_protocol_server: Server) -> None:
    data = proxied_get(proxy_protocol_server, b"PROXY TCP4 203.0.113.7 127.0.0.1 4567 8000\r\n")
    assert data["client"] == ["203.0.113.7", 4567]


def test_proxy_v1_tcp6(proxy_protocol_server: Server) -> None:
    data = proxied_get(proxy_protocol_server, b"PROXY TCP6 2001:db8::9 ::1 4567 8000\r\n")
    assert data["client"] == ["2001:db8::9", 4567]


def test_proxy_v1_unknown_keeps_the_peer(proxy_protocol_server: Server) -> None:
    data = proxied_get(proxy_protocol_server, b"PROXY UNKNOWN\r\n")
    assert data["client"][0] == "127.0.0.1"


def test_proxy_v2_tcp4_and_tcp6(proxy_protocol_server: Server) -> None:
    assert proxied_get(proxy_protocol_server, proxy_v2("203.0.113.8", 1234))["client"] == [
        "203.0.113.8",
        1234,
    ]
    assert proxied_get(proxy_protocol_server, proxy_v2("2001:db8::8", 4321))["client"] == [
        "2001:db8::8",
        4321,
    ]


def test_proxy_v2_local_keeps_the_peer(proxy_protocol_server: Server) -> None:
    assert proxied_get(proxy_protocol_server, proxy_v2_local())["client"][0] == "127.0.0.1"


def test_proxy_header_sent_in_pieces_and_keep_alive(proxy_protocol_server: Server) -> None:
    with RawConnection.tcp(port_of(proxy_protocol_server)) as conn:
        conn.send(b"PROXY TCP4 203.0.113.7 ")
        time.sleep(0.05)  # only to make the header arrive in two reads
        conn.send(b"127.0.0.1 4567 8000\r\n" + request_bytes("GET", "/"))
        first = conn.read_response()
        conn.send(request_bytes("GET", "/"))
        second = conn.read_response()
    assert json.loads(first.body)["client"] == ["203.0.113.7", 4567]
    assert json.loads(second.body)["client"] == ["203.0.113.7", 4567]


def test_proxy_address_is_then_checked_for_forwarded_headers(proxy_protocol_server: Server) -> None:
    trusted = proxied_get(
        proxy_protocol_server,
        b"PROXY TCP4 127.0.0.1 127.0.0.1 4567 8000\r\n",
        [("X-Forwarded-For", "198.51.100.1")],
    )
    assert trusted["client"] == ["198.51.100.1", 0]
    untrusted = proxied_get(
        proxy_protocol_server,
        b"PROXY TCP4 203.0.113.7 127.0.0.1 4567 8000\r\n",
        [("X-Forwarded-For", "198.51.100.1")],
    )
    assert untrusted["client"] == ["203.0.113.7", 4567]


@pytest.mark.parametrize(
    "opening",
    [
        request_bytes("GET", "/"),
        b"PROXY TCP4 not-an-ip 127.0.0.1 1 2\r\n" + request_bytes("GET", "/"),
        b"PROXY TCP4 203.0.113.7 127.0.0.1 99999 8000\r\n" + request_bytes("GET", "/"),
        b"PROXY " + b"x" * 200 + b"\r\n",
        PROXY_V2_SIGNATURE + bytes([0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4]) + request_bytes("GET", "/"),
    ],
)
def test_connection_without_a_valid_proxy_header_is_closed(
    proxy_protocol_server: Server, opening: bytes
) -> None:
    with RawConnection.tcp(port_of(proxy_protocol_server)) as conn:
        conn.send(opening)
        assert conn.read_until_eof() == b""


def test_proxy_header_from_an_untrusted_peer_is_refused(start_server: ServerFactory) -> None:
    server = start_server(APP, "--proxy-protocol", "--forwarded-allow-ips", "10.0.0.1")
    with RawConnection.tcp(port_of(server)) as conn:
        conn.send(b"PROXY TCP4 203.0.113.7 127.0.0.1 4567 8000\r\n" + request_bytes("GET", "/"))
        assert conn.read_until_eof() == b""


# --- --limit-concurrency ----------------------------------------------------------------------


@contextlib.contextmanager
def held_request(server: Server) -> Iterator[RawConnection]:
    """A POST /hold in progress: the app has answered "started" and waits for the body."""
    conn = RawConnection.tcp(port_of(server))
    try:
        conn.send(request_bytes("POST", "/hold", [("Content-Length", "4")]))
        head = conn.read_head()
        assert head.status == 200
        assert conn.read_chunk() == b"started\n"
        yield conn
    finally:
        conn.close()


def finish_held(conn: RawConnection) -> None:
    conn.send(b"body")
    assert conn.read_chunk() == b"done"
    assert conn.read_chunk() is None


def test_limit_concurrency_answers_503_and_recovers(start_server: ServerFactory) -> None:
    server = start_server(APP, "--limit-concurrency", "2")
    with held_request(server) as first, held_request(server) as second:
        response = requests.get(server.url("/"), timeout=15)
        assert response.status_code == 503
        assert response.text == "Service Unavailable"
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["connection"] == "close"
        # The log is written by a background thread: wait for the line rather than expect it at once.
        assert "Exceeded concurrency limit." in server.wait_for_stderr("Exceeded concurrency limit.")
        finish_held(first)
        finish_held(second)
    # The held connections are closed; once the server has noticed, requests are served again.
    deadline = time.monotonic() + 15
    while (status := requests.get(server.url("/"), timeout=15).status_code) != 200:
        assert status == 503
        assert time.monotonic() < deadline, "the server did not recover from the concurrency limit"
        time.sleep(0.05)


def test_limit_concurrency_serves_up_to_the_limit(start_server: ServerFactory) -> None:
    server = start_server(APP, "--limit-concurrency", "3")
    with held_request(server) as first, held_request(server) as second:
        assert requests.get(server.url("/"), timeout=15).status_code == 200
        finish_held(first)
        finish_held(second)


# --- --backlog, default headers ---------------------------------------------------------------


def test_backlog_option_serves(start_server: ServerFactory) -> None:
    server = start_server(APP, "--backlog", "16")
    assert get_json(server)["scheme"] == "http"


def test_backlog_must_be_positive() -> None:
    assert run_to_exit(APP, "--backlog", "0").returncode == 2


def test_default_server_and_date_headers(default_server: Server) -> None:
    response = raw_request(default_server, request_bytes("GET", "/"))
    assert response.header_list("server") == ["covetpy"]
    (date,) = response.header_list("date")
    assert date.endswith(" GMT")


def test_app_server_and_date_headers_win(default_server: Server) -> None:
    response = raw_request(default_server, request_bytes("GET", "/app-headers"))
    assert response.header_list("server") == ["app-server"]
    assert response.header_list("date") == ["app-date"]


def test_refusals_carry_the_default_headers_too(default_server: Server) -> None:
    response = raw_request(default_server, b"GET / HTTP/1.1\r\n\r\n")  # no Host
    assert response.status == 400
    assert response.header_list("server") == ["covetpy"]
    assert len(response.header_list("date")) == 1


def test_http2_has_server_and_date(default_server: Server) -> None:
    with httpx.Client(http1=False, http2=True, timeout=15) as client:
        response = client.get(default_server.url("/"))
    assert response.http_version == "HTTP/2"
    assert response.headers.get_list("server") == ["covetpy"]
    assert len(response.headers.get_list("date")) == 1


def test_extra_headers(start_server: ServerFactory) -> None:
    server = start_server(
        APP, "--header", "X-Extra: one", "--header", "x-extra:two", "--header", "Server: custom"
    )
    response = raw_request(server, request_bytes("GET", "/"))
    assert response.header_list("x-extra") == ["one", "two"]
    assert response.header_list("server") == ["custom"]
    own = raw_request(server, request_bytes("GET", "/app-headers"))
    assert own.header_list("server") == ["app-server"]
    assert own.header_list("x-extra") == ["one", "two"]


def test_no_server_and_no_date_header(start_server: ServerFactory) -> None:
    server = start_server(APP, "--no-server-header", "--no-date-header", "--header", "x-extra: 1")
    response = raw_request(server, request_bytes("GET", "/"))
    assert response.header("server") is None
    assert response.header("date") is None
    assert response.header("x-extra") == "1"
    # The app's own are still sent.
    own = raw_request(server, request_bytes("GET", "/app-headers"))
    assert own.header_list("server") == ["app-server"]
    with httpx.Client(http1=False, http2=True, timeout=15) as client:
        h2 = client.get(server.url("/"))
    assert "server" not in h2.headers
    assert "date" not in h2.headers


def test_bad_header_option_fails_at_start_up() -> None:
    result = run_to_exit(APP, "--header", "no-colon-here")
    assert result.returncode == 1
    assert "no-colon-here" in result.stderr


# --- --h11-max-incomplete-event-size ------------------------------------------------------------


def big_head(total: int) -> bytes:
    """A GET whose head is about `total` bytes, in header lines under gunicorn's 8190 limit."""
    headers = []
    size = 0
    index = 0
    while size < total:
        value = "v" * min(4000, total - size)
        headers.append((f"x-filler-{index}", value))
        size += len(value) + 16
        index += 1
    return request_bytes("GET", "/", headers)


def test_default_head_limit_is_16_kib(default_server: Server) -> None:
    assert raw_request(default_server, big_head(12000)).status == 200
    with RawConnection.tcp(port_of(default_server)) as conn:
        conn.send(big_head(20000))
        response = conn.read_response()
        assert response.status == 431
        assert response.header("connection") == "close"
        assert conn.closed_by_peer()


def test_small_head_limit_gets_431_and_close(start_server: ServerFactory) -> None:
    server = start_server(APP, "--h11-max-incomplete-event-size", "3000")
    assert raw_request(server, big_head(2000)).status == 200
    with RawConnection.tcp(port_of(server)) as conn:
        conn.send(big_head(5000))
        response = conn.read_response()
        assert response.status == 431
        assert response.header("connection") == "close"
        assert conn.closed_by_peer()


def test_larger_head_limit_allows_larger_heads(start_server: ServerFactory) -> None:
    server = start_server(APP, "--h11-max-incomplete-event-size", "65536")
    assert raw_request(server, big_head(40000)).status == 200


def test_head_limit_is_checked_before_the_request_line_limit(default_server: Server) -> None:
    # A request line over --limit-request-line but within the head limit: 414.
    assert raw_request(default_server, request_bytes("GET", "/" + "a" * 5000)).status == 414
    # One longer than the whole head limit: 431 comes first.
    with RawConnection.tcp(port_of(default_server)) as conn:
        conn.send(request_bytes("GET", "/" + "a" * 20000))
        assert conn.read_head().status == 431


# --- HTTP/3 -----------------------------------------------------------------------------------


def h3_get(server: Server, certs: Certs, headers: list[tuple[str, str]]) -> H3Response:
    port = port_of(server)

    async def main() -> H3Response:
        async with h3_connect(port, certs.ca) as client:
            return await client.request("GET", "/", headers=headers)

    return asyncio.run(main())


def test_http3_is_rewritten_and_has_the_default_headers(
    start_server: ServerFactory, tls_certs: Certs
) -> None:
    server = start_server(APP, *tls_certs.server_args(), "--http3", "--forwarded-allow-ips", "127.0.0.0/8")
    response = h3_get(server, tls_certs, [("x-forwarded-for", "203.0.113.9"), ("x-forwarded-proto", "http")])
    assert response.status == 200
    assert response.json()["client"] == ["203.0.113.9", 0]
    assert response.json()["scheme"] == "http"
    assert response.header("server") == "covetpy"
    assert (response.header("date") or "").endswith(" GMT")


def test_http3_without_server_and_date_headers(start_server: ServerFactory, tls_certs: Certs) -> None:
    server = start_server(
        APP,
        *tls_certs.server_args(),
        "--http3",
        "--no-server-header",
        "--no-date-header",
        "--header",
        "x-a:b",
    )
    response = h3_get(server, tls_certs, [])
    assert response.status == 200
    assert response.header("server") is None
    assert response.header("date") is None
    assert response.header("x-a") == "b"
