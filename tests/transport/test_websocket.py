"""The WebSocket layer against a wsproto client: the upgrade, messages, limits and every close code."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import Opcode

from adapters.transport import (
    GOING_AWAY,
    MESSAGES_PER_PULL_BYTES,
    Failed,
    FrameEncoder,
    Messages,
    PeerClosed,
    Ready,
    Served,
    Site,
    Stack,
    StackState,
    TransportConfig,
    text_frame,
)
from adapters.transport._http import Upgraded

from .peers import ORIGIN, HttpClient, feed, header, pull, raw_frame, upgrade_request, ws_events

SITE = Site({"index.html": b"<!doctype html>"})
LIMIT = 64


def web(**kw: object) -> TransportConfig:
    return TransportConfig(site=SITE, max_message_bytes=LIMIT, **kw)  # type: ignore[arg-type]


def opened(config: TransportConfig | None = None) -> tuple[WSConnection, Stack]:
    stack = Stack(config or web(), now=0.0)
    ws, request = upgrade_request()
    assert feed(stack, request) == [Ready(secure=False)]
    assert ws_events(ws, stack.data_to_send()) == [AcceptConnection()]
    return ws, stack


def closed_with(ws: WSConnection, stack: Stack) -> int:
    """The code of the close frame the stack sent last."""
    events = ws_events(ws, stack.data_to_send() + stack.close())
    closes = [e for e in events if isinstance(e, CloseConnection)]
    assert len(closes) == 1, events
    return int(closes[0].code)


# -- the upgrade ----------------------------------------------------------------


def test_upgrade_opens_the_connection_once() -> None:
    _, stack = opened()
    assert stack.state is StackState.OPEN
    assert pull(stack) == []


def test_no_extension_is_negotiated_even_when_offered() -> None:
    stack = Stack(web(), now=0.0)
    _, request = upgrade_request(extra=[(b"sec-websocket-extensions", b"permessage-deflate")])
    assert feed(stack, request) == [Ready(secure=False)]
    answer = stack.data_to_send()
    assert answer.startswith(b"HTTP/1.1 101 ")
    assert b"sec-websocket-extensions" not in answer.lower()


def test_frames_sent_with_the_request_are_not_lost() -> None:
    stack = Stack(web(), now=0.0)
    _, request = upgrade_request()
    first = raw_frame(Opcode.TEXT, b'{"cmd":"who"}')
    assert feed(stack, request + first) == [Ready(secure=False), Messages(texts=(b'{"cmd":"who"}',))]


@pytest.mark.parametrize(
    ("origin", "allowed", "ok"),
    [
        (ORIGIN, frozenset(), True),
        ("http://CHAT.test:8080", frozenset(), True),
        ("https://chat.test:8080", frozenset(), True),  # scheme not compared: a TLS proxy in front
        (None, frozenset(), True),  # not a browser page
        ("http://evil.test", frozenset(), False),
        ("http://chat.test:9090", frozenset(), False),
        ("http://chat.test", frozenset(), False),
        ("null", frozenset(), False),
        ("garbage", frozenset(), False),
        ("http://other.test:3000", frozenset({"http://other.test:3000"}), True),
        ("https://other.test", frozenset({"https://other.test"}), True),
        ("http://evil.test", frozenset({"http://other.test:3000"}), False),
        ("http://evil.test", frozenset({"*"}), True),
    ],
)
def test_origin_is_checked(origin: str | None, allowed: frozenset[str], ok: bool) -> None:
    stack = Stack(web(allowed_origins=allowed), now=0.0)
    _, request = upgrade_request(origin)
    events = feed(stack, request)
    if ok:
        assert events == [Ready(secure=False)]
        return
    assert events == [
        Served(method="GET", target="/ws", status=403),
        Failed(reason=f"origin not allowed: {origin}"),
    ]
    assert stack.data_to_send().startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert stack.state is StackState.ENDED


def test_ws_path_without_a_handshake_is_426() -> None:
    stack, client = Stack(web(), now=0.0), HttpClient()
    assert feed(stack, client.request("GET", "/ws")) == [Served(method="GET", target="/ws", status=426)]
    [(response, _)] = client.responses(stack.data_to_send())
    assert header(response, "upgrade") == "websocket"
    assert feed(stack, client.request("HEAD", "/ws")) == [Served(method="HEAD", target="/ws", status=405)]
    [(response, _)] = client.responses(stack.data_to_send())
    assert header(response, "allow") == "GET"


@pytest.mark.parametrize(
    ("drop", "replace", "status"),
    [
        (b"sec-websocket-version", (b"Sec-WebSocket-Version", b"8"), 426),
        (b"sec-websocket-version", None, 400),
        (b"sec-websocket-key", None, 400),
        (b"connection", (b"Connection", b"keep-alive"), 400),
    ],
)
def test_broken_handshakes_are_refused(drop: bytes, replace: tuple[bytes, bytes] | None, status: int) -> None:
    _, request = upgrade_request()
    head, _, _ = request.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(drop + b":")]
    if replace is not None:
        lines.append(b": ".join(replace))
    stack = Stack(web(), now=0.0)
    events = feed(stack, b"\r\n".join(lines) + b"\r\n\r\n")
    assert events[0] == Served(method="GET", target="/ws", status=status)
    assert isinstance(events[1], Failed)
    answer = stack.data_to_send()
    if status == 426:
        assert b"sec-websocket-version: 13" in answer.lower()


def test_a_handshake_needs_exactly_one_host() -> None:
    stack = Stack(web(), now=0.0)
    _, request = upgrade_request()
    request = request.replace(b"\r\n\r\n", b"\r\nHost: second.test\r\n\r\n")
    served = feed(stack, request)[0]
    assert isinstance(served, Served) and served.status == 400  # h11 itself refuses a second Host
    http10 = Stack(web(), now=0.0)
    events = feed(http10, b"GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    assert events[0] == Served(method="GET", target="/ws", status=400)


def test_a_host_wsproto_cannot_read_is_a_clean_refusal() -> None:
    stack = Stack(web(allowed_origins=frozenset({"*"})), now=0.0)
    _, request = upgrade_request(host="xn--a.b")
    events = feed(stack, request)
    assert events[0] == Served(method="GET", target="/ws", status=400)


# -- messages -------------------------------------------------------------------


def test_text_messages_arrive_whole_and_fragments_are_joined() -> None:
    ws, stack = opened()
    data = ws.send(TextMessage(data="hello")) + ws.send(TextMessage(data="wo", message_finished=False))
    data += ws.send(Ping(payload=b"in between")) + ws.send(TextMessage(data="rld"))
    assert feed(stack, data) == [Messages(texts=(b"hello",)), Messages(texts=(b"world",))]
    assert ws_events(ws, stack.data_to_send()) == [Pong(payload=b"in between")]


def test_the_messages_of_one_read_come_up_in_one_pull() -> None:
    ws, stack = opened()
    data = b"".join(ws.send(TextMessage(data=text)) for text in ("one", "twø", "three"))
    assert feed(stack, data) == [Messages(texts=(b"one", "twø".encode(), b"three"))]


def test_a_pull_stops_before_any_other_frame_and_the_rest_stays_raw() -> None:
    ws, stack = opened()
    stack.receive_data(
        ws.send(TextMessage(data="one")) + ws.send(Ping(payload=b"p")) + ws.send(TextMessage(data="two"))
    )
    assert stack.next_event() == Messages(texts=(b"one",))
    assert stack.data_to_send() == b""  # the ping waits: its pong follows the answer to "one"
    assert pull(stack) == [Messages(texts=(b"two",))]
    assert ws_events(ws, stack.data_to_send()) == [Pong(payload=b"p")]


def test_one_pull_brings_a_bounded_batch() -> None:
    ws, stack = opened()
    count = MESSAGES_PER_PULL_BYTES // LIMIT + 3
    stack.receive_data(b"".join(ws.send(TextMessage(data=f"{i:0{LIMIT}d}")) for i in range(count)))
    first = stack.next_event()
    assert isinstance(first, Messages) and len(first.texts) == MESSAGES_PER_PULL_BYTES // LIMIT
    rest = pull(stack)
    assert rest == [Messages(texts=tuple(b"%0*d" % (LIMIT, i) for i in range(len(first.texts), count)))]


def test_a_pong_needs_nothing() -> None:
    ws, stack = opened()
    assert feed(stack, ws.send(Pong(payload=b"x"))) == []
    assert stack.data_to_send() == b""


def test_the_size_limit_counts_utf8_bytes() -> None:
    ws, stack = opened()
    assert feed(stack, ws.send(TextMessage(data="a" * LIMIT))) == [Messages(texts=(b"a" * LIMIT,))]
    accents = "é" * (LIMIT // 2)
    assert feed(stack, ws.send(TextMessage(data=accents))) == [Messages(texts=(accents.encode(),))]
    events = feed(stack, ws.send(TextMessage(data="é" * (LIMIT // 2) + "a")))
    assert events == [
        Failed(reason=f"WebSocket closed with 1009: message too big (max {LIMIT} bytes)", protocol_error=True)
    ]
    assert closed_with(ws, stack) == 1009


def test_fragments_over_the_limit_close_before_the_message_ends() -> None:
    ws, stack = opened()
    data = b"".join(ws.send(TextMessage(data="x" * 20, message_finished=False)) for _ in range(4))
    events = feed(stack, data)  # 80 bytes and still going: no need to wait for the end
    assert len(events) == 1 and isinstance(events[0], Failed) and "1009" in events[0].reason
    assert closed_with(ws, stack) == 1009


def test_a_frame_announcing_a_huge_payload_is_refused_from_what_came() -> None:
    _, stack = opened()
    head = raw_frame(Opcode.TEXT, b"z" * 70_000)[:200]  # 8-byte length, 70,000 announced
    events = feed(stack, head)
    assert len(events) == 1 and isinstance(events[0], Failed) and "1009" in events[0].reason


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (raw_frame(Opcode.BINARY, b"\x00\x01"), 1003),
        (raw_frame(Opcode.TEXT, b"\xff\xfe"), 1007),
        (raw_frame(Opcode.TEXT, b"caf\xc3", fin=False) + raw_frame(Opcode.CONTINUATION, b"("), 1007),
        (raw_frame(Opcode.TEXT, b"hi", masked=False), 1002),
        (raw_frame(Opcode.TEXT, b"hi", rsv=4), 1002),
        (raw_frame(0x3, b"hi"), 1002),
        (raw_frame(Opcode.CONTINUATION, b"hi"), 1002),
        (raw_frame(Opcode.PING, b"hi", fin=False), 1002),
        (raw_frame(Opcode.PING, b"p" * 126), 1002),
        (raw_frame(Opcode.TEXT, b"a", fin=False) + raw_frame(Opcode.TEXT, b"b"), 1002),
        (raw_frame(Opcode.CLOSE, b"\x03"), 1002),
        (raw_frame(Opcode.CLOSE, b"\x03\xe8\xff"), 1007),
    ],
    ids=[
        "binary",
        "invalid-utf8",
        "invalid-utf8-across-fragments",
        "unmasked",
        "reserved-bit",
        "reserved-opcode",
        "stray-continuation",
        "fragmented-ping",
        "long-ping",
        "interleaved-messages",
        "one-byte-close",
        "invalid-utf8-close-reason",
    ],
)
def test_broken_input_closes_with_its_code(frame: bytes, code: int) -> None:
    ws, stack = opened()
    events = feed(stack, ws.send(TextMessage(data="before")) + frame + ws.send(TextMessage(data="after")))
    assert events[0] == Messages(texts=(b"before",))
    assert len(events) == 2 and isinstance(events[1], Failed) and events[1].protocol_error
    assert events[1].reason.startswith(f"WebSocket closed with {code}")
    assert stack.state is StackState.ENDED
    if code == 1007:  # a reason for people, not the decoder's message
        assert events[1].reason == "WebSocket closed with 1007: text is not valid UTF-8"
    stack.send(text_frame("an answer to what came before"))  # it still goes out, before the close frame
    last = ws_events(ws, stack.data_to_send() + stack.close())
    assert last[0] == TextMessage(data="an answer to what came before")
    assert len(last) == 2 and isinstance(last[1], CloseConnection) and last[1].code == code
    stack.send(text_frame("dropped: nothing follows a close frame"))
    assert stack.data_to_send() == b""


# -- closing --------------------------------------------------------------------


def test_the_peer_closes_and_gets_its_code_back_at_close() -> None:
    ws, stack = opened()
    assert feed(stack, ws.send(TextMessage(data="bye")) + ws.send(CloseConnection(code=1001))) == [
        Messages(texts=(b"bye",)),
        PeerClosed(),
    ]
    stack.send(text_frame("a last word is still allowed"))
    events = ws_events(ws, stack.data_to_send() + stack.close())
    assert events == [TextMessage(data="a last word is still allowed"), CloseConnection(code=1001, reason="")]
    assert stack.close() == b""


def test_the_server_closes_first_with_its_code() -> None:
    ws, stack = opened()
    stack.send(text_frame('{"type":"shutdown"}'))
    events = ws_events(ws, stack.close(GOING_AWAY, "server shutting down"))
    assert events == [
        TextMessage(data='{"type":"shutdown"}'),
        CloseConnection(code=1001, reason="server shutting down"),
    ]
    stack.send(text_frame("too late"))
    assert stack.data_to_send() == b""
    stack.receive_data(ws.send(CloseConnection(code=1001).response()))
    assert pull(stack) == []  # a closed stack reads nothing more


def test_eof_without_a_close_frame_is_a_failure_after_the_messages() -> None:
    ws, stack = opened()
    stack.receive_data(ws.send(TextMessage(data="last")))
    stack.receive_eof()
    assert pull(stack) == [
        Messages(texts=(b"last",)),
        Failed(reason="connection closed without a WebSocket close frame"),
    ]


def test_eof_with_the_upgrade_request_still_upgrades_then_fails() -> None:
    stack = Stack(web(), now=0.0)
    _, request = upgrade_request()
    stack.receive_data(request + raw_frame(Opcode.TEXT, b"hi"))
    stack.receive_eof()
    assert pull(stack) == [
        Ready(secure=False),
        Messages(texts=(b"hi",)),
        Failed(reason="connection closed without a WebSocket close frame"),
    ]


# -- shared frames ----------------------------------------------------------------


def test_a_frame_built_once_is_valid_on_every_connection() -> None:
    encoder = FrameEncoder()
    frame = encoder.text('{"type":"message","text":"héllo"}')
    assert encoder.text('{"type":"message","text":"héllo"}') == frame  # no state between frames
    assert text_frame('{"type":"message","text":"héllo"}') == frame
    assert isinstance(frame, bytes)
    assert frame[1] & 0x80 == 0  # a server frame is not masked
    for _ in range(3):
        ws, stack = opened()
        stack.send(frame)
        out = stack.data_to_send()
        assert out is frame  # the very same object goes to the socket
        assert ws_events(ws, out) == [TextMessage(data='{"type":"message","text":"héllo"}')]
    long = text_frame("x" * 70_000)
    ws, stack = opened()
    stack.send(long)
    assert ws_events(ws, stack.data_to_send()) == [TextMessage(data="x" * 70_000)]


def test_upgraded_is_internal() -> None:
    assert Upgraded.__module__.endswith("_http")


# -- properties -------------------------------------------------------------------


def client_script() -> st.SearchStrategy[list[bytes]]:
    part = st.one_of(
        st.text(max_size=40).map(lambda t: raw_frame(Opcode.TEXT, t.encode())),
        st.text(min_size=1, max_size=20).map(
            lambda t: raw_frame(Opcode.TEXT, t.encode(), fin=False) + raw_frame(Opcode.CONTINUATION, b"!")
        ),
        st.binary(max_size=20).map(lambda p: raw_frame(Opcode.PING, p)),
        st.just(raw_frame(Opcode.TEXT, b"x" * (LIMIT + 1))),
        st.just(raw_frame(Opcode.BINARY, b"b")),
        st.just(raw_frame(Opcode.CLOSE, b"\x03\xe8")),
    )
    return st.lists(part, max_size=8)


def drive(chunks: list[bytes], eof: bool) -> tuple[list[object], bytes]:
    stack = Stack(web(), now=0.0)
    events: list[object] = []
    out = bytearray()
    for chunk in chunks:
        events += feed(stack, chunk)
        out += stack.data_to_send()
    if eof:
        stack.receive_eof()
        events += pull(stack)
    out += stack.data_to_send() + stack.close()
    return _one_by_one(events), bytes(out)


def _one_by_one(events: list[object]) -> list[object]:
    """The messages one by one: how a pull groups them depends on how the bytes came."""
    return [item for e in events for item in (e.texts if isinstance(e, Messages) else (e,))]


@settings(max_examples=150, deadline=None)
@given(frames=client_script(), cuts=st.lists(st.integers(min_value=0), max_size=8), eof=st.booleans())
def test_any_split_gives_the_same_events_and_bytes(frames: list[bytes], cuts: list[int], eof: bool) -> None:
    _, request = upgrade_request()
    data = request + b"".join(frames)
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert drive(chunks, eof) == drive([data], eof)


@settings(max_examples=200, deadline=None)
@given(junk=st.lists(st.binary(max_size=200), max_size=5), eof=st.booleans())
def test_arbitrary_bytes_after_the_upgrade_never_raise(junk: list[bytes], eof: bool) -> None:
    _, request = upgrade_request()
    drive([request, *junk], eof)


def test_binary_frames_are_refused_from_a_real_client() -> None:
    ws, stack = opened()
    events = feed(stack, ws.send(BytesMessage(data=b"\x00")))
    assert events == [
        Failed(reason="WebSocket closed with 1003: binary messages are not accepted", protocol_error=True)
    ]


def test_rejected_handshake_event_shape() -> None:
    """wsproto's own client reads our refusals as refusals."""
    stack = Stack(web(), now=0.0)
    ws, request = upgrade_request("http://evil.test")
    feed(stack, request)
    events = ws_events(ws, stack.data_to_send())
    assert isinstance(events[0], RejectConnection) and events[0].status_code == 403


@pytest.mark.parametrize("target", ["/", "/chat", "/index.html"])
def test_a_handshake_on_another_path_is_told_where_the_websocket_is(target: str) -> None:
    stack = Stack(web(), now=0.0)
    ws = WSConnection(ConnectionType.CLIENT)
    request = ws.send(Request(host="chat.test:8080", target=target))
    assert feed(stack, request) == [Served(method="GET", target=target, status=404)]
    rejected, *body = ws_events(ws, stack.data_to_send())
    assert isinstance(rejected, RejectConnection) and rejected.status_code == 404
    assert b"".join(bytes(part.data) for part in body if isinstance(part, RejectData)) == (
        b"404 Not Found\nThe chat's WebSocket is at /ws\n"
    )
    assert stack.state is StackState.PENDING  # still a page connection: it may ask again, at /ws
    ws, request = upgrade_request()
    assert feed(stack, request) == [Ready(secure=False)]
