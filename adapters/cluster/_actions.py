"""Actions: what the link asks its driver to do with the two Redis connections.

The link names a connection by its ``Role``.  Each role has at most one
socket at a time; the driver opens it on ``Connect``, appends to its output
on ``Write`` and drops it on ``Disconnect``.  Operator log lines are the
core's ``Log`` action, so a backend logs both the same way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sansio_chat import Log


class Role(enum.Enum):
    """One of a node's two connections to Redis."""

    CMD = "cmd"  # commands and scripts, replies in order
    SUB = "sub"  # pub/sub: subscriptions and the messages they bring


@dataclass(frozen=True, slots=True, kw_only=True)
class Connect:
    """Open a TCP connection to ``host``:``port`` for ``role``; report connected or failed."""

    role: Role
    host: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Write:
    """Queue ``data`` on ``role``'s connection, after everything written before."""

    role: Role
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnect:
    """Close ``role``'s connection now, dropping what is queued; report nothing more about it."""

    role: Role


LinkAction = Connect | Write | Disconnect | Log
