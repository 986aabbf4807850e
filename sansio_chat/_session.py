"""Sessions: what belongs to one client connection of the chat.

A session owns the connection's dialect (how its lines are parsed and its
replies rendered), its line input and input gate (``LineSession``), its
registration state, and its user.  The chat rules never see a session: they
see the user, and the fan-out finds the session of a user connected here.
"""

from __future__ import annotations

import dataclasses
import enum

from ._base import LineSession
from ._commands import Command
from ._events import ConnId
from ._replies import Error, Renderer, Reply, UserId
from ._text_dialect import TextRenderer, parse_text_line
from ._users import User, UserInfo
from ._web_dialect import WebRenderer, parse_web_message

#: What a text client shows of itself: a fixed username and a cloak for a host (never its address).
TEXT_USER = UserInfo(username="text", realname="text client", host="text.invalid")
SECURE_TEXT_USER = dataclasses.replace(TEXT_USER, secure=True)
#: What a web client shows of itself, likewise.
WEB_USER = UserInfo(username="web", realname="web client", host="web.invalid")
SECURE_WEB_USER = dataclasses.replace(WEB_USER, secure=True)


class Registration(enum.Enum):
    """Where a connection stands in joining the chat."""

    REGISTERING = "saying who it is"  # an IRC client: NICK, USER, capabilities; its lines are handled
    NAMING = "waiting for its first nickname"  # its lines wait (the claim holds the gate)
    REGISTERED = "registered"  # a user of the chat: its commands go to the chat rules


class Session(LineSession):
    """One client connection of the chat; a subclass per dialect parses its lines and renders its replies.

    ``renderer`` is the subclass's: a class attribute where every client of
    the dialect reads the same way (text), an instance attribute where
    clients differ (by capabilities).
    """

    __slots__ = ("state", "user")
    renderer: Renderer

    def __init__(self, conn: ConnId, info: UserInfo, uid: UserId) -> None:
        super().__init__(conn)
        self.state = Registration.NAMING
        self.user = User(uid, self, info)

    def parse(self, line: bytes) -> Command | Error | None:
        """What one line (or message) asks of the chat; None for nothing.

        None also when the session acted on the line itself: an IRC session
        answers registration and capability commands on its own, and hands
        the chat each thing a line asks of it.  An ``Error``: the dialect
        cannot read it (not in its format); the sender is told at once, the
        chat never hears of it.
        """
        raise NotImplementedError

    def render(self, reply: Reply) -> bytes:
        """``reply`` for this client alone (an IRC numeric names its recipient first)."""
        return self.renderer.render(reply)


class TextSession(Session):
    """A text client (``nc``, ``telnet``): named ``guest<N>`` at once, and put in ``#lobby``."""

    __slots__ = ()
    renderer: Renderer = TextRenderer()  # stateless: one for every text client
    parse = staticmethod(parse_text_line)  # called as is: no method call in between

    def __init__(self, conn: ConnId, uid: UserId, *, secure: bool = False) -> None:
        super().__init__(conn, SECURE_TEXT_USER if secure else TEXT_USER, uid)


class WebSession(Session):
    """A web client (JSON over WebSocket): named ``guest<N>`` and put in ``#lobby`` at once, as a text client.

    Its input comes in whole messages, one command each.  ``renderer`` is
    the server's, one for all its web clients (it knows the server's limits).
    """

    __slots__ = ("renderer",)
    message_framed = True
    parse = staticmethod(parse_web_message)

    def __init__(self, conn: ConnId, uid: UserId, renderer: WebRenderer, *, secure: bool = False) -> None:
        super().__init__(conn, SECURE_WEB_USER if secure else WEB_USER, uid)
        self.renderer: Renderer = renderer
