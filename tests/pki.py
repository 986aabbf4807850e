"""Throwaway certificates for the TLS tests (trustme): a CA, and server certificates it issued."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

#: The names every test server certificate is issued for.
HOSTNAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Pki:
    ca: trustme.CA
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        """A client's context that trusts the CA (and nothing else), with the stdlib's checks."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


def write_pair(ca: trustme.CA, folder: Path, name: str) -> tuple[Path, Path]:
    """A new server certificate from ``ca``, written as ``name.crt`` (the chain) and ``name.key``."""
    cert = ca.issue_cert(*HOSTNAMES)
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key_file.write_bytes(cert.private_key_pem.bytes())
    return cert_file, key_file


def make_pki(folder: Path) -> Pki:
    ca = trustme.CA()
    cert_file, key_file = write_pair(ca, folder, "server")
    return Pki(ca=ca, cert_file=cert_file, key_file=key_file)
