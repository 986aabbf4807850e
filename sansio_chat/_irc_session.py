"""An IRC client's connection: registration, capabilities, liveness, and what its lines ask of the chat.

Before it is a user of the chat an IRC client says who it is: ``CAP``
negotiation (registration waits for ``CAP END`` once it started), ``PASS``
when the server has a password, ``NICK`` (the nickname is held from then on,
so two clients cannot both register it) and ``USER``.  Then it is welcomed
(001 to 005, ``LUSERS``, the MOTD) and its lines go to the chat, which has the
rules; what only IRC has (``CAP`` after registration, ``MOTD``, ``VERSION``,
``TIME``...) is answered here.

Time is an input: a client that does not register within
``registration_seconds`` is closed; a registered client silent for
``ping_seconds`` gets a ``PING``, and is dropped if it says nothing within
``ping_timeout_seconds``.  The server runs ``check`` when the time a session
asked for (``due``) comes.
"""

from __future__ import annotations

import dataclasses
import hmac
from typing import Protocol

from ._base import Clock
from ._chat import Chat
from ._commands import Command, Lusers, SayTo, Tell
from ._config import ServerConfig
from ._events import ConnId
from ._irc_dialect import CHAT_COMMANDS, Numeric, chat_commands
from ._irc_message import (
    MAX_CLIENT_LINE_BYTES,
    MAX_LINE_BYTES,
    BadMessage,
    IRCMessage,
    MessageFault,
    parse_message,
)
from ._irc_render import OFFERED, STATUS_PREFIXES, Cap, IRCRenderer, IRCRenderers
from ._replies import LeaveReason, Renderer, Reply, UserId
from ._session import Registration, Session
from ._timefmt import human_utc
from ._users import MAX_REALNAME_CHARS, UserInfo

#: The cloak every IRC client's host is shown as (never its address).
IRC_HOST = "irc.invalid"
#: Characters of a username kept from ``USER`` (a ``~`` goes before it: no ident check was made).
USERLEN = 9
#: Commands an IRC session answers itself once registered.
_SESSION_COMMANDS = frozenset({"CAP", "PASS", "USER", "PONG", "MOTD", "VERSION", "TIME", "INFO", "LINKS"})
_CAPS = {cap.value: cap for cap in Cap}
_INFO_LINES = (
    "sansio-chat: a chat server whose every rule lives in one sans-IO state machine.",
    "Text clients (nc, telnet), IRC clients and browsers share its rooms and nicknames.",
)


def _plain_privmsg(line: bytes) -> Command | None:
    """``PRIVMSG target :text`` read directly: what the grammar would make of it, or None for the grammar.

    Anything unusual (tags, a source, several targets, a ``@#room``, a trailing first
    parameter, CTCP, no text, bad bytes, a long line) is left to the general path, which answers it.
    """
    if line[-1:] == b"\r":
        line = line[:-1]
    if len(line) > MAX_LINE_BYTES - 2:
        return None
    try:
        text = line.decode()
    except UnicodeDecodeError:
        return None
    colon = text.find(" :", 8)
    if colon < 9 or "\0" in text or "\r" in text:
        return None
    target, words = text[8:colon], text[colon + 2 :]
    if not words or words[0] == "\x01" or target[0] == ":" or " " in target or "," in target:
        return None
    if target[0] == "#":
        return SayTo(room=target, text=words)
    if target[0] in STATUS_PREFIXES:  # STATUSMSG (``@#room``), or no nickname: the grammar's
        return None
    return Tell(nick=target, text=words)


class IRCHost(Protocol):
    """What an IRC session needs of the server running it."""

    chat: Chat
    clock: Clock
    config: ServerConfig
    renderers: IRCRenderers

    def send(self, session: Session, data: bytes) -> None:
        """Queue ``data`` for the session's connection."""
        ...

    def end(self, session: Session, reason: LeaveReason) -> None:
        """The connection ends now (the chat is told, as for ``reason``): flush and close it."""
        ...

    def renderer_changed(self, session: Session, old: Renderer) -> None:
        """The session reads replies through another renderer now: file it anew where it is a member."""
        ...

    def watch(self, session: IRCSession, at: float) -> None:
        """Run ``session.check`` at monotonic time ``at`` (once ``session.due`` is ``at``)."""
        ...


class IRCSession(Session):
    """An IRC client's connection (see the module docstring)."""

    __slots__ = (
        "_caps",
        "_host",
        "_negotiating",
        "_nick",
        "_opened",
        "_password",
        "_pinged_at",
        "_seen",
        "_user_given",
        "due",
        "peer",
        "renderer",
    )
    max_line_bytes = MAX_CLIENT_LINE_BYTES

    def __init__(
        self, conn: ConnId, uid: UserId, host: IRCHost, peer: str = "", *, secure: bool = False
    ) -> None:
        super().__init__(
            conn, UserInfo(username="", realname="", host=IRC_HOST, line_sized=True, secure=secure), uid
        )
        self.state = Registration.REGISTERING
        self._host = host
        self.peer = peer
        self._caps: frozenset[Cap] = frozenset()
        self.renderer: IRCRenderer = host.renderers.get(self._caps)
        self._nick = ""  # the nickname held while registering
        self._user_given = False
        self._negotiating = False  # CAP LS or REQ came before registration: wait for CAP END
        self._password: str | None = None
        self._opened = self._seen = host.clock.now  # when it connected; when it last sent a line
        self._pinged_at: float | None = None  # when the server's PING went unanswered since
        self.due = 0.0
        host.watch(self, self._opened + host.config.registration_seconds)

    # -- rendering -------------------------------------------------------------------------------

    @property
    def nick(self) -> str:
        """Its nickname as numerics name it: ``*`` before it has one."""
        return self.user.nick or self._nick or "*"

    def render(self, reply: Reply) -> bytes:
        return self.renderer.render(reply, self.nick)

    def _send(self, data: bytes) -> None:
        self._host.send(self, data)

    def _numeric(self, code: str, *params: str) -> None:
        self._send(self.renderer.numeric(self.nick, code, *params))

    # -- lines -------------------------------------------------------------------------------------

    def parse(self, line: bytes) -> Command | None:
        """Act on one line: answer it here, or hand the chat what it asks (see ``Session.parse``).

        A registered client's plain ``PRIVMSG target :text``, the hot path,
        is read without the general grammar and returned for the chat.
        """
        self._seen = self._host.clock.now
        if line[:8] == b"PRIVMSG " and self.state is Registration.REGISTERED:
            plain = _plain_privmsg(line)
            if plain is not None:
                return plain
        message = parse_message(line)
        if isinstance(message, BadMessage):
            self._bad(message)
        elif self.state is Registration.REGISTERED:
            self._registered(message)
        else:
            self._registering(message)
        return None

    def _bad(self, bad: BadMessage) -> None:
        """A line that cannot be read: a numeric (or a standard reply), never silence, never a crash."""
        command = bad.command or "*"
        match bad.fault:
            case MessageFault.EMPTY:
                pass  # a blank line: the protocol says to ignore it
            case MessageFault.TOO_LONG | MessageFault.TAGS_TOO_LONG:
                self._numeric("417", "Input line was too long")
            case MessageFault.INVALID_UTF8:
                self._send(
                    self.renderer.server_line("FAIL", command, "INVALID_UTF8", "Message is not valid UTF-8")
                )
            case MessageFault.FORBIDDEN_CHARACTER:
                self._numeric("400", command, "Message contains a forbidden character (NUL or CR)")
            case _:  # no command, or not a command's spelling
                self._numeric("421", command, "Unknown command")

    def _registering(self, message: IRCMessage) -> None:
        params = message.params
        match message.command:
            case "CAP":
                self._cap(message)
            case "PASS":
                if params:
                    self._password = params[0]
                else:
                    self._numeric("461", "PASS", "Not enough parameters")
            case "NICK":
                if params and params[0]:
                    self._host.chat.reserve(self.user, params[0])
                else:
                    self._numeric("431", "No nickname given")
            case "USER":
                self._user(message)
            case "PING":
                self._ping(message)
            case "PONG":
                pass
            case "QUIT":
                self._send(self.renderer.error_line("Closing link: (Client Quit)"))
                self._host.end(self, LeaveReason.LEFT)
            case command if command in CHAT_COMMANDS or command in _SESSION_COMMANDS:
                self._numeric("451", "You have not registered")
            case command:
                self._numeric("421", command, "Unknown command")

    def _registered(self, message: IRCMessage) -> None:
        items = chat_commands(message, self.user)
        if items is None:
            self._server_command(message)
            return
        chat, user = self._host.chat, self.user
        for item in items:  # (only single-target commands may close the connection: QUIT, OPER)
            if isinstance(item, Numeric):
                self._numeric(item.code, *item.params)
            else:
                chat.handle(user, item)

    def _server_command(self, message: IRCMessage) -> None:
        """What a registered client asks of this server rather than of the chat."""
        config, nick = self._host.config, self.nick
        match message.command:
            case "CAP":
                self._cap(message)
            case "PASS" | "USER":
                self._numeric("462", "You may not reregister")
            case "PONG":
                pass
            case "MOTD":
                self._send(self.renderer.motd(nick))
            case "VERSION":
                self._numeric("351", config.version, config.server_name, "sansio-chat")
                self._send(self.renderer.isupport(nick))
            case "TIME":
                self._numeric("391", config.server_name, human_utc(self._host.clock.wall))
            case "INFO":
                for line in _INFO_LINES:
                    self._numeric("371", line)
                self._numeric("374", "End of /INFO list")
            case "LINKS":
                self._numeric("365", "*", "End of /LINKS list")
            case command:
                self._numeric("421", command, "Unknown command")

    # -- registration ---------------------------------------------------------------------------------

    def _user(self, message: IRCMessage) -> None:
        params = message.params
        if len(params) < 4 or not params[0] or not params[3]:
            self._numeric("461", "USER", "Not enough parameters")
            return
        kept = "".join(ch for ch in params[0] if ch.isalnum() or ch in "_-.")[:USERLEN]
        username = "~" + (kept or "user")
        realname = params[3][:MAX_REALNAME_CHARS]  # (longer is cut, as SETNAME would refuse it)
        self.user.info = dataclasses.replace(self.user.info, username=username, realname=realname)
        self._user_given = True
        self._try_register()

    def reserved(self, nick: str) -> None:
        """The chat holds ``nick`` for this client now: it may be what registration waited for."""
        self._nick = nick
        self._try_register()

    def _try_register(self) -> None:
        if not self._nick or not self._user_given or self._negotiating:
            return
        host = self._host
        password = host.config.password
        given = self._password or ""
        if password and not hmac.compare_digest(given.encode(), password.encode()):
            self._numeric("464", "Password incorrect")
            self._send(self.renderer.error_line("Closing link: (Bad password)"))
            host.end(self, LeaveReason.LEFT)
            return
        host.chat.register(self.user, self.peer)  # the welcome (001 to 005) comes from the chat

    def welcomed(self) -> None:
        """The chat registered this client (at once, or once its cluster agreed): the rest of the welcome."""
        host = self._host
        host.chat.handle(self.user, Lusers())
        self._send(self.renderer.motd(self.user.nick))
        host.watch(self, self._seen + host.config.ping_seconds)

    # -- capabilities ----------------------------------------------------------------------------------

    def _cap(self, message: IRCMessage) -> None:
        params = message.params
        if not params:
            self._numeric("461", "CAP", "Not enough parameters")
            return
        sub = params[0].upper()
        registering = self.state is not Registration.REGISTERED
        match sub:
            case "LS":
                if registering:
                    self._negotiating = True
                if len(params) > 1 and params[1].isdigit() and int(params[1]) >= 302:
                    self._set_caps(self._caps | {Cap.CAP_NOTIFY})  # implied by version 302
                self._cap_reply("LS", " ".join(OFFERED))
            case "LIST":
                self._cap_reply("LIST", " ".join(cap.value for cap in Cap if cap in self._caps))
            case "REQ":
                if registering:
                    self._negotiating = True
                self._cap_request(params[1] if len(params) > 1 else "")
            case "END":
                if registering and self._negotiating:
                    self._negotiating = False
                    self._try_register()
            case _:
                self._numeric("410", params[0], "Invalid CAP command")

    def _cap_request(self, asked: str) -> None:
        """All or nothing: every capability named exists, and the lot is acknowledged as written."""
        caps = set(self._caps)
        for name in asked.split():
            cap = _CAPS.get(name.removeprefix("-"))
            if cap is None:
                self._cap_reply("NAK", asked)
                return
            if name[:1] == "-":
                caps.discard(cap)
            else:
                caps.add(cap)
        self._set_caps(frozenset(caps))
        self._cap_reply("ACK", asked)

    def _cap_reply(self, sub: str, text: str) -> None:
        self._send(self.renderer.server_line("CAP", self.nick, sub, text))

    def _set_caps(self, caps: frozenset[Cap]) -> None:
        self._caps = caps
        old, new = self.renderer, self._host.renderers.get(caps)
        if new is not old:
            self.renderer = new
            if self.state is Registration.REGISTERED:
                self._host.renderer_changed(self, old)

    # -- liveness -----------------------------------------------------------------------------------------

    def _ping(self, message: IRCMessage) -> None:
        if message.params:
            self._send(self.renderer.server_line("PONG", self._host.config.server_name, message.params[-1]))
        else:
            self._numeric("409", "No origin specified")

    def check(self, now: float) -> None:
        """The time this session asked to be checked at: time out, ping, or ask again later."""
        host, config = self._host, self._host.config
        if self.state is not Registration.REGISTERED:  # the only time it asked for: the deadline
            self._send(self.renderer.error_line("Closing link: (Registration timed out)"))
            host.end(self, LeaveReason.TIMED_OUT)
            return
        pinged_at = self._pinged_at
        if pinged_at is not None and self._seen >= pinged_at:  # it said something since: alive
            self._pinged_at = pinged_at = None
        if pinged_at is None:
            quiet_until = self._seen + config.ping_seconds
            if now < quiet_until:
                host.watch(self, quiet_until)
                return
            self._send(self.renderer.server_line("PING", config.server_name))
            self._pinged_at = now
            host.watch(self, now + config.ping_timeout_seconds)
        else:  # the time it asked for after pinging: no answer
            seconds = int(config.ping_seconds + config.ping_timeout_seconds)
            self._send(self.renderer.error_line(f"Closing link: (Ping timeout: {seconds} seconds)"))
            host.end(self, LeaveReason.TIMED_OUT)
