"""Events a stack hands up to its backend: a closed vocabulary of six.

A backend pulls them one at a time (``Stack.next_event``) and turns them
into the core's events; nothing is decoded before it is pulled, so a
connection whose input the core holds back costs its raw bytes (and at
most one pull's worth of decoded input).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready:
    """The handshakes are done: open the connection in the core now.

    ``secure`` says whether the bytes cross the network under TLS; the
    dialect is the listener's (a stack carries bytes, it does not know
    dialects).  Comes at most once, and before any ``Data`` or ``Messages``.
    """

    secure: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Data:
    """Application bytes of a byte-stream connection (text or IRC over TLS), split anyhow."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Messages:
    """Whole WebSocket text messages, in order, as UTF-8: what one pull parsed.

    Each is checked for size and UTF-8 already.  One pull brings what was
    there, up to ``MESSAGES_PER_PULL_BYTES``, and stops before any other
    frame (a ping, a close, an error), so the layer's own answers still
    follow the core's answers to the messages before them.
    """

    texts: tuple[bytes, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Served:
    """The HTTP layer answered a request by itself (the page, an asset, an error).

    For the access log; such a connection is never a chat user.
    """

    method: str
    target: str
    status: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerClosed:
    """The peer ended in good order (FIN, TLS close_notify, WebSocket close frame).

    Nothing more will come up.  For an open connection it is the core's
    ``EofReceived``; the final bytes (the close frame's answer,
    close_notify) come from ``Stack.close``.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class Failed:
    """The stack gave up on the connection; ``reason`` is for the operator's log.

    Broken or truncated TLS, an HTTP request refused with a closing error,
    a WebSocket protocol error, a deadline.  The stack's last words (a TLS
    alert, the error response, a close frame with its code) are already
    queued: call ``Stack.close`` and send what it returns, then the FIN.
    For an open connection it is the core's ``ConnectionReset``;
    ``protocol_error`` (the peer broke the WebSocket protocol: 1002, 1003,
    1007, 1009) goes with it, for the core to say why the user left.
    """

    reason: str
    protocol_error: bool = False


TransportEvent = Ready | Data | Messages | Served | PeerClosed | Failed
