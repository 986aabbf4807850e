"""Limits and settings of one server, with safe defaults.

The CLI fills a ``ServerConfig``; tests build one directly.  Every limit lives
here so that no backend has to invent its own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_MAX_CLIENTS = 10_000
DEFAULT_MAX_LINE_BYTES = 4096
DEFAULT_MAX_PENDING_BYTES = 1024 * 1024
DEFAULT_RATE_LINES = 50.0
DEFAULT_RATE_BURST = 100
#: Failed ``OPER`` attempts a connection may make; the next one closes it.
MAX_OPER_FAILURES = 3
#: Rooms one user may be in at once.
MAX_ROOMS_PER_USER = 50
#: Seconds a silent IRC client is left alone before the server sends it a ``PING``.
DEFAULT_PING_SECONDS = 120.0
#: Seconds an IRC client has to answer (or say anything) after the server's ``PING``.
DEFAULT_PING_TIMEOUT_SECONDS = 120.0
#: Seconds an IRC client has to register (``NICK``, ``USER``, ``CAP END``) after connecting.
DEFAULT_REGISTRATION_SECONDS = 60.0


class Mode(enum.Enum):
    """The lab's three stages; ``CHAT`` is the full protocol."""

    ECHO = "echo"
    RELAY = "relay"
    CHAT = "chat"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Settings of one server.

    ``rate_lines`` is the sustained number of lines per second a client may
    send (0 turns flood control off) and ``rate_burst`` the bucket's size.
    ``cluster_node`` is this server's number in a cluster of servers acting
    as one chat (1 to 2**31 - 1, unique among them; see ``_shared.py``), or
    0 for a server alone.

    ``server_name`` is what IRC clients see the server as, in ``network``;
    ``password`` is the password an IRC client must give with ``PASS`` ("" for
    none); ``opers`` are named operator accounts (IRC's ``OPER name
    password``), besides ``oper_password`` (the text protocol's ``OPER
    password``); ``motd`` the message of the day's lines (None: there is none).
    """

    mode: Mode = Mode.CHAT
    oper_password: str = ""
    opers: tuple[tuple[str, str], ...] = ()
    server_name: str = "sansio-chat"
    network: str = "sansio-chat"
    version: str = "sansio-chat"
    password: str = ""
    motd: tuple[str, ...] | None = None
    ping_seconds: float = DEFAULT_PING_SECONDS
    ping_timeout_seconds: float = DEFAULT_PING_TIMEOUT_SECONDS
    registration_seconds: float = DEFAULT_REGISTRATION_SECONDS
    max_clients: int = DEFAULT_MAX_CLIENTS
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES
    rate_lines: float = DEFAULT_RATE_LINES
    rate_burst: int = DEFAULT_RATE_BURST
    cluster_node: int = 0

    def __post_init__(self) -> None:
        if self.max_clients < 1:
            raise ValueError("max_clients must be at least 1")
        if self.max_line_bytes < 1:
            raise ValueError("max_line_bytes must be at least 1")
        if self.max_pending_bytes < 1:
            raise ValueError("max_pending_bytes must be at least 1")
        if self.rate_lines < 0:
            raise ValueError("rate_lines must not be negative")
        if self.rate_lines and self.rate_burst < 1:
            raise ValueError("rate_burst must be at least 1 when rate_lines is set")
        if not 0 <= self.cluster_node < 1 << 31:
            raise ValueError("cluster_node must be from 0 to 2**31 - 1")
        if not _is_server_name(self.server_name):
            raise ValueError("server_name must be ASCII letters, digits, '.', '-' or '_'")
        if not self.network or not self.network.isprintable() or " " in self.network:
            raise ValueError("network must be printable, without spaces")
        if min(self.ping_seconds, self.ping_timeout_seconds, self.registration_seconds) <= 0:
            raise ValueError("ping_seconds, ping_timeout_seconds and registration_seconds must be positive")
        for name, password in self.opers:
            if not name or not password or " " in name or " " in password:
                raise ValueError("an operator account needs a name and a password, without spaces")


def _is_server_name(name: str) -> bool:
    """Something an IRC client accepts where a server's name goes: a host-like name."""
    return bool(name) and name.isascii() and all(ch.isalnum() or ch in ".-_" for ch in name)
