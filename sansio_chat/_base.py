"""What every server state shares: open connections, queued bytes, line pumping.

The three modes (echo, relay, chat) differ only in what they do with the
bytes; opening, the slow-consumer rule, flood control, shutdown and the
action list are decided here once.
"""

from __future__ import annotations

from typing import Generic, TypeVar, assert_never

from ._actions import Abort, Action, Close, Log, LogLevel, PauseReading, ResumeReading, Send
from ._config import ServerConfig
from ._events import (
    ConnectionOpened,
    ConnectionReset,
    ConnId,
    DataReceived,
    EofReceived,
    Event,
    OutputBacklog,
    ShutdownRequested,
    Tick,
)
from ._flood import TokenBucket
from ._framing import Framing, LineBuffer

#: What a mode keeps about each open connection (a chat user; nothing for echo).
S = TypeVar("S")


class ServerBase(Generic[S]):
    """Turns events into actions; subclasses say what the bytes mean.

    ``receive`` is the only entry point.  Each call returns the actions it
    produced, in the order a backend must carry them out.

    Consecutive sends to the same recipients within one call become a single
    ``Send`` of the joined bytes.  A read often carries a burst of lines from
    one sender; each recipient then gets one queue entry for the burst
    instead of one per line, with the same bytes in the same order.
    """

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config if config is not None else ServerConfig()
        self._now = 0.0
        self._actions: list[Action] = []
        # The send being gathered: its recipients and its parts, not yet an action.
        self._batch_conns: tuple[ConnId, ...] | None = None
        self._batch: list[bytes] = []
        # Open connections in connection order, each with what its mode keeps about it.
        self._conns: dict[ConnId, S] = {}
        self._shutting_down = False

    # -- the public face -------------------------------------------------

    def receive(self, event: Event) -> list[Action]:
        """Consume one event; return what the backend must do, in order."""
        actions: list[Action] = []
        self._actions = actions
        self._batch_conns = None  # nothing gathered is carried over, even after a failure
        match event:
            case DataReceived(conn=conn, data=data):
                if conn in self._conns:
                    self._on_data(conn, data)
            case OutputBacklog(conn=conn, unsent=unsent):
                if unsent > self.config.max_pending_bytes and conn in self._conns:
                    self._on_too_slow(conn)
            case Tick(now=now):
                self._now = now
                self._on_tick()
            case ConnectionOpened(conn=conn, peer=peer):
                self._open(conn, peer)
            case EofReceived(conn=conn) | ConnectionReset(conn=conn):
                if conn in self._conns:
                    self._on_eof(conn)
            case ShutdownRequested():
                if not self._shutting_down:
                    self._shutting_down = True
                    self._on_shutdown()
            case _:
                assert_never(event)
        if self._batch_conns is not None:
            self._end_batch()
        return actions

    @property
    def next_wakeup(self) -> float | None:
        """When the core next needs a ``Tick`` (a paused reader may resume), or None."""
        return None

    @property
    def uses_clock(self) -> bool:
        """Whether time matters: if not, a backend need not send ``Tick`` before its data."""
        return False

    @property
    def connection_count(self) -> int:
        """Open connections (closing ones are no longer counted)."""
        return len(self._conns)

    # -- helpers for subclasses -----------------------------------------

    def _open(self, conn: ConnId, peer: str) -> None:
        if self._shutting_down:
            self._emit(Close(conn=conn))
            return
        if len(self._conns) >= self.config.max_clients:
            self._log(LogLevel.WARNING, f"refused {peer}: server full")
            self._on_refused(conn)
            self._emit(Close(conn=conn))
            return
        self._conns[conn] = self._on_open(conn, peer)

    def _send(self, conns: tuple[ConnId, ...], data: bytes) -> None:
        """Queue ``data`` for open connections: one action, whatever the number of recipients.

        Joined to the previous send when that went to the same recipients and
        nothing came between: the very same tuple (a sender's broadcasts), or
        the same single connection (replies).
        """
        batch_conns = self._batch_conns
        if conns is batch_conns or (len(conns) == 1 and conns == batch_conns):
            self._batch.append(data)
            return
        if batch_conns is not None:
            self._end_batch()
        self._batch_conns = conns
        self._batch = [data]

    def _end_batch(self) -> None:
        """Turn the gathered send into its action (there is one)."""
        conns, batch = self._batch_conns, self._batch
        assert conns is not None
        self._batch_conns = None
        self._actions.append(Send(conns=conns, data=batch[0] if len(batch) == 1 else b"".join(batch)))

    def _emit(self, action: Action) -> None:
        """Add any other action, after the send being gathered."""
        if self._batch_conns is not None:
            self._end_batch()
        self._actions.append(action)

    def _send_unaccounted(self, conn: ConnId, data: bytes) -> None:
        """Queue ``data`` for a connection that is not open (being refused)."""
        self._emit(Send(conns=(conn,), data=data))

    def _close(self, conn: ConnId) -> None:
        """Forget an open connection; the backend flushes it, then closes it."""
        self._forget(conn)
        self._emit(Close(conn=conn))

    def _abort(self, conn: ConnId) -> None:
        """Forget an open connection; the backend drops its queue and closes it."""
        self._forget(conn)
        self._emit(Abort(conn=conn))

    def _forget(self, conn: ConnId) -> None:
        del self._conns[conn]

    def _log(self, level: LogLevel, message: str) -> None:
        self._emit(Log(level=level, message=message))

    # -- what subclasses define -------------------------------------------

    def _on_open(self, conn: ConnId, peer: str) -> S:
        """Welcome an admitted connection; return what to keep about it while it is open."""
        raise NotImplementedError

    def _on_refused(self, conn: ConnId) -> None:
        """Say why to a connection refused for lack of room (nothing, by default)."""

    def _on_data(self, conn: ConnId, data: bytes) -> None:
        raise NotImplementedError

    def _on_eof(self, conn: ConnId) -> None:
        raise NotImplementedError

    def _on_too_slow(self, conn: ConnId) -> None:
        self._log(LogLevel.INFO, f"connection {conn} dropped (too slow)")
        self._abort(conn)

    def _on_shutdown(self) -> None:
        for conn in list(self._conns):
            self._close(conn)

    def _on_tick(self) -> None:
        """Time moved on; nothing waits for it by default."""


class LineReader:
    """One connection's line-oriented input: its buffer, flood bucket and state."""

    __slots__ = ("at_eof", "bucket", "conn", "held", "lines", "paused")

    def __init__(self, conn: ConnId, config: ServerConfig, now: float) -> None:
        self.conn = conn
        self.lines = LineBuffer(config.max_line_bytes)
        self.bucket = TokenBucket(config.rate_lines, config.rate_burst, now) if config.rate_lines else None
        # A line taken from the buffer while the bucket was empty: it goes first.
        self.held: bytes | Framing | None = None
        self.paused = False
        self.at_eof = False


class LineServerBase(ServerBase[S]):
    """A server fed with lines: framing, flood control and end of stream.

    Lines are taken from a connection's buffer one at a time; when its token
    bucket is empty the line waits, reading pauses, and a later ``Tick``
    resumes it.  No line is dropped for flooding and the order never changes.
    """

    def __init__(self, config: ServerConfig | None = None) -> None:
        super().__init__(config)
        self._readers: dict[ConnId, LineReader] = {}
        self._paused: dict[ConnId, LineReader] = {}

    @property
    def uses_clock(self) -> bool:
        return self.config.rate_lines > 0

    @property
    def next_wakeup(self) -> float | None:
        if not self._paused:
            return None
        return min(reader.bucket.ready_at() for reader in self._paused.values() if reader.bucket)

    def _reader(self, conn: ConnId) -> LineReader:
        """The connection's reader, made on its first bytes: idle connections stay small."""
        reader = self._readers.get(conn)
        if reader is None:
            reader = self._readers[conn] = LineReader(conn, self.config, self._now)
        return reader

    def _on_data(self, conn: ConnId, data: bytes) -> None:
        reader = self._reader(conn)
        reader.lines.feed(data)
        if not reader.paused:
            self._pump(reader)

    def _on_eof(self, conn: ConnId) -> None:
        reader = self._reader(conn)
        reader.at_eof = True
        self._end_of_stream(reader)
        if not reader.paused:
            self._pump(reader)

    def _on_tick(self) -> None:
        if not self._paused:
            return
        now = self._now
        for reader in list(self._paused.values()):
            assert reader.bucket is not None  # only a bucket pauses a reader
            if reader.bucket.ready_at() <= now:
                self._pump(reader)

    def _pump(self, reader: LineReader) -> None:
        """Handle buffered lines until none is left, the bucket is empty, or the connection closed."""
        conn = reader.conn
        bucket = reader.bucket
        open_conns = self._conns
        while conn in open_conns:
            item = reader.held
            if item is None:
                item = reader.lines.next_line()
                if item is None:
                    break
            else:
                reader.held = None
            if bucket is not None and not bucket.try_take(self._now):
                reader.held = item
                if not reader.paused:
                    reader.paused = True
                    self._paused[conn] = reader
                    self._emit(PauseReading(conn=conn))
                return
            self._on_line(reader, item)
        if conn not in open_conns:
            return
        if reader.paused:
            reader.paused = False
            del self._paused[conn]
            self._emit(ResumeReading(conn=conn))
        if reader.at_eof:
            self._on_stream_end(conn)

    def _forget(self, conn: ConnId) -> None:
        super()._forget(conn)
        self._readers.pop(conn, None)
        self._paused.pop(conn, None)

    def _end_of_stream(self, reader: LineReader) -> None:
        """The peer sent its last byte; subclasses choose what to do with a partial line."""

    def _on_line(self, reader: LineReader, line: bytes | Framing) -> None:
        raise NotImplementedError

    def _on_stream_end(self, conn: ConnId) -> None:
        raise NotImplementedError
