"""The server under test as a child process: started, watched, stopped and checked."""

from __future__ import annotations

import re
import signal
import ssl
import subprocess
import sys
import threading
from collections.abc import Sequence

from .client import Client
from .installed import REPO_ROOT, installed_script
from .measured import measured_by_coverage
from .webclient import Refused, WebClient

OPER_PASSWORD = "s3cret pass"
STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0  # the server's own flush bound is 5 s

#: The startup line, one per listener: ``listening on KIND://HOST:PORT (backend B, mode M)``.
_STARTUP = re.compile(
    r"listening on (?P<kind>[a-z+]+)://(?P<host>\S*):(?P<port>\d+) "
    r"\(backend (?P<backend>\S+), mode (?P<mode>\S+)\)"
)


class ServerProcess:
    """One ``sansio-chat serve`` child (the installed command); its output is drained by a thread."""

    def __init__(
        self,
        backend: str,
        args: Sequence[str] = (),
        *,
        host: str = "127.0.0.1",
        wrapper: Sequence[str] = (),  # a command to run the server under (prlimit, taskset...)
        launcher: str | None = None,  # a module to run instead of the installed command (test-only)
        measure: bool = True,  # with the test run's coverage, when there is one
    ) -> None:
        self.backend = backend
        self.host = host
        program = ["-m", launcher] if launcher is not None else [installed_script()]
        coverage = measured_by_coverage() if measure else None
        if coverage is not None:
            program = [*coverage, *program]
        elif launcher is not None:
            program = [sys.executable, *program]
        self.command = [
            *wrapper,
            *program,
            "serve",
            "--backend",
            backend,
            "--host",
            host,
            "--port",
            "0",
            "--oper-password",
            OPER_PASSWORD,
            *args,
        ]
        self.clients: list[Client | WebClient] = []
        #: Every listener's kind, host (as logged: IPv6 in brackets) and port, in the order logged.
        self.listeners: list[tuple[str, str, int]] = []
        self._expected_listeners = 1 + list(args).count("--listen")  # --host/--port, and each --listen
        self.port = 0  # the first listener's (the text listener of --host and --port)
        self.mode = ""
        self.returncode: int | None = None
        self._output: list[str] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._proc = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._drainer = threading.Thread(target=self._drain, name=f"drain-{backend}", daemon=True)
        self._drainer.start()
        if not self._ready.wait(STARTUP_TIMEOUT) or not self.port:
            self._proc.kill()
            self._proc.wait()
            self._drainer.join(STARTUP_TIMEOUT)
            raise AssertionError(f"server did not start: {self.command}\n{self.output}")

    def _drain(self) -> None:
        stream = self._proc.stdout
        assert stream is not None
        for raw in stream:
            line = raw.decode(errors="replace")
            with self._lock:
                self._output.append(line)
            if not self._ready.is_set():
                match = _STARTUP.search(line)
                if match:
                    assert match["backend"] == self.backend, line
                    self.listeners.append((match["kind"], match["host"], int(match["port"])))
                    self.port = self.listeners[0][2]
                    self.mode = match["mode"]
                    if len(self.listeners) == self._expected_listeners:
                        self._ready.set()
        stream.close()
        self._ready.set()

    @property
    def pid(self) -> int:
        """The server's process id (for reading ``/proc/<pid>``)."""
        return self._proc.pid

    @property
    def output(self) -> str:
        """Everything the server logged so far (stderr and stdout together)."""
        with self._lock:
            return "".join(self._output)

    # -- clients ----------------------------------------------------------------

    def port_of(self, kind: str) -> int:
        """The port of the first listener of ``kind`` (``text+tls``, ``http``...)."""
        for name, _, port in self.listeners:
            if name == kind:
                return port
        raise AssertionError(f"no {kind} listener: {self.listeners}")

    def connect(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        chat: bool | None = None,
        rcvbuf: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> Client:
        """A new connection (to the first listener unless told), without reading anything.

        With ``tls``, to the first ``text+tls`` listener unless told.  It is
        closed when the server stops.
        """
        if host is None:
            host = self.client_host
        if port is None:
            port = self.port if tls is None else self.port_of("text+tls")
        client = Client.connect(
            host,
            port,
            chat=self.mode == "chat" if chat is None else chat,
            name=f"conn{len(self.clients) + 1}",
            rcvbuf=rcvbuf,
            tls=tls,
        )
        self.clients.append(client)
        return client

    @property
    def client_host(self) -> str:
        """Where clients connect by default: the address served (loopback for every interface)."""
        return "::1" if self.host == "::" else self.host

    def web(
        self, *, tls: ssl.SSLContext | None = None, origin: str | None = "same", port: int | None = None
    ) -> WebClient | Refused:
        """A WebSocket to the first ``http`` (``https`` with ``tls``) listener: the client, or the refusal."""
        if port is None:
            port = self.port_of("https" if tls is not None else "http")
        client = WebClient.open(
            self.client_host, port, origin=origin, tls=tls, name=f"web{len(self.clients) + 1}"
        )
        if isinstance(client, WebClient):
            self.clients.append(client)
        return client

    def web_join(self, nick: str | None = None, *, tls: ssl.SSLContext | None = None) -> WebClient:
        """A web user past its welcome event; ``nick`` checks the guest name given."""
        client = self.web(tls=tls)
        assert isinstance(client, WebClient), f"upgrade refused: {client}"
        welcome = client.next()
        assert isinstance(welcome, dict) and welcome["type"] == "welcome", welcome
        client.name = welcome["nick"]
        if nick is not None:
            assert client.name == nick, welcome
        return client

    def join(
        self,
        nick: str | None = None,
        *,
        host: str | None = None,
        port: int | None = None,
        rcvbuf: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> Client:
        """A chat client past its welcome line; ``nick`` checks the guest name given."""
        client = self.connect(host=host, port=port, rcvbuf=rcvbuf, tls=tls)
        welcome = client.read_line()
        match = re.fullmatch(
            r"\[server\] Welcome to the chat, (\S+)! Type HELP for the list of commands\.", welcome
        )
        assert match, f"not a welcome line: {welcome!r}"
        client.name = match[1]
        if nick is not None:
            assert client.name == nick, welcome
        return client

    # -- stopping ---------------------------------------------------------------

    def send_signal(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Send ``sig`` to the server if it is still running."""
        if self.returncode is None and self._proc.poll() is None:
            self._proc.send_signal(sig)

    def wait(self) -> int:
        """The exit status, waiting (bounded) for the process to end."""
        if self.returncode is None:
            try:
                self.returncode = self._proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
                self._drainer.join(STOP_TIMEOUT)
                raise AssertionError(f"server still running after {STOP_TIMEOUT} s\n{self.output}") from None
            self._drainer.join(STOP_TIMEOUT)
        return self.returncode

    def terminate(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig`` and wait for the exit status."""
        self.send_signal(sig)
        return self.wait()

    def stop(self) -> None:
        """Close the clients, SIGTERM, and check a clean exit: status 0, no traceback."""
        for client in self.clients:
            client.close()
        status = self.terminate()
        output = self.output
        assert "Traceback" not in output, f"{self.backend}: traceback in server output:\n{output}"
        assert status == 0, f"{self.backend}: exit status {status}\n{output}"
