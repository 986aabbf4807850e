"""Certificates for the TLS tests (trustme: a throwaway CA, made once per run)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from adapters.transport import Site, TlsCertificates
from adapters.web import load_site


@dataclass(frozen=True)
class Pki:
    ca: trustme.CA
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


def _write_pair(ca: trustme.CA, folder: Path, name: str, hostname: str) -> tuple[Path, Path]:
    cert = ca.issue_cert(hostname)
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key_file.write_bytes(cert.private_key_pem.bytes())
    return cert_file, key_file


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = trustme.CA()
    cert_file, key_file = _write_pair(ca, tmp_path_factory.mktemp("pki"), "server", "localhost")
    return Pki(ca=ca, cert_file=cert_file, key_file=key_file)


@pytest.fixture(scope="session")
def certificates(pki: Pki) -> TlsCertificates:
    return TlsCertificates(str(pki.cert_file), str(pki.key_file))


@pytest.fixture(scope="session")
def site() -> Site:
    return load_site()


@pytest.fixture
def fresh_pair(pki: Pki, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A second certificate for ``localhost`` from the same CA, in files a test may rewrite."""
    yield _write_pair(pki.ca, tmp_path, "renewed", "localhost")
