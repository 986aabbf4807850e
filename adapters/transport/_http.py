"""HTTP/1.1 as a sans-IO layer, on h11: the page, its files, and the way to ``/ws``.

The layer answers page requests by itself (a browser fetching the page
never reaches the chat) and hands an accepted WebSocket upgrade over to
the WebSocket layer.  What it enforces:

- ``GET`` and ``HEAD`` only (``405`` with ``Allow``); unknown paths ``404``;
  ``/ws`` takes only a WebSocket handshake (``426`` otherwise), and only
  ``/ws`` takes one (``404`` saying where it is, elsewhere);
- no request body (``413``, then close);
- the request line and headers together within ``max_head_bytes``
  (``431``, then close), judged the same however TCP splits the bytes:
  h11 is never given more of a request head than the limit, so whether a
  head fits does not depend on the size of the reads;
- a deadline for each request head, counted from when the server is ready
  for it (connection made, or the previous response queued): a slow client
  gets ``408`` and is closed, an idle keep-alive connection is just closed;
- the WebSocket ``Origin`` check (``_origin.py``), with ``403`` on refusal;
- a plain ``http://`` request to an ``https`` port (the TLS layer saw no
  handshake) is sent to ``https://`` on the same host and port (``307``),
  or told to use it (``400``) when its ``Host`` cannot make an address;
- on every response: a Content-Security-Policy that allows nothing but
  the page's own files and its own WebSocket, ``nosniff``, a Referrer-Policy
  and a framing refusal.

Requests on one connection are answered in order (keep-alive and
pipelining as h11 handles them), one per pull: the stack returns a
``Served`` event for each, so a backend that stops pulling stops the
layer from answering, and unread requests stay raw bytes.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus

import h11

from ._events import Failed, PeerClosed, Served
from ._origin import origin_allowed
from ._site import Site
from ._websocket import Rejection, WebSocketLayer, accept

#: The path of the chat's WebSocket.
WS_PATH = "/ws"
#: The page's scripts, styles, images and WebSocket come from the server itself, and nothing else.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
_TEXT = b"text/plain; charset=utf-8"
#: A ``Host`` header fit to build an ``https://`` address with: a name, IPv4 or [IPv6], and a port.
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")
_Headers = tuple[tuple[bytes, bytes], ...]


class HttpPhase(enum.Enum):
    REQUEST = "request"  # waiting for or reading a request head; the deadline runs
    ENDED = "ended"  # a closing answer is queued, or the peer left: nothing more is read
    UPGRADED = "upgraded"  # the WebSocket layer has taken over


@dataclass(frozen=True, slots=True, kw_only=True)
class Upgraded:
    """The handshake is accepted: ``layer`` carries the connection from now on."""

    layer: WebSocketLayer


class HttpLayer:
    """The server side of one HTTP/1.1 connection."""

    __slots__ = (
        "_allowed_origins",
        "_deadline",
        "_eof",
        "_eof_fed",
        "_h11",
        "_head_bytes",
        "_head_seconds",
        "_max_head_bytes",
        "_max_message_bytes",
        "_now",
        "_out",
        "_plain_on_tls",
        "_queued",
        "_raw",
        "_request",
        "_site",
        "_timed_out",
        "phase",
    )

    def __init__(
        self,
        site: Site,
        *,
        allowed_origins: frozenset[str],
        max_head_bytes: int,
        head_seconds: float,
        max_message_bytes: int,
    ) -> None:
        self._site = site
        self._allowed_origins = allowed_origins
        self._max_head_bytes = max_head_bytes
        self._head_seconds = head_seconds
        self._max_message_bytes = max_message_bytes
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head_bytes)
        self._raw = bytearray()  # received, not yet given to h11
        self._eof = False  # the peer's EOF came from below
        self._eof_fed = False  # ... and h11 has seen it
        self._head_bytes = 0  # bytes of the current request head given to h11
        self._request: h11.Request | None = None
        self._out: list[bytes] = []
        self._queued: deque[PeerClosed | Failed] = deque()  # the end, after a Served
        self._now = 0.0
        self._deadline: float | None = None  # none until started (TLS may come first)
        self._timed_out = False
        self._plain_on_tls = False
        self.phase = HttpPhase.REQUEST

    # -- input ---------------------------------------------------------------

    def start(self, now: float, *, plain_on_tls: bool = False) -> None:
        """The connection is ready for its first request (after TLS, if any).

        ``plain_on_tls``: the client spoke plain HTTP to a TLS port, so every
        request is answered with the way to ``https://`` and the close.
        """
        self._now = now
        self._plain_on_tls = plain_on_tls
        self._deadline = now + self._head_seconds

    @property
    def deadline(self) -> float | None:
        return self._deadline if self.phase is HttpPhase.REQUEST else None

    def tick(self, now: float) -> None:
        self._now = now
        if self.phase is HttpPhase.REQUEST and self._deadline is not None and now >= self._deadline:
            self._timed_out = True

    def receive_data(self, data: bytes) -> None:
        if self.phase is HttpPhase.REQUEST and not self._eof:
            self._raw += data

    def receive_eof(self) -> None:
        self._eof = True

    def next_event(self) -> Served | PeerClosed | Failed | Upgraded | None:
        """Answer the next request; None when more bytes are needed."""
        if self._queued:
            return self._queued.popleft()
        while self.phase is HttpPhase.REQUEST:
            if self._timed_out:
                return self._time_out()
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                return self._bad_request(exc)
            if event is h11.NEED_DATA:
                if self._head_bytes >= self._max_head_bytes:
                    return self._refuse("-", "-", 431, "request head too large")
                if not self._feed():
                    return None
            elif isinstance(event, h11.Request):
                self._request = event
                if _declares_body(event):
                    return self._refuse(_method(event), _target(event), 413, "request body not accepted")
            elif isinstance(event, h11.EndOfMessage) and self._request is not None:
                request, self._request = self._request, None
                return self._answer(request)
            elif isinstance(event, h11.ConnectionClosed):
                self.phase = HttpPhase.ENDED
                return PeerClosed()
            else:  # pragma: no cover - bodies are refused and every request is answered at once
                return self._refuse("-", "-", 400, f"unexpected {event!r}")
        return None

    def _feed(self) -> bool:
        """Give h11 more of the raw bytes, never more than the head limit allows; False if none."""
        if self._raw:
            room = self._max_head_bytes - self._head_bytes
            chunk = bytes(self._raw[:room])
            del self._raw[:room]
            self._head_bytes += len(chunk)
            self._h11.receive_data(chunk)
            return True
        if self._eof and not self._eof_fed:
            self._eof_fed = True
            self._h11.receive_data(b"")
            return True
        return False

    # -- answers -------------------------------------------------------------

    def _answer(self, request: h11.Request) -> Served | Failed | Upgraded:
        method, target = _method(request), _target(request)
        if self._plain_on_tls:
            return self._to_https(request, method, target)
        path = target.partition("?")[0]
        if path == WS_PATH:
            return self._upgrade(request, method, target)
        asset = self._site.get(path)
        if _asks_for_websocket(request):  # a WebSocket client pointed at ``ws://host/``: say where to go
            return self._respond(
                method, target, 404, f"404 Not Found\nThe chat's WebSocket is at {WS_PATH}\n".encode()
            )
        if asset is None:
            return self._respond(method, target, 404)
        if method not in ("GET", "HEAD"):
            return self._respond(method, target, 405, extra=((b"allow", b"GET, HEAD"),))
        cache = ((b"etag", asset.etag), (b"cache-control", b"no-cache"))
        if _matches(asset.etag, _header_values(request, b"if-none-match")):
            return self._respond(method, target, 304, body=None, extra=cache)
        return self._respond(
            method, target, 200, body=asset.body, content_type=asset.content_type.encode(), extra=cache
        )

    def _upgrade(self, request: h11.Request, method: str, target: str) -> Served | Failed | Upgraded:
        if method != "GET":
            return self._respond(method, target, 405, extra=((b"allow", b"GET"),))
        if not _asks_for_websocket(request):
            body = b"426 Upgrade Required\nThis address is the chat's WebSocket.\n"
            return self._respond(method, target, 426, body, extra=((b"upgrade", b"websocket"),))
        hosts = _header_values(request, b"host")
        origins = _header_values(request, b"origin")
        if len(hosts) != 1 or len(origins) > 1:
            reason = "WebSocket handshake needs one Host and at most one Origin"
            return self._refuse(method, target, 400, reason)
        origin = origins[0].decode("latin-1") if origins else None
        if not origin_allowed(origin, hosts[0].decode("latin-1"), self._allowed_origins):
            return self._refuse(method, target, 403, f"origin not allowed: {origin}")
        result = accept(list(request.headers), request.target, max_message_bytes=self._max_message_bytes)
        if isinstance(result, Rejection):
            return self._refuse(method, target, result.status, result.reason, extra=result.headers)
        self.phase = HttpPhase.UPGRADED
        trailing, _ = self._h11.trailing_data
        result.receive_data(trailing + bytes(self._raw))
        self._raw.clear()
        if self._eof:
            result.receive_eof()
        return Upgraded(layer=result)

    def _to_https(self, request: h11.Request, method: str, target: str) -> Served | Failed:
        """Plain HTTP on the TLS port: the same address with ``https://``, then the close."""
        reason = "plain HTTP request on the https port"
        hosts = _header_values(request, b"host")
        host = hosts[0].decode("ascii", "replace") if len(hosts) == 1 else ""
        if not _HOST.fullmatch(host):
            return self._refuse(method, target, 400, reason)  # (which says to use https://)
        path = target if target.startswith("/") else "/"
        address = f"https://{host}{path}"
        body = f"This port speaks HTTPS: {address}\n".encode()
        location = ((b"location", address.encode()), (b"cache-control", b"no-store"))
        return self._refuse(method, target, 307, reason, body=body, extra=location)

    def _time_out(self) -> Served | Failed:
        if self._head_bytes or self._raw:
            return self._refuse("-", "-", 408, "request head not received in time")
        self.phase = HttpPhase.ENDED
        return Failed(reason="idle HTTP connection timed out")

    def _bad_request(self, exc: h11.RemoteProtocolError) -> Served | Failed:
        if self._eof_fed:
            self.phase = HttpPhase.ENDED
            return Failed(reason="peer closed in the middle of a request")
        return self._refuse("-", "-", exc.error_status_hint, f"bad request: {exc}")

    def _refuse(
        self, method: str, target: str, status: int, reason: str, *, body: bytes = b"", extra: _Headers = ()
    ) -> Served | Failed:
        """Answer with an error and close; the Failed follows the Served.

        Every request is answered before the next is read, so h11 is always
        ready for a response here.  To plain HTTP on the TLS port, every error
        (a malformed request, a head too large or too slow) also says to use
        ``https://``.
        """
        if self._plain_on_tls and not body:
            body = _use_https(status)
        served = self._respond(method, target, status, body, close=True, extra=extra)
        self._queued.append(Failed(reason=reason))
        return served

    def _respond(
        self,
        method: str,
        target: str,
        status: int,
        body: bytes | None = b"",
        *,
        content_type: bytes = _TEXT,
        extra: _Headers = (),
        close: bool = False,
    ) -> Served:
        phrase = HTTPStatus(status).phrase
        headers = list(SECURITY_HEADERS)
        if body is not None:
            if not body and status >= 400:
                body = f"{status} {phrase}\n".encode()
                headers.append((b"cache-control", b"no-store"))
            headers += [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        headers += extra
        if close:
            headers.append((b"connection", b"close"))
        h = self._h11
        self._out.append(h.send(h11.Response(status_code=status, headers=headers, reason=phrase.encode())))
        if body and method != "HEAD":
            self._out.append(h.send(h11.Data(data=body)))
        self._out.append(h.send(h11.EndOfMessage()))
        if h.our_state is h11.DONE and h.their_state is h11.DONE:
            h.start_next_cycle()
            self._head_bytes = len(h.trailing_data[0])
            self._deadline = self._now + self._head_seconds
        else:
            self.phase = HttpPhase.ENDED
            if not close:  # the client said this was its last request
                self._queued.append(PeerClosed())
        return Served(method=method, target=target, status=status)

    # -- output --------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Nothing but the layer's own answers goes out before an upgrade."""

    def take_output(self) -> list[bytes]:
        out = self._out
        self._out = []
        return out

    @property
    def has_output(self) -> bool:
        return bool(self._out)

    def close(self, code: int, reason: str) -> None:
        self.phase = HttpPhase.ENDED


def _asks_for_websocket(request: h11.Request) -> bool:
    return b"websocket" in (value.lower() for value in _header_values(request, b"upgrade"))


def _header_values(request: h11.Request, name: bytes) -> list[bytes]:
    return [value for key, value in request.headers if key == name]


def _matches(etag: bytes, conditions: list[bytes]) -> bool:
    """``If-None-Match``: a list of tags or ``*``, compared weakly (RFC 9110, 13.1.2)."""
    tags = {tag.strip().removeprefix(b"W/") for value in conditions for tag in value.split(b",")}
    return etag in tags or b"*" in tags


def _declares_body(request: h11.Request) -> bool:
    lengths = _header_values(request, b"content-length")
    return bool(_header_values(request, b"transfer-encoding")) or any(v.strip() != b"0" for v in lengths)


def _method(request: h11.Request) -> str:
    return request.method.decode("ascii", "replace")


def _target(request: h11.Request) -> str:
    return request.target.decode("ascii", "replace")


def _use_https(status: int) -> bytes:
    """The body of an error to plain HTTP on the TLS port: the status, and that ``https://`` is wanted."""
    phrase = HTTPStatus(status).phrase
    return f"{status} {phrase}\nThis port speaks HTTPS: use https:// in the address.\n".encode()
