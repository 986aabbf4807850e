"""The small parts on their own: settings, origins, the site, and layers used past their end."""

from __future__ import annotations

import pytest

from adapters.transport import ANY_ORIGIN, Site, Stack, StackState, TransportConfig, normalize_origin
from adapters.transport._http import HttpLayer
from adapters.transport._origin import origin_allowed
from adapters.transport._tls import TlsLayer
from adapters.transport._websocket import WebSocketLayer, accept

from .peers import pull


@pytest.mark.parametrize(
    "settings",
    [
        {"tls_handshake_seconds": 0.0},
        {"head_seconds": -1.0},
        {"max_head_bytes": 63},
        {"max_message_bytes": 0},
    ],
)
def test_nonsense_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        TransportConfig(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("https://Chat.Example.org/", "https://chat.example.org"),
        ("https://chat.example.org:443", "https://chat.example.org"),
        ("http://chat.example.org:80", "http://chat.example.org"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        (" * ", ANY_ORIGIN),
    ],
)
def test_allow_list_entries_are_spelled_as_browsers_send_them(given: str, normal: str) -> None:
    assert normalize_origin(given) == normal


@pytest.mark.parametrize(
    "bad",
    [
        "chat.example.org",
        "ftp://chat.example.org",
        "https://chat.example.org/path",
        "https://u@h",
        "http://h:99999",
        "https://h?x",
        "null",
        "",
    ],
)
def test_bad_allow_list_entries_are_one_line_errors(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid origin") as caught:
        normalize_origin(bad)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("host", ["", "a b:1", "h:99999", "u@h", "h/x"])
def test_a_host_header_that_is_no_host_matches_no_origin(host: str) -> None:
    assert not origin_allowed("http://h", host, frozenset())


def test_an_ipv6_host_matches_its_origin() -> None:
    assert origin_allowed("http://[::1]:8080", "[::1]:8080", frozenset())


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"index.html": b"", "../x.js": b""}, "not a plain file name"),
        ({"index.html": b"", ".hidden.js": b""}, "not a plain file name"),
        ({"index.html": b"", "run.py": b""}, "no content type"),
        ({"index.html": b"", "README": b""}, "no content type"),
        ({"chat.js": b""}, "has no 'index.html'"),
    ],
)
def test_a_site_refuses_what_it_cannot_serve(files: dict[str, bytes], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Site(files)


def test_a_site_lists_its_paths() -> None:
    assert Site({"index.html": b"x", "a.css": b"y"}).paths == ("/", "/a.css", "/index.html")


def test_stack_facts() -> None:
    stack = Stack(TransportConfig(), now=0.0)
    assert not stack.secure
    stack.close()
    stack.receive_eof()
    assert stack.state is StackState.CLOSED
    assert pull(stack) == []


def test_layers_are_quiet_after_their_end(certificates: object) -> None:
    site = Site({"index.html": b""})
    http = HttpLayer(
        site, allowed_origins=frozenset(), max_head_bytes=1024, head_seconds=1, max_message_bytes=9
    )
    http.close(1000, "")
    assert http.next_event() is None

    headers = [
        (b"host", b"a"),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"sec-websocket-version", b"13"),
    ]
    ws = accept(headers, b"/ws", max_message_bytes=10)
    assert isinstance(ws, WebSocketLayer)
    ws.close(1000, "")
    ws.receive_data(b"\x81\x80abcd")
    assert ws.next_event() is None
    from adapters.transport import TlsCertificates  # noqa: PLC0415

    assert isinstance(certificates, TlsCertificates)
    tls = TlsLayer(certificates.context, deadline=1.0)
    tls.close()
    assert tls.next_event() is None
