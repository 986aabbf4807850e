"""What a listener wraps its connections in, and the layers' limits.

One ``TransportConfig`` per listener; every connection accepted there gets
a ``Stack`` built from it.  The limits are safe defaults that the CLI may
override, as the core's ``ServerConfig`` does for the chat.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._site import Site
from ._tls import TlsCertificates

#: Seconds a client has to finish the TLS handshake.
DEFAULT_TLS_HANDSHAKE_SECONDS = 10.0
#: Seconds a client has to send a whole request head, counted from when the
#: server is ready for it (connection made, or the previous response queued).
DEFAULT_HEAD_SECONDS = 10.0
#: Bytes of request line and headers, together, that one request may use.
DEFAULT_MAX_HEAD_BYTES = 8192
#: Bytes of one WebSocket message (UTF-8): the core's default line limit.
DEFAULT_MAX_MESSAGE_BYTES = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportConfig:
    """The layers of one listener's connections.

    - ``tls``: TLS first, with the holder's current certificate (a reload
      reaches new connections only).
    - ``site``: HTTP/1.1 serving these files, and the WebSocket at ``/ws``;
      without it the connection is a byte stream (text, IRC).
    - ``allowed_origins``: origins whose pages may open the WebSocket besides
      the server's own (``normalize_origin`` spelling; ``"*"`` for any).
    - ``plain_text_answer``: on a TLS byte-stream listener, the line a client
      that speaks plain text instead is told before the close, in the
      listener's dialect (the HTTP layer answers a plain request itself).
    """

    tls: TlsCertificates | None = None
    site: Site | None = None
    allowed_origins: frozenset[str] = frozenset()
    tls_handshake_seconds: float = DEFAULT_TLS_HANDSHAKE_SECONDS
    head_seconds: float = DEFAULT_HEAD_SECONDS
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    plain_text_answer: bytes = b""

    def __post_init__(self) -> None:
        if self.tls_handshake_seconds <= 0 or self.head_seconds <= 0:
            raise ValueError("transport deadlines must be positive")
        if self.max_head_bytes < 64:
            raise ValueError("max_head_bytes must be at least 64")
        if self.max_message_bytes < 1:
            raise ValueError("max_message_bytes must be at least 1")
