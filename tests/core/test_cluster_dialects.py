"""Every dialect across the servers of a cluster: facts are dialect-neutral, each server renders its own.

IRC and web clients on one server, text clients on another: what one says
reaches the others in their own spelling; an IRC client's registration goes
through the cluster's directory like a rename; words from outside a room
come back to their server before its next ``PONG``; a server that joins
later learns users' details and rooms' settings from the others; an
operator's ``WALLOPS`` reaches the ``+w`` users of every server, once; a
bot (``+B``) and a new real name (``SETNAME``) are known on every server.
"""

from __future__ import annotations

import json

from sansio_chat import DialectName
from sansio_chat._shared import NODE_SHIFT
from tests.core_driver import Client
from tests.fake_cluster import FakeCluster, Member

from .irc import IRC


def text_client(cluster: FakeCluster, member: Member, nick: str) -> Client:
    client = member.net.connect()
    cluster.settle()
    client.send(f"NICK {nick}")
    cluster.settle()
    client.lines()
    return client


def irc_client(cluster: FakeCluster, member: Member, nick: str) -> IRC:
    """An IRC client of ``member``, registered as ``nick``, its welcome read."""
    irc = IRC(member.net.connect(dialect=DialectName.IRC), nick)
    irc.send(f"NICK {nick}", f"USER {nick} 0 * :{nick.title()}")
    cluster.settle()
    lines = irc.lines()
    assert any(f" 001 {nick} " in line for line in lines), lines
    return irc


def forget(cluster: FakeCluster) -> None:
    for member in cluster.live():
        for client in member.net.clients.values():
            client.lines()


def test_text_irc_and_web_clients_on_two_servers_talk_in_their_own_spelling() -> None:
    cluster = FakeCluster(2)
    cluster.settle()
    one, two = cluster.members[1], cluster.members[2]
    alice = text_client(cluster, one, "alice")
    web = two.net.connect_web()
    cluster.settle()
    web.send_json({"type": "nick", "nick": "webby"})
    irc = irc_client(cluster, two, "ircy")
    irc.send("JOIN #lobby")
    cluster.settle()
    forget(cluster)
    alice.send("MSG hello all")
    irc.send("PRIVMSG #lobby :hi from irc", "PRIVMSG alice :psst")
    cluster.settle()
    assert irc.lines() == [":alice!text@text.invalid PRIVMSG #lobby :hello all"]
    assert alice.lines() == ["[ircy] hi from irc", "[ircy -> alice] psst"]
    events = [json.loads(line) for line in web.lines()]
    assert [(event["type"], event.get("text")) for event in events] == [
        ("message", "hello all"),
        ("message", "hi from irc"),
    ]


def test_two_irc_clients_registering_one_nickname_on_two_servers_get_one_winner() -> None:
    cluster = FakeCluster(2)
    cluster.settle()
    first = IRC(cluster.members[1].net.connect(dialect=DialectName.IRC))
    second = IRC(cluster.members[2].net.connect(dialect=DialectName.IRC))
    for irc in (first, second):
        irc.send("NICK dave", "USER dave 0 * :Dave")
    cluster.settle()
    welcomed, refused = (first, second) if any(" 001 " in line for line in first.lines()) else (second, first)
    assert refused.lines() == [":sansio-chat 433 * dave :Nickname is already in use"]
    refused.send("NICK dave2")
    cluster.settle()
    assert any(" 001 dave2 " in line for line in refused.lines())
    assert cluster.directory["dave"] != cluster.directory["dave2"]
    welcomed.send("WHOIS dave2")
    cluster.settle()
    assert any(" 311 dave dave2 ~dave " in line for line in welcomed.lines())


def test_an_irc_registration_granted_after_its_client_left_gives_the_nickname_back() -> None:
    cluster = FakeCluster(1)
    cluster.settle()
    member = cluster.members[1]
    irc = IRC(member.net.connect(dialect=DialectName.IRC))
    irc.send("NICK erin", "USER erin 0 * :Erin")
    irc.client.reset()  # before the cluster answered
    cluster.settle()
    assert "erin" not in cluster.directory


def test_words_from_outside_a_room_come_back_before_the_speakers_pong() -> None:
    cluster = FakeCluster(2)
    cluster.settle()
    one, two = cluster.members[1], cluster.members[2]
    owner = irc_client(cluster, one, "owner")
    owner.send("JOIN #open", "MODE #open -n")
    outsider = irc_client(cluster, two, "outsider")
    cluster.settle()
    forget(cluster)
    outsider.send("PRIVMSG #open :knock knock", "PING barrier")
    cluster.settle()
    assert owner.lines() == [":outsider!~outsider@irc.invalid PRIVMSG #open :knock knock"]
    assert outsider.lines() == [":sansio-chat PONG sansio-chat barrier"]
    assert "#open" not in two.following  # followed only while its words were on their way


def test_a_server_that_joins_later_learns_users_details_and_rooms_settings() -> None:
    cluster = FakeCluster(1)
    cluster.settle()
    ircy = irc_client(cluster, cluster.members[1], "ircy")
    ircy.send("MODE ircy +i", "JOIN #den", "MODE #den +mk secret", "AWAY :lunch")
    cluster.settle()
    late = cluster.add()
    cluster.settle()
    bob = late.net.connect(dialect=DialectName.IRC)
    watcher = IRC(bob)
    watcher.send("NICK watcher", "USER watcher 0 * :Watcher")
    cluster.settle()
    watcher.lines()
    watcher.send("WHOIS ircy", "JOIN #den", "JOIN #den wrong", "LUSERS")
    cluster.settle()
    lines = watcher.lines()
    assert any(" 311 watcher ircy ~ircy irc.invalid * Ircy" in line for line in lines), lines
    assert any(" 301 watcher ircy lunch" in line for line in lines), lines
    assert any(" 475 watcher #den :Cannot join channel (+k)" in line for line in lines), (
        lines
    )  # its key crossed too
    assert any(" 251 watcher :There are 1 users and 1 invisible" in line for line in lines), lines
    assert ircy.client.conn + (1 << NODE_SHIFT) == cluster.directory["ircy"]


def test_irc_and_web_clients_are_told_when_their_server_loses_the_others() -> None:
    cluster = FakeCluster(2)
    cluster.settle()
    one = cluster.members[1]
    ircy = irc_client(cluster, one, "ircy")
    web = one.net.connect_web()
    cluster.settle()
    forget(cluster)
    cluster.down(one)
    assert ircy.lines() == [
        ":sansio-chat NOTICE * :Lost contact with the other servers: only users on this server can hear you"
    ]
    (event,) = (json.loads(line) for line in web.lines())
    assert event["type"] == "cluster" and event["news"] == "lost-contact"


def test_an_irc_registration_refused_after_its_client_left_tells_nobody() -> None:
    cluster = FakeCluster(2)
    cluster.settle()
    first = IRC(cluster.members[1].net.connect(dialect=DialectName.IRC))
    second = IRC(cluster.members[2].net.connect(dialect=DialectName.IRC))
    for irc in (first, second):
        irc.send("NICK dave", "USER dave 0 * :Dave")
    first.client.reset()
    second.client.reset()  # both gone before the cluster answered: one was granted, one refused
    cluster.settle()
    assert "dave" not in cluster.directory


def test_a_silent_irc_client_of_a_cluster_closes_once_its_departure_is_back() -> None:
    cluster = FakeCluster(2)
    cluster.settle()
    one, two = cluster.members[1], cluster.members[2]
    ircy = irc_client(cluster, one, "ircy")
    ircy.send("JOIN #lobby")
    watcher = text_client(cluster, two, "watcher")
    cluster.settle()
    forget(cluster)
    config = one.net.config
    one.net.advance(config.ping_seconds)
    one.net.advance(config.ping_timeout_seconds)
    assert ircy.is_open  # its departure is on its way
    cluster.settle()
    assert not ircy.is_open
    assert watcher.lines() == ["[server] ircy is disconnected (timed out)"]


def test_wallops_reaches_the_users_with_mode_w_on_every_server() -> None:
    cluster = FakeCluster(2)
    cluster.settle()
    one, two = cluster.members[1], cluster.members[2]
    boss, near = irc_client(cluster, one, "boss"), irc_client(cluster, one, "near")
    far, deaf = irc_client(cluster, two, "far"), irc_client(cluster, two, "deaf")
    texter = text_client(cluster, two, "texter")
    boss.send("OPER operuser operpassword")
    for irc in (near, far):
        irc.send(f"MODE {irc.nick} +w")
    texter.send("MODE +w")
    cluster.settle()
    forget(cluster)
    boss.send("WALLOPS :the cluster restarts at noon", "PING barrier")
    cluster.settle()
    wallops = ":boss!~boss@irc.invalid WALLOPS :the cluster restarts at noon"
    assert boss.lines() == [":sansio-chat PONG sansio-chat barrier"]
    assert near.lines() == [wallops]
    assert far.lines() == [wallops]
    assert texter.lines() == ["[wallops] boss: the cluster restarts at noon"]
    assert deaf.lines() == []


def test_wallops_during_a_servers_hello_is_told_once() -> None:
    cluster = FakeCluster(2)
    cluster.settle()
    boss = irc_client(cluster, cluster.members[1], "boss")
    far = irc_client(cluster, cluster.members[2], "far")
    boss.send("OPER operuser operpassword")
    far.send("MODE far +w")
    cluster.settle()
    forget(cluster)
    late = cluster.add()
    while cluster.step(late, answers=True):  # its burst answered, it says hello: a round opens everywhere
        pass
    boss.send("WALLOPS :mind the newcomer")
    cluster.settle()
    assert far.lines() == [":boss!~boss@irc.invalid WALLOPS :mind the newcomer"]


def test_a_bot_and_its_new_real_name_are_known_on_every_server() -> None:
    cluster = FakeCluster(2)
    cluster.settle()
    one, two = cluster.members[1], cluster.members[2]
    robo = irc_client(cluster, one, "robo")
    far = irc_client(cluster, two, "far")
    far.send("CAP REQ :message-tags setname")
    texter = text_client(cluster, two, "texter")
    for client in (robo, far):
        client.send("JOIN #lab")
    texter.send("JOIN #lab")
    cluster.settle()
    forget(cluster)
    robo.send("MODE robo +B", "SETNAME :Robo the Bot", "PRIVMSG #lab :beep")
    cluster.settle()
    lines = far.lines()
    assert lines[0] == ":robo!~robo@irc.invalid SETNAME :Robo the Bot"
    tags, _, words = lines[1].partition(" ")
    assert "bot" in tags[1:].split(";") and words == ":robo!~robo@irc.invalid PRIVMSG #lab :beep"
    far.send("WHOIS robo")
    texter.send("WHO")
    cluster.settle()
    whois = far.lines()
    assert whois[0] == ":sansio-chat 311 far robo ~robo irc.invalid * :Robo the Bot"
    assert ":sansio-chat 335 far robo :is a bot" in whois
    assert texter.lines() == ["[robo] beep", "[server] Users (3): @robo(bot) far texter"]


def test_a_server_cut_off_tells_the_others_of_its_bots_and_real_names_on_its_return() -> None:
    cluster = FakeCluster(2)
    cluster.settle()
    one, two = cluster.members[1], cluster.members[2]
    robo = irc_client(cluster, one, "robo")
    watcher = irc_client(cluster, two, "watcher")
    cluster.cut(one)
    robo.send("MODE robo +B", "SETNAME :Changed Alone")  # applied on its own server only
    cluster.restore(one)
    cluster.settle()
    forget(cluster)
    watcher.send("WHO robo %nfr")
    cluster.settle()
    assert watcher.lines() == [
        ":sansio-chat 354 watcher robo HB :Changed Alone",
        ":sansio-chat 315 watcher robo :End of /WHO list",
    ]


def test_an_irc_client_of_a_server_cut_off_waits_for_the_cluster_to_register_or_rename() -> None:
    """No chosen nickname is granted while cut off (another server may grant it meanwhile): 437."""
    cluster = FakeCluster(2)
    cluster.settle()
    one, two = cluster.members[1], cluster.members[2]
    ann = irc_client(cluster, one, "ann")
    cluster.down(one)
    ann.lines()
    ann.send("NICK annie")
    assert ann.lines() == [":sansio-chat 437 ann annie :Nick/channel is temporarily unavailable"]
    newcomer = IRC(one.net.connect(dialect=DialectName.IRC))
    newcomer.send("NICK dave", "USER dave 0 * :Dave")
    assert newcomer.lines() == [":sansio-chat 437 * dave :Nick/channel is temporarily unavailable"]
    rival = irc_client(cluster, two, "dave")  # the other server grants it meanwhile
    cluster.restore(one)
    cluster.settle()
    newcomer.lines()
    newcomer.send("NICK dave")
    cluster.settle()
    assert newcomer.lines() == [":sansio-chat 433 * dave :Nickname is already in use"]
    newcomer.send("NICK dan")
    cluster.settle()
    assert " 001 dan " in newcomer.lines()[0]
    assert cluster.directory["dave"] == rival.client.conn + (2 << NODE_SHIFT)


def test_an_irc_registration_on_its_way_when_the_link_breaks_is_not_granted_here_alone() -> None:
    """It may or may not have reached the directory: the client asks again, as for a rename (437)."""
    cluster = FakeCluster(2)
    cluster.settle()
    one = cluster.members[1]
    newcomer = IRC(one.net.connect(dialect=DialectName.IRC))
    newcomer.send("NICK dave", "USER dave 0 * :Dave")
    cluster.cut(one)
    assert newcomer.lines() == [":sansio-chat 437 * dave :Nick/channel is temporarily unavailable"]
    cluster.restore(one)
    cluster.settle()
    newcomer.lines()
    newcomer.send("NICK dave")
    cluster.settle()
    assert " 001 dave " in newcomer.lines()[0]
    assert cluster.directory["dave"] == newcomer.client.conn + (1 << NODE_SHIFT)


def test_a_web_client_dropped_for_a_protocol_error_is_told_so_on_every_server_then_closed() -> None:
    cluster = FakeCluster(2)
    cluster.settle()
    one, two = cluster.members[1], cluster.members[2]
    alice = text_client(cluster, one, "alice")
    irc = irc_client(cluster, one, "ircy")
    irc.send("JOIN #lobby")
    web = two.net.connect_web()
    cluster.settle()
    web.send_json({"cmd": "nick", "nick": "webby"})
    cluster.settle()
    forget(cluster)
    web.reset(protocol_error=True)  # its WebSocket was closed with 1002, 1003, 1007 or 1009
    assert web.is_open  # closed once its departure has crossed the cluster, as after any reset
    cluster.settle()
    assert not web.is_open and not web.aborted
    assert alice.lines() == ["[server] webby is disconnected (protocol error)"]
    assert irc.lines() == [":webby!web@web.invalid QUIT :Protocol error"]


def test_a_one_server_cluster_numbers_guests_as_a_lone_server_does_irc_clients_counted() -> None:
    """A lone server's guest number is the count of connections admitted (IRC ones too): so is a
    one-server cluster's, read from its lease, so that it reads byte for byte like a lone server."""
    cluster = FakeCluster(1)
    cluster.settle()
    (one,) = cluster.live()
    first = one.net.connect()
    cluster.settle()
    irc_client(cluster, one, "ircy")
    web = one.net.connect_web()
    cluster.settle()
    last = one.net.connect()
    cluster.settle()
    assert first.lines()[0].startswith("[server] Welcome to the chat, guest1!")
    assert json.loads(web.lines()[0])["nick"] == "guest3"
    assert last.lines()[0].startswith("[server] Welcome to the chat, guest4!")


def test_irc_clients_see_the_users_of_a_dead_server_quit_by_their_full_mask() -> None:
    """A netsplit's QUITs name ``nick!user@host``, as every other QUIT does."""
    cluster = FakeCluster(2)
    cluster.settle()
    one, two = cluster.members[1], cluster.members[2]
    ann = irc_client(cluster, one, "ann")
    ann.send("JOIN #lobby")
    text_client(cluster, two, "bob")
    ircy = irc_client(cluster, two, "ircy")
    ircy.send("JOIN #lobby")
    cluster.settle()
    forget(cluster)
    cluster.kill(two)
    cluster.settle()
    assert sorted(ann.lines()) == [
        ":bob!text@text.invalid QUIT :*.net *.split",
        ":ircy!~ircy@irc.invalid QUIT :*.net *.split",
    ]
