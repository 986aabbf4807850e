"""The page in a real browser: two windows and an ``nc``-style client in one chat.

Messages, ``/me``, private messages, joins, nick changes and kicks are seen
on every side, as are ``/away``, ``/mode`` and ``/usermode``; a user's
``<img onerror>`` stays text.  Every wait is explicit, polling every 0.05 s
with a deadline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.cluster.redis_server import free_port
from tests.conformance.client import Client
from tests.conformance.irc_client import IRCClient
from tests.conformance.server import ServerProcess

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05
XSS = "hello <img src=x onerror=alert(1)>"


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    server = ServerProcess("select", ["--listen", "http://127.0.0.1:0"])
    try:
        yield server
    finally:
        server.stop()


class Window:
    """One browser window showing the page; selenium drives one window at a time, so each switches first."""

    def __init__(self, driver: WebDriver, handle: str) -> None:
        self.driver = driver
        self.handle = handle

    def _run(self, script: str, *args: object) -> Any:
        self.driver.switch_to.window(self.handle)
        return self.driver.execute_script(script, *args)

    def wait(self, what: str, check: Callable[[], Any]) -> Any:
        from selenium.webdriver.support.wait import WebDriverWait  # noqa: PLC0415

        return WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=POLL_SECONDS).until(
            lambda _: check(), f"waiting for {what}"
        )

    @property
    def status(self) -> str:
        return str(self._run("return document.getElementById('status').textContent"))

    @property
    def nick(self) -> str:
        return str(self._run("return document.getElementById('my-nick').textContent"))

    def log(self) -> list[str]:
        """The conversation shown, one entry a line (sender and text, or a notice), without times."""
        lines = self._run(
            "return [...document.querySelectorAll('#log li > div')]"
            ".map(d => [...d.children].map(c => c.textContent).join(' '))"
        )
        return [re.sub(r"\s+", " ", line) for line in lines]

    def text_of(self, element_id: str) -> str:
        return str(self._run("return document.getElementById(arguments[0]).innerText", element_id))

    def type(self, line: str) -> None:
        from selenium.webdriver.common.by import By  # noqa: PLC0415
        from selenium.webdriver.common.keys import Keys  # noqa: PLC0415

        self.driver.switch_to.window(self.handle)
        self.driver.find_element(By.ID, "input").send_keys(line + Keys.ENTER)

    def sees(self, *lines: str) -> None:
        """Each of ``lines`` shows in the conversation (in this order, others between them allowed)."""

        def found() -> bool:
            log = iter(self.log())
            return all(any(line == shown for shown in log) for line in lines)

        self.wait(f"{lines!r} in {self.handle}", found)

    def images_in_log(self) -> int:
        return int(self._run("return document.querySelectorAll('#log img').length"))


def open_window(driver: WebDriver, url: str, *, first: bool) -> Window:
    if not first:
        driver.switch_to.new_window("window")
    driver.get(url)
    window = Window(driver, driver.current_window_handle)
    window.wait(
        "the page to connect", lambda: window.status == "Connected" and window.nick.startswith("guest")
    )
    return window


def test_two_windows_and_a_text_client_chat_in_one_room(
    browser: WebDriver, server: ServerProcess, shots: Path
) -> None:
    url = f"http://127.0.0.1:{server.port_of('http')}/"
    alice = open_window(browser, url, first=True)
    bob = open_window(browser, url, first=False)
    carl = server.join("guest3")
    alice.type("/nick alice")
    bob.type("/nick bob")
    carl.send_line("NICK carl")
    alice.sees("guest2 is now known as bob", "guest3 is now known as carl")
    bob.sees("guest1 is now known as alice", "guest3 is now known as carl")
    assert carl.ping_barrier() == [
        "[server] guest1 is now known as alice",
        "[server] guest2 is now known as bob",
        "[server] You are now known as carl",
    ]

    alice.type(XSS)
    alice.type("/me waves")
    carl.send_line("MSG hi browsers")
    bob.sees(f"alice {XSS}", "* alice waves", "carl hi browsers")
    alice.sees(f"alice {XSS}", "carl hi browsers")
    assert alice.images_in_log() == bob.images_in_log() == 0  # the markup is text, nothing ran
    assert carl.ping_barrier() == [f"[alice] {XSS}", "* alice waves"]
    screenshot(browser, bob, shots / "bob-lobby.png")

    bob.type("/msg alice psst")
    carl.send_line("TELL bob hi bob")
    alice.wait("bob's private message", lambda: "bob" in alice.text_of("privates"))
    bob.wait("carl's private message", lambda: "carl" in bob.text_of("privates"))
    assert carl.ping_barrier() == []

    alice.type("/join #den")
    alice.wait("#den", lambda: alice.text_of("view-title") == "#den")
    bob.sees("alice left #lobby")
    bob.type("/join den")
    carl.send_line("JOIN den")
    alice.sees("bob joined #den", "carl joined #den")
    alice.wait(
        "the members of #den", lambda: alice.text_of("members").split() == ["@", "alice", "bob", "carl"]
    )
    alice.type("/kick carl spam")
    bob.sees("carl was kicked from #den by alice: spam")
    assert carl.ping_barrier() == [
        "[server] alice left #lobby",
        "[server] bob left #lobby",
        "[server] You are now in #den",
        "[server] Users in #den (3): @alice bob carl",
        "[server] You were kicked from #den by alice: spam",
    ]
    alice.sees("carl was kicked from #den by alice: spam")

    bob.type("/query bob")  # the conversation with yourself
    bob.type("/msg bob memo")
    bob.type("/ping memo")  # answered after the server's copy of the memo: it answers in order
    bob.sees("bob memo", "pong memo")
    assert bob.log().count("bob memo") == 1  # once: the server's copy, no echo of the page's own

    screenshot(browser, alice, shots / "alice-den.png")
    browser.switch_to.window(bob.handle)
    browser.set_window_size(390, 760)  # a phone's width
    screenshot(browser, bob, shots / "bob-phone.png")
    browser.set_window_size(1100, 720)  # back, for the next test: the side panels show again


def wes_on_the_page_and_tina_in_den(browser: WebDriver, server: ServerProcess) -> tuple[Window, Client]:
    """The page as wes, operator of the new room #den, and the text client tina there with it."""
    page = open_window(browser, f"http://127.0.0.1:{server.port_of('http')}/", first=True)
    tina = server.join("guest2")
    page.type("/nick wes")
    page.sees("You are now known as wes")
    page.type("/join #den")  # a new room: wes is its operator
    page.wait("#den", lambda: page.text_of("view-title") == "#den")
    tina.send_line("NICK tina")
    tina.send_line("JOIN den")
    page.sees("tina joined #den")
    return page, tina


def test_the_pages_away_mode_and_usermode_commands_reach_a_text_client(
    browser: WebDriver, server: ServerProcess
) -> None:
    """``/away``, ``/mode`` (as the room's operator) and ``/usermode``, typed on the page, seen by ``nc``."""
    page, tina = wes_on_the_page_and_tina_in_den(browser, server)
    assert tina.ping_barrier() == [
        "[server] guest1 is now known as wes",
        "[server] wes left #lobby",
        "[server] You are now known as tina",
        "[server] You are now in #den",
        "[server] Users in #den (2): @wes tina",
    ]

    page.type("/away lunch")
    page.sees("You are away: lunch")
    assert tina.ping_barrier() == ["[server] wes is away: lunch"]

    page.type("/mode +m")
    page.type("/mode +v tina")
    page.sees("wes set mode +m on #den", "wes set mode +v tina on #den")
    assert tina.ping_barrier() == [
        "[server] wes set mode +m on #den",
        "[server] wes set mode +v tina on #den",
    ]

    tina.send_line("WHO")
    assert tina.ping_barrier() == ["[server] Users (2): @wes +tina"]
    page.type("/usermode +B")
    page.sees("Your modes changed: +B")
    page.type("/usermode")
    page.sees("Your modes: +B")
    tina.send_line("WHO")
    assert tina.ping_barrier() == ["[server] Users (2): @wes(bot) +tina"]


def screenshot(browser: WebDriver, window: Window, path: Path) -> None:
    browser.switch_to.window(window.handle)
    assert browser.save_screenshot(str(path))
    print(f"screenshot: {path}")


def test_the_page_says_when_the_server_is_gone_and_comes_back(browser: WebDriver, tmp_path: Path) -> None:
    server = ServerProcess("select", ["--listen", "http://127.0.0.1:0"])
    try:
        url = f"http://127.0.0.1:{server.port_of('http')}/"
        page = open_window(browser, url, first=True)
        text: Client = server.join()
        text.ping_barrier()
    finally:
        server.stop()
    page.wait("the page to notice", lambda: page.status.startswith(("Server restarting", "Connection lost")))
    assert "reconnecting in" in page.status


def test_after_a_server_restart_the_page_comes_back_in_its_room_under_its_nickname(
    browser: WebDriver,
) -> None:
    """The page reconnects by itself, asks for its nickname again and goes back to its room, with its key."""
    port = free_port()
    listen = ["--listen", f"http://127.0.0.1:{port}"]
    server = ServerProcess("select", listen)
    try:
        page = open_window(browser, f"http://127.0.0.1:{port}/", first=True)
        page.type("/nick wes")
        page.sees("You are now known as wes")
        page.type("/join #den s3cret")
        page.wait("#den", lambda: page.text_of("view-title") == "#den")
    finally:
        server.stop()
    page.wait("the page to notice", lambda: "reconnecting in" in page.status)
    again = ServerProcess("select", listen)
    try:
        text = again.join()
        text.send_line("JOIN den")  # #den is the text user's now, locked with the key wes typed
        text.send_line("MODE den +k s3cret")
        text.ping_barrier()
        page.wait("wes back in #den", lambda: page.log().count("You are now in #den") == 2)  # (once before)
        assert page.nick == "wes" and page.status == "Connected"
        assert "[server] wes joined #den" in text.ping_barrier()
    finally:
        again.stop()
    assert script_errors(browser) == []


def script_errors(browser: WebDriver) -> list[str]:
    """The errors the page's scripts raised since the last call (the console's, not the network's)."""
    entries: list[dict[str, Any]] = browser.execute("getLog", {"type": "browser"})["value"]
    return [entry["message"] for entry in entries if entry["source"] == "javascript"]


def test_the_page_follows_the_room_after_a_mode_a_who_and_a_kick(
    browser: WebDriver, server: ServerProcess
) -> None:
    """The members list follows ``+o``; ``/who`` of another room shows; words after a kick raise no error."""
    page, tina = wes_on_the_page_and_tina_in_den(browser, server)
    page.wait("the members of #den", lambda: page.text_of("members").split() == ["@", "wes", "tina"])

    page.type("/mode +o tina")
    page.sees("wes set mode +o tina on #den")
    page.wait("tina marked as operator", lambda: page.text_of("members").split() == ["@", "wes", "@", "tina"])

    page.type("/who #lobby")
    page.sees("Users in #lobby (0):")
    page.wait("#den's members kept", lambda: page.text_of("members").split() == ["@", "wes", "@", "tina"])

    tina.send_line("KICK wes out")
    page.sees("You were kicked from #den by tina: out")
    page.type("still here?")
    page.type("/me waves")
    page.sees("you are not in a room, use JOIN <room>", "you are not in a room, use JOIN <room>")
    assert script_errors(browser) == []


@pytest.fixture
def page_and_ann(browser: WebDriver) -> Iterator[tuple[Window, IRCClient]]:
    """The page, and ann: an IRC client registered on the same server (an http and an irc listener)."""
    server = ServerProcess("select", ["--listen", "http://127.0.0.1:0", "--listen", "irc://127.0.0.1:0"])
    try:
        page = open_window(browser, f"http://127.0.0.1:{server.port_of('http')}/", first=True)
        ann = IRCClient(server.connect(port=server.port_of("irc"), chat=False), "ann")
        ann.register()
        yield page, ann
    finally:
        server.stop()


def test_the_page_shows_an_irc_users_words_without_their_formatting_codes(
    browser: WebDriver, page_and_ann: tuple[Window, IRCClient]
) -> None:
    """Bold, colours (their digits too) and the other IRC codes are not shown, as a text client's terminal."""
    page, ann = page_and_ann
    ann.send("JOIN #lobby")
    ann.send("PRIVMSG #lobby :hi \x02bold\x02 \x034red\x03 \x0304,12blue\x0f \x1ditalic\x1d \x04ff0000hex")
    ann.send("PRIVMSG #lobby :\x01ACTION waves \x1fslowly\x1f\x01")
    page.sees("ann hi bold red blue italic hex", "* ann waves slowly")
    ann.barrier()
    assert script_errors(browser) == []


def test_the_page_refuses_a_message_over_the_limit_instead_of_losing_its_connection(
    browser: WebDriver, server: ServerProcess
) -> None:
    """3,500 characters fit the input box but not 4,096 bytes of UTF-8: the page says so and stays."""
    page = open_window(browser, f"http://127.0.0.1:{server.port_of('http')}/", first=True)
    tina = server.join("guest2")
    long = "é" * 2100  # 4,200 bytes: the server would close the WebSocket (1009)
    page._run(
        "const input = document.getElementById('input'); input.value = arguments[0];"
        "document.getElementById('send-form').requestSubmit()",
        long,
    )
    size = len(json.dumps({"cmd": "msg", "text": long}, ensure_ascii=False, separators=(",", ":")).encode())
    page.sees(f"Not sent: a message is at most 4096 bytes (this one is {size})")
    assert page._run("return document.getElementById('input').value") == long  # kept, to be cut
    page._run("document.getElementById('input').value = ''")
    page.type("short one")
    assert tina.ping_barrier() == [f"[{page.nick}] short one"]
    assert page.status == "Connected"
    assert script_errors(browser) == []


def test_the_page_keeps_to_the_smaller_limit_its_server_gives(browser: WebDriver) -> None:
    """With ``--max-line-bytes 512`` the page sends a message of 512 bytes, JSON and all, and refuses 513.

    Refused, the text stays in the input box, and the page stays connected as
    wes in #den: a 1009 close would bring it back as a new guest in #lobby.
    """
    server = ServerProcess("select", ["--listen", "http://127.0.0.1:0", "--max-line-bytes", "512"])
    try:
        page, tina = wes_on_the_page_and_tina_in_den(browser, server)
        tina.ping_barrier()
        words = "é" * 200 + '"' * 20 + "x" * 49  # 400 + 40 (each quote escaped) + 49 bytes
        at_limit = json.dumps({"cmd": "msg", "text": words}, ensure_ascii=False, separators=(",", ":"))
        assert len(at_limit.encode()) == 512
        page.type(words)
        assert tina.ping_barrier() == [f"[wes] {words}"]
        page.type(words + "x")
        page.sees("Not sent: a message is at most 512 bytes (this one is 513)")
        assert page._run("return document.getElementById('input').value") == words + "x"  # kept, to be cut
        page._run("document.getElementById('input').value = ''")
        page.type("shorter")
        assert tina.ping_barrier() == ["[wes] shorter"]
        assert (page.status, page.nick, page.text_of("view-title")) == ("Connected", "wes", "#den")
        assert script_errors(browser) == []
    finally:
        server.stop()


def test_the_pages_join_gives_a_rooms_key(browser: WebDriver, server: ServerProcess) -> None:
    """``/join #room key`` enters a room with a key (``+k``), as the web protocol's ``join`` allows."""
    page = open_window(browser, f"http://127.0.0.1:{server.port_of('http')}/", first=True)
    tina = server.join("guest2")
    tina.send_line("JOIN vault")
    tina.send_line("MODE #vault +k sesame")
    tina.ping_barrier()
    page.type("/join #vault")
    page.sees("cannot join #vault: it needs a key (+k)")
    page.type("/join #vault sesame")
    page.wait("#vault", lambda: page.text_of("view-title") == "#vault")
    assert tina.ping_barrier() == [f"[server] {page.nick} joined #vault"]


def test_the_page_says_when_an_irc_user_clears_the_topic(
    browser: WebDriver, page_and_ann: tuple[Window, IRCClient]
) -> None:
    """IRC's ``TOPIC #room :`` (a ``topic`` event with ``by`` and no topic) reads as a cleared topic."""
    page, ann = page_and_ann
    ann.send("JOIN #den", "TOPIC #den :games tonight")
    ann.barrier()
    page.type("/join #den")
    page.wait("#den's topic", lambda: page.text_of("topic") == "games tonight")
    ann.send("TOPIC #den :")
    page.sees("ann cleared the topic of #den")
    page.wait("no topic shown", lambda: page.text_of("topic") == "")
    ann.barrier()
    assert script_errors(browser) == []


def test_the_pages_own_private_message_is_not_unread_and_a_typed_who_is_answered_in_the_conversation(
    browser: WebDriver, server: ServerProcess
) -> None:
    """What you said yourself adds no unread mark; ``/who`` typed gets a line, the page's own asks do not."""
    page = open_window(browser, f"http://127.0.0.1:{server.port_of('http')}/", first=True)
    tina = server.join("guest2")
    tina.send_line("NICK tina")
    page.sees("guest2 is now known as tina")
    assert "Users in #lobby" not in " ".join(page.log())  # the page's own who, on its welcome

    page.type("/msg tina psst")
    assert tina.ping_barrier()[-1] == "[guest1 -> tina] psst"
    page.wait("the private conversation", lambda: "tina" in page.text_of("privates"))
    assert page.text_of("privates").split() == ["tina"]  # no unread count

    tina.send_line("TELL guest1 hello back")
    page.wait("an unread mark", lambda: page.text_of("privates").split() == ["tina", "1"])

    page.type("/who")
    page.sees("Users in #lobby (2): guest1 tina")
    page.type("/who #lobby")
    page.sees("Users in #lobby (2): guest1 tina", "Users in #lobby (2): guest1 tina")
    assert script_errors(browser) == []
