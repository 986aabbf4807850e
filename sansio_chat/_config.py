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
    """

    mode: Mode = Mode.CHAT
    oper_password: str = ""
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
