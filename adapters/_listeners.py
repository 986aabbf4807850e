"""Listeners: the kinds a server can open, where, and the sockets behind them.

A server opens several listeners, each of one *kind*: the kind says which
wire format its clients speak (the core's ``DialectName``) and whether the
transport is encrypted, and both reach the core in ``ConnectionOpened``.  On
the command line a listener is ``KIND://HOST:PORT`` (``--listen``).  The
kinds are a table, so that a new one (IRC, TLS, the web) is a row here plus
its transport layers, not a change to every backend.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sansio_chat import DialectName

from ._accept import ACCEPTS_PER_PASS, AcceptThrottle

#: Backlog for the listening socket: large, since scanners and bursts of joins happen.
LISTEN_BACKLOG = 4096
#: Idle seconds before TCP keepalive probes start, interval between probes, probes.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 60, 15, 4


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerKind:
    """What a listener serves: its clients' wire format, and the transport layers under it.

    ``secure``: TLS first (``--tls-cert``).  ``web``: HTTP/1.1 serving the
    chat's page, and the chat's WebSocket at ``/ws`` (its clients speak the
    web dialect, in whole messages).
    """

    name: str  # as written in --listen (KIND://...)
    dialect: DialectName
    secure: bool
    default_port: int
    #: Opened (on its default port, every interface) when no listener is given at all.
    by_default: bool
    web: bool = False

    @property
    def layered(self) -> bool:
        """Whether its connections have transport layers to get through before the core hears of them."""
        return self.secure or self.web

    @property
    def scheme(self) -> str:
        """The URL scheme of its page (web listeners)."""
        return "https" if self.secure else "http"


#: Every kind of listener, by the name ``--listen`` uses.
LISTENER_KINDS: dict[str, ListenerKind] = {
    kind.name: kind
    for kind in (
        ListenerKind(name="text", dialect=DialectName.TEXT, secure=False, default_port=7777, by_default=True),
        ListenerKind(
            name="text+tls", dialect=DialectName.TEXT, secure=True, default_port=7778, by_default=False
        ),
        ListenerKind(name="irc", dialect=DialectName.IRC, secure=False, default_port=6667, by_default=True),
        ListenerKind(
            name="irc+tls", dialect=DialectName.IRC, secure=True, default_port=6697, by_default=False
        ),
        ListenerKind(
            name="http", dialect=DialectName.WEB, secure=False, default_port=8080, by_default=True, web=True
        ),
        ListenerKind(
            name="https", dialect=DialectName.WEB, secure=True, default_port=8443, by_default=False, web=True
        ),
    )
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenAddress:
    """Where to open one listener, and of which kind."""

    kind: ListenerKind
    host: str | None  # None: every interface (dual-stack "::", or IPv4 where there is no IPv6)
    port: int

    def __str__(self) -> str:
        return f"{self.kind.name}://{format_host(self.host)}:{self.port}"


def default_addresses(*, chat: bool = True) -> tuple[ListenAddress, ...]:
    """The listeners opened when none is given: every default kind on its port, every interface.

    ``chat``: the chat's other dialects too (IRC, the page); the lab's echo
    and relay modes speak plain text alone.
    """
    return tuple(
        ListenAddress(kind=kind, host=None, port=kind.default_port)
        for kind in LISTENER_KINDS.values()
        if kind.by_default and (chat or kind.dialect is DialectName.TEXT)
    )


def parse_listen(text: str) -> ListenAddress:
    """``KIND://HOST:PORT`` -> a ``ListenAddress``; ``ValueError`` with a one-line reason.

    HOST may be empty (every interface) and an IPv6 address goes in brackets
    (``text://[::1]:7777``); ``:PORT`` may be left out (the kind's default).
    """
    name, separator, rest = text.partition("://")
    if not separator:
        raise ValueError(f"{text!r} is not KIND://HOST:PORT")
    kind = LISTENER_KINDS.get(name.lower())
    if kind is None:
        raise ValueError(f"unknown listener kind {name!r} (known: {', '.join(LISTENER_KINDS)})")
    if rest.startswith("["):
        host, bracket, after = rest[1:].partition("]")
        if not bracket or not host:
            raise ValueError(f"{text!r}: an IPv6 address goes in brackets, e.g. [::1]")
        if after and not after.startswith(":"):
            raise ValueError(f"{text!r}: expected :PORT after the IPv6 address")
        port_text = after[1:] if after else None
    else:
        host, colon, port_text_or_empty = rest.rpartition(":") if ":" in rest else (rest, "", "")
        if ":" in host:
            raise ValueError(f"{text!r}: an IPv6 address goes in brackets, e.g. [::1]:7777")
        port_text = port_text_or_empty if colon else None
    if "/" in host or "@" in host:
        raise ValueError(f"{text!r} is not KIND://HOST:PORT")
    port = kind.default_port if port_text is None else parse_port(port_text)
    return ListenAddress(kind=kind, host=host or None, port=port)


def parse_port(text: str) -> int:
    """A TCP port, 0 to 65535 (0: the system picks a free one); ``ValueError`` otherwise."""
    try:
        port = int(text, 10)
    except ValueError:
        raise ValueError(f"port must be a number from 0 to 65535, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be from 0 to 65535, not {port}")
    return port


def format_host(host: str | None) -> str:
    if host is None:
        return ""
    return f"[{host}]" if ":" in host else host


def format_address(address: object) -> str:
    """``host:port`` for IPv4, ``[host]:port`` for IPv6; IPv4-mapped shown as IPv4."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = str(address[0]), address[1]
        if host.startswith("::ffff:") and "." in host:
            host = host[len("::ffff:") :]
        return f"{format_host(host)}:{port}"
    return str(address)


class Listener:
    """One open listening socket and its kind."""

    __slots__ = ("kind", "sock")

    def __init__(self, kind: ListenerKind, sock: socket.socket) -> None:
        self.kind = kind
        self.sock = sock

    def __str__(self) -> str:
        """``KIND://HOST:PORT`` with the address really bound (the port picked for port 0, say)."""
        return f"{self.kind.name}://{format_address(self.sock.getsockname())}"

    @property
    def page_url(self) -> str | None:
        """Where a browser finds the chat's page (web listeners): every interface is shown as localhost."""
        if not self.kind.web:
            return None
        host, port = self.sock.getsockname()[:2]
        shown = "localhost" if host in ("::", "0.0.0.0") else format_address((host, port)).rpartition(":")[0]
        return f"{self.kind.scheme}://{shown}:{port}/"

    def close(self) -> None:
        self.sock.close()


def open_listeners(addresses: Iterable[ListenAddress]) -> list[Listener]:
    """Bind and listen on every address, or on none (``OSError`` after closing those opened)."""
    listeners: list[Listener] = []
    try:
        for address in addresses:
            try:
                sock = _open_socket(address.host, address.port)
            except OSError as exc:
                raise OSError(exc.errno, f"{address}: {exc.strerror or exc}") from exc
            listeners.append(Listener(address.kind, sock))
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners


def open_shared_listeners(addresses: Iterable[ListenAddress], count: int) -> list[list[Listener]]:
    """``count`` sets of listeners on the same addresses and ports, one set per worker process.

    Each socket has ``SO_REUSEPORT``: the kernel spreads new connections
    over the sets, each worker accepting from its own queue.  A port 0 is
    picked once, by the first set.  All or none are opened.
    """
    sets: list[list[Listener]] = [[] for _ in range(count)]
    try:
        for address in addresses:
            port = address.port
            for listeners in sets:
                try:
                    sock = _open_socket(address.host, port, reuse_port=True)
                except OSError as exc:
                    raise OSError(exc.errno, f"{address}: {exc.strerror or exc}") from exc
                port = sock.getsockname()[1]
                listeners.append(Listener(address.kind, sock))
    except BaseException:
        for listeners in sets:
            for listener in listeners:
                listener.close()
        raise
    return sets


def _open_socket(host: str | None, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket: dual-stack ``::`` for every interface, IPv4 where IPv6 is missing."""
    if host is None:
        if socket.has_ipv6:
            try:
                return _bind(socket.AF_INET6, ("::", port), dual_stack=True, reuse_port=reuse_port)
            except OSError:
                pass  # no IPv6 here: IPv4 only
        return _bind(socket.AF_INET, ("0.0.0.0", port), dual_stack=False, reuse_port=reuse_port)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    # An explicit "::" (IPv6 any) takes IPv4 too, like the default; other addresses are v6-only.
    dual_stack = family == socket.AF_INET6 and address[0] == "::"
    return _bind(family, address, dual_stack=dual_stack, reuse_port=reuse_port)


def _bind(
    family: int,
    address: tuple[object, ...] | tuple[str, int],
    *,
    dual_stack: bool,
    reuse_port: bool = False,
) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual_stack else 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def configure_client(sock: socket.socket) -> None:
    """No Nagle delay (replies are small and latency matters) and TCP keepalive."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", KEEPALIVE_COUNT),
    ):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


class HasSocketOptions(Protocol):
    """A socket, or an asyncio transport's wrapper of one."""

    def getsockopt(self, level: int, option: int, /) -> int: ...


def socket_error(sock: HasSocketOptions) -> OSError | None:
    """The error a socket holds (``SO_ERROR``: a reset, say), without reading any of its input.

    Clears it, as any later call on the socket would.  ``sock`` may be an
    asyncio transport's socket wrapper, which has ``getsockopt`` too.
    """
    try:
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    except OSError as exc:
        return exc
    return OSError(code, os.strerror(code)) if code else None


def accept_ready(
    listener: Listener, throttle: AcceptThrottle, now: float, log: logging.Logger
) -> list[tuple[socket.socket, str]]:
    """Accept what is waiting on a non-blocking listener: configured sockets with their peers.

    At most ``ACCEPTS_PER_PASS``, so a storm of joins cannot starve the rest;
    a failure goes to the shared ``AcceptThrottle``, which may pause accepting
    (the caller stops watching the listener until ``throttle.paused_until``).
    """
    accepted: list[tuple[socket.socket, str]] = []
    for _ in range(ACCEPTS_PER_PASS):
        try:
            sock, address = listener.sock.accept()
        except (BlockingIOError, InterruptedError):
            break
        except OSError as exc:
            warning = throttle.failed(exc, now)
            if warning is not None:
                log.warning("%s", warning)
            else:
                log.debug("accept failed: %s", exc)
            break
        try:
            configure_client(sock)
        except OSError as exc:  # reset before we even looked at it
            log.debug("dropped a new connection: %s", exc)
            sock.close()
            continue
        accepted.append((sock, format_address(address)))
    return accepted
