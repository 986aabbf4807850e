"""The driver running transport layers, with no socket: real TLS, HTTP and WebSocket peers in memory.

What a backend would write is what ``World.flush`` returns; the peers read it
with the real client libraries (``ssl``, h11, wsproto).
"""

from __future__ import annotations

import json
import logging
import ssl
from typing import Any

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, Request, TextMessage

from adapters._connection import Connection
from adapters._lifecycle import CLOSE_FLUSH_SECONDS, Phase
from adapters._listeners import LISTENER_KINDS
from adapters._table import Route
from adapters.transport import DEFAULT_HEAD_SECONDS, Stack, TlsCertificates, TransportConfig, TransportEvent
from adapters.web import load_site
from sansio_chat import (
    ConnectionOpened,
    ConnectionReset,
    DataReceived,
    DialectName,
    EofReceived,
    MessagesReceived,
    ServerConfig,
)
from tests.pki import Pki
from tests.transport.peers import HOST, ORIGIN, HttpClient, TlsClient, raw_frame

from .fake_backend import TEXT, World, lines, log

HTTP, HTTPS, TEXT_TLS = LISTENER_KINDS["http"], LISTENER_KINDS["https"], LISTENER_KINDS["text+tls"]
SITE = load_site()


def world(pki: Pki | None = None, config: ServerConfig | None = None) -> World:
    certificates = None if pki is None else TlsCertificates(str(pki.cert_file), str(pki.key_file))
    transports = {
        HTTP: TransportConfig(site=SITE),
        HTTPS: TransportConfig(site=SITE, tls=certificates),
        TEXT_TLS: TransportConfig(tls=certificates),
    }
    return World(config or ServerConfig(oper_password="pw"), transports=transports)


def opened(world: World) -> list[ConnectionOpened]:
    return [e for e in world.core.events if isinstance(e, ConnectionOpened)]


class WebClient:
    """A browser's WebSocket on an ``http`` connection of the world, through wsproto."""

    def __init__(self, world: World, origin: str | None = ORIGIN) -> None:
        self.world = world
        self.conn = world.connect(HTTP)
        self.ws = WSConnection(ConnectionType.CLIENT)
        extra = [(b"origin", origin.encode())] if origin else []
        world.driver.received(self.conn, self.ws.send(Request(host=HOST, target="/ws", extra_headers=extra)))

    def send(self, command: dict[str, Any]) -> None:
        self.world.driver.received(self.conn, self.ws.send(TextMessage(data=json.dumps(command))))

    def receive(self, data: bytes) -> list[Any]:
        """What ``data`` (written for this connection) carries: JSON events, other wsproto events."""
        self.ws.receive_data(data)
        return [json.loads(e.data) if isinstance(e, TextMessage) else e for e in self.ws.events()]


def deliver(w: World, *clients: WebClient) -> list[list[Any]]:
    """Flush, and what each of ``clients`` received (other connections' output is dropped)."""
    written = w.flush()
    return [client.receive(written.get(client.conn.id, b"")) for client in clients]


def web_clients(w: World, count: int) -> list[WebClient]:
    """Web users past their welcome and what the others heard of them."""
    clients = [WebClient(w) for _ in range(count)]
    deliver(w, *clients)
    return clients


# -- before the core ---------------------------------------------------------------


def get(path: str) -> bytes:
    """A request as a pipelining client writes it, without waiting for the answers before."""
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()


def test_a_page_fetch_is_answered_and_never_reaches_the_core() -> None:
    w = world(config=ServerConfig(oper_password="pw", max_clients=1))
    text = w.connect(TEXT)
    page, client = w.connect(HTTP), HttpClient()
    assert page.life.phase is Phase.PENDING and page.layers is not None and page.route is Route.FRAMED
    w.driver.received(page, client.request("GET", "/"))
    [(response, body)] = client.responses(w.flush()[page.id])
    assert (response.status_code, body) == (200, SITE.get("/").body)  # type: ignore[union-attr]
    assert opened(w) == [ConnectionOpened(conn=text.id, peer="127.0.0.1:5001")]  # the page is no user
    assert text.life.open and page.life.phase is Phase.PENDING


def test_pipelined_requests_are_answered_one_per_pass() -> None:
    w = world()
    page = w.connect(HTTP)
    w.driver.received(page, get("/") + get("/chat.js"))
    assert w.flush()[page.id].count(b"HTTP/1.1 200 OK") == 1
    assert w.driver.next_deadline() == w.clock.now  # the next request waits for the next pass
    w.driver.run_timers(worked=True)
    assert w.flush()[page.id].count(b"HTTP/1.1 200 OK") == 1
    w.driver.run_timers(worked=True)
    assert w.flush() == {}


def test_pages_asked_for_faster_than_they_are_read_wait_and_reading_stops() -> None:
    w = world()
    page = w.connect(HTTP)
    w.driver.received(page, get("/") * 3)
    [taken] = w.driver.take_dirty()
    taken.take_output()  # handed to the socket, which takes part of it
    w.port.take()
    w.driver.written(page, 1000)  # the kernel did not take the first page in full
    assert page.life.paused and not page.life.reading
    assert w.port.take() == [("reading_changed", page.id)]
    w.driver.run_timers(worked=True)
    assert w.driver.dirty == []  # no second page while the first is unread
    w.driver.written(page, 0)
    assert page.life.reading
    w.driver.run_timers(worked=True)
    assert w.driver.dirty == [page]


def test_a_client_too_slow_with_its_request_head_gets_408_and_is_closed() -> None:
    w = world()
    page = w.connect(HTTP)
    w.driver.received(page, get("/")[:10])
    assert w.driver.next_deadline() == w.clock.now + DEFAULT_HEAD_SECONDS
    w.clock.now += DEFAULT_HEAD_SECONDS
    w.driver.run_timers(worked=False)
    written = w.flush()
    assert written[page.id].startswith(b"HTTP/1.1 408 ")
    assert w.port.take()[-1] == ("send_fin", page.id)  # after the answer, as any close
    assert page.life.phase is Phase.LINGERING


def test_an_idle_keep_alive_connection_is_closed_quietly() -> None:
    w = world()
    page, client = w.connect(HTTP), HttpClient()
    w.driver.received(page, client.request("GET", "/icon.svg"))
    w.flush()
    w.clock.now += DEFAULT_HEAD_SECONDS
    w.driver.run_timers(worked=False)
    assert w.flush() == {}
    assert page.life.phase is Phase.LINGERING


def test_a_deadline_pushed_back_by_a_request_fires_only_when_it_has_come() -> None:
    w = world()
    page, client = w.connect(HTTP), HttpClient()
    w.clock.now += DEFAULT_HEAD_SECONDS / 2
    w.driver.received(page, client.request("GET", "/"))  # the head timer starts again after the answer
    w.flush()
    w.clock.now += DEFAULT_HEAD_SECONDS / 2
    w.driver.run_timers(worked=False)  # the first deadline: not the one that counts now
    assert page.life.phase is Phase.PENDING
    assert w.driver.next_deadline() == w.clock.now + DEFAULT_HEAD_SECONDS / 2


def test_the_peer_ending_a_page_connection_closes_it() -> None:
    w = world()
    page, client = w.connect(HTTP), HttpClient()
    w.driver.received(page, client.request("GET", "/", headers=[("Connection", "close")]))
    w.flush()
    w.driver.run_timers(worked=True)  # the end comes up after the answer, on the next pass
    w.flush()
    assert page.life.phase is Phase.LINGERING
    w.driver.eof(page)
    assert w.port.take()[-1] == ("close", page.id)


def test_shutdown_closes_the_connections_the_core_does_not_know() -> None:
    w = world()
    page = w.connect(HTTP)
    w.driver.shutdown()
    assert page.life.phase is Phase.CLOSING
    w.flush()
    assert w.port.take()[-1] == ("send_fin", page.id)


# -- web clients ----------------------------------------------------------------------


def test_the_upgrade_opens_a_web_user_and_the_101_goes_out_before_the_welcome() -> None:
    w = world()
    alice = WebClient(w)
    assert alice.conn.life.open
    assert opened(w) == [
        ConnectionOpened(conn=alice.conn.id, peer="127.0.0.1:5001", dialect=DialectName.WEB, secure=False)
    ]
    [[accepted, welcome]] = deliver(w, alice)
    assert isinstance(accepted, AcceptConnection)
    assert welcome == {"type": "welcome", "nick": "guest1", "room": "#lobby", "max_message_bytes": 4096}
    w.clock.now += DEFAULT_HEAD_SECONDS  # the request-head timer of before the upgrade: it says nothing now
    w.driver.run_timers(worked=False)
    assert alice.conn.life.open
    assert w.driver.next_deadline() is None


def test_a_web_message_reaches_the_core_whole_and_every_web_recipient_shares_one_frame() -> None:
    w = world()
    alice, bob, carol = web_clients(w, 3)
    text = w.connect(TEXT)
    deliver(w, alice, bob, carol)
    alice.send({"cmd": "msg", "text": "hi all"})
    assert bob.conn.pending[0] is carol.conn.pending[0]  # the frame, built once
    written = w.flush()
    event = {"type": "message", "room": "#lobby", "from": "guest1", "text": "hi all", "kind": "msg"}
    assert bob.receive(written[bob.conn.id]) == carol.receive(written[carol.conn.id]) == [event]
    assert lines(written[text.id]) == ["[guest1] hi all"]


def test_a_burst_of_events_becomes_one_frame_each() -> None:
    w = world()
    [bob] = web_clients(w, 1)
    w.driver.received(
        bob.conn, b"".join(bob.ws.send(TextMessage(data=f'{{"cmd":"ping","token":"{n}"}}')) for n in "ab")
    )
    assert deliver(w, bob) == [[{"type": "pong", "token": "a"}, {"type": "pong", "token": "b"}]]


def test_a_ping_is_answered_by_the_layer_alone() -> None:
    w = world()
    [alice] = web_clients(w, 1)
    events = len(w.core.events)
    w.driver.received(alice.conn, alice.ws.send(Ping(payload=b"are you there")))
    assert deliver(w, alice) == [[Pong(payload=b"are you there")]]
    assert len(w.core.events) == events


def test_while_the_core_holds_a_flooder_its_messages_stay_raw_in_the_stack() -> None:
    w = world(config=ServerConfig(rate_lines=1.0, rate_burst=1))
    alice, bob = web_clients(w, 2)
    deliver(w, alice)

    def messages(*texts: str) -> bytes:
        return b"".join(bob.ws.send(TextMessage(data=json.dumps({"cmd": "msg", "text": t}))) for t in texts)

    w.driver.received(bob.conn, messages("0", "1"))  # what one read brought: one event for the core
    assert bob.conn.life.paused and not bob.conn.life.reading
    w.driver.received(bob.conn, messages("2", "3", "4"))  # one more read, after the pause
    given = [e for e in w.core.events if isinstance(e, MessagesReceived)]
    assert [len(e.messages) for e in given] == [2]  # the core holds "1"; "2" to "4" are raw bytes
    assert [e["text"] for e in deliver(w, alice)[0]] == ["0"]
    for _ in range(8):
        w.clock.now += 1.0
        w.driver.run_timers(worked=False)
    assert [e["text"] for e in deliver(w, alice)[0]] == ["1", "2", "3", "4"]


def test_a_burst_of_messages_is_answered_with_one_frame_per_event_and_one_write() -> None:
    w = world()
    alice, bob = web_clients(w, 2)
    deliver(w, alice)
    burst = b"".join(bob.ws.send(TextMessage(data=json.dumps({"cmd": "msg", "text": t}))) for t in "abc")
    w.driver.received(bob.conn, burst)
    assert len(alice.conn.pending) == 1  # the three events, framed once, queued as one
    assert [e["text"] for e in deliver(w, alice)[0]] == ["a", "b", "c"]


def test_quit_sends_the_goodbye_then_the_close_frame_then_the_fin() -> None:
    w = world()
    [alice] = web_clients(w, 1)
    w.port.take()
    alice.send({"cmd": "quit"})
    assert deliver(w, alice) == [
        [{"type": "goodbye", "nick": "guest1"}, CloseConnection(code=1000, reason="")]
    ]
    assert w.port.take() == [("send_fin", alice.conn.id)]


def test_the_peers_close_frame_is_its_end_of_stream_and_is_answered() -> None:
    w = world()
    alice, bob = web_clients(w, 2)
    deliver(w, alice)
    w.driver.received(bob.conn, bob.ws.send(CloseConnection(code=1001)))
    assert EofReceived(conn=bob.conn.id) in w.core.events
    assert deliver(w, alice, bob) == [
        [{"type": "quit", "nick": "guest2", "reason": "left", "text": None}],
        [CloseConnection(code=1001, reason="")],
    ]


def test_a_broken_frame_is_a_protocol_error_for_the_core_and_the_close_code_goes_out_first() -> None:
    w = world()
    alice, bob = web_clients(w, 2)
    deliver(w, alice)
    w.driver.received(bob.conn, raw_frame(0x2, b"binary"))
    assert w.core.events[-1] == ConnectionReset(conn=bob.conn.id, protocol_error=True)
    [quit_event], [close] = deliver(w, alice, bob)
    assert quit_event == {"type": "quit", "nick": "guest2", "reason": "protocol-error", "text": None}
    assert isinstance(close, CloseConnection) and close.code == 1003
    assert bob.conn.life.phase is Phase.LINGERING


def test_a_server_full_or_shutting_down_says_so_in_the_close_code() -> None:
    w = world(config=ServerConfig(max_clients=1))
    alice, bob = WebClient(w), WebClient(w)
    _, [_, error, close] = deliver(w, alice, bob)
    assert error["code"] == "server-full" and close.code == 1013
    w.driver.shutdown()
    assert deliver(w, alice) == [[{"type": "shutdown"}, CloseConnection(code=1001, reason="")]]


def test_a_cross_origin_upgrade_is_refused_and_never_reaches_the_core() -> None:
    w = world()
    page = WebClient(w, origin="http://evil.test")
    written = w.flush()[page.conn.id]
    assert written.startswith(b"HTTP/1.1 403 ")
    assert opened(w) == []


def test_a_failing_stack_costs_its_connection_only(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world()
    alice, bob = web_clients(w, 2)
    deliver(w, alice)

    assert bob.conn.layers is not None
    failing, next_event = bob.conn.layers.stack, Stack.next_event

    def broken(stack: Stack) -> TransportEvent | None:
        if stack is failing:
            raise RuntimeError("a bug in a layer")
        return next_event(stack)

    monkeypatch.setattr(Stack, "next_event", broken)
    with caplog.at_level(logging.ERROR, logger=log.name):
        bob.send({"cmd": "msg", "text": "x"})
    assert "its transport layers failed" in caplog.text
    assert bob.conn.life.closed
    assert deliver(w, alice)[0][-1]["type"] == "quit"


# -- TLS -----------------------------------------------------------------------------------


def tls_connect(w: World, pki: Pki, kind: Any = TEXT_TLS) -> tuple[Connection, TlsClient]:
    conn, client = w.connect(kind), TlsClient(pki.client_context(), server_hostname="localhost")

    def exchange(data: bytes) -> bytes:
        if data:
            w.driver.received(conn, data)
        return w.flush().get(conn.id, b"")

    client.handshake_with(exchange)
    return conn, client


def test_a_tls_text_client_reaches_the_core_once_its_handshake_is_done(pki: Pki) -> None:
    w = world(pki)
    conn = w.connect(TEXT_TLS)
    assert opened(w) == [] and conn.route is Route.SEALED
    w.core.events.clear()
    conn, client = tls_connect(w, pki)
    assert opened(w) == [ConnectionOpened(conn=conn.id, peer="127.0.0.1:5002", secure=True)]
    assert client.decrypt(b"").startswith(b"[server] Welcome to the chat, guest1!")
    w.driver.received(conn, client.encrypt(b"PING one\nPING two\n"))
    assert [e for e in w.core.events if isinstance(e, DataReceived)] == [
        DataReceived(conn=conn.id, data=b"PING one\nPING two\n")
    ]
    assert lines(client.decrypt(w.flush()[conn.id])) == ["[server] PONG one", "[server] PONG two"]


class CountingSsl:
    """An ``SSLObject`` that counts its writes."""

    def __init__(self, inner: ssl.SSLObject) -> None:
        self.inner = inner
        self.writes = 0

    def write(self, data: bytes) -> int:
        self.writes += 1
        return self.inner.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_tls_encrypts_a_whole_flush_at_once(pki: Pki) -> None:
    w = world(pki)
    alice, client = tls_connect(w, pki)
    bob = w.connect(TEXT)
    assert alice.layers is not None
    tls = alice.layers.stack._tls
    assert tls is not None
    counting = CountingSsl(tls._ssl)
    tls._ssl = counting  # type: ignore[assignment]
    for n in range(5):
        w.driver.received(bob, f"MSG line {n}\n".encode())
    assert counting.writes == 0  # kept as plaintext until the flush
    text = client.decrypt(w.flush()[alice.id])
    assert counting.writes == 1
    assert lines(text)[-5:] == [f"[guest2] line {n}" for n in range(5)]


def test_a_tls_client_that_leaves_gets_close_notify_before_the_fin(pki: Pki) -> None:
    w = world(pki)
    conn, client = tls_connect(w, pki)
    client.decrypt(b"")
    w.port.take()
    w.driver.received(conn, client.encrypt(b"QUIT\n"))
    assert lines(client.decrypt(w.flush()[conn.id])) == ["[server] Goodbye, guest1."]
    assert client.got_close_notify()
    assert w.port.take() == [("send_fin", conn.id)]


def test_tls_truncated_by_the_peer_is_a_reset(pki: Pki) -> None:
    w = world(pki)
    bob, _ = tls_connect(w, pki)
    alice, client = tls_connect(w, pki)
    w.driver.eof(bob)  # a FIN without close_notify
    assert w.core.events[-1] == ConnectionReset(
        conn=bob.id
    )  # not the peer's protocol error: it may be the network
    assert lines(client.decrypt(w.flush()[alice.id]))[-1] == "[server] guest1 is disconnected"


def test_garbage_instead_of_a_handshake_never_reaches_the_core(pki: Pki) -> None:
    w = world(pki)
    conn = w.connect(TEXT_TLS)
    w.driver.received(conn, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.life.phase is Phase.CLOSING
    w.flush()  # the alert OpenSSL wrote, then the FIN
    assert w.port.take()[-1] == ("send_fin", conn.id)
    assert opened(w) == []


def test_a_handshake_that_never_finishes_is_dropped_at_its_deadline(pki: Pki) -> None:
    w = world(pki)
    conn = w.connect(HTTPS)
    deadline = w.driver.next_deadline()
    assert deadline is not None
    w.clock.now = deadline
    w.driver.run_timers(worked=False)
    assert conn.life.phase is Phase.CLOSING
    w.clock.now += CLOSE_FLUSH_SECONDS
    w.flush()


def test_an_https_web_client_gets_its_frames_encrypted(pki: Pki) -> None:
    w = world(pki)
    conn, client = tls_connect(w, pki, HTTPS)
    ws = WSConnection(ConnectionType.CLIENT)
    w.driver.received(conn, client.encrypt(ws.send(Request(host=HOST, target="/ws"))))
    assert opened(w)[-1] == ConnectionOpened(
        conn=conn.id, peer="127.0.0.1:5001", dialect=DialectName.WEB, secure=True
    )
    ws.receive_data(client.decrypt(w.flush()[conn.id]))
    accepted, welcome = ws.events()
    assert isinstance(accepted, AcceptConnection) and isinstance(welcome, TextMessage)
    assert json.loads(welcome.data)["type"] == "welcome"


def test_sighup_reloads_the_certificate_and_a_bad_one_is_kept_out(
    pki: Pki, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(pki.cert_file.read_bytes())
    key.write_bytes(pki.key_file.read_bytes())
    certificates = TlsCertificates(str(cert), str(key))
    w = World(transports={TEXT_TLS: TransportConfig(tls=certificates)})
    before = certificates.context
    with caplog.at_level(logging.INFO, logger=log.name):
        w.driver.reload_certificates()
        assert certificates.context is not before
        current = certificates.context
        key.write_bytes(b"not a key")
        w.driver.reload_certificates()
    assert certificates.context is current
    assert "SIGHUP: reloaded the TLS certificate" in caplog.text
    assert "keeping the certificate in use" in caplog.text


def test_sighup_without_tls_says_there_is_nothing_to_reload(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=log.name):
        World().driver.reload_certificates()
    assert "nothing to reload" in caplog.text
