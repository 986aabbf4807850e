"""The lab's earlier stages: echo and relay, on the same events and actions."""

from __future__ import annotations

import pytest

from sansio_chat import (
    Abort,
    ChatServerState,
    Close,
    CloseReason,
    EchoServerState,
    Log,
    LogLevel,
    Mode,
    RelayServerState,
    Send,
    ServerConfig,
    ServerState,
    new_server_state,
)
from tests.core_driver import FakeNetwork


@pytest.mark.parametrize(
    ("mode", "state_type"),
    [(Mode.ECHO, EchoServerState), (Mode.RELAY, RelayServerState), (Mode.CHAT, ChatServerState)],
)
def test_new_server_state_follows_the_mode(mode: Mode, state_type: type[ServerState]) -> None:
    config = ServerConfig(mode=mode)
    state = new_server_state(config)
    assert type(state) is state_type
    assert state.config is config


def test_chat_is_the_default_mode() -> None:
    assert ServerConfig().mode is Mode.CHAT
    assert ChatServerState().config == ServerConfig()


def test_mode_values_are_the_cli_spellings() -> None:
    assert [m.value for m in Mode] == ["echo", "relay", "chat"]


# -- echo ----------------------------------------------------------------------


@pytest.fixture
def echo() -> FakeNetwork:
    return FakeNetwork(ServerConfig(mode=Mode.ECHO, max_line_bytes=4))


def test_echo_sends_every_byte_back_unchanged(echo: FakeNetwork) -> None:
    alice, bob = echo.connect_many(2)
    data = bytes(range(256)) + b"no terminator, far over the line limit \r\r"
    alice.send_bytes(data[:100])
    alice.send_bytes(data[100:])
    assert alice.received == data
    assert bob.received == b""


def test_echo_says_nothing_on_connect_or_leave(echo: FakeNetwork) -> None:
    alice, bob = echo.connect_many(2)
    alice.eof()
    assert alice.closed and alice.received == b""
    assert bob.received == b""


def test_echo_sends_each_chunk_as_it_came(echo: FakeNetwork) -> None:
    alice = echo.connect()
    assert [a for a in alice.send_bytes(b"QUIT\n") if not isinstance(a, Log)] == [
        Send(conns=(alice.conn,), data=b"QUIT\n")
    ]
    assert alice.is_open


def test_echo_closes_on_reset(echo: FakeNetwork) -> None:
    alice = echo.connect()
    alice.reset()
    assert alice.closed


def test_echo_drops_a_slow_consumer() -> None:
    net = FakeNetwork(ServerConfig(mode=Mode.ECHO, max_pending_bytes=10), auto_flush=False)
    alice = net.connect()
    alice.send_bytes(b"0123456789")
    assert alice.is_open
    alice.send_bytes(b"x")
    dropped = Log(level=LogLevel.INFO, message="connection 1 dropped (too slow)")
    assert net.actions[-2:] == [dropped, Abort(conn=alice.conn)]
    assert alice.aborted and alice.received == b""


def test_echo_server_full_is_a_silent_close() -> None:
    net = FakeNetwork(ServerConfig(mode=Mode.ECHO, max_clients=1))
    net.connect()
    refused = net.connect()
    assert refused.closed and refused.received == b""


def test_echo_shutdown_closes_without_a_word(echo: FakeNetwork) -> None:
    alice, bob = echo.connect_many(2)
    actions = [a for a in echo.shutdown() if not isinstance(a, Log)]
    assert actions == [
        Close(conn=alice.conn, reason=CloseReason.SHUTDOWN),
        Close(conn=bob.conn, reason=CloseReason.SHUTDOWN),
    ]
    assert alice.received == bob.received == b""


# -- relay ---------------------------------------------------------------------


@pytest.fixture
def relay() -> FakeNetwork:
    return FakeNetwork(ServerConfig(mode=Mode.RELAY, max_line_bytes=10))


def test_relay_sends_every_complete_line_to_every_other_client(relay: FakeNetwork) -> None:
    alice, bob, carol = relay.connect_many(3)
    alice.send_bytes(b"hello\nwor")
    assert bob.received == carol.received == b"hello\n"
    alice.send_bytes(b"ld\n")
    assert bob.received == carol.received == b"hello\nworld\n"
    assert alice.received == b""


def test_relay_is_byte_for_byte(relay: FakeNetwork) -> None:
    alice, bob = relay.connect_many(2)
    alice.send_bytes(b"a\r\n\xff\xfe\x1b\n\n  \n MSG\t\n")
    assert bob.received == b"a\r\n\xff\xfe\x1b\n\n  \n MSG\t\n"


def test_relay_has_no_commands(relay: FakeNetwork) -> None:
    alice, bob = relay.connect_many(2)
    alice.send_bytes(b"QUIT\nWHO\nNICK x\n")
    assert alice.is_open and alice.received == b""
    assert bob.received == b"QUIT\nWHO\nNICK x\n"


def test_relay_has_no_notices(relay: FakeNetwork) -> None:
    alice, bob = relay.connect_many(2)
    carol = relay.connect()
    carol.eof()
    bob.reset()
    relay.shutdown()
    assert alice.received == bob.received == carol.received == b""
    assert alice.closed and bob.closed and carol.closed


def test_relay_drops_a_too_long_line_silently(relay: FakeNetwork) -> None:
    alice, bob = relay.connect_many(2)
    alice.send_bytes(b"0123456789\n")  # exactly the limit
    alice.send_bytes(b"0123456789\r\n")  # the CR does not count
    alice.send_bytes(b"0123456789A")  # one over, before the LF
    alice.send_bytes(b"BCD\nok\n")
    alice.send_bytes(b"0123456789AB\n")
    assert bob.received == b"0123456789\n0123456789\r\nok\n"
    assert alice.received == b""


def test_relay_drops_an_unterminated_last_line(relay: FakeNetwork) -> None:
    alice, bob = relay.connect_many(2)
    alice.send_bytes(b"one\ntwo")
    alice.eof()
    assert bob.received == b"one\n"
    assert alice.closed


def test_relay_alone_sends_nothing(relay: FakeNetwork) -> None:
    alice = relay.connect()
    assert [a for a in alice.send_bytes(b"hi\n") if not isinstance(a, Log)] == []


def test_relay_broadcast_is_one_send(relay: FakeNetwork) -> None:
    alice, bob, carol = relay.connect_many(3)
    actions = [a for a in bob.send_bytes(b"x\n") if not isinstance(a, Log)]
    assert actions == [Send(conns=(alice.conn, carol.conn), data=b"x\n")]


def test_relay_drops_a_slow_consumer_silently() -> None:
    net = FakeNetwork(ServerConfig(mode=Mode.RELAY, max_pending_bytes=5))
    alice, bob, carol = net.connect_many(3)
    bob.auto_flush = False
    alice.send_bytes(b"1234\n")
    alice.send_bytes(b"5\n")
    assert bob.aborted
    assert carol.received == b"1234\n5\n"
    assert alice.received == b""


def test_relay_server_full_is_a_silent_close() -> None:
    net = FakeNetwork(ServerConfig(mode=Mode.RELAY, max_clients=1))
    net.connect()
    refused = net.connect()
    assert refused.closed and refused.received == b""
