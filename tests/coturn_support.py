"""coturn from Debian's package as a subprocess on 127.0.0.1: free ports, flags only (no
config file, no daemon), a self-signed certificate for TURN over TLS made in the test."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI, free_port

REALM = "expo.test"


@dataclass
class Coturn:
    port: int  # TURN over UDP and TCP
    tls_port: int  # TURN over TLS
    secret: str
    log: Path
    cert: Path  # self-signed, for 127.0.0.1
    spki: str  # base64 SHA-256 of the certificate's public key, for Chromium's --ignore-certificate-errors-spki-list

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def require_turnserver() -> str:
    path = shutil.which("turnserver")
    if path:
        return path
    if IN_CI:
        pytest.fail("turnserver is missing: scripts/test.sh installs Debian's coturn")
    pytest.skip("coturn (turnserver) not installed")


def self_signed(folder: Path) -> tuple[Path, Path, str]:
    """A certificate for 127.0.0.1 and its key, valid for a day, and its public key's SPKI hash."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "turn-cert.pem", folder / "turn-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert_path, key_path, base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def run_coturn(folder: Path, config: Path | None = None) -> Iterator[Coturn]:
    """``turnserver`` with use-auth-secret on 127.0.0.1, relaying to loopback peers only.

    With ``config`` (``infra/turnserver.conf``) coturn reads that file first; the flags
    here, which win over it, keep it on 127.0.0.1 with this test's ports and secret.
    """
    binary = require_turnserver()
    folder.mkdir(parents=True, exist_ok=True)
    cert, key, spki = self_signed(folder)
    server = Coturn(port=free_port(), tls_port=free_port(), secret=secrets.token_hex(16), log=folder / "turnserver.log", cert=cert, spki=spki)
    args = [
        binary,
        *(["-c", str(config)] if config is not None else ["-n"]),  # -n: no configuration file at all
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        f"--listening-port={server.port}",
        f"--tls-listening-port={server.tls_port}",
        "--use-auth-secret",
        f"--static-auth-secret={server.secret}",
        f"--realm={REALM}",
        "--fingerprint",
        f"--cert={cert}",
        f"--pkey={key}",
        "--no-dtls",
        "--no-tlsv1",
        "--no-tlsv1_1",
        # The app under test is on 127.0.0.1: allow loopback peers here, and nothing else.
        "--allow-loopback-peers",
        "--no-multicast-peers",
        "--denied-peer-ip=0.0.0.0-126.255.255.255",
        "--denied-peer-ip=128.0.0.0-255.255.255.255",
        "--no-cli",
        f"--db={folder / 'turndb'}",
        f"--pidfile={folder / 'turnserver.pid'}",
        "--log-file=stdout",
        "--simple-log",
        "--verbose",
    ]
    with server.log.open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not (_listening(server.port) and _listening(server.tls_port)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"turnserver did not start:\n{server.log_text()[-3000:]}")
            time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
