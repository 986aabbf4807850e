"""The command line, in process: what it hands a backend, and how it refuses what it cannot do."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters import cli, selectors_backend, threads_backend
from adapters._flush_policy import FlushConfig
from adapters._layers import transport_configs
from adapters._listeners import LISTENER_KINDS, ListenAddress, default_addresses
from adapters._options import ServeOptions
from sansio_chat import Mode
from tests.pki import Pki, write_pair

TEXT = LISTENER_KINDS["text"]


def _usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the command line; it must exit with status 2 and one line on stderr, which is returned."""
    with pytest.raises(SystemExit) as caught:
        cli.main(list(argv))
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    return err.rstrip("\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--port", "70000"], "argument --port: port must be from 0 to 65535, not 70000"),
        (["serve", "--port", "-1"], "argument --port: port must be from 0 to 65535, not -1"),
        (["serve", "--port", "seven"], "argument --port: port must be a number from 0 to 65535, not 'seven'"),
        (["serve", "--listen", "text://127.0.0.1:65536"], "port must be from 0 to 65535, not 65536"),
        (
            ["serve", "--listen", "gopher://127.0.0.1:70"],
            "unknown listener kind 'gopher' (known: text, text+tls, irc, irc+tls, http, https)",
        ),
        (["serve", "--listen", "text://::1:7777"], "an IPv6 address goes in brackets"),
        (["serve", "--max-clients", "0"], "argument --max-clients: must be at least 1, not 0"),
        (
            ["serve", "--rate-lines", "nan"],
            "argument --rate-lines: must be a finite number, at least 0, not nan",
        ),
        (
            ["serve", "--rate-lines", "-1"],
            "argument --rate-lines: must be a finite number, at least 0, not -1",
        ),
        (["serve", "--rate-burst", "lots"], "argument --rate-burst: must be a whole number, not 'lots'"),
        (["serve", "--rate-lines", "fast"], "argument --rate-lines: must be a number, not 'fast'"),
        (["serve", "--backend", "twisted"], "argument --backend: invalid choice: 'twisted'"),
        (["serve", "--workers", "2"], "--workers is an option of a cluster's node: give --cluster too"),
        (["serve", "--node-id", "a"], "--node-id is an option of a cluster's node: give --cluster too"),
        (["serve", "--cluster", "http://x"], "--cluster: invalid cluster URL 'http://x': the scheme must be"),
        (
            ["serve", "--cluster", "redis://127.0.0.1:6379", "--node-id", "bad id"],
            "--node-id: invalid node id 'bad id'",
        ),
        (["serve", "--cluster", "redis://127.0.0.1", "--mode", "echo"], "--cluster serves the chat"),
        (
            ["serve", "--cluster", "redis://127.0.0.1", "--workers", "0"],
            "argument --workers: must be at least 1",
        ),
        (["serve", "--backend", "threads", "--selector", "select"], "--selector is an option of the select"),
        (["serve", "--backend", "select", "--loop", "uvloop"], "--loop is an option of the asyncio backend"),
        ([], "the following arguments are required: COMMAND"),
        (
            ["serve", "--listen", "https://:0"],
            "a https listener needs --tls-cert (and --tls-key, unless it is in",
        ),
        (["serve", "--listen", "text+tls://:0"], "a text+tls listener needs --tls-cert"),
        (["serve", "--tls-cert", "x.pem"], "--tls-cert is for TLS listeners, and none is given"),
        (["serve", "--listen", "https://:0", "--tls-key", "k.pem"], "needs --tls-cert"),
        (["serve", "--port", "0", "--tls-key", "k.pem"], "--tls-key goes with --tls-cert"),
        (
            ["serve", "--mode", "relay", "--listen", "http://:0"],
            "a http listener serves the chat's page: it needs",
        ),
        (["serve", "--port", "0", "--web-origin", "https://a.example"], "--web-origin is for http and https"),
        (["serve", "--web-origin", "ftp://a.example"], "invalid origin 'ftp://a.example'"),
        (["serve", "--web-origin", "https://a.example/page"], "expected scheme://host[:port]"),
        (["serve", "--handshake-timeout", "0"], "argument --handshake-timeout: must be more than 0"),
        (["serve", "--flush-delay", "-1"], "argument --flush-delay: must be a finite number, at least 0"),
        (["serve", "--flush-delay", "soon"], "argument --flush-delay: must be a number, not 'soon'"),
        (["serve", "--flush-delay", "0.5"], "argument --flush-delay: must be at most 0.1 seconds, not 0.5"),
        (
            ["serve", "--listen", "https://:0", "--tls-cert", "/nonexistent/cert.pem"],
            "cannot read TLS certificate /nonexistent/cert.pem: No such file or directory",
        ),
    ],
)
def test_a_command_line_that_cannot_be_honoured_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    line = _usage_error(capsys, *argv)
    assert line.startswith("sansio-chat")
    assert ": error: " in line
    assert message in line


def test_uvloop_asked_for_but_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real_find_spec(name, *a)
    )
    line = _usage_error(capsys, "serve", "--backend", "asyncio", "--loop", "uvloop")
    assert line == "sansio-chat serve: error: --loop uvloop: uvloop is not installed (pip install uvloop)"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"sansio-chat {importlib.metadata.version('sansio-chat')}\n"


Served = Callable[..., tuple[ServeOptions, str]]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Served:
    """Run the command line with a backend that records its options instead of serving."""

    def run(*argv: str) -> tuple[ServeOptions, str]:
        got: list[ServeOptions] = []

        def serve(options: ServeOptions) -> int:
            got.append(options)
            return 0

        for module in (selectors_backend, threads_backend):
            monkeypatch.setattr(module, "serve", serve)
        assert cli.main(["serve", *argv]) == 0
        [options] = got
        return options, capsys.readouterr().err

    return run


def test_without_listener_options_the_defaults_are_opened(served: Served) -> None:
    options, _ = served()
    assert options.listen == default_addresses()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--port", "0"], [ListenAddress(kind=TEXT, host=None, port=0)]),
        (["--host", "127.0.0.1"], [ListenAddress(kind=TEXT, host="127.0.0.1", port=7777)]),
        (
            ["--listen", "text://[::1]:7000", "--listen", "text://127.0.0.1:7001"],
            [
                ListenAddress(kind=TEXT, host="::1", port=7000),
                ListenAddress(kind=TEXT, host="127.0.0.1", port=7001),
            ],
        ),
        (
            ["--listen", "text://[::1]:7000", "--host", "::", "--port", "8000"],
            [ListenAddress(kind=TEXT, host="::", port=8000), ListenAddress(kind=TEXT, host="::1", port=7000)],
        ),
    ],
)
def test_as_soon_as_one_listener_option_is_given_exactly_those_are_opened(
    served: Served, argv: list[str], expected: list[ListenAddress]
) -> None:
    options, _ = served(*argv)
    assert list(options.listen) == expected


def test_the_options_reach_the_backend(served: Served) -> None:
    options, _ = served(
        "--backend",
        "threads",
        "--max-clients",
        "5",
        "--rate-lines",
        "0",
        "--oper-password",
        "pw",
    )
    assert (options.config.max_clients, options.config.rate_lines, options.config.oper_password) == (
        5,
        0.0,
        "pw",
    )
    assert (options.selector, options.loop) == ("default", "asyncio")
    assert options.flush == FlushConfig()
    options, _ = served("--selector", "select", "--flush-delay", "0.0005")
    assert options.selector == "select"
    assert options.flush == FlushConfig(delay=0.0005)


def test_the_operator_password_is_made_up_and_shown_only_in_chat_mode(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cli.PASSWORD_ENV, raising=False)
    options, err = served()
    assert options.config.mode is Mode.CHAT
    assert err == f"sansio-chat: operator password (generated): {options.config.oper_password}\n"
    assert len(options.config.oper_password) >= 16
    for mode in ("echo", "relay"):
        options, err = served("--mode", mode)
        assert (options.config.mode.value, options.config.oper_password, err) == (mode, "", "")
    monkeypatch.setenv(cli.PASSWORD_ENV, "from the environment")
    options, err = served()
    assert (options.config.oper_password, err) == ("from the environment", "")


def test_in_the_lab_modes_the_default_is_the_text_listener_alone(served: Served) -> None:
    options, _ = served("--mode", "echo")
    assert options.listen == default_addresses(chat=False)
    assert [address.kind.name for address in options.listen] == ["text"]


def test_a_certificate_that_will_not_do_is_one_line(
    capsys: pytest.CaptureFixture[str], pki: Pki, tmp_path: Path
) -> None:
    wrong_key = write_pair(pki.ca, tmp_path, "other")[1]
    line = _usage_error(
        capsys,
        "serve",
        "--listen",
        "https://:0",
        "--tls-cert",
        str(pki.cert_file),
        "--tls-key",
        str(wrong_key),
    )
    assert f"cannot use TLS certificate {pki.cert_file} with key {wrong_key}" in line


def test_the_layers_options_reach_the_backend(served: Served, pki: Pki) -> None:
    options, _ = served(
        "--listen",
        "https://127.0.0.1:0",
        "--listen",
        "text+tls://127.0.0.1:0",
        "--tls-cert",
        str(pki.cert_file),
        "--tls-key",
        str(pki.key_file),
        "--web-origin",
        "HTTPS://Friend.Example:443/",
        "--web-origin",
        "*",
        "--handshake-timeout",
        "2.5",
    )
    assert [address.kind.name for address in options.listen] == ["https", "text+tls"]
    assert options.certificates is not None and options.certificates.cert_file == str(pki.cert_file)
    assert options.web_origins == {"https://friend.example", "*"}
    assert options.handshake_seconds == 2.5
    configs = transport_configs(options)
    assert set(configs) == {LISTENER_KINDS["https"], LISTENER_KINDS["text+tls"]}
    https = configs[LISTENER_KINDS["https"]]
    assert https.tls is options.certificates and https.site is not None
    assert (https.head_seconds, https.tls_handshake_seconds, https.max_message_bytes) == (2.5, 2.5, 4096)
    assert configs[LISTENER_KINDS["text+tls"]].site is None


def test_the_irc_options_reach_the_core(served: Served, tmp_path: Path) -> None:
    motd = tmp_path / "motd.txt"
    motd.write_text("Be kind.\r\n\nHave fun.\n", encoding="utf-8")
    options, _ = served(
        "--oper-password",
        "pw",
        "--server-name",
        "chat.example.org",
        "--network",
        "Example",
        "--password",
        "letmein",
        "--oper",
        "alice:s3cret",
        "--oper",
        "bob:hunter2",
        "--motd",
        str(motd),
        "--listen",
        "irc://127.0.0.1:6697",
    )
    config = options.config
    assert (config.server_name, config.network, config.password) == ("chat.example.org", "Example", "letmein")
    assert config.opers == (("alice", "s3cret"), ("bob", "hunter2"))
    assert config.motd == ("Be kind.", "", "Have fun.")
    assert config.version == f"sansio-chat-{importlib.metadata.version('sansio-chat')}"
    assert list(options.listen) == [ListenAddress(kind=LISTENER_KINDS["irc"], host="127.0.0.1", port=6697)]


def test_the_server_name_is_this_hosts_when_it_can_be_one(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "box-1.local")
    assert served("--oper-password", "pw")[0].config.server_name == "box-1.local"
    monkeypatch.setattr(socket, "gethostname", lambda: "bad host")
    assert served("--oper-password", "pw")[0].config.server_name == "sansio-chat"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--oper", "alice"], "argument --oper: expected NAME:PASSWORD without spaces, not 'alice'"),
        (["--oper", "alice:"], "argument --oper: expected NAME:PASSWORD without spaces"),
        (["--server-name", "two words"], "server_name must be ASCII letters, digits"),
        (["--network", "two words"], "network must be printable, without spaces"),
        (["--motd", "/nonexistent/motd.txt"], "--motd /nonexistent/motd.txt: [Errno 2]"),
    ],
)
def test_irc_options_that_cannot_be_honoured(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert message in _usage_error(capsys, "serve", "--oper-password", "pw", *argv)


@pytest.mark.parametrize(
    "argv", [["--motd", "/nonexistent/motd.txt"], ["--server-name", "two words"], ["--network", "a b"]]
)
def test_a_refused_command_line_prints_its_error_and_no_generated_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.delenv(cli.PASSWORD_ENV, raising=False)
    error = _usage_error(capsys, "serve", *argv)
    assert "operator password" not in error
