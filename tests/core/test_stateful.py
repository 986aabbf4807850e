"""A rule-based state machine: the chat server against a simple model of its users and rooms.

The model holds the open connections in connection order, their nicknames,
who is an operator, and the rooms (members in join order, operators,
topic); each rule predicts every line every client receives and who gets
closed.  The invariants ask the server itself (``ROOMS``, ``WHO <room>``)
that rooms hold exactly the model's open users, a user in one room at most,
and that empty rooms are gone but ``#lobby``.  The driver checks on its own
that nothing reaches a closed connection and that each connection is closed
once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from sansio_chat import Send, ServerConfig
from tests.core_driver import OPER_PASSWORD, Client, FakeNetwork

MAX_CLIENTS = 5
LOBBY = "#lobby"

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
ROOMS_TYPED = [
    "#lobby",
    "lobby",
    "LOBBY",
    "#games",
    "GAMES",
    "#Games",
    "#chess",
    "2024",
    "#Straße",
    "#STRASSE",
]
INVALID_ROOMS = ["#", "a b", "##x", "#" + "x" * 33]


@dataclass(eq=False)
class User:
    client: Client
    nick: str
    operator: bool = False
    failures: int = 0
    room: Room | None = None


@dataclass(eq=False)
class Room:
    name: str
    members: list[User] = field(default_factory=list)
    operators: set[User] = field(default_factory=set)
    topic: str = ""

    def listing(self) -> str:
        return " ".join(("@" if u in self.operators else "") + u.nick for u in self.members)


def room_name(typed: str) -> str:
    return typed if typed.startswith("#") else f"#{typed}"


class ChatRooms(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.net = FakeNetwork()
        self.users: dict[int, User] = {}  # open connections, in connection order
        self.rooms: dict[str, Room] = {}  # by case-folded name: #lobby, then in order of creation
        self.connections = 0
        self.expected: dict[int, list[str]] = {}

    # -- helpers ---------------------------------------------------------------

    def pick(self, index: int) -> User:
        """An open user (one connects first if there is nobody)."""
        if not self.users:
            self.connect()
        return list(self.users.values())[index % len(self.users)]

    def holder(self, nick: str) -> User | None:
        return next((u for u in self.users.values() if u.nick.casefold() == nick.casefold()), None)

    def tell(self, users: list[User] | User, line: str) -> None:
        for user in users if isinstance(users, list) else [users]:
            self.expected.setdefault(user.client.conn, []).append(line)

    def sharers(self, user: User) -> list[User]:
        """Everyone who shares a room with ``user``."""
        return [u for u in user.room.members if u is not user] if user.room else []

    def may_run(self, user: User, room: Room) -> bool:
        return user.operator or user in room.operators

    def enter(self, user: User, room: Room) -> None:
        room.members.append(user)
        user.room = room

    def leave_room(self, user: User) -> Room | None:
        """Take ``user`` out of its room, which goes if it is left empty (but the lobby)."""
        room = user.room
        if room is not None:
            room.members.remove(user)
            room.operators.discard(user)
            user.room = None
            if not room.members and room.name != LOBBY:
                del self.rooms[room.name.casefold()]
        return room

    def depart(self, user: User, notice: str, *, also: User | None = None) -> None:
        del self.users[user.client.conn]
        others = self.sharers(user)
        self.leave_room(user)
        if also is not None and also not in others:
            others.append(also)
        self.tell(others, f"[server] {notice}")

    def check(self) -> None:
        """Every client received exactly what the model expected of this step."""
        for conn, client in self.net.clients.items():
            assert client.lines() == self.expected.get(conn, []), conn
        self.expected.clear()
        assert {c.conn for c in self.net.open_clients} == set(self.users)

    # -- rules -------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        # No flood control: the invariants ask the server questions after every step.
        config = ServerConfig(oper_password=OPER_PASSWORD, max_clients=MAX_CLIENTS, rate_lines=0)
        self.net = FakeNetwork(config)
        self.users.clear()
        self.rooms = {LOBBY: Room(LOBBY)}
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
            lobby = self.rooms[LOBBY]
            self.tell(list(lobby.members), f"[server] {nick} is connected")
            client = self.net.connect()
            user = User(client, nick)
            self.users[client.conn] = user
            self.enter(user, lobby)
            self.tell(user, f"[server] Welcome to the chat, {nick}! Type HELP for the list of commands.")
        self.check()

    @rule(who=st.integers(0, 99), text=st.sampled_from(TEXTS), action=st.booleans())
    def say(self, who: int, text: str, action: bool) -> None:
        user = self.pick(who)
        actions = user.client.send(f"{'ME' if action else 'MSG'} {text}")
        others = self.sharers(user)
        if user.room is None:
            self.tell(user, "[server] Error: you are not in a room, use JOIN <room>")
        else:
            self.tell(others, f"* {user.nick} {text}" if action else f"[{user.nick}] {text}")
        sends = [a for a in actions if isinstance(a, Send)]
        if user.room is not None:  # one Send naming exactly the others of the room, or none
            assert [s.conns for s in sends] == ([tuple(u.client.conn for u in others)] if others else [])
        self.check()

    @rule(
        who=st.integers(0, 99),
        whom=st.one_of(st.integers(0, 99), st.sampled_from(["nobody", "server"])),
        text=st.sampled_from(TEXTS),
    )
    def tell_privately(self, who: int, whom: int | str, text: str) -> None:
        user = self.pick(who)
        name = self.pick(whom).nick.swapcase() if isinstance(whom, int) else whom
        user.client.send(f"TELL {name} {text}")
        recipient = self.holder(name)
        if recipient is None:
            self.tell(user, f"[server] Error: no such nickname {name}")
        else:
            self.tell(recipient, f"[{user.nick} -> {recipient.nick}] {text}")
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
                self.tell(self.sharers(user), f"[server] {user.nick} is now known as {nick}")
            user.nick = nick
        self.check()

    @rule(who=st.integers(0, 99), typed=st.sampled_from(ROOMS_TYPED + INVALID_ROOMS))
    def join(self, who: int, typed: str) -> None:
        user = self.pick(who)
        user.client.send(f"JOIN {typed}")
        name = room_name(typed)
        room = self.rooms.get(name.casefold())
        if typed in INVALID_ROOMS:
            self.tell(user, f"[server] Error: invalid room name {typed}")
        elif room is not None and room is user.room:
            self.tell(user, f"[server] Error: you are already in {room.name}")
        else:
            old = user.room
            if old is not None:
                self.tell(self.sharers(user), f"[server] {user.nick} left {old.name}")
                self.leave_room(user)
            if room is None:
                room = self.rooms[name.casefold()] = Room(name, operators={user})
            self.tell(list(room.members), f"[server] {user.nick} joined {room.name}")
            self.enter(user, room)
            self.tell(user, f"[server] You are now in {room.name}")
            self.tell(user, f"[server] Users in {room.name} ({len(room.members)}): {room.listing()}")
            if room.topic:
                self.tell(user, f"[server] Topic of {room.name}: {room.topic}")
        self.check()

    @rule(
        who=st.integers(0, 99), typed=st.one_of(st.none(), st.sampled_from([*ROOMS_TYPED, "nowhere", "a b"]))
    )
    def who(self, who: int, typed: str | None) -> None:
        user = self.pick(who)
        user.client.send("WHO" if typed is None else f"WHO {typed}")
        if typed is None:
            if user.room is None:
                self.tell(user, "[server] Error: you are not in a room, use JOIN <room>")
            else:
                room = user.room
                self.tell(user, f"[server] Users ({len(room.members)}): {room.listing()}")
        else:
            named = self.rooms.get(room_name(typed).casefold())
            if named is None:
                self.tell(user, f"[server] Error: no such room {typed}")
            else:
                self.tell(user, f"[server] Users in {named.name} ({len(named.members)}): {named.listing()}")
        self.check()

    @rule(who=st.integers(0, 99), text=st.sampled_from(["", "chess at 8", "x" * 301, "é" * 300]))
    def topic(self, who: int, text: str) -> None:
        user = self.pick(who)
        user.client.send(f"TOPIC {text}")
        room = user.room
        if room is None:
            self.tell(user, "[server] Error: you are not in a room, use JOIN <room>")
        elif not text:
            self.tell(
                user,
                f"[server] Topic of {room.name}: {room.topic}"
                if room.topic
                else f"[server] {room.name} has no topic",
            )
        elif not self.may_run(user, room):
            self.tell(user, "[server] Error: permission denied, room operators only")
        elif len(text) > 300:
            self.tell(user, "[server] Error: topic too long (max 300 characters)")
        else:
            room.topic = text
            self.tell(list(room.members), f"[server] {user.nick} set the topic of {room.name} to: {text}")
        self.check()

    @rule(
        who=st.integers(0, 99),
        whom=st.one_of(st.integers(0, 99), st.sampled_from(["nobody"])),
        reason=st.sampled_from(["", "too  loud"]),
    )
    def kick(self, who: int, whom: int | str, reason: str) -> None:
        operators = [u for u in self.users.values() if u.room and self.may_run(u, u.room)]
        kicker = operators[who % len(operators)] if operators and who % 2 else self.pick(who)
        name = self.pick(whom).nick.upper() if isinstance(whom, int) else whom
        kicker.client.send(f"KICK {name} {reason}")
        room = kicker.room
        victim = self.holder(name)
        suffix = f": {reason}" if reason else ""
        if room is None:
            self.tell(kicker, "[server] Error: you are not in a room, use JOIN <room>")
        elif not self.may_run(kicker, room):
            self.tell(kicker, "[server] Error: permission denied, room operators only")
        elif victim is None or victim.room is not room:
            self.tell(kicker, f"[server] Error: {name} is not in {room.name}")
        else:
            self.tell(victim, f"[server] You were kicked from {room.name} by {kicker.nick}{suffix}")
            self.leave_room(victim)
            self.tell(
                list(room.members),
                f"[server] {victim.nick} was kicked from {room.name} by {kicker.nick}{suffix}",
            )
        self.check()

    @rule(who=st.integers(0, 99), text=st.sampled_from(["", *TEXTS]))
    def quit(self, who: int, text: str) -> None:
        user = self.pick(who)
        user.client.send(f"QUIT {text}")
        if text:
            self.tell(self.sharers(user), f"[{user.nick}] {text}")
        self.tell(user, f"[server] Goodbye, {user.nick}.")
        self.depart(user, f"{user.nick} is disconnected")
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
                self.depart(user, f"{user.nick} is disconnected (too many failed OPER attempts)")
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
            self.depart(victim, f"{victim.nick} is disconnected (killed by {killer.nick})", also=killer)
        self.check()

    @rule(who=st.integers(0, 99), reset=st.booleans(), tail=st.sampled_from(["", "PING", "MSG last"]))
    def hang_up(self, who: int, reset: bool, tail: str) -> None:
        user = self.pick(who)
        user.client.send_bytes(tail.encode())
        if tail == "PING":
            self.tell(user, "[server] PONG")
        elif tail and user.room is None:
            self.tell(user, "[server] Error: you are not in a room, use JOIN <room>")
        elif tail:
            self.tell(self.sharers(user), f"[{user.nick}] last")
        if reset:
            user.client.reset()
        else:
            user.client.eof()
        self.depart(user, f"{user.nick} is disconnected")
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
    def rooms_hold_exactly_the_open_users_each_in_one_room_at_most(self) -> None:
        if not self.users:
            return
        asker = next(iter(self.users.values())).client
        asker.send("ROOMS")
        listing = " ".join(f"{room.name} ({len(room.members)})" for room in self.rooms.values())
        assert asker.lines() == [f"[server] Rooms ({len(self.rooms)}): {listing}"]  # empty rooms are gone
        for room in self.rooms.values():
            asker.send(f"WHO {room.name}")
            assert asker.lines() == [f"[server] Users in {room.name} ({len(room.members)}): {room.listing()}"]
        members = [u for room in self.rooms.values() for u in room.members]
        assert len(members) == len(set(map(id, members)))
        assert all(u.client.is_open for u in members)

    @invariant()
    def each_close_happens_once(self) -> None:
        assert len(self.net.closes) == len(set(self.net.closes))

    @invariant()
    def the_core_counts_the_open_connections(self) -> None:
        assert self.net.state.connection_count == len(self.users)


ChatRooms.TestCase.settings = settings(
    max_examples=200, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestChatRooms = ChatRooms.TestCase
