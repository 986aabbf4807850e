"""Which pages may open the chat's WebSocket: the ``Origin`` check.

A browser names the page that opens a WebSocket in ``Origin``; without a
check, any site a user visits could open a chat session in the user's name
(cross-site WebSocket hijacking).  The default is the server's own pages:
the origin's host and port equal the request's ``Host``.  The scheme is not
compared, so a TLS-terminating proxy in front of a plain listener still
works.  A request without ``Origin`` does not come from a browser page
(a command-line client or a bot): it is accepted, since it cannot be
hijacked.
"""

from __future__ import annotations

from urllib.parse import urlsplit

#: The allow-list entry that accepts every origin.
ANY_ORIGIN = "*"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: str) -> str:
    """An allow-list entry spelled as browsers send origins: ``scheme://host[:port]``.

    Lower case, default port dropped, a trailing ``/`` accepted; ``*``
    stays ``*``.  Anything else (a path, user info, another scheme) raises
    ``ValueError`` with a message for a one-line CLI error.
    """
    text = value.strip()
    if text == ANY_ORIGIN:
        return ANY_ORIGIN
    parts = _split(text.removesuffix("/"))
    if parts is None:
        raise ValueError(f"invalid origin {value!r}: expected scheme://host[:port] with http or https")
    scheme, host, port = parts
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    if port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_allowed(origin: str | None, host: str, allowed: frozenset[str]) -> bool:
    """May a page of ``origin`` open the WebSocket of a server reached as ``host``?"""
    if origin is None or ANY_ORIGIN in allowed:
        return True
    parts = _split(origin)
    if parts is None:  # "null" (a sandboxed or file:// page), or garbage
        return False
    scheme, name, port = parts
    if _netloc(name, port, default=_DEFAULT_PORTS[scheme]) == _host_netloc(host, scheme):
        return True
    return normalize_origin(origin) in allowed


def _split(text: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) origin with nothing else in it, or None."""
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError:
        return None
    scheme = url.scheme.lower()
    if (
        scheme not in _DEFAULT_PORTS
        or not url.hostname
        or url.username is not None
        or url.path
        or url.query
        or url.fragment
        or "?" in text
        or "#" in text
    ):
        return None
    return scheme, url.hostname.lower(), _DEFAULT_PORTS[scheme] if port is None else port


def _host_netloc(host: str, scheme: str) -> str | None:
    """The ``Host`` header as ``host:port``, the port defaulting to the origin's scheme's."""
    try:
        url = urlsplit("//" + host)
        port = url.port
    except ValueError:
        return None
    if not url.hostname or url.username is not None or url.path or url.query or url.fragment:
        return None
    return _netloc(url.hostname.lower(), port, default=_DEFAULT_PORTS[scheme])


def _netloc(host: str, port: int | None, *, default: int) -> str:
    return f"{host}:{default if port is None else port}"
