"""Real IRC clients over TLS (the ``irc+tls`` listener), checking the server's certificate.

Each client trusts the test CA only and verifies the certificate and its
name (``localhost``: clients check a name, not an address), as a user who
connects to port 6697 does; then words cross to a text client and back.
One backend is enough here: the TLS layer is the driver's, shared by all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.server import ServerProcess
from tests.pki import Pki

from .conftest import MakeClient
from .peer import TextPeer
from .servers import HOST

pytestmark = pytest.mark.realclients

WELCOME = "Welcome to the sansio-chat IRC network"


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[ServerProcess]:
    certificate = ("--tls-cert", str(pki.cert_file), "--tls-key", str(pki.key_file))
    server = ServerProcess(
        "select", ("--listen", f"irc+tls://{HOST}:0", "--server-name", "irc.test", *certificate), host=HOST
    )
    try:
        yield server
    finally:
        server.stop()


def test_a_real_client_chats_over_tls(
    make_client: MakeClient, tls_server: ServerProcess, pki: Pki, tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.pem"
    pki.ca.cert_pem.write_to_path(str(ca_file))
    port = next(port for kind, _, port in tls_server.listeners if kind == "irc+tls")
    peer = TextPeer(HOST, tls_server.port, "peer")
    try:
        alice = make_client("alice")
        alice.connect("localhost", port, WELCOME, ca_file=ca_file)  # the name the certificate is for
        alice.join("#lobby")
        peer.expect("[server] alice joined #lobby")
        alice.say("#lobby", "hello over tls")
        peer.expect("[alice] hello over tls")
        peer.send("MSG and back")
        alice.wait_for_line("peer", "and back")
    finally:
        peer.close()
