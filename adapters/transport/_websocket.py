"""WebSocket as a sans-IO layer, on wsproto: text messages up, frames down.

The HTTP layer hands over an upgrade request it has checked (``accept``):
wsproto's ``WSConnection`` validates the handshake and writes the ``101``
answer, with no subprotocol and no extension, so that a server frame is the
same bytes for every connection; from then on wsproto's ``FrameProtocol``
parses and builds the frames.  ``FrameEncoder.text`` builds such a frame once for a
message; the backend queues that one ``bytes`` object for all its
recipients (server frames are not masked).

Input stays raw until it is pulled: received bytes wait in wsproto's
buffer and are parsed only by ``next_event``, which returns the whole
messages there are (all of one read, in the usual case) as one
``Messages``, and stops before any other frame; the parser is resumed
where it stopped, not set up again.  What the layer enforces:

- a text message over ``max_message_bytes`` (UTF-8, counted while its
  fragments arrive) closes with 1009;
- a binary message closes with 1003;
- invalid UTF-8 closes with 1007, any other framing error with 1002
  (wsproto's verdicts);
- a ping is answered with a pong by the layer itself;
- the peer's close frame is answered (its code echoed) when the stack is
  closed; an EOF without a close frame is a failure (1006 in the RFC's
  terms: no close frame is sent).

A failure's close frame, like any close frame, is queued when the stack
is closed, not when the failure is found: what the server sends before
the close (its answer to the messages that came before the bad frame,
which under TLS reaches the layer only at the flush) goes out first.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    Request,
)
from wsproto.frame_protocol import CloseReason, Frame, FrameProtocol, Opcode, ParseFailed
from wsproto.utilities import RemoteProtocolError

from ._events import Failed, Messages, PeerClosed

#: The close codes this layer sends, by what went wrong.
NORMAL_CLOSURE = CloseReason.NORMAL_CLOSURE
GOING_AWAY = CloseReason.GOING_AWAY
PROTOCOL_ERROR = CloseReason.PROTOCOL_ERROR
UNSUPPORTED_DATA = CloseReason.UNSUPPORTED_DATA
INVALID_PAYLOAD = CloseReason.INVALID_FRAME_PAYLOAD_DATA
MESSAGE_TOO_BIG = CloseReason.MESSAGE_TOO_BIG
TRY_AGAIN_LATER = CloseReason.TRY_AGAIN_LATER

_TEXT = Opcode.TEXT  # (once: on Python 3.11 an enum member is looked up through a descriptor)

#: Bytes of messages one pull brings up at most (as much as one read of the socket).
MESSAGES_PER_PULL_BYTES = 64 * 1024

#: Payload lengths whose frame header an encoder keeps (what the chat sends is far shorter).
CACHED_HEADER_LENGTHS = 16 * 1024


class FrameEncoder:
    """Builds unmasked, unfragmented server text frames, one per message.

    Build a frame once per message and share the bytes: no extension is
    ever negotiated, so the frame is valid on every connection.  Such a
    frame is a header that depends on the payload's length alone, then the
    payload: wsproto's frame layer builds the header for a length once, and
    the encoder keeps it (for lengths up to ``CACHED_HEADER_LENGTHS``, so at
    most that many), so that a frame costs a lookup and a concatenation.
    One per server, or per thread.
    """

    __slots__ = ("_frames", "_headers")

    def __init__(self) -> None:
        self._frames = FrameProtocol(client=False, extensions=[])
        self._headers: dict[int, bytes] = {}

    def text(self, text: str) -> bytes:
        return self.text_utf8(text.encode())

    def text_utf8(self, payload: bytes) -> bytes:
        """A frame carrying ``payload``, which the caller knows to be UTF-8 text."""
        length = len(payload)
        header = self._headers.get(length)
        if header is None:
            header = self._header(length)
        return header + payload

    def _header(self, length: int) -> bytes:
        frame = self._frames.send_data(" " * length, fin=True)  # wsproto's frame, of a stand-in payload
        header = bytes(frame[: len(frame) - length])
        if length <= CACHED_HEADER_LENGTHS:
            self._headers[length] = header
        return header


def text_frame(text: str) -> bytes:
    """One server text frame carrying ``text`` (``FrameEncoder().text``, for occasional use)."""
    return FrameEncoder().text(text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    """A handshake wsproto refused: the HTTP answer to give instead."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    reason: str


class WsState(enum.Enum):
    OPEN = "open"
    PEER_CLOSED = "peer closed"  # their close frame came: ours answers it at close()
    CLOSED = "closed"  # our close frame is queued: no frame follows it
    FAILED = "failed"  # broken: nothing more is read; close() queues the close frame with the error's code


def accept(
    headers: list[tuple[bytes, bytes]], target: bytes, *, max_message_bytes: int
) -> WebSocketLayer | Rejection:
    """Answer an upgrade request the HTTP layer parsed; the ``101`` is the layer's first output."""
    ws = WSConnection(ConnectionType.SERVER)
    try:
        ws.initiate_upgrade_connection(headers, target)
    except RemoteProtocolError as exc:
        hint = exc.event_hint
        status = getattr(hint, "status_code", 400)
        extra = tuple(getattr(hint, "headers", ()))
        return Rejection(status=status, headers=extra, reason=f"WebSocket handshake refused: {exc}")
    except (h11.ProtocolError, UnicodeError) as exc:
        return Rejection(status=400, headers=(), reason=f"WebSocket handshake refused: {exc}")
    if not any(isinstance(event, Request) for event in ws.events()):  # pragma: no cover - it raised instead
        return Rejection(status=400, headers=(), reason="WebSocket handshake refused")
    handshake = ws.send(AcceptConnection())
    return WebSocketLayer(handshake=handshake, max_message_bytes=max_message_bytes)


class WebSocketLayer:
    """One server-side WebSocket connection after its handshake.

    The frames are wsproto's ``FrameProtocol`` (the layer under its
    ``Connection``): it parses, unmasks, joins nothing and checks UTF-8;
    this layer says what each kind of frame means here, which is all the
    connection-level part of wsproto would add, at half the cost per
    message.  No extension was negotiated, so none is set up.
    """

    __slots__ = (
        "_eof",
        "_error",
        "_fed",
        "_frames",
        "_held",
        "_limit",
        "_out",
        "_parts",
        "_peer_close",
        "_proto",
        "_size",
        "state",
    )

    def __init__(self, *, handshake: bytes, max_message_bytes: int) -> None:
        self._proto = FrameProtocol(client=False, extensions=[])
        # The frames parsed, as one iterator while it has any: resumed where it stopped, made
        # again only once it ran dry and more bytes came (``_fed``).
        self._frames: Iterator[Frame] | None = None
        self._fed = False
        self._held: Frame | ParseFailed | None = None  # what ended the last pull's messages, parsed already
        self._limit = max_message_bytes
        self._out: list[bytes] = [handshake]
        self._parts: list[bytes] = []  # fragments of the message being received
        self._size = 0  # its UTF-8 bytes so far
        self._eof = False
        self._peer_close: tuple[int, str] | None = None  # their close frame's code and reason
        self._error: tuple[int, str] | None = None  # the close frame a failure owes the peer
        self.state = WsState.OPEN

    def receive_data(self, data: bytes) -> None:
        if self.state is WsState.OPEN and not self._eof and data:
            self._proto.receive_bytes(data)
            self._fed = True

    def receive_eof(self) -> None:
        self._eof = True

    def next_event(self) -> Messages | PeerClosed | Failed | None:
        """Parse what came: the whole messages there are, or what ends them; None when more bytes are needed.

        Messages come up together, up to ``MESSAGES_PER_PULL_BYTES``; any
        other frame (or a framing error) after them waits for the next pull,
        so that a pong or a close frame is queued after the core has answered
        the messages that came before it.
        """
        if self.state is not WsState.OPEN:
            return None
        texts: list[bytes] = []
        size = 0
        while True:
            frame: Frame | ParseFailed | None = self._held
            if frame is not None:
                self._held = None
            else:
                frames = self._frames
                if frames is None:
                    if not self._fed:  # nothing came since the parser ran dry: no need to ask it
                        break
                    self._fed = False
                    frames = self._frames = self._proto.received_frames()
                try:
                    frame = next(frames, None)
                except ParseFailed as exc:  # a framing error, or a text message that is not UTF-8
                    frame = exc
                if frame is None:
                    self._frames = None
                    break
            if type(frame) is Frame and frame.opcode is _TEXT:  # a whole message, or a fragment of one
                piece = cast(str, frame.payload).encode()  # (decoded by wsproto: known to be UTF-8)
                if self._size + len(piece) <= self._limit:
                    finished = frame.message_finished
                    message = piece if finished and not self._parts else self._add_fragment(piece, finished)
                    if message is not None:
                        texts.append(message)
                        size += len(message)
                        if size >= MESSAGES_PER_PULL_BYTES:
                            break
                    continue
            if texts:  # anything else is for the next pull, once these are answered
                self._held = frame
                break
            if isinstance(frame, ParseFailed):
                # The peer reads the reason: say what was wrong, not which decoder said so.
                reason = "text is not valid UTF-8" if frame.code == INVALID_PAYLOAD else str(frame)
                return self._fail(frame.code, reason)
            opcode, payload = frame.opcode, frame.payload
            if opcode is Opcode.TEXT:
                return self._fail(MESSAGE_TOO_BIG, f"message too big (max {self._limit} bytes)")
            if opcode is Opcode.PING:
                self._out.append(bytes(self._proto.pong(cast(bytes, payload))))
            elif opcode is Opcode.CLOSE:
                self.state = WsState.PEER_CLOSED
                self._peer_close = cast(tuple[int, str], payload)
                return PeerClosed()
            elif opcode is Opcode.BINARY:
                return self._fail(UNSUPPORTED_DATA, "binary messages are not accepted")
            # a pong needs nothing
        if texts:
            return Messages(texts=tuple(texts))
        if self._eof:
            self.state = WsState.FAILED
            return Failed(reason="connection closed without a WebSocket close frame")
        return None

    def _add_fragment(self, piece: bytes, finished: bool) -> bytes | None:
        """A fragment of a message, within the limit: the whole message once its last one came."""
        self._parts.append(piece)
        if not finished:
            self._size += len(piece)
            return None
        message = b"".join(self._parts)
        self._parts.clear()
        self._size = 0
        return message

    def send(self, frame: bytes) -> None:
        """Queue a frame built by ``text_frame``; nothing follows a close frame (``close``)."""
        if self.state is not WsState.CLOSED:
            self._out.append(frame)

    def take_output(self) -> list[bytes]:
        out = self._out
        self._out = []
        return out

    @property
    def has_output(self) -> bool:
        return bool(self._out)

    def close(self, code: int, reason: str) -> None:
        """Queue our close frame: the answer to theirs (code echoed), a failure's, or ``code``."""
        if self.state is WsState.PEER_CLOSED and self._peer_close is not None:
            self._out.append(bytes(self._proto.close(*self._peer_close)))
        elif self.state is WsState.FAILED and self._error is not None:
            self._out.append(bytes(self._proto.close(*self._error)))
        elif self.state is WsState.OPEN:
            self._out.append(bytes(self._proto.close(code, reason or None)))
        self.state = WsState.CLOSED

    def _fail(self, code: int, reason: str) -> Failed:
        self._error = (code, reason)
        self.state = WsState.FAILED
        self._parts.clear()
        return Failed(reason=f"WebSocket closed with {code}: {reason}", protocol_error=True)
