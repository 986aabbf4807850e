"""RESP on the wire: commands are encoded here, replies are parsed by hiredis.

A command is an array of bulk strings, which takes a few lines to write.
Replies are parsed by hiredis' ``Reader``, a C parser that does no I/O: it is
fed bytes and hands out whole replies, however the bytes were split.  This
module only checks that what comes out is RESP2 (the protocol the link
speaks) and turns error replies into plain values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import hiredis

#: One argument of a command: text is sent as UTF-8, integers in decimal.
Arg: TypeAlias = bytes | str | int


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An error reply from Redis, e.g. ``NOSCRIPT No matching script``: a value, not an exception."""

    message: str

    @property
    def code(self) -> str:
        """The error's first word (``ERR``, ``NOSCRIPT``, ``WRONGTYPE``...)."""
        return self.message.partition(" ")[0]


#: A RESP2 reply: simple and bulk strings are bytes, a null is None.
RespValue: TypeAlias = bytes | int | ErrorReply | list["RespValue"] | None


class ReplyError(Exception):
    """The bytes from Redis are not a RESP2 reply stream (the connection is unusable)."""


def encode_command(args: Sequence[Arg]) -> bytes:
    """One command as RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else arg.encode() if isinstance(arg, str) else b"%d" % arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def encode_publish(channel: bytes, data: bytes) -> bytes:
    """``PUBLISH channel data``, the command a node sends most, in one formatting step."""
    return b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(channel), channel, len(data), data)


#: What ``Reader.gets`` returns while a reply is incomplete: no reply can be this object.
_INCOMPLETE = object()


class ReplyReader:
    """Whole replies out of a byte stream, however it was split.

    ``max_buffered`` bounds the bytes held for one incomplete reply, so a
    broken or hostile peer cannot make us buffer without end.
    """

    __slots__ = ("_max_buffered", "_reader")

    def __init__(self, max_buffered: int) -> None:
        self._reader = hiredis.Reader(notEnoughData=_INCOMPLETE)
        self._max_buffered = max_buffered

    def feed(self, data: bytes) -> Iterator[RespValue]:
        """Yield each reply completed by ``data``, in order; raise ``ReplyError`` where the stream breaks.

        Replies before a break are yielded first, so what happens does not
        depend on how the bytes were split.
        """
        reader = self._reader
        reader.feed(data)
        while True:
            try:
                reply = reader.gets()
            except Exception as exc:
                # ProtocolError, but also TypeError from a RESP3 map keyed by a list:
                # whatever hiredis cannot parse means the stream is broken.
                raise ReplyError(f"{type(exc).__name__}: {exc}") from None
            if reply is _INCOMPLETE:
                break
            yield reply if type(reply) is bytes or type(reply) is int else as_value(reply)
        if reader.len() > self._max_buffered:
            raise ReplyError(f"a reply longer than {self._max_buffered} bytes")


def as_value(reply: object) -> RespValue:
    """Check that hiredis gave a RESP2 value; error replies become ``ErrorReply``.

    RESP3 types (maps, doubles, booleans, pushes) can only come from bytes
    that are not a RESP2 Redis talking, so they break the stream.
    """
    if type(reply) is bytes or type(reply) is int or reply is None:
        return reply
    if type(reply) is list:
        for item in reply:
            if type(item) is not bytes and type(item) is not int:
                return [as_value(item) for item in reply]
        return reply  # strings and integers only, as pub/sub messages are: nothing to change
    if isinstance(reply, hiredis.ReplyError):
        return ErrorReply(str(reply))
    raise ReplyError(f"not a RESP2 reply: {type(reply).__name__}")
