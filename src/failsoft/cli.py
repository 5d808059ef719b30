"""`failsoft` command line: serve, demo, sim, check-config, keys. Argument parsing only."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from failsoft import __version__
from failsoft.errors import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    code: int = args.run(args)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="failsoft",
        description="An LLM gateway that keeps answering when providers fail.",
    )
    parser.add_argument("--version", action="version", version=f"failsoft {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", "-c", required=True, metavar="FILE", help="YAML config file")
    serve.add_argument("--host", help="bind address (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: server.port, 8080)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument("--log-level", default="info", choices=_LEVELS)
    serve.set_defaults(run=_serve)

    demo = sub.add_parser(
        "demo", help="watch failsoft ride out a scripted outage (no config, keys or network)"
    )
    demo.add_argument("--duration", type=float, default=None, help="seconds (default 40)")
    demo.add_argument("--rate", type=float, default=8.0, help="requests per second (default 8)")
    demo.add_argument("--keep", action="store_true", help="leave the gateway running afterwards")
    demo.add_argument("--quiet", action="store_true", help="only print the summary")
    demo.set_defaults(run=_demo)

    sim = sub.add_parser("sim", help="run the fault-injecting provider simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=9000)
    sim.add_argument("--scenario", metavar="FILE", help="YAML/JSON scenario (faults on a timeline)")
    sim.add_argument("--models", help="comma-separated models to list in /v1/models")
    sim.set_defaults(run=_sim)

    check = sub.add_parser("check-config", help="validate a config and print the resolved plan")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(run=_check_config)

    from failsoft.keys_cli import add_parser as add_keys

    add_keys(sub)
    return parser


_LEVELS = ("debug", "info", "warning", "error")


def _setup_logging(level: str, json: bool = False) -> None:
    from failsoft.logjson import setup_logging

    setup_logging(level, json)


def _serve(args: argparse.Namespace) -> int:
    from failsoft.config import load_config
    from failsoft.config.exposure import exposure_warnings
    from failsoft.serve import run, run_workers

    _setup_logging(args.log_level)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    from failsoft.transport.proxies import environment_problem

    problem = environment_problem()
    if problem is not None:  # before anything is bound, not a failure of every request
        print(f"failsoft: cannot use the environment's proxy: {problem}", file=sys.stderr)
        return 1
    if config.log.format == "json":
        _setup_logging(args.log_level, json=True)
    host = args.host or config.server.host
    port = config.server.port if args.port is None else args.port
    logger = logging.getLogger("failsoft")
    logger.info(
        "failsoft %s serving %d virtual models on %s://%s:%d",
        __version__,
        len(config.models),
        "https" if config.server.tls is not None else "http",
        host,
        port,
    )
    for warning in exposure_warnings(config, host):
        logger.warning("%s", warning)
    from failsoft.transport.proxies import Proxies

    for line in Proxies().describe():  # what upstream requests go through (no credentials)
        logger.info("upstream proxy: %s", line)
    if args.workers > 1:
        run_workers(
            args.config,
            host=host,
            port=port,
            workers=args.workers,
            log_level=args.log_level,
            drain=config.server.drain,
            tls=config.server.tls,
        )
    else:
        run(config, host=host, port=port, log_level=args.log_level, config_path=args.config)
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from failsoft.config import load_config
    from failsoft.config.plan import render_plan

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(render_plan(config))
    return 0


def _sim(args: argparse.Namespace) -> int:
    from failsoft.sim import SpecError, serve

    _setup_logging("info")
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    try:
        serve(args.host, args.port, args.scenario, models)
    except (SpecError, OSError) as exc:
        print(f"failsoft sim: {exc}", file=sys.stderr)
        return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    try:
        from failsoft.demo import run_demo
    except ImportError as exc:
        print(
            f"failsoft demo needs the demo extras ({exc.name} is missing): "
            "pip install 'failsoft[demo]'",
            file=sys.stderr,
        )
        return 1
    return run_demo(duration=args.duration, rate=args.rate, keep=args.keep, quiet=args.quiet)
