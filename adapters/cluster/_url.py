"""The cluster's address: ``redis://HOST[:PORT][/DB]``, parsed with one-line errors."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

DEFAULT_PORT = 6379
#: Redis numbers its databases with a C int; anything longer is a typo.
MAX_DB_DIGITS = 9


class RedisUrlError(ValueError):
    """A ``--cluster`` URL we cannot use; the message is one line, fit for a CLI error."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisAddress:
    """Where the cluster's Redis listens, and which database holds its keys."""

    host: str
    port: int = DEFAULT_PORT
    db: int = 0

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"redis://{host}:{self.port}/{self.db}"


def parse_redis_url(url: str) -> RedisAddress:
    """Parse ``redis://HOST[:PORT][/DB]``: the port defaults to 6379, the database to 0.

    Only what the cluster can honour is accepted: no password, user, query or
    TLS scheme, since a silently ignored part would connect somewhere else
    than the operator meant.
    """
    text = url.strip()
    try:
        return _parse(text)
    except _InvalidError as exc:
        raise RedisUrlError(f"invalid cluster URL {text!r}: {exc}") from None


class _InvalidError(Exception):
    """Why a URL was refused (turned into a ``RedisUrlError`` naming the URL)."""


def _parse(text: str) -> RedisAddress:
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise _InvalidError("it contains spaces or control characters")
    scheme, sep, _ = text.partition("://")
    if not sep:
        raise _InvalidError("expected redis://HOST:PORT[/DB]")
    if scheme.lower() != "redis":
        raise _InvalidError(f"the scheme must be redis://, not {scheme}://")
    try:
        parts = urlsplit(text)
    except ValueError:  # a malformed bracketed host
        raise _InvalidError("the host is not a valid address") from None
    if "@" in parts.netloc:
        raise _InvalidError("passwords and user names are not supported")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise _InvalidError("a query or fragment is not supported")
    return RedisAddress(host=_host(parts), port=_port(parts), db=_database(parts.path))


def _host(parts: SplitResult) -> str:
    host = parts.hostname
    if not host:
        raise _InvalidError("the host is missing")
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _InvalidError(f"{host} is not an IPv6 address") from None
        return host
    try:  # what the resolver is asked for (socket.getaddrinfo encodes a name so, or raises)
        host.encode("idna")
    except UnicodeError:
        raise _InvalidError(f"{host} is not a host name (a label is empty or too long)") from None
    return host


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or parts.netloc.endswith(":"):
        raise _InvalidError("the port must be a number from 1 to 65535")
    return DEFAULT_PORT if port is None else port


def _database(path: str) -> int:
    """The database number from the URL's path: '' or '/' is 0, '/N' is N."""
    number = path.removeprefix("/")
    if not number:
        return 0
    if not (number.isascii() and number.isdigit()) or len(number) > MAX_DB_DIGITS:
        raise _InvalidError(f"the database must be a number, not {number!r}")
    return int(number)
