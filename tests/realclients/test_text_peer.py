"""Real IRC clients with a text client (as with ``nc``) on the other side, on sansio-chat's every backend.

The text peer reads exact lines of the text protocol; the real client's
side is asserted on its screen.  Between them the chat translates: words,
private messages, actions, nick changes, parts and quits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import MakeClient
from .peer import TextPeer
from .programs import RealClient
from .servers import SANSIO_CHAT, IRCServer

pytestmark = pytest.mark.realclients

CHANNEL = "#lobby"
Session = tuple[RealClient, TextPeer]


@pytest.fixture(params=sorted(SANSIO_CHAT))
def chat_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IRCServer]:
    factory, _ = SANSIO_CHAT[request.param]
    with factory(tmp_path) as server:
        yield server


@pytest.fixture
def session(make_client: MakeClient, chat_server: IRCServer) -> Iterator[Session]:
    """``alice`` (the real client) and ``peer`` (a text client, in ``#lobby`` from the start)."""
    assert chat_server.text_port is not None
    peer = TextPeer(chat_server.host, chat_server.text_port, "peer")
    try:
        alice = make_client("alice")
        alice.connect(chat_server.host, chat_server.port, chat_server.welcome)
        alice.join(CHANNEL)
        peer.expect(f"[server] alice joined {CHANNEL}")
        alice.wait_for_line("alice", "has joined", CHANNEL)
        yield alice, peer
    finally:
        peer.close()


def test_words_both_ways(session: Session) -> None:
    alice, peer = session
    alice.say(CHANNEL, "hello from irc, ça va? ☕")
    peer.expect("[alice] hello from irc, ça va? ☕")
    peer.send("MSG hello from nc ☀")
    alice.wait_for_line("peer", "hello from nc ☀")


def test_private_messages_both_ways(session: Session) -> None:
    alice, peer = session
    alice.message("peer", "psst, peer")
    peer.expect("[alice -> peer] psst, peer")
    peer.send("TELL alice psst, alice")
    alice.open_query("peer")
    alice.wait_for_line("peer", "psst, alice")


def test_actions_both_ways(session: Session) -> None:
    alice, peer = session
    alice.action(CHANNEL, "waves at everyone")
    peer.expect("* alice waves at everyone")
    peer.send("ME dances a jig")
    alice.wait_for_line("*", "peer dances a jig")


def test_nick_changes_both_ways(session: Session) -> None:
    alice, peer = session
    alice.change_nick("alice2")
    peer.expect("[server] alice is now known as alice2")
    peer.send("NICK peer2")
    alice.wait_for_line("peer", "now known as", "peer2")


def test_parting_both_ways(session: Session) -> None:
    alice, peer = session
    alice.part(CHANNEL, "stepping out")
    peer.expect(f"[server] alice left {CHANNEL}: stepping out")
    alice.join(CHANNEL)
    peer.expect(f"[server] alice joined {CHANNEL}")
    peer.send("JOIN #elsewhere")
    alice.wait_for_line("peer", "has left", CHANNEL)


def test_quitting_both_ways(session: Session, chat_server: IRCServer) -> None:
    alice, peer = session
    assert chat_server.text_port is not None
    other = TextPeer(chat_server.host, chat_server.text_port, "other")
    try:
        alice.wait_for_line("now known as", "other")  # joined as a guest, then renamed
        other.send("QUIT gone fishing")
        alice.wait_for_line("other", "has quit", "gone fishing")
    finally:
        other.close()
    alice.quit("see you later")
    peer.expect("[alice] see you later")
    peer.expect("[server] alice is disconnected")
