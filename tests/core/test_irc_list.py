"""IRC LIST with ISUPPORT's ELIST=CMNTU conditions: masks, masks not matched, member counts, ages."""

from __future__ import annotations

import pytest

from sansio_chat import Tick
from tests.core_driver import FakeNetwork

from .irc import IRC, SERVER, irc_net, register

MINUTE = 60.0


@pytest.fixture
def net() -> FakeNetwork:
    return irc_net()


def listed(client: IRC, *lines: str) -> list[set[str]]:
    """Send each LIST line; the channels each one's 322s name (checking the 321 ... 323 frame)."""
    found = []
    for line in lines:
        client.send(line)
        replies = client.lines()
        assert replies[0] == f":{SERVER} 321 {client.nick} Channel :Users  Name"
        assert replies[-1] == f":{SERVER} 323 {client.nick} :End of /LIST"
        assert all(reply.split()[1] == "322" for reply in replies[1:-1])
        found.append({reply.split()[3] for reply in replies[1:-1]})
    return found


def two_channels(net: FakeNetwork) -> tuple[IRC, IRC, IRC]:
    """foo in #chan1 and #chan2, bar in #chan2, baz in none (as irctest sets it up)."""
    foo, bar, baz = register(net, "foo"), register(net, "bar"), register(net, "baz")
    foo.send("JOIN #chan1", "JOIN #chan2")
    bar.send("JOIN #chan2")
    for client in (foo, bar, baz):
        client.lines()
    return foo, bar, baz


def test_isupport_advertises_the_conditions_implemented(net: FakeNetwork) -> None:
    foo = register(net, "foo")
    foo.send("VERSION")
    assert "ELIST=CMNTU" in " ".join(foo.lines()).split()


def test_a_mask_lists_the_channels_it_matches(net: FakeNetwork) -> None:
    *_, baz = two_channels(net)
    assert listed(baz, "LIST *an1", "LIST *an2", "LIST #c*n2", "LIST *an3", "LIST #ch*") == [
        {"#chan1"},
        {"#chan2"},
        {"#chan2"},
        set(),
        {"#chan1", "#chan2"},
    ]


def test_masks_ignore_case_and_know_one_character_wildcards(net: FakeNetwork) -> None:
    *_, baz = two_channels(net)
    assert listed(baz, "LIST #CHAN?", "LIST #Chan1", "LIST #chan", "LIST ?chan?", "LIST #chan??") == [
        {"#chan1", "#chan2"},
        {"#chan1"},
        set(),
        {"#chan1", "#chan2"},
        set(),
    ]


def test_several_names_and_masks_list_the_channels_any_of_them_matches(net: FakeNetwork) -> None:
    *_, baz = two_channels(net)
    baz.send("JOIN #other")
    baz.lines()
    assert listed(
        baz, "LIST #chan1,#other", "LIST *1,*2", "LIST #nowhere,#o*", "LIST #chan1 My.Little.Server"
    ) == [
        {"#chan1", "#other"},
        {"#chan1", "#chan2"},
        {"#other"},
        {"#chan1"},
    ]


def test_a_negative_mask_lists_the_channels_it_does_not_match(net: FakeNetwork) -> None:
    *_, baz = two_channels(net)
    assert listed(
        baz, "LIST !*an1", "LIST !*an2", "LIST !#c*n2", "LIST !*an3", "LIST !#ch*", "LIST !#CHAN1"
    ) == [
        {"#chan2"},
        {"#chan1"},
        {"#chan1"},
        {"#chan1", "#chan2"},
        set(),
        {"#chan2"},
    ]


def test_member_counts_are_strict_bounds(net: FakeNetwork) -> None:
    *_, baz = two_channels(net)
    assert listed(baz, "LIST >0", "LIST <1", "LIST <100", "LIST >1", "LIST <2", "LIST >2") == [
        {"#chan1", "#chan2"},
        set(),
        {"#chan1", "#chan2"},
        {"#chan2"},
        {"#chan1"},
        set(),
    ]


def test_conditions_combine_and_the_tightest_bound_wins(net: FakeNetwork) -> None:
    *_, baz = two_channels(net)
    baz.send("JOIN #other")
    baz.lines()
    assert listed(
        baz,
        "LIST #ch*,>1",
        "LIST #ch* >1",
        "LIST >0 #chan1",
        "LIST !*1,<2",
        "LIST >0,>1",
        "LIST <3,<2",
        "LIST !#chan1,!#chan2",
        "LIST *an*,!*2",
    ) == [
        {"#chan2"},
        {"#chan2"},
        {"#chan1"},
        {"#other"},
        {"#chan2"},
        {"#chan1", "#other"},
        {"#other"},
        {"#chan1"},
    ]


def test_malformed_conditions_are_ignored(net: FakeNetwork) -> None:
    *_, baz = two_channels(net)
    everything = {"#chan1", "#chan2"}
    assert (
        listed(baz, "LIST >x", "LIST <-1", "LIST C<", "LIST T>1m", "LIST !", "LIST >", "LIST ,,")
        == [everything] * 7
    )
    assert listed(baz, "LIST >x,*an1", "LIST C<y,>1") == [{"#chan1"}, {"#chan2"}]


def test_creation_time_in_minutes_ago(net: FakeNetwork) -> None:
    start = 1_700_000_000.0
    net.receive(Tick(now=1.0, wall=start))
    foo, bar = register(net, "foo"), register(net, "bar")
    foo.send("JOIN #chan1")
    net.receive(Tick(now=2.0, wall=start + 2 * MINUTE))
    foo.send("JOIN #chan2")
    net.receive(Tick(now=3.0, wall=start + 3 * MINUTE))
    bar.lines()
    assert listed(bar, "LIST C>2", "LIST C<2", "LIST C<0", "LIST C>0", "LIST C<10", "LIST c<2,C<3") == [
        {"#chan1"},
        {"#chan2"},
        set(),
        {"#chan1", "#chan2"},
        {"#chan1", "#chan2"},
        {"#chan2"},
    ]


def test_topic_time_in_minutes_ago_and_a_channel_without_a_topic_never_matches(net: FakeNetwork) -> None:
    start = 1_700_000_000.0
    net.receive(Tick(now=1.0, wall=start))
    foo = register(net, "foo")
    foo.send("JOIN #chan1", "JOIN #chan2", "JOIN #bare", "TOPIC #chan1 :First channel")
    net.receive(Tick(now=2.0, wall=start + 2 * MINUTE))
    foo.send("TOPIC #chan2 :Second channel")
    net.receive(Tick(now=3.0, wall=start + 3 * MINUTE))
    foo.lines()
    assert listed(foo, "LIST T>2", "LIST T<2", "LIST T<0", "LIST T>0", "LIST T<10", "LIST t>0,!*1") == [
        {"#chan1"},
        {"#chan2"},
        set(),
        {"#chan1", "#chan2"},
        {"#chan1", "#chan2"},
        {"#chan2"},
    ]
    foo.send("TOPIC #chan1 :")  # cleared: no topic, so no topic time either
    foo.lines()
    assert listed(foo, "LIST T>0") == [{"#chan2"}]


def test_secret_channels_stay_hidden_from_outsiders_whatever_the_conditions(net: FakeNetwork) -> None:
    net.receive(Tick(now=1.0, wall=1_700_000_000.0))
    foo, bar, baz = two_channels(net)
    foo.send("MODE #chan2 +s")
    foo.lines(), bar.lines()
    net.receive(Tick(now=2.0, wall=1_700_000_000.0 + MINUTE))
    lines = ("LIST", "LIST #chan2", "LIST *2", "LIST !*1", "LIST >1", "LIST C>0")
    assert listed(baz, *lines) == [{"#chan1"}, set(), set(), set(), set(), {"#chan1"}]
    assert listed(bar, *lines) == [
        {"#chan1", "#chan2"},
        {"#chan2"},
        {"#chan2"},
        {"#chan2"},
        {"#chan2"},
        {"#chan1", "#chan2"},
    ]


def test_help_tells_the_conditions(net: FakeNetwork) -> None:
    foo = register(net, "foo")
    foo.send("HELP LIST")
    lines = foo.lines()
    assert [line.split()[1] for line in lines] == ["704", "705", "705", "705", "706"]
    assert "C<n or C>n" in lines[3]
