"""``python -m bench``: run the benchmarks, or regenerate the report from saved results.

python -m bench run                 # everything: ~15 min on 2 cores without the tls and web groups
python -m bench run --quick         # smaller shapes, under 2 minutes (longer with the tls and web groups)
python -m bench run --shapes 100x10 --reps 5 --servers select,floor-select
python -m bench run --shapes 100x10 --servers backends,tls,web   # the transport layers' targets
python -m bench run --shapes 100x10 --servers backends,web --pin  # server on CPU 1, generator on CPU 0
python -m bench run --servers backends,irc,mixed,miniircd --shapes 10x10,100x10,1000x10   # IRC
python -m bench core                # the core alone
python -m bench report [FILE]       # docs table and plot from bench/results/latest.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from . import core_bench, report, runner
from ._proc import PIN_APART, Pinning
from .servers import SERVERS, ServerSpec

GROUPS = {
    "backends": ["select", "threads", "asyncio"],
    "floors": ["floor-select", "floor-threads", "floor-asyncio"],
    "tls": ["select-tls", "threads-tls", "asyncio-tls", "floor-tls"],
    "web": ["select-web", "threads-web", "asyncio-web"],
    "irc": ["select-irc", "threads-irc", "asyncio-irc"],  # sansio-chat's IRC clients
    "mixed": ["select-mixed", "threads-mixed", "asyncio-mixed"],  # a room of half IRC, half text clients
}


def _names(text: str, known: Sequence[str], what: str) -> list[str]:
    names: list[str] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        for name in GROUPS.get(item, [item]):
            if name not in known:
                raise SystemExit(f"unknown {what} {name!r}; choose from {', '.join(known)}")
            if name not in names:
                names.append(name)
    return names


def _with_flush_delays(servers: list[ServerSpec], text: str) -> list[ServerSpec]:
    """Each server that takes ``--flush-delay`` once per delay (``select@0us``, ``select@200us``...)."""
    try:
        delays = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"--flush-delays: seconds, comma-separated, not {text!r}") from None
    swept: list[ServerSpec] = []
    for spec in servers:
        swept += [spec.with_flush_delay(delay) for delay in delays] if spec.flushes else [spec]
    return swept


def _pinning(wanted: bool) -> Pinning | None:
    """``--pin``: the server and the generator on CPUs of their own, if this process may use both."""
    if not wanted:
        return None
    allowed = os.sched_getaffinity(0)
    if not (PIN_APART.server | PIN_APART.loadgen) <= allowed:
        raise SystemExit(f"--pin needs CPUs 0 and 1; this process may use {sorted(allowed)}")
    return PIN_APART


def _print(line: str) -> None:
    print(line, flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    table = runner.QUICK_SHAPES if args.quick else runner.SHAPES
    shapes = (
        [table[n] for n in _names(args.shapes, list(table), "shape")] if args.shapes else list(table.values())
    )
    if args.messages:
        shapes = [replace(s, messages=args.messages) for s in shapes]
    if args.rate:  # the same offered load for every server: an open loop, named apart from the closed one
        shapes = [replace(s, name=f"{s.name}-rate{args.rate:g}", rate=args.rate) for s in shapes if s.senders]
    servers = [SERVERS[n] for n in _names(args.servers, list(SERVERS), "server")]
    if args.flush_delays:
        servers = _with_flush_delays(servers, args.flush_delays)
    reps = args.reps if args.reps is not None else 3
    pin = _pinning(args.pin)
    started = time.time()
    command = "python -m bench " + " ".join(sys.argv[1:]) if sys.argv[1:] else "python -m bench run"
    document: dict[str, Any] = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
            "command": command,
            "reps": reps,
            "quick": args.quick,
            "shapes": [asdict(s) for s in shapes],
            "servers": [s.name for s in servers],
            "pin": pin.to_json() if pin else None,
            "machine": runner.machine(),
            "code": runner.code_fingerprint(),
        }
    }
    if not args.no_core:
        lines = 5_000 if args.quick else 20_000
        document["core_check"] = core_bench.check_rendered_once() or ""
        core = core_bench.run(lines=lines)
        document["core"] = [asdict(c) for c in core]
        for c in core:
            _print(f"core  {c.workload:<32} {c.us_per_line:7.2f} us/line  {c.lines_per_s:>9,.0f} lines/s")
        if document["core_check"]:
            _print(f"core  BROADCAST NOT RENDERED ONCE: {document['core_check']}")
    records = runner.run_matrix(servers, shapes, reps, _print, pin)
    document["runs"] = runner.records_to_json(records)
    document["summary"] = runner.summarise(records)
    document["targets"] = runner.checks_to_json(runner.targets(records, document["summary"]))
    document["meta"]["seconds"] = round(time.time() - started, 1)
    if runner.code_fingerprint() != document["meta"]["code"]:
        document["meta"]["code_changed"] = True
        _print(
            "WARNING: sansio_chat/ or adapters/ changed during the run: the repetitions are not comparable"
        )
    name = time.strftime("run-%Y%m%d-%H%M%S.json", time.localtime(started))
    path = runner.save(document, name, latest=not args.no_doc)
    _print(f"results: {path} ({document['meta']['seconds']:.0f}s)")
    _publish(document, args.no_doc)
    return 0


def _publish(document: dict[str, Any], no_doc: bool) -> None:
    text = report.markdown(document)
    _print("")
    _print(text)
    if no_doc:
        return
    report.update_doc(document)
    if report.plot(document):
        _print(f"updated {report.DOC} and {report.PLOT}")
    else:
        _print(f"updated {report.DOC} (no plot: matplotlib is not installed; pip install '.[bench]')")


def cmd_core(args: argparse.Namespace) -> int:
    problem = core_bench.check_rendered_once()
    _print(f"broadcast rendered once: {'yes' if not problem else 'NO: ' + problem}")
    for c in core_bench.run(lines=args.lines):
        _print(f"{c.workload:<32} {c.us_per_line:7.2f} us/line  {c.lines_per_s:>9,.0f} lines/s")
    return 1 if problem else 0


def cmd_report(args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else runner.RESULTS_DIR / "latest.json"
    document = json.loads(path.read_text())
    _publish(document, no_doc=False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="sansio-chat benchmarks")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run servers side by side and write results, docs table and plot")
    run.add_argument(
        "--quick", action="store_true", help="smaller shapes, no 1000x10, idle 500: under 2 minutes"
    )
    run.add_argument(
        "--shapes",
        default="",
        help="comma-separated: 10x10,100x10,1000x10,1000in10rooms,idle1k,idle10k (quick: idle500)",
    )
    run.add_argument(
        "--servers",
        "--backends",
        default="backends,floors,miniircd,tls,web",
        help="comma-separated server names or groups: backends, floors, tls, web, irc, mixed, "
        + ", ".join(SERVERS)
        + " (default: all)",
    )
    run.add_argument(
        "--flush-delays",
        default="",
        metavar="SECONDS,...",
        help="run each server that takes --flush-delay once per delay (e.g. 0,0.0001,0.0005); floors"
        " run with 0 otherwise, backends with their default",
    )
    run.add_argument(
        "--rate",
        type=float,
        default=0.0,
        metavar="MSGS_PER_SECOND",
        help="offer every server the same load: the generator's open loop at this many messages per second"
        " (over all senders) instead of its window; shapes are named e.g. 100x10-rate500",
    )
    run.add_argument(
        "--pin",
        action="store_true",
        help="run every server on CPU 1 and the load generator on CPU 0, so neither takes CPU time from"
        " the other (Linux; the server then has one core)",
    )
    run.add_argument("--messages", type=int, default=0, metavar="M", help="messages per sender, every shape")
    run.add_argument("--reps", type=int, default=None, help="alternating repetitions (default 3)")
    run.add_argument("--no-core", action="store_true", help="skip the core-only benchmark")
    run.add_argument(
        "--no-doc", action="store_true", help="leave docs/benchmarks.md, its plot and latest.json alone"
    )
    run.set_defaults(func=cmd_run)
    core = commands.add_parser("core", help="the core alone, no sockets")
    core.add_argument("--lines", type=int, default=20_000)
    core.set_defaults(func=cmd_core)
    rep = commands.add_parser("report", help="regenerate the docs table and plot from a results file")
    rep.add_argument("file", nargs="?", default="")
    rep.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
