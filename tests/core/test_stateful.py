"""A rule-based state machine: the chat server against a simple model of the room.

The model holds the open connections in connection order, their nicknames and
who is an operator; each rule predicts every line every client receives and
who gets closed.  The driver checks on its own that nothing reaches a closed
connection and that each connection is closed once.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from sansio_chat import Send, ServerConfig
from tests.core_driver import OPER_PASSWORD, Client, FakeNetwork

MAX_CLIENTS = 5

VALID_NICKS = [
    "alice",
    "Alice",
    "ALICE",
    "bob",
    "Séverine",
    "SÉVERINE",
    "guest1",
    "Guest2",
    "guest3",
    "z" * 24,
]
INVALID_NICKS = ["server", "SeRvEr", "1abc", "Se\u0301verine", "a b", "z" * 25, "_x"]
TEXTS = ["hi", "a  b", "tab\there", "Grüße 👋", "[server] fake", "\u00a0"]


@dataclass
class User:
    client: Client
    nick: str
    operator: bool = False
    failures: int = 0


class ChatRoom(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.net = FakeNetwork()
        self.users: dict[int, User] = {}  # open connections, in connection order
        self.connections = 0
        self.expected: dict[int, list[str]] = {}

    # -- helpers ---------------------------------------------------------------

    def pick(self, index: int) -> User:
        """An open user (one connects first if the room is empty)."""
        if not self.users:
            self.connect()
        return list(self.users.values())[index % len(self.users)]

    def holder(self, nick: str) -> User | None:
        return next((u for u in self.users.values() if u.nick.casefold() == nick.casefold()), None)

    def tell(self, users: list[User] | User, line: str) -> None:
        for user in users if isinstance(users, list) else [users]:
            self.expected.setdefault(user.client.conn, []).append(line)

    def others(self, user: User) -> list[User]:
        return [u for u in self.users.values() if u is not user]

    def leave(self, user: User, notice: str) -> None:
        del self.users[user.client.conn]
        self.tell(list(self.users.values()), f"[server] {notice}")

    def check(self) -> None:
        """Every client received exactly what the model expected of this step."""
        for conn, client in self.net.clients.items():
            assert client.lines() == self.expected.get(conn, []), conn
        self.expected.clear()
        assert {c.conn for c in self.net.open_clients} == set(self.users)

    # -- rules -------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        self.net = FakeNetwork(ServerConfig(oper_password=OPER_PASSWORD, max_clients=MAX_CLIENTS))
        self.users.clear()
        self.connections = 0
        for _ in range(3):
            self.connect()
        self.oper(0, right=True)  # guest1 starts as an operator, so that KILL often works

    @rule()
    def connect(self) -> None:
        if len(self.users) >= MAX_CLIENTS:
            client = self.net.connect()
            assert client.closed
            self.expected[client.conn] = ["[server] Error: server full"]
        else:
            self.connections += 1
            number = self.connections
            while self.holder(f"guest{number}"):
                number += 1
            nick = f"guest{number}"
            self.tell(list(self.users.values()), f"[server] {nick} is connected")
            client = self.net.connect()
            user = User(client, nick)
            self.users[client.conn] = user
            self.tell(user, f"[server] Welcome to the chat, {nick}! Type HELP for the list of commands.")
        self.check()

    @rule(who=st.integers(0, 99), text=st.sampled_from(TEXTS))
    def msg(self, who: int, text: str) -> None:
        user = self.pick(who)
        actions = user.client.send(f"MSG {text}")
        others = self.others(user)
        self.tell(others, f"[{user.nick}] {text}")
        sends = [a for a in actions if isinstance(a, Send)]
        assert [s.conns for s in sends] == ([tuple(u.client.conn for u in others)] if others else [])
        self.check()

    @rule(who=st.integers(0, 99), nick=st.sampled_from(VALID_NICKS + INVALID_NICKS))
    def nick(self, who: int, nick: str) -> None:
        user = self.pick(who)
        user.client.send(f"NICK {nick}")
        holder = self.holder(nick)
        if nick in INVALID_NICKS:
            self.tell(user, f"[server] Error: invalid nickname {nick}")
        elif holder is not None and holder is not user:
            self.tell(user, f"[server] Error: nickname {nick} is already in use")
        else:
            self.tell(user, f"[server] You are now known as {nick}")
            if nick != user.nick:
                self.tell(self.others(user), f"[server] {user.nick} is now known as {nick}")
            user.nick = nick
        self.check()

    @rule(who=st.integers(0, 99))
    def who(self, who: int) -> None:
        user = self.pick(who)
        user.client.send("WHO")
        nicks = [u.nick for u in self.users.values()]
        self.tell(user, f"[server] Users ({len(nicks)}): {' '.join(nicks)}")
        self.check()

    @rule(who=st.integers(0, 99), text=st.sampled_from(["", *TEXTS]))
    def quit(self, who: int, text: str) -> None:
        user = self.pick(who)
        user.client.send(f"QUIT {text}")
        if text:
            self.tell(self.others(user), f"[{user.nick}] {text}")
        self.tell(user, f"[server] Goodbye, {user.nick}.")
        self.leave(user, f"{user.nick} is disconnected")
        self.check()
        assert user.client.closed and not user.client.aborted

    @rule(who=st.integers(0, 99), right=st.booleans())
    def oper(self, who: int, right: bool) -> None:
        user = self.pick(who)
        user.client.send(f"OPER {OPER_PASSWORD if right else 'guess'}")
        if right:
            user.operator = True
            self.tell(user, "[server] You are now an operator")
        else:
            user.failures += 1
            if user.failures < 3:
                self.tell(user, "[server] Error: wrong password")
            else:
                self.tell(user, "[server] Error: too many failed OPER attempts")
                self.leave(user, f"{user.nick} is disconnected (too many failed OPER attempts)")
        self.check()

    @rule(
        who=st.integers(0, 99),
        whom=st.one_of(st.integers(0, 99), st.sampled_from(["nobody", "server"])),
        text=st.sampled_from(["", *TEXTS]),
    )
    def kill(self, who: int, whom: int | str, text: str) -> None:
        operators = [u for u in self.users.values() if u.operator]
        killer = operators[who % len(operators)] if operators and who % 2 else self.pick(who)
        name = self.pick(whom).nick.upper() if isinstance(whom, int) else whom
        killer.client.send(f"KILL {name} {text}")
        victim = self.holder(name)
        if not killer.operator:
            self.tell(killer, "[server] Error: permission denied, use OPER first")
        elif victim is None:
            self.tell(killer, f"[server] Error: no such nickname {name}")
        elif victim is killer:
            self.tell(killer, "[server] Error: use QUIT to leave")
        else:
            if text:
                self.tell(victim, f"[{killer.nick}] {text}")
            self.tell(victim, f"[server] You have been killed by {killer.nick}")
            self.leave(victim, f"{victim.nick} is disconnected (killed by {killer.nick})")
        self.check()

    @rule(who=st.integers(0, 99), reset=st.booleans(), tail=st.sampled_from(["", "PING", "MSG last"]))
    def hang_up(self, who: int, reset: bool, tail: str) -> None:
        user = self.pick(who)
        user.client.send_bytes(tail.encode())
        if tail == "PING":
            self.tell(user, "[server] PONG")
        elif tail:
            self.tell(self.others(user), f"[{user.nick}] last")
        if reset:
            user.client.reset()
        else:
            user.client.eof()
        self.leave(user, f"{user.nick} is disconnected")
        self.check()

    @rule(who=st.integers(0, 99), token=st.sampled_from(["", "123", "a b"]))
    def ping(self, who: int, token: str) -> None:
        user = self.pick(who)
        user.client.send(f"PING {token}")
        self.tell(user, f"[server] PONG {token}".rstrip())
        self.check()

    @rule()
    def shutdown_and_start_again(self) -> None:
        self.net.shutdown()
        for user in self.users.values():
            self.tell(user, "[server] Server is shutting down")
        clients = [u.client for u in self.users.values()]
        self.users.clear()
        self.check()
        for client in clients:
            assert client.closed and client.received.endswith(b"[server] Server is shutting down\n")
        assert self.net.shutdown() == []
        late = self.net.connect()
        assert late.closed and late.received == b""
        self.start()

    # -- invariants --------------------------------------------------------------

    @invariant()
    def nicknames_are_unique_ignoring_case(self) -> None:
        keys = [u.nick.casefold() for u in self.users.values()]
        assert len(keys) == len(set(keys))

    @invariant()
    def each_close_happens_once(self) -> None:
        assert len(self.net.closes) == len(set(self.net.closes))

    @invariant()
    def the_core_counts_the_open_connections(self) -> None:
        assert self.net.state.connection_count == len(self.users)


ChatRoom.TestCase.settings = settings(
    max_examples=200, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestChatRoom = ChatRoom.TestCase
