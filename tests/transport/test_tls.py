"""The TLS layer against a real in-memory TLS client (ssl.SSLObject), with trustme certificates."""

from __future__ import annotations

import os
import shutil
import ssl
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.transport import (
    Data,
    Failed,
    PeerClosed,
    Ready,
    Site,
    Stack,
    StackState,
    TlsCertificates,
    TlsSetupError,
    TransportConfig,
)
from tests.pki import Pki

from .peers import TlsClient, feed, pull


@pytest.fixture
def config(certificates: TlsCertificates) -> TransportConfig:
    return TransportConfig(tls=certificates)


def connected(pki: Pki, config: TransportConfig) -> tuple[TlsClient, Stack]:
    stack = Stack(config, now=0.0)
    client = TlsClient(pki.client_context())
    assert client.handshake(stack) == [Ready(secure=True)]
    return client, stack


def test_ready_only_once_the_handshake_is_done(pki: Pki, config: TransportConfig) -> None:
    stack = Stack(config, now=0.0)
    client = TlsClient(pki.client_context())
    assert pull(stack) == []  # nothing before the ClientHello
    with pytest.raises(ssl.SSLWantReadError):
        client.ssl.do_handshake()
    assert feed(stack, client.outgoing.read()) == []  # ServerHello goes out, no Ready yet
    assert stack.state is StackState.PENDING
    assert stack.data_to_send()
    stack2 = Stack(config, now=0.0)
    assert TlsClient(pki.client_context()).handshake(stack2) == [Ready(secure=True)]
    assert stack2.state is StackState.OPEN


def test_application_data_both_ways(pki: Pki, config: TransportConfig) -> None:
    client, stack = connected(pki, config)
    events = feed(stack, client.encrypt(b"MSG hello\n") + client.encrypt(b"WHO\n"))
    assert b"".join(e.data for e in events if isinstance(e, Data)) == b"MSG hello\nWHO\n"
    stack.send(b"[server] hi\n")
    assert client.decrypt(stack.data_to_send()) == b"[server] hi\n"
    assert client.ssl.version() in {"TLSv1.2", "TLSv1.3"}


def test_a_flush_is_encrypted_in_one_go(pki: Pki, config: TransportConfig) -> None:
    """A hundred queued lines become one TLS record, not a hundred (each costs ~22 bytes more)."""
    client, stack = connected(pki, config)
    for i in range(100):
        stack.send(b"line %03d\n" % i)
    ciphertext = stack.data_to_send()
    assert len(ciphertext) < 900 + 100
    assert client.decrypt(ciphertext) == b"".join(b"line %03d\n" % i for i in range(100))
    assert stack.data_to_send() == b""


def test_close_sends_pending_data_then_close_notify(pki: Pki, config: TransportConfig) -> None:
    client, stack = connected(pki, config)
    stack.send(b"[server] Goodbye, alice.\n")
    last = stack.close()
    assert client.decrypt(last) == b"[server] Goodbye, alice.\n"
    assert client.got_close_notify()
    assert stack.state is StackState.CLOSED
    assert stack.close() == b""
    stack.send(b"late")
    assert stack.data_to_send() == b""
    stack.receive_data(b"ignored after close")
    assert pull(stack) == []


def test_peer_close_notify_is_an_orderly_end_and_we_may_still_answer(
    pki: Pki, config: TransportConfig
) -> None:
    client, stack = connected(pki, config)
    data = client.encrypt(b"QUIT\n")
    with pytest.raises(ssl.SSLWantReadError):
        client.ssl.unwrap()
    assert feed(stack, data + client.outgoing.read()) == [Data(data=b"QUIT\n"), PeerClosed()]
    stack.receive_eof()
    assert pull(stack) == []
    stack.send(b"[server] Goodbye, guest1.\n")
    assert client.decrypt(stack.close()) == b"[server] Goodbye, guest1.\n"


def test_eof_without_close_notify_is_a_truncation(pki: Pki, config: TransportConfig) -> None:
    client, stack = connected(pki, config)
    stack.receive_data(client.encrypt(b"MSG hi\n"))
    stack.receive_eof()
    events = pull(stack)
    assert events[0] == Data(data=b"MSG hi\n")  # what came before the EOF is delivered first
    assert isinstance(events[1], Failed) and "truncated" in events[1].reason
    assert len(events) == 2
    last = stack.close()  # no close_notify after a failure of TLS itself, at most an alert
    try:
        client.decrypt(last)
    except ssl.SSLError:
        return  # the alert
    assert not client.got_close_notify()


def test_eof_during_the_handshake_fails(pki: Pki, config: TransportConfig) -> None:
    stack = Stack(config, now=0.0)
    client = TlsClient(pki.client_context())
    with pytest.raises(ssl.SSLWantReadError):
        client.ssl.do_handshake()
    hello = client.outgoing.read()
    stack.receive_data(hello[: len(hello) // 2])
    stack.receive_eof()
    events = pull(stack)
    assert len(events) == 1 and isinstance(events[0], Failed)
    assert "handshake" in events[0].reason


@pytest.mark.parametrize(
    "garbage",
    [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello", b"\x00" * 64, os.urandom(300)],
    ids=["plain-http", "bad-hello", "zeros", "random"],
)
def test_garbage_instead_of_a_handshake_fails_cleanly(config: TransportConfig, garbage: bytes) -> None:
    stack = Stack(config, now=0.0)
    events = feed(stack, garbage)
    assert len(events) == 1 and isinstance(events[0], Failed)
    assert "\n" not in events[0].reason
    stack.data_to_send()  # an alert, perhaps
    assert stack.close() == b""
    assert stack.state is StackState.CLOSED


def test_garbage_after_the_handshake_fails_cleanly(pki: Pki, config: TransportConfig) -> None:
    client, stack = connected(pki, config)
    record = bytearray(client.encrypt(b"MSG hello\n"))
    record[-1] ^= 0xFF  # a corrupted record: its authentication fails
    events = feed(stack, bytes(record))
    assert len(events) == 1 and isinstance(events[0], Failed)


def test_the_handshake_has_a_deadline(pki: Pki, config: TransportConfig) -> None:
    stack = Stack(config, now=100.0)
    assert stack.next_deadline == 100.0 + config.tls_handshake_seconds
    stack.tick(100.0 + config.tls_handshake_seconds - 0.01)
    assert pull(stack) == []
    stack.tick(100.0 + config.tls_handshake_seconds)
    assert pull(stack) == [Failed(reason="TLS handshake timed out")]
    assert stack.next_deadline is None
    # a handshake finished in time leaves no timer running
    _, done = connected(pki, config)
    assert done.next_deadline is None
    done.tick(1e9)
    assert pull(done) == []


def test_tls_1_1_clients_are_refused(pki: Pki, config: TransportConfig) -> None:
    context = pki.client_context()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    stack = Stack(config, now=0.0)
    client = TlsClient(context)
    try:
        client.ssl.do_handshake()
    except ssl.SSLError:  # this OpenSSL will not even offer TLS 1.1: refused on the client's side
        return
    events = feed(stack, client.outgoing.read())
    assert len(events) == 1 and isinstance(events[0], Failed)


def test_tls_1_2_clients_are_served(pki: Pki, config: TransportConfig) -> None:
    context = pki.client_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    client = TlsClient(context)
    stack = Stack(config, now=0.0)
    assert client.handshake(stack) == [Ready(secure=True)]
    assert client.ssl.version() == "TLSv1.2"
    assert feed(stack, client.encrypt(b"PING\n")) == [Data(data=b"PING\n")]


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(["h2", "http/1.1"], "http/1.1"), (["http/1.1"], "http/1.1"), (["h2"], None), ([], None)],
    ids=["h2-and-http1.1", "http1.1", "h2-only", "no-alpn"],
)
def test_alpn_settles_on_http_1_1_where_http_is_served_and_says_nothing_on_a_stream(
    pki: Pki, site: Site, offered: list[str], chosen: str | None
) -> None:
    """HTTP/1.1 is all the HTTP layer speaks; a text or IRC listener has no ALPN name and claims none.

    A client offering only what the server lacks gets no ALPN answer and
    the handshake goes on.  A reload keeps each context's ALPN.
    """
    certificates = TlsCertificates(str(pki.cert_file), str(pki.key_file))
    for reloaded in (False, True):
        if reloaded:
            certificates.reload()
        for config, expected in (
            (TransportConfig(tls=certificates, site=site), chosen),
            (TransportConfig(tls=certificates), None),
        ):
            context = pki.client_context()
            if offered:
                context.set_alpn_protocols(offered)
            client = TlsClient(context)
            client.handshake(Stack(config, now=0.0))
            assert client.ssl.version() in {"TLSv1.2", "TLSv1.3"}  # the handshake is done
            assert client.ssl.selected_alpn_protocol() == expected


def test_reload_reaches_new_connections_and_spares_open_ones(
    pki: Pki, fresh_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    cert_file, key_file = tmp_path / "live.crt", tmp_path / "live.key"
    shutil.copy(pki.cert_file, cert_file)
    shutil.copy(pki.key_file, key_file)
    certificates = TlsCertificates(str(cert_file), str(key_file))
    config = TransportConfig(tls=certificates)
    before = Stack(config, now=0.0)  # accepted before the renewal, handshake after it

    shutil.copy(fresh_pair[0], cert_file)
    shutil.copy(fresh_pair[1], key_file)
    certificates.reload()

    def served_certificate(stack: Stack) -> bytes:
        client = TlsClient(pki.client_context())
        client.handshake(stack)
        der = client.ssl.getpeercert(binary_form=True)
        assert der is not None
        return der

    old, new = served_certificate(before), served_certificate(Stack(config, now=0.0))
    assert old == ssl.PEM_cert_to_DER_cert(pki.cert_file.read_text())
    assert new == ssl.PEM_cert_to_DER_cert(fresh_pair[0].read_text())


def test_a_failed_reload_keeps_the_current_certificate(pki: Pki, tmp_path: Path) -> None:
    cert_file = tmp_path / "live.crt"
    shutil.copy(pki.cert_file, cert_file)
    certificates = TlsCertificates(str(cert_file), str(pki.key_file))
    context = certificates.context
    cert_file.write_text("not a certificate\n")
    with pytest.raises(TlsSetupError) as caught:
        certificates.reload()
    assert certificates.context is context
    assert "\n" not in str(caught.value)


def test_setup_errors_are_one_line(pki: Pki, fresh_pair: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(TlsSetupError, match="cannot read TLS certificate") as missing:
        TlsCertificates(str(tmp_path / "nope.crt"), str(tmp_path / "nope.key"))
    with pytest.raises(TlsSetupError, match="cannot use TLS certificate") as mismatch:
        TlsCertificates(str(pki.cert_file), str(fresh_pair[1]))
    for caught in (missing, mismatch):
        assert "\n" not in str(caught.value)
    both = tmp_path / "both.pem"
    both.write_bytes(pki.key_file.read_bytes() + pki.cert_file.read_bytes())
    TlsCertificates(str(both))  # one file with key and chain is fine


def test_an_encrypted_key_is_refused_without_asking_for_a_pass_phrase(pki: Pki, tmp_path: Path) -> None:
    """OpenSSL would ask the terminal: a server started there (or sent SIGHUP) would wait, serving nobody."""
    key = serialization.load_pem_private_key(pki.key_file.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.BestAvailableEncryption(b"pass phrase"),
        )
    )
    with pytest.raises(TlsSetupError) as caught:
        TlsCertificates(str(pki.cert_file), str(encrypted))
    assert str(caught.value) == (
        f"cannot use TLS certificate {pki.cert_file} with key {encrypted}: "
        "the key is encrypted (give it without a pass phrase)"
    )


def test_a_setup_error_names_the_file_that_will_not_do_and_why(pki: Pki, tmp_path: Path) -> None:
    """The operator reads which file is wrong and what is wrong with it, not OpenSSL's ``PEM lib``."""
    cert, key = str(pki.cert_file), str(pki.key_file)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not PEM at all\n")
    missing = str(tmp_path / "missing.pem")
    unusable = "cannot use TLS certificate"
    cases = [
        ((str(garbage), key), f"{unusable} {garbage} with key {key}: no PEM certificate in {garbage}"),
        ((cert, str(garbage)), f"{unusable} {cert} with key {garbage}: no PEM private key in {garbage}"),
        ((cert, None), f"{unusable} {cert} with key {cert}: no PEM private key in {cert}"),
        ((missing, key), f"cannot read TLS certificate {missing}: No such file or directory"),
        ((cert, missing), f"cannot read TLS key {missing}: No such file or directory"),
    ]
    for (cert_file, key_file), message in cases:
        with pytest.raises(TlsSetupError) as caught:
            TlsCertificates(cert_file, key_file)
        assert str(caught.value) == message


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12))
def test_any_split_of_the_records_gives_the_same_bytes(
    pki: Pki, certificates: TlsCertificates, cuts: list[int]
) -> None:
    client, stack = connected(pki, TransportConfig(tls=certificates))
    text = b"".join(b"MSG line %d\n" % i for i in range(60))
    ciphertext = b"".join(client.encrypt(text[i : i + 100]) for i in range(0, len(text), 100))
    with pytest.raises(ssl.SSLWantReadError):
        client.ssl.unwrap()
    ciphertext += client.outgoing.read()
    points = sorted({c % (len(ciphertext) + 1) for c in cuts})
    events = []
    for start, end in zip([0, *points], [*points, len(ciphertext)], strict=True):
        events += feed(stack, ciphertext[start:end])
    assert b"".join(e.data for e in events if isinstance(e, Data)) == text
    assert events[-1] == PeerClosed()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.lists(st.binary(max_size=200), max_size=5), eof=st.booleans())
def test_arbitrary_bytes_never_raise(
    pki: Pki, certificates: TlsCertificates, junk: list[bytes], eof: bool
) -> None:
    config = TransportConfig(tls=certificates)
    for stack in (Stack(config, now=0.0), connected(pki, config)[1]):
        for chunk in junk:
            stack.receive_data(chunk)
            pull(stack)
            stack.data_to_send()
        if eof:
            stack.receive_eof()
            pull(stack)
        stack.close()
