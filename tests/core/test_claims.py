"""Nickname claims that wait for an answer (as a registry shared by a cluster would make them).

The server's own registry answers at once; these tests inject one that
answers later, with a ``NickClaimAnswered`` event, and check that the
claimant's following lines wait for it, in order, while nobody else waits.
"""

from __future__ import annotations

import pytest

from sansio_chat import (
    ChatServerState,
    ConnectionOpened,
    DataReceived,
    EofReceived,
    LocalNickRegistry,
    NickClaimAnswered,
    PauseReading,
    ResumeReading,
    Send,
    ServerConfig,
)
from tests.core_driver import OPER_PASSWORD, Client, FakeNetwork
from tests.expected import WELCOME


class DeferringRegistry:
    """Answers no claim at once: the test answers each one later, as a shared registry would."""

    def __init__(self, *, defer_guests: bool = True) -> None:
        self.defer_guests = defer_guests
        self.pending: dict[str, int] = {}  # key: claim number
        self.released: list[str] = []

    def claim(self, claim: int, key: str) -> bool | None:
        if not self.defer_guests and key.startswith("guest"):
            return True
        self.pending[key] = claim
        return None

    def release(self, key: str) -> None:
        self.released.append(key)

    def answer(self, net: FakeNetwork, key: str, *, granted: bool = True) -> list[object]:
        return list(net.receive(NickClaimAnswered(claim=self.pending.pop(key), granted=granted)))


def deferring_net(*, defer_guests: bool = True) -> tuple[FakeNetwork, DeferringRegistry]:
    registry = DeferringRegistry(defer_guests=defer_guests)
    config = ServerConfig(oper_password=OPER_PASSWORD)
    return FakeNetwork(config, state=ChatServerState(config, registry=registry)), registry


def test_the_default_registry_grants_what_the_chat_asks() -> None:
    registry = LocalNickRegistry()
    assert registry.claim(1, "anyone") is True
    registry.release("anyone")  # nothing to forget: the chat's users are the record


# -- registering ------------------------------------------------------------------


def test_the_welcome_waits_for_the_guest_name() -> None:
    net, registry = deferring_net()
    first = net.connect()
    assert first.lines() == [] and first.paused
    assert list(registry.pending) == ["guest1"]
    actions = registry.answer(net, "guest1")
    assert actions[0] == Send(conns=(first.conn,), data=(WELCOME.format("guest1") + "\n").encode())
    assert actions[-1] == ResumeReading(conn=first.conn)
    assert not first.paused


def test_lines_sent_before_the_welcome_wait_in_order() -> None:
    net, registry = deferring_net()
    alice = net.connect()
    registry.answer(net, "guest1")
    bob = net.connect()
    # The backend may still deliver what it read before it saw PauseReading: the core holds it.
    assert net.receive(DataReceived(conn=bob.conn, data=b"MSG one\nNICK bobby\nMSG two\n")) == []
    bob.send("MSG three")  # held by the (fake) kernel while reading is paused
    assert alice.lines() == [WELCOME.format("guest1")]
    registry.answer(net, "guest2")
    assert alice.lines() == ["[server] guest2 is connected", "[guest2] one"]
    registry.answer(net, "bobby")
    assert alice.lines() == ["[server] guest2 is now known as bobby", "[bobby] two", "[bobby] three"]
    assert bob.lines() == [WELCOME.format("guest2"), "[server] You are now known as bobby"]


def test_a_refused_guest_name_moves_to_the_next_number() -> None:
    net, registry = deferring_net()
    first = net.connect()
    registry.answer(net, "guest1", granted=False)
    assert list(registry.pending) == ["guest2"] and first.paused
    registry.answer(net, "guest2")
    assert first.lines() == [WELCOME.format("guest2")]
    assert not first.paused


def test_a_client_that_resets_before_its_welcome_is_forgotten() -> None:
    net, registry = deferring_net()
    alice = net.connect()
    registry.answer(net, "guest1")
    bob = net.connect()
    net.receive(DataReceived(conn=bob.conn, data=b"MSG never\n"))
    bob.reset()
    assert bob.closed and bob.lines() == []
    assert registry.answer(net, "guest2") == []  # too late: nobody to welcome
    assert registry.released == ["guest2"]  # and the name is given back
    assert alice.lines() == [WELCOME.format("guest1")]


def test_eof_before_the_welcome_handles_the_lines_once_named() -> None:
    net, registry = deferring_net()
    alice = net.connect()
    registry.answer(net, "guest1")
    bob = net.connect()
    net.receive(DataReceived(conn=bob.conn, data=b"MSG bye"))
    net.receive(EofReceived(conn=bob.conn))
    assert bob.is_open
    registry.answer(net, "guest2")
    assert alice.lines()[1:] == [
        "[server] guest2 is connected",
        "[guest2] bye",
        "[server] guest2 is disconnected",
    ]
    assert bob.closed


# -- changing nickname --------------------------------------------------------------------


@pytest.fixture
def pair() -> tuple[FakeNetwork, DeferringRegistry, Client, Client]:
    """alice and bob, named at once (guest names are granted at once here)."""
    net, registry = deferring_net(defer_guests=False)
    alice, bob = net.connect_many(2)
    alice.lines()
    bob.lines()
    return net, registry, alice, bob


def test_lines_after_a_nick_wait_for_its_answer_and_nobody_else_waits(
    pair: tuple[FakeNetwork, DeferringRegistry, Client, Client],
) -> None:
    net, registry, alice, bob = pair
    actions = alice.send_bytes(b"NICK alicia\nMSG hi\n")
    assert actions == [PauseReading(conn=alice.conn)]
    bob.send("MSG meanwhile")
    assert alice.lines() == ["[guest2] meanwhile"]
    registry.answer(net, "alicia")
    assert alice.lines() == ["[server] You are now known as alicia"]
    assert bob.lines() == ["[server] guest1 is now known as alicia", "[alicia] hi"]
    assert not alice.paused


def test_a_refused_claim_is_a_nickname_in_use(
    pair: tuple[FakeNetwork, DeferringRegistry, Client, Client],
) -> None:
    net, registry, alice, bob = pair
    alice.send_bytes(b"NICK Alicia\nMSG hi\n")
    registry.answer(net, "alicia", granted=False)
    assert alice.lines() == ["[server] Error: nickname Alicia is already in use"]
    assert bob.lines() == ["[guest1] hi"]


def test_two_claims_of_one_name_the_registry_settles_them(
    pair: tuple[FakeNetwork, DeferringRegistry, Client, Client],
) -> None:
    net, registry, alice, bob = pair
    alice.send("NICK sam")
    first = registry.pending.pop("sam")
    bob.send("NICK SAM")  # not taken here yet: the registry is asked too
    second = registry.pending.pop("sam")
    net.receive(NickClaimAnswered(claim=first, granted=True))
    net.receive(NickClaimAnswered(claim=second, granted=False))
    assert bob.lines() == [
        "[server] guest1 is now known as sam",
        "[server] Error: nickname SAM is already in use",
    ]


def test_a_registry_that_grants_one_name_twice_is_not_believed(
    pair: tuple[FakeNetwork, DeferringRegistry, Client, Client],
) -> None:
    net, registry, alice, bob = pair
    alice.send("NICK sam")
    first = registry.pending.pop("sam")
    bob.send("NICK sam")
    second = registry.pending.pop("sam")
    net.receive(NickClaimAnswered(claim=first, granted=True))
    net.receive(NickClaimAnswered(claim=second, granted=True))
    assert bob.lines()[-1] == "[server] Error: nickname sam is already in use"
    bob.send("WHO")
    assert bob.lines() == ["[server] Users (2): sam guest2"]


def test_a_case_change_needs_no_claim(pair: tuple[FakeNetwork, DeferringRegistry, Client, Client]) -> None:
    _, registry, alice, bob = pair
    alice.send("NICK GUEST1")
    assert registry.pending == {}
    assert bob.lines() == ["[server] guest1 is now known as GUEST1"]
    assert registry.released == []


def test_names_given_up_are_released(pair: tuple[FakeNetwork, DeferringRegistry, Client, Client]) -> None:
    net, registry, alice, bob = pair
    alice.send("NICK alicia")
    registry.answer(net, "alicia")
    bob.send(f"OPER {OPER_PASSWORD}")
    bob.send("KILL alicia")
    bob.send("QUIT")
    assert registry.released == ["guest1", "alicia", "guest2"]


def test_a_claimant_that_resets_leaves_at_once_and_its_lines_are_dropped(
    pair: tuple[FakeNetwork, DeferringRegistry, Client, Client],
) -> None:
    net, registry, alice, bob = pair
    alice.send_bytes(b"NICK alicia\nMSG never\n")
    alice.reset()
    assert bob.lines() == ["[server] guest1 is disconnected"]
    assert registry.answer(net, "alicia") == []
    assert registry.released == ["guest1", "alicia"]


def test_a_claimant_refused_after_leaving_has_nothing_to_release(
    pair: tuple[FakeNetwork, DeferringRegistry, Client, Client],
) -> None:
    net, registry, alice, _ = pair
    alice.send("NICK alicia")
    alice.reset()
    registry.answer(net, "alicia", granted=False)
    assert registry.released == ["guest1"]


def test_a_claimant_killed_while_waiting(pair: tuple[FakeNetwork, DeferringRegistry, Client, Client]) -> None:
    net, registry, alice, bob = pair
    bob.send(f"OPER {OPER_PASSWORD}")
    alice.send("NICK alicia")
    bob.send("KILL guest1")
    assert alice.closed
    assert registry.answer(net, "alicia") == []


def test_unknown_and_repeated_answers_are_ignored(
    pair: tuple[FakeNetwork, DeferringRegistry, Client, Client],
) -> None:
    net, registry, alice, _ = pair
    assert net.receive(NickClaimAnswered(claim=999, granted=True)) == []
    alice.send("NICK alicia")
    claim = registry.pending["alicia"]
    registry.answer(net, "alicia")
    assert net.receive(NickClaimAnswered(claim=claim, granted=True)) == []


def test_answers_after_shutdown_are_ignored(
    pair: tuple[FakeNetwork, DeferringRegistry, Client, Client],
) -> None:
    net, registry, alice, _ = pair
    alice.send("NICK alicia")
    net.shutdown()
    assert registry.answer(net, "alicia") == []


def test_refused_connections_make_no_claim() -> None:
    registry = DeferringRegistry(defer_guests=False)
    state = ChatServerState(ServerConfig(max_clients=1), registry=registry)
    state.receive(ConnectionOpened(conn=1, peer="p"))
    state.receive(ConnectionOpened(conn=2, peer="p"))
    assert registry.pending == {} and state.connection_count == 1


class RefusingRegistry:
    """Answers at once, and refuses the names held on another server."""

    def __init__(self, *held_elsewhere: str) -> None:
        self.held_elsewhere = set(held_elsewhere)

    def claim(self, claim: int, key: str) -> bool | None:
        return key not in self.held_elsewhere

    def release(self, key: str) -> None:
        self.held_elsewhere.discard(key)


def test_names_held_elsewhere_are_refused_at_once() -> None:
    registry = RefusingRegistry("guest1", "guest2", "carol")
    config = ServerConfig()
    net = FakeNetwork(config, state=ChatServerState(config, registry=registry))
    alice = net.connect()
    assert alice.lines() == [WELCOME.format("guest3")]
    alice.send("NICK Carol")
    assert alice.lines() == ["[server] Error: nickname Carol is already in use"]


def test_a_departure_keeps_the_claims_of_others(
    pair: tuple[FakeNetwork, DeferringRegistry, Client, Client],
) -> None:
    net, registry, alice, bob = pair
    alice.send("NICK alicia")
    bob.send("NICK bobby")
    alice.reset()
    registry.answer(net, "bobby")
    assert bob.lines()[-1] == "[server] You are now known as bobby"
