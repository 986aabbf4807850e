"""The README tells the truth: its set-up commands and its `nc` session."""

from __future__ import annotations

import re
from pathlib import Path

from sansio_chat import ServerConfig
from tests.core_driver import Client, FakeNetwork

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
PASSWORD = "3dPq0m9YkQ2xN7aB"  # the one the README's startup output shows


class Terminal:
    """What a user sees in an `nc` session: what they typed and what came back, in order."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.screen = ["$ nc localhost 7777"]

    def type(self, line: str) -> None:
        self.refresh()
        self.screen.append(line)
        self.client.send(line)
        self.refresh()

    def refresh(self) -> None:
        self.screen += self.client.lines()

    def text(self) -> str:
        self.refresh()
        return "\n".join(self.screen)


def test_readme_starts_with_exactly_the_two_setup_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.DOTALL)
    assert first_block is not None
    assert first_block.group(1).splitlines() == [
        "pip install . && sansio-chat serve",
        "pip install '.[test]' && python -m pytest",
    ]
    assert README.index(first_block.group(0)) < README.index("## ")


def test_the_readme_session_is_what_the_server_says() -> None:
    net = FakeNetwork(ServerConfig(oper_password=PASSWORD))
    alice = Terminal(net.connect())
    bob = Terminal(net.connect())
    bob.type("NICK bob")
    alice.type("NICK alice")
    alice.type("MSG hello, bob")
    alice.type("WHO")
    bob.type("MSG hi alice")
    alice.type(f"OPER {PASSWORD}")
    alice.type("KILL bob enough for today")
    alice.type("FOO")
    alice.type("QUIT see you")
    assert f"```console\n{alice.text()}\n```" in README
    assert f"```console\n{bob.text()}\n```" in README
    assert f"operator password (generated): {PASSWORD}" in README
