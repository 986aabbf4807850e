"""The lab's earlier stages, on the same events and actions: echo and relay."""

from __future__ import annotations

from ._actions import LogLevel
from ._base import LineReader, LineServerBase, ServerBase
from ._events import ConnId
from ._framing import Framing


class EchoServerState(ServerBase):
    """Every byte goes back to its sender unchanged; nothing else is ever sent."""

    def _on_open(self, conn: ConnId, peer: str) -> None:
        self._log(LogLevel.INFO, f"connection {conn} from {peer}")

    def _on_data(self, conn: ConnId, data: bytes) -> None:
        self._send((conn,), data)

    def _on_eof(self, conn: ConnId) -> None:
        self._log(LogLevel.INFO, f"connection {conn} closed")
        self._close(conn)


class RelayServerState(LineServerBase):
    """Every complete line, byte for byte, to every other client; no commands, no notices.

    A line over the limit is dropped silently, as is an unterminated last line.
    """

    def _on_open(self, conn: ConnId, peer: str) -> None:
        self._log(LogLevel.INFO, f"connection {conn} from {peer}")

    def _on_line(self, reader: LineReader, line: bytes | Framing) -> None:
        if line is Framing.TOO_LONG:
            return
        assert isinstance(line, bytes)
        conns = tuple(self._conns)
        if len(conns) > 1:
            at = conns.index(reader.conn)
            self._send(conns[:at] + conns[at + 1 :], line + b"\n")

    def _on_stream_end(self, conn: ConnId) -> None:
        self._log(LogLevel.INFO, f"connection {conn} closed")
        self._close(conn)
