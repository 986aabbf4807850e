"""Whole stacks, as a backend drives them: stream, TLS stream, HTTP+WebSocket, and all of it under TLS."""

from __future__ import annotations

import contextlib
import ssl

import h11
import pytest
from wsproto import WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, TextMessage
from wsproto.frame_protocol import Opcode

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

from .peers import HttpClient, TlsClient, feed, pull, raw_frame, upgrade_request, ws_events

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


def wss_stack(pki: Pki, certificates: TlsCertificates) -> tuple[Stack, TlsClient, WSConnection]:
    """A stack with a WebSocket over TLS open, as the driver flushes it, and its client's two ends."""
    stack = Stack(TransportConfig(tls=certificates, site=SITE), now=0.0)
    tls = TlsClient(pki.client_context())
    tls.handshake(stack)
    ws, request = upgrade_request("https://chat.test:8080")
    assert feed(stack, tls.encrypt(request)) == [Ready(secure=True)]
    ws_events(ws, tls.decrypt(stack.flush(b"")))  # the 101
    return stack, tls, ws


def test_a_flush_is_one_encryption_and_keeps_the_layers_words_first(
    pki: Pki, certificates: TlsCertificates
) -> None:
    stack, tls, ws = wss_stack(pki, certificates)
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


def test_under_tls_the_answer_to_messages_before_a_broken_frame_goes_out_before_its_close_frame(
    pki: Pki, certificates: TlsCertificates
) -> None:
    """As a backend seals it: the core's answer reaches the stack after the failure, and still goes first.

    Without TLS the driver queues the answer itself, before the close
    frame; under TLS everything passes through the stack at the flush, so
    the stack must take it then and put the close frame after it.
    """
    stack, tls, ws = wss_stack(pki, certificates)
    data = ws.send(TextMessage(data="ping")) + raw_frame(Opcode.BINARY, b"\x00")
    events = feed(stack, tls.encrypt(data))
    assert events[0] == Messages(texts=(b"ping",))
    assert isinstance(events[1], Failed) and events[1].protocol_error
    stack.send(text_frame("pong"))  # the core's answer, sealed at the flush
    assert ws_events(ws, tls.decrypt(stack.close(1000))) == [
        TextMessage(data="pong"),
        CloseConnection(code=1003, reason="binary messages are not accepted"),
    ]
    assert tls.got_close_notify()


def test_a_stream_is_not_framed_and_a_plain_flush_passes_bytes_through() -> None:
    stack = Stack(TransportConfig(), now=0.0)
    pull(stack)
    assert feed(stack, b"MSG hi\n") == [Data(data=b"MSG hi\n")]
    assert stack.flush(b"[server] hi\n") == b"[server] hi\n"


# -- plain text on a TLS port ---------------------------------------------------------------------

TLS_REQUIRED = b"[server] Error: this port speaks TLS\n"


def test_a_plain_text_client_on_a_tls_stream_is_told_so_in_plain_text(certificates: TlsCertificates) -> None:
    stack = Stack(TransportConfig(tls=certificates, plain_text_answer=TLS_REQUIRED), now=0.0)
    assert feed(stack, b"N") == [Failed(reason="plain text on a TLS port")]  # its first byte is enough
    assert feed(stack, b"ICK bob\n") == []
    assert not stack.secure
    assert stack.data_to_send() + stack.close() == TLS_REQUIRED  # unencrypted: it reads it as it is
    assert stack.next_deadline is None


def test_a_tls_handshake_is_never_taken_for_plain_text(pki: Pki, certificates: TlsCertificates) -> None:
    stack = Stack(TransportConfig(tls=certificates, plain_text_answer=TLS_REQUIRED), now=0.0)
    tls = TlsClient(pki.client_context())
    assert tls.handshake(stack) == [Ready(secure=True)]
    assert feed(stack, tls.encrypt(b"NICK bob\n")) == [Data(data=b"NICK bob\n")]


def test_garbage_that_is_not_text_still_fails_the_handshake(certificates: TlsCertificates) -> None:
    stack = Stack(TransportConfig(tls=certificates, plain_text_answer=TLS_REQUIRED), now=0.0)
    [failed] = feed(stack, b"\x15\x03\x03\x00\x02\x02\x28" * 3)
    assert isinstance(failed, Failed) and failed.reason.startswith("TLS handshake failed")
    assert TLS_REQUIRED not in stack.data_to_send() + stack.close()


def _plain_request(stack: Stack, request: bytes) -> tuple[list[object], h11.Response, bytes]:
    events: list[object] = []
    for byte in range(len(request)):  # however TCP splits it
        events += feed(stack, request[byte : byte + 1])
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(stack.data_to_send() + stack.close())
    response = client.next_event()
    assert isinstance(response, h11.Response)
    body = client.next_event()
    return events, response, body.data if isinstance(body, h11.Data) else b""


def test_plain_http_on_the_https_port_is_sent_to_https(certificates: TlsCertificates) -> None:
    stack = Stack(TransportConfig(tls=certificates, site=SITE), now=0.0)
    request = b"GET /?room=den HTTP/1.1\r\nHost: chat.test:8443\r\n\r\n"
    events, response, body = _plain_request(stack, request)
    assert events == [
        Served(method="GET", target="/?room=den", status=307),
        Failed(reason="plain HTTP request on the https port"),
    ]
    assert dict(response.headers)[b"location"] == b"https://chat.test:8443/?room=den"
    assert body == b"This port speaks HTTPS: https://chat.test:8443/?room=den\n"


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET / HTTP/1.0\r\n\r\n",  # no Host
        b"GET / HTTP/1.1\r\n\r\n",  # no Host where HTTP/1.1 requires one: a malformed request
        b"GET / HTTP/1.1\r\nHost: evil.test/x?\r\n\r\n",  # not a host and port
    ],
)
def test_plain_http_without_a_usable_host_is_told_to_use_https(
    certificates: TlsCertificates, request_head: bytes
) -> None:
    stack = Stack(TransportConfig(tls=certificates, site=SITE), now=0.0)
    events, response, body = _plain_request(stack, request_head)
    assert [type(event) for event in events] == [Served, Failed]
    assert response.status_code == 400
    assert b"location" not in dict(response.headers)
    assert body == b"400 Bad Request\nThis port speaks HTTPS: use https:// in the address.\n"


def test_a_slow_plain_http_request_on_the_https_port_still_has_its_deadline(
    certificates: TlsCertificates,
) -> None:
    stack = Stack(TransportConfig(tls=certificates, site=SITE, head_seconds=5.0), now=0.0)
    stack.tick(1.0)
    assert feed(stack, b"GET / HT") == []
    assert stack.next_deadline == 6.0  # counted from when it spoke: no TLS handshake is coming
    stack.tick(6.0)
    assert [type(event) for event in pull(stack)] == [Served, Failed]
    answer = stack.data_to_send()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert answer.endswith(b"408 Request Timeout\nThis port speaks HTTPS: use https:// in the address.\n")


def test_a_plain_http_head_too_large_for_the_https_port_is_told_to_use_https(
    certificates: TlsCertificates,
) -> None:
    stack = Stack(TransportConfig(tls=certificates, site=SITE, max_head_bytes=256), now=0.0)
    events = feed(stack, b"GET / HTTP/1.1\r\nHost: chat.test\r\nX-Filler: " + b"x" * 400 + b"\r\n\r\n")
    assert [type(event) for event in events] == [Served, Failed]
    answer = stack.data_to_send()
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert answer.endswith(b"This port speaks HTTPS: use https:// in the address.\n")
