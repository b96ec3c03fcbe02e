"""`--http3-alt-svc-port`: the UDP port `Alt-Svc` advertises when clients reach HTTP/3 on another
port than covetpy listens on (`docker run -p 443:8443/udp`, a load balancer).

The HTTP/3 test puts a UDP relay in front of the server, as Docker's port publishing does, and has an
aioquic client follow the advertised port through it."""

from __future__ import annotations

import asyncio
import re
from typing import cast

import pytest
import requests
from conftest import ServerFactory, free_port, run_to_exit
from h3client import h3_connect
from test_tls import h2_client, https_url
from tls_support import Certs


def alt_svc_port(header: str) -> int:
    match = re.fullmatch(r'h3=":(\d+)"; ma=86400', header)
    assert match, header
    return int(match.group(1))


def test_alt_svc_names_the_given_port_over_http1_and_http2(
    start_server: ServerFactory, tls_certs: Certs
) -> None:
    advertised = free_port()
    server = start_server(
        "echo_app:app",
        *tls_certs.server_args(),
        "--http3",
        "--http3-alt-svc-port",
        str(advertised),
    )
    assert advertised != server.port
    response = requests.get(https_url(server), verify=str(tls_certs.ca), timeout=10)
    assert response.status_code == 200
    assert response.headers["alt-svc"] == f'h3=":{advertised}"; ma=86400'
    with h2_client(tls_certs) as client:
        h2_response = client.get(https_url(server))
    assert h2_response.http_version == "HTTP/2"
    assert h2_response.headers.get_list("alt-svc") == [f'h3=":{advertised}"; ma=86400']


def test_alt_svc_port_from_the_environment(
    start_server: ServerFactory, tls_certs: Certs
) -> None:
    """The container image sets options as COVETPY_* variables."""
    server = start_server(
        "echo_app:app",
        *tls_certs.server_args(),
        env={"COVETPY_HTTP3": "true", "COVETPY_HTTP3_ALT_SVC_PORT": "443"},
    )
    response = requests.get(https_url(server), verify=str(tls_certs.ca), timeout=10)
    assert response.headers["alt-svc"] == 'h3=":443"; ma=86400'


class _Relay(asyncio.DatagramProtocol):
    """Forwards datagrams between one client and `upstream`, as a published UDP port does."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.transport: asyncio.DatagramTransport | None = None
        self.client: tuple[str, int] | None = None
        self.to_server: asyncio.DatagramTransport | None = None
        self.forwarded = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.client = addr
        self.forwarded += 1
        if self.to_server is not None:
            self.to_server.sendto(data)
            return
        loop = asyncio.get_running_loop()
        relay = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                if relay.transport is not None and relay.client is not None:
                    relay.transport.sendto(data, relay.client)

        async def open_upstream() -> None:
            transport, _ = await loop.create_datagram_endpoint(
                Back, remote_addr=self.upstream
            )
            self.to_server = transport
            transport.sendto(data)

        loop.create_task(open_upstream())


def test_http3_client_follows_the_advertised_port_through_a_relay(
    start_server: ServerFactory, tls_certs: Certs
) -> None:
    published = free_port()
    server = start_server(
        "echo_app:app",
        *tls_certs.server_args(),
        "--http3",
        "--http3-alt-svc-port",
        str(published),
    )
    assert server.port is not None
    header = requests.get(
        https_url(server), verify=str(tls_certs.ca), timeout=10
    ).headers["alt-svc"]
    port = alt_svc_port(header)
    assert port == published

    async def main() -> tuple[int, str, int]:
        loop = asyncio.get_running_loop()
        transport, relay = await loop.create_datagram_endpoint(
            lambda: _Relay(("127.0.0.1", server.port or 0)),
            local_addr=("127.0.0.1", port),
        )
        try:
            async with h3_connect(port, tls_certs.ca) as client:
                response = await client.request("GET", "/via-alt-svc")
            return response.status, response.json()["http_version"], relay.forwarded
        finally:
            if relay.to_server is not None:
                relay.to_server.close()
            transport.close()

    status, version, forwarded = asyncio.run(main())
    assert status == 200
    assert version == "3"
    assert forwarded > 0


def test_alt_svc_port_needs_http3(tls_certs: Certs) -> None:
    result = run_to_exit(
        "echo_app:app", *tls_certs.server_args(), "--http3-alt-svc-port", "443"
    )
    assert result.returncode == 2, result.stderr
    assert "--http3" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["0", "65536", "https"])
def test_alt_svc_port_must_be_a_port(tls_certs: Certs, value: str) -> None:
    result = run_to_exit(
        "echo_app:app",
        *tls_certs.server_args(),
        "--http3",
        "--http3-alt-svc-port",
        value,
    )
    assert result.returncode == 2, result.stderr
    assert "--http3-alt-svc-port" in result.stderr
    assert "Traceback" not in result.stderr


def test_alt_svc_port_from_the_environment_needs_http3(tls_certs: Certs) -> None:
    result = run_to_exit(
        "echo_app:app",
        *tls_certs.server_args(),
        env={"COVETPY_HTTP3_ALT_SVC_PORT": "443"},
    )
    assert result.returncode != 0, result.stderr
    assert "--http3" in result.stderr
