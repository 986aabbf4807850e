"""What the command line hands a backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sansio_chat import ServerConfig

from ._listeners import ListenAddress, Listener, default_addresses

if TYPE_CHECKING:
    from .cluster import RedisAddress  # (imports hiredis: only a server of a cluster needs it)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterOptions:
    """Where the cluster's Redis is, and who this node is in it (``config.cluster_node`` is its number)."""

    address: RedisAddress
    node_id: str
    node_number: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """Everything a backend needs to run: its listeners and the core's settings."""

    listen: tuple[ListenAddress, ...] = field(default_factory=default_addresses)
    config: ServerConfig = field(default_factory=ServerConfig)
    selector: Literal["default", "select"] = "default"  # select backend: the OS's best (epoll), or select()
    loop: Literal["asyncio", "uvloop"] = "asyncio"  # asyncio backend: the event loop to run on
    cluster: ClusterOptions | None = None  # one node of a cluster linked through Redis
    opened: tuple[Listener, ...] = ()  # listeners opened already (by the parent of --workers)
