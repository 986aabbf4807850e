"""Renderers alone: IRC spellings of rare replies, text spellings of IRC-only ones, dates without clocks."""

from __future__ import annotations

import datetime
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_chat import ServerConfig
from sansio_chat._base import Clock
from sansio_chat._irc_message import IRCMessage, parse_message
from sansio_chat._irc_render import Cap, IRCRenderer, IRCServerInfo
from sansio_chat._modes import ModeChange, RoomMode
from sansio_chat._replies import (
    Announcement,
    AwaySet,
    BanList,
    Disconnected,
    Error,
    ErrorKind,
    Identity,
    InviteSent,
    IsonReply,
    LeaveReason,
    RealnameChanged,
    Reply,
    RoomModesAre,
    Said,
    ServerStats,
    Speech,
    Told,
    TopicSet,
    UserhostReply,
    UserList,
    UserModesAre,
    UserModesChanged,
    WhoisReply,
    WhoList,
    WhowasReply,
)
from sansio_chat._text_dialect import TextRenderer
from sansio_chat._timefmt import human_utc, iso_utc
from sansio_chat._web_dialect import WebRenderer

#: The web renderer of a server with the default limits.
WEB = WebRenderer(max_message_bytes=ServerConfig().max_line_bytes)

ALICE = Identity(uid=1, nick="alice", mask="alice!~alice@irc.invalid")


@pytest.fixture
def irc() -> IRCRenderer:
    return IRCRenderer(IRCServerInfo(ServerConfig(server_name="srv"), Clock()), frozenset())


# -- dates -----------------------------------------------------------------------------------------------


@given(st.floats(min_value=0, max_value=253_402_300_799, allow_nan=False))
def test_dates_match_the_standard_library(seconds: float) -> None:
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    moment = epoch + datetime.timedelta(microseconds=int(seconds * 1000) * 1000)
    millis = f"{moment.microsecond // 1000:03d}"
    assert iso_utc(seconds) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + millis + "Z"
    whole = epoch + datetime.timedelta(seconds=int(seconds))
    day = whole.strftime("%d").lstrip("0")
    assert human_utc(seconds) == whole.strftime(f"%A %B {day} %Y -- %H:%M:%S +00:00")


# -- IRC -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "line"),
    [
        (Error(kind=ErrorKind.INVALID_UTF8), "FAIL * INVALID_UTF8 :Message rejected: it is not valid UTF-8"),
        (Error(kind=ErrorKind.SERVER_FULL), "ERROR :Closing link: server full"),
        (Error(kind=ErrorKind.CONTROL_CHARACTER), "400 bob * :Control characters are not allowed"),
        (Error(kind=ErrorKind.NOT_IN_A_ROOM), "442 bob * :You're not on that channel"),
        (Error(kind=ErrorKind.USAGE, detail="MSG"), "461 bob MSG :Not enough parameters"),
        (Error(kind=ErrorKind.ALREADY_IN_ROOM, detail="#a"), ""),
        (Error(kind=ErrorKind.CANNOT_SPEAK_OUTSIDE, room="#a"), "404 bob #a :Cannot send to channel (+n)"),
        (Disconnected(nick="x", reason=LeaveReason.TOO_SLOW), "x QUIT :Max SendQ exceeded"),
        (Disconnected(nick="x", reason=LeaveReason.OPER_FAILURES), "x QUIT :Too many failed OPER attempts"),
        (Disconnected(nick="x", reason=LeaveReason.TIMED_OUT), "x QUIT :Ping timeout"),
        (Disconnected(nick="x", reason=LeaveReason.KILLED, killer="op"), "x QUIT :Killed (op)"),
        (TopicSet(nick="x", room="#a", topic="t"), "x TOPIC #a :t"),
        (InviteSent(invitee="x", room="#a"), "341 bob x #a"),
        (AwaySet(away=False), "305 bob :You are no longer marked as being away"),
        (UserModesChanged(nick="bob", invisible=True, operator=False), "bob MODE bob :+i-o"),
        (UserModesAre(invisible=True, operator=True, announcements=True), "221 bob +iow"),
        (UserModesChanged(nick="bob", invisible=False, announcements=True), "bob MODE bob :-i+w"),
        (UserModesChanged(nick="bob", invisible=True, announcements=True), "bob MODE bob :+iw"),
        (UserModesAre(invisible=True, operator=True, announcements=True, bot=True), "221 bob +iowB"),
        (UserModesChanged(nick="bob", announcements=False, bot=True), "bob MODE bob :-w+B"),
        (IsonReply(nicks=()), "303 bob :"),
        (UserhostReply(users=()), "302 bob :"),
        (RoomModesAre(room="#a", modes=(), created=5.0), "324 bob #a +"),
        (BanList(room="#a", bans=()), "368 bob #a :End of channel ban list"),
        (WhoList(mask="", users=()), "315 bob * :End of /WHO list"),
        (WhoisReply(nick="x", user=None), "401 bob x :No such nick/channel"),
        (WhowasReply(nick="x", users=()), "406 bob x :There was no such nickname"),
        (UserList(room="#a", nicks=("x",)), "353 bob = #a x"),
    ],
)
def test_rare_replies_in_irc(irc: IRCRenderer, reply: Reply, line: str) -> None:
    data = irc.render(reply, "bob")
    first = data.split(b"\r\n")[0].decode()
    assert first.removeprefix(":srv ").removeprefix(":") == line


def test_mode_changes_show_arguments_except_to_remove_a_limit(irc: IRCRenderer) -> None:
    from sansio_chat._replies import ModesChanged  # noqa: PLC0415

    changes = (
        ModeChange(on=False, mode=RoomMode.LIMIT, arg="5"),
        ModeChange(on=True, mode=RoomMode.KEY, arg="k"),
        ModeChange(on=True, mode=RoomMode.SECRET),
    )
    assert irc.render(ModesChanged(nick="x", room="#a", changes=changes)) == b":x MODE #a -l+ks k\r\n"


def test_every_line_keeps_to_512_bytes_cutting_at_a_character_boundary(irc: IRCRenderer) -> None:
    topic = "€" * 300  # 900 bytes
    data = irc.render(TopicSet(nick="x", room="#a", topic=topic, mask="x!~x@irc.invalid"))
    assert len(data) <= 512 and data.endswith(b"\r\n")
    message = parse_message(data[:-1])
    assert isinstance(message, IRCMessage) and topic.startswith(message.params[-1])


def test_a_line_breaking_character_never_reaches_an_irc_client(irc: IRCRenderer) -> None:
    said = Said(source=ALICE, room="#a", text="one\rtwo\nthree\0four")
    assert irc.render(said) == b":alice!~alice@irc.invalid PRIVMSG #a :one two three four\r\n"


def test_lusers_leaves_out_what_is_zero(irc: IRCRenderer) -> None:
    stats = ServerStats(users=0, invisible=0, operators=0, unregistered=0, rooms=0, most_users=0)
    codes = [line.split()[1] for line in irc.render(stats, "bob").decode().splitlines()]
    assert codes == ["251", "255", "265", "266"]


# -- text ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        WhoList(mask="*", users=()),
        WhoisReply(nick="x", user=None),
        WhowasReply(nick="x", users=()),
        UserhostReply(users=()),
        IsonReply(nicks=()),
        ServerStats(users=1, invisible=0, operators=0, unregistered=0, rooms=1, most_users=1),
        Said(source=ALICE, room="#a", text="\x01VERSION\x01", kind=Speech.CTCP),
        Told(source=ALICE, recipient="bob", text="", kind=Speech.TAGS),
        RealnameChanged(nick="alice", realname="Alice A.", mask=ALICE.mask),
    ],
    ids=lambda reply: type(reply).__name__,
)
def test_text_and_web_clients_get_nothing_of_what_only_irc_clients_ask_or_read(reply: Reply) -> None:
    assert TextRenderer().render(reply) == b""
    assert WEB.render(reply) == b""


def test_user_modes_in_text_and_on_the_web() -> None:
    shown = UserModesAre(invisible=False, operator=True, announcements=True)
    changed = UserModesChanged(nick="x", invisible=True, announcements=False)
    assert TextRenderer().render(shown) == b"[server] Your modes: +ow\n"
    assert TextRenderer().render(UserModesAre(invisible=False, operator=False, announcements=False)) == (
        b"[server] Your modes: +\n"
    )
    assert TextRenderer().render(changed) == b"[server] Your modes changed: +i-w\n"
    assert WEB.render(shown) == b'{"type":"usermodes","modes":"+ow"}\n'
    assert WEB.render(UserModesAre(invisible=False, operator=False, announcements=False)) == (
        b'{"type":"usermodes","modes":""}\n'
    )
    assert WEB.render(changed) == b'{"type":"usermode","nick":"x","modes":"+i-w"}\n'


def test_words_still_say_who_spoke_and_how() -> None:
    said = Said(source=ALICE, room="#a", text="waves", kind=Speech.ACTION)
    told = Told(source=ALICE, recipient="bob", text="hi")
    assert (said.nick, said.action, told.sender, told.action) == ("alice", True, "alice", False)
    notice = Said(source=ALICE, room="#a", text="\x02note\x02", kind=Speech.NOTICE)
    assert TextRenderer().render(notice) == b"[alice] note\n"
    assert TextRenderer().render(Error(kind=ErrorKind.NO_TEXT)) == b"[server] Error: no text to send\n"


def test_an_announcement_in_every_dialect(irc: IRCRenderer) -> None:
    announcement = Announcement(source=ALICE, text="maintenance at \x1b[2Jnoon")
    assert irc.render(announcement) == b":alice!~alice@irc.invalid WALLOPS :maintenance at \x1b[2Jnoon\r\n"
    assert TextRenderer().render(announcement) == "[wallops] alice: maintenance at \ufffd[2Jnoon\n".encode()
    assert json.loads(WEB.render(announcement)) == {
        "type": "wallops",
        "from": "alice",
        "text": "maintenance at \x1b[2Jnoon",
    }


def test_a_new_real_name_in_irc_only_for_clients_that_asked_for_it(irc: IRCRenderer) -> None:
    changed = RealnameChanged(nick="alice", realname="Alice", mask=ALICE.mask)
    assert irc.render(changed) == b""
    info = IRCServerInfo(ServerConfig(server_name="srv"), Clock())
    setname = IRCRenderer(info, frozenset({Cap.SETNAME}))
    assert setname.render(changed) == b":alice!~alice@irc.invalid SETNAME :Alice\r\n"
    assert setname.render(RealnameChanged(nick="alice", realname="Alice")) == b":alice SETNAME :Alice\r\n"


def test_a_refused_real_name_in_every_dialect(irc: IRCRenderer) -> None:
    error = Error(kind=ErrorKind.INVALID_REALNAME, detail="150")
    assert (
        irc.render(error)
        == b":srv FAIL SETNAME INVALID_REALNAME :Realname is not valid (1 to 150 characters)\r\n"
    )
    assert TextRenderer().render(error) == b"[server] Error: invalid real name (1 to 150 characters)\n"
    assert json.loads(WEB.render(error))["code"] == "invalid-field"


def test_a_list_with_bots_in_text_and_on_the_web() -> None:
    listed = UserList(
        room="#a",
        nicks=("op", "robo", "vee"),
        operators=frozenset({"op"}),
        named=True,
        voiced=frozenset({"vee", "robo"}),
        bots=frozenset({"robo"}),
    )
    assert TextRenderer().render(listed) == b"[server] Users in #a (3): @op +robo(bot) +vee\n"
    assert json.loads(WEB.render(listed))["users"] == [
        {"nick": "op", "op": True},
        {"nick": "robo", "op": False, "voice": True, "bot": True},
        {"nick": "vee", "op": False, "voice": True},
    ]
    bots_only = UserList(room="#a", nicks=("robo", "x"), bots=frozenset({"robo"}))
    assert TextRenderer().render(bots_only) == b"[server] Users (2): robo(bot) x\n"


@given(st.text(max_size=600))
def test_a_name_echoed_in_a_numeric_stays_one_parameter_of_a_line_that_fits(name: str) -> None:
    """What a client typed as a name (``WHOIS :a b``, ``NAMES ,``...) cannot break the reply's parameters.

    A middle parameter cannot be empty, hold a space, start with a colon or
    break the line: such a one is shown as ``*``; one too long for the line
    is cut, so that the line keeps to 512 bytes with its text.
    """
    irc = IRCRenderer(IRCServerInfo(ServerConfig(server_name="srv"), Clock()), frozenset())
    data = irc.render(WhoisReply(nick=name, user=None), "bob").split(b"\r\n")[0] + b"\r\n"
    assert len(data) <= 512
    message = parse_message(data[:-2])
    assert isinstance(message, IRCMessage)
    assert message.command == "401"
    assert message.params[0] == "bob" and message.params[2] == "No such nick/channel"
    shown = message.params[1]
    assert len(message.params) == 3 and shown
    assert shown == "*" or name.startswith(shown)
