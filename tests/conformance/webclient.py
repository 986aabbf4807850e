"""A blocking WebSocket test client of the chat, on wsproto: JSON commands out, JSON events in.

Every read has a deadline and nothing sleeps: ``ping_barrier`` sends a
``ping`` with a fresh token and reads up to its ``pong``, as the text
client's barrier does.  ``received`` keeps every byte after the handshake's
``101`` (under TLS, the decrypted bytes), for byte-exact transcripts.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from .client import READ_TIMEOUT, open_socket, receive_before

#: What a client receives: a JSON event, or one of wsproto's (a close frame, a pong, bytes).
Item = dict[str, Any] | Event


@dataclass(frozen=True)
class Refused:
    """The server answered the upgrade with an HTTP error."""

    status: int
    body: bytes


class NoCloseFrameError(AssertionError):
    """The TCP connection ended before a WebSocket close frame came."""


def host_header(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class WebClient:
    """One WebSocket connection to the chat at ``/ws``."""

    def __init__(self, sock: socket.socket, ws: WSConnection, *, name: str = "") -> None:
        self.sock = sock
        self.ws = ws
        self.name = name
        self.raw = bytearray()  # every byte received, the 101 included
        self._items: deque[Item] = deque()
        self._eof = False
        self._barriers = 0

    @classmethod
    def open(
        cls,
        host: str,
        port: int,
        *,
        origin: str | None = "same",
        tls: ssl.SSLContext | None = None,
        target: str = "/ws",
        name: str = "",
    ) -> WebClient | Refused:
        """Connect and upgrade; the client, or the server's refusal.

        ``origin``: "same" sends the page's own origin (as a browser would
        for the server's page), None sends none, anything else is sent as is.
        """
        sock = open_socket(host, port, tls=tls)
        ws = WSConnection(ConnectionType.CLIENT)
        authority = host_header(host, port)
        if origin == "same":
            origin = f"{'https' if tls else 'http'}://{authority}"
        headers = [(b"origin", origin.encode())] if origin is not None else []
        client = cls(sock, ws, name=name)
        try:
            sock.sendall(ws.send(Request(host=authority, target=target, extra_headers=headers)))
            return client._handshake()
        except BaseException:
            sock.close()
            raise

    @classmethod
    def connect(cls, host: str, port: int, **options: Any) -> WebClient:
        """Connect and upgrade; a refusal fails the test."""
        client = cls.open(host, port, **options)
        assert isinstance(client, WebClient), f"upgrade refused: {client}"
        return client

    def _handshake(self) -> WebClient | Refused:
        deadline = time.monotonic() + READ_TIMEOUT
        rejected: RejectConnection | None = None
        body = bytearray()
        while True:
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    return self
                if isinstance(event, RejectConnection):
                    rejected = event
                    if not event.has_body:
                        return Refused(status=event.status_code, body=b"")
                elif isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished:
                        assert rejected is not None
                        return Refused(status=rejected.status_code, body=bytes(body))
            if not self._fill(deadline):
                raise NoCloseFrameError(f"{self!r}: closed during the handshake: {bytes(self.raw)!r}")

    def __repr__(self) -> str:
        return f"<WebClient {self.name or '?'} fd={self.sock.fileno()}>"

    @property
    def received(self) -> bytes:
        """Every byte after the ``101`` response: the server's frames, as they came."""
        raw = bytes(self.raw)
        return raw[raw.index(b"\r\n\r\n") + 4 :]

    # -- sending -----------------------------------------------------------------------

    def send(self, command: dict[str, Any]) -> None:
        self.send_text(json.dumps(command))

    def send_text(self, text: str) -> None:
        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def send_event(self, event: Event) -> None:
        self.sock.sendall(self.ws.send(event))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()

    # -- receiving ---------------------------------------------------------------------

    def _fill(self, deadline: float) -> bool:
        """Receive once before ``deadline``; False at EOF."""
        if self._eof:
            return False
        data = receive_before(self.sock, deadline, lambda: f"{self!r}: items so far: {list(self._items)!r}")
        if not data:
            self._eof = True
            self.ws.receive_data(None)
            return False
        self.raw += data
        self.ws.receive_data(data)
        return True

    def next(self, timeout: float = READ_TIMEOUT) -> Item:
        """The next event: a JSON one as a dict, anything else as wsproto's event."""
        deadline = time.monotonic() + timeout
        while not self._items:
            for event in self.ws.events():
                if isinstance(event, TextMessage):
                    self._items.append(json.loads(event.data))
                elif isinstance(event, Ping | Pong | CloseConnection | BytesMessage):
                    self._items.append(event)
            if self._items:
                break
            if not self._fill(deadline):
                raise NoCloseFrameError(f"{self!r}: EOF without a close frame")
        return self._items.popleft()

    def ping_barrier(self, timeout: float = READ_TIMEOUT) -> list[Item]:
        """Everything that arrives before the answer to a fresh ``ping``."""
        self._barriers += 1
        token = f"barrier-{self._barriers}"
        self.send({"cmd": "ping", "token": token})
        items: list[Item] = []
        deadline = time.monotonic() + timeout
        while True:
            item = self.next(max(0.0, deadline - time.monotonic()))
            if item == {"type": "pong", "token": token}:
                return items
            items.append(item)

    def expect(self, *items: Item) -> None:
        got = [self.next() for _ in items]
        assert got == list(items), f"{self!r}: expected {list(items)!r}, got {got!r}"

    def until_closed(self, timeout: float = READ_TIMEOUT) -> tuple[list[Item], int | None]:
        """Events up to the server's close frame, its code; then the TCP connection must end."""
        deadline = time.monotonic() + timeout
        items: list[Item] = []
        while True:
            item = self.next(max(0.0, deadline - time.monotonic()))
            if isinstance(item, CloseConnection):
                break
            items.append(item)
        if self.ws.state is ConnectionState.REMOTE_CLOSING:  # answer it, as clients do
            self.sock.sendall(self.ws.send(item.response()))
        while self._fill(deadline):  # then the FIN (under TLS, after close_notify)
            pass
        after = [event for event in self.ws.events() if not isinstance(event, CloseConnection)]
        assert after == [], f"{self!r}: frames after the close frame: {after!r}"  # (wsproto reports the EOF)
        return items, item.code

    def expect_closed(self, code: int, *items: Item) -> None:
        got, closed_with = self.until_closed()
        assert (got, closed_with) == (list(items), code), f"{self!r}: got {got!r}, close code {closed_with}"
