"""An IRC client for real sockets: CR LF lines, a PING barrier, every read with a deadline.

The server answers each connection's lines in order, so ``barrier`` (send
``PING <token>``, read up to the ``PONG`` that carries it) is how a test
waits for the server to have handled everything the client sent before.
"""

from __future__ import annotations

import re
import time

from .client import READ_TIMEOUT, Client, ClosedError, ReadTimeoutError

#: The one line of the welcome that changes from run to run (when the server started).
_CREATED = re.compile(r":\S+ 003 \S+ :This server was created .+")


class IRCClient:
    """One IRC connection: ``send`` lines, read them back without CR LF, sync with ``barrier``."""

    def __init__(self, client: Client, nick: str) -> None:
        self.client = client
        self.nick = nick
        self._barriers = 0
        self._welcomed = 0  # where the bytes after the welcome start

    @property
    def transcript(self) -> bytes:
        """Every byte received after the welcome (which has the server's start time in it)."""
        return bytes(self.client.received[self._welcomed :])

    def send(self, *lines: str) -> None:
        self.client.send_raw(b"".join(line.encode() + b"\r\n" for line in lines))

    def read_line(self, timeout: float = READ_TIMEOUT) -> str:
        line = self.client.read_line_bytes(timeout)
        assert line.endswith(b"\r\n"), f"{self.nick}: not a CR LF line: {line!r}"
        return line[:-2].decode()

    def register(self, username: str = "") -> list[str]:
        """NICK and USER; return the welcome up to the end of the MOTD (422), checking its shape."""
        self.send(f"NICK {self.nick}", f"USER {username or self.nick} 0 * :{self.nick.title()}")
        lines: list[str] = []
        while not lines or " 422 " not in lines[-1]:
            lines.append(self.read_line())
        assert lines[0].split()[1:3] == ["001", self.nick], lines
        assert any(_CREATED.fullmatch(line) for line in lines), lines
        self._welcomed = self.client.consumed
        return lines

    def barrier(self, timeout: float = READ_TIMEOUT) -> list[str]:
        """Everything that arrives before the answer to a fresh ``PING``."""
        self._barriers += 1
        token = f"barrier-{self._barriers}"
        self.send(f"PING {token}")
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.read_line(max(0.0, deadline - time.monotonic()))
            except (ClosedError, ReadTimeoutError) as exc:
                raise AssertionError(f"{self.nick}: no PONG {token}; lines before: {lines!r}; {exc}") from exc
            if line.endswith(f" PONG {line.split()[0][1:]} {token}"):
                return lines
            lines.append(line)

    def lines_until_closed(self, timeout: float = READ_TIMEOUT) -> list[str]:
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while True:
            try:
                lines.append(self.read_line(max(0.0, deadline - time.monotonic())))
            except ClosedError as exc:
                assert not exc.partial, f"{self.nick}: stream ended inside a line: {exc.partial!r}"
                return lines
