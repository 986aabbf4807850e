"""Whole stacks, as a backend drives them: stream, TLS stream, HTTP+WebSocket, and all of it under TLS."""

from __future__ import annotations

import contextlib
import ssl

from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, TextMessage

from adapters.transport import (
    Data,
    Failed,
    Messages,
    PeerClosed,
    Ready,
    Served,
    Site,
    Stack,
    StackState,
    TlsCertificates,
    TransportConfig,
    text_frame,
)
from tests.pki import Pki

from .peers import HttpClient, TlsClient, feed, pull, upgrade_request, ws_events

SITE = Site({"index.html": b"<!doctype html><title>chat</title>"})


def test_a_plain_stream_is_ready_at_once_and_passes_bytes_through() -> None:
    stack = Stack(TransportConfig(), now=0.0)
    assert stack.next_deadline is None
    assert pull(stack) == [Ready(secure=False)]
    assert feed(stack, b"NICK alice\nMSG hi") == [Data(data=b"NICK alice\nMSG hi")]
    stack.send(b"[server] You are now known as alice\n")
    stack.send(b"[bob] hi\n")
    assert stack.data_to_send() == b"[server] You are now known as alice\n[bob] hi\n"
    assert stack.data_to_send() == b""
    stack.receive_eof()
    assert pull(stack) == [PeerClosed()]
    stack.send(b"[server] Goodbye, alice.\n")  # half-closed: the peer still reads
    assert stack.close() == b"[server] Goodbye, alice.\n"
    assert stack.state is StackState.CLOSED


def test_a_stream_hands_up_chunks_one_at_a_time() -> None:
    stack = Stack(TransportConfig(), now=0.0)
    pull(stack)
    stack.receive_data(b"one\n")
    stack.receive_data(b"two\n")
    assert stack.next_event() == Data(data=b"one\n")
    assert stack.next_event() == Data(data=b"two\n")
    assert stack.next_event() is None


def test_nothing_is_sent_before_ready() -> None:
    stack = Stack(TransportConfig(site=SITE), now=0.0)
    stack.send(b"not for a page fetch")
    assert stack.data_to_send() == b""


def test_https_from_tls_handshake_to_websocket_close(pki: Pki, certificates: TlsCertificates) -> None:
    stack = Stack(TransportConfig(tls=certificates, site=SITE), now=0.0)
    tls = TlsClient(pki.client_context())
    assert tls.handshake(stack) == []  # TLS is up, but this is not a chat connection yet
    assert stack.state is StackState.PENDING

    http = HttpClient()
    assert feed(stack, tls.encrypt(http.request())) == [Served(method="GET", target="/", status=200)]
    [(response, body)] = http.responses(tls.decrypt(stack.data_to_send()))
    assert (response.status_code, body) == (200, b"<!doctype html><title>chat</title>")

    ws, request = upgrade_request("https://chat.test:8080")
    assert feed(stack, tls.encrypt(request)) == [Ready(secure=True)]
    assert ws_events(ws, tls.decrypt(stack.data_to_send())) == [AcceptConnection()]

    data = ws.send(TextMessage(data='{"cmd":"msg","text":"hi"}')) + ws.send(Ping(payload=b"?"))
    assert feed(stack, tls.encrypt(data)) == [Messages(texts=(b'{"cmd":"msg","text":"hi"}',))]
    stack.send(text_frame('{"type":"message"}'))
    assert ws_events(ws, tls.decrypt(stack.data_to_send())) == [
        Pong(payload=b"?"),
        TextMessage(data='{"type":"message"}'),
    ]

    last = stack.close()  # the close frame, then close_notify, in that order
    assert ws_events(ws, tls.decrypt(last)) == [CloseConnection(code=1000, reason="")]
    assert tls.got_close_notify()


def test_https_deadlines_run_one_after_the_other(pki: Pki, certificates: TlsCertificates) -> None:
    config = TransportConfig(tls=certificates, site=SITE, tls_handshake_seconds=5.0, head_seconds=20.0)
    stack = Stack(config, now=0.0)
    assert stack.next_deadline == 5.0
    stack.tick(3.0)
    TlsClient(pki.client_context()).handshake(stack)
    assert stack.next_deadline == 23.0  # the request head's deadline starts after the handshake
    stack.tick(23.0)
    assert pull(stack) == [Failed(reason="idle HTTP connection timed out")]
    assert stack.next_deadline is None


def test_an_http_failure_under_tls_still_ends_with_close_notify(
    pki: Pki, certificates: TlsCertificates
) -> None:
    stack = Stack(TransportConfig(tls=certificates, site=SITE), now=0.0)
    tls = TlsClient(pki.client_context())
    tls.handshake(stack)
    events = feed(stack, tls.encrypt(b"NONSENSE\r\n\r\n"))
    assert events[0] == Served(method="-", target="-", status=400)
    assert isinstance(events[1], Failed)
    answer = tls.decrypt(stack.data_to_send() + stack.close())
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert tls.got_close_notify()


def test_tls_close_notify_under_http_is_an_orderly_end(pki: Pki, certificates: TlsCertificates) -> None:
    stack = Stack(TransportConfig(tls=certificates, site=SITE), now=0.0)
    tls = TlsClient(pki.client_context())
    tls.handshake(stack)
    with contextlib.suppress(ssl.SSLWantReadError):  # it waits for our close_notify
        tls.ssl.unwrap()
    assert feed(stack, tls.outgoing.read()) == [PeerClosed()]


def test_a_failed_stack_reports_once_and_then_stays_quiet() -> None:
    stack = Stack(TransportConfig(site=SITE), now=0.0)
    events = feed(stack, b"BAD\r\n\r\n")
    assert [type(e) for e in events] == [Served, Failed]
    assert feed(stack, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == []
    stack.receive_eof()
    assert pull(stack) == []
    stack.tick(1e9)
    assert pull(stack) == []


def test_a_flush_is_one_encryption_and_keeps_the_layers_words_first(
    pki: Pki, certificates: TlsCertificates
) -> None:
    stack = Stack(TransportConfig(tls=certificates, site=SITE), now=0.0)
    tls = TlsClient(pki.client_context())
    tls.handshake(stack)
    ws, request = upgrade_request("https://chat.test:8080")
    assert feed(stack, tls.encrypt(request)) == [Ready(secure=True)]
    ws_events(ws, tls.decrypt(stack.flush(b"")))  # the 101
    assert feed(stack, tls.encrypt(ws.send(TextMessage(data="hi")))) == [Messages(texts=(b"hi",))]
    frames = text_frame("one") + text_frame("two")
    assert ws_events(ws, tls.decrypt(stack.flush(frames))) == [
        TextMessage(data="one"),
        TextMessage(data="two"),
    ]
    assert feed(stack, tls.encrypt(ws.send(Ping(payload=b"?")))) == []
    assert stack.has_output  # the pong, before anything flushed after it
    assert ws_events(ws, tls.decrypt(stack.flush(text_frame("three")))) == [
        Pong(payload=b"?"),
        TextMessage(data="three"),
    ]
    assert stack.flush(b"") == b""


def test_a_stream_is_not_framed_and_a_plain_flush_passes_bytes_through() -> None:
    stack = Stack(TransportConfig(), now=0.0)
    pull(stack)
    assert feed(stack, b"MSG hi\n") == [Data(data=b"MSG hi\n")]
    assert stack.flush(b"[server] hi\n") == b"[server] hi\n"
