"""Watching a cluster node's Redis sockets: what a backend does for them, whatever its loop.

A node of a cluster has two more sockets, to Redis (``_cluster_io.py``).
The backend watches them in its own loop and calls back when one is ready;
this module is the whole of that contract, kept apart so that a server
without ``--cluster`` imports nothing of the cluster (nor hiredis).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Protocol

#: What a backend calls when a watched socket is ready: ``(readable, writable)``.
Ready = Callable[[bool, bool], None]


class LinkWatcher(Protocol):
    """What a backend does for the cluster's sockets: watch them in its own loop."""

    def watch(self, sock: socket.socket, *, read: bool, write: bool, ready: Ready) -> None:
        """Call ``ready`` when ``sock`` is readable (if ``read``) or writable (if ``write``).

        Called again for the same socket with new wishes; ``read`` and
        ``write`` both False: stop watching it (it stays open).
        """

    def unwatch(self, sock: socket.socket) -> None:
        """Stop watching ``sock``: it is about to be closed."""


class Watched:
    """A watched socket's callback, as a selector's ``data`` (so a loop can tell it from its own)."""

    __slots__ = ("ready",)

    def __init__(self, ready: Ready) -> None:
        self.ready = ready
