"""A Lua script as the link runs it: by its SHA1 digest, with its source to load it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Script:
    """A Lua script; ``sha`` is the digest Redis files it under (``EVALSHA``)."""

    name: str
    source: str
    sha: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest.encode())
