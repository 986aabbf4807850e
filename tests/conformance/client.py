"""A blocking test client for real sockets: every read has a deadline, nothing sleeps.

The server answers each connection's lines in order, so ``ping_barrier``
(send ``PING <token>``, read up to ``[server] PONG <token>``) is how a test
waits for the server to have handled everything it sent before.
"""

from __future__ import annotations

import re
import socket
import ssl
import struct
import time
from collections.abc import Callable

#: Default bound on any single wait for the server, in seconds.
READ_TIMEOUT = 5.0


#: What every chat-mode server line looks like: ``[server] x``, ``[nick] x``, ``[a -> b] x``, ``* nick x``.
def _show(data: bytes | bytearray, limit: int = 120) -> str:
    """``data`` for an error message, the middle elided when long."""
    if len(data) <= 2 * limit:
        return repr(bytes(data))
    return f"{bytes(data[:limit])!r} ... ({len(data)} bytes) ... {bytes(data[-limit:])!r}"


_CHAT_LINE = re.compile(r"(\[[^\[\]\s]+( -> [^\[\]\s]+)?\]|\* \S+) .*", re.DOTALL)


class ClosedError(Exception):
    """The server closed the connection (EOF) before a full line arrived."""

    def __init__(self, partial: bytes) -> None:
        super().__init__(f"connection closed; unterminated bytes: {_show(partial)}")
        self.partial = partial


class ReadTimeoutError(AssertionError):
    """Nothing (or not enough) arrived in time."""


def receive_before(sock: socket.socket, deadline: float, describe: Callable[[], str]) -> bytes:
    """One ``recv`` before ``deadline`` (b"" at EOF); ``ReadTimeoutError`` saying ``describe()`` if none."""
    remaining = deadline - time.monotonic()
    if remaining > 0:
        sock.settimeout(remaining)
        try:
            return sock.recv(65536)
        except TimeoutError:
            pass
    raise ReadTimeoutError(f"timed out: {describe()}")


def open_socket(
    host: str, port: int, *, rcvbuf: int | None = None, tls: ssl.SSLContext | None = None
) -> socket.socket:
    """A connected TCP socket, under TLS (checked against ``localhost``) when ``tls`` is given."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(READ_TIMEOUT)
        sock.connect((host, port))
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname="localhost", suppress_ragged_eofs=False)
    except BaseException:
        sock.close()
        raise
    return sock


class Client:
    """One TCP connection to the server under test.

    ``received`` keeps every byte that arrived, for byte-exact transcripts.
    ``chat`` turns on a check that every line is ``[sender] text``.
    """

    def __init__(self, sock: socket.socket, *, chat: bool = True, name: str = "") -> None:
        self.sock = sock
        self.chat = chat
        self.name = name
        self.received = bytearray()
        self._buffer = bytearray()
        self._eof = False
        self._barriers = 0  # tokens are per connection, so transcripts are reproducible

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        chat: bool = True,
        name: str = "",
        rcvbuf: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> Client:
        """Connect over TCP; ``rcvbuf`` shrinks the receive buffer (set before connecting).

        With ``tls``, the TLS handshake is done before this returns, and an
        EOF without the server's close_notify raises ``ssl.SSLEOFError``.
        """
        sock = open_socket(host, port, rcvbuf=rcvbuf, tls=tls)
        return cls(sock, chat=chat, name=name)

    def __repr__(self) -> str:
        return f"<Client {self.name or '?'} fd={self.sock.fileno()}>"

    # -- sending --------------------------------------------------------------

    def send_line(self, text: str) -> None:
        """Send ``text`` encoded as UTF-8 followed by LF."""
        self.sock.sendall(text.encode() + b"\n")

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        """Half-close: send our FIN, keep receiving."""
        self.sock.shutdown(socket.SHUT_WR)

    def reset(self) -> None:
        """Close with an RST instead of a FIN (SO_LINGER with a zero timeout)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()

    # -- receiving ------------------------------------------------------------

    @property
    def consumed(self) -> int:
        """How many of the bytes received were read (as lines or bytes) so far."""
        return len(self.received) - len(self._buffer)

    def _fill(self, deadline: float) -> bool:
        """Receive once before ``deadline``; False at EOF."""
        if self._eof:
            return False
        data = receive_before(
            self.sock, deadline, lambda: f"{self!r}: buffered so far: {_show(self._buffer)}"
        )
        if not data:
            self._eof = True
            return False
        self.received += data
        self._buffer += data
        return True

    def read_line_bytes(self, timeout: float = READ_TIMEOUT) -> bytes:
        """The next line, LF included; ``ClosedError`` at EOF."""
        deadline = time.monotonic() + timeout
        searched = 0
        while True:
            end = self._buffer.find(b"\n", searched)
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line
            searched = len(self._buffer)
            if not self._fill(deadline):
                partial = bytes(self._buffer)
                self._buffer.clear()
                raise ClosedError(partial)

    def read_line(self, timeout: float = READ_TIMEOUT) -> str:
        """The next line, decoded, without its LF."""
        line = self.read_line_bytes(timeout)[:-1].decode()
        if self.chat:
            assert _CHAT_LINE.fullmatch(line), f"{self!r}: malformed server line {line!r}"
        return line

    def read_exact(self, count: int, timeout: float = READ_TIMEOUT) -> bytes:
        """Exactly ``count`` bytes, whatever their content."""
        deadline = time.monotonic() + timeout
        while len(self._buffer) < count:
            if not self._fill(deadline):
                raise ClosedError(bytes(self._buffer))
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def expect(self, *lines: str, timeout: float = READ_TIMEOUT) -> None:
        """The next lines are exactly ``lines``."""
        got: list[str] = []
        try:
            for _ in lines:
                got.append(self.read_line(timeout))
        except (ClosedError, ReadTimeoutError) as exc:
            raise AssertionError(f"{self!r}: expected {list(lines)!r}, got {got!r} then {exc}") from exc
        assert got == list(lines), f"{self!r}: expected {list(lines)!r}, got {got!r}"

    def ping_barrier(self, timeout: float = READ_TIMEOUT) -> list[str]:
        """Everything that arrives before the answer to a fresh ``PING``."""
        self._barriers += 1
        token = f"barrier-{self._barriers}"
        self.send_line(f"PING {token}")
        pong = f"[server] PONG {token}"
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.read_line(max(0.0, deadline - time.monotonic()))
            except (ClosedError, ReadTimeoutError) as exc:
                raise AssertionError(f"{self!r}: no {pong!r}; lines before: {lines!r}; {exc}") from exc
            if line == pong:
                return lines
            lines.append(line)

    def expect_quiet(self) -> None:
        """Nothing arrived for this client (checked with a ping barrier)."""
        lines = self.ping_barrier()
        assert lines == [], f"{self!r}: expected nothing, got {lines!r}"

    def lines_until_closed(self, timeout: float = READ_TIMEOUT) -> list[str]:
        """Every line until the server's FIN; the stream must end on a line boundary."""
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while True:
            try:
                lines.append(self.read_line(max(0.0, deadline - time.monotonic())))
            except ClosedError as exc:
                assert not exc.partial, f"{self!r}: stream ended inside a line: {_show(exc.partial)}"
                return lines
            except ReadTimeoutError as exc:
                raise AssertionError(f"{self!r}: not closed; lines so far: {lines!r}") from exc

    def expect_closed(self, *lines: str, timeout: float = READ_TIMEOUT) -> None:
        """The last lines are exactly ``lines``, then EOF."""
        got = self.lines_until_closed(timeout)
        assert got == list(lines), f"{self!r}: expected {list(lines)!r} then EOF, got {got!r} then EOF"

    def bytes_until_closed(self, timeout: float = READ_TIMEOUT) -> bytes:
        """Every remaining byte until the server's FIN."""
        deadline = time.monotonic() + timeout
        while self._fill(deadline):
            pass
        data = bytes(self._buffer)
        self._buffer.clear()
        return data
