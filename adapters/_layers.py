"""The driver's side of transport layers: each listener's layers, each connection's stack, shared frames.

The layers themselves (``transport/``) are sans-IO and know nothing of the
core.  This module holds what the driver needs around them: which layers a
listener kind gets (``transport_configs``, from the command line's
options), what it keeps per connection (``Layers``), how the core's bytes
for web clients become WebSocket frames once per ``Send`` (``Frames``), and
the close code that says why the core closed a web client.
"""

from __future__ import annotations

from collections.abc import Mapping

from sansio_chat import CloseReason, Refusal, refusal

from ._listeners import ListenerKind
from ._options import ServeOptions
from .transport import (
    GOING_AWAY,
    NORMAL_CLOSURE,
    TRY_AGAIN_LATER,
    FrameEncoder,
    Site,
    Stack,
    TransportConfig,
)
from .web import load_site

#: The WebSocket close code for each reason the core closes a connection (docs/web.md).
CLOSE_CODES: Mapping[CloseReason, int] = {
    CloseReason.DONE: NORMAL_CLOSURE,
    CloseReason.SHUTDOWN: GOING_AWAY,
    CloseReason.SERVER_FULL: TRY_AGAIN_LATER,
}


def transport_configs(options: ServeOptions) -> dict[ListenerKind, TransportConfig]:
    """The layers of each kind of listener opened, built once (the page is read here, once)."""
    site: Site | None = None
    configs: dict[ListenerKind, TransportConfig] = {}
    for address in options.listen:
        kind = address.kind
        if not kind.layered or kind in configs:
            continue
        if kind.secure and options.certificates is None:
            raise ValueError(f"a {kind.name} listener needs a TLS certificate")
        if kind.web and site is None:
            site = load_site()
        configs[kind] = TransportConfig(
            tls=options.certificates if kind.secure else None,
            site=site if kind.web else None,
            allowed_origins=options.web_origins,
            tls_handshake_seconds=options.handshake_seconds,
            head_seconds=options.handshake_seconds,
            max_message_bytes=options.config.max_line_bytes,
            plain_text_answer=(
                refusal(kind.dialect, Refusal.TLS_REQUIRED) if kind.secure and not kind.web else b""
            ),
        )
    return configs


class Layers:
    """What the driver keeps about one connection's transport layers.

    ``stack`` is driven by the driver alone.  ``flush_due``: a sealed (TLS)
    connection is on the driver's list of those to encrypt at the next
    flush.  ``deadline``: the stack's timer as last put on the driver's heap.
    ``close_code``: what the WebSocket close frame says, once the core closed it.
    """

    __slots__ = ("close_code", "deadline", "flush_due", "peer", "stack")

    def __init__(self, stack: Stack, peer: str) -> None:
        self.stack = stack
        self.peer = peer  # kept for ConnectionOpened, which comes once the layers are ready
        self.flush_due = False
        self.deadline: float | None = None
        self.close_code: int = NORMAL_CLOSURE


class Frames:
    """The core's bytes for web clients as WebSocket frames: one text frame per LF-terminated event.

    The web renderer ends each JSON event with LF (JSON never holds a raw
    LF), so a ``Send`` carrying a burst of events splits back into them.
    The frames are built once per ``Send``, and the one ``bytes`` object is
    queued for every web recipient (server frames are unmasked and no
    extension is negotiated, so they are the same bytes on every connection).
    """

    __slots__ = ("_encoder",)

    def __init__(self) -> None:
        self._encoder = FrameEncoder()

    def __call__(self, data: bytes) -> bytes:
        if not data.isascii():  # (the renderer writes ASCII: a frame of text must be UTF-8 in any case)
            data = data.decode(errors="replace").encode()
        frame = self._encoder.text_utf8
        end = data.find(b"\n")
        if 0 <= end == len(data) - 1:  # one event: the usual case
            return frame(data[:end])
        return b"".join([frame(piece) for piece in data.split(b"\n") if piece])
