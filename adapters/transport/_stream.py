"""The top of a stack that carries a byte stream (text or IRC lines): chunks pass through.

Received chunks wait here, as received, until they are pulled one by one;
bytes to send pass through unchanged.
"""

from __future__ import annotations

from collections import deque

from ._events import Data, PeerClosed


class StreamLayer:
    __slots__ = ("_chunks", "_ended", "_eof", "_out")

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._out: list[bytes] = []
        self._eof = False
        self._ended = False

    def receive_data(self, data: bytes) -> None:
        if data and not self._eof:
            self._chunks.append(data)

    def receive_eof(self) -> None:
        self._eof = True

    def next_event(self) -> Data | PeerClosed | None:
        if self._chunks:
            return Data(data=self._chunks.popleft())
        if self._eof and not self._ended:
            self._ended = True
            return PeerClosed()
        return None

    def send(self, data: bytes) -> None:
        self._out.append(data)  # a peer that sent EOF may still read (half-close)

    def take_output(self) -> list[bytes]:
        out = self._out
        self._out = []
        return out

    @property
    def has_output(self) -> bool:
        return bool(self._out)

    def close(self, code: int, reason: str) -> None:
        """Nothing to say: the stack's TLS layer (if any) and the FIN end it."""
