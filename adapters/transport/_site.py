"""The files the HTTP layer serves, held in memory by request path.

Loading happens once, when the listener is set up (``adapters.web`` reads
the page shipped in the package); serving is then a dictionary lookup, and
the HTTP layer never touches a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: Content types by file suffix; a file of any other kind is refused when the site is built.
CONTENT_TYPES: Mapping[str, str] = MappingProxyType(
    {
        ".html": "text/html; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".svg": "image/svg+xml",
        ".png": "image/png",
        ".txt": "text/plain; charset=utf-8",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Asset:
    """One file as served: its bytes, its type, and a validator for ``If-None-Match``."""

    body: bytes
    content_type: str
    etag: bytes


class Site:
    """Files by request path: ``index.html`` is also served at ``/``.

    Names are plain file names (``chat.js``), no folders: the page is a
    handful of files, and a flat namespace leaves no path to traverse.
    """

    __slots__ = ("_assets",)

    def __init__(self, files: Mapping[str, bytes], *, index: str = "index.html") -> None:
        assets: dict[str, Asset] = {}
        for name, body in files.items():
            if not name or "/" in name or "\\" in name or name.startswith("."):
                raise ValueError(f"not a plain file name: {name!r}")
            suffix = name[name.rfind(".") :] if "." in name else ""
            content_type = CONTENT_TYPES.get(suffix)
            if content_type is None:
                raise ValueError(f"no content type known for {name!r}")
            digest = hashlib.sha256(body).hexdigest()[:20]
            assets["/" + name] = Asset(body=body, content_type=content_type, etag=f'"{digest}"'.encode())
        if "/" + index not in assets:
            raise ValueError(f"the site has no {index!r}")
        assets["/"] = assets["/" + index]
        self._assets: Mapping[str, Asset] = MappingProxyType(assets)

    def get(self, path: str) -> Asset | None:
        """The asset at ``path`` (no query string), or None."""
        return self._assets.get(path)

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path served, ``/`` first."""
        return tuple(sorted(self._assets))
