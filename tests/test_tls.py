"""TLS: uvicorn's --ssl-* options, key formats, ALPN h2, client certificates,
cipher selection, Alt-Svc with --http3, and the https scheme in every app kind.

Certificates come from the session fixture `tls_certs` (tests/tls_support.py)."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from conftest import Server, ServerFactory, run_to_exit
from tls_support import KEY_PASSWORD, Certs
from websockets.sync.client import connect as ws_connect


def https_url(server: Server, path: str = "/", host: str = "127.0.0.1") -> str:
    return f"https://{host}:{server.port}{path}"


def get_json(
    server: Server, certs: Certs, path: str = "/", **kwargs: Any
) -> dict[str, Any]:
    response = requests.get(
        https_url(server, path), verify=str(certs.ca), timeout=10, **kwargs
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def client_context(
    certs: Certs,
    alpn: list[str] | None = None,
    client_cert: tuple[Path, Path] | None = None,
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if alpn:
        context.set_alpn_protocols(alpn)
    if client_cert:
        context.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    return context


def handshake(
    server: Server, context: ssl.SSLContext, server_name: str = "localhost"
) -> tuple[str | None, tuple[str, str, int] | None]:
    """TLS handshake only; returns (ALPN protocol, cipher)."""
    assert server.port is not None
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with context.wrap_socket(raw, server_hostname=server_name) as tls:
        return tls.selected_alpn_protocol(), tls.cipher()


def h2_client(
    certs: Certs, client_cert: tuple[Path, Path] | None = None
) -> httpx.Client:
    context = client_context(certs, client_cert=client_cert)
    return httpx.Client(http2=True, verify=context, timeout=10)


@pytest.fixture(scope="module")
def tls_echo(module_servers: ServerFactory, tls_certs: Certs) -> Server:
    return module_servers("echo_app:app", *tls_certs.server_args())


# --------------------------------------------------------------------- protocols


def test_https_http11_scope(tls_echo: Server, tls_certs: Certs) -> None:
    scope = get_json(tls_echo, tls_certs, "/a/b?c=d")
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "https"
    assert scope["path"] == "/a/b"
    assert scope["query_string"] == "c=d"
    assert scope["server"]["items"] == ["127.0.0.1", tls_echo.port]


def test_hostname_verification_localhost(tls_echo: Server, tls_certs: Certs) -> None:
    """The certificate is valid for both localhost and 127.0.0.1."""
    response = requests.get(
        https_url(tls_echo, "/", host="localhost"), verify=str(tls_certs.ca), timeout=10
    )
    assert response.status_code == 200


def test_post_body_over_https(tls_echo: Server, tls_certs: Certs) -> None:
    body = b"x" * 300_000
    response = requests.post(
        https_url(tls_echo, "/upload"), data=body, verify=str(tls_certs.ca), timeout=10
    )
    assert response.status_code == 200
    assert response.json()["body_length"] == len(body)


def test_alpn_h2_gives_http2_scope(tls_echo: Server, tls_certs: Certs) -> None:
    with h2_client(tls_certs) as client:
        responses = [client.get(https_url(tls_echo, f"/h2/{i}")) for i in range(3)]
    for i, response in enumerate(responses):
        assert response.status_code == 200
        assert response.http_version == "HTTP/2"
        scope = response.json()
        assert scope["http_version"] == "2"
        assert scope["scheme"] == "https"
        assert scope["path"] == f"/h2/{i}"


def test_alpn_offers_h2_and_http11(tls_echo: Server, tls_certs: Certs) -> None:
    both = client_context(tls_certs, alpn=["h2", "http/1.1"])
    assert handshake(tls_echo, both)[0] == "h2"
    only_h1 = client_context(tls_certs, alpn=["http/1.1"])
    assert handshake(tls_echo, only_h1)[0] == "http/1.1"


def test_plain_http_to_tls_port_fails(tls_echo: Server) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(tls_echo.url("/"), timeout=10)
    # the server is still fine afterwards
    assert tls_echo.proc.poll() is None


def test_untrusted_client_rejects_certificate(tls_echo: Server) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(https_url(tls_echo, "/"), timeout=10)


# --------------------------------------------------------------------- key formats


def openssl_encrypted_key(certs: Certs, option: list[str]) -> Path:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl CLI not installed")
    out = certs.directory / f"openssl-encrypted{'-'.join(option)}.key"
    subprocess.run(
        [
            openssl, "pkcs8", "-topk8", "-in", str(certs.rsa_pkcs8), "-out", str(out),
            "-passout", f"pass:{KEY_PASSWORD}", *option,
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    assert out.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    return out


KEY_FORMATS = [
    "rsa-pkcs8",
    "rsa-pkcs1",
    "rsa-pkcs8-encrypted",
    "ec-pkcs8",
    "ec-sec1",
    "openssl-aes256-pbkdf2",
    "openssl-scrypt",
]


def key_args(certs: Certs, kind: str) -> list[str]:
    rsa_cert = ["--ssl-certfile", str(certs.rsa_cert)]
    ec_cert = ["--ssl-certfile", str(certs.ec_cert)]
    password = ["--ssl-keyfile-password", KEY_PASSWORD]
    match kind:
        case "rsa-pkcs8":
            return [*rsa_cert, "--ssl-keyfile", str(certs.rsa_pkcs8)]
        case "rsa-pkcs1":
            return [*rsa_cert, "--ssl-keyfile", str(certs.rsa_pkcs1)]
        case "rsa-pkcs8-encrypted":
            return [
                *rsa_cert,
                "--ssl-keyfile",
                str(certs.rsa_pkcs8_encrypted),
                *password,
            ]
        case "ec-pkcs8":
            return [*ec_cert, "--ssl-keyfile", str(certs.ec_pkcs8)]
        case "ec-sec1":
            return [*ec_cert, "--ssl-keyfile", str(certs.ec_sec1)]
        case "openssl-aes256-pbkdf2":
            key = openssl_encrypted_key(certs, ["-v2", "aes-256-cbc"])
            return [*rsa_cert, "--ssl-keyfile", str(key), *password]
        case "openssl-scrypt":
            key = openssl_encrypted_key(certs, ["-scrypt"])
            return [*rsa_cert, "--ssl-keyfile", str(key), *password]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", KEY_FORMATS)
def test_key_format(start_server: ServerFactory, tls_certs: Certs, kind: str) -> None:
    server = start_server("echo_app:app", *key_args(tls_certs, kind))
    scope = get_json(server, tls_certs, "/key")
    assert scope["scheme"] == "https"
    assert scope["http_version"] == "1.1"


def test_certfile_holding_the_key_too(
    start_server: ServerFactory, tls_certs: Certs
) -> None:
    """Like uvicorn (ssl.load_cert_chain), the key may sit in the certificate file."""
    combined = tls_certs.directory / "combined.pem"
    combined.write_text(
        tls_certs.rsa_cert.read_text() + tls_certs.rsa_pkcs8.read_text()
    )
    server = start_server("echo_app:app", "--ssl-certfile", str(combined))
    assert get_json(server, tls_certs)["scheme"] == "https"


def assert_startup_error(
    result: subprocess.CompletedProcess[str], *mentions: str
) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    for text in mentions:
        assert text in errors[0], (text, result.stderr)
    assert "Traceback" not in result.stderr
    assert "panicked" not in result.stderr


def test_wrong_key_password(tls_certs: Certs) -> None:
    key = tls_certs.rsa_pkcs8_encrypted
    result = run_to_exit(
        "echo_app:app",
        "--ssl-certfile", str(tls_certs.rsa_cert),
        "--ssl-keyfile", str(key),
        "--ssl-keyfile-password", "not-the-password",
    )  # fmt: skip
    assert_startup_error(result, str(key), "password")


def test_encrypted_key_without_password(tls_certs: Certs) -> None:
    key = tls_certs.rsa_pkcs8_encrypted
    result = run_to_exit(
        "echo_app:app",
        "--ssl-certfile", str(tls_certs.rsa_cert),
        "--ssl-keyfile", str(key),
    )  # fmt: skip
    assert_startup_error(result, str(key), "password")


@pytest.mark.parametrize("which", ["certfile", "keyfile", "ca-certs"])
def test_missing_file(tls_certs: Certs, which: str) -> None:
    missing = tls_certs.directory / f"does-not-exist-{which}.pem"
    paths = {
        "certfile": str(tls_certs.rsa_cert),
        "keyfile": str(tls_certs.rsa_pkcs8),
        "ca-certs": str(tls_certs.ca),
    }
    paths[which] = str(missing)
    result = run_to_exit(
        "echo_app:app",
        "--ssl-certfile", paths["certfile"],
        "--ssl-keyfile", paths["keyfile"],
        "--ssl-ca-certs", paths["ca-certs"],
        "--ssl-cert-reqs", "2",
    )  # fmt: skip
    assert_startup_error(result, str(missing))


@pytest.mark.parametrize("which", ["certfile", "keyfile", "ca-certs"])
def test_garbage_file(tls_certs: Certs, which: str) -> None:
    paths = {
        "certfile": str(tls_certs.rsa_cert),
        "keyfile": str(tls_certs.rsa_pkcs8),
        "ca-certs": str(tls_certs.ca),
    }
    paths[which] = str(tls_certs.garbage)
    result = run_to_exit(
        "echo_app:app",
        "--ssl-certfile", paths["certfile"],
        "--ssl-keyfile", paths["keyfile"],
        "--ssl-ca-certs", paths["ca-certs"],
        "--ssl-cert-reqs", "2",
    )  # fmt: skip
    assert_startup_error(result, str(tls_certs.garbage))


def test_key_not_matching_certificate(tls_certs: Certs) -> None:
    result = run_to_exit(
        "echo_app:app",
        "--ssl-certfile", str(tls_certs.rsa_cert),
        "--ssl-keyfile", str(tls_certs.ec_pkcs8),
    )  # fmt: skip
    assert_startup_error(result, str(tls_certs.ec_pkcs8))


# --------------------------------------------------------------- client certificates


def mtls_args(certs: Certs, reqs: str) -> list[str]:
    return [
        *certs.server_args(),
        "--ssl-ca-certs", str(certs.ca),
        "--ssl-cert-reqs", reqs,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def mtls_required(module_servers: ServerFactory, tls_certs: Certs) -> Server:
    return module_servers("echo_app:app", *mtls_args(tls_certs, "2"))


@pytest.fixture(scope="module")
def mtls_optional(module_servers: ServerFactory, tls_certs: Certs) -> Server:
    return module_servers("echo_app:app", *mtls_args(tls_certs, "1"))


def good_cert(certs: Certs) -> tuple[str, str]:
    return str(certs.client_cert), str(certs.client_key)


def stranger_cert(certs: Certs) -> tuple[str, str]:
    return str(certs.other_client_cert), str(certs.other_client_key)


def test_required_client_cert_accepted(mtls_required: Server, tls_certs: Certs) -> None:
    scope = get_json(mtls_required, tls_certs, "/mtls", cert=good_cert(tls_certs))
    assert scope["scheme"] == "https"
    client_cert = (tls_certs.client_cert, tls_certs.client_key)
    with h2_client(tls_certs, client_cert=client_cert) as client:
        response = client.get(https_url(mtls_required, "/mtls-h2"))
    assert response.status_code == 200
    assert response.json()["http_version"] == "2"


def test_required_client_cert_missing(mtls_required: Server, tls_certs: Certs) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(
            https_url(mtls_required, "/"), verify=str(tls_certs.ca), timeout=10
        )
    assert mtls_required.proc.poll() is None


def test_required_client_cert_from_other_ca(
    mtls_required: Server, tls_certs: Certs
) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(
            https_url(mtls_required, "/"),
            verify=str(tls_certs.ca),
            cert=stranger_cert(tls_certs),
            timeout=10,
        )
    # a good client still gets in afterwards
    get_json(mtls_required, tls_certs, "/", cert=good_cert(tls_certs))


def test_optional_client_cert(mtls_optional: Server, tls_certs: Certs) -> None:
    assert get_json(mtls_optional, tls_certs, "/none")["path"] == "/none"
    scope = get_json(mtls_optional, tls_certs, "/good", cert=good_cert(tls_certs))
    assert scope["path"] == "/good"


def test_optional_client_cert_from_other_ca_is_refused(
    mtls_optional: Server, tls_certs: Certs
) -> None:
    """CERT_OPTIONAL: no certificate is fine, but one that is sent is verified."""
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(
            https_url(mtls_optional, "/"),
            verify=str(tls_certs.ca),
            cert=stranger_cert(tls_certs),
            timeout=10,
        )


def test_cert_reqs_none_ignores_client_certs(
    start_server: ServerFactory, tls_certs: Certs
) -> None:
    server = start_server("echo_app:app", *mtls_args(tls_certs, "0"))
    assert get_json(server, tls_certs, "/")["scheme"] == "https"
    # not asked for a certificate, the client sends none, so any is fine
    get_json(server, tls_certs, "/", cert=stranger_cert(tls_certs))


def test_cert_reqs_without_ca_certs_fails(tls_certs: Certs) -> None:
    result = run_to_exit(
        "echo_app:app", *tls_certs.server_args(), "--ssl-cert-reqs", "2"
    )
    assert_startup_error(result, "--ssl-ca-certs")


# ------------------------------------------------------------------------- ciphers


@pytest.mark.parametrize(
    ("server_cipher", "expected", "version"),
    [
        # OpenSSL names
        ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2"),
        ("ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305", "TLSv1.2"),
        # IANA names
        (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "TLSv1.2",
        ),
        ("TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256", "TLSv1.3"),
        ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", "TLSv1.3"),
    ],
)
def test_single_cipher_is_negotiated(
    start_server: ServerFactory,
    tls_certs: Certs,
    server_cipher: str,
    expected: str,
    version: str,
) -> None:
    server = start_server(
        "echo_app:app", *tls_certs.server_args(), "--ssl-ciphers", server_cipher
    )
    cipher = handshake(server, client_context(tls_certs))[1]
    assert cipher is not None
    assert cipher[:2] == (expected, version)
    assert get_json(server, tls_certs)["scheme"] == "https"


def test_cipher_list_with_several_suites(
    start_server: ServerFactory, tls_certs: Certs
) -> None:
    server = start_server(
        "echo_app:app",
        *tls_certs.server_args(),
        "--ssl-ciphers",
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384",
    )
    cipher = handshake(server, client_context(tls_certs))[1]
    assert cipher is not None
    assert cipher[:2] == ("ECDHE-RSA-AES256-GCM-SHA384", "TLSv1.2")


def test_unknown_cipher_name(tls_certs: Certs) -> None:
    result = run_to_exit(
        "echo_app:app",
        *tls_certs.server_args(),
        "--ssl-ciphers",
        "ECDHE-RSA-AES128-GCM-SHA256:NOT-A-CIPHER",
    )
    assert_startup_error(result, "NOT-A-CIPHER")


# ------------------------------------------------------------------------- Alt-Svc


def test_no_alt_svc_without_http3(tls_echo: Server, tls_certs: Certs) -> None:
    response = requests.get(https_url(tls_echo), verify=str(tls_certs.ca), timeout=10)
    assert "alt-svc" not in response.headers
    with h2_client(tls_certs) as client:
        assert "alt-svc" not in client.get(https_url(tls_echo)).headers


def test_no_alt_svc_on_plain_http(echo_server: Server) -> None:
    assert "alt-svc" not in requests.get(echo_server.url("/"), timeout=10).headers


def test_alt_svc_with_http3(start_server: ServerFactory, tls_certs: Certs) -> None:
    server = start_server("echo_app:app", *tls_certs.server_args(), "--http3")
    expected = f'h3=":{server.port}"; ma=86400'
    response = requests.get(https_url(server), verify=str(tls_certs.ca), timeout=10)
    assert response.headers["alt-svc"] == expected
    # the app's own headers are all still there
    assert response.headers["content-type"].startswith("application/json")
    assert response.raw.headers.getlist("set-cookie") == ["first=1", "second=2"]
    with h2_client(tls_certs) as client:
        h2_response = client.get(https_url(server))
    assert h2_response.http_version == "HTTP/2"
    assert h2_response.headers.get_list("alt-svc") == [expected]


# ----------------------------------------------------------- WebSocket, WSGI, native


def test_websocket_over_tls_scope_is_wss(
    start_server: ServerFactory, tls_certs: Certs
) -> None:
    server = start_server("ws_echo:app", *tls_certs.server_args())
    url = f"wss://localhost:{server.port}/scope"
    with ws_connect(url, ssl=client_context(tls_certs), open_timeout=10) as ws:
        scope = json.loads(ws.recv(timeout=10))
        ws.send("ping")
        assert ws.recv(timeout=10) == "ping"
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "wss"


def test_wsgi_url_scheme_https(start_server: ServerFactory, tls_certs: Certs) -> None:
    server = start_server("wsgi_app:app", *tls_certs.server_args())
    environ = get_json(server, tls_certs, "/env/tls?q=1")
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["PATH_INFO"] == "/env/tls"
    with h2_client(tls_certs) as client:
        h2_environ = client.get(https_url(server, "/env/h2")).json()
    assert h2_environ["wsgi.url_scheme"] == "https"
    assert h2_environ["SERVER_PROTOCOL"] == "HTTP/2"


def test_native_request_url_https(
    start_server: ServerFactory, tls_certs: Certs
) -> None:
    server = start_server("tls_native_app:app", *tls_certs.server_args())
    data = get_json(server, tls_certs, "/url?x=1")
    assert data["scheme"] == "https"
    assert data["url"] == f"https://127.0.0.1:{server.port}/url?x=1"
    assert data["path"] == "/url"
    assert data["query"] == "x=1"
    with h2_client(tls_certs) as client:
        h2_data = client.get(https_url(server, "/url", host="localhost")).json()
    assert h2_data["scheme"] == "https"
    assert h2_data["url"] == f"https://localhost:{server.port}/url"


def test_native_plain_http_url_is_http(start_server: ServerFactory) -> None:
    server = start_server("tls_native_app:app")
    data = requests.get(server.url("/url"), timeout=10).json()
    assert data["scheme"] == "http"
    assert data["url"] == f"http://127.0.0.1:{server.port}/url"


# --------------------------------------------------------------------- --ssl-version


def versioned_context(certs: Certs, version: ssl.TLSVersion) -> ssl.SSLContext:
    context = client_context(certs)
    context.minimum_version = version
    context.maximum_version = version
    return context


@pytest.mark.parametrize("number", ["17", "2"])
def test_ssl_version_default_negotiates_tls12_and_tls13(
    start_server: ServerFactory, tls_certs: Certs, number: str
) -> None:
    server = start_server("echo_app:app", *tls_certs.server_args(), "--ssl-version", number)
    for version, name in [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")]:
        _, cipher = handshake(server, versioned_context(tls_certs, version))
        assert cipher is not None and cipher[1] == name


def test_ssl_version_5_offers_tls12_only(start_server: ServerFactory, tls_certs: Certs) -> None:
    server = start_server("echo_app:app", *tls_certs.server_args(), "--ssl-version", "5")
    _, cipher = handshake(server, versioned_context(tls_certs, ssl.TLSVersion.TLSv1_2))
    assert cipher is not None and cipher[1] == "TLSv1.2"
    with pytest.raises(ssl.SSLError):
        handshake(server, versioned_context(tls_certs, ssl.TLSVersion.TLSv1_3))
    # Still serving after the refused handshake.
    assert get_json(server, tls_certs, "/after")["path"] == "/after"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--ssl-version", "3"], "TLS 1.0"),
        (["--ssl-version", "4"], "TLS 1.1"),
        (["--ssl-version", "16"], "client protocol"),
        (["--ssl-version", "99"], "not one of"),
        (["--ssl-version", "5", "--http3"], "needs TLS 1.3"),
    ],
)
def test_ssl_version_refused_with_one_line(
    tls_certs: Certs, extra: list[str], expected: str
) -> None:
    result = run_to_exit("echo_app:app", *tls_certs.server_args(), *extra)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and expected in errors[0], result.stderr
