"""What the command line hands a backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sansio_chat import ServerConfig

from ._flush_policy import FlushConfig
from ._listeners import ListenAddress, Listener, default_addresses
from .transport import DEFAULT_TLS_HANDSHAKE_SECONDS, TlsCertificates

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
    """Everything a backend needs to run: its listeners, their layers' settings, and the core's settings.

    ``certificates`` serve every TLS listener (SIGHUP reloads them);
    ``web_origins`` are the pages of other origins allowed to open the
    WebSocket; ``handshake_seconds`` bounds a TLS handshake and each HTTP
    request head; ``flush`` says how long a busy server may hold a flush.
    """

    listen: tuple[ListenAddress, ...] = field(default_factory=default_addresses)
    config: ServerConfig = field(default_factory=ServerConfig)
    selector: Literal["default", "select"] = "default"  # select backend: the OS's best (epoll), or select()
    loop: Literal["asyncio", "uvloop"] = "asyncio"  # asyncio backend: the event loop to run on
    certificates: TlsCertificates | None = None
    web_origins: frozenset[str] = frozenset()
    handshake_seconds: float = DEFAULT_TLS_HANDSHAKE_SECONDS
    flush: FlushConfig = field(default_factory=FlushConfig)
    cluster: ClusterOptions | None = None  # one node of a cluster linked through Redis
    opened: tuple[Listener, ...] = ()  # listeners opened already (by the parent of --workers)
