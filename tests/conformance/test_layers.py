"""TLS, the page and the WebSocket over real sockets, on every backend: one chat for every kind of client.

Certificates come from trustme (``tests/pki.py``); the TLS clients are the
standard library's, checking the server's name; the WebSocket client is
wsproto's (``webclient.py``).
"""

from __future__ import annotations

import json
import signal
import socket
import ssl
import time
import warnings
from pathlib import Path

import pytest
from wsproto.events import CloseConnection, Ping, Pong

from tests.pki import Pki, write_pair
from tests.transport.peers import raw_frame

from .client import READ_TIMEOUT, Client, open_socket
from .conftest import StartServer
from .irc_client import IRCClient
from .server import ServerProcess
from .webclient import Refused, WebClient


def tls_args(cert: Path, key: Path) -> list[str]:
    return ["--tls-cert", str(cert), "--tls-key", str(key)]


def every_kind(start_server: StartServer, pki: Pki, *args: str) -> ServerProcess:
    """A server with a text listener (the first), then text+tls, http and https ones."""
    return start_server(
        "--listen",
        "text+tls://127.0.0.1:0",
        "--listen",
        "http://127.0.0.1:0",
        "--listen",
        "https://127.0.0.1:0",
        *tls_args(pki.cert_file, pki.key_file),
        *args,
    )


def until_closed(sock: socket.socket, timeout: float = READ_TIMEOUT) -> bytes:
    """Everything the server sends until it closes; a server that does not close in time fails the test."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"not closed within {timeout}s; got {bytes(data)!r}") from None
        except (ConnectionResetError, ssl.SSLError):
            return bytes(data)
        if not chunk:
            return bytes(data)
        data += chunk


def wait_for_log(server: ServerProcess, text: str, timeout: float = READ_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.output:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged:\n{server.output}")
        time.sleep(0.02)  # polling the log the server writes, bounded by the deadline


# -- every kind of client in one chat ----------------------------------------------------------


def test_text_tls_and_web_clients_are_one_chat(start_server: StartServer, pki: Pki) -> None:
    server = every_kind(start_server, pki)
    wait_for_log(server, f"the chat's web page: http://127.0.0.1:{server.port_of('http')}/")
    context = pki.client_context()
    text = server.join("guest1")
    secure = server.join("guest2", tls=context)
    web = server.web_join("guest3")
    secure_web = server.web_join("guest4", tls=context)
    assert text.ping_barrier() == [f"[server] guest{n} is connected" for n in (2, 3, 4)]
    secure.send_line("NICK tess")
    assert secure.ping_barrier() == [
        "[server] guest3 is connected",
        "[server] guest4 is connected",
        "[server] You are now known as tess",
    ]
    web.send({"cmd": "nick", "nick": "wes"})
    assert web.ping_barrier() == [
        {"type": "join", "room": "#lobby", "nick": "guest4", "connected": True},
        {"type": "nick", "old": "guest2", "new": "tess"},
        {"type": "nick", "old": "guest3", "new": "wes"},
    ]
    secure.send_line("MSG over TLS")
    assert secure.ping_barrier() == ["[server] guest3 is now known as wes"]
    web.send({"cmd": "me", "text": "waves <b>"})
    assert web.ping_barrier() == [
        {"type": "message", "room": "#lobby", "from": "tess", "text": "over TLS", "kind": "msg"},
    ]
    assert secure_web.ping_barrier() == [
        {"type": "nick", "old": "guest2", "new": "tess"},
        {"type": "nick", "old": "guest3", "new": "wes"},
        {"type": "message", "room": "#lobby", "from": "tess", "text": "over TLS", "kind": "msg"},
        {"type": "message", "room": "#lobby", "from": "wes", "text": "waves <b>", "kind": "action"},
    ]
    assert text.ping_barrier() == [
        "[server] guest2 is now known as tess",
        "[server] guest3 is now known as wes",
        "[tess] over TLS",
        "* wes waves <b>",
    ]
    web.send({"cmd": "quit", "reason": "bye"})
    web.expect_closed(1000, {"type": "goodbye", "nick": "wes"})
    assert secure.ping_barrier() == ["* wes waves <b>", "[wes] bye", "[server] wes is disconnected"]
    secure.send_line("QUIT")
    secure.expect_closed("[server] Goodbye, tess.")  # then close_notify: a bare FIN would raise here
    assert secure_web.ping_barrier() == [
        {"type": "quit", "nick": "wes", "reason": "left", "text": "bye"},
        {"type": "quit", "nick": "tess", "reason": "left", "text": None},
    ]
    secure_web.send_event(CloseConnection(code=1000))
    secure_web.expect_closed(1000)  # its close echoed, then close_notify and the FIN
    assert text.ping_barrier() == [
        "[wes] bye",
        "[server] wes is disconnected",
        "[server] tess is disconnected",
        "[server] guest4 is disconnected",
    ]


def test_pages_are_served_to_anyone_and_never_count_as_clients(start_server: StartServer) -> None:
    server = start_server("--listen", "http://127.0.0.1:0", "--max-clients", "1")
    server.join("guest1")
    with socket.create_connection(("127.0.0.1", server.port_of("http"))) as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /chat.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answer = until_closed(sock)
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 2 and b"<!doctype html>" in answer
    full = server.web()
    assert isinstance(full, WebClient)
    full.expect_closed(1013, {"type": "error", "code": "server-full", "message": "server full"})


# -- hostile and broken clients -----------------------------------------------------------------


def test_the_websocket_is_refused_to_other_sites_pages_unless_allowed(start_server: StartServer) -> None:
    server = start_server("--listen", "http://127.0.0.1:0", "--web-origin", "https://friend.example")
    refused = server.web(origin="http://evil.example")
    assert isinstance(refused, Refused) and refused.status == 403
    for number, origin in enumerate(("https://friend.example", None), start=1):  # a friend; no browser
        client = server.web(origin=origin)
        assert isinstance(client, WebClient)
        assert client.next() == {
            "type": "welcome",
            "nick": f"guest{number}",
            "room": "#lobby",
            "max_message_bytes": 4096,
        }


def test_slow_broken_and_refused_http(start_server: StartServer) -> None:
    server = start_server("--listen", "http://127.0.0.1:0", "--handshake-timeout", "0.5")
    port = server.port_of("http")
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        assert until_closed(slow).startswith(b"HTTP/1.1 408 ")
    for request, status in (
        (b"HELLO\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", b"413"),
        (b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", b"405"),
        (b"GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", b"404"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"y" * 9000 + b"\r\n\r\n", b"431"),
    ):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request)
            sock.settimeout(READ_TIMEOUT)
            assert sock.recv(4096).startswith(b"HTTP/1.1 " + status), request
    with socket.create_connection(("127.0.0.1", port)) as idle:
        assert until_closed(idle) == b""  # an idle connection is closed quietly
    server.join().expect_quiet()  # and the chat goes on


def test_broken_tls_and_slow_handshakes_are_closed(start_server: StartServer, pki: Pki) -> None:
    server = start_server("--listen", "text+tls://127.0.0.1:0", *tls_args(pki.cert_file, pki.key_file),
                          "--handshake-timeout", "0.5")  # fmt: skip
    port = server.port_of("text+tls")
    with socket.create_connection(("127.0.0.1", port)) as garbage:
        garbage.sendall(b"GET / HTTP/1.1\r\n\r\n" * 10)
        until_closed(garbage)  # a TLS alert, perhaps, then the close
    with socket.create_connection(("127.0.0.1", port)) as silent:
        assert until_closed(silent) == b""
    with pytest.raises(ssl.SSLCertVerificationError):  # a client that trusts another CA
        open_socket("127.0.0.1", port, tls=ssl.create_default_context())
    with warnings.catch_warnings(), pytest.raises(ssl.SSLError) as refused:  # TLS 1.2 at least
        warnings.simplefilter("ignore", DeprecationWarning)
        old = pki.client_context()
        old.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client would offer TLS 1.1: the server must refuse
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        open_socket("127.0.0.1", port, tls=old)
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION"
    watcher = server.join("guest1", tls=pki.client_context())
    truncated = server.join("guest2", tls=pki.client_context())
    truncated.send_raw(b"MSG half a line")
    truncated.sock.close()  # TCP ends without close_notify: a truncation, a reset to the chat
    watcher.expect("[server] guest2 is connected", "[guest2] half a line", "[server] guest2 is disconnected")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (raw_frame(0x2, b"\x00\x01"), 1003),  # a binary message
        (raw_frame(0x1, b'{"cmd":"ping"}', masked=False), 1002),  # a client frame must be masked
        (raw_frame(0x1, b"\xff\xfe"), 1007),  # not UTF-8
        (raw_frame(0x1, b'{"cmd":"msg","text":"' + b"x" * 200 + b'"}'), 1009),  # over --max-line-bytes
    ],
)
def test_broken_websocket_frames_close_with_their_code(
    start_server: StartServer, frame: bytes, code: int
) -> None:
    server = start_server("--listen", "http://127.0.0.1:0", "--max-line-bytes", "100")
    text = server.join()
    watcher = server.web_join()
    web = server.web_join()
    web.send_text("not JSON")
    web.send_event(Ping(payload=b"hi"))
    assert web.ping_barrier() == [
        {"type": "error", "code": "invalid-json", "message": "malformed message"},
        Pong(payload=b"hi"),
    ]
    web.send_raw(frame)
    web.expect_closed(code)
    # Dropped for what it sent, as a client too slow to read is: the others are told why.
    assert text.ping_barrier() == [
        f"[server] {watcher.name} is connected",
        f"[server] {web.name} is connected",
        f"[server] {web.name} is disconnected (protocol error)",
    ]
    assert watcher.ping_barrier() == [
        {"type": "join", "room": "#lobby", "nick": web.name, "connected": True},
        {"type": "quit", "nick": web.name, "reason": "protocol-error", "text": None},
    ]


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_the_answer_to_messages_before_a_broken_frame_goes_out_before_its_close_frame(
    start_server: StartServer, pki: Pki, secure: bool
) -> None:
    """A ping, then a binary frame in the same read: the pong, then the 1003; over TLS as without."""
    server = start_server("--listen", "http://127.0.0.1:0", "--listen", "https://127.0.0.1:0",
                          *tls_args(pki.cert_file, pki.key_file))  # fmt: skip
    web = server.web_join(tls=pki.client_context() if secure else None)
    web.send_raw(raw_frame(0x1, b'{"cmd":"ping","token":"before"}') + raw_frame(0x2, b"\x00"))
    web.expect_closed(1003, {"type": "pong", "token": "before"})


def test_a_message_of_the_limit_the_welcome_gives_goes_through_and_one_byte_more_closes(
    start_server: StartServer,
) -> None:
    """The limit told is the one enforced: on the whole JSON message, in UTF-8, as it arrives."""
    server = start_server("--listen", "http://127.0.0.1:0", "--max-line-bytes", "200")
    text = server.join()
    web = server.web()
    assert isinstance(web, WebClient)
    welcome = web.next()
    assert isinstance(welcome, dict) and welcome["max_message_bytes"] == 200, welcome
    words = "é" * 88 + "x"  # 177 bytes of UTF-8, and 23 of JSON around them
    message = json.dumps({"cmd": "msg", "text": words}, ensure_ascii=False, separators=(",", ":"))
    assert len(message.encode()) == 200
    web.send_text(message)
    assert web.ping_barrier() == []
    web.send_text(message.replace("x", "xy"))
    web.expect_closed(1009)
    assert text.ping_barrier() == [
        f"[server] {welcome['nick']} is connected",
        f"[{welcome['nick']}] {words}",
        f"[server] {welcome['nick']} is disconnected (protocol error)",
    ]


# -- certificates ---------------------------------------------------------------------------


def test_https_settles_on_http_1_1_by_alpn_and_the_byte_stream_listeners_claim_no_protocol(
    start_server: StartServer, pki: Pki
) -> None:
    """A browser offers ``h2, http/1.1``: https answers ``http/1.1``; text and IRC over TLS answer nothing."""
    server = every_kind(start_server, pki, "--listen", "irc+tls://127.0.0.1:0")
    context = pki.client_context()
    context.set_alpn_protocols(["h2", "http/1.1"])
    web = server.web_join("guest1", tls=context)
    assert isinstance(web.sock, ssl.SSLSocket) and web.sock.selected_alpn_protocol() == "http/1.1"
    for kind in ("text+tls", "irc+tls"):
        with open_socket("127.0.0.1", server.port_of(kind), tls=context) as sock:
            assert isinstance(sock, ssl.SSLSocket)
            assert sock.version() in {"TLSv1.2", "TLSv1.3"}
            assert sock.selected_alpn_protocol() is None, kind
    text = server.join(tls=context)  # and each still speaks its own protocol
    text.send_line("MSG over TLS")
    text.ping_barrier()  # the words went out to everyone before this answer
    said = {"type": "message", "room": "#lobby", "from": text.name, "text": "over TLS", "kind": "msg"}
    assert said in web.ping_barrier()  # among the probes' comings and goings, in whatever order they end


def test_sighup_reloads_a_renewed_certificate_and_keeps_the_old_one_when_the_new_is_bad(
    start_server: StartServer, pki: Pki, tmp_path: Path
) -> None:
    cert, key = tmp_path / "live.crt", tmp_path / "live.key"
    cert.write_bytes(pki.cert_file.read_bytes())
    key.write_bytes(pki.key_file.read_bytes())
    server = start_server("--listen", "text+tls://127.0.0.1:0", *tls_args(cert, key))
    context = pki.client_context()
    before = server.join("guest1", tls=context)
    renewed_cert, renewed_key = write_pair(pki.ca, tmp_path, "renewed")
    cert.write_bytes(renewed_cert.read_bytes())
    key.write_bytes(renewed_key.read_bytes())
    server.send_signal(signal.SIGHUP)
    wait_for_log(server, "SIGHUP: reloaded the TLS certificate")
    after = server.join("guest2", tls=context)
    assert _served_cert(after) == renewed_cert_der(renewed_cert) != _served_cert(before)
    key.write_bytes(b"not a key")
    server.send_signal(signal.SIGHUP)
    wait_for_log(server, "keeping the certificate in use")
    latest = server.join("guest3", tls=context)
    assert _served_cert(latest) == _served_cert(after)
    before.send_line("MSG still here")  # nobody was dropped
    assert before.ping_barrier() == ["[server] guest2 is connected", "[server] guest3 is connected"]
    assert after.ping_barrier() == ["[server] guest3 is connected", "[guest1] still here"]


def _served_cert(client: Client) -> bytes:
    assert isinstance(client.sock, ssl.SSLSocket)
    der = client.sock.getpeercert(binary_form=True)
    assert der is not None
    return der


def renewed_cert_der(path: Path) -> bytes:
    first = path.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    return ssl.PEM_cert_to_DER_cert(first)


def test_json_stays_json(start_server: StartServer) -> None:
    """A web user's words reach a text client as a line, and come back as exactly the same text."""
    server = start_server("--listen", "http://127.0.0.1:0")
    text = server.join()
    web = server.web_join()
    text.ping_barrier()
    tricky = 'quotes " \\ back\tslash, émoji 👋, and </script>'
    web.send({"cmd": "msg", "text": tricky})
    web.ping_barrier()
    assert text.ping_barrier() == [f"[{web.name}] {tricky}"]
    text.send_line(f"MSG {tricky}")
    text.ping_barrier()
    [event] = web.ping_barrier()
    assert event == {"type": "message", "room": "#lobby", "from": text.name, "text": tricky, "kind": "msg"}
    assert json.loads(json.dumps(event)) == event


def test_an_irc_client_over_tls_shares_the_rooms(start_server: StartServer, pki: Pki) -> None:
    """The ``irc+tls`` kind: IRC over TLS, in the same chat as a text client and a web client."""
    server = start_server(
        "--listen",
        "irc+tls://127.0.0.1:0",
        "--listen",
        "http://127.0.0.1:0",
        "--server-name",
        "chat.test",
        *tls_args(pki.cert_file, pki.key_file),
    )
    text = server.join("guest1")
    web = server.web_join("guest2")
    irc = IRCClient(
        server.connect(port=server.port_of("irc+tls"), chat=False, tls=pki.client_context()), "ann"
    )
    irc.register()
    irc.send("JOIN #lobby")
    joined = irc.barrier()
    assert joined[0].startswith(":ann!") and joined[0].endswith(" JOIN #lobby"), joined
    irc.send("PRIVMSG #lobby :hello over TLS")
    assert irc.barrier() == []
    assert text.ping_barrier() == [
        "[server] guest2 is connected",
        "[server] ann joined #lobby",
        "[ann] hello over TLS",
    ]
    assert web.ping_barrier() == [
        {"type": "join", "room": "#lobby", "nick": "ann", "connected": False},
        {"type": "message", "room": "#lobby", "from": "ann", "text": "hello over TLS", "kind": "msg"},
    ]
    text.send_line("MSG hi ann")
    text.ping_barrier()
    assert irc.barrier()[0].endswith(" PRIVMSG #lobby :hi ann")
    irc.send("QUIT :bye")
    irc.client.lines_until_closed()


def _plainly(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(data)
        return until_closed(sock)


def test_a_client_without_tls_on_a_tls_port_is_told_to_use_tls(start_server: StartServer, pki: Pki) -> None:
    """Text, IRC and browser users who forgot TLS read why they are closed, in their own dialect."""
    server = start_server(
        "--listen",
        "text+tls://127.0.0.1:0",
        "--listen",
        "irc+tls://127.0.0.1:0",
        "--listen",
        "https://127.0.0.1:0",
        *tls_args(pki.cert_file, pki.key_file),
    )
    text_port, irc_port, https_port = (server.port_of(kind) for kind in ("text+tls", "irc+tls", "https"))
    assert _plainly(text_port, b"NICK bob\n") == (
        b"[server] Error: this port speaks TLS: connect with TLS (openssl s_client, ncat --ssl)\n"
    )
    assert _plainly(irc_port, b"CAP LS 302\r\nNICK bob\r\nUSER bob 0 * :Bob\r\n") == (
        b"ERROR :Closing link: this port speaks TLS, turn TLS (SSL) on in your client\r\n"
    )
    answer = _plainly(https_port, f"GET /?x HTTP/1.1\r\nHost: localhost:{https_port}\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 307 ")
    assert f"\r\nlocation: https://localhost:{https_port}/?x\r\n".encode() in head
    assert body == f"This port speaks HTTPS: https://localhost:{https_port}/?x\n".encode()
    # none of them was a client, and the port still speaks TLS to those who do
    watcher = server.join("guest1", tls=pki.client_context())
    assert watcher.ping_barrier() == []
    with open_socket("127.0.0.1", https_port, tls=pki.client_context()) as page:
        page.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert until_closed(page).startswith(b"HTTP/1.1 200 OK\r\n")
