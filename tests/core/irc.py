"""IRC clients on the in-memory network: lines sent with CR LF, lines read without it."""

from __future__ import annotations

from sansio_chat import DialectName, ServerConfig
from tests.core_driver import OPER_PASSWORD, Client, FakeNetwork

SERVER = "My.Little.Server"
#: A named operator account, as irctest's servers have one.
OPER_ACCOUNT = ("operuser", "operpassword")


class IRC:
    """One IRC client: ``send`` lines as typed, read ``lines`` as received (CR LF removed)."""

    def __init__(self, client: Client, nick: str = "") -> None:
        self.client = client
        self.nick = nick

    @property
    def conn(self) -> int:
        return self.client.conn

    @property
    def is_open(self) -> bool:
        return self.client.is_open

    def send(self, *lines: str) -> None:
        for line in lines:
            self.client.send_bytes(line.encode() + b"\r\n")

    def send_bytes(self, data: bytes) -> None:
        self.client.send_bytes(data)

    def lines(self) -> list[str]:
        lines = self.client.lines()
        for line in lines:
            assert line.endswith("\r"), f"not a CR LF line: {line!r}"
        return [line[:-1] for line in lines]

    def codes(self) -> list[str]:
        """The command (or numeric) of each line received since the last read."""
        return [_command(line) for line in self.lines()]


def _command(line: str) -> str:
    if line.startswith("@"):
        line = line.partition(" ")[2]
    if line.startswith(":"):
        line = line.partition(" ")[2]
    return line.partition(" ")[0]


def irc_net(**settings: object) -> FakeNetwork:
    """A chat server named as irctest names its servers, with an operator account."""
    config: dict[str, object] = {
        "oper_password": OPER_PASSWORD,
        "server_name": SERVER,
        "opers": (OPER_ACCOUNT,),
        **settings,
    }
    return FakeNetwork(ServerConfig(**config))  # type: ignore[arg-type]


def connect(net: FakeNetwork) -> IRC:
    """A new IRC connection, not registered."""
    return IRC(net.connect(dialect=DialectName.IRC))


def register(
    net: FakeNetwork, nick: str, *, caps: str = "", username: str = "", realname: str = "", keep: bool = False
) -> IRC:
    """An IRC client registered as ``nick`` (with ``caps``), its welcome read unless ``keep``."""
    irc = connect(net)
    irc.nick = nick
    if caps:
        irc.send("CAP LS 302", f"CAP REQ :{caps}")
    irc.send(f"NICK {nick}", f"USER {username or nick} 0 * :{realname or nick.title()}")
    if caps:
        irc.send("CAP END")
    if not keep:
        lines = irc.lines()
        assert any(f" 001 {nick} " in line for line in lines), lines
        for client in net.clients.values():
            client.lines()
    return irc


def mask(nick: str, username: str = "") -> str:
    return f"{nick}!~{username or nick}@irc.invalid"
