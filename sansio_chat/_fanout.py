"""Deliveries: a reply to an audience, turned into ``Send`` actions for the users connected here.

The chat addresses each reply to an audience: one user, the members of a
room (but one), everyone who shares a room with a user, or everyone.  The
fan-out finds the recipients connected to this server, groups them by
renderer, renders the reply **once per renderer present** and sends those
shared bytes.  A renderer that has nothing to say to its kind of client
(``b""``) costs no ``Send``.

For each room the fan-out keeps one ``Roster`` per renderer: the members'
connections in join order, and the "everyone but X" tuples of recent
senders, reused until membership changes (backends reuse their lookup of a
tuple by its identity).  A message to a room is then one cached tuple and
one render per renderer present, with no per-recipient Python work.
Words for the members of a rank only (IRC's ``PRIVMSG @#room``) are rare:
their recipients are picked from the room's few operators (and voiced
members) each time, so the cached tuples and the usual path pay nothing.

This is also where a user is mapped to its connection here (its session).
Users of other servers of a cluster have none, and this is the one place
that passes them by.  In a cluster the fan-out also says when a room gets
its first member here and loses its last (``follow``/``unfollow``): the
server needs the room's messages exactly while someone here is in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ._events import ConnId
from ._replies import Rank, Renderer, Reply, Said, Told
from ._rooms import Room
from ._roster import RecipientCache, Roster
from ._session import Session
from ._users import User


class FanOut:
    """Audiences to recipients to ``Send``: the only place replies are rendered for delivery."""

    def __init__(
        self,
        send: Callable[[tuple[ConnId, ...], bytes], None],
        sessions: Mapping[ConnId, Session],
        *,
        follow: Callable[[str], None] | None = None,
        unfollow: Callable[[str], None] | None = None,
    ) -> None:
        self._send = send
        self._sessions = sessions
        self._follow = follow
        self._unfollow = unfollow
        self._cache = RecipientCache()  # one budget for every room's cached tuples
        # Per room with members here: a roster per renderer, in order of first appearance.
        self._rooms: dict[Room, dict[Renderer, Roster]] = {}

    # -- membership, as the chat changes it ----------------------------------------

    def entered(self, room: Room, user: User) -> None:
        """``user`` is now a member of ``room`` (last in join order)."""
        session = user.session
        if session is None:
            return
        groups = self._rooms.get(room)
        if groups is None:
            groups = self._rooms[room] = {}
            if self._follow is not None:
                self._follow(room.key)
        roster = groups.get(session.renderer)
        if roster is None:
            roster = groups[session.renderer] = Roster(self._cache)
        roster.add(session.conn)

    def left(self, room: Room, user: User) -> None:
        """``user`` is no longer a member of ``room``."""
        session = user.session
        if session is None:
            return
        self._remove(room, session.conn, session.renderer)

    def _remove(self, room: Room, conn: ConnId, renderer: Renderer) -> None:
        groups = self._rooms[room]
        roster = groups[renderer]
        roster.remove(conn)
        if not roster:
            del groups[renderer]
        if not groups:
            del self._rooms[room]
            if self._unfollow is not None:
                self._unfollow(room.key)

    def detach(self, user: User) -> None:
        """``user``'s connection ended while it stays in the chat a moment: nothing more reaches it."""
        for room in user.rooms:
            self.left(room, user)
        user.session = None

    def refile(self, user: User, old: Renderer) -> None:
        """``user``'s client reads through another renderer now (its capabilities changed): move it.

        In each of its rooms it leaves the roster of ``old`` and joins that
        of its new renderer, last, so deliveries reach it rendered anew.
        """
        session = user.session
        assert session is not None  # only a client connected here changes its capabilities
        for room in user.rooms:
            self._remove(room, session.conn, old)
            self.entered(room, user)

    # -- deliveries -----------------------------------------------------------------

    def to_user(self, user: User, reply: Reply) -> None:
        """``reply`` to one user (nothing if its renderer has nothing for it, or it is not here)."""
        session = user.session
        if session is not None:
            self._send((session.conn,), session.render(reply))

    def echo(self, user: User, reply: Said | Told) -> None:
        """``user``'s own copy of what it said or told, for the clients that want one."""
        session = user.session
        if session is not None:
            data = session.renderer.render_echo(reply)
            if data:  # most clients want none: no send to make
                self._send((session.conn,), data)

    def to_room(self, room: Room, reply: Reply, but: User | None = None) -> None:
        """``reply`` to the members of ``room``, but ``but`` (a member) if given."""
        groups = self._rooms.get(room)
        if groups is None:
            return
        skip = but.session if but is not None else None  # None too for a member not here
        for renderer, roster in groups.items():
            conns = (
                roster.others(skip.conn)
                if skip is not None and skip.renderer is renderer
                else roster.everyone
            )
            if conns:
                self._send(conns, renderer.render(reply))

    def to_ranked(self, room: Room, rank: Rank, reply: Reply, but: User | None = None) -> None:
        """``reply`` to the members of ``room`` of at least ``rank`` (but ``but``), in connection order."""
        picked: dict[Renderer, list[ConnId]] = {}
        for user in room.ranked(rank):
            session = user.session
            if session is not None and user is not but:
                picked.setdefault(session.renderer, []).append(session.conn)
        for renderer in self._rooms.get(room, ()):  # the rosters' order: the same sends wherever applied
            conns = picked.get(renderer)
            if conns:
                self._send(tuple(sorted(conns)), renderer.render(reply))

    def to_rooms(
        self, rooms: tuple[Room, ...], reply: Reply, but: User | None = None, also: User | None = None
    ) -> None:
        """``reply`` once to each member of any of ``rooms`` but ``but``, and to ``also``.

        With the rooms of a user, that is everyone who shares a room with it.
        """
        if len(rooms) == 1 and (also is None or also.session is None or rooms[0] in also.rooms):
            self.to_room(rooms[0], reply, but)
            return
        groups: dict[Renderer, dict[ConnId, None]] = {}
        for room in rooms:
            for renderer, roster in self._rooms.get(room, {}).items():
                groups.setdefault(renderer, {}).update(dict.fromkeys(roster.everyone))
        skip = but.session if but is not None else None
        if skip is not None:
            groups.get(skip.renderer, {}).pop(skip.conn, None)
        session = also.session if also is not None else None
        if session is not None:
            groups.setdefault(session.renderer, {})[session.conn] = None
        self._send_grouped(groups, reply)

    def to_everyone(self, reply: Reply) -> None:
        """``reply`` to every connection here, named or not, in connection order."""
        groups: dict[Renderer, dict[ConnId, None]] = {}
        for conn, session in self._sessions.items():
            groups.setdefault(session.renderer, {})[conn] = None
        self._send_grouped(groups, reply)

    def _send_grouped(self, groups: dict[Renderer, dict[ConnId, None]], reply: Reply) -> None:
        for renderer, conns in groups.items():
            self._send(tuple(conns), renderer.render(reply))
