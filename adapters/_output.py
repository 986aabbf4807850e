"""One connection's bytes on their way to the kernel: the output queue every backend uses."""

from __future__ import annotations

#: Most bytes joined for one ``send`` call; more is left for the next one.
WRITE_CHUNK = 256 * 1024


class OutputQueue:
    """Bytes queued for one connection and not yet taken by the kernel, oldest first.

    Handed out joined, one buffer per ``send``: coalescing many queued pieces
    into one system call is what keeps fan-out cheap.  A partly sent buffer is
    resumed from an offset, never copied again.
    """

    __slots__ = ("_chunks", "_offset")

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._offset = 0  # bytes of _chunks[0] already sent

    def __bool__(self) -> bool:
        return bool(self._chunks)

    def __len__(self) -> int:
        """Bytes queued and not yet sent."""
        return sum(map(len, self._chunks)) - self._offset

    def append(self, data: bytes) -> None:
        if data:
            self._chunks.append(data)

    def next_write(self) -> memoryview:
        """The bytes for the next ``send`` call: the queue's head, joined up to ``WRITE_CHUNK``."""
        chunks = self._chunks
        offset = self._offset
        if len(chunks) > 1 and len(chunks[0]) - offset < WRITE_CHUNK:
            head = chunks[0][offset:] if offset else chunks[0]
            taken, total = 1, len(head)
            while taken < len(chunks) and total < WRITE_CHUNK:
                total += len(chunks[taken])
                taken += 1
            chunks[:taken] = [b"".join([head, *chunks[1:taken]])]
            self._offset = offset = 0
        return memoryview(chunks[0])[offset:]

    def consume(self, count: int) -> None:
        """Drop ``count`` bytes that the kernel took, from the front."""
        chunks = self._chunks
        while count:
            left = len(chunks[0]) - self._offset
            if count < left:
                self._offset += count
                return
            count -= left
            del chunks[0]
            self._offset = 0

    def clear(self) -> None:
        self._chunks.clear()
        self._offset = 0
