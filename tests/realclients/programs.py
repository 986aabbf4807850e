"""irssi and WeeChat, driven as a user would: typed commands in, the screen out.

Each client gets a throwaway home directory with a configuration that keeps
it off the network: no scripts or plugins beyond IRC itself, no servers to
connect to at startup, nothing saved, and no flood delay on what it sends
(the tests type faster than a person).  A client connects to exactly the
server a test names.

What a client shows is matched loosely, by fragments of one screen line in
order (``wait_for_line("peer", "hello")``), because the two clients lay
lines out differently; what a client *sends* is checked exactly, by the raw
peer on the other side.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from .tmux import WAIT_TIMEOUT, TmuxPane


class RealClient(ABC):
    """One IRC client program in its own terminal."""

    #: The name tests use, and the program that must be installed.
    name: ClassVar[str]
    executable: ClassVar[str]
    #: A regex that is on screen once the program has drawn its interface.
    ready: ClassVar[str]

    def __init__(self, home: Path, nick: str) -> None:
        self.home = home
        self.nick = nick
        home.mkdir(parents=True, exist_ok=True)
        self.configure()
        self.pane = TmuxPane(self.argv(), env={"HOME": str(home)})
        try:
            self.pane.wait_for(self.ready)
        except BaseException:
            self.close()
            raise

    @classmethod
    def installed(cls) -> bool:
        return shutil.which(cls.executable) is not None

    @abstractmethod
    def configure(self) -> None:
        """Write the configuration into the home directory."""

    @abstractmethod
    def argv(self) -> list[str]:
        """The command line."""

    @abstractmethod
    def connect_commands(self, host: str, port: int, ca_file: Path | None = None) -> list[str]:
        """What to type to connect to ``host``:``port`` as ``self.nick`` (over TLS, trusting ``ca_file``)."""

    @abstractmethod
    def focus_command(self, name: str) -> str:
        """What to type to bring a channel's (or a private chat's) window to the front."""

    # -- what a user types --------------------------------------------------------------------

    def type(self, line: str) -> None:
        self.pane.type(line)

    def connect(self, host: str, port: int, welcome: str, ca_file: Path | None = None) -> None:
        """Connect (over TLS with ``ca_file``); wait for the server's welcome (its 001 text) on screen."""
        for command in self.connect_commands(host, port, ca_file):
            self.type(command)
        self.pane.wait_for(re.escape(welcome))

    def join(self, channel: str) -> None:
        self.type(f"/join {channel}")

    def say(self, channel: str, text: str) -> None:
        """Type ``text`` in the channel's window, as a user chats."""
        self.type(self.focus_command(channel))
        self.type(text)

    def message(self, nick: str, text: str) -> None:
        self.type(f"/msg {nick} {text}")

    def open_query(self, nick: str) -> None:
        """Show the private chat with ``nick`` (opened if needed)."""
        self.type(f"/query {nick}")

    def action(self, channel: str, text: str) -> None:
        self.type(self.focus_command(channel))
        self.type(f"/me {text}")

    def change_nick(self, nick: str) -> None:
        self.type(f"/nick {nick}")

    def part(self, channel: str, reason: str) -> None:
        self.type(f"/part {channel} {reason}")

    def quit(self, reason: str) -> None:
        self.type(f"/quit {reason}")

    # -- what a user sees ---------------------------------------------------------------------

    def wait_for_line(self, *fragments: str, timeout: float = WAIT_TIMEOUT) -> str:
        return self.pane.wait_for_line(*fragments, timeout=timeout)

    def close(self) -> None:
        pane = getattr(self, "pane", None)
        if pane is not None:
            pane.close()


class Irssi(RealClient):
    name = "irssi"
    executable = "irssi"
    ready = r"\[\(status\)\]"

    def configure(self) -> None:
        nick = self.nick
        (self.home / "config").write_text(
            "servers = ( );\nchatnets = { };\nchannels = ( );\n"
            "settings = {\n"
            f'  core = {{ real_name = "{nick}"; user_name = "{nick}"; nick = "{nick}";'
            ' settings_autosave = "no"; };\n'
            '  "irc/core" = { cmd_queue_speed = "0msec"; cmds_max_at_once = "1000"; };\n'
            '  "fe-common/core" = { autocreate_own_query = "no"; beep_msg_level = ""; };\n'
            "};\n"
        )

    def argv(self) -> list[str]:
        return [self.executable, f"--home={self.home}", f"--nick={self.nick}"]

    def connect_commands(self, host: str, port: int, ca_file: Path | None = None) -> list[str]:
        if ca_file is None:
            return [f"/connect {host} {port}"]
        return [f"/connect -tls -tls_verify -tls_cafile {ca_file} {host} {port}"]

    def focus_command(self, name: str) -> str:
        return f"/window goto {name}"


class WeeChat(RealClient):
    name = "weechat"
    executable = "weechat"
    ready = r"Plugins loaded: irc"

    def configure(self) -> None:
        # No update checks exist; scripts and every plugin but IRC are off on the command line; lines
        # typed in quick succession are commands, not a paste to confirm.
        (self.home / "weechat.conf").write_text(
            "[look]\nsave_config_on_exit = off\nsave_layout_on_exit = none\npaste_max_lines = -1\n"
            '[plugin]\nautoload = "irc"\n'
        )

    def argv(self) -> list[str]:
        return [self.executable, "--dir", str(self.home), "--no-connect", "--no-script", "--plugins", "irc"]

    def connect_commands(self, host: str, port: int, ca_file: Path | None = None) -> list[str]:
        nick = self.nick
        # WeeChat 4 renamed its "ssl" options "tls" (Debian 12 has 3.8).
        word = "tls" if _weechat_major() >= 4 else "ssl"
        tls = [f"-no{word}"] if ca_file is None else [f"-{word}", f"-{word}_verify"]
        trust = [] if ca_file is None else [f"/set weechat.network.gnutls_ca_user {ca_file}"]
        return [
            *trust,
            f"/server add test {host}/{port} {' '.join(tls)} -nicks={nick} -username={nick} -realname={nick}"
            " -anti_flood_prio_high=0 -anti_flood_prio_low=0",
            "/connect test",
        ]

    def focus_command(self, name: str) -> str:
        return f"/buffer {name}"


@functools.cache
def _weechat_major() -> int:
    """WeeChat's major version (``weechat --version`` prints ``3.8`` or ``4.1.2``...)."""
    out = subprocess.run(["weechat", "--version"], capture_output=True, text=True, check=True, timeout=10)
    return int(out.stdout.strip().split(".")[0])


CLIENTS: dict[str, type[RealClient]] = {client.name: client for client in (Irssi, WeeChat)}
