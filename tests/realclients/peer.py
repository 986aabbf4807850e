"""The other side of a real client's session: a raw IRC or text client whose lines are checked exactly."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sansio_chat._irc_message import IRCMessage, parse_message
from tests.conformance.client import READ_TIMEOUT, Client


@dataclass(frozen=True, slots=True, kw_only=True)
class Heard:
    """A message the peer received, reduced to what a test asserts: who, what, to whom."""

    nick: str  # the source's nickname ("" for the server or no source)
    command: str
    params: tuple[str, ...] = field(default=())


class IRCPeer:
    """A socket speaking IRC: sends lines as written, answers PING, reads with deadlines."""

    def __init__(self, host: str, port: int, nick: str) -> None:
        self.nick = nick
        self.client = Client.connect(host, port, chat=False, name=nick)
        #: Every message received, in order, for failure messages.
        self.log: list[IRCMessage] = []

    def send(self, line: str) -> None:
        self.client.send_raw(line.encode() + b"\r\n")

    def next_message(self, timeout: float = READ_TIMEOUT) -> IRCMessage:
        """The next message but PINGs, which are answered."""
        deadline = time.monotonic() + timeout
        while True:
            raw = self.client.read_line_bytes(max(0.0, deadline - time.monotonic()))
            message = parse_message(raw.rstrip(b"\n"))
            assert isinstance(message, IRCMessage), f"{self.nick}: unreadable line {raw!r}: {message}"
            self.log.append(message)
            if message.command == "PING":
                self.send(f"PONG :{message.params[-1] if message.params else ''}")
                continue
            return message

    def wait_for(self, command: str, *, timeout: float = READ_TIMEOUT, **where: str) -> IRCMessage:
        """Skip messages until one with ``command`` (and, for a numeric, its first parameter)."""
        deadline = time.monotonic() + timeout
        start = len(self.log)
        while True:
            remaining = deadline - time.monotonic()
            try:
                message = self.next_message(max(0.0, remaining))
            except AssertionError as exc:
                seen = [_show(message) for message in self.log[start:]]
                raise AssertionError(f"{self.nick}: no {command} {where or ''}; got {seen}") from exc
            if message.command == command and all(
                _field(message, name) == value for name, value in where.items()
            ):
                return message

    def expect(self, heard: Heard, *, timeout: float = READ_TIMEOUT) -> None:
        """The next message with ``heard``'s command is exactly ``heard`` (others are skipped)."""
        message = self.wait_for(heard.command, timeout=timeout)
        assert _heard(message) == heard, f"{self.nick}: expected {heard}, got {_show(message)}"

    def register(self) -> None:
        self.send(f"NICK {self.nick}")
        self.send(f"USER {self.nick} 0 * :{self.nick}")
        self.wait_for("001")

    def join(self, channel: str) -> None:
        self.send(f"JOIN {channel}")
        self.wait_for("366", target=channel)  # end of NAMES: the join is complete

    def close(self) -> None:
        self.client.close()


def _nick(message: IRCMessage) -> str:
    return (message.source or "").partition("!")[0]


def _heard(message: IRCMessage) -> Heard:
    return Heard(nick=_nick(message), command=message.command, params=message.params)


def _field(message: IRCMessage, name: str) -> str:
    """``target``: a numeric's second parameter (the first is our nick); ``nick``: the sender's."""
    if name == "nick":
        return _nick(message)
    if name == "target":
        return message.params[1] if len(message.params) > 1 else ""
    raise KeyError(name)


def _show(message: IRCMessage) -> str:
    return f"{message.source or ''} {message.command} {message.params}"


class TextPeer:
    """A text client (as with ``nc``): sends lines as typed, waits for exact lines, others skipped."""

    def __init__(self, host: str, port: int, nick: str) -> None:
        self.nick = nick
        self.client = Client.connect(host, port, name=nick)
        #: Every line received, in order, for failure messages.
        self.log: list[str] = []
        self.expect_line(lambda line: line.startswith("[server] Welcome to the chat, "))
        self.send(f"NICK {nick}")
        self.expect(f"[server] You are now known as {nick}")

    def send(self, line: str) -> None:
        self.client.send_line(line)

    def expect(self, line: str, *, timeout: float = READ_TIMEOUT) -> None:
        """Skip lines until exactly ``line``."""
        self.expect_line(lambda got: got == line, what=line, timeout=timeout)

    def expect_line(
        self, match: Callable[[str], bool], *, what: str = "", timeout: float = READ_TIMEOUT
    ) -> str:
        deadline = time.monotonic() + timeout
        start = len(self.log)
        while True:
            try:
                line = self.client.read_line(max(0.0, deadline - time.monotonic()))
            except AssertionError as exc:
                raise AssertionError(f"{self.nick}: no {what!r}; got {self.log[start:]}") from exc
            self.log.append(line)
            if match(line):
                return line

    def close(self) -> None:
        self.client.close()
