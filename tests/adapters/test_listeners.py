"""Listener kinds and ``--listen KIND://HOST:PORT``: parsing, printing, opening."""

from __future__ import annotations

import os
import socket

import pytest

from adapters._listeners import (
    LISTENER_KINDS,
    ListenAddress,
    default_addresses,
    format_address,
    open_listeners,
    parse_listen,
)
from sansio_chat import DialectName

TEXT = LISTENER_KINDS["text"]


def test_the_text_kind() -> None:
    assert (TEXT.dialect, TEXT.secure, TEXT.default_port, TEXT.by_default) == (
        DialectName.TEXT,
        False,
        7777,
        True,
    )


def test_the_defaults_are_every_default_kind_on_every_interface() -> None:
    assert default_addresses() == tuple(
        ListenAddress(kind=kind, host=None, port=kind.default_port)
        for kind in LISTENER_KINDS.values()
        if kind.by_default
    )
    assert [str(address) for address in default_addresses()] == [
        "text://:7777",
        "irc://:6667",
        "http://:8080",
    ]
    assert [str(address) for address in default_addresses(chat=False)] == ["text://:7777"]


@pytest.mark.parametrize(
    ("name", "dialect", "secure", "web", "port"),
    [
        ("text+tls", DialectName.TEXT, True, False, 7778),
        ("irc+tls", DialectName.IRC, True, False, 6697),
        ("http", DialectName.WEB, False, True, 8080),
        ("https", DialectName.WEB, True, True, 8443),
    ],
)
def test_the_kinds_with_transport_layers(
    name: str, dialect: DialectName, secure: bool, web: bool, port: int
) -> None:
    kind = LISTENER_KINDS[name]
    assert (kind.dialect, kind.secure, kind.web, kind.default_port, kind.layered) == (
        dialect,
        secure,
        web,
        port,
        True,
    )
    assert not TEXT.layered
    assert parse_listen(f"{name}://127.0.0.1") == ListenAddress(kind=kind, host="127.0.0.1", port=port)


def test_a_web_listener_says_where_its_page_is() -> None:
    listeners = open_listeners(
        [
            parse_listen("http://127.0.0.1:0"),
            parse_listen("https://[::1]:0"),
            parse_listen("text://127.0.0.1:0"),
        ]
    )
    try:
        ports = [listener.sock.getsockname()[1] for listener in listeners]
        urls = [listener.page_url for listener in listeners]
        assert urls == [f"http://127.0.0.1:{ports[0]}/", f"https://[::1]:{ports[1]}/", None]
    finally:
        for listener in listeners:
            listener.close()
    [every] = open_listeners([parse_listen("http://:0")])
    try:
        assert every.page_url == f"http://localhost:{every.sock.getsockname()[1]}/"
    finally:
        every.close()


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("text://127.0.0.1:7000", "127.0.0.1", 7000),
        ("text://localhost:0", "localhost", 0),
        ("TEXT://example.org:65535", "example.org", 65535),
        ("text://[::1]:7777", "::1", 7777),
        ("text://[::]:8000", "::", 8000),
        ("text://:9000", None, 9000),
        ("text://127.0.0.1", "127.0.0.1", 7777),
        ("text://[fe80::1%lo]", "fe80::1%lo", 7777),
        ("text://", None, 7777),
    ],
)
def test_listen_addresses_that_parse(text: str, host: str | None, port: int) -> None:
    address = parse_listen(text)
    assert address == ListenAddress(kind=TEXT, host=host, port=port)
    assert parse_listen(str(address)) == address  # printed as it is parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("127.0.0.1:7777", "is not KIND://HOST:PORT"),
        (
            "tcp://127.0.0.1:7777",
            "unknown listener kind 'tcp' (known: text, text+tls, irc, irc+tls, http, https)",
        ),
        ("text://127.0.0.1:70000", "port must be from 0 to 65535, not 70000"),
        ("text://127.0.0.1:-1", "port must be from 0 to 65535, not -1"),
        ("text://127.0.0.1:http", "port must be a number from 0 to 65535, not 'http'"),
        ("text://127.0.0.1:", "port must be a number from 0 to 65535, not ''"),
        ("text://::1:7777", "an IPv6 address goes in brackets"),
        ("text://[::1:7777", "an IPv6 address goes in brackets"),
        ("text://[]:7777", "an IPv6 address goes in brackets"),
        ("text://[::1]7777", "expected :PORT after the IPv6 address"),
        ("text://host/path:7777", "is not KIND://HOST:PORT"),
        ("text://user@host:7777", "is not KIND://HOST:PORT"),
    ],
)
def test_listen_addresses_that_do_not_parse_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_listen(text)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_peer_addresses_print_as_in_a_listen_address() -> None:
    assert format_address(("127.0.0.1", 5000)) == "127.0.0.1:5000"
    assert format_address(("::1", 5000, 0, 0)) == "[::1]:5000"
    assert format_address(("::ffff:10.1.2.3", 5000, 0, 0)) == "10.1.2.3:5000"
    assert format_address("/a/unix/socket") == "/a/unix/socket"


def test_listeners_open_on_the_address_given_and_print_the_port_picked() -> None:
    listeners = open_listeners([parse_listen("text://127.0.0.1:0"), parse_listen("text://127.0.0.1:0")])
    try:
        ports = [listener.sock.getsockname()[1] for listener in listeners]
        assert len(set(ports)) == 2 and 0 not in ports
        assert [str(listener) for listener in listeners] == [f"text://127.0.0.1:{port}" for port in ports]
        assert all(listener.kind is TEXT for listener in listeners)
        with socket.create_connection(("127.0.0.1", ports[1]), timeout=5):
            pass
    finally:
        for listener in listeners:
            listener.close()


def test_if_one_listener_cannot_open_none_is_left_open() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        first = parse_listen("text://127.0.0.1:0")
        before = _open_descriptors()
        with pytest.raises(OSError, match=f"text://127.0.0.1:{port}") as caught:
            open_listeners([first, parse_listen(f"text://127.0.0.1:{port}")])
        assert "Address already in use" in str(caught.value)
        assert _open_descriptors() == before


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))
