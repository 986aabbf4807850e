"""A connection's stack of layers, driven the same way by every backend.

The stack is TLS (optional) under one top layer: a byte stream, or HTTP
that becomes a WebSocket.  See the package docstring for the contract.
"""

from __future__ import annotations

import enum
from typing import assert_never

from ._config import TransportConfig
from ._events import Failed, PeerClosed, Ready, TransportEvent
from ._http import HttpLayer, Upgraded
from ._stream import StreamLayer
from ._tls import NotTls, Plaintext, TlsClosed, TlsFailed, TlsLayer, TlsOpened
from ._websocket import NORMAL_CLOSURE, WebSocketLayer

#: The events after which nothing more comes up (a tuple: ``isinstance`` with it builds nothing per call).
_ENDINGS = (PeerClosed, Failed)


class StackState(enum.Enum):
    PENDING = "pending"  # handshakes, or page requests: not (yet) a connection of the core
    OPEN = "open"  # Ready was returned: the core has it
    ENDED = "ended"  # PeerClosed or Failed was returned: nothing more comes up
    CLOSED = "closed"  # close() was called: nothing more goes out


class Stack:
    """The layers of one connection: bytes from below in, bytes for below and events out."""

    __slots__ = ("_now", "_plain_text_answer", "_ready_due", "_tls", "_top", "state")

    def __init__(self, config: TransportConfig, *, now: float) -> None:
        self._now = now
        tls = config.tls
        self._tls = (
            None
            if tls is None
            else TlsLayer(
                tls.context if config.site is None else tls.http_context,  # ALPN http/1.1 under HTTP
                deadline=now + config.tls_handshake_seconds,
            )
        )
        self._top: StreamLayer | HttpLayer | WebSocketLayer
        if config.site is None:
            self._top = StreamLayer()
        else:
            self._top = HttpLayer(
                config.site,
                allowed_origins=config.allowed_origins,
                max_head_bytes=config.max_head_bytes,
                head_seconds=config.head_seconds,
                max_message_bytes=config.max_message_bytes,
            )
        self._plain_text_answer = config.plain_text_answer
        self.state = StackState.PENDING
        # Without TLS the top starts now; a stream is then ready at once, and says so first.
        self._ready_due = self._tls is None and self._start_top()

    @property
    def secure(self) -> bool:
        return self._tls is not None

    # -- input ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes read from the socket; nothing is decoded before ``next_event``."""
        if self.state is StackState.CLOSED:
            return
        if self._tls is not None:
            self._tls.receive_data(data)
        else:
            self._top.receive_data(data)

    def receive_eof(self) -> None:
        """The socket read EOF (the peer's FIN)."""
        if self.state is StackState.CLOSED:
            return
        if self._tls is not None:
            self._tls.receive_eof()
        else:
            self._top.receive_eof()

    def tick(self, now: float) -> None:
        """The time: call it before feeding a batch, and when ``next_deadline`` comes."""
        self._now = now
        if self._tls is not None:
            self._tls.expire(now)
        if isinstance(self._top, HttpLayer):  # the only top layer with a timer
            self._top.tick(now)

    @property
    def next_deadline(self) -> float | None:
        """When a layer's timer runs out (a handshake, a request head), while one runs."""
        if self.state is not StackState.PENDING:
            return None
        tls = self._tls.deadline if self._tls is not None else None
        top = self._top.deadline if isinstance(self._top, HttpLayer) else None
        if tls is None:
            return top
        return tls if top is None else min(tls, top)

    def next_event(self) -> TransportEvent | None:
        """The next event for the backend, or None until more bytes (or time) come."""
        if self.state is StackState.ENDED or self.state is StackState.CLOSED:
            return None
        if self._ready_due:
            self._ready_due = False
            return self._open()
        tls = self._tls
        while True:
            event = self._top.next_event()
            if event is not None:
                return self._up(event)
            if tls is None:
                return None
            lower = tls.next_event()
            if lower is None:
                return None
            if isinstance(lower, Plaintext):
                self._top.receive_data(lower.data)
            elif isinstance(lower, TlsOpened):
                if self._start_top():
                    return self._open()
            elif isinstance(lower, TlsClosed):
                self._top.receive_eof()
            elif isinstance(lower, TlsFailed):
                self.state = StackState.ENDED
                return Failed(reason=lower.reason)
            elif isinstance(lower, NotTls):
                tls = self._tls = None
                failed = self._plain_peer(lower.data)
                if failed is not None:
                    return failed
            else:
                assert_never(lower)

    def _plain_peer(self, data: bytes) -> Failed | None:
        """A client spoke plain text to this TLS port: answer it in plain text, then close.

        The HTTP layer answers each request itself (a redirect to ``https``);
        a byte stream gets the listener's one line and the close.  Without
        this, the client would see its connection closed and nothing else.
        """
        top = self._top
        if isinstance(top, HttpLayer):
            top.start(self._now, plain_on_tls=True)
            top.receive_data(data)
            return None
        self.state = StackState.ENDED
        if self._plain_text_answer:
            top.send(self._plain_text_answer)
        return Failed(reason="plain text on a TLS port")

    def _start_top(self) -> bool:
        """The layer below is ready; True when the top is a stream, ready at once."""
        top = self._top
        if isinstance(top, HttpLayer):
            top.start(self._now)
            return False
        return True

    def _open(self) -> Ready:
        self.state = StackState.OPEN
        return Ready(secure=self._tls is not None)

    def _up(self, event: TransportEvent | Upgraded) -> TransportEvent:
        if isinstance(event, Upgraded):
            self._top = event.layer
            return self._open()
        if isinstance(event, _ENDINGS):
            self.state = StackState.ENDED
        return event

    # -- output --------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Queue application bytes: plaintext for a stream, a ``text_frame`` for a WebSocket.

        Only an open connection (or one whose peer has just closed) sends;
        anything given after ``close`` or before ``Ready`` is dropped.
        """
        if self.state is StackState.OPEN or self.state is StackState.ENDED:
            self._top.send(data)

    @property
    def has_output(self) -> bool:
        """Whether ``data_to_send`` would return anything (without encrypting it yet)."""
        tls = self._tls
        return self._top.has_output or (tls is not None and tls.has_output)

    def data_to_send(self) -> bytes:
        """Everything to write now, in order; under TLS, encrypted in one go."""
        chunks = self._top.take_output()
        tls = self._tls
        if tls is not None:
            if chunks:
                tls.send(chunks)
            return tls.data_to_send()
        if not chunks:
            return b""
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def flush(self, data: bytes) -> bytes:
        """``send(data)`` then ``data_to_send()``, in one call: a flush of an open connection.

        With nothing of the layers' own waiting (the usual case), the data
        goes straight to one ``SSLObject.write`` under TLS, and out as it is
        without (a WebSocket's frames are built once for all recipients):
        this runs for every connection with output, every pass.
        """
        if self.state is StackState.OPEN and not self._top.has_output:
            tls = self._tls
            return data if tls is None else tls.encrypt(data)
        if data:
            self.send(data)
        return self.data_to_send()

    def close(self, code: int = NORMAL_CLOSURE, reason: str = "") -> bytes:
        """End the connection: the last bytes to write before the FIN.

        What is queued, then the WebSocket close frame (``code``; or the
        answer to the peer's), then TLS close_notify.  Later calls return
        ``b""``, and the stack takes no more input.
        """
        if self.state is StackState.CLOSED:
            return b""
        self._top.close(code, reason)
        chunks = self._top.take_output()
        self.state = StackState.CLOSED
        tls = self._tls
        if tls is None:
            return b"".join(chunks)
        tls.send(chunks)
        tls.close()
        return tls.data_to_send()
