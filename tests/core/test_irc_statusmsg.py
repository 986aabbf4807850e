"""IRC STATUSMSG: ``PRIVMSG @#room`` for the room's operators, ``+#room`` for its voiced members too.

Who gets such words is the chat's rule, not IRC's: text and web operators
of the room get them in their own spelling, each server of a cluster picks
its own recipients, and the room's usual rules still apply to the sender.
"""

from __future__ import annotations

from sansio_chat import DialectName
from tests.core_driver import Client, FakeNetwork
from tests.fake_cluster import FakeCluster

from .irc import IRC, SERVER, irc_net, mask, register
from .test_cluster_dialects import forget, irc_client, text_client
from .test_web import web


def channel(net: FakeNetwork) -> tuple[IRC, IRC, IRC, IRC]:
    """#chan: chanop (operator), voiced (+v), joe (plain member), schmoe (operator too)."""
    chanop = register(net, "chanop", caps="echo-message")
    voiced, joe, schmoe = register(net, "voiced"), register(net, "joe"), register(net, "schmoe")
    chanop.send("JOIN #chan")
    for client in (voiced, joe, schmoe):
        client.send("JOIN #chan")
    chanop.send("MODE #chan +v voiced", "MODE #chan +o schmoe")
    for client in (chanop, voiced, joe, schmoe):
        client.lines()
    return chanop, voiced, joe, schmoe


def privmsgs(client: IRC) -> list[str]:
    return [line for line in client.lines() if " PRIVMSG " in line or " NOTICE " in line]


def test_isupport_names_the_prefixes_a_message_may_be_addressed_with() -> None:
    foo = register(irc_net(), "foo")
    foo.send("VERSION")
    assert "STATUSMSG=@+" in " ".join(foo.lines()).split()


def test_words_to_at_room_reach_its_operators_only_with_the_target_as_sent() -> None:
    net = irc_net()
    chanop, voiced, joe, schmoe = channel(net)
    schmoe.send("PRIVMSG @#chan :this message is for operators")
    assert schmoe.lines() == []
    assert privmsgs(chanop) == [f":{mask('schmoe')} PRIVMSG @#chan :this message is for operators"]
    assert privmsgs(voiced) == []
    assert privmsgs(joe) == []


def test_words_to_plus_room_reach_voiced_members_and_operators() -> None:
    net = irc_net()
    chanop, voiced, joe, schmoe = channel(net)
    joe.send("NOTICE +#chan :for the voiced")
    line = f":{mask('joe')} NOTICE +#chan :for the voiced"
    assert (privmsgs(chanop), privmsgs(voiced), privmsgs(schmoe)) == ([line], [line], [line])
    assert joe.lines() == []


def test_several_prefixes_mean_the_widest_audience_they_name() -> None:
    net = irc_net()
    _chanop, voiced, joe, schmoe = channel(net)
    schmoe.send("PRIVMSG @+#chan :hi")
    assert privmsgs(voiced) == [f":{mask('schmoe')} PRIVMSG +#chan :hi"]
    assert privmsgs(joe) == []


def test_a_plain_member_may_write_to_the_operators_and_does_not_read_it_back() -> None:
    net = irc_net()
    chanop, voiced, joe, schmoe = channel(net)
    joe.send("PRIVMSG @#chan :this message is for operators")
    assert joe.lines() == []
    line = f":{mask('joe')} PRIVMSG @#chan :this message is for operators"
    assert (privmsgs(chanop), privmsgs(schmoe), privmsgs(voiced)) == ([line], [line], [])


def test_the_sender_with_echo_message_gets_its_words_back_as_sent() -> None:
    net = irc_net()
    chanop, _voiced, joe, schmoe = channel(net)
    chanop.send("PRIVMSG @#chan :ops only")
    line = f":{mask('chanop')} PRIVMSG @#chan :ops only"
    assert privmsgs(chanop) == [line]
    assert privmsgs(schmoe) == [line]
    assert privmsgs(joe) == []


def test_tagmsg_to_at_room_reaches_operators_that_read_tags() -> None:
    net = irc_net()
    chanop, _voiced, joe, _schmoe = channel(net)
    tagged = register(net, "tagged", caps="message-tags")
    tagged.send("JOIN #chan")
    chanop.send("MODE #chan +o tagged")
    tagged.lines(), chanop.lines()
    alice = net.connect()
    alice.send("NICK alice")
    alice.send("JOIN #chan")
    chanop.send("MODE #chan +o alice")
    tagged.lines(), alice.lines()
    joe.send("@+typing=active TAGMSG @#chan")
    [line] = tagged.lines()
    assert line.endswith(f";+typing=active :{mask('joe')} TAGMSG @#chan")
    assert alice.lines() == []  # tags alone are for IRC clients


def test_the_rooms_rules_still_apply_to_the_sender() -> None:
    net = irc_net()
    chanop, voiced, joe, schmoe = channel(net)
    outsider = register(net, "outsider")
    outsider.send("PRIVMSG @#chan :let me in")  # +n: no words from outside
    assert outsider.lines() == [f":{SERVER} 404 outsider #chan :Cannot send to channel (+n)"]
    chanop.send("MODE #chan +m")
    for client in (chanop, voiced, joe, schmoe):
        client.lines()
    joe.send("PRIVMSG @#chan :help")
    assert [line.split()[1] for line in joe.lines()] == ["404"]
    voiced.send("PRIVMSG @#chan :I may")
    assert len(privmsgs(chanop)) == 1
    chanop.send("MODE #chan -nm")
    for client in (chanop, voiced, joe, schmoe):
        client.lines()
    outsider.send("PRIVMSG @#chan :from outside")  # -n: words from outside arrive, to the operators only
    assert (outsider.lines(), privmsgs(joe)) == ([], [])
    assert privmsgs(schmoe) == [f":{mask('outsider')} PRIVMSG @#chan :from outside"]
    outsider.send("PRIVMSG @#nowhere :hello", "PRIVMSG @chanop :a prefix names no nickname")
    assert [line.split()[1] for line in outsider.lines()] == ["403", "401"]


def test_a_text_operator_and_a_web_operator_get_them_in_their_own_spelling() -> None:
    net = irc_net()
    chanop, _voiced, joe, _schmoe = channel(net)
    alice = net.connect()
    alice.send("NICK alice")
    alice.send("JOIN #chan")
    wes, walt = web(net, "wes"), web(net, "walt")
    for browser in (wes, walt):
        browser.send_json({"cmd": "join", "room": "chan"})
    chanop.send("MODE #chan +oo alice wes")
    alice.lines(), wes.events(), walt.events()
    joe.send("PRIVMSG @#chan :psst", "PRIVMSG +#chan :\x01ACTION waves\x01")
    assert alice.lines() == ["[joe -> @#chan] psst", "[joe -> +#chan] * joe waves"]
    assert wes.events() == [
        {
            "type": "message",
            "room": "#chan",
            "from": "joe",
            "text": "psst",
            "kind": "msg",
            "to_rank": "operator",
        },
        {
            "type": "message",
            "room": "#chan",
            "from": "joe",
            "text": "waves",
            "kind": "action",
            "to_rank": "voiced",
        },
    ]
    assert walt.events() == []


def test_each_server_of_a_cluster_picks_its_own_recipients_by_rank() -> None:
    cluster = FakeCluster(2)
    cluster.settle()
    one, two = cluster.members[1], cluster.members[2]
    chanop = irc_client(cluster, one, "chanop")
    chanop.send("JOIN #chan")
    cluster.settle()
    alice: Client = text_client(cluster, two, "alice")
    joe = irc_client(cluster, two, "joe")
    bob = IRC(two.net.connect(dialect=DialectName.IRC), "bob")
    bob.send("NICK bob", "USER bob 0 * :Bob", "JOIN #chan")
    alice.send("JOIN #chan")
    joe.send("JOIN #chan")
    cluster.settle()
    chanop.send("MODE #chan +o alice")
    cluster.settle()
    forget(cluster)
    joe.send("PRIVMSG @#chan :ops, please")
    cluster.settle()
    assert privmsgs(chanop) == [f":{mask('joe')} PRIVMSG @#chan :ops, please"]
    assert alice.lines() == ["[joe -> @#chan] ops, please"]
    assert privmsgs(bob) == []
    assert joe.lines() == []
