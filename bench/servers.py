"""The servers under test: how to start each one, find its port, and stop it."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Literal

from ._proc import LISTENING, free_port, pinned
from ._tls import TlsFiles

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
#: How long a server may take to start listening.
START_TIMEOUT = 15.0

Kind = Literal["backend", "floor", "reference"]
#: How the generator's clients reach the server: plain TCP, TLS, or a WebSocket (plain TCP, web dialect).
Transport = Literal["plain", "tls", "web"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSpec:
    """One server of the comparison."""

    name: str
    kind: Kind
    style: str  # the I/O style: select, threads, asyncio (miniircd: select)
    dialect: Literal["chat", "irc", "floor", "web", "mixed"]
    #: A backend's listeners, by kind: text, IRC, both (a mixed room: half the clients on each), TLS, web.
    listeners: tuple[str, ...] = ("text",)
    #: Connections the generator opens at once (miniircd listens with a backlog of 5).
    concurrency: int = 100
    #: Run on uvloop (the asyncio backend and the asyncio floor: --loop uvloop).
    uvloop: bool = False
    transport: Transport = "plain"
    #: ``--flush-delay`` to start it with (seconds); None: its default.  Floors default to 0, as before it.
    flush_delay: float | None = None
    #: Whether it takes ``--flush-delay`` (every backend; the selectors and asyncio floors).
    flushes: bool = True

    @property
    def family(self) -> str:
        """The server's name without a flush delay's suffix (``select@200us`` is a ``select``)."""
        return self.name.partition("@")[0]

    def with_flush_delay(self, delay: float) -> ServerSpec:
        """This server started with ``--flush-delay delay``, named for it: ``select@200us``."""
        return replace(self, name=f"{self.family}@{delay * 1e6:g}us", flush_delay=delay)

    def argv(self, port: int, tls: TlsFiles | None = None) -> list[str]:
        python = sys.executable
        loop = ["--loop", "uvloop"] if self.uvloop else []
        if self.flush_delay is not None:
            loop += ["--flush-delay", f"{self.flush_delay:g}"]
        certificate: list[str] = []
        if self.transport == "tls":
            if tls is None:
                raise ValueError(f"{self.name} needs a certificate")
            certificate = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
        if self.kind == "backend":
            # The installed package (pip install -e .), as the command line runs it.
            listen = [option for kind in self.listeners for option in ("--listen", f"{kind}://{HOST}:0")]
            return [
                python, "-m", "sansio_chat_adapters.cli", "serve", "--backend", self.style, *listen,
                "--rate-lines", "0", "--oper-password", secrets.token_hex(8), "--server-name", "bench.test",
                *certificate, *loop,
            ]  # fmt: skip
        if self.kind == "floor":
            floor = f"bench.floors.{self.style}_floor"
            return [python, "-m", floor, "--host", HOST, "--port", "0", *loop, *certificate]
        return [
            python, "-m", "miniircd", "--listen", HOST, "--ports", str(port), *_miniircd_user(),
        ]  # fmt: skip


def _miniircd_user() -> list[str]:
    """miniircd refuses to run as root unless told to stay root explicitly."""
    return ["--setuid", "root"] if os.getuid() == 0 else []


SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec(name="select", kind="backend", style="select", dialect="chat"),
        ServerSpec(name="threads", kind="backend", style="threads", dialect="chat"),
        ServerSpec(name="asyncio", kind="backend", style="asyncio", dialect="chat"),
        ServerSpec(name="floor-select", kind="floor", style="selectors", dialect="floor"),
        ServerSpec(name="floor-threads", kind="floor", style="threads", dialect="floor", flushes=False),
        ServerSpec(name="floor-asyncio", kind="floor", style="asyncio", dialect="floor"),
        ServerSpec(
            name="miniircd", kind="reference", style="select", dialect="irc", concurrency=4, flushes=False
        ),
        # sansio-chat with IRC clients, and with a room of half IRC and half text clients.
        *(
            ServerSpec(name=f"{style}-irc", kind="backend", style=style, dialect="irc", listeners=("irc",))
            for style in ("select", "threads", "asyncio")
        ),
        *(
            ServerSpec(
                name=f"{style}-mixed", kind="backend", style=style, dialect="mixed", listeners=("text", "irc")
            )
            for style in ("select", "threads", "asyncio")
        ),
        # Not run by default: the asyncio pair again on uvloop.
        ServerSpec(name="asyncio-uvloop", kind="backend", style="asyncio", dialect="chat", uvloop=True),
        ServerSpec(name="floor-asyncio-uvloop", kind="floor", style="asyncio", dialect="floor", uvloop=True),
        # Through the transport layers: text over TLS, and web clients over WebSocket.
        *(
            ServerSpec(
                name=f"{style}-tls",
                kind="backend",
                style=style,
                dialect="chat",
                transport="tls",
                listeners=("text+tls",),
            )
            for style in ("select", "threads", "asyncio")
        ),
        ServerSpec(name="floor-tls", kind="floor", style="asyncio", dialect="floor", transport="tls"),
        *(
            ServerSpec(
                name=f"{style}-web",
                kind="backend",
                style=style,
                dialect="web",
                transport="web",
                listeners=("http",),
            )
            for style in ("select", "threads", "asyncio")
        ),
    )
}
#: Which floor a backend is compared with.
FLOOR_OF = {
    "select": "floor-select",
    "threads": "floor-threads",
    "asyncio": "floor-asyncio",
    "asyncio-uvloop": "floor-asyncio-uvloop",
}


class StartError(Exception):
    """The server did not come up; the message carries the end of its log."""


class RunningServer:
    """A started server process, its port, and its log file; confined to ``cpus`` if given."""

    def __init__(
        self,
        spec: ServerSpec,
        log_path: Path,
        tls: TlsFiles | None = None,
        cpus: frozenset[int] | None = None,
    ) -> None:
        self.spec = spec
        self.log_path = log_path
        port = free_port(HOST) if spec.kind == "reference" else 0
        self.ports: dict[str, int] = {}  # a backend's listeners' ports, by kind
        self._log: IO[bytes] = log_path.open("wb")
        self.process = subprocess.Popen(
            pinned(spec.argv(port, tls), cpus),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,  # a Ctrl-C at the terminal reaches the runner only
        )
        self.pid = self.process.pid
        try:
            self.port = port or self._port_from_log()
            self._wait_connectable()
        except BaseException:
            self.stop()
            raise

    @property
    def irc_port(self) -> int:
        """The IRC listener's port, for a mixed room (0 if there is none)."""
        return self.ports.get("irc", 0)

    def _port_from_log(self) -> int:
        """The first listener's port, once every listener has logged its line."""
        wanted = len(self.spec.listeners) if self.spec.kind == "backend" else 1
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = LISTENING.findall(self.log_path.read_bytes())
            if len(found) >= wanted:
                self.ports = {kind.decode(): int(port) for kind, port in found}
                return int(found[0][1])
            self._check_alive()
            time.sleep(0.05)
        raise StartError(
            f"{self.spec.name} did not log its port within {START_TIMEOUT:.0f}s{self.log_tail()}"
        )

    def _wait_connectable(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self._check_alive()
            try:
                with socket.create_connection((HOST, self.port), timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise StartError(f"{self.spec.name} is not accepting on port {self.port}") from None
                time.sleep(0.05)

    def _check_alive(self) -> None:
        status = self.process.poll()
        if status is not None:
            raise StartError(f"{self.spec.name} exited with status {status}{self.log_tail()}")

    def log_tail(self, lines: int = 6) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return (": " + " | ".join(text[-lines:])) if text else ""

    def exit_status(self) -> int | None:
        return self.process.poll()

    def stop(self) -> None:
        """Kill it: what it does on shutdown is not measured, and closing 10k clients is slow."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        self._log.close()
