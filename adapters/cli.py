"""The ``sansio-chat`` command: parse options, fill the core's config, start a backend.

Exit status: 0 after a stop by SIGINT or SIGTERM; 1 when the server cannot
serve (a listener cannot be opened, say) or its loop fails; 2 for a command
line that cannot be honoured, reported on one line.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import secrets
import socket
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeVar

from sansio_chat import (
    DEFAULT_MAX_CLIENTS,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_RATE_BURST,
    DEFAULT_RATE_LINES,
    MAX_NODE,
    Mode,
    ServerConfig,
)

from ._flush_policy import DEFAULT_FLUSH_DELAY, MAX_FLUSH_DELAY, FlushConfig
from ._listeners import LISTENER_KINDS, ListenAddress, default_addresses, parse_listen, parse_port
from ._options import ClusterOptions, ServeOptions
from ._process import LOG_FORMAT
from ._workers import run_workers
from .transport import DEFAULT_TLS_HANDSHAKE_SECONDS, TlsCertificates, TlsSetupError, normalize_origin

#: Backend name on the command line -> module of this package that runs it.
BACKENDS = {
    "select": "selectors_backend",
    "threads": "threads_backend",
    "asyncio": "asyncio_backend",
}
DEFAULT_BACKEND = "select"
PASSWORD_ENV = "SANSIO_CHAT_OPER_PASSWORD"
#: Exit status for a command line that cannot be honoured (as argparse's).
USAGE_ERROR = 2

log = logging.getLogger("sansio_chat.cli")
T = TypeVar("T")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Show each option's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default == []:
            return action.help
        return super()._get_help_string(action)


def _positive(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _int(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number, at least 0, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = _non_negative_float(text)
    if not value:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _flush_delay(text: str) -> float:
    value = _non_negative_float(text)
    if value > MAX_FLUSH_DELAY:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_FLUSH_DELAY:g} seconds, not {text}")
    return value


def _argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An option's parser whose ``ValueError`` argparse reports as is, on one line."""

    def parsed(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parsed


_port = _argument(parse_port)
_listen = _argument(parse_listen)
_origin = _argument(normalize_origin)


def _oper_account(text: str) -> tuple[str, str]:
    name, colon, password = text.partition(":")
    if not colon or not name or not password or " " in name or " " in password:
        raise argparse.ArgumentTypeError(f"expected NAME:PASSWORD without spaces, not {text!r}")
    return name, password


def _server_name(given: str | None) -> str:
    """The name given, else this host's name (when it is usable as one), else a fixed one."""
    if given is not None:
        return given
    host = socket.gethostname()
    return (
        host if host and host.isascii() and all(ch.isalnum() or ch in ".-_" for ch in host) else "sansio-chat"
    )


def _motd(path: str | None) -> tuple[str, ...] | None:
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        _usage_error("sansio-chat serve", f"--motd {path}: {exc}")
    return tuple(line.rstrip("\r") for line in text.splitlines())


def _version() -> str:
    try:
        return importlib.metadata.version("sansio-chat")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sansio-chat", description="A multi-client chat server.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the server until SIGINT or SIGTERM",
        description="Run the server until SIGINT or SIGTERM (a second one cuts the goodbyes short).",
        formatter_class=_HelpWithDefaults,
    )
    serve.add_argument("--backend", choices=list(BACKENDS), default=DEFAULT_BACKEND, help="I/O backend")
    kinds = ", ".join(f"{name} ({kind.default_port})" for name, kind in LISTENER_KINDS.items())
    defaults = " and ".join(str(address) for address in default_addresses())
    defaults += f" (in chat mode; {' and '.join(map(str, default_addresses(chat=False)))} in the others)"
    serve.add_argument(
        "--listen",
        action="append",
        type=_listen,
        default=[],
        metavar="KIND://HOST:PORT",
        help=(
            f"open a listener (repeatable); KIND is one of: {kinds}, its port when :PORT is left out;"
            " an IPv6 HOST goes in brackets, an empty one means every interface; port 0 picks a free one."
            f" With none of --listen, --host, --port: {defaults}"
        ),
    )
    serve.add_argument(
        "--host", default=None, help="a text listener's address (default: every interface, IPv4 and IPv6)"
    )
    serve.add_argument(
        "--port", type=_port, default=None, help="a text listener's port (default: 7777; 0 picks a free one)"
    )
    serve.add_argument(
        "--mode", choices=[m.value for m in Mode], default=Mode.CHAT.value, help="the lab stage to serve"
    )
    serve.add_argument(
        "--tls-cert",
        default=None,
        metavar="FILE",
        help="TLS listeners (text+tls, irc+tls, https): the certificate chain, PEM; SIGHUP reads it again",
    )
    serve.add_argument(
        "--tls-key",
        default=None,
        metavar="FILE",
        help="the certificate's private key, PEM, without a pass phrase (default: in the --tls-cert file)",
    )
    serve.add_argument(
        "--web-origin",
        action="append",
        type=_origin,
        default=[],
        metavar="ORIGIN",
        help="another site whose pages may open the chat's WebSocket, as scheme://host[:port]"
        " (repeatable; * for any); the page's own origin is always allowed",
    )
    serve.add_argument(
        "--handshake-timeout",
        type=_positive_float,
        default=DEFAULT_TLS_HANDSHAKE_SECONDS,
        metavar="SECONDS",
        help="time a client has for its TLS handshake, and for each HTTP request head",
    )
    serve.add_argument(
        "--flush-delay",
        type=_flush_delay,
        default=DEFAULT_FLUSH_DELAY,
        metavar="SECONDS",
        help="while busy with many clients waiting, write at most once per this delay, so that each"
        f" client gets fewer, larger writes (at most {MAX_FLUSH_DELAY:g}; over 0.001 to hold anything;"
        " an idle server writes at once; 0: every pass writes)",
    )
    serve.add_argument(
        "--oper-password",
        default=None,
        metavar="PASSWORD",
        help="the password text and web clients give to OPER, in chat mode"
        f" (default: ${PASSWORD_ENV}, else a random one, printed at start)",
    )
    serve.add_argument(
        "--oper",
        action="append",
        type=_oper_account,
        default=[],
        metavar="NAME:PASSWORD",
        help="a named operator account for IRC's OPER NAME PASSWORD (repeatable)",
    )
    serve.add_argument(
        "--server-name",
        default=None,
        help="the server's name in IRC replies (default: this host's name)",
    )
    serve.add_argument("--network", default="sansio-chat", help="the network's name shown to IRC clients")
    serve.add_argument(
        "--password", default=None, help="a password IRC clients must give (PASS) to register (default: none)"
    )
    serve.add_argument(
        "--motd",
        default=None,
        metavar="FILE",
        help="the message of the day shown to IRC clients (default: none)",
    )
    serve.add_argument(
        "--max-clients",
        type=_positive,
        default=DEFAULT_MAX_CLIENTS,
        help="clients connected at once; more are refused",
    )
    serve.add_argument(
        "--max-line-bytes",
        type=_positive,
        default=DEFAULT_MAX_LINE_BYTES,
        help="longest line accepted, in bytes (a web client's message too)",
    )
    serve.add_argument(
        "--max-pending-bytes",
        type=_positive,
        default=DEFAULT_MAX_PENDING_BYTES,
        help="unsent output after which a client is dropped as too slow",
    )
    serve.add_argument(
        "--rate-lines",
        type=_non_negative_float,
        default=DEFAULT_RATE_LINES,
        help="flood control: lines a client may send per second, on average; more wait (0: off)",
    )
    serve.add_argument(
        "--rate-burst",
        type=_positive,
        default=DEFAULT_RATE_BURST,
        help="flood control: lines a client may send at once, before --rate-lines paces it",
    )
    serve.add_argument(
        "--selector",
        choices=["default", "select"],
        default=None,
        help="select backend only: the OS's best selector (epoll, the default) or classic select()",
    )
    serve.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default=None,
        help="asyncio backend only: the standard event loop (the default) or uvloop (pip install uvloop)",
    )
    serve.add_argument(
        "--cluster",
        default=None,
        metavar="redis://HOST:PORT[/DB]",
        help="be one node of a cluster of servers acting as one chat, linked through this Redis "
        "(pip install 'sansio-chat[cluster]'; see docs/cluster.md)",
    )
    serve.add_argument(
        "--node-id",
        default=None,
        help="with --cluster: this node's name in the cluster (default: a random one, logged at start)",
    )
    serve.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="with --cluster: run this many processes sharing the listeners, each a node (default: 1)",
    )
    serve.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="info",
        type=str.lower,
        help="what to log on stderr",
    )
    return parser


def _listen_addresses(args: argparse.Namespace) -> tuple[ListenAddress, ...]:
    """Exactly the listeners given; the defaults when none is."""
    addresses: list[ListenAddress] = list(args.listen)
    if args.host is not None or args.port is not None:
        text = LISTENER_KINDS["text"]
        port = text.default_port if args.port is None else args.port
        addresses.insert(0, ListenAddress(kind=text, host=args.host or None, port=port))
    return tuple(addresses) if addresses else default_addresses(chat=args.mode == Mode.CHAT.value)


def _check_combination(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    serve = f"{parser.prog} serve"
    kinds = {address.kind for address in _listen_addresses(args)}
    tls_kinds = sorted(kind.name for kind in kinds if kind.secure)
    web_kinds = sorted(kind.name for kind in kinds if kind.web)
    if tls_kinds and args.tls_cert is None:
        _usage_error(
            serve, f"a {tls_kinds[0]} listener needs --tls-cert (and --tls-key, unless it is in that file)"
        )
    if args.tls_cert is not None and not tls_kinds:
        _usage_error(
            serve,
            "--tls-cert is for TLS listeners, and none is given"
            " (--listen text+tls://..., irc+tls://... or https://...)",
        )
    if args.tls_key is not None and args.tls_cert is None:
        _usage_error(serve, "--tls-key goes with --tls-cert")
    if web_kinds and args.mode != Mode.CHAT.value:
        _usage_error(serve, f"a {web_kinds[0]} listener serves the chat's page: it needs --mode chat")
    if args.web_origin and not web_kinds:
        _usage_error(serve, "--web-origin is for http and https listeners, and none is given")
    if args.selector is not None and args.backend != "select":
        _usage_error(serve, f"--selector is an option of the select backend, not of {args.backend}")
    if args.loop is not None and args.backend != "asyncio":
        _usage_error(serve, f"--loop is an option of the asyncio backend, not of {args.backend}")
    if args.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        _usage_error(serve, "--loop uvloop: uvloop is not installed (pip install uvloop)")
    if args.cluster is None:
        for given, option in ((args.node_id, "--node-id"), (args.workers, "--workers")):
            if given is not None:
                _usage_error(serve, f"{option} is an option of a cluster's node: give --cluster too")
        return
    if args.mode != Mode.CHAT.value:
        _usage_error(serve, f"--cluster serves the chat: not with --mode {args.mode}")
    if importlib.util.find_spec("hiredis") is None:
        _usage_error(serve, "--cluster needs hiredis: pip install 'sansio-chat[cluster]'")


def _cluster_options(args: argparse.Namespace) -> ClusterOptions | None:
    """The node's address of Redis, name and number; a usage error for a URL or name it cannot use."""
    if args.cluster is None:
        return None
    from .cluster import RedisUrlError, parse_redis_url  # noqa: PLC0415 - hiredis: only with --cluster
    from .cluster.names import check_node_id  # noqa: PLC0415

    serve = "sansio-chat serve"
    try:
        address = parse_redis_url(args.cluster)
    except RedisUrlError as exc:
        _usage_error(serve, f"--cluster: {exc}")
    node_id = args.node_id if args.node_id is not None else f"node-{secrets.token_hex(4)}"
    try:
        check_node_id(node_id if not args.workers or args.workers == 1 else f"{node_id}-{args.workers}")
    except ValueError as exc:
        _usage_error(serve, f"--node-id: {exc}")
    return ClusterOptions(address=address, node_id=node_id, node_number=node_number())


def node_number() -> int:
    """A random number for a node of a cluster: its users' ids hold it, so it must be unique there."""
    return 1 + secrets.randbelow(MAX_NODE)


def _usage_error(prog: str, message: str) -> NoReturn:
    sys.stderr.write(f"{prog}: error: {message}\n")
    sys.exit(USAGE_ERROR)


def _certificates(prog: str, args: argparse.Namespace) -> TlsCertificates | None:
    """The TLS certificate and key, read now: a file that will not do is a one-line error."""
    if args.tls_cert is None:
        return None
    try:
        return TlsCertificates(args.tls_cert, args.tls_key)
    except TlsSetupError as exc:
        _usage_error(f"{prog} serve", str(exc))


def _oper_password(given: str | None) -> tuple[str, bool]:
    """The operator password, and whether it was made up here (then it is printed, once the rest is valid)."""
    if given:
        return given, False
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env, False
    return secrets.token_urlsafe(12), True


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_combination(parser, args)
    certificates = _certificates(parser.prog, args)  # before anything is printed: a bad file is one line
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    mode = Mode(args.mode)
    cluster = _cluster_options(args)
    motd = _motd(args.motd)
    oper_password, generated = _oper_password(args.oper_password) if mode is Mode.CHAT else ("", False)
    try:
        config = ServerConfig(
            mode=mode,
            oper_password=oper_password,
            opers=tuple(args.oper),
            server_name=_server_name(args.server_name),
            network=args.network,
            version=f"sansio-chat-{_version()}",
            password=args.password or "",
            motd=motd,
            max_clients=args.max_clients,
            max_line_bytes=args.max_line_bytes,
            max_pending_bytes=args.max_pending_bytes,
            rate_lines=args.rate_lines,
            rate_burst=args.rate_burst,
            cluster_node=cluster.node_number if cluster is not None else 0,
        )
    except ValueError as exc:
        _usage_error(f"{parser.prog} serve", str(exc))
    if generated:  # only now: a command line refused above prints nothing but its error
        print(f"sansio-chat: operator password (generated): {oper_password}", file=sys.stderr, flush=True)
    options = ServeOptions(
        listen=_listen_addresses(args),
        config=config,
        selector=args.selector or "default",
        loop=args.loop or "asyncio",
        certificates=certificates,
        web_origins=frozenset(args.web_origin),
        handshake_seconds=args.handshake_timeout,
        flush=FlushConfig(delay=args.flush_delay),
        cluster=cluster,
    )
    backend = importlib.import_module(f".{BACKENDS[args.backend]}", __package__)
    try:
        if args.workers is not None and args.workers > 1:
            status: int = run_workers(backend.serve, options, args.workers)
        else:
            status = backend.serve(options)
    except OSError as exc:
        log.error("cannot serve: %s", exc)
        return 1
    except KeyboardInterrupt:  # before the signal handlers were in place
        return 130
    except Exception:
        log.exception("the server failed")
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
