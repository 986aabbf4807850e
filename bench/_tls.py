"""A throwaway certificate for the TLS runs: a CA the load generator trusts, and a server certificate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsFiles:
    cert: Path  # the server's certificate chain, PEM
    key: Path  # its private key, PEM
    ca: Path  # what a client trusts, PEM


def make_tls_files(folder: Path) -> TlsFiles:
    """A new CA and a certificate for localhost and 127.0.0.1 (trustme: pip install '.[bench]')."""
    import trustme  # noqa: PLC0415 - only for TLS runs

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    files = TlsFiles(cert=folder / "server.crt", key=folder / "server.key", ca=folder / "ca.crt")
    cert.cert_chain_pems[0].write_to_path(str(files.cert))
    for blob in cert.cert_chain_pems[1:]:
        blob.write_to_path(str(files.cert), append=True)
    cert.private_key_pem.write_to_path(str(files.key))
    ca.cert_pem.write_to_path(str(files.ca))
    return files
