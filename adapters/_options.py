"""What the command line hands a backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sansio_chat import ServerConfig

from ._listeners import ListenAddress, default_addresses


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """Everything a backend needs to run: its listeners and the core's settings."""

    listen: tuple[ListenAddress, ...] = field(default_factory=default_addresses)
    config: ServerConfig = field(default_factory=ServerConfig)
    selector: Literal["default", "select"] = "default"  # select backend: the OS's best (epoll), or select()
    loop: Literal["asyncio", "uvloop"] = "asyncio"  # asyncio backend: the event loop to run on
