"""The lab's earlier stages, on the same events and actions: echo and relay."""

from __future__ import annotations

from ._actions import LogLevel
from ._base import LineServerBase, LineSession, ServerBase
from ._config import ServerConfig
from ._events import ConnId, DialectName
from ._framing import Framing
from ._roster import Roster


class EchoServerState(ServerBase[None]):
    """Every byte goes back to its sender unchanged; nothing else is ever sent."""

    def _on_open(self, conn: ConnId, dialect: DialectName, secure: bool) -> None:
        return None

    def _on_opened(self, conn: ConnId, peer: str) -> None:
        self._log(LogLevel.INFO, f"connection {conn} from {peer}")

    def _on_data(self, conn: ConnId, data: bytes) -> None:
        self._send((conn,), data)

    def _on_eof(self, conn: ConnId) -> None:
        self._log(LogLevel.INFO, f"connection {conn} closed")
        self._close(conn)


class RelayServerState(LineServerBase[LineSession]):
    """Every complete line, byte for byte, to every other client; no commands, no notices.

    A line over the limit is dropped silently, as is an unterminated last line.
    """

    def __init__(self, config: ServerConfig | None = None) -> None:
        super().__init__(config)
        self._roster = Roster()

    def _on_open(self, conn: ConnId, dialect: DialectName, secure: bool) -> LineSession:
        return LineSession(conn)

    def _on_opened(self, conn: ConnId, peer: str) -> None:
        self._roster.add(conn)
        self._log(LogLevel.INFO, f"connection {conn} from {peer}")

    def _forget(self, conn: ConnId) -> None:
        super()._forget(conn)
        self._roster.remove(conn)

    def _on_line(self, session: LineSession, line: bytes | Framing) -> None:
        if line is Framing.TOO_LONG:
            return
        assert isinstance(line, bytes)
        others = self._roster.others(session.conn)
        if others:
            self._send(others, line + b"\n")

    def _on_stream_end(self, session: LineSession) -> None:
        self._log(LogLevel.INFO, f"connection {session.conn} closed")
        self._close(session.conn)
