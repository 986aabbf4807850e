"""Real IRC clients in a channel with a raw peer: every scenario, for irssi and WeeChat, on every server.

The peer's side is asserted exactly (the command and parameters the client
sent, through the server); the client's side is asserted on its screen.
"""

from __future__ import annotations

import pytest

from .conftest import MakeClient, MakePeer
from .peer import Heard, IRCPeer
from .programs import RealClient
from .servers import IRCServer

pytestmark = pytest.mark.realclients

CHANNEL = "#lobby"
#: The real client under test, and the raw peer, both in ``CHANNEL``.
Session = tuple[RealClient, IRCPeer]


@pytest.fixture
def session(make_client: MakeClient, irc_server: IRCServer, make_peer: MakePeer) -> Session:
    """``alice`` (the real client) and ``peer`` (raw), both in the channel."""
    peer = make_peer("peer")
    peer.join(CHANNEL)
    alice = make_client("alice")
    alice.connect(irc_server.host, irc_server.port, irc_server.welcome)
    alice.join(CHANNEL)
    peer.expect(Heard(nick="alice", command="JOIN", params=(CHANNEL,)))
    alice.wait_for_line("alice", "has joined", CHANNEL)
    return alice, peer


@pytest.mark.parametrize(
    ("said", "answer"),
    [("hello from alice", "hi alice, peer here"), ("grüße, ça va? ☕", "ça va, merci ☀")],
    ids=["ascii", "beyond-ascii"],
)
def test_channel_messages_both_ways(session: Session, said: str, answer: str) -> None:
    alice, peer = session
    alice.say(CHANNEL, said)
    peer.expect(Heard(nick="alice", command="PRIVMSG", params=(CHANNEL, said)))
    peer.send(f"PRIVMSG {CHANNEL} :{answer}")
    alice.wait_for_line("peer", answer)


def test_private_messages_both_ways(session: Session) -> None:
    alice, peer = session
    alice.message("peer", "psst, peer")
    peer.expect(Heard(nick="alice", command="PRIVMSG", params=("peer", "psst, peer")))
    peer.send("PRIVMSG alice :psst, alice")
    alice.open_query("peer")
    alice.wait_for_line("peer", "psst, alice")


def test_actions_both_ways(session: Session) -> None:
    alice, peer = session
    alice.action(CHANNEL, "waves at everyone")
    peer.expect(Heard(nick="alice", command="PRIVMSG", params=(CHANNEL, "\x01ACTION waves at everyone\x01")))
    peer.send(f"PRIVMSG {CHANNEL} :\x01ACTION dances a jig\x01")
    alice.wait_for_line("*", "peer dances a jig")


def test_nick_changes_both_ways(session: Session) -> None:
    alice, peer = session
    alice.change_nick("alice2")
    peer.expect(Heard(nick="alice", command="NICK", params=("alice2",)))
    alice.wait_for_line("now known as", "alice2")
    peer.send("NICK peer2")
    alice.wait_for_line("peer", "now known as", "peer2")


def test_parting_both_ways(session: Session) -> None:
    alice, peer = session
    peer.send(f"PART {CHANNEL} :peer steps out")
    alice.wait_for_line("peer", "has left", CHANNEL, "peer steps out")
    peer.join(CHANNEL)
    alice.wait_for_line("peer", "has joined", CHANNEL)
    alice.part(CHANNEL, "alice steps out")
    peer.expect(Heard(nick="alice", command="PART", params=(CHANNEL, "alice steps out")))


def test_quitting_both_ways(session: Session, make_peer: MakePeer) -> None:
    alice, peer = session
    other = make_peer("other")
    other.join(CHANNEL)
    alice.wait_for_line("other", "has joined", CHANNEL)
    other.send("QUIT :gone fishing")
    alice.wait_for_line("other", "has quit", "gone fishing")
    alice.quit("see you later")
    quit_message = peer.wait_for("QUIT", nick="alice")
    assert len(quit_message.params) == 1
    assert quit_message.params[0].endswith("see you later")  # servers may prefix "Quit: "
