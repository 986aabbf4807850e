"""The HTTP layer against an h11 client: the page, errors, limits, keep-alive, deadlines."""

from __future__ import annotations

import re

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.transport import (
    CONTENT_SECURITY_POLICY,
    Failed,
    PeerClosed,
    Served,
    Site,
    Stack,
    StackState,
    TransportConfig,
)

from .peers import HttpClient, feed, header, pull

SITE = Site(
    {
        "index.html": b"<!doctype html><title>chat</title>",
        "chat.js": b"console.log('hi');",
        "chat.css": b"body{}",
        "icon.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    }
)


def web(site: Site = SITE, **limits: float) -> TransportConfig:
    return TransportConfig(site=site, **limits)  # type: ignore[arg-type]


def get(
    stack: Stack, client: HttpClient, target: str = "/", method: str = "GET", **kw: object
) -> tuple[list[object], h11.Response, bytes]:
    events = feed(stack, client.request(method, target, **kw))  # type: ignore[arg-type]
    [(response, body)] = client.responses(stack.data_to_send())
    return list(events), response, body


def test_the_page_is_served_with_its_security_headers() -> None:
    stack, client = Stack(web(), now=0.0), HttpClient()
    events, response, body = get(stack, client)
    assert events == [Served(method="GET", target="/", status=200)]
    assert response.status_code == 200
    assert body == b"<!doctype html><title>chat</title>"
    assert header(response, "content-type") == "text/html; charset=utf-8"
    assert header(response, "content-security-policy") == CONTENT_SECURITY_POLICY
    assert header(response, "x-content-type-options") == "nosniff"
    assert header(response, "referrer-policy") == "no-referrer"
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert stack.state is StackState.PENDING  # a page fetch is never a chat connection


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/chat.js", "text/javascript; charset=utf-8"),
        ("/chat.css", "text/css; charset=utf-8"),
        ("/icon.svg", "image/svg+xml"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/?room=games", "text/html; charset=utf-8"),
    ],
)
def test_every_file_has_its_content_type(path: str, content_type: str) -> None:
    _, response, _ = get(Stack(web(), now=0.0), HttpClient(), path)
    assert response.status_code == 200
    assert header(response, "content-type") == content_type


def test_head_gives_the_headers_without_the_body() -> None:
    stack, client = Stack(web(), now=0.0), HttpClient()
    events, response, body = get(stack, client, "/chat.js", "HEAD")
    assert events == [Served(method="HEAD", target="/chat.js", status=200)]
    assert body == b""
    assert header(response, "content-length") == str(len(b"console.log('hi');"))


def test_unknown_paths_are_404_and_the_connection_stays() -> None:
    stack, client = Stack(web(), now=0.0), HttpClient()
    for target in ("/nope", "/../etc/passwd", "/favicon.ico", "*", "http://chat.test/"):
        events, response, body = get(stack, client, target)
        assert response.status_code == 404, target
        assert body == b"404 Not Found\n"
        assert header(response, "content-security-policy") == CONTENT_SECURITY_POLICY
        assert events == [Served(method="GET", target=target, status=404)]
    assert get(stack, client)[1].status_code == 200


def test_other_methods_are_405_with_allow() -> None:
    stack, client = Stack(web(), now=0.0), HttpClient()
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        events, response, _ = get(stack, client, "/", method, headers=[("Content-Length", "0")])
        assert response.status_code == 405
        assert header(response, "allow") == "GET, HEAD"
        assert events == [Served(method=method, target="/", status=405)]
    assert stack.state is StackState.PENDING


def test_a_request_body_is_refused_and_the_connection_closed() -> None:
    stack, client = Stack(web(), now=0.0), HttpClient()
    head = client.conn.send(
        h11.Request(method="POST", target="/", headers=[("Host", "x"), ("Content-Length", "5")])
    )
    events = feed(stack, head + b"hello")
    assert events == [
        Served(method="POST", target="/", status=413),
        Failed(reason="request body not accepted"),
    ]
    [(response, _)] = client.responses(stack.data_to_send())
    assert response.status_code == 413
    assert header(response, "connection") == "close"
    chunked = HttpClient()
    stack = Stack(web(), now=0.0)
    data = chunked.conn.send(
        h11.Request(method="GET", target="/", headers=[("Host", "x"), ("Transfer-Encoding", "chunked")])
    )
    assert feed(stack, data)[0] == Served(method="GET", target="/", status=413)


def test_a_matching_etag_gets_304() -> None:
    stack, client = Stack(web(), now=0.0), HttpClient()
    _, first, _ = get(stack, client, "/chat.css")
    etag = header(first, "etag")
    assert etag is not None
    for condition in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        events, response, body = get(stack, client, "/chat.css", headers=[("If-None-Match", condition)])
        assert (response.status_code, body) == (304, b"")
        assert events == [Served(method="GET", target="/chat.css", status=304)]
    assert get(stack, client, "/chat.css", headers=[("If-None-Match", '"stale"')])[1].status_code == 200


def test_keep_alive_and_pipelining_answer_in_order() -> None:
    stack = Stack(web(), now=0.0)
    data = b"".join(
        f"GET {path} HTTP/1.1\r\nHost: chat.test\r\n\r\n".encode() for path in ("/", "/chat.css", "/missing")
    )
    stack.receive_data(data)
    assert stack.next_event() == Served(method="GET", target="/", status=200)
    first = stack.data_to_send()  # a backend that stops pulling here holds just this answer
    assert first.startswith(b"HTTP/1.1 200") and b"HTTP/1.1" not in first[10:]
    assert pull(stack) == [
        Served(method="GET", target="/chat.css", status=200),
        Served(method="GET", target="/missing", status=404),
    ]
    statuses = re.findall(rb"HTTP/1.1 (\d{3}) ", first + stack.data_to_send())
    assert statuses == [b"200", b"200", b"404"]


def test_connection_close_ends_after_the_answer() -> None:
    stack, client = Stack(web(), now=0.0), HttpClient()
    events, response, _ = get(stack, client, headers=[("Connection", "close")])
    assert response.status_code == 200
    assert events == [Served(method="GET", target="/", status=200), PeerClosed()]
    assert stack.state is StackState.ENDED
    http10 = Stack(web(), now=0.0)
    assert feed(http10, b"GET / HTTP/1.0\r\n\r\n") == [
        Served(method="GET", target="/", status=200),
        PeerClosed(),
    ]
    assert http10.data_to_send().startswith(b"HTTP/1.1 200 OK\r\n")


def test_eof_between_requests_is_an_orderly_end() -> None:
    stack, client = Stack(web(), now=0.0), HttpClient()
    get(stack, client)
    stack.receive_eof()
    assert pull(stack) == [PeerClosed()]
    assert stack.close() == b""


def test_a_request_then_eof_is_still_answered() -> None:
    stack = Stack(web(), now=0.0)
    stack.receive_data(b"GET / HTTP/1.1\r\nHost: chat.test\r\n\r\n")
    stack.receive_eof()
    assert pull(stack) == [Served(method="GET", target="/", status=200), PeerClosed()]
    assert stack.data_to_send().startswith(b"HTTP/1.1 200 OK")


def test_eof_in_the_middle_of_a_request_fails_without_an_answer() -> None:
    stack = Stack(web(), now=0.0)
    stack.receive_data(b"GET / HTTP/1.1\r\nHo")
    stack.receive_eof()
    assert pull(stack) == [Failed(reason="peer closed in the middle of a request")]
    assert stack.data_to_send() == b""


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40) + b"\r\n\r\n",
        b"HELLO\r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nbad header\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
    ],
    ids=["tls-hello", "word", "http09", "bad-header", "no-host"],
)
def test_bad_requests_get_400_and_close(garbage: bytes) -> None:
    stack, client = Stack(web(), now=0.0), HttpClient()
    events = feed(stack, garbage)
    assert events[0] == Served(method="-", target="-", status=400)
    assert isinstance(events[1], Failed) and events[1].reason.startswith("bad request")
    out = stack.data_to_send()
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"\r\nconnection: close\r\n" in out
    del client


def _head_of_size(size: int) -> bytes:
    base = b"GET / HTTP/1.1\r\nHost: chat.test\r\nX-Pad: \r\n\r\n"
    return base.replace(b"X-Pad: ", b"X-Pad: " + b"a" * (size - len(base)))


@pytest.mark.parametrize("chunk", [1, 7, 4096, 100_000])
def test_the_head_limit_does_not_depend_on_how_bytes_arrive(chunk: int) -> None:
    limit = 1024
    for size, status in ((limit, 200), (limit + 1, 431)):
        stack = Stack(web(max_head_bytes=limit), now=0.0)
        head = _head_of_size(size)
        assert len(head) == size
        events = []
        for i in range(0, len(head), chunk):
            events += feed(stack, head[i : i + chunk])
        assert events[0].status == status if isinstance(events[0], Served) else False, (size, events)
        if status == 431:
            assert events[1] == Failed(reason="request head too large")


def test_an_endless_header_costs_no_more_than_the_limit() -> None:
    stack = Stack(web(max_head_bytes=1024), now=0.0)
    assert feed(stack, b"GET / HTTP/1.1\r\nX-Long: ") == []
    events = feed(stack, b"a" * 1_000_000)
    assert events == [Served(method="-", target="-", status=431), Failed(reason="request head too large")]
    assert stack.data_to_send().startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")


def test_slow_request_heads_get_408() -> None:
    stack = Stack(web(head_seconds=10.0), now=50.0)
    assert stack.next_deadline == 60.0
    stack.tick(55.0)
    assert feed(stack, b"GET / HTTP/1.1\r\nHost: ch") == []
    stack.tick(60.0)
    assert pull(stack) == [
        Served(method="-", target="-", status=408),
        Failed(reason="request head not received in time"),
    ]
    assert stack.data_to_send().startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert stack.next_deadline is None


def test_idle_keep_alive_connections_are_closed_quietly() -> None:
    stack, client = Stack(web(head_seconds=10.0), now=0.0), HttpClient()
    stack.tick(8.0)
    get(stack, client)
    assert stack.next_deadline == 18.0  # counted again from the answer
    stack.tick(18.0)
    assert pull(stack) == [Failed(reason="idle HTTP connection timed out")]
    assert stack.data_to_send() == b""


def request_script() -> st.SearchStrategy[bytes]:
    request = st.sampled_from(
        [
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"HEAD /chat.js HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n",
            b"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /ws HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"p" * 900 + b"\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            b"BOGUS\r\n\r\n",
        ]
    )
    return st.lists(request, min_size=1, max_size=5).map(b"".join)


def run(config: TransportConfig, chunks: list[bytes]) -> tuple[list[object], bytes]:
    stack = Stack(config, now=0.0)
    events: list[object] = []
    out = bytearray()
    for chunk in chunks:
        events += feed(stack, chunk)
        out += stack.data_to_send()
    stack.receive_eof()
    events += pull(stack)
    out += stack.close()
    return events, bytes(out)


@settings(max_examples=150, deadline=None)
@given(script=request_script(), cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_any_split_of_the_requests_gives_the_same_answers(script: bytes, cuts: list[int]) -> None:
    config = web(max_head_bytes=1000)
    points = sorted({c % (len(script) + 1) for c in cuts})
    chunks = [script[a:b] for a, b in zip([0, *points], [*points, len(script)], strict=True)]
    assert run(config, chunks) == run(config, [script])


@settings(max_examples=200, deadline=None)
@given(junk=st.lists(st.binary(max_size=300), max_size=5))
def test_arbitrary_bytes_never_raise(junk: list[bytes]) -> None:
    run(web(max_head_bytes=256), junk)
    run(web(), [b"GET / HTTP/1.1\r\n", *junk])
