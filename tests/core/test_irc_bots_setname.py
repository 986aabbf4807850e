"""IRC bot mode (``BOT=B``, user mode ``+B``, 335, the ``B`` WHO flag, the ``bot`` tag) and ``SETNAME``."""

from __future__ import annotations

import pytest

from sansio_chat._users import MAX_REALNAME_CHARS
from tests.core_driver import FakeNetwork

from .irc import IRC, SERVER, irc_net, mask, register


@pytest.fixture
def net() -> FakeNetwork:
    return irc_net()


def n(code: str, nick: str, rest: str) -> str:
    return f":{SERVER} {code} {nick} {rest}"


def untagged(line: str) -> tuple[list[str], str]:
    """A line's tags (without their values' order mattering) and the rest."""
    if not line.startswith("@"):
        return [], line
    tags, _, rest = line[1:].partition(" ")
    return tags.split(";"), rest


# -- bot mode ---------------------------------------------------------------------------------------------


def test_a_user_marks_itself_a_bot_and_takes_it_back(net: FakeNetwork) -> None:
    robo = register(net, "robo")
    robo.send("MODE robo +B", "MODE robo +B", "MODE robo", "MODE robo +w-B", "MODE robo")
    assert robo.lines() == [
        ":robo MODE robo :+B",
        n("221", "robo", "+B"),
        ":robo MODE robo :+w-B",
        n("221", "robo", "+w"),
    ]
    other = register(net, "other")
    other.send("MODE robo +B")
    assert other.lines() == [n("502", "other", ":Can't change mode for other users")]


def test_whois_of_a_bot_says_so_with_335(net: FakeNetwork) -> None:
    robo, alice = register(net, "robo"), register(net, "alice")
    robo.send("MODE robo +B", "OPER operuser operpassword")
    robo.lines()
    alice.send("WHOIS robo")
    codes = [line.split()[1] for line in alice.lines()]
    assert codes == ["311", "312", "313", "335", "317", "318"]
    alice.send("WHOIS robo")
    assert n("335", "alice", "robo :is a bot") in alice.lines()
    alice.send("WHOIS alice")
    assert not any(" 335 " in line for line in alice.lines())


def test_who_shows_a_bot_with_the_flag_isupport_names(net: FakeNetwork) -> None:
    robo, alice = register(net, "robo"), register(net, "alice")
    robo.send("JOIN #chan", "MODE robo +B", "AWAY :sleeping")
    alice.send("JOIN #chan")
    robo.lines(), alice.lines()
    alice.send("WHO #chan", "WHO robo %nf")
    assert alice.lines() == [
        n("352", "alice", "#chan ~robo irc.invalid My.Little.Server robo GB@ :0 Robo"),
        n("352", "alice", "#chan ~alice irc.invalid My.Little.Server alice H :0 Alice"),
        n("315", "alice", "#chan :End of /WHO list"),
        n("354", "alice", "robo GB"),
        n("315", "alice", "robo :End of /WHO list"),
    ]


def test_a_bots_words_carry_the_bot_tag_to_clients_that_read_tags(net: FakeNetwork) -> None:
    robo = register(net, "robo", caps="echo-message message-tags")
    tagged = register(net, "tagged", caps="message-tags")
    plain = register(net, "plain")
    for irc in (robo, tagged, plain):
        irc.send("JOIN #chan")
    robo.send("MODE robo +B")
    for irc in (robo, tagged, plain):
        irc.lines()
    robo.send("PRIVMSG #chan :beep boop", "NOTICE tagged :psst", "@+typing=active TAGMSG #chan")
    words = [untagged(line) for line in tagged.lines()]
    assert [rest for _, rest in words] == [
        f":{mask('robo')} PRIVMSG #chan :beep boop",
        f":{mask('robo')} NOTICE tagged :psst",
        f":{mask('robo')} TAGMSG #chan",
    ]
    assert all("bot" in tags and any(tag.startswith("msgid=") for tag in tags) for tags, _ in words)
    assert plain.lines() == [f":{mask('robo')} PRIVMSG #chan :beep boop"]
    assert all("bot" in untagged(line)[0] for line in robo.lines())  # its own echoes too
    robo.send("MODE robo -B", "PRIVMSG #chan :human again")
    [(tags, rest)] = [untagged(line) for line in tagged.lines()]
    assert "bot" not in tags and rest == f":{mask('robo')} PRIVMSG #chan :human again"


def test_the_bot_tag_comes_with_a_nickname_change_too(net: FakeNetwork) -> None:
    robo, tagged = register(net, "robo"), register(net, "tagged", caps="message-tags")
    robo.send("MODE robo +B", "NICK robot", "PRIVMSG tagged :renamed")
    tags, rest = untagged(tagged.lines()[-1])
    assert "bot" in tags and rest == f":{mask('robot', 'robo')} PRIVMSG tagged :renamed"


# -- SETNAME ----------------------------------------------------------------------------------------------


def test_setname_changes_the_real_name_whois_and_who_show(net: FakeNetwork) -> None:
    foo = register(net, "foo", caps="setname")
    foo.send("SETNAME :Bruce Wayne <bruce@wayne.example>", "SETNAME Batman")
    assert foo.lines() == [
        f":{mask('foo')} SETNAME :Bruce Wayne <bruce@wayne.example>",
        f":{mask('foo')} SETNAME :Batman",
    ]
    foo.send("WHOIS foo", "WHO foo %nr")
    lines = foo.lines()
    assert lines[0] == n("311", "foo", "foo ~foo irc.invalid * Batman")
    assert lines[-2:] == [n("354", "foo", "foo Batman"), n("315", "foo", "foo :End of /WHO list")]


def test_setname_reaches_the_members_of_shared_channels_that_asked_for_it(net: FakeNetwork) -> None:
    foo = register(net, "foo", caps="setname")
    bar = register(net, "bar", caps="setname")
    baz = register(net, "baz")
    far = register(net, "far", caps="setname")
    for irc in (foo, bar, baz):
        irc.send("JOIN #chan", "JOIN #other")
    far.send("JOIN #elsewhere")
    for irc in (foo, bar, baz, far):
        irc.lines()
    foo.send("SETNAME :qux")
    setname = f":{mask('foo')} SETNAME :qux"
    assert foo.lines() == [setname]
    assert bar.lines() == [setname]  # once, though it shares two channels with foo
    assert baz.lines() == []
    assert far.lines() == []


def test_setname_without_the_capability_still_changes_the_name(net: FakeNetwork) -> None:
    foo = register(net, "foo")
    watcher = register(net, "watcher", caps="setname")
    foo.send("JOIN #chan")
    watcher.send("JOIN #chan")
    foo.lines(), watcher.lines()
    foo.send("SETNAME :New Name", "WHOIS foo")
    assert foo.lines()[0] == n("311", "foo", "foo ~foo irc.invalid * :New Name")
    assert watcher.lines() == [f":{mask('foo')} SETNAME :New Name"]


def test_the_same_name_again_is_confirmed_to_its_owner_only(net: FakeNetwork) -> None:
    foo = register(net, "foo", caps="setname", realname="Same")
    bar = register(net, "bar", caps="setname")
    foo.send("JOIN #chan")
    bar.send("JOIN #chan")
    foo.lines(), bar.lines()
    foo.send("SETNAME Same")
    assert foo.lines() == [f":{mask('foo')} SETNAME :Same"]
    assert bar.lines() == []


@pytest.mark.parametrize("line", ["SETNAME", "SETNAME :", "SETNAME :" + "x" * (MAX_REALNAME_CHARS + 1)])
def test_an_empty_or_too_long_real_name_fails(net: FakeNetwork, line: str) -> None:
    foo = register(net, "foo", caps="setname", realname="Kept")
    foo.send(line, "WHOIS foo")
    lines = foo.lines()
    limit = f"(1 to {MAX_REALNAME_CHARS} characters)"
    assert lines[0] == f":{SERVER} FAIL SETNAME INVALID_REALNAME :Realname is not valid {limit}"
    assert lines[1] == n("311", "foo", "foo ~foo irc.invalid * Kept")


def test_a_real_name_of_the_longest_length_is_taken_and_user_cuts_a_longer_one(net: FakeNetwork) -> None:
    longest = "y" * MAX_REALNAME_CHARS
    foo = register(net, "foo", caps="setname", realname="z" * (MAX_REALNAME_CHARS + 20))
    foo.send("WHOIS foo")
    assert foo.lines()[0] == n("311", "foo", f"foo ~foo irc.invalid * {'z' * MAX_REALNAME_CHARS}")
    foo.send(f"SETNAME :{longest}")
    assert foo.lines() == [f":{mask('foo')} SETNAME :{longest}"]


def test_setname_is_offered_and_listed(net: FakeNetwork) -> None:
    foo: IRC = register(net, "foo", caps="setname")
    foo.send("CAP LIST", "HELP SETNAME")
    lines = foo.lines()
    assert lines[0] == f":{SERVER} CAP foo LIST :cap-notify setname"  # (CAP LS 302 implies cap-notify)
    assert lines[1] == n("704", "foo", "SETNAME :SETNAME :<realname>")
