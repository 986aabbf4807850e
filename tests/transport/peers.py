"""In-memory peers for the transport layers: the real client libraries, no sockets."""

from __future__ import annotations

import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.events import Event as WsEvent
from wsproto.events import Request

from adapters.transport import Stack, TransportEvent

ORIGIN = "http://chat.test:8080"
HOST = "chat.test:8080"


def pull(stack: Stack, limit: int = 10_000) -> list[TransportEvent]:
    """Every event the stack has now, pulled one by one."""
    events: list[TransportEvent] = []
    while (event := stack.next_event()) is not None:
        events.append(event)
        assert len(events) < limit, "a stack that never stops producing events"
    return events


def feed(stack: Stack, data: bytes) -> list[TransportEvent]:
    stack.receive_data(data)
    return pull(stack)


@dataclass
class TlsClient:
    """A TLS client on memory BIOs, trusting the test CA."""

    context: ssl.SSLContext
    server_hostname: str = "localhost"
    incoming: ssl.MemoryBIO = field(default_factory=ssl.MemoryBIO)
    outgoing: ssl.MemoryBIO = field(default_factory=ssl.MemoryBIO)

    def __post_init__(self) -> None:
        self.ssl = self.context.wrap_bio(self.incoming, self.outgoing, server_hostname=self.server_hostname)

    def handshake(self, stack: Stack) -> list[TransportEvent]:
        """Run the handshake against ``stack``; the events it produced on the way."""
        events: list[TransportEvent] = []

        def exchange(data: bytes) -> bytes:
            events.extend(feed(stack, data))
            return stack.data_to_send()

        self.handshake_with(exchange)
        return events

    def handshake_with(self, exchange: Callable[[bytes], bytes]) -> None:
        """Run the handshake with a server that ``exchange`` gives bytes to and returns the answer of."""
        for _ in range(10):
            try:
                self.ssl.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            self.incoming.write(exchange(self.outgoing.read()))
            if done:
                return
        raise AssertionError("the TLS handshake did not finish")

    def encrypt(self, data: bytes) -> bytes:
        self.ssl.write(data)
        return self.outgoing.read()

    def decrypt(self, data: bytes) -> bytes:
        """The plaintext in ``data``; b"" marks the server's close_notify."""
        self.incoming.write(data)
        out = bytearray()
        while True:
            try:
                chunk = self.ssl.read(65536)
            except ssl.SSLWantReadError:
                return bytes(out)
            except ssl.SSLZeroReturnError:  # close_notify, after ours
                return bytes(out)
            if not chunk:
                return bytes(out)
            out += chunk

    def got_close_notify(self) -> bool:
        try:
            return self.ssl.read(1) == b""
        except ssl.SSLWantReadError:
            return False


class HttpClient:
    """An h11 client: requests to bytes, bytes to responses."""

    def __init__(self) -> None:
        self.conn = h11.Connection(h11.CLIENT)

    def request(
        self, method: str = "GET", target: str = "/", headers: list[tuple[str, str]] | None = None
    ) -> bytes:
        all_headers = [("Host", HOST), *(headers or [])]
        return self.conn.send(h11.Request(method=method, target=target, headers=all_headers)) + (
            self.conn.send(h11.EndOfMessage())
        )

    def responses(self, data: bytes) -> list[tuple[h11.Response, bytes]]:
        """Every complete response in ``data`` (with its body), starting the next cycle after each."""
        self.conn.receive_data(data)
        found: list[tuple[h11.Response, bytes]] = []
        response: h11.Response | None = None
        body = bytearray()
        while True:
            event = self.conn.next_event()
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                found.append((response, bytes(body)))
                response, body = None, bytearray()
                if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
                    self.conn.start_next_cycle()
                else:
                    return found
            else:
                return found


def header(response: h11.Response, name: str) -> str | None:
    values = [v.decode() for k, v in response.headers if k == name.lower().encode()]
    return ", ".join(values) if values else None


def upgrade_request(
    origin: str | None = ORIGIN, *, host: str = HOST, extra: list[tuple[bytes, bytes]] | None = None
) -> tuple[WSConnection, bytes]:
    """A wsproto client and its handshake request for ``/ws``."""
    ws = WSConnection(ConnectionType.CLIENT)
    headers = [(b"origin", origin.encode())] if origin is not None else []
    headers += extra or []
    return ws, ws.send(Request(host=host, target="/ws", extra_headers=headers))


def ws_events(ws: WSConnection, data: bytes) -> list[WsEvent]:
    ws.receive_data(data)
    return list(ws.events())


def raw_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, masked: bool = True) -> bytes:
    """A client frame built by hand, to send what no correct client would."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head = bytes([first, mask_bit | length])
    elif length < 65536:
        head = bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    else:
        head = bytes([first, mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    key = b"\x01\x02\x03\x04"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
