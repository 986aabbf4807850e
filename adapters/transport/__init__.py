"""Transport layers: TLS, HTTP/1.1 and WebSocket as sans-IO code, composed per connection.

Written once for every backend.  A layer takes bytes from below, gives
bytes for below, and events for above; it never touches a socket, a
thread, an event loop or a clock (time is an argument).  TLS is
``ssl.SSLObject`` over memory BIOs, HTTP is h11, WebSocket is wsproto.

Which layers a connection gets depends on its listener, described by a
``TransportConfig``:

=============  =======================================  ===============
listener       layers                                   events up
=============  =======================================  ===============
text, irc      stream                                   Data
text+tls       TLS, stream                              Data
http           HTTP, then WebSocket at ``/ws``          Served, Messages
https          TLS, HTTP, then WebSocket                Served, Messages
=============  =======================================  ===============

The contract its driver follows, for each connection (in this project the
shared driver, ``adapters/_driver.py``, does it for every backend)::

    stack = Stack(config, now=clock())          # when the socket is accepted
    # when bytes arrive:
    stack.tick(clock()); stack.receive_data(data)    # or receive_eof() on EOF
    # then pull, one event at a time, while the core takes input:
    while (event := stack.next_event()) is not None: ...
    # once per loop pass (one flush), and before writing:
    out = stack.data_to_send()                  # queue it on the socket
    # on the core's Send / Close:
    stack.send(frame_or_plaintext); last = stack.close()   # then the FIN
    # or, the core's output of a pass and everything to write, in one call:
    out = stack.flush(frames_or_plaintext)
    # timers: wake up at stack.next_deadline, tick(now), and pull again

``has_output`` says whether ``data_to_send`` has anything (without
encrypting it).

The events (``_events.py``), and what a backend does with each:

- ``Ready(secure)``: open it in the core now (``ConnectionOpened`` with the
  listener's dialect and ``secure``); only now does it count as a client.
  Before ``Ready`` nothing may be sent, and a connection that never gets
  one (a page fetch, a failed handshake) never reaches the core.
- ``Data(data)`` / ``Messages(texts)``: input for the core (bytes of a
  stream; the whole WebSocket text messages one pull parsed, as UTF-8).
- ``Served(method, target, status)``: the HTTP layer answered a request by
  itself; log it if wanted.
- ``PeerClosed()``: the peer ended in good order.  An open connection gets
  the core's ``EofReceived`` and is closed when the core says so; any other
  is closed at once.
- ``Failed(reason, protocol_error)``: the stack gave up (garbage, truncation, a protocol
  error, a deadline, plain text on a TLS port); its last words are queued
  (a TLS alert, an HTTP error, a close frame; for plain text on a TLS
  port, the config's ``plain_text_answer`` in plain text).  An open connection gets
  the core's ``ConnectionReset`` (with ``protocol_error``: the peer broke the
  WebSocket protocol, and the core says so to the others); either way,
  ``close()`` and FIN.

Rules that make every backend behave the same:

- **Pull, don't push.**  ``receive_data`` only stores bytes; parsing,
  decryption and answers happen in ``next_event``, one event per call.  A
  backend stops pulling while the core holds the connection's input (flood
  control) and stops reading the socket while it does not pull, so a held
  connection costs its raw bytes and at most one pull's decoded messages
  (a WebSocket's pull parses what one read brought, in one pass).  Page requests
  pipelined by a client that does not read are held the same way: one
  ``Served`` per request, and the backend may stop pulling while the
  connection's output is backed up.
- **One flush, one write.**  ``data_to_send`` returns every byte the layers
  and the application queued since the last call, in order (handshake
  answers, pongs, frames, close frames), encrypted under TLS in a single
  ``SSLObject.write``.  Call it after pulling and after the core's sends,
  once per loop pass.
- **Shared frames.**  ``FrameEncoder().text(text)`` builds a WebSocket
  frame once per message; ``send`` that same object to every recipient's
  stack.
- **Closing.**  ``close(code)`` returns the final bytes (what is queued, the
  close frame, close_notify) to write before the FIN; nothing is sent
  after it.  The backend's own closing lifecycle (flush, FIN, linger) then
  applies unchanged.  A connection reset or aborted by the backend simply
  drops its stack.
- **Time.**  ``tick(now)`` before each batch of input and when
  ``next_deadline`` (a handshake or request-head deadline) passes; a
  deadline that passed fails the stack at the next pull.
- A stack is not thread-safe: one thread drives it at a time.

Nothing a peer sends makes a layer raise: garbage becomes ``Failed`` (with
the right HTTP status, WebSocket close code or TLS alert on the wire).
"""

from ._config import (
    DEFAULT_HEAD_SECONDS,
    DEFAULT_MAX_HEAD_BYTES,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TLS_HANDSHAKE_SECONDS,
    TransportConfig,
)
from ._events import Data, Failed, Messages, PeerClosed, Ready, Served, TransportEvent
from ._http import CONTENT_SECURITY_POLICY, WS_PATH
from ._origin import ANY_ORIGIN, normalize_origin
from ._site import CONTENT_TYPES, Asset, Site
from ._stack import Stack, StackState
from ._tls import TlsCertificates, TlsSetupError
from ._websocket import (
    GOING_AWAY,
    MESSAGES_PER_PULL_BYTES,
    NORMAL_CLOSURE,
    TRY_AGAIN_LATER,
    FrameEncoder,
    text_frame,
)

__all__ = [
    "ANY_ORIGIN",
    "CONTENT_SECURITY_POLICY",
    "CONTENT_TYPES",
    "DEFAULT_HEAD_SECONDS",
    "DEFAULT_MAX_HEAD_BYTES",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_TLS_HANDSHAKE_SECONDS",
    "GOING_AWAY",
    "MESSAGES_PER_PULL_BYTES",
    "NORMAL_CLOSURE",
    "TRY_AGAIN_LATER",
    "WS_PATH",
    "Asset",
    "Data",
    "Failed",
    "FrameEncoder",
    "Messages",
    "PeerClosed",
    "Ready",
    "Served",
    "Site",
    "Stack",
    "StackState",
    "TlsCertificates",
    "TlsSetupError",
    "TransportConfig",
    "TransportEvent",
    "normalize_origin",
    "text_frame",
]
