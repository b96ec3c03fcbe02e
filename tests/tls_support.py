"""Test certificates for the TLS and HTTP/3 tests, made with `cryptography`.

`make_certs(directory)` writes a self-signed CA, server certificates for
localhost/127.0.0.1 (one RSA, one EC P-256) with their keys in every format
covetpy reads, a client certificate signed by the CA, and a client certificate
signed by a second, unrelated CA.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_PASSWORD = "covet-secret"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Certs:
    directory: Path
    ca: Path  # the CA certificate that signed the server and client certificates
    rsa_cert: Path  # server certificate with an RSA key
    rsa_pkcs8: Path  # "BEGIN PRIVATE KEY"
    rsa_pkcs1: Path  # "BEGIN RSA PRIVATE KEY"
    rsa_pkcs8_encrypted: Path  # "BEGIN ENCRYPTED PRIVATE KEY", password KEY_PASSWORD
    ec_cert: Path  # server certificate with an EC P-256 key
    ec_pkcs8: Path
    ec_sec1: Path  # "BEGIN EC PRIVATE KEY"
    client_cert: Path  # client certificate signed by `ca`
    client_key: Path
    other_client_cert: Path  # client certificate signed by another CA
    other_client_key: Path
    garbage: Path  # a file that is neither a certificate nor a key

    def server_args(self, kind: str = "rsa") -> list[str]:
        """--ssl-certfile/--ssl-keyfile for the RSA (default) or EC server key."""
        if kind == "ec":
            return [
                "--ssl-certfile",
                str(self.ec_cert),
                "--ssl-keyfile",
                str(self.ec_pkcs8),
            ]
        return [
            "--ssl-certfile",
            str(self.rsa_cert),
            "--ssl-keyfile",
            str(self.rsa_pkcs8),
        ]


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CovetPy tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: str, issuer: x509.Name, key: PrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 (3.10)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    )


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(common_name, _name(common_name), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    common_name: str,
    key: PrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    server: bool,
) -> x509.Certificate:
    builder = (
        _builder(common_name, ca_cert.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [
                    ExtendedKeyUsageOID.SERVER_AUTH
                    if server
                    else ExtendedKeyUsageOID.CLIENT_AUTH
                ]
            ),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256())


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(
    path: Path,
    key: PrivateKey,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
    password: str | None = None,
) -> Path:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, encryption))
    return path


def make_certs(directory: Path) -> Certs:
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ca("CovetPy test CA")
    other_ca_cert, other_ca_key = _ca("Unrelated test CA")

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    other_client_key = ec.generate_private_key(ec.SECP256R1())
    trad = serialization.PrivateFormat.TraditionalOpenSSL

    garbage = directory / "garbage.pem"
    garbage.write_text("this is not a PEM file\n", encoding="ascii")
    return Certs(
        directory=directory,
        ca=_write_cert(directory / "ca.pem", ca_cert),
        rsa_cert=_write_cert(
            directory / "server-rsa.pem",
            _leaf("localhost", rsa_key, ca_cert, ca_key, server=True),
        ),
        rsa_pkcs8=_write_key(directory / "server-rsa-pkcs8.key", rsa_key),
        rsa_pkcs1=_write_key(directory / "server-rsa-pkcs1.key", rsa_key, trad),
        rsa_pkcs8_encrypted=_write_key(
            directory / "server-rsa-encrypted.key",
            rsa_key,
            serialization.PrivateFormat.PKCS8,
            KEY_PASSWORD,
        ),
        ec_cert=_write_cert(
            directory / "server-ec.pem",
            _leaf("localhost", ec_key, ca_cert, ca_key, server=True),
        ),
        ec_pkcs8=_write_key(directory / "server-ec-pkcs8.key", ec_key),
        ec_sec1=_write_key(directory / "server-ec-sec1.key", ec_key, trad),
        client_cert=_write_cert(
            directory / "client.pem",
            _leaf("test client", client_key, ca_cert, ca_key, server=False),
        ),
        client_key=_write_key(directory / "client.key", client_key),
        other_client_cert=_write_cert(
            directory / "other-client.pem",
            _leaf(
                "stranger", other_client_key, other_ca_cert, other_ca_key, server=False
            ),
        ),
        other_client_key=_write_key(directory / "other-client.key", other_client_key),
        garbage=garbage,
    )
