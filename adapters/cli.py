"""The ``sansio-chat`` command: parse options, fill the core's config, start a backend."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import secrets
import sys
from collections.abc import Sequence

from sansio_chat import (
    DEFAULT_MAX_CLIENTS,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_RATE_BURST,
    DEFAULT_RATE_LINES,
    Mode,
    ServerConfig,
)

from ._common import ServeOptions

#: Backend name on the command line -> module that runs it.
BACKENDS = {
    "select": "adapters.selectors_backend",
    "threads": "adapters.threads_backend",
    "asyncio": "adapters.asyncio_backend",
}
DEFAULT_BACKEND = "select"
PASSWORD_ENV = "SANSIO_CHAT_OPER_PASSWORD"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value


class _HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Show each option's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sansio-chat", description="A multi-client TCP chat server.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the server until SIGINT or SIGTERM",
        formatter_class=_HelpWithDefaults,
    )
    serve.add_argument("--backend", choices=sorted(BACKENDS), default=DEFAULT_BACKEND, help="I/O backend")
    serve.add_argument("--host", default=None, help="address to listen on (default: :: dual stack)")
    serve.add_argument("--port", type=_non_negative_int, default=7777, help="0 picks a free port")
    serve.add_argument(
        "--mode", choices=[m.value for m in Mode], default=Mode.CHAT.value, help="the lab stage to serve"
    )
    serve.add_argument("--oper-password", default=None, help=f"default: ${PASSWORD_ENV}, else random")
    serve.add_argument("--max-clients", type=_positive, default=DEFAULT_MAX_CLIENTS, help="clients at once")
    serve.add_argument(
        "--max-line-bytes", type=_positive, default=DEFAULT_MAX_LINE_BYTES, help="longest line accepted"
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
        help="lines/s per client (0: off)",
    )
    serve.add_argument("--rate-burst", type=_positive, default=DEFAULT_RATE_BURST, help="lines at once")
    serve.add_argument(
        "--selector",
        choices=["default", "select"],
        default="default",
        help="select backend only: the OS's best selector (epoll) or classic select()",
    )
    serve.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="info",
        type=str.lower,
        help="what to log on stderr",
    )
    return parser


def _oper_password(given: str | None) -> str:
    if given:
        return given
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    generated = secrets.token_urlsafe(12)
    print(f"sansio-chat: operator password (generated): {generated}", file=sys.stderr, flush=True)
    return generated


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    config = ServerConfig(
        mode=Mode(args.mode),
        oper_password=_oper_password(args.oper_password),
        max_clients=args.max_clients,
        max_line_bytes=args.max_line_bytes,
        max_pending_bytes=args.max_pending_bytes,
        rate_lines=args.rate_lines,
        rate_burst=args.rate_burst,
    )
    options = ServeOptions(host=args.host, port=args.port, config=config, selector=args.selector)
    backend = importlib.import_module(BACKENDS[args.backend])
    try:
        status: int = backend.serve(options)
    except OSError as exc:
        logging.getLogger("sansio_chat").error("cannot serve: %s", exc)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
